"""The four SIC losses (SPEC.md section 4), exact in bounded memory or pair-subsampled.

All pairs of the M = B*T states of a batch are compared. With dx_ij = |x_i - x_j| and
dg_ij = |g_i - g_j| over unordered pairs i < j:

    L_sep = R_{dx > sigma_x} exp(-dg^2 / (2 sigma_g^2))   separation: different places apart
    L_inv = R_{dx < sigma_x} dg^2                         path invariance: same place, same state
    L_cap = -| mean_i g_i |^2                             capacity
    L_iso = Var_t(|g_t - g_{t-1}| / |v_t|)                conformal isometry (or Var / Mean^2)

where R is a mean (default) or a sum over the pair set. ``exact`` evaluates every pair, a chunk of
rows at a time, recomputing each chunk in backward (activation checkpointing) so memory stays
O(chunk * M) for any batch (a batch that fits in one chunk is computed directly). ``sampled`` is
an unbiased estimate from random pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint

from .config import LossConfig


@dataclass
class PairSums:
    """Sums over the separation and invariance pair sets, and the sets' exact sizes."""

    sep: torch.Tensor  # scalar, differentiable
    inv: torch.Tensor  # scalar, differentiable
    n_sep: int
    n_inv: int

    def reduce(self, reduction: str) -> tuple[torch.Tensor, torch.Tensor]:
        if reduction == "sum":
            return self.sep, self.inv
        return self.sep / max(self.n_sep, 1), self.inv / max(self.n_inv, 1)


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances (P, Q) between rows of a (P, D) and b (Q, D), clamped >= 0."""
    d = (a * a).sum(-1)[:, None] + (b * b).sum(-1)[None, :] - 2 * a @ b.T
    return d.clamp_min(0)


def _pair_block(Gr, Gc, Xr, Xc, row0, col0, sigma_x: float, sigma_g: float):
    """Separation and invariance sums over pairs (i in rows, j in cols) with j > i."""
    i = torch.arange(Gr.shape[0], device=Gr.device)[:, None] + row0
    j = torch.arange(Gc.shape[0], device=Gr.device)[None, :] + col0
    dx2 = _sq_dists(Xr, Xc)
    upper = j > i
    far = upper & (dx2 > sigma_x**2)
    near = upper & (dx2 < sigma_x**2)
    dg2 = _sq_dists(Gr, Gc)
    sep = torch.where(far, torch.exp(-dg2 / (2 * sigma_g**2)), 0.0).sum()
    inv = torch.where(near, dg2, 0.0).sum()
    return sep, inv, far.sum(), near.sum()


def pair_sums_exact(G, X, sigma_x: float, sigma_g: float, chunk: int = 1024) -> PairSums:
    """Exact pair sums over all i < j of G (M, N) states at X (M, 2) positions, in row chunks."""
    M = G.shape[0]
    sep = inv = G.new_zeros(())
    n_sep = n_inv = 0
    for r0 in range(0, M, chunk):
        r1 = min(M, r0 + chunk)
        args = (G[r0:r1], G[r0:], X[r0:r1], X[r0:], r0, r0, sigma_x, sigma_g)
        if M > chunk and torch.is_grad_enabled() and G.requires_grad:  # several chunks
            s, v, ns, nv = checkpoint(_pair_block, *args, use_reentrant=False)
        else:
            s, v, ns, nv = _pair_block(*args)
        sep, inv = sep + s, inv + v
        n_sep, n_inv = n_sep + int(ns), n_inv + int(nv)
    return PairSums(sep, inv, n_sep, n_inv)


@torch.no_grad()
def near_pairs(X: torch.Tensor, sigma_x: float, chunk: int = 1024) -> tuple[torch.Tensor, int]:
    """All unordered pairs i < j with |x_i - x_j| < sigma_x, as (P, 2) indices; and the number of
    pairs at exactly sigma_x (in neither set)."""
    M = X.shape[0]
    found, n_edge = [], 0
    for r0 in range(0, M, chunk):
        r1 = min(M, r0 + chunk)
        dx2 = _sq_dists(X[r0:r1], X[r0:])
        i = torch.arange(r1 - r0, device=X.device)[:, None]
        j = torch.arange(M - r0, device=X.device)[None, :]
        upper = j > i
        nz = torch.nonzero(upper & (dx2 < sigma_x**2))
        found.append(nz + r0)
        n_edge += int((upper & (dx2 == sigma_x**2)).sum())
    return torch.cat(found), n_edge


def pair_sums_sampled(
    G, X, sigma_x: float, sigma_g: float, n_samples: int, generator=None, chunk: int = 1024
) -> PairSums:
    """Unbiased pair-subsampled estimates of the two pair sums (exact set sizes).

    Separation: ``n_samples`` pairs drawn uniformly from all M(M-1)/2 pairs; the sum over the
    separation set is estimated by n_pairs * mean(kernel * [dx > sigma_x]). Invariance: its pairs
    are few and are enumerated exactly (no grad); if there are more than ``n_samples`` of them,
    ``n_samples`` are drawn uniformly with replacement and the sum is n_inv * their mean.
    """
    M = G.shape[0]
    n_pairs = M * (M - 1) // 2
    near, n_edge = near_pairs(X, sigma_x, chunk)
    n_inv = near.shape[0]
    n_sep = n_pairs - n_inv - n_edge
    dev = G.device
    i = torch.randint(0, M, (n_samples,), generator=generator).to(dev)
    j = (i + 1 + torch.randint(0, M - 1, (n_samples,), generator=generator).to(dev)) % M
    far = ((X[i] - X[j]) ** 2).sum(-1) > sigma_x**2
    dg2 = ((G[i] - G[j]) ** 2).sum(-1)
    sep = n_pairs * torch.where(far, torch.exp(-dg2 / (2 * sigma_g**2)), 0.0).mean()
    if n_inv > n_samples:
        pick = torch.randint(0, n_inv, (n_samples,), generator=generator).to(dev)
        near = near[pick]
    if n_inv == 0:
        inv = G.new_zeros(())
    else:
        d = ((G[near[:, 0]] - G[near[:, 1]]) ** 2).sum(-1)
        inv = n_inv * d.mean()
    return PairSums(sep, inv, n_sep, n_inv)


def capacity_loss(G: torch.Tensor) -> torch.Tensor:
    """-|mean_i g_i|^2 over states G (M, N)."""
    return -(G.mean(0) ** 2).sum()


def isometry_loss(
    states: torch.Tensor,
    velocities: torch.Tensor,
    g0: torch.Tensor,
    max_step: float,
    form: str = "variance",
) -> torch.Tensor:
    """Conformal isometry over steps (B, T): ratio r = |g_t - g_{t-1}| / |v_t| (g_0 before step 1).

    Steps with 0 < |v_t| < max_step count (the paper: max_step = sigma_x). form
    ``variance`` is Var(r) (population variance); ``scale_free`` is Var(r) / Mean(r)^2. Zero when
    fewer than two steps qualify.
    """
    B = states.shape[0]
    prev = torch.cat([g0.expand(B, 1, -1), states[:, :-1]], dim=1)  # (B, T, N)
    speed = velocities.norm(dim=-1)  # (B, T)
    keep = (speed > 0) & (speed < max_step)
    if int(keep.sum()) < 2:
        return states.new_zeros(())
    r = (states - prev)[keep].norm(dim=-1) / speed[keep]
    var = r.var(unbiased=False)
    if form == "scale_free":
        return var / (r.mean() ** 2 + 1e-12)
    return var


@dataclass
class LossTerms:
    total: torch.Tensor
    sep: torch.Tensor
    inv: torch.Tensor
    cap: torch.Tensor
    iso: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        return {k: float(getattr(self, k).detach()) for k in ("total", "sep", "inv", "cap", "iso")}


def sic_loss(
    states: torch.Tensor,
    positions: torch.Tensor,
    velocities: torch.Tensor,
    g0: torch.Tensor,
    cfg: LossConfig,
    generator: torch.Generator | None = None,
) -> LossTerms:
    """The weighted SIC objective for states (B, T, N) at positions (B, T, 2) after velocities."""
    G = states.reshape(-1, states.shape[-1])  # (M, N)
    X = positions.reshape(-1, 2)  # (M, 2)
    if cfg.pairs == "exact":
        sums = pair_sums_exact(G, X, cfg.sigma_x, cfg.sigma_g, cfg.chunk_size)
    else:
        sums = pair_sums_sampled(
            G, X, cfg.sigma_x, cfg.sigma_g, cfg.pair_samples, generator, cfg.chunk_size
        )
    sep, inv = sums.reduce(cfg.reduction)
    cap = capacity_loss(G)
    iso = isometry_loss(states, velocities, g0, cfg.iso_max_step, cfg.iso_form)
    total = cfg.w_sep * sep + cfg.w_inv * inv + cfg.w_cap * cap + cfg.w_iso * iso
    return LossTerms(total, sep, inv, cap, iso)


@torch.no_grad()
def code_health(states: torch.Tensor) -> dict[str, float]:
    """Diagnostics of a batch of states (B, T, N) from one permutation batch.

    end_spread: mean distance of the B end states to their mean (all trajectories end at the same
    place, so this is a direct path-invariance error); dead_units: units silent on the whole batch;
    state_spread: RMS distance of all states to their mean (near 0 means the code collapsed).
    """
    end = states[:, -1]
    G = states.reshape(-1, states.shape[-1])
    return {
        "end_spread": float((end - end.mean(0)).norm(dim=-1).mean()),
        "dead_units": int((G.amax(0) <= 1e-6).sum()),
        "state_spread": float((G - G.mean(0)).pow(2).sum(-1).mean().sqrt()),
    }
