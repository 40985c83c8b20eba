"""Every unit's period and lattice type per group of units, through the library's unit-code stage
(gridssl.analysis.periods): for the block-diagonal control (``model.groups``) and for codes
without grid cells (docs/MODULES.md).

    python experiments/unit_periods.py MODEL [--arena 4] [--groups G]

MODEL: a run directory or model file. Rate maps: the evaluation pipeline's walks in a ``--arena``
m arena (``analysis.bin_size`` bins, no null), as `gridssl analyze` makes them for that arena.
Each group of consecutive units (default: the model's ``model.groups``) is classified and
clustered on its own with the ``analysis.unit_*`` / ``analysis.module_*`` settings: one row per
group with its lattice counts and its modules (median period, units, majority lattice).
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from gridssl import pipeline as P
from gridssl.checkpoint import load
from gridssl.config import AnalysisConfig


def group_rows(maps: np.ndarray, groups: int, cfg: AnalysisConfig) -> list[str]:
    """One markdown row per group of consecutive units of ``maps`` (U, ny, nx)."""
    size = len(maps) // groups
    rows = []
    for g in range(groups):
        sl = slice(g * size, (g + 1) * size)
        code = P.unit_periods_of(maps[sl], cfg)
        c = code.counts()
        mods = "; ".join(f"{m.period_m:.2f} m x {len(m.units)} ({m.lattice})" for m in code.modules)
        rows.append(
            f"| {sl.start}-{sl.stop - 1} | {c['hexagonal']} | {c['square']} | {c['bands']} | "
            f"{c['aperiodic']} | {c['silent']} | {mods or '-'} |"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--arena", type=float, default=4.0, help="arena side, m")
    ap.add_argument("--groups", type=int, help="groups of consecutive units (default: the model's)")
    a = ap.parse_args()
    net = load(a.model)
    cfg = dataclasses.replace(AnalysisConfig(shuffles=0), unit_code_arena=a.arena)
    maps = P.unit_code_maps(net, None, cfg)  # that arena's walks, as `gridssl analyze` draws them
    groups = a.groups or getattr(net.cfg, "groups", 1) or 1
    print(f"{a.model}: {a.arena:g} m arena, {cfg.bin_size:g} m bins")
    print("| units | hexagonal | square | bands | aperiodic | silent | modules |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(group_rows(maps, groups, cfg)))


if __name__ == "__main__":
    main()
