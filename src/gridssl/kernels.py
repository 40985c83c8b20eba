"""Fused CPU kernels of the training step (numba): the rollout, and the listed pair sums.

**The rollout.** The training recurrence g_t = Norm(ReLU(W[index[b, t]] g_{t-1})) picks, per
trajectory b and step t, one of K matrices W (K, N, N). PyTorch has no CPU kernel that multiplies
by a batch of matrices picked by an index without first copying them (``index_select``: a
(B, N, N) copy per step, read again by ``bmm``), and every step is several small tensor
operations. These kernels run the whole recurrence, forward and backward, in one call each: per
trajectory, per step, one pass over the matrix it uses (W is K x N x N floats, a few MB: it stays
in cache), with the ReLU, the norm and its backward fused in, accumulating in float64.

    forward(W, g0, index, eps) -> states (B, T, N), lengths (B, T)
    backward(W, index, eps, states, lengths, d_states) -> d_pre (B, T, N), d_g0 per row (B, N)

``d_pre`` is dL/dz_t for z_t = W[index[b, t]] g_{t-1}; the weight gradient is then one batched
GEMM over the uses of each matrix (``gridssl.model._outer_sums``). Used by
:func:`gridssl.model.rollout_states` with ``kernel="fused"`` (``model.rollout_kernel``).

**The listed pair sums** (``loss.pair_kernel``). The invariance pairs (states within sigma_x of
each other: tens of thousands per batch, since every trajectory starts at the origin and the
permutations of one velocity set end at one place) and the sampled separation pairs are sums over
a list of pairs. In torch each is two row gathers, a subtraction, a row reduction and two
scatter-adds of (P, N) temporaries; here it is one pass over the list, the states and the
gradient staying in cache, with float64 accumulation.

    near_pairs(X, sigma_x) -> pairs (P, 2), edge pairs (E, 2)     (no floating-point reductions:
                                                                   the same lists as the torch code)
    pair_sum(G, i, j, scale, w) -> sum_p w_p f(dg2_p), its gradient (M, N)

All kernels are single-threaded: no thread pool of their own (a numba OpenMP pool would also
change torch's thread count), and the result does not depend on ``train.threads``. numba is
optional: :data:`AVAILABLE` says whether it is installed. It is imported, and the kernels compiled
(or loaded from numba's cache), on first use only: a run that never takes a fused path pays
nothing for it (numba's import alone adds about 120 MB of memory).
"""

from __future__ import annotations

import functools
import importlib.util

import numpy as np

AVAILABLE = importlib.util.find_spec("numba") is not None


# reassociation and fused multiply-add let the loops vectorise; no "no NaN / no inf" assumptions,
# so a diverging state still reaches the loss as NaN (and train.Diverged)
FASTMATH = {"reassoc", "contract"}


@functools.cache
def _compiled():
    """(rollout forward, rollout backward, near pairs, pair sum) compiled by numba on first use;
    the near-pair search without fast-math, so that its comparisons round as torch's do."""
    import numba

    def jit(fn, fastmath=FASTMATH):
        return numba.njit(cache=True, fastmath=fastmath, boundscheck=False)(fn)

    return jit(_forward), jit(_backward), jit(_near_pairs, False), jit(_pair_sum)


def _forward(W, g0, index, eps, states, lengths):  # pragma: no cover - compiled by numba
    B, T = index.shape
    N = g0.shape[0]
    r = np.empty(N, np.float64)
    g = np.empty(N, np.float64)
    for b in range(B):
        for t in range(T):
            for j in range(N):
                g[j] = g0[j] if t == 0 else states[b, t - 1, j]
            k = index[b, t]
            s = 0.0
            for i in range(N):  # r_i = W_k[i, :] . g: contiguous rows, a vectorised reduction
                acc = 0.0
                for j in range(N):
                    acc += W[k, i, j] * g[j]
                r[i] = acc if acc > 0.0 or acc != acc else 0.0  # ReLU (NaN passes through)
                s += r[i] * r[i]
            n = np.sqrt(s)
            lengths[b, t] = n
            d = max(n, eps)
            for j in range(N):
                states[b, t, j] = r[j] / d


def _backward(W, index, eps, states, lengths, d_states, d_pre, d_g0):  # pragma: no cover
    B, T, N = states.shape
    for b in range(B):
        carry = np.zeros(N, np.float64)  # dL/dg_t through later steps
        for t in range(T - 1, -1, -1):
            n = lengths[b, t]
            along = 0.0  # the norm's radial part
            if n > eps:
                for j in range(N):
                    along += states[b, t, j] * (d_states[b, t, j] + carry[j])
            d = max(n, eps)
            for j in range(N):
                g = states[b, t, j]
                d_pre[b, t, j] = (d_states[b, t, j] + carry[j] - g * along) / d if g > 0 else 0.0
            k = index[b, t]
            carry[:] = 0.0
            for i in range(N):  # carry = W_k^T dz = sum_i dz_i W_k[i, :]
                di = d_pre[b, t, i]
                if di != 0.0:
                    for j in range(N):
                        carry[j] += W[k, i, j] * di
        for j in range(N):
            d_g0[b, j] = carry[j]


