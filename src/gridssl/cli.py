"""The ``gridssl`` command line: train, resume, evaluate, analyse, score and inspect runs.

Bad input (unknown preset or key, a value out of range, a missing file) is refused with one line
that names the value and what is allowed, exit code 2, and nothing written.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
from pathlib import Path

from . import rundir
from .ablate import ABLATIONS
from .analysis.population import GRID_VARIANTS
from .config import AnalysisConfig, ConfigError, describe, load_config, preset_names

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


EPILOG_ANALYSIS = """\
Settings are resolved as: defaults < --set analysis.KEY=VALUE < the flags above.

analysis keys (KEY = default: meaning):
"""


def _set_option(p: argparse.ArgumentParser, what: str, example: str) -> None:
    """The repeatable --set KEY=VALUE flag."""
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override one {what}, e.g. --set {example} (repeatable)",
    )


def _executor_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--executor",
        choices=("ray", "local"),
        default="ray",
        help="ray: a local Ray or a cluster (--address), with early stopping (default); local: a "
        "plain pool of processes on this machine, no Ray needed",
    )


def _analysis_options(p: argparse.ArgumentParser) -> None:
    """The AnalysisConfig flags shared by eval and analyze."""
    p.add_argument("--bin-size", help="rate-map bin in metres (analysis.bin_size)")
    p.add_argument("--shuffles", help="time-shift null shuffles (analysis.shuffles)")
    p.add_argument("--seed", help="walk / null / topology seed (analysis.seed)")
    p.add_argument(
        "--device", default="cpu", help="where the network runs: cpu (default), cuda, cuda:K, auto"
    )
    _set_option(p, "analysis key", "analysis.samples_per_bin=100")


SWEEP_EPILOG = """\
SPEC.yaml:
  preset: cpu                         # any preset name
  steps: 8000                         # optional (default: the preset's)
  seeds: [0, 1, 2]
  set: {train.eval_every: 1000}       # optional, shared by every trial
  grid: {loss.w_cap: [0.5, 1.5], model.n_units: [48, 96]}   # cartesian product
  conditions: {full: {}, no_cap: {loss.w_cap: 0}}           # optional named override sets

Each trial uses train.threads = 1 torch thread unless the spec sets it. On a Ray cluster
(ray start --head on one machine, ray start --address HEAD:6379 on the others), run
  gridssl sweep SPEC.yaml --out /shared/DIR --address HEAD:6379
from a node of the cluster: every node needs gridssl installed, and DIR on a filesystem that
all nodes mount at the same path.
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


def _skipped(path: Path, reason: str) -> None:
    print(f"gridssl: skipped {reason}; trying the next older checkpoint", file=sys.stderr)


def cmd_train(args) -> int:
    from .train import EXIT_DIVERGED, Diverged, Trainer

    if args.resume:
        if args.preset or args.config or args.seed or args.out or args.init_from:
            raise ConfigError(
                "--resume takes only --steps and --set: the run's own config is reused"
            )
        steps = None if args.steps is None else load_config(train__steps=args.steps).train.steps
        trainer = Trainer.resume(
            _existing(args.resume, "--resume"), steps, args.set, on_skip=_skipped
        )
    else:
        if not args.out:
            raise ConfigError("--out DIR is required (or --resume DIR)")
        if args.preset is None and args.config is None:
            raise ConfigError(f"give --preset NAME (one of {preset_names()}) or --config FILE")
        cfg = load_config(
            args.preset, args.config, args.set, train__steps=args.steps, train__seed=args.seed
        )
        init = None if args.init_from is None else _existing(args.init_from, "--init-from")
        trainer = Trainer.create(
            cfg, Path(args.out), " ".join(map(shlex.quote, sys.argv)), init_from=init
        )
    try:
        logs = trainer.fit(progress=not args.quiet)
    except Diverged as err:
        from .checkpoint import checkpoints

        kept = checkpoints(trainer.run)
        last = f"{kept[-1].name} is kept" if kept else "no checkpoint was written"
        print(
            f"gridssl: error: {err}; {last}: resume with --resume {trainer.run} "
            "--set train.lr=SMALLER",
            file=sys.stderr,
        )
        return EXIT_DIVERGED
    finally:
        trainer.close()  # the run directory's lock
    print(
        f"{trainer.run}: step {trainer.step}, "
        + ", ".join(
            f"{k} {logs[k]:.4g}" for k in ("total", "sep", "inv", "cap", "iso") if k in logs
        )
    )
    return 0


