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


def _invariance_terms(G, pairs: torch.Tensor, d_inv: torch.Tensor | None, block: int = 16384):
    """Sum of dg2 over the listed pairs (P, 2), from coordinate differences (no cancellation);
    its gradient 2 (g_i - g_j) at i, and minus that at j, is added into ``d_inv`` if given."""
    inv = G.new_zeros(())
    for p0 in range(0, pairs.shape[0], block):
        i, j = pairs[p0 : p0 + block, 0], pairs[p0 : p0 + block, 1]
        d = G.index_select(0, i).sub_(G.index_select(0, j))  # (P, N)
        inv = inv + torch.linalg.vecdot(d, d).sum()
        if d_inv is not None:
            d_inv.index_add_(0, i, d, alpha=2).index_add_(0, j, d, alpha=-2)
    return inv


def _exact_pass(G, X, sigma_x: float, sigma_g: float, tile: int, need_grad: bool):
    """Separation and invariance sums over all i < j, and (if ``need_grad``) their gradients.

    Separation: the kernel K_ij = exp(-dg2_ij / (2 sigma_g^2)) in row tiles r0:r1 against columns
    r0:M (the upper triangle), with dg2_ij = |g_i|^2 + |g_j|^2 - 2 g_i.g_j from one GEMM of
    augmented rows; the few pairs within sigma_x (listed by ``near_pairs``, sorted by row) are
    zeroed in place. Gradient: d sep / dG = 2 (diag(C 1) - C) G with C = -K / (2 sigma_g^2)
    symmetrised: per tile one GEMM for the rows and one for the columns, each with a column of
    ones that yields the row sums C 1. Invariance comes from the listed pairs directly.
    Returns sep, inv, n_sep, n_inv, d_sep (M, N) or None, d_inv (M, N) or None.
    """
    M, N = G.shape
    scale = -1.0 / (2 * sigma_g**2)
    tile = max(1, min(tile, M))
    pairs_near, pairs_edge = near_pairs(X, sigma_x)
    n_inv = pairs_near.shape[0]
    n_sep = M * (M - 1) // 2 - n_inv - pairs_edge.shape[0]
    skip = torch.cat([pairs_near, pairs_edge])  # not separation pairs
    skip = skip[torch.argsort(skip[:, 0], stable=True)]
    bounds = torch.searchsorted(skip[:, 0].contiguous(), torch.arange(0, M + tile, tile)).tolist()
    sq = (G * G).sum(1, keepdim=True)  # (M, 1)
    ones = torch.ones_like(sq)
    left = torch.cat([G, sq, ones], dim=1)  # (M, N + 2)
    right = torch.cat([G * (-2 * scale), ones * scale, sq * scale], dim=1)  # left.right = scale dg2
    buf = G.new_empty(tile * M)
    upper = torch.ones(tile, tile, dtype=torch.bool, device=G.device).triu_(1)  # j > i
    G1 = torch.cat([G, ones], dim=1) if need_grad else None  # (M, N + 1)
    acc = torch.zeros_like(G1) if need_grad else None  # [sum_j K_ij g_j, sum_j K_ij], symmetric
    dense = []
    for t, r0 in enumerate(range(0, M, tile)):
        r1, cols = min(M, r0 + tile), M - r0
        K = buf[: (r1 - r0) * cols].view(r1 - r0, cols)
        torch.mm(left[r0:r1], right[r0:].T, out=K)
        K.clamp_(max=0).exp_()
        K[:, : r1 - r0].mul_(upper[: r1 - r0, : r1 - r0])
        sk = skip[bounds[t] : bounds[t + 1]] - r0  # this tile's pairs, local
        K.view(-1).index_fill_(0, sk[:, 0] * cols + sk[:, 1], 0.0)
        if need_grad:
            acc[r0:r1].addmm_(K, G1[r0:])
            acc[r0:].addmm_(K.T, G1[r0:r1])
        else:
            dense.append(K.sum())
    d_sep = d_inv = None
    if need_grad:
        dense.append(acc[:, N].sum() / 2)  # every pair counted from both ends
        d_sep = (G * acc[:, N:]).sub_(acc[:, :N]).mul_(2 * scale)
        d_inv = torch.zeros_like(G)
    inv = _invariance_terms(G, pairs_near, d_inv)
    return torch.stack(dense).sum(), inv, n_sep, n_inv, d_sep, d_inv


