"""Naive reference implementations: literal transcriptions of docs/METHOD.md, for tests and
benchmarks.

They hold every intermediate in memory (a (B, N, N) gather per step, the full M x M pair matrices)
and loop where the formula loops. Never used for training.
"""

from __future__ import annotations

import torch

from .data import VelocityBatch
from .model import SICNet, norm_relu


def rollout_naive(net: SICNet, batch: VelocityBatch) -> torch.Tensor:
    """Per step, gather W(v_t) for every trajectory (B, N, N) and multiply. -> (B, T, N)."""
    W = net.weights(batch.distinct)
    g = net.g0().expand(batch.index.shape[0], -1)
    out = []
    for t in range(batch.index.shape[1]):
        g = norm_relu(torch.bmm(W[batch.index[:, t]], g.unsqueeze(-1)).squeeze(-1))
        out.append(g)
    return torch.stack(out, 1)


def pair_losses_naive(G, X, sigma_x: float, sigma_g: float, reduction: str = "mean"):
    """Separation and invariance over all unordered pairs i < j, all at once. -> (sep, inv)."""
    M = G.shape[0]
    dg2 = ((G[:, None, :] - G[None, :, :]) ** 2).sum(-1)  # (M, M)
    dx = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1).sqrt()
    upper = torch.triu(torch.ones(M, M, dtype=torch.bool), diagonal=1)
    far = upper & (dx > sigma_x)
    near = upper & (dx < sigma_x)
    sep_terms = torch.exp(-dg2[far] / (2 * sigma_g**2))
    inv_terms = dg2[near]
    if reduction == "sum":
        return sep_terms.sum(), inv_terms.sum()
    return sep_terms.mean(), inv_terms.mean() if inv_terms.numel() else G.new_zeros(())


def isometry_naive(states, velocities, g0, max_step: float, form: str):
    """Conformal isometry by an explicit loop over trajectories and steps."""
    ratios = []
    B, T, _ = states.shape
    for b in range(B):
        prev = g0
        for t in range(T):
            v = velocities[b, t].norm()
            if 0 < v < max_step:
                ratios.append((states[b, t] - prev).norm() / v)
            prev = states[b, t]
    if len(ratios) < 2:
        return states.new_zeros(())
    r = torch.stack(ratios)
    var = ((r - r.mean()) ** 2).mean()
    return var / r.mean() ** 2 if form == "scale_free" else var


def pair_losses_dense(
    G, X, sigma_x: float, sigma_g: float, reduction: str = "mean", weighting: str = "uniform"
):
    """The same sums with every M x M matrix at once from Gram matrices (plain autograd keeps
    them all): the naive baseline of benchmarks/step_time.py, where M x M x N does not fit.
    ``weighting`` octave weighs each separation pair by w = (sigma_x / dx)^2, inverse by
    w = sigma_x / dx (mean: sum(w k) / sum(w))."""
    M = G.shape[0]
    sq = (G * G).sum(1)
    dg2 = (sq[:, None] + sq[None, :] - 2 * G @ G.T).clamp_min(0)  # (M, M)
    dx2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    upper = torch.triu(torch.ones(M, M, dtype=torch.bool, device=G.device), diagonal=1)
    far = upper & (dx2 > sigma_x**2)
    near = upper & (dx2 < sigma_x**2)
    inv = torch.where(near, dg2, 0.0).sum()
    power = {"uniform": 0, "octave": 2, "inverse": 1}[weighting]
    if power:
        dx = dx2.sqrt().clamp_min(sigma_x)
        w = torch.where(far, (sigma_x / dx) ** power, 0.0)  # (M, M)
        sep = (w * torch.exp(-dg2 / (2 * sigma_g**2))).sum()
        if reduction == "sum":
            return sep, inv
        return sep / w.sum() if far.any() else sep, inv / near.sum().clamp_min(1)
    sep = torch.where(far, torch.exp(-dg2 / (2 * sigma_g**2)), 0.0).sum()
    if reduction == "sum":
        return sep, inv
    return sep / far.sum().clamp_min(1), inv / near.sum().clamp_min(1)
