"""Does the square end state have a lower SIC loss than the hexagonal one? (issue 16, point 3)

    python experiments/loss_landscape.py RUN [RUN ...] [--preset cpu] [--set KEY=VALUE ...]
                                         [--batches 64] [--seed 0]

Every RUN's final network is scored by ONE objective (the preset with the overrides: the same
data, loss weights and isometry range for all) on the SAME batches (``--batches`` permutation
batches from ``Generator(seed)``, the last training step's data settings), so the numbers compare
end states, not training curves. Printed per run: the mean and standard error over the batches of
the total and of each term, and each run's lattice from its sweep record (trial.json: grid and
square fractions), so the square runs and the hexagonal runs can be read side by side. The paired
difference of the totals against the first RUN is also printed (same batches: a paired test).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

import gridssl
from gridssl import rundir
from gridssl.config import load_config
from gridssl.data import draw_batch
from gridssl.losses import sic_loss

TERMS = ("total", "sep", "inv", "cap", "iso")


def lattice(run: Path) -> str:
    rec = run / rundir.TRIAL
    if not rec.is_file():
        return "?"
    m = json.loads(rec.read_text()).get("metrics", {})
    nan = float("nan")
    return f"grid {m.get('grid_fraction', nan):.2f} square {m.get('square_fraction', nan):.2f}"


def terms_on(net, cfg, batches, step: int) -> list[dict[str, float]]:
    out = []
    stride = cfg.data.pair_stride_at(step)
    with torch.no_grad():
        for b in batches:
            states = net.rollout_batch(b)
            terms = sic_loss(
                states, b.positions, b.velocities, net.g0(), cfg.loss, pair_stride=stride
            )
            out.append(terms.as_floats())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--set", nargs="*", default=[], help="config overrides KEY=VALUE")
    ap.add_argument("--batches", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    cfg = load_config(a.preset, overrides=a.set)
    gen = torch.Generator().manual_seed(a.seed)
    step = cfg.train.steps  # the last step's data (slow steps on, where the config has them)
    batches = [draw_batch(cfg.data, step, gen) for _ in range(a.batches)]
    first = None
    print(f"objective: preset {a.preset} {' '.join(a.set)}; {a.batches} batches, seed {a.seed}")
    for run in a.runs:
        rows = terms_on(gridssl.load(run), cfg, batches, step)
        stats = {}
        for k in TERMS:
            x = torch.tensor([r[k] for r in rows], dtype=torch.float64)
            stats[k] = (float(x.mean()), float(x.std() / math.sqrt(len(x))))
        total = torch.tensor([r["total"] for r in rows], dtype=torch.float64)
        if first is None:
            first, paired = total, ""
        else:
            d = total - first
            se = float(d.std() / math.sqrt(len(d)))
            paired = f"  total - first: {float(d.mean()):+.4f} +- {se:.4f}"
        text = " ".join(f"{k} {m:.4f}+-{s:.4f}" for k, (m, s) in stats.items())
        print(f"{Path(run).name}: [{lattice(Path(run))}] {text}{paired}")


if __name__ == "__main__":
    main()
