"""Spatial autocorrelograms (SACs) with unvisited bins masked, all sums by FFT.

For a map ``m (ny, nx)`` with visited-bin indicator ``v`` the SAC at lag ``(dy, dx)`` is the
Pearson correlation of the pairs ``(m[p], m[p + lag])`` over the bins ``p`` such that both ``p``
and ``p + lag`` are visited. With ``x = m * v`` (NaN -> 0) the six sums it needs are lagged
cross-correlations, ``C(a, b)[lag] = sum_p a[p] b[p + lag]``:

* ``N   = C(v, v)``   (overlap count),
* ``S1  = C(x, v)``, ``S2 = C(v, x)``,
* ``S11 = C(x^2, v)``, ``S22 = C(v, x^2)``, ``S12 = C(x, x)``,

``r = (N S12 - S1 S2) / sqrt((N S11 - S1^2) (N S22 - S2^2))``. ``C(b, a)`` is ``C(a, b)`` with
both lag axes reversed, so each unit needs three forward and four inverse real FFTs, padded to at
least ``2n - 1`` so nothing wraps. Maps are standardised over their visited bins first (Pearson
is invariant to that) to keep the differences of sums well conditioned.

Output layout: ``sac[u, ny - 1 + dy, nx - 1 + dx]``; the centre ``(ny - 1, nx - 1)`` is lag 0
(value 1). A SAC is point-symmetric, ``sac[c + d] == sac[c - d]``.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from .ratemaps import as_numpy

__all__ = ["autocorrelogram", "sac_centre"]


def sac_centre(sac_shape: tuple[int, ...]) -> tuple[int, int]:
    """Index ``(row, col)`` of zero lag in a SAC of shape ``(..., 2ny - 1, 2nx - 1)``."""
    return (sac_shape[-2] - 1) // 2, (sac_shape[-1] - 1) // 2


def autocorrelogram(maps, min_overlap: int = 20) -> np.ndarray:
    """Spatial autocorrelograms of many maps.

    Parameters
    ----------
    maps : (U, ny, nx) or (ny, nx) array-like
        Rate maps, ``NaN`` (or inf) in unvisited bins.
    min_overlap : int
        Lags where fewer than this many visited bins overlap are ``NaN``.

    Returns
    -------
    (U, 2ny - 1, 2nx - 1) float64 (or ``(2ny - 1, 2nx - 1)`` for one map)
        Pearson correlation per lag, ``NaN`` where undefined (too little overlap, or zero
        variance on the overlap).
    """
    m = as_numpy(maps)
    single = m.ndim == 2
    if single:
        m = m[None]
    if m.ndim != 3:
        raise ValueError(f"maps must be (U, ny, nx), got {m.shape}")
    U, ny, nx = m.shape
    v = np.isfinite(m)
    vf = v.astype(np.float64)
    nvis = vf.sum(axis=(1, 2), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(v, m, 0.0).sum(axis=(1, 2), keepdims=True) / nvis
        x = np.where(v, m - mean, 0.0)
        sd = np.sqrt((x**2).sum(axis=(1, 2), keepdims=True) / nvis)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
    x = x / sd

    Ly, Lx = 2 * ny - 1, 2 * nx - 1
    fy, fx = sfft.next_fast_len(Ly, real=True), sfft.next_fast_len(Lx, real=True)
    shp = (fy, fx)
    Fv = sfft.rfft2(vf, s=shp)
    Fx = sfft.rfft2(x, s=shp)
    Fx2 = sfft.rfft2(x * x, s=shp)

    def corr(Fa, Fb):
        # C(a, b)[lag] = sum_p a[p] b[p + lag]: inverse FFT of conj(Fa) * Fb, then centre the lags.
        c = sfft.irfft2(np.conj(Fa) * Fb, s=shp)
        c = np.roll(c, (ny - 1, nx - 1), axis=(1, 2))
        return c[:, :Ly, :Lx]

    N = np.rint(corr(Fv, Fv))
    S1 = corr(Fx, Fv)
    S11 = corr(Fx2, Fv)
    S12 = corr(Fx, Fx)
    S2 = S1[:, ::-1, ::-1]
    S22 = S11[:, ::-1, ::-1]

    cov = N * S12 - S1 * S2
    va = N * S11 - S1 * S1
    vb = N * S22 - S2 * S2
    tiny = 1e-10 * N * N
    ok = (N >= max(int(min_overlap), 2)) & (va > tiny) & (vb > tiny)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(np.where(ok, va * vb, 1.0))
    r = np.where(ok, np.clip(r, -1.0, 1.0), np.nan)
    return r[0] if single else r