def forward(W: np.ndarray, g0: np.ndarray, index: np.ndarray, eps: float):
    """W (K, N, N), g0 (N,), index (B, T) int64 -> states (B, T, N), lengths (B, T)."""
    B, T = index.shape
    states = np.empty((B, T, W.shape[1]), W.dtype)
    lengths = np.empty((B, T), W.dtype)
    _compiled()[0](W, g0, index, eps, states, lengths)
    return states, lengths


def backward(W, index, eps, states, lengths, d_states):
    """-> d_pre (B, T, N) = dL/dz_t, and per trajectory dL/dg0 (B, N)."""
    d_pre = np.empty_like(states)
    d_g0 = np.empty((states.shape[0], states.shape[2]), states.dtype)
    _compiled()[1](W, index, eps, states, lengths, d_states, d_pre, d_g0)
    return d_pre, d_g0


def _near_pairs(X, cell, r2, order, skey, height, out, edge, count_only):  # pragma: no cover
    """Pairs i < j with |x_i - x_j|^2 < r2 (into ``out``) and == r2 (into ``edge``) among the
    same and the 8 neighbouring cells (``cell`` (M, 2), keys (cx + 1) height + cy + 1 sorted in
    ``skey`` by ``order``), per i in increasing j: lexicographic order. -> (P, E); with
    ``count_only`` nothing is written."""
    M = X.shape[0]
    js = np.empty(M, np.int64)
    es = np.empty(M, np.int64)
    n_out = 0
    n_edge = 0
    for i in range(M):
        n_j = 0
        n_e = 0
        for dx in range(-1, 2):
            for dy in range(-1, 2):
                key = (cell[i, 0] + 1 + dx) * height + cell[i, 1] + 1 + dy
                lo = np.searchsorted(skey, key)
                hi = np.searchsorted(skey, key, side="right")
                for s in range(lo, hi):
                    j = order[s]
                    if j <= i:
                        continue
                    ex = X[i, 0] - X[j, 0]
                    ey = X[i, 1] - X[j, 1]
                    d2 = ex * ex + ey * ey  # in X's dtype, rounded as torch's
                    if d2 < r2:
                        js[n_j] = j
                        n_j += 1
                    elif d2 == r2:
                        es[n_e] = j
                        n_e += 1
        if not count_only:
            js[:n_j].sort()
            es[:n_e].sort()
            for a in range(n_j):
                out[n_out + a, 0] = i
                out[n_out + a, 1] = js[a]
            for a in range(n_e):
                edge[n_edge + a, 0] = i
                edge[n_edge + a, 1] = es[a]
        n_out += n_j
        n_edge += n_e
    return n_out, n_edge


def _pair_sum(G, pi, pj, scale, w, grad):  # pragma: no cover - compiled by numba
    """sum_p w_p f(dg2_p) with f(d) = d (scale 0) or exp(scale d), w_p = 1 if w is empty; adds
    the gradient w f'(dg2) 2 (g_i - g_j) into grad[i] and its negative into grad[j]."""
    N = G.shape[1]
    d = np.empty(N, np.float64)
    total = 0.0
    for p in range(pi.shape[0]):
        i = pi[p]
        j = pj[p]
        s = 0.0
        for n in range(N):
            d[n] = np.float64(G[i, n]) - np.float64(G[j, n])
            s += d[n] * d[n]
        wp = w[p] if w.shape[0] > 0 else 1.0
        if scale == 0.0:
            total += wp * s
            c = 2.0 * wp
        else:
            k = wp * np.exp(scale * s)
            total += k
            c = 2.0 * scale * k
        for n in range(N):
            grad[i, n] += c * d[n]
            grad[j, n] -= c * d[n]
    return total


def near_pairs(X: np.ndarray, sigma_x: float):
    """X (M, 2) positions -> (pairs (P, 2), edge pairs (E, 2)) int64, lexicographic: the pairs
    i < j closer than sigma_x and those at exactly sigma_x, the lists that
    ``gridssl.losses.near_pairs`` finds (cells of side sigma_x, arithmetic in X's dtype)."""
    X = np.ascontiguousarray(X)
    real = X.dtype.type
    cell = np.floor(X / real(sigma_x)).astype(np.int64)  # (M, 2)
    cell -= cell.min(0)
    height = int(cell[:, 1].max()) + 3
    key = (cell[:, 0] + 1) * height + (cell[:, 1] + 1)  # (M,)
    order = np.argsort(key, kind="stable")
    skey = key[order]
    args = (X, cell, real(sigma_x**2), order, skey, height)
    kernel = _compiled()[2]
    n, e = kernel(*args, np.empty((0, 2), np.int64), np.empty((0, 2), np.int64), True)
    out, edge = np.empty((n, 2), np.int64), np.empty((e, 2), np.int64)
    kernel(*args, out, edge, False)
    return out, edge


def pair_sum(G: np.ndarray, pi: np.ndarray, pj: np.ndarray, scale: float, w: np.ndarray | None):
    """G (M, N), pair indices (P,) int64 -> (sum, gradient (M, N) float64); ``scale`` 0 sums
    dg2, otherwise exp(scale dg2); ``w`` (P,) weights or None."""
    grad = np.zeros(G.shape, np.float64)
    w = np.empty(0, np.float64) if w is None else np.ascontiguousarray(w, np.float64)
    total = _compiled()[3](G, pi, pj, float(scale), w, grad)
    return total, grad