def cmd_info(args) -> int:
    from .checkpoint import checkpoints, read_metrics, read_run_config
    from .rundir import read_json

    run = _existing(args.run, "run")
    cfg = read_run_config(run)
    meta = read_json(run / rundir.META, "run file") or {}
    metrics = read_metrics(run)
    ck = checkpoints(run)
    print(f"run        {run}")
    print(
        f"seed       {meta.get('seed')}   git {str(meta.get('git_commit', '?'))[:12]}   "
        f"gridssl {meta.get('gridssl_version')}   torch {meta.get('torch_version')}"
    )
    for section, values in cfg.items():
        print(f"{section:<10} " + ", ".join(f"{k}={v}" for k, v in values.items()))
    print(
        f"checkpoints {[p.name for p in ck]}"
        + ("  best.pt" if (run / rundir.CHECKPOINTS / rundir.BEST).exists() else "")
    )
    if metrics:
        last = metrics[-1]
        print(
            "last       "
            + ", ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in last.items()
            )
        )
        evals = [m for m in metrics if isinstance(m.get("eval_grid_fraction"), (int, float))]
        if evals:
            best = max(evals, key=lambda m: m["eval_grid_fraction"])
            print(f"best eval  step {best['step']}: grid fraction {best['eval_grid_fraction']:.3f}")
    return 0


# Commands import what they run inside their function: `gridssl --help` and the refusal of bad
# input answer without importing torch, matplotlib and the analysis (seconds).


def _analysis_config(args, path: str, **flags):
    """How ``eval`` / ``analyze`` measure ``path``: its run config's analysis section <
    --set analysis.KEY=VALUE < the flags (one resolver: ``gridssl.analyze.measuring_config``)."""
    from .analyze import measuring_config

    flags |= {"bin_size": args.bin_size, "shuffles": args.shuffles, "seed": args.seed}
    sets = [f"analysis.{k}={v}" for k, v in flags.items() if v is not None]
    return measuring_config(path, [*args.set, *sets])


def cmd_eval(args) -> int:
    from .analyze import evaluate

    if args.run != "pretrained":
        _existing(args.run, "run")
    cfg = _analysis_config(args, args.run, arenas=args.arena)
    summary = evaluate(args.run, cfg, args.out, device=args.device)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_analyze(args) -> int:
    from .analyze import analyze

    if args.path != "pretrained":
        _existing(args.path, "model")
    arenas = None if args.arenas is None else ",".join(args.arenas)
    cfg = _analysis_config(
        args, args.path, arenas=arenas, topology="false" if args.no_topology else None
    )
    summary = analyze(args.path, args.out, cfg, progress=not args.quiet, device=args.device)
    primary = summary["arenas"][f"{cfg.arenas[0]:g} m"]
    print(
        f"grid fraction {primary['grid_fraction']} in the {cfg.arenas[0]:g} m arena "
        f"({primary['grid_score']['variant']}), modules {primary['n_modules']} "
        f"periods {primary['module_periods_m']} m"
    )
    print(f"report: {summary['report']}")
    return 0


