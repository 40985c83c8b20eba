"""Long walks: does a spatial code hold along one walk of thousands of steps, without restarts?

Rate maps made from many short walks from the origin (the usual evaluation) say what the code is
where path integration is still accurate. A model of grid cells must also integrate slow movement
for minutes. The measure here: along each long walk, the population vector at time ``t``
against the reference rate maps (from the short walks) at the place the animal is at time ``t``.
While the network keeps track of position the two agree (correlation near 1); once it has lost
track, the state no longer matches the place and the correlation falls to about 0.

Each unit is first standardised by the mean and s.d. of its reference map over visited bins, so
that a unit that is always more active than another adds no correlation by itself: a state that
carries no information about place scores about 0, not the 0.7 that raw non-negative population
vectors share.

Inputs: positions ``(n, T, 2)`` in metres, states ``(n, T, U)``, reference maps ``(U, ny, nx)``
(``[y, x]``, NaN unvisited) on ``box`` with ``bin_size``-metre bins. Output: the mean correlation
in each of ``windows`` equal time windows, and per sample when wanted.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .ratemaps import as_numpy

__all__ = ["PVDecay", "pv_correlation", "pv_decay"]


def pv_correlation(positions, states, ref_maps, box, bin_size: float) -> np.ndarray:
    """Pearson correlation, across units, of each state with the reference maps' population
    vector at its position, both standardised per unit by the unit's reference map.

    positions (..., 2) m, states (..., U) -> (...,): NaN where the place is outside the box or
    unvisited in the reference, or either vector is constant."""
    pos, act = as_numpy(positions), as_numpy(states)
    ref = as_numpy(ref_maps)
    U, ny, nx = ref.shape
    xmin, _, ymin, _ = box
    ix = np.floor((pos[..., 0] - xmin) / bin_size).astype(np.int64)
    iy = np.floor((pos[..., 1] - ymin) / bin_size).astype(np.int64)
    inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    flat = np.where(inside, iy * nx + ix, 0)
    with np.errstate(invalid="ignore"), _quiet():
        mu = np.nanmean(ref.reshape(U, -1), axis=1)  # (U,) each unit's mean over visited bins
        sd = np.nanstd(ref.reshape(U, -1), axis=1)
    sd = np.where(sd > 0, sd, np.nan)  # a unit with a flat map carries no place information
    pv = (ref.reshape(U, -1).T[flat] - mu) / sd  # (..., U)
    z = (act - mu) / sd
    keep = np.isfinite(sd)
    a = z[..., keep] - z[..., keep].mean(-1, keepdims=True)
    b = pv[..., keep] - pv[..., keep].mean(-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(-1) / den
    r[~inside | ~np.isfinite(r)] = np.nan
    return r


@dataclass
class PVDecay:
    """The population-vector correlation with the reference maps along long walks."""

    window_steps: np.ndarray  # (W,) the middle step of each time window
    correlation: np.ndarray  # (W,) mean over walks and the window's samples
    steps: int  # walk length, steps

    @property
    def last(self) -> float:
        """The mean correlation over the last fifth of the walk (the 'last minute' of 5)."""
        k = max(1, len(self.correlation) // 5)
        return float(np.nanmean(self.correlation[-k:]))

    def summary(self) -> dict:
        return {
            "steps": int(self.steps),
            "window_steps": [int(s) for s in self.window_steps],
            "pv_correlation": [None if not np.isfinite(c) else float(c) for c in self.correlation],
            "pv_correlation_last_fifth": None if not np.isfinite(self.last) else self.last,
        }


def pv_decay(positions, states, ref_maps, box, bin_size: float, windows: int = 20) -> PVDecay:
    """:func:`pv_correlation` along walks ``(n, T, 2)`` / ``(n, T, U)``, averaged over the walks
    and over each of ``windows`` equal windows of time."""
    r = pv_correlation(positions, states, ref_maps, box, bin_size)  # (n, T)
    T = r.shape[-1]
    windows = max(1, min(int(windows), T))
    edges = np.linspace(0, T, windows + 1).round().astype(int)
    with np.errstate(invalid="ignore"), _quiet():
        corr = np.array([np.nanmean(r[..., a:b]) for a, b in zip(edges[:-1], edges[1:])])
    return PVDecay((edges[:-1] + edges[1:]) // 2, corr, T)


@contextmanager
def _quiet():
    """Silence numpy's 'mean of empty slice' warning (an all-NaN window is reported as NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
