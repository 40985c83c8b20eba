"""The four SIC losses (docs/METHOD.md section 4), exact in bounded memory or pair-subsampled.

All pairs of the M = B*T states of a batch are compared. With dx_ij = |x_i - x_j| and
dg_ij = |g_i - g_j| over unordered pairs i < j:

    L_sep = R^w_{dx > sigma_x} exp(-dg^2 / (2 sigma_g^2))  separation: different places apart
    L_inv = R_{dx < sigma_x} dg^2                          path invariance: same place, same state
    L_cap = -| mean_i g_i |^2                              capacity
    L_iso = Var_t(|g_t - g_{t-1}| / |v_t|)                 conformal isometry (or Var / Mean^2)

where R is a mean (default) or a sum over the pair set. The separation pairs carry weights w_ij:
1 (``uniform``), (sigma_x / dx_ij)^2 (``octave``: each octave of distance weighs about the same
in a 2-D cloud) or sigma_x / dx_ij (``inverse``: halfway between the two on a log scale); R^w is
then sum(w k) or the weighted mean sum(w k) / sum(w) of the kernel k.
``exact`` evaluates every pair, a tile of rows at a time, with closed-form gradients formed in the
same pass (memory O(M N + chunk M), no recomputation). ``sampled`` is an unbiased estimate from
random pairs. The pairs within sigma_x are found by binning positions into sigma_x cells, never by
an M x M distance pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import kernels
from .config import LossConfig

PAIR_KERNELS = ("auto", "torch", "fused")  # loss.pair_kernel


def fused_pairs(kernel: str, G: torch.Tensor) -> bool:
    """Whether ``kernel`` (``loss.pair_kernel``) takes the fused listed-pair kernels for states
    G: "fused" (an error without numba or off the CPU), "torch", or "auto": fused on the CPU
    where numba is installed."""
    if kernel not in PAIR_KERNELS:
        raise ValueError(f"pair kernel {kernel!r}: choose one of {list(PAIR_KERNELS)}")
    fusable = kernels.AVAILABLE and G.device.type == "cpu"
    if kernel == "fused" and not fusable:
        raise ValueError("pair kernel 'fused' needs numba installed and CPU tensors")
    return kernel == "fused" or (kernel == "auto" and fusable)


@dataclass
class PairSums:
    """Sums over the separation (weighted) and invariance pair sets, the sets' exact sizes and
    the separation set's total weight (n_sep when uniform; an estimate when sampled)."""

    sep: torch.Tensor  # scalar, differentiable: sum of w k
    inv: torch.Tensor  # scalar, differentiable
    n_sep: int
    n_inv: int
    w_sep: float  # sum of w over the separation set

    def reduce(self, reduction: str) -> tuple[torch.Tensor, torch.Tensor]:
        if reduction == "sum":
            return self.sep, self.inv
        sep = self.sep / self.w_sep if self.w_sep > 0 else self.sep  # an empty set: 0
        return sep, self.inv / max(self.n_inv, 1)