class _ExactPairSums(torch.autograd.Function):
    """(sep, inv, n_sep, n_inv) over all i < j; the gradient is formed during the forward pass
    (the outputs are scalars), so backward only scales it: no recomputation."""

    @staticmethod
    def forward(ctx, G, X, sigma_x, sigma_g, tile):
        need = ctx.needs_input_grad[0]
        sep, inv, n_sep, n_inv, d_sep, d_inv = _exact_pass(G, X, sigma_x, sigma_g, tile, need)
        if need:
            ctx.save_for_backward(d_sep, d_inv)
        counts = torch.tensor([n_sep, n_inv])
        ctx.mark_non_differentiable(counts)
        return sep, inv, counts

    @staticmethod
    def backward(ctx, grad_sep, grad_inv, _):
        d_sep, d_inv = ctx.saved_tensors
        return grad_sep * d_sep + grad_inv * d_inv, None, None, None, None


def pair_sums_exact(G, X, sigma_x: float, sigma_g: float, chunk: int = 256) -> PairSums:
    """Exact pair sums over all i < j of G (M, N) states at X (M, 2) positions, in row tiles of
    ``chunk`` rows: memory O(M N + chunk M), closed-form gradient."""
    sep, inv, counts = _ExactPairSums.apply(G, X, sigma_x, sigma_g, chunk)
    return PairSums(sep, inv, int(counts[0]), int(counts[1]))


@torch.no_grad()
def near_pairs(X: torch.Tensor, sigma_x: float) -> tuple[torch.Tensor, torch.Tensor]:
    """All unordered pairs i < j with |x_i - x_j| < sigma_x, as (P, 2) indices in lexicographic
    order; and those at exactly sigma_x (in neither pair set), (E, 2).

    Points are binned into square cells of side sigma_x; a pair closer than sigma_x lies in the
    same or adjacent cells, so only those candidates are measured: O(M + candidates), not O(M^2).
    """
    M = X.shape[0]
    dev = X.device
    if M < 2:
        return torch.empty(0, 2, dtype=torch.long, device=dev), torch.empty(
            0, 2, dtype=torch.long, device=dev
        )
    cell = torch.floor(X / sigma_x).long()  # (M, 2)
    cell -= cell.min(0).values
    height = int(cell[:, 1].max()) + 3
    key = (cell[:, 0] + 1) * height + (cell[:, 1] + 1)  # (M,), neighbours are key +- 1, +- height
    skey, order = key.sort(stable=True)
    found, edge = [], []
    # this cell (pairs within it once), and four of the eight neighbours (each cell pair once)
    for dx, dy in ((0, 0), (1, -1), (1, 0), (1, 1), (0, 1)):
        target = key + dx * height + dy  # (M,)
        lo = torch.searchsorted(skey, target)
        hi = torch.searchsorted(skey, target, right=True)
        count = hi - lo
        p = torch.repeat_interleave(torch.arange(M, device=dev), count)
        start = torch.repeat_interleave(lo - (count.cumsum(0) - count), count)
        q = order[start + torch.arange(p.shape[0], device=dev)]
        if dx == 0 and dy == 0:
            keep = p < q
            p, q = p[keep], q[keep]
        d2 = ((X[p] - X[q]) ** 2).sum(-1)
        pq = torch.stack([torch.minimum(p, q), torch.maximum(p, q)], dim=1)  # (C, 2), i < j
        found.append(pq[d2 < sigma_x**2])
        edge.append(pq[d2 == sigma_x**2])
    pairs = torch.cat(found)
    return pairs[torch.argsort(pairs[:, 0] * M + pairs[:, 1])], torch.cat(edge)


def pair_sums_sampled(
    G, X, sigma_x: float, sigma_g: float, n_samples: int, generator=None
) -> PairSums:
    """Unbiased pair-subsampled estimates of the two pair sums (exact set sizes).

    Separation: ``n_samples`` pairs drawn uniformly from all M(M-1)/2 pairs; the sum over the
    separation set is estimated by n_pairs * mean(kernel * [dx > sigma_x]). Invariance: its pairs
    are few and are enumerated exactly (no grad); if there are more than ``n_samples`` of them,
    ``n_samples`` are drawn uniformly with replacement and the sum is n_inv * their mean.
    """
    M = G.shape[0]
    n_pairs = M * (M - 1) // 2
    near, edge = near_pairs(X, sigma_x)
    n_inv = near.shape[0]
    n_sep = n_pairs - n_inv - edge.shape[0]
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
        sums = pair_sums_sampled(G, X, cfg.sigma_x, cfg.sigma_g, cfg.pair_samples, generator)
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
