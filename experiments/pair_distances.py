"""How much of the separation term asks for resolution near sigma_x, by sequence length.

    python experiments/pair_distances.py

For `cpu`-preset permutation batches (B 64 at T 20, B 32 at T 40 and 60, 5 batches each, generator
seed 0): the share of separation pairs (dx > sigma_x) closer than 0.1 m, with uniform and with
octave weights (loss.sep_weighting), and the 90th percentile of pair distance (the batch's extent).
"""

from __future__ import annotations

import torch

from gridssl.config import load_config
from gridssl.data import draw_batch
from gridssl.losses import octave_weights_

NEAR_M = 0.1


def main() -> None:
    print(f"   T    B  uniform share dx<{NEAR_M:g}  octave share  pair distance p90 (m)")
    for T, B in ((20, 64), (40, 32), (60, 32)):
        cfg = load_config("cpu", overrides=[f"data.seq_len={T}", f"data.batch_size={B}"])
        sx = cfg.loss.sigma_x
        gen = torch.Generator().manual_seed(0)
        uni, octv, p90 = [], [], []
        for _ in range(5):
            X = draw_batch(cfg.data, 0, gen).positions.reshape(-1, 2)  # (M, 2)
            i, j = torch.triu_indices(len(X), len(X), 1)
            d = (X[i] - X[j]).norm(dim=-1)  # (P,)
            far = d[d > sx]
            w = octave_weights_(far**2, sx)  # the loss's own octave weight
            uni.append(float((far < NEAR_M).float().mean()))
            octv.append(float(w[far < NEAR_M].sum() / w.sum()))
            p90.append(float(torch.quantile(d, 0.9)))
        mean = lambda v: sum(v) / len(v)  # noqa: E731
        print(f"{T:4d} {B:4d} {mean(uni):20.3f} {mean(octv):13.3f} {mean(p90):22.2f}")


if __name__ == "__main__":
    main()
