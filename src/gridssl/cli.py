"""The ``gridssl`` command line: train, resume, evaluate, analyse, score and inspect runs.

Bad input (unknown preset or key, a value out of range, a missing file) is refused with one line
that names the value and what is allowed, exit code 2, and nothing written.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from .config import ConfigError, describe, load_config, preset_names

EPILOG_TRAIN = """\
examples:
  gridssl train --preset tiny --out runs/t                 # seconds: a smoke run
  gridssl train --preset cpu --out runs/cpu --seed 1       # the fast CPU recipe
  gridssl train --preset paper --out runs/p --set loss.pairs=sampled
  gridssl train --resume runs/cpu --steps 20000            # continue to step 20000

A config is resolved as: defaults (the paper's values) < --preset < --config FILE < --set KEY=VALUE
< --steps/--seed. Every run directory records the resolved config, seeds and versions.

config keys (KEY = default: meaning):
"""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _existing(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{what} {path!r} does not exist")
    return p


def cmd_train(args) -> int:
    from .train import Trainer

    if args.resume:
        if args.preset or args.config or args.set or args.seed is not None or args.out:
            raise ConfigError("--resume takes only --steps: the run's own config is reused")
        steps = None if args.steps is None else load_config(train__steps=args.steps).train.steps
        trainer = Trainer.resume(_existing(args.resume, "--resume"), steps)
    else:
        if not args.out:
            raise ConfigError("--out DIR is required (or --resume DIR)")
        if args.preset is None and args.config is None:
            raise ConfigError(f"give --preset NAME (one of {preset_names()}) or --config FILE")
        cfg = load_config(
            args.preset, args.config, args.set, train__steps=args.steps, train__seed=args.seed
        )
        trainer = Trainer.create(cfg, Path(args.out), " ".join(map(shlex.quote, sys.argv)))
    logs = trainer.fit(progress=not args.quiet)
    print(
        f"{trainer.run}: step {trainer.step}, "
        + ", ".join(
            f"{k} {logs[k]:.4g}" for k in ("total", "sep", "inv", "cap", "iso") if k in logs
        )
    )
    return 0


def cmd_info(args) -> int:
    import yaml

    from .train import checkpoints, read_metrics

    run = _existing(args.run, "run")
    if not (run / "config.yaml").exists():
        raise ConfigError(f"run {args.run!r} is not a run directory (no config.yaml)")
    meta = json.loads((run / "meta.json").read_text()) if (run / "meta.json").exists() else {}
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    metrics = read_metrics(run)
    ck = checkpoints(run)
    print(f"run        {run}")
    print(
        f"seed       {meta.get('seed')}   git {meta.get('git_commit', '?')[:12]}   "
        f"gridssl {meta.get('gridssl_version')}   torch {meta.get('torch_version')}"
    )
    for section, values in cfg.items():
        print(f"{section:<10} " + ", ".join(f"{k}={v}" for k, v in values.items()))
    print(
        f"checkpoints {[p.name for p in ck]}"
        + ("  best.pt" if (run / "checkpoints" / "best.pt").exists() else "")
    )
    if metrics:
        last = metrics[-1]
        print(
            "last       "
            + ", ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in last.items()
            )
        )
        evals = [m for m in metrics if "eval_grid_fraction" in m]
        if evals:
            best = max(evals, key=lambda m: m["eval_grid_fraction"])
            print(f"best eval  step {best['step']}: grid fraction {best['eval_grid_fraction']:.3f}")
    return 0


def cmd_eval(args) -> int:
    from .evaluate import evaluate_run

    summary = evaluate_run(args.run, arena_size=args.arena, seed=args.seed)
    print(json.dumps(summary, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="gridssl",
        description="Train SIC networks until they grow grid cells, and analyse spatial codes.",
        epilog="Run 'gridssl COMMAND --help' for each command. Start with: make demo",
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser(
        "train",
        help="train a new run, or resume one",
        description="Train the SIC network (SPEC.md) and write a run directory.",
        epilog=EPILOG_TRAIN + describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--preset", help=f"one of {preset_names()}")
    t.add_argument("--out", help="new run directory")
    t.add_argument("--config", help="YAML file of {section: {key: value}} overrides")
    t.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key, e.g. --set loss.sigma_g=0.5 (repeatable)",
    )
    t.add_argument("--steps", help="total optimiser steps (train.steps)")
    t.add_argument("--seed", help="seed of every random draw (train.seed)")
    t.add_argument("--resume", metavar="DIR", help="continue a run from its last checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser(
        "eval",
        help="rate maps and grid scores of a run in an open arena",
        description="Roll the model out on smooth trajectories from the origin in a "
        "square arena, build rate maps and score them; writes RUN/eval/.",
    )
    e.add_argument("run", help="run directory or checkpoint")
    e.add_argument("--arena", type=float, default=2.0, help="arena side in metres (default 2)")
    e.add_argument("--seed", type=int, default=0, help="trajectory seed (default 0)")
    e.set_defaults(func=cmd_eval)

    i = sub.add_parser("info", help="what a run is: config, seeds, progress, checkpoints")
    i.add_argument("run", help="run directory")
    i.set_defaults(func=cmd_info)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"gridssl: error: {err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"gridssl: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "gridssl: interrupted (the last checkpoint is kept; resume with --resume)",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