def _positive(value, what: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise ConfigError(f"{what} {value!r} is not allowed: expected a positive number") from None
    if not (v > 0 and math.isfinite(v)):
        raise ConfigError(f"{what} {value!r} is not allowed: expected a positive number")
    return v


def cmd_score(args) -> int:
    from . import pipeline

    path = _existing(args.maps, "maps file")
    bin_size = _positive(args.bin_size, "--bin-size")
    if not MIN_BIN_M <= bin_size <= MAX_BIN_M:  # beyond: distances overflow or lose precision
        raise ConfigError(
            f"--bin-size {args.bin_size!r} is not allowed: expected {MIN_BIN_M:g} to "
            f"{MAX_BIN_M:g} (metres)"
        )
    for name, value in (("--shuffles", args.shuffles), ("--seed", args.seed)):
        if value is not None and value < 0:
            raise ConfigError(f"{name} {value} is not allowed: expected 0 or more")
    flags = {"score_shuffles": args.shuffles, "score_block_bins": args.block_bins}
    flags["seed"] = args.seed
    sets = [f"analysis.{k}={v}" for k, v in flags.items() if v is not None]
    cfg = load_config(overrides=sets).analysis
    maps = read_maps(path, args.maps)
    ny, nx = maps.shape[1:]
    block = pipeline.block_bins(cfg, ny, nx)
    if cfg.score_shuffles and (block < 1 or (ny // block) * (nx // block) < 2):
        raise ConfigError(
            f"--block-bins {block} is not allowed for {ny}x{nx} maps: expected 1 to "
            f"{max(ny, nx) // 2} (at least 2 blocks)"
        )
    pop = pipeline.score_maps(maps, bin_size, cfg, args.variant)
    rows = [
        {
            "unit": u,
            "grid_score": _r(pop.scores.scores[u]),
            "spacing_m": _r(pop.lattice.spacing[u]),
            "orientation_deg": _r(pop.lattice.orientation[u]),
            "n_fields": int(pop.fields.n_fields[u]),
            "place_like": bool(pop.fields.place_like[u]),
            "grid_cell": bool(pop.is_grid[u]),
            "module": int(pop.modules.labels[u]),
        }
        for u in range(len(maps))
    ]
    summary = pop.summary()
    if args.json:
        doc = _json_safe({"summary": summary, "units": rows})
        print(json.dumps(doc, indent=2, allow_nan=False))  # standard JSON: no NaN / Infinity
        return 0
    gs = summary["grid_score"]
    radii = (
        f"inner {gs['inner']}, outer {gs['outer_radii'][0]:g}-{gs['outer_radii'][-1]:g} of the "
        "map size"
        if gs["outer_radii"]
        else "expanding annulus from the central field's radius"
    )
    print(
        f"grid score: {gs['variant']}, {radii}, {bin_size:g} m bins; rule: {summary['grid_rule']}"
    )
    print(
        f"{'unit':>5} {'score':>7} {'spacing_m':>9} {'orient_deg':>10} {'fields':>6} "
        f"{'grid':>5} {'module':>6}"
    )
    for r in rows:
        print(
            f"{r['unit']:>5} {_fmt(r['grid_score']):>7} {_fmt(r['spacing_m']):>9} "
            f"{_fmt(r['orientation_deg']):>10} {r['n_fields']:>6} "
            f"{'yes' if r['grid_cell'] else '-':>5} {r['module'] if r['module'] >= 0 else '-':>6}"
        )
    print(
        f"grid cells {summary['n_grid_cells']}/{summary['n_units']}, modules "
        f"{summary['n_modules']} periods {summary['module_periods_m']} m"
    )
    return 0


MIN_MAP_BINS = 5  # the smallest map side `gridssl score` takes (the SAC needs a few lags)
MIN_BIN_M, MAX_BIN_M = 1e-6, 1e6  # `gridssl score --bin-size`: a micrometre to 1000 km


def read_maps(path: Path, name: str):
    """The rate maps of a ``.npy`` file as float64 (units, ny, nx), or a one-line ConfigError.

    Taken: real numbers (float or int dtype) of shape (units, ny, nx), or (ny, nx) for one map,
    ny and nx >= 5, NaN marking unvisited bins. A unit whose bins are all NaN is scored NaN and
    is never a grid cell. Refused: other shapes, no maps, bool / complex / object / text
    dtypes, +-inf values, values beyond 1e150 in size (their squares overflow) or all below
    1e-150 (their squares underflow), a file that is not a readable .npy array (pickled arrays
    are never loaded), and maps with no finite bin.
    """
    import numpy as np

    try:
        maps = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"maps file {name!r} is not a readable .npy array ({first})") from None
    if not isinstance(maps, np.ndarray):
        maps.close()  # an .npz archive
        raise ConfigError(f"maps file {name!r} is an .npz archive: save one array with np.save")
    expected = "expected numbers (float or int) of shape (units, ny, nx) or (ny, nx), ny, nx >= 5"
    real = np.issubdtype(maps.dtype, np.floating) or np.issubdtype(maps.dtype, np.integer)
    shape = maps.shape
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3 or not real or min(maps.shape[1:], default=0) < MIN_MAP_BINS:
        raise ConfigError(
            f"maps file {name!r} has shape {shape} and dtype {maps.dtype}: {expected}"
        )
    if maps.shape[0] == 0:
        raise ConfigError(f"maps file {name!r} holds no maps (shape {maps.shape})")
    maps = maps.astype(float)
    if np.isinf(maps).any():
        raise ConfigError(f"maps file {name!r} holds inf values: use NaN for unvisited bins")
    finite = np.isfinite(maps)
    if not finite.any():
        raise ConfigError(f"maps file {name!r} holds no finite value (every bin is NaN)")
    if np.abs(maps[finite]).max() > 1e150:
        raise ConfigError(f"maps file {name!r} holds values beyond 1e150 in size: rescale the maps")
    if 0 < np.abs(maps[finite]).max() < 1e-150:  # their squares underflow to 0: scores NaN
        raise ConfigError(f"maps file {name!r} holds values all below 1e-150 in size: rescale them")
    return maps


def _r(x) -> float | None:
    return round(float(x), 4) if math.isfinite(x) else None


def _json_safe(x):
    """``x`` with every non-finite float as None (JSON has no NaN or Infinity)."""
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _fmt(x) -> str:
    return "nan" if x is None else f"{x:.3f}"


def cmd_demo(args) -> int:
    from .analyze import analyze
    from .checkpoint import pretrained_path
    from .report.analysis import headline
    from .train import Trainer

    out = Path(args.out)
    # --steps / --seed are checked whichever branch runs (a bad value is never ignored)
    # 1 torch thread: how the shipped network was trained, so --retrain regrows it (thread counts
    # round differently and training amplifies rounding)
    checked = load_config("cpu", train__steps=args.steps, train__seed=args.seed, train__threads=1)
    shipped = pretrained_path()
    if shipped.exists() and not args.retrain:
        print(f"demo: analysing the shipped checkpoint ({shipped.parent / 'MODEL_CARD.md'})")
        model = "pretrained"
    else:
        run = out / "train"
        if (run / rundir.CONFIG).exists():
            print(f"demo: resuming {run}")
            trainer = Trainer.resume(run, None if args.steps is None else checked.train.steps)
        else:
            print(f"demo: training the cpu preset for {checked.train.steps} steps into {run}")
            trainer = Trainer.create(checked, run, "gridssl demo")
        try:
            trainer.fit(progress=not args.quiet)
        finally:
            trainer.close()
        model = run
    summary = analyze(model, out / "analysis", progress=not args.quiet)
    for title, text in headline(summary):
        print(f"demo: {title}: {text}")
    print(f"demo: report {summary['report']}")
    return 0


def cmd_export(args) -> int:
    from .checkpoint import export_model

    src = _existing(args.src, "checkpoint")
    path = export_model(src, args.out, half=not args.fp32)
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB")
    return 0


def cmd_sweep(args) -> int:
    from .sweep import Executor, load_spec, parse_spec, run_sweep

    spec = load_spec(args.spec)
    if args.early_stop:
        spec = parse_spec({**spec.to_dict(), "early_stop": args.early_stop}, "--early-stop")
    ex = Executor(args.executor, args.deadline_s, args.shed, args.device, tuple(args.only))
    rows = run_sweep(
        spec, args.out, args.workers, args.address, args.dry_run, collect=args.collect, executor=ex
    )
    chosen = [r for r in rows if ex.chooses_name(r["trial"])]
    done = all(r["status"] in ("ok", "stopped") for r in chosen)
    return 0 if args.dry_run or args.collect or done else 1


def cmd_ablate(args) -> int:
    from .ablate import ablate

    rows = ablate(
        args.preset,
        args.seeds,
        args.out,
        args.steps,
        args.workers,
        args.address,
        args.executor,
        args.set,
    )
    return 0 if all(r["status"] == "ok" for r in rows) else 1


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
        description="Train the SIC network (docs/METHOD.md) and write a run directory.",
        epilog=EPILOG_TRAIN + describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--preset", help=f"one of {preset_names()}")
    t.add_argument("--out", help="new run directory")
    t.add_argument("--config", help="YAML file of {section: {key: value}} overrides")
    _set_option(t, "key", "loss.sigma_g=0.5")
    t.add_argument("--steps", help="total optimiser steps (train.steps)")
    t.add_argument("--seed", help="seed of every random draw (train.seed)")
    t.add_argument("--resume", metavar="DIR", help="continue a run from its last checkpoint")
    t.add_argument(
        "--init-from",
        metavar="RUN_OR_CKPT",
        help="warm start: copy the model weights of another run (same model config)",
    )
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser(
        "eval",
        help="rate maps and grid scores of a run in an open arena",
        description="The evaluation pipeline on one arena, without topology: roll the model "
        "out on smooth walks from the origin in a square arena, build rate maps, score them "
        "against the shuffle null, find modules; writes RUN/eval/ (JSON and a figure).",
        epilog=EPILOG_ANALYSIS + describe(("analysis",)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("run", help="run directory, checkpoint file, or 'pretrained'")
    e.add_argument("--arena", help="arena side in metres (default: the first of analysis.arenas)")
    e.add_argument("--out", help="output folder (default RUN/eval)")
    _analysis_options(e)
    e.set_defaults(func=cmd_eval)

    a = sub.add_parser(
        "analyze",
        help="the full analysis of a trained network and an HTML report",
        description="Roll the network out in open arenas from the origin and measure everything: "
        "rate maps, grid scores with a shuffle null, spacing/orientation, modules, Fourier "
        "lattice and phases, toroidal topology, generalisation to larger arenas and other "
        "velocity statistics, and path invariance. Writes summary.json, figures/ and a "
        "report.html that opens with the paper's claims and this network's verdict.",
        epilog=EPILOG_ANALYSIS + describe(("analysis",)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    a.add_argument("path", help="run directory, checkpoint file, or 'pretrained'")
    a.add_argument("--out", help="output folder (default RUN/analysis)")
    a.add_argument(
        "--arenas",
        nargs="+",
        metavar="M",
        help="arena sides in metres, the first is the primary (analysis.arenas)",
    )
    a.add_argument("--no-topology", action="store_true", help="skip persistent homology")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    _analysis_options(a)
    a.set_defaults(func=cmd_analyze)

    sc = sub.add_parser(
        "score",
        help="grid scores, spacing, orientation and modules of rate maps from anywhere",
        description="Score rate maps saved as a .npy array of shape (units, ny, nx), NaN = "
        "unvisited (image convention [y, x]), or the maps.npy that `gridssl eval` and `gridssl "
        "analyze` write. Grid score: --variant (default Sargolini min-max over Banino annuli).",
    )
    sc.add_argument("maps", help="MAPS.npy, shape (units, ny, nx)")
    sc.add_argument("--bin-size", required=True, help="bin side in metres")
    sc.add_argument(
        "--shuffles",
        type=int,
        help="block-shuffle null: shuffles per unit (analysis.score_shuffles, default "
        f"{AnalysisConfig.score_shuffles}); a unit is a grid "
        "cell only above max(0.3, its null's 95th percentile). 0: the 0.3 threshold alone, "
        "which calls some smooth noise maps grid cells",
    )
    sc.add_argument(
        "--block-bins",
        type=int,
        help="block side of the null, in bins (analysis.score_block_bins; default 0: a fifth of "
        "the shorter map side, at least 2)",
    )
    sc.add_argument(
        "--variant",
        choices=GRID_VARIANTS,
        default="minmax",
        help="the grid score of the rule: minmax (Sargolini min-max over Banino annuli, the "
        "default; on average about 0.15 above opexebo's), mean (mean of c60, c120 minus mean of "
        "c30, c90, c150), bnt (the BNT / opexebo expanding-annulus score, which matches opexebo)",
    )
    sc.add_argument("--seed", type=int, help="seed of the null (analysis.seed, default 0)")
    sc.add_argument("--json", action="store_true", help="JSON instead of a table")
    sc.set_defaults(func=cmd_score)

    d = sub.add_parser("demo", help="what `make demo` runs: load or train, analyse, report")
    d.add_argument("--out", default="runs/demo")
    d.add_argument(
        "--retrain",
        action="store_true",
        help="train the cpu preset from scratch even if a checkpoint is shipped",
    )
    d.add_argument("--steps", help="training steps when training (default: the preset's)")
    d.add_argument("--seed", help="training seed when training (default 0)")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=cmd_demo)

    x = sub.add_parser("export", help="write a compact (fp16) model file from a checkpoint")
    x.add_argument("src", help="run directory or checkpoint")
    x.add_argument("--out", required=True, help="output .pt file")
    x.add_argument("--fp32", action="store_true", help="keep float32 weights")
    x.set_defaults(func=cmd_export)

    sw = sub.add_parser(
        "sweep",
        help="many runs from one spec (a grid x seeds), on Ray or local processes; resumable",
        description="Train and evaluate every trial of SPEC.yaml (preset, steps, seeds, set, "
        "grid, conditions) as a run directory under OUT/trials/, on a local Ray, a Ray "
        "cluster or (--executor local) a plain pool of processes; writes OUT/results.csv/.json, "
        "OUT/sweep.png and OUT/report.html. Rerunning the "
        "same command skips finished trials and resumes interrupted ones.",
        epilog=SWEEP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sw.add_argument("spec", help="SPEC.yaml")
    sw.add_argument("--out", required=True, help="sweep directory")
    sw.add_argument(
        "--workers",
        type=int,
        help="trials at a time (default: CPU cores / train.threads; on a cluster: its CPUs)",
    )
    sw.add_argument(
        "--address",
        help="an existing Ray cluster, e.g. HEAD_IP:6379 or auto (run from a node of it)",
    )
    sw.add_argument("--dry-run", action="store_true", help="list the trials, write nothing")
    sw.add_argument(
        "--collect",
        action="store_true",
        help="run nothing: write the table and report of the trials as they stand",
    )
    sw.add_argument(
        "--early-stop",
        type=int,
        default=0,
        metavar="ETA",
        help="stop hopeless trials: ASHA on the in-training grid fraction at rungs "
        "train.eval_every * ETA^k, keeping the top 1/ETA (default 0: off)",
    )
    _executor_options(sw)
    sw.add_argument(
        "--deadline-s",
        type=float,
        default=0.0,
        help="local: kill the trials still running after this many seconds (each keeps its last "
        "checkpoint; 0: no deadline)",
    )
    sw.add_argument(
        "--shed",
        action="store_true",
        help="local, with a deadline: stop the lowest-priority trials that cannot finish in time",
    )
    sw.add_argument(
        "--device",
        choices=("cpu", "cuda", "auto"),
        help="record train.device in each trial's config (auto: the GPU where there is one)",
    )
    sw.add_argument(
        "--only",
        nargs="+",
        default=[],
        metavar="NAME-PART",
        help="run only the trials whose name contains one of these (the rest stay as they are)",
    )
    sw.set_defaults(func=cmd_sweep)

    ab = sub.add_parser(
        "ablate",
        help="the paper's ablations as one sweep, with bootstrap CIs over seeds",
        description="Train every ablation condition (" + ", ".join(ABLATIONS) + ") with "
        "--seeds seeds as one sweep into OUT, then write OUT/ablations.csv (mean and 95% "
        "bootstrap CI over seeds), OUT/ablations.png and OUT/ablations.html.",
    )
    ab.add_argument("--preset", required=True, help=f"one of {preset_names()}")
    ab.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per condition (3)")
    ab.add_argument("--out", required=True, help="ablation directory")
    ab.add_argument("--steps", type=int, help="training steps (default: the preset's)")
    ab.add_argument("--workers", type=int, help="trials at a time (as for sweep)")
    ab.add_argument("--address", help="an existing Ray cluster (as for sweep)")
    _set_option(ab, "key of every trial", "analysis.shuffles=50")
    _executor_options(ab)
    ab.set_defaults(func=cmd_ablate)

    i = sub.add_parser("info", help="what a run is: config, seeds, progress, checkpoints")
    i.add_argument("run", help="run directory")
    i.set_defaults(func=cmd_info)
    return p


def _refused(err: BaseException) -> bool:
    """Errors that are reported in one line: bad input, unusable model files, failed writes."""
    from .checkpoint import CheckpointError  # imported here: `gridssl --help` needs no torch
    from .io import WriteError

    return isinstance(err, (ConfigError, CheckpointError, WriteError, FileNotFoundError))


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _os_error(err: OSError) -> str:
    """One line for an OSError that no command turned into a message of its own."""
    what = err.strerror or str(err) or type(err).__name__
    return f"{what}: {err.filename}" if err.filename else what


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr)
    except (OSError, ValueError):
        pass  # stderr is gone too: the exit code is all that is left


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of what could not be
    written (a closed pipe, a full device) raises nothing more at exit."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Run one command. Refused input, an unusable model file (:class:`CheckpointError`), a run
    or sweep directory in use by another process (:class:`gridssl.rundir.Locked`) and a failed
    write (:class:`gridssl.io.WriteError`: disk full, read-only folder) each print one line and
    exit 2, and so does any other OSError (a closed output pipe, a full stdout) and running out
    of memory; a divergence exits ``EXIT_DIVERGED`` (3); Ctrl-C exits 130."""
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a full or closed stdout fails here, not at the interpreter's exit
        return code
    except BrokenPipeError:
        _drop_stdout()
        _say("gridssl: error: the output was closed before everything was written (broken pipe)")
        return 2
    except MemoryError:
        _say(
            "gridssl: error: out of memory: this machine cannot hold what was asked for "
            "(a smaller model, batch or arena would fit)"
        )
        return 2
    except (ConfigError, FileNotFoundError, OSError, ValueError) as err:
        if not _refused(err) and not isinstance(err, OSError):
            raise
        if isinstance(err, OSError) and not _refused(err):
            _drop_stdout()
            _say(f"gridssl: error: {_one_line(_os_error(err))}")  # type: ignore[arg-type]
            return 2
        _say(f"gridssl: error: {_one_line(err)}")
        return 2
    except KeyboardInterrupt:
        print(
            "gridssl: interrupted (the last checkpoint is kept; resume with --resume)",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
