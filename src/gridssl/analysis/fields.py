"""Per-unit spatial statistics of rate maps: information, sparsity, selectivity, firing fields.

All functions take maps ``(U, ny, nx)`` (NaN = unvisited) and an optional occupancy ``(ny, nx)``
(samples or seconds per bin; uniform over visited bins when omitted), and are vectorised over
units. Rates must be non-negative (firing rates, ReLU activations): negative values are clipped
to 0 for the information, sparsity and selectivity measures.

With occupancy probabilities ``p_i`` over visited bins, rates ``l_i`` and mean rate
``l = sum_i p_i l_i``:

* Skaggs spatial information (Skaggs et al. 1993), bits per unit of activity ("bits/spike"):
  ``I = sum_i p_i (l_i / l) log2(l_i / l)`` (terms with ``l_i = 0`` are 0). Multiply by ``l``
  for bits per unit time.
* sparsity (Skaggs et al. 1996): ``(sum_i p_i l_i)^2 / sum_i p_i l_i^2`` in ``(0, 1]``; small =
  sparse.
* selectivity: ``max_i l_i / l``.

Firing fields are 4-connected groups of visited bins above ``min + frac * (max - min)`` of the
unit's map, of at least ``min_area`` bins. A unit is *place-like* when it has exactly one field
and that field covers less than ``max_place_fraction`` of the visited area. Place-like units
(and any unit with fewer than ``min_fields`` fields) must not be counted as grid cells:
use :func:`is_grid_cell`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..config import MIN_FIELDS
from .ratemaps import as_numpy

__all__ = [
    "FieldStats",
    "spatial_information",
    "sparsity",
    "selectivity",
    "firing_fields",
    "is_grid_cell",
]


def _prep(maps, occupancy):
    m = as_numpy(maps)
    if m.ndim == 2:
        m = m[None]
    v = np.isfinite(m)
    if occupancy is None:
        w = v.astype(np.float64)
    else:
        occ = as_numpy(occupancy)
        if occ.shape != m.shape[1:]:
            raise ValueError(f"occupancy {occ.shape} does not match maps {m.shape[1:]}")
        w = np.where(v, np.clip(occ, 0, None)[None], 0.0)
    tot = w.sum(axis=(1, 2), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = w / tot
    lam = np.where(v, np.clip(m, 0.0, None), 0.0)
    return lam, p


def spatial_information(maps, occupancy=None) -> np.ndarray:
    """Skaggs information ``(U,)`` in bits per unit activity; NaN for an all-zero map."""
    lam, p = _prep(maps, occupancy)
    mean = (p * lam).sum(axis=(1, 2), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = lam / mean
        term = np.where(ratio > 0, p * ratio * np.log2(np.where(ratio > 0, ratio, 1.0)), 0.0)
    out = term.sum(axis=(1, 2))
    return np.where(mean[:, 0, 0] > 0, out, np.nan)


def sparsity(maps, occupancy=None) -> np.ndarray:
    """Skaggs sparsity ``(U,)`` in (0, 1]; NaN for an all-zero map."""
    lam, p = _prep(maps, occupancy)
    m1 = (p * lam).sum(axis=(1, 2))
    m2 = (p * lam**2).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m2 > 0, m1**2 / m2, np.nan)


def selectivity(maps, occupancy=None) -> np.ndarray:
    """Peak over occupancy-weighted mean rate ``(U,)``; NaN for an all-zero map."""
    lam, p = _prep(maps, occupancy)
    m1 = (p * lam).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(m1 > 0, lam.max(axis=(1, 2)) / m1, np.nan)


@dataclass
class FieldStats:
    """Firing fields of ``U`` units.

    Attributes
    ----------
    n_fields : (U,) int, fields of at least ``min_area`` bins.
    largest_area : (U,) bins, area of the largest such field (0 if none).
    largest_fraction : (U,) largest field area / visited area.
    total_fraction : (U,) area of all fields / visited area.
    place_like : (U,) bool, exactly one field, covering less than ``max_place_fraction`` of the
        visited area.
    labels : (U, ny, nx) int, field label per bin (0 = background; labels are global across units
        and include fields smaller than ``min_area``).
    params : dict of the settings used.
    """

    n_fields: np.ndarray
    largest_area: np.ndarray
    largest_fraction: np.ndarray
    total_fraction: np.ndarray
    place_like: np.ndarray
    labels: np.ndarray
    params: dict = field(default_factory=dict)


def firing_fields(
    maps, frac: float = 0.3, min_area: int = 6, max_place_fraction: float = 0.25
) -> FieldStats:
    """Count firing fields and flag place-like units.

    Parameters
    ----------
    maps : (U, ny, nx) array, NaN = unvisited.
    frac : float
        A bin is in a field when its value exceeds ``min + frac * (max - min)`` over the unit's
        visited bins (``frac`` of the peak for maps whose minimum is 0).
    min_area : int, bins
        Smaller connected components are not fields.
    max_place_fraction : float
        A unit with a single field smaller than this fraction of the visited area is place-like.

    Notes
    -----
    Connectivity is 4-neighbour within a map; one ``scipy.ndimage.label`` call labels all units
    (the structuring element has no links between units). Fields cut by the box edge count as
    fields.
    """
    m = as_numpy(maps)
    if m.ndim == 2:
        m = m[None]
    U = m.shape[0]
    v = np.isfinite(m)
    lo = np.where(v, m, np.inf).min(axis=(1, 2), keepdims=True)
    hi = np.where(v, m, -np.inf).max(axis=(1, 2), keepdims=True)
    thr = lo + frac * (hi - lo)
    above = v & (m > thr) & (hi > lo)
    struct = np.zeros((3, 3, 3), dtype=bool)
    struct[1] = ndimage.generate_binary_structure(2, 1)
    labels, n_lab = ndimage.label(above, structure=struct)
    areas = np.bincount(labels.ravel(), minlength=n_lab + 1)
    # unit owning each label: all bins of a label lie in one unit, so the mean unit index is it
    flat = labels.ravel()
    nz = np.flatnonzero(flat)
    unit_of_bin = nz // (m.shape[1] * m.shape[2])
    owner_sum = np.bincount(flat[nz], weights=unit_of_bin, minlength=n_lab + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        owner = np.rint(owner_sum[1:] / np.maximum(areas[1:], 1)).astype(np.int64)
    big = areas[1:] >= min_area
    n_fields = np.bincount(owner[big], minlength=U)
    largest = np.zeros(U, dtype=np.int64)
    np.maximum.at(largest, owner[big], areas[1:][big])
    tot = np.bincount(owner[big], weights=areas[1:][big], minlength=U)
    visited = v.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        lf = largest / visited
        tf = tot / visited
    place_like = (n_fields == 1) & (lf < max_place_fraction)
    return FieldStats(
        n_fields=n_fields,
        largest_area=largest,
        largest_fraction=lf,
        total_fraction=tf,
        place_like=place_like,
        labels=labels,
        params=dict(
            frac=frac,
            min_area=min_area,
            max_place_fraction=max_place_fraction,
            threshold="min + frac * (max - min) over visited bins",
            connectivity=4,
        ),
    )


def is_grid_cell(
    scores, n_fields, threshold, min_fields: int = MIN_FIELDS, place_like=None
) -> np.ndarray:
    """Grid-cell classification ``(U,)`` bool.

    A unit is a grid cell when its score exceeds ``threshold`` (a scalar such as 0.3 or 0.37, or
    per-unit null percentiles ``(U,)``) **and** it has at least ``min_fields`` firing fields, and
    (when given) is not place-like. NaN scores are never grid cells.

    ``scores`` may be a :class:`gridssl.analysis.gridscore.GridScores` or an array;
    ``n_fields`` a :class:`FieldStats` (then ``place_like`` is taken from it) or an array.
    """
    if hasattr(n_fields, "n_fields"):
        if place_like is None:
            place_like = n_fields.place_like
        n_fields = n_fields.n_fields
    s = np.asarray(getattr(scores, "scores", scores), dtype=float)
    nf = np.asarray(n_fields)
    out = np.isfinite(s) & (s > np.asarray(threshold, dtype=float)) & (nf >= min_fields)
    if place_like is not None:
        out &= ~np.asarray(place_like, dtype=bool)
    return out