class _ListedPairSum(torch.autograd.Function):
    """sum_p w_p f(dg2_p) over listed pairs p = (i_p, j_p), dg2_p = |g_i - g_j|^2 from coordinate
    differences; f(d) = d (``scale`` None) or exp(scale d); w_p = 1 (``w`` None) or given. The
    gradient w f'(dg2) 2 (g_i - g_j) at i, and minus that at j, is accumulated during the forward
    pass (the output is a scalar), in blocks of pairs: memory O(M N + block N); or, ``fused``,
    by one pass of :func:`gridssl.kernels.pair_sum` (float64 accumulation, no temporaries)."""

    @staticmethod
    def forward(ctx, G, i, j, scale, block, w, fused):  # G (M, N), i and j (P,) long, w (P,)
        if fused:
            w64 = None if w is None else w.detach().numpy()
            args = (G.detach().numpy(), i.numpy(), j.numpy(), scale or 0.0, w64)
            total, grad = kernels.pair_sum(*args)
            ctx.save_for_backward(torch.from_numpy(grad).to(G.dtype))
            return G.new_tensor(total)
        total = G.new_zeros(())
        grad = torch.zeros_like(G) if ctx.needs_input_grad[0] else None
        for p0 in range(0, i.shape[0], block):
            ib, jb = i[p0 : p0 + block], j[p0 : p0 + block]
            wb = None if w is None else w[p0 : p0 + block]  # (P,)
            d = G.index_select(0, ib).sub_(G.index_select(0, jb))  # (P, N)
            dg2 = torch.linalg.vecdot(d, d)  # (P,)
            if scale is None:
                total += dg2.sum() if wb is None else torch.linalg.vecdot(dg2, wb)
                if grad is not None:
                    if wb is not None:
                        d.mul_(wb[:, None])
                    grad.index_add_(0, ib, d, alpha=2).index_add_(0, jb, d, alpha=-2)
                continue
            k = dg2.mul_(scale).exp_()  # (P,)
            if wb is not None:
                k.mul_(wb)
            total += k.sum()
            if grad is not None:
                d.mul_((2 * scale) * k[:, None])
                grad.index_add_(0, ib, d).index_add_(0, jb, d, alpha=-1)
        ctx.save_for_backward(grad)
        return total

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out * ctx.saved_tensors[0], None, None, None, None, None, None


def listed_pair_sum(
    G,
    pairs: torch.Tensor,
    scale: float | None = None,
    block: int = 16384,
    weights=None,
    kernel: str = "torch",
):
    """sum over pairs (P, 2) of dg2 (``scale`` None) or of exp(scale dg2), each times its weight
    in ``weights`` (P,) if given (constants); differentiable in G. ``kernel``: see
    :func:`fused_pairs`."""
    fused = fused_pairs(kernel, G)
    i, j = (pairs[:, 0].contiguous(), pairs[:, 1].contiguous()) if fused else pairs.unbind(1)
    return _ListedPairSum.apply(G, i, j, scale, block, weights, fused)


SEP_WEIGHTINGS = ("uniform", "octave", "inverse")  # loss.sep_weighting


def check_weighting(weighting: str) -> None:
    """Refuse a separation weighting other than those of ``loss.sep_weighting``."""
    if weighting not in SEP_WEIGHTINGS:
        raise ValueError(
            f"separation weighting {weighting!r}: choose one of {list(SEP_WEIGHTINGS)}"
        )


def sep_weights_(dx2: torch.Tensor, sigma_x: float, weighting: str) -> torch.Tensor:
    """The separation pair weights of a ``weighting`` other than uniform, in place: dx2 ->
    ``octave``: sigma_x^2 / max(dx2, sigma_x^2), so that each octave of spatial distance weighs
    about the same in a 2-D cloud of positions (its pair count grows as dx^2); ``inverse``:
    sigma_x / max(dx, sigma_x), so that an octave's weight grows as dx instead of dx^2 (milder)."""
    dx2.clamp_(min=sigma_x**2)
    if weighting == "octave":
        return dx2.reciprocal_().mul_(sigma_x**2)
    if weighting == "inverse":
        return dx2.rsqrt_().mul_(sigma_x)
    check_weighting(weighting)
    raise ValueError(f"separation weighting {weighting!r} has no weights (uniform: w = 1)")


def _upper_sum(A: torch.Tensor, rows: int, whole: bool, dtype=None) -> torch.Tensor:
    """The sum over a tile's pairs: all of a masked tile, or a whole tile's diagonal block
    (rows x rows, each pair twice) at half weight."""
    if not whole:
        return A.sum(dtype=dtype)
    return A[:, rows:].sum(dtype=dtype) + A[:, :rows].sum(dtype=dtype) / 2


