"""Fused CPU kernels of the training rollout (numba), for small batches of large matrices.

The training recurrence g_t = Norm(ReLU(W[index[b, t]] g_{t-1})) picks, per trajectory b and step
t, one of K matrices W (K, N, N). PyTorch has no CPU kernel that multiplies by a batch of
matrices picked by an index without first copying them (``index_select``: a (B, N, N) copy per
step, read again by ``bmm``), and every step is several small tensor operations. These kernels
run the whole recurrence, forward and backward, in one call each: per trajectory, per step, one
pass over the matrix it uses (W is K x N x N floats, a few MB: it stays in cache), with the
ReLU, the norm and its backward fused in, accumulating in float64. The kernels are
single-threaded: no thread pool of their own (a numba OpenMP pool would also change torch's
thread count), and the result does not depend on ``train.threads``.

    forward(W, g0, index, eps) -> states (B, T, N), lengths (B, T)
    backward(W, index, eps, states, lengths, d_states) -> d_pre (B, T, N), d_g0 per row (B, N)

``d_pre`` is dL/dz_t for z_t = W[index[b, t]] g_{t-1}; the weight gradient is then one batched
GEMM over the uses of each matrix (``gridssl.model._outer_sums``). Used by
:func:`gridssl.model.rollout_states` with ``kernel="fused"`` (``model.rollout_kernel``).
numba is optional: :data:`AVAILABLE` says whether it is installed. It is imported, and the kernels
compiled (or loaded from numba's cache), on the first fused rollout only: a run that never takes
the fused path pays nothing for it (numba's import alone adds about 120 MB of memory).
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
    """(forward, backward) compiled by numba on first use."""
    import numba

    def jit(fn):
        return numba.njit(cache=True, fastmath=FASTMATH, boundscheck=False)(fn)

    return jit(_forward), jit(_backward)


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
