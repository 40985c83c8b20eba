"""One arena, one population: every per-unit grid metric, the null, grid cells and modules.

    positions (S, 2) m, activity (S, U)  ->  rate maps -> SACs -> grid scores (named variant)
        -> firing fields -> shuffle null -> grid cells -> lattice (spacing, orientation, shear)
        -> modules

A unit is a grid cell when its Sargolini min-max score over Banino annuli exceeds both
``threshold`` (``config.GRID_THRESHOLD``, 0.3) and its own 95th percentile of a circular time-shift
null, it has at least ``min_fields`` (3) firing fields and it is not place-like (one compact field).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import BIN_SIZE_M, GRID_THRESHOLD, MIN_FIELDS, MODULE_PERIOD_RATIO
from .fields import FieldStats, firing_fields, is_grid_cell, spatial_information
from .gridscore import GridScores, bnt_grid_scores, score_maps, square_scores
from .lattice import SACLattice, lattice_from_sac
from .modules import ModuleResult, find_modules
from .nulls import NullDistribution, time_shift_null
from .ratemaps import RateMaps, rate_maps
from .sac import autocorrelogram


@dataclass
class GridPopulation:
    maps: RateMaps
    sacs: np.ndarray  # (U, 2ny-1, 2nx-1)
    scores: GridScores  # min-max, Banino annuli
    fields: FieldStats
    null: NullDistribution | None
    is_grid: np.ndarray  # (U,) bool
    lattice: SACLattice
    modules: ModuleResult
    info: np.ndarray  # (U,) Skaggs spatial information, bits per unit activity
    square: GridScores  # G90 = r90 - (r45 + r135) / 2, Banino annuli (square-lattice check)
    bnt: GridScores  # BNT expanding-annulus score (inner radius = the central field's)
    threshold: float = GRID_THRESHOLD  # the grid-cell rule's score threshold
    min_fields: int = MIN_FIELDS  # and its minimum number of firing fields

    def summary(self) -> dict:
        """JSON-ready numbers, each grid score with its variant and parameters."""
        m = self.modules
        p = self.scores.params
        thr, nf = self.threshold, self.min_fields
        return {
            "n_units": int(len(self.is_grid)),
            "bin_size_m": self.maps.bin_size,
            "box_m": list(self.maps.box),
            "grid_score": {
                "variant": self.scores.variant,
                "inner": p.get("inner"),
                "outer_radii": np.asarray(p.get("outers", [])).tolist(),
                "radii_units": "fraction of the map size",
                "bin_size_m": self.maps.bin_size,
            },
            "grid_rule": f"min-max score > {thr:g}"
            + ("" if self.null is None else f" and > the unit's 95th pct {self.null.method} null")
            + f", >= {nf} firing fields, not place-like",
            "null_pooled_p95": None if self.null is None else _f(self.null.pooled),
            "grid_fraction": _f(self.is_grid.mean()),
            "n_grid_cells": int(self.is_grid.sum()),
            f"above_{thr:g}": _f(np.mean(np.nan_to_num(self.scores.scores, nan=-9) > thr)),
            "place_like_fraction": _f(self.fields.place_like.mean()),
            "square_fraction": _f(
                (is_grid_cell(self.square, self.fields, thr, nf) & ~self.is_grid).mean()
            ),
            "square_rule": f"not a grid cell, G90 > {thr:g}, >= {nf} firing fields, not place-like",
            "bnt_fraction": _f(is_grid_cell(self.bnt, self.fields, thr, nf).mean()),
            "bnt_rule": f"BNT expanding-annulus score > {thr:g}, >= {nf} firing fields, not "
            "place-like "
            "(its inner radius follows the central field, so it suits any arena size; Banino "
            "annuli are fractions of the map size and in a 4 m arena start at 0.8 m)",
            "score_median": _f(np.nanmedian(self.scores.scores)),
            "n_modules": int(m.k),
            "n_distinct_periods": distinct_periods(m.periods),
            "module_periods_m": [_f(x) for x in m.periods],
            "module_period_ratios": [_f(x) for x in m.period_ratios],
            "module_orientations_deg": [_f(x) for x in m.orientations],
            "module_orientation_spread_deg": [_f(x) for x in m.orientation_spread],
            "module_sizes": [int(x) for x in m.sizes],
        }


def distinct_periods(periods, min_ratio: float = MODULE_PERIOD_RATIO) -> int:
    """How many module periods differ from the next smaller one by at least ``min_ratio``
    (modules of one period but different orientation count once)."""
    p = np.sort(np.asarray(periods, float))
    if p.size == 0:
        return 0
    return int(1 + np.sum(p[1:] / p[:-1] >= min_ratio))


def _f(x) -> float | None:
    x = float(x)
    return None if not np.isfinite(x) else round(x, 4)


GRID_VARIANTS = ("minmax", "mean", "bnt")  # the grid scores a grid-cell rule can use


def analyse_maps(
    rm: RateMaps,
    null: NullDistribution | None = None,
    threshold: float = GRID_THRESHOLD,
    rng: np.random.Generator | int | None = 0,
    min_fields: int = MIN_FIELDS,
    variant: str = "minmax",
) -> GridPopulation:
    """Every per-unit metric, grid cells and modules from rate maps (and an optional null).

    ``variant`` names the grid score the grid-cell rule uses (``"minmax"``: Sargolini min-max
    over Banino annuli, the project's headline; ``"mean"``; ``"bnt"``: the BNT / opexebo
    expanding-annulus score); the null, when given, must be of the same variant.
    """
    if variant not in GRID_VARIANTS:
        raise ValueError(f"variant {variant!r}: choose one of {list(GRID_VARIANTS)}")
    sacs = autocorrelogram(rm.maps)
    scores = score_maps(rm.maps, variant=variant)
    ff = firing_fields(rm.maps)
    thr = np.full(len(scores.scores), threshold)
    if null is not None:
        thr = np.fmax(thr, null.per_unit)
    grid = is_grid_cell(scores, ff, thr, min_fields)
    lat = lattice_from_sac(sacs, rm.bin_size)
    modules = find_modules(lat.spacing, lat.orientation, valid=grid, rng=rng)
    info = spatial_information(rm.maps, rm.occupancy)
    square = square_scores(sacs)
    bnt = bnt_grid_scores(sacs)
    return GridPopulation(
        rm, sacs, scores, ff, null, grid, lat, modules, info, square, bnt, threshold, min_fields
    )


def grid_population(
    positions: np.ndarray,
    activity: np.ndarray,
    box: tuple[float, float, float, float],
    bin_size: float = BIN_SIZE_M,
    *,
    rng: np.random.Generator | int | None,
    n_shuffles: int,
    min_shift: int | None = None,
    threshold: float = GRID_THRESHOLD,
    min_fields: int = MIN_FIELDS,
) -> GridPopulation:
    """Analyse one population along a trajectory: positions (S, 2) m, activity (S, U).

    The null is a circular time shift of each unit's activity (``n_shuffles`` per unit, shifts of
    at least ``min_shift`` samples, default a tenth of the samples); ``n_shuffles = 0`` skips it
    and grid cells are then judged by ``threshold`` alone.
    """
    rng = np.random.default_rng(rng)
    rm = rate_maps(positions, activity, box, bin_size)
    null = None
    if n_shuffles:
        S = len(positions)
        null = time_shift_null(
            positions, activity, box, bin_size, n_shuffles, min_shift or S // 10, rng
        )
    return analyse_maps(rm, null, threshold, rng, min_fields)
