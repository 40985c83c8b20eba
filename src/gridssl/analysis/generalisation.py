"""Generalisation and path invariance of a population code along trajectories.

Inputs are positions in metres and population states (one row per time sample). Two questions:

* aliasing: does the neural distance d(g(0), g(x)) from the start state stay high as |x| grows
  beyond the training extent (docs/METHOD.md section 1, claim 3), or does the code fold back
  onto the start state?
* path invariance: are revisits of the same place (|dx| < radius) at different times coded by
  nearby states, compared with random pairs?
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class BinnedCurve:
    """Mean and s.d. of ``y`` in bins of ``x``. NaN where a bin is empty."""

    centres: np.ndarray  # (K,) bin centres, units of x
    mean: np.ndarray  # (K,)
    sd: np.ndarray  # (K,)
    count: np.ndarray  # (K,) samples per bin


def binned(x: np.ndarray, y: np.ndarray, edges: np.ndarray) -> BinnedCurve:
    """Bin ``y`` by ``x`` into ``edges`` (vectorised; samples outside the edges are dropped)."""
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    k = np.digitize(x, edges) - 1
    ok = (k >= 0) & (k < len(edges) - 1)
    n = np.bincount(k[ok], minlength=len(edges) - 1).astype(float)
    s = np.bincount(k[ok], weights=y[ok], minlength=len(edges) - 1)
    s2 = np.bincount(k[ok], weights=y[ok] ** 2, minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / n
        sd = np.sqrt(np.maximum(s2 / n - mean**2, 0))
    return BinnedCurve((edges[:-1] + edges[1:]) / 2, mean, sd, n)


@dataclass
class StartDistance:
    """d(g(0), g(x)) against |x| (docs/METHOD.md section 1, claim 3).

    curve: binned mean / s.d. of |g - g0| by distance from the start, metres.
    near_start: mean |g - g0| of samples within ``radius`` of the start (what "same place" means).
    min_far: smallest binned mean |g - g0| beyond ``far_from`` metres; aliasing back to the start
        state would make it approach ``near_start``.
    alias_fraction: fraction of samples beyond ``far_from`` whose |g - g0| is below the
        ``near_quantile`` (default 95th percentile) of the near-start distances.
    """

    curve: BinnedCurve
    near_start: float
    min_far: float
    alias_fraction: float
    params: dict = field(default_factory=dict)


def start_distance(
    positions: np.ndarray,
    states: np.ndarray,
    g0: np.ndarray,
    start=(0.0, 0.0),
    bin_width: float = 0.1,
    radius: float = 0.05,
    far_from: float = 0.25,
    near_quantile: float = 0.95,
) -> StartDistance:
    """positions (S, 2) m, states (S, N), g0 (N,) -> neural distance from the start state by |x|."""
    r = np.linalg.norm(np.asarray(positions, float) - np.asarray(start, float), axis=-1)
    d = np.linalg.norm(np.asarray(states, float) - np.asarray(g0, float), axis=-1)
    edges = np.arange(0, r.max() + bin_width, bin_width)
    curve = binned(r, d, edges)
    near = d[r < radius]
    near_start = float(near.mean()) if near.size else float("nan")
    far = (curve.centres > far_from) & (curve.count > 0)
    min_far = float(np.nanmin(curve.mean[far])) if far.any() else float("nan")
    thr = np.quantile(near, near_quantile) if near.size else np.nan
    alias = float((d[r > far_from] < thr).mean()) if (r > far_from).any() else float("nan")
    params = dict(
        bin_width_m=bin_width, radius_m=radius, far_from_m=far_from, near_quantile=near_quantile
    )
    return StartDistance(curve, near_start, min_far, alias, params)


@dataclass
class Separation:
    """Neural distance of sample pairs against their spatial and temporal separation.

    spatial, temporal: binned curves (metres, steps). revisit_distance: mean neural distance of
    pairs closer than ``radius`` in space but at least ``min_lag`` steps apart in time (the same
    place reached along different paths). random_distance: mean over all sampled pairs.
    invariance_ratio: revisit_distance / random_distance (0 = perfect path invariance).
    """

    spatial: BinnedCurve
    temporal: BinnedCurve
    revisit_distance: float
    random_distance: float
    invariance_ratio: float
    n_revisits: int
    params: dict = field(default_factory=dict)


def separation(
    positions: np.ndarray,
    states: np.ndarray,
    rng: np.random.Generator,
    n_pairs: int = 200_000,
    radius: float = 0.05,
    min_lag: int = 20,
    spatial_bin: float = 0.05,
    temporal_bin: int = 10,
) -> Separation:
    """positions (n, T, 2) m and states (n, T, N) along n trajectories: random within-trajectory
    pairs, neural distance against spatial and temporal separation, and the revisit ratio."""
    P, G = np.asarray(positions, float), np.asarray(states, float)
    n, T = P.shape[:2]
    traj = rng.integers(0, n, n_pairs)
    i, j = rng.integers(0, T, n_pairs), rng.integers(0, T, n_pairs)
    dx = np.linalg.norm(P[traj, i] - P[traj, j], axis=-1)
    dt = np.abs(i - j)
    dg = np.linalg.norm(G[traj, i] - G[traj, j], axis=-1)
    spatial = binned(dx, dg, np.arange(0, dx.max() + spatial_bin, spatial_bin))
    temporal = binned(dt, dg, np.arange(0, T + temporal_bin, temporal_bin))
    rev = (dx < radius) & (dt >= min_lag)
    revisit = float(dg[rev].mean()) if rev.any() else float("nan")
    rand = float(dg.mean())
    params = dict(
        n_pairs=n_pairs,
        radius_m=radius,
        min_lag_steps=min_lag,
        spatial_bin_m=spatial_bin,
        temporal_bin_steps=temporal_bin,
    )
    return Separation(spatial, temporal, revisit, rand, revisit / rand, int(rev.sum()), params)


def crop_correlation(
    small: np.ndarray, small_box, large: np.ndarray, large_box, bin_size: float
) -> np.ndarray:
    """Per-unit Pearson correlation (U,) between rate maps in a small arena and the same region
    of the maps in a larger arena (both with the same bin size, boxes in metres, NaN = unvisited).

    A code that generalises keeps each unit's map where the arenas overlap: correlation near 1.
    """
    small, large = np.asarray(small, float), np.asarray(large, float)
    x0 = int(round((small_box[0] - large_box[0]) / bin_size))
    y0 = int(round((small_box[2] - large_box[2]) / bin_size))
    ny, nx = small.shape[1:]
    crop = large[:, y0 : y0 + ny, x0 : x0 + nx]
    if crop.shape != small.shape:
        raise ValueError(f"the small box {small_box} does not lie inside {large_box}")
    ok = np.isfinite(small) & np.isfinite(crop)
    n = ok.sum(axis=(1, 2))
    a = np.where(ok, small, 0.0)
    b = np.where(ok, crop, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = a.sum(axis=(1, 2)) / n
        mb = b.sum(axis=(1, 2)) / n
        da = np.where(ok, a - ma[:, None, None], 0.0)
        db = np.where(ok, b - mb[:, None, None], 0.0)
        r = (da * db).sum(axis=(1, 2)) / np.sqrt(
            (da**2).sum(axis=(1, 2)) * (db**2).sum(axis=(1, 2))
        )
    return r
