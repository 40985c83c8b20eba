"""How fast a population code decorrelates with distance: d(g(x), g(x + r)) against r.

The paper's Figure 5a (docs/MODULES.md) shows the neural distance between two places rising to
its plateau within about sigma_x of their separation. One module of period ``lambda`` cannot do
that: its distance rises over about ``lambda / 2`` and falls again at ``lambda`` (aliasing). The
decorrelation length is therefore a direct measure of whether a code has the fine resolution that
several modules give.

Inputs: rate maps ``(U, ny, nx)`` (``[y, x]`` images, NaN = unvisited, square bins of ``bin_size``
metres). The population vector of each bin is scaled to unit length, as the network's states are
(Norm-ReLU); a bin where any unit is unvisited, or the vector is zero, is left out. For every
displacement ``delta`` the mean cosine between the vectors of all pairs of bins ``delta`` apart is
a sum of autocorrelations, computed by FFT, so the curve is

    distance(r) = sqrt(2 - 2 * mean cosine over pairs with |delta| in the bin of r)

the root-mean-square distance between unit vectors (0: the same state, sqrt(2): orthogonal),
with separations in bins of ``bin_size`` up to ``max_r`` (each point at its pairs' mean
separation), each bin weighted by its pairs. The
**plateau** is the pair-weighted RMS distance over separations from ``max_r / 2`` to ``max_r``;
the **decorrelation length** is the first separation (linearly interpolated) where the curve
reaches ``level`` x plateau.

Averaged over directions, a code that repeats (one module) only dips where a few directions hit
its lattice, so the curve alone under-states aliasing. The **recurrence** is therefore read off
the displacement-resolved distance ``d(delta)`` (before the average over directions): its smallest
value over displacements from twice the decorrelation length to ``max_r``, over the plateau, and
``recurrence_r`` where that happens. One module: close to 0 at a lattice vector (the code repeats
exactly); a place code or several incommensurate modules: close to 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sfft

from .ratemaps import as_numpy

__all__ = ["Decorrelation", "decorrelation"]


@dataclass
class Decorrelation:
    """The decorrelation curve of one population.

    Attributes
    ----------
    r : (R,) metres, the mean separation of the pairs in each separation bin (bins of
        ``bin_size``; the first is 0: a bin with itself).
    distance : (R,) RMS distance between unit population vectors at that separation.
    pairs : (R,) number of bin pairs behind each point.
    plateau : RMS distance over separations in [max_r / 2, max_r].
    length : metres, the decorrelation length (NaN if the curve never reaches the level).
    recurrence : smallest displacement-resolved distance beyond twice the length, over the
        plateau (NaN if no displacement is that far).
    recurrence_r : metres, the length of that displacement.
    params : the settings used.
    """

    r: np.ndarray
    distance: np.ndarray
    pairs: np.ndarray
    plateau: float
    length: float
    recurrence: float
    recurrence_r: float
    params: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "length_m": _round(self.length),
            "plateau": _round(self.plateau),
            "recurrence": _round(self.recurrence),
            "recurrence_r_m": _round(self.recurrence_r),
            "r_m": [_round(v) for v in self.r],
            "distance": [_round(v) for v in self.distance],
            "params": self.params,
        }


def _round(v: float) -> float | None:
    return round(float(v), 4) if np.isfinite(v) else None


def _autocorrelation_sum(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """sum over the leading axis of the full linear autocorrelation of each 2-D slice of ``a``."""
    F = sfft.rfft2(a, s=shape, workers=1)
    return sfft.irfft2((np.abs(F) ** 2).sum(axis=0), s=shape, workers=1)


def decorrelation(maps, bin_size: float, *, max_r: float, level: float) -> Decorrelation:
    """The decorrelation curve of ``maps`` (U, ny, nx) up to ``max_r`` metres (see the module
    docstring; ``max_r`` and ``level`` are ``analysis.decorrelation_max_r`` / ``_level``)."""
    m = as_numpy(maps).astype(np.float64)
    if m.ndim != 3:
        raise ValueError(f"maps must be (U, ny, nx), got shape {m.shape}")
    _, ny, nx = m.shape
    norm = np.sqrt(np.nansum(m**2, axis=0))  # (ny, nx)
    valid = np.isfinite(m).all(axis=0) & (norm > 0)
    unit = np.where(valid, np.nan_to_num(m) / np.where(valid, norm, 1.0), 0.0)  # (U, ny, nx)
    shape = (2 * ny, 2 * nx)  # no wrap-around for any displacement inside the map
    cos_sum = _autocorrelation_sum(unit, shape)  # sum over pairs (x, x + delta) of g . g'
    pairs = _autocorrelation_sum(valid[None].astype(np.float64), shape)
    dy = np.fft.fftfreq(shape[0], 1.0 / shape[0])  # displacement in bins, wrapped order
    dx = np.fft.fftfreq(shape[1], 1.0 / shape[1])
    sep = np.hypot(*np.meshgrid(dy, dx, indexing="ij")) * bin_size  # (2ny, 2nx) metres
    ring = np.rint(sep / bin_size).astype(int)  # separation bin: 0, 1, 2, ... x bin_size
    n_r = int(np.floor(max_r / bin_size)) + 1
    keep = (ring < n_r) & (pairs > 0.5)
    cnt = np.bincount(ring[keep], weights=pairs[keep], minlength=n_r)
    cos = np.bincount(ring[keep], weights=cos_sum[keep], minlength=n_r)
    r_sum = np.bincount(ring[keep], weights=(pairs * sep)[keep], minlength=n_r)
    with np.errstate(invalid="ignore", divide="ignore"):
        d2 = np.clip(2.0 - 2.0 * cos / cnt, 0.0, None)
        r = np.where(cnt > 0, r_sum / cnt, np.arange(n_r) * bin_size)  # mean separation
    outer = (r >= max_r / 2) & (cnt > 0)
    plateau = np.sqrt((d2[outer] * cnt[outer]).sum() / cnt[outer].sum()) if outer.any() else np.nan
    distance = np.sqrt(d2)
    length = _first_crossing(r, distance, level * plateau)
    with np.errstate(invalid="ignore", divide="ignore"):
        d2_disp = 2.0 - 2.0 * cos_sum / pairs  # (2ny, 2nx) per displacement
    far = (sep >= 2 * length) & (sep <= max_r) & (pairs > 0.5)
    if far.any() and np.isfinite(plateau) and plateau > 0:
        i = np.flatnonzero(far.ravel())[np.argmin(d2_disp[far])]
        recurrence = float(np.sqrt(max(d2_disp.ravel()[i], 0.0)) / plateau)
        recurrence_r = float(sep.ravel()[i])
    else:
        recurrence = recurrence_r = float("nan")
    return Decorrelation(
        r=r,
        distance=distance,
        pairs=cnt,
        plateau=float(plateau),
        length=length,
        recurrence=recurrence,
        recurrence_r=recurrence_r,
        params=dict(bin_size=bin_size, max_r=max_r, level=level, valid_bins=int(valid.sum())),
    )


def _first_crossing(r: np.ndarray, y: np.ndarray, target: float) -> float:
    """The first r where y reaches target, linearly interpolated (NaN if never)."""
    if not np.isfinite(target):
        return float("nan")
    above = np.flatnonzero(np.nan_to_num(y, nan=-np.inf) >= target)
    if not len(above):
        return float("nan")
    i = above[0]
    if i == 0:
        return float(r[0])
    y0, y1 = y[i - 1], y[i]
    return float(r[i - 1] + (target - y0) / (y1 - y0) * (r[i] - r[i - 1]))