class _DenseKernelSum(torch.autograd.Function):
    """sum_{i<j, (i, j) not skipped} w_ij exp(scale dg2_ij) over the states G (M, N), in row tiles;
    w_ij = 1 (``X`` None) or the ``weighting``'s w(dx_ij) for positions X (M, 2) (sep_weights_).

    Tiles r0:r1 against columns r0:M cover the upper triangle; each tile's diagonal block r0:r1 x
    r0:r1 is masked to its upper half, or (``whole``) kept whole with its diagonal zeroed, so that
    it holds each of its pairs twice and the columns' GEMM below can skip it. dg2_ij = |g_i|^2 +
    |g_j|^2 - 2 g_i.g_j comes out of one GEMM of augmented rows, and with X so does dx2_ij; the
    skipped pairs (few, sorted by row) are zeroed in place (in a whole block at (i, j) and
    (j, i)). The weights do not depend on G, so the gradient is
    2 (diag(C 1) - C) G with C = scale (w K) symmetrised, formed during the forward pass: per tile
    one GEMM for the rows and one for the columns, each with a column of ones that yields the row
    sums C 1. Memory O(M N + tile M); the buffers are reused by every tile. Returns the sum and,
    with X, the sum of w over the same pairs (a float; None without X).
    """

    @staticmethod
    def forward(ctx, G, skip, scale, tile, X, sigma_x, whole, weighting):  # G (M, N), skip (S, 2)
        M, N = G.shape
        tile = max(1, min(tile, M))
        skip = skip[torch.argsort(skip[:, 0], stable=True)]
        bounds = torch.searchsorted(
            skip[:, 0].contiguous(), torch.arange(0, M + tile, tile, device=skip.device)
        )
        bounds = bounds.tolist()
        sq = (G * G).sum(1, keepdim=True)  # (M, 1)
        ones = torch.ones_like(sq)
        left = torch.cat([G, sq, ones], dim=1)  # (M, N + 2); left_i . right_j = scale dg2_ij
        right = torch.cat([G * (-2 * scale), ones * scale, sq * scale], dim=1)
        upper = torch.ones(tile, tile, dtype=torch.bool, device=G.device).triu_(1)  # j > i
        buf = G.new_empty(tile * M)
        need = ctx.needs_input_grad[0]
        G1 = torch.cat([G, ones], dim=1)  # (M, N + 1)
        acc = torch.zeros_like(G1) if need else None  # [sum_j K_ij g_j, sum_j K_ij]
        total = G.new_zeros(())
        if X is not None:
            X = (X - X.mean(0)).to(G.dtype)  # centred: less cancellation in dx2
            xsq = (X * X).sum(1, keepdim=True)  # (M, 1)
            xleft = torch.cat([X, xsq, ones], dim=1)  # (M, 4); xleft_i . xright_j = dx2_ij
            xright = torch.cat([X * -2, ones, xsq], dim=1)
            wbuf = G.new_empty(tile * M)
            wsum = torch.zeros((), dtype=torch.float64, device=G.device)
        for t, r0 in enumerate(range(0, M, tile)):
            r1, cols = min(M, r0 + tile), M - r0
            rows = r1 - r0
            K = buf[: rows * cols].view(rows, cols)
            torch.mm(left[r0:r1], right[r0:].T, out=K)
            K.clamp_(max=0).exp_()  # dg2 >= 0
            sk = skip[bounds[t] : bounds[t + 1]] - r0  # this tile's skipped pairs, local, i < j
            drop = sk[:, 0] * cols + sk[:, 1]
            if whole:  # the diagonal block holds its pairs twice: drop (j, i) too
                inside = (sk[:, 1] < rows).nonzero().squeeze(1)
                drop = torch.cat([drop, (sk[:, 1] * cols + sk[:, 0])[inside]])
            tiles = (K,)
            if X is not None:
                W = wbuf[: rows * cols].view(rows, cols)
                torch.mm(xleft[r0:r1], xright[r0:].T, out=W)  # dx2
                sep_weights_(W, sigma_x, weighting)  # (also clamps dx2 >= 0)
                K.mul_(W)
                tiles = (K, W)
            for A in tiles:
                if whole:
                    A[:, :rows].diagonal().zero_()  # i = j: not a pair
                else:
                    A[:, :rows].mul_(upper[:rows, :rows])
                A.view(-1).index_fill_(0, drop, 0.0)
            if X is not None:
                wsum += _upper_sum(W, rows, whole, torch.float64)
            if need:  # rows: the whole tile; columns: beyond the diagonal block if it is whole
                acc[r0:r1].addmm_(K, G1[r0:])
                c0 = r1 if whole else r0
                acc[c0:].addmm_(K[:, c0 - r0 :].T, G1[r0:r1])
            else:
                total += _upper_sum(K, rows, whole)
        grad = None
        if need:
            total = acc[:, N].sum() / 2  # every pair counted from both ends
            grad = (G * acc[:, N:]).sub_(acc[:, :N]).mul_(2 * scale)
        ctx.save_for_backward(grad)
        return total, (None if X is None else float(wsum))

    @staticmethod
    def backward(ctx, grad_out, _):
        return grad_out * ctx.saved_tensors[0], None, None, None, None, None, None, None


