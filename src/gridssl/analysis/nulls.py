"""Shuffle nulls for grid scores, scored with the same scorer as the data.

Two nulls, each vectorised over units within a shuffle:

* :func:`time_shift_null`: each unit's activity is circularly shifted in time by its own random
  offset in ``[min_shift, S - min_shift]`` samples along the trajectory, which keeps the unit's
  temporal statistics but breaks its relation to position; rate maps are rebuilt with the same
  binning (and smoothing) and scored. This is the experimental standard.
* :func:`block_shuffle_null`: a map-level shuffle for when no trajectory is kept. Each map is cut
  into square blocks of ``block_bins`` x ``block_bins`` bins (a leftover strip at the right/top
  edge stays in place); the blocks are randomly permuted and each is rotated by a random
  multiple of 90 degrees, independently per unit. This keeps the local field shapes and the rate
  distribution but destroys the long-range periodicity. Blocks of about one grid period work
  best; much larger blocks keep the lattice inside each block, much smaller ones shred fields.

The scorer is any callable ``maps (U, ny, nx) -> GridScores or (U,) array`` (default: min-max
Banino grid score via :func:`gridssl.analysis.gridscore.score_maps`). The null's percentile is
taken per unit (over its shuffles) and pooled (over all units' shuffles).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .gridscore import score_maps
from .ratemaps import as_numpy, bin_positions

__all__ = ["NullDistribution", "time_shift_null", "block_shuffle_null", "block_shuffle_maps"]


@dataclass
class NullDistribution:
    """Scores of shuffled maps.

    Attributes
    ----------
    scores : (n_shuffles, U) null scores (NaN where the scorer gave NaN).
    per_unit : (U,) per-unit ``percentile`` of the null.
    pooled : float, ``percentile`` of all null scores pooled over units and shuffles.
    percentile : float, e.g. 95.
    method : ``"time_shift"`` or ``"block_shuffle"``.
    params : dict of the settings used (including the scorer's variant, if it reports one).
    """

    scores: np.ndarray
    per_unit: np.ndarray
    pooled: float
    percentile: float
    method: str
    params: dict = field(default_factory=dict)

    def exceeds(self, scores, pooled: bool = True) -> np.ndarray:
        """Which ``scores (U,)`` lie above the pooled (or per-unit) percentile."""
        s = np.asarray(getattr(scores, "scores", scores), dtype=float)
        thr = self.pooled if pooled else self.per_unit
        return np.isfinite(s) & (s > thr)


def _default_scorer(maps):
    return score_maps(maps, variant="minmax")


def _score(scorer, maps) -> tuple[np.ndarray, dict]:
    out = scorer(maps)
    info = {}
    if hasattr(out, "scores"):
        info = {
            "scorer_variant": getattr(out, "variant", None),
            "scorer_params": getattr(out, "params", None),
        }
        out = out.scores
    return np.asarray(out, dtype=float), info


def _summarise(null: np.ndarray, percentile: float):
    with np.errstate(invalid="ignore"):
        per_unit = np.full(null.shape[1], np.nan)
        ok = np.isfinite(null).any(axis=0)
        if ok.any():
            per_unit[ok] = np.nanpercentile(null[:, ok], percentile, axis=0)
        fin = null[np.isfinite(null)]
        pooled = float(np.percentile(fin, percentile)) if fin.size else float("nan")
    return per_unit, pooled


def time_shift_null(
    positions,
    activity,
    box,
    bin_size: float,
    n_shuffles: int,
    min_shift: int,
    rng: np.random.Generator,
    scorer: Callable | None = None,
    smooth_sigma: float = 0.0,
    min_occupancy: int = 1,
    percentile: float = 95.0,
) -> NullDistribution:
    """Null of grid scores from circularly time-shifted activity.

    Parameters
    ----------
    positions : (S, 2) metres; activity : (S, U)
        The trajectory and the units' activity along it (as for
        :func:`gridssl.analysis.ratemaps.rate_maps`).
    box, bin_size, smooth_sigma, min_occupancy
        Rate-map settings; use the ones used for the real maps.
    n_shuffles : int
        Shuffles per unit.
    min_shift : int, samples
        Shifts are drawn uniformly from ``[min_shift, S - min_shift]`` (per unit and shuffle);
        choose it longer than the activity's autocorrelation time (e.g. 20 s of trajectory).
    rng : numpy.random.Generator
        Source of all randomness.
    scorer : callable ``maps -> GridScores | (U,)``, default min-max Banino score.
    percentile : float
        Percentile reported (95 by default; 99 is also common).
    """
    pos = as_numpy(positions)
    act = as_numpy(activity)
    if act.ndim == 1:
        act = act[:, None]
    S, U = act.shape
    if not 0 <= min_shift <= S - min_shift:
        raise ValueError(f"min_shift={min_shift} impossible for {S} samples")
    scorer = scorer or _default_scorer
    binning = bin_positions(pos, box, bin_size)
    t = np.arange(S)
    cols = np.arange(U)
    null = np.empty((n_shuffles, U))
    info: dict = {}
    # a flat take on float32 with int32 offsets and no modulo moves half the bytes of a 2-D
    # float64 gather (measured 0.43 s against 0.67 s per shuffle for 96k samples x 128 units)
    itype = np.int32 if S * U < 2**31 else np.int64
    flat = np.ascontiguousarray(act, dtype=np.float32).ravel()
    t_i, cols_i = t.astype(itype), cols.astype(itype)
    for i in range(n_shuffles):  # loop over shuffles only; each is vectorised over units
        shift = rng.integers(min_shift, S - min_shift + 1, size=U)
        src = t_i[:, None] - shift.astype(itype)[None, :]  # rolled[t, u] = act[t - shift_u, u]
        src += itype(S) * (src < 0)
        rolled = np.take(flat, src * itype(U) + cols_i[None, :])
        maps = binning.rate_maps(
            rolled, smooth_sigma=smooth_sigma, min_occupancy=min_occupancy
        ).maps
        null[i], info = _score(scorer, maps)
    per_unit, pooled = _summarise(null, percentile)
    return NullDistribution(
        scores=null,
        per_unit=per_unit,
        pooled=pooled,
        percentile=percentile,
        method="time_shift",
        params=dict(
            n_shuffles=n_shuffles,
            min_shift=min_shift,
            n_samples=S,
            box=tuple(box),
            bin_size=bin_size,
            smooth_sigma=smooth_sigma,
            min_occupancy=min_occupancy,
            **info,
        ),
    )


def block_shuffle_maps(
    maps, block_bins: int, rng: np.random.Generator, rotate: bool = True
) -> np.ndarray:
    """One block shuffle of every map (independent per unit), shape preserved.

    The ``floor(ny / b) x floor(nx / b)`` full blocks (``b = block_bins``) starting at bin
    ``(0, 0)`` are permuted and, with ``rotate``, each is turned by a random multiple of 90
    degrees; bins outside full blocks stay where they are. NaN bins move with their block.
    """
    m = as_numpy(maps)
    if m.ndim == 2:
        m = m[None]
    U, ny, nx = m.shape
    b = int(block_bins)
    gy, gx = ny // b, nx // b
    nb = gy * gx
    if b < 1 or nb < 2:
        raise ValueError(f"block_bins={block_bins} leaves fewer than 2 blocks in {ny}x{nx}")
    # local offsets of a b x b block under 0, 90, 180, 270 degree turns (flat within the block)
    base = np.arange(b * b).reshape(b, b)
    rots = np.stack([np.rot90(base, k).ravel() for k in range(4)])  # (4, b*b)
    perm = np.argsort(rng.random((U, nb)), axis=1)  # (U, nb): source block of each target block
    k = rng.integers(0, 4, size=(U, nb)) if rotate else np.zeros((U, nb), dtype=np.int64)
    src_local = rots[k]  # (U, nb, b*b): source local offset for each target local offset
    sby, sbx = np.divmod(perm, gx)  # source block coordinates
    ly, lx = np.divmod(src_local, b)
    src_y = sby[..., None] * b + ly  # (U, nb, b*b)
    src_x = sbx[..., None] * b + lx
    tby, tbx = np.divmod(np.arange(nb), gx)
    tly, tlx = np.divmod(np.arange(b * b), b)
    tgt_y = tby[:, None] * b + tly[None, :]  # (nb, b*b)
    tgt_x = tbx[:, None] * b + tlx[None, :]
    out = m.copy()
    uu = np.arange(U)[:, None, None]
    out[uu, tgt_y[None], tgt_x[None]] = m[uu, src_y, src_x]
    return out


def block_shuffle_null(
    maps,
    n_shuffles: int,
    block_bins: int,
    rng: np.random.Generator,
    scorer: Callable | None = None,
    rotate: bool = True,
    percentile: float = 95.0,
) -> NullDistribution:
    """Null of grid scores from block-shuffled maps (see :func:`block_shuffle_maps`).

    Parameters
    ----------
    maps : (U, ny, nx), NaN = unvisited.
    n_shuffles : int; block_bins : int, bins per block side; rng : numpy.random.Generator.
    scorer : callable ``maps -> GridScores | (U,)``, default min-max Banino score.
    rotate : bool, also turn each block by a random multiple of 90 degrees.
    percentile : float.
    """
    m = as_numpy(maps)
    if m.ndim == 2:
        m = m[None]
    scorer = scorer or _default_scorer
    null = np.empty((n_shuffles, m.shape[0]))
    info: dict = {}
    for i in range(n_shuffles):
        null[i], info = _score(scorer, block_shuffle_maps(m, block_bins, rng, rotate=rotate))
    per_unit, pooled = _summarise(null, percentile)
    return NullDistribution(
        scores=null,
        per_unit=per_unit,
        pooled=pooled,
        percentile=percentile,
        method="block_shuffle",
        params=dict(n_shuffles=n_shuffles, block_bins=block_bins, rotate=rotate, **info),
    )
