"""The long-walk stage alone (gridssl.pipeline.long_walks, the default AnalysisConfig) on models:

    python experiments/long_walks.py MODEL [MODEL ...]     # run dirs, checkpoints or "pretrained"

Prints per model the reference grid fraction (2 m arena, the pipeline's rule with its null) and,
per long input, the mean step, the grid fraction of its own maps and the population-vector
correlation with the reference maps: first window, second window and the last fifth.
"""

from __future__ import annotations

import sys

from gridssl import pipeline as P
from gridssl.checkpoint import load
from gridssl.config import AnalysisConfig


def main(models: list[str]) -> None:
    cfg = AnalysisConfig()
    for m in models:
        net = load(m)
        pops = P.population(P.rollout(net, cfg, cfg.arenas[:1]), cfg)
        print(f"{m}: reference grid fraction {pops.primary.is_grid.mean():.3f}")
        lw = P.long_walks(net, pops, cfg)
        for w in lw.walks:
            c = w.decay.correlation
            print(
                f"  {w.name:10s} step {w.step_mean * 100:.2f} cm  grid {w.grid_fraction:.3f}  "
                f"pv r {c[0]:.2f}, {c[1]:.2f} ... last fifth {w.decay.last:.3f}"
            )
        if lw.still is not None:
            c = lw.still.correlation
            print(f"  standing still: pv r {c[0]:.2f} -> last fifth {lw.still.last:.3f}")
        for s in lw.skipped:
            print(f"  skipped: {s}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["pretrained"])