PAIR_TILES = ("masked", "whole")  # loss.pair_tiles


def pair_sums_exact(
    G,
    X,
    sigma_x: float,
    sigma_g: float,
    chunk: int = 512,
    weighting: str = "uniform",
    kernel: str = "torch",
    tiles: str = "masked",
) -> PairSums:
    """Exact pair sums over all i < j of G (M, N) states at X (M, 2) positions.

    Separation: the kernel (times the ``weighting``'s w) over all pairs in row tiles of ``chunk``
    rows, less the pairs within sigma_x; invariance: over the pairs within sigma_x, listed by
    ``near_pairs``. Closed-form gradients, no recomputation; memory O(M N + chunk M). ``kernel``
    (``loss.pair_kernel``) computes the pair list and the invariance sum; see :func:`fused_pairs`.
    ``tiles`` (``loss.pair_tiles``): "masked" (each tile's diagonal block masked to its upper
    half) or "whole" (kept whole: one GEMM less per tile; the same sums, rounded differently).
    """
    if tiles not in PAIR_TILES:
        raise ValueError(f"pair tiles {tiles!r}: choose one of {list(PAIR_TILES)}")
    M = G.shape[0]
    near, edge = near_pairs(X, sigma_x, kernel)
    scale = -1.0 / (2 * sigma_g**2)
    check_weighting(weighting)
    Xw = None if weighting == "uniform" else X
    skip = torch.cat([near, edge])
    sep, w_sep = _DenseKernelSum.apply(
        G, skip, scale, chunk, Xw, sigma_x, tiles == "whole", weighting
    )
    inv = listed_pair_sum(G, near, kernel=kernel)
    n_inv = near.shape[0]
    n_sep = M * (M - 1) // 2 - n_inv - edge.shape[0]
    return PairSums(sep, inv, n_sep, n_inv, float(n_sep) if w_sep is None else w_sep)


