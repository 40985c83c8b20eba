"""Time to grid cells: train a preset and measure its code in a 2 m arena as training goes.

    python benchmarks/time_to_grids.py [--preset cpu] [--seed 0] [--every 1000] [--out DIR]
                                       [--set KEY=VALUE ...] [--threads 0]

Every ``--every`` steps training pauses (the clock too) and the network is measured by the
evaluation pipeline's rollout and population stages in its primary arena (``gridssl.pipeline``,
one ``AnalysisConfig``: by default a 2 m arena, 60 walk samples per 5 cm bin, 20 shuffles;
``--shuffles`` and ``--set analysis.KEY=VALUE`` change them); a unit is a grid cell when its
Sargolini min-max score over Banino annuli (inner 0.2, outer 0.4-1.0 of the map size) exceeds
0.3 and its own 95th percentile of a circular time-shift null, with at least 3 firing fields and
not place-like. Modules: Gaussian mixture + BIC on (spacing, orientation); distinct periods: module
periods at least 1.15x apart. Prints a row per evaluation and the time to each threshold (30%
grid cells; 2 and 3 distinct periods). Wall-clock counts training only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=None, help="train.steps (the schedule's length)")
    ap.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="stop measuring here (the schedule keeps the preset's length)",
    )
    ap.add_argument("--shuffles", type=int, default=None, help="analysis.shuffles")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument(
        "--set", action="append", default=[], help="train or analysis KEY=VALUE (repeatable)"
    )
    ap.add_argument("--out", default=None, help="run directory (default: a temporary one)")
    a = ap.parse_args()

    # after argparse: `--help` answers without importing torch's model code
    from gridssl import pipeline
    from gridssl.config import load_config
    from gridssl.train import Trainer

    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = load_config(
        a.preset,
        overrides=a.set,
        train__seed=a.seed,
        train__steps=a.steps,
        analysis__shuffles=a.shuffles,
    )
    acfg = cfg.analysis
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="time_to_grids_")) / "run"
    trainer = Trainer.create(cfg, out, "benchmarks/time_to_grids.py")
    rows, clock = [], 0.0
    print(f"preset {a.preset} seed {a.seed} threads {torch.get_num_threads()} run {out}")
    print(
        f"{'step':>6} {'train_s':>8} {'grid_frac':>9} {'>0.3':>6} {'modules':>7} "
        f"{'periods':>7}  module periods (m)"
    )
    last = min(cfg.train.steps, a.max_steps or cfg.train.steps)
    while trainer.step < last:
        t0 = time.perf_counter()
        trainer.fit(progress=False, until=min(trainer.step + a.every, last))
        clock += time.perf_counter() - t0
        net = trainer.net.eval()
        pops = pipeline.population(pipeline.rollout(net, acfg, acfg.arenas[:1]), acfg)
        trainer.net.train()
        s = pops.primary.summary()
        row = {"step": trainer.step, "train_s": round(clock, 1), **s}
        rows.append(row)
        above = s[f"above_{acfg.threshold:g}"]
        print(
            f"{row['step']:>6} {clock:>8.0f} {s['grid_fraction']:>9.3f} {above:>6.2f} "
            f"{s['n_modules']:>7} {s['n_distinct_periods']:>7}  {s['module_periods_m']}",
            flush=True,
        )

    def first(pred):
        hit = next((r for r in rows if pred(r)), None)
        return "not reached" if hit is None else f"{hit['train_s']:.0f} s (step {hit['step']})"

    print(f"time to >= 30% grid cells:            {first(lambda r: r['grid_fraction'] >= 0.3)}")
    print(f"time to >= 2 distinct module periods: {first(lambda r: r['n_distinct_periods'] >= 2)}")
    print(
        f"time to both:                         "
        f"{first(lambda r: r['grid_fraction'] >= 0.3 and r['n_distinct_periods'] >= 2)}"
    )
    print(f"time to >= 3 distinct module periods: {first(lambda r: r['n_distinct_periods'] >= 3)}")
    (out / "time_to_grids.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