@torch.no_grad()
def near_pairs(
    X: torch.Tensor, sigma_x: float, kernel: str = "torch"
) -> tuple[torch.Tensor, torch.Tensor]:
    """All unordered pairs i < j with |x_i - x_j| < sigma_x, as (P, 2) indices in lexicographic
    order; and those at exactly sigma_x (in neither pair set), (E, 2).

    Points are binned into square cells of side sigma_x; a pair closer than sigma_x lies in the
    same or adjacent cells, so only those candidates are measured: O(M + candidates), not O(M^2).
    The fused kernel (``kernel``, see :func:`fused_pairs`) finds the same pairs in one pass
    (tests/test_losses.py); its edge pairs are sorted too.
    """
    M = X.shape[0]
    dev = X.device
    if M < 2:
        empty = torch.empty(0, 2, dtype=torch.long, device=dev)
        return empty, empty
    if fused_pairs(kernel, X):
        near, edge = kernels.near_pairs(X.numpy(), sigma_x)
        return torch.from_numpy(near), torch.from_numpy(edge)
    cell = torch.floor(X / sigma_x).long()  # (M, 2)
    cell -= cell.min(0).values
    height = int(cell[:, 1].max()) + 3
    key = (cell[:, 0] + 1) * height + (cell[:, 1] + 1)  # (M,), neighbours are key +- 1, +- height
    skey, order = key.sort(stable=True)
    found, edge = [], []
    ar = torch.arange(M, device=dev)
    # this cell (pairs within it once), and four of the eight neighbours (each cell pair once);
    # index_select / nonzero, not advanced indexing: the latter is several times slower on CPU
    for dx, dy in ((0, 0), (1, -1), (1, 0), (1, 1), (0, 1)):
        target = key + dx * height + dy  # (M,)
        lo = torch.searchsorted(skey, target)
        count = torch.searchsorted(skey, target, right=True) - lo
        p = torch.repeat_interleave(ar, count)
        start = torch.repeat_interleave(lo - (count.cumsum(0) - count), count)
        q = order.index_select(0, start + torch.arange(p.shape[0], device=dev))
        if dx == 0 and dy == 0:
            keep = (p < q).nonzero().squeeze(1)
            p, q = p.index_select(0, keep), q.index_select(0, keep)
        diff = X.index_select(0, p) - X.index_select(0, q)
        d2 = (diff * diff).sum(-1)
        pair_key = torch.minimum(p, q) * M + torch.maximum(p, q)  # (C,): i * M + j with i < j
        found.append(pair_key.index_select(0, (d2 < sigma_x**2).nonzero().squeeze(1)))
        edge.append(pair_key.index_select(0, (d2 == sigma_x**2).nonzero().squeeze(1)))
    keys = torch.cat(found).sort().values  # lexicographic (i, j) order
    edges = torch.cat(edge)
    return torch.stack([keys // M, keys % M], 1), torch.stack([edges // M, edges % M], 1)


def pair_sums_sampled(
    G,
    X,
    sigma_x: float,
    sigma_g: float,
    n_samples: int,
    generator=None,
    weighting: str = "uniform",
    kernel: str = "torch",
) -> PairSums:
    """Unbiased pair-subsampled estimates of the two pair sums (exact set sizes).

    Separation: ``n_samples`` pairs drawn uniformly from all M(M-1)/2 pairs; the sum over the
    separation set is estimated by n_pairs * mean(w kernel * [dx > sigma_x]) and, if weighted,
    its total weight by n_pairs * mean(w [dx > sigma_x]) (their ratio estimates the weighted mean;
    ``uniform``: w = 1 and the exact n_sep). Invariance: its pairs are few and are enumerated
    exactly (no grad); if there are more than ``n_samples`` of them, ``n_samples`` are drawn
    uniformly with replacement and the sum is n_inv * their mean. ``kernel``: as in
    :func:`pair_sums_exact` (the draws do not depend on it).
    """
    check_weighting(weighting)
    M = G.shape[0]
    n_pairs = M * (M - 1) // 2
    near, edge = near_pairs(X, sigma_x, kernel)
    n_inv = near.shape[0]
    dev = G.device
    i = torch.randint(0, M, (n_samples,), generator=generator).to(dev)
    j = (i + 1 + torch.randint(0, M - 1, (n_samples,), generator=generator).to(dev)) % M
    dx2 = ((X[i] - X[j]) ** 2).sum(-1)  # (n_samples,)
    far = dx2 > sigma_x**2
    drawn = torch.stack([i[far], j[far]], dim=1)  # the draws in the separation set
    w = None
    if weighting != "uniform":
        w = sep_weights_(dx2[far], sigma_x, weighting).to(G.dtype)  # dx2[far]: a copy
    scale = -1.0 / (2 * sigma_g**2)
    sep = listed_pair_sum(G, drawn, scale, weights=w, kernel=kernel) * (n_pairs / n_samples)
    if n_inv > n_samples:
        pick = torch.randint(0, n_inv, (n_samples,), generator=generator).to(dev)
        near = near[pick]
    inv = listed_pair_sum(G, near, kernel=kernel) * (n_inv / max(near.shape[0], 1))
    n_sep = n_pairs - n_inv - edge.shape[0]
    w_sep = float(n_sep) if w is None else float(w.sum()) * (n_pairs / n_samples)
    return PairSums(sep, inv, n_sep, n_inv, w_sep)


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
    iso_max_step: float | None = None,
    pair_stride: int = 1,
) -> LossTerms:
    """The weighted SIC objective for states (B, T, N) at positions (B, T, 2) after velocities.

    ``iso_max_step`` overrides ``cfg.iso_max_step`` (training passes ``cfg.iso_range(step)``).
    ``pair_stride`` k: the pair losses see states t = T-1, T-1-k, ... of each trajectory only
    (training passes ``data.pair_stride_at(step)``); capacity and isometry see every state.
    """
    N = states.shape[-1]
    T = states.shape[1]
    keep = slice((T - 1) % pair_stride, None, pair_stride)  # the last state always
    if pair_stride > 1:
        states_p, positions_p = states[:, keep], positions[:, keep]
    else:
        states_p, positions_p = states, positions
    G = states_p.reshape(-1, N)  # (M, N), M = B * ceil(T / k)
    X = positions_p.reshape(-1, 2)  # (M, 2)
    if cfg.pairs == "exact":
        sums = pair_sums_exact(
            G,
            X,
            cfg.sigma_x,
            cfg.sigma_g,
            cfg.chunk_size,
            cfg.sep_weighting,
            cfg.pair_kernel,
            cfg.pair_tiles,
        )
    else:
        sums = pair_sums_sampled(
            G,
            X,
            cfg.sigma_x,
            cfg.sigma_g,
            cfg.pair_samples,
            generator,
            cfg.sep_weighting,
            cfg.pair_kernel,
        )
    sep, inv = sums.reduce(cfg.reduction)
    cap = capacity_loss(G if pair_stride == 1 else states.reshape(-1, N))  # every state
    max_step = cfg.iso_max_step if iso_max_step is None else iso_max_step
    iso = isometry_loss(states, velocities, g0, max_step, cfg.iso_form)
    total = cfg.w_sep * sep + cfg.w_inv * inv + cfg.w_cap * cap + cfg.w_iso * iso
    return LossTerms(total, sep, inv, cap, iso)


@torch.no_grad()
def code_health(
    states: torch.Tensor,
    positions: torch.Tensor | None = None,
    far_m: float = 0.3,
    max_states: int = 256,
) -> dict[str, float]:
    """Diagnostics of a batch of states (B, T, N) from one permutation batch.

    end_spread: mean distance of the B end states to their mean (all trajectories end at the same
    place, so this is a direct path-invariance error); dead_units: units silent on the whole batch;
    state_spread: RMS distance of all states to their mean (near 0 means the code collapsed).
    With positions (B, T, 2): far_dist and far_cos, the mean neural distance |g_i - g_j| and mean
    cosine g_i . g_j over pairs more than ``far_m`` metres apart (absent when there are none), on at
    most ``max_states`` states taken at an even stride (no random draw): where the separation
    kernel saturates (the paper's d(g(0), g(x)) plateaus near 0.8 beyond about 0.3 m).
    """
    end = states[:, -1]
    G = states.reshape(-1, states.shape[-1])  # (M, N)
    out = {
        "end_spread": float((end - end.mean(0)).norm(dim=-1).mean()),
        "dead_units": int((G.amax(0) <= 1e-6).sum()),
        "state_spread": float((G - G.mean(0)).pow(2).sum(-1).mean().sqrt()),
    }
    if positions is not None:
        stride = max(1, G.shape[0] // max_states)
        g, x = G[::stride], positions.reshape(-1, 2)[::stride]  # (S, N), (S, 2)
        upper = torch.ones(len(g), len(g), dtype=torch.bool, device=g.device).triu(1)
        far = upper & (torch.cdist(x, x) > far_m)
        if bool(far.any()):
            out["far_dist"] = float(torch.cdist(g, g)[far].mean())
            out["far_cos"] = float((g @ g.T)[far].mean())
    return out
