"""A fast grid-score summary of a population, for watching grids appear during training.

Rate maps -> SAC -> Sargolini min-max grid score over Banino annuli (inner 0.2, outer 0.4..1.0 of
the map size). A unit counts as a grid cell when its score exceeds ``threshold`` AND it has at least
``min_fields`` firing fields: a single compact field can score above 0.3 on an irregular visited
area (seen in early training maps), and place-like units are never counted as grid cells.
"""

from __future__ import annotations

import numpy as np

from ..config import GRID_THRESHOLD, MIN_FIELDS
from .fields import firing_fields, is_grid_cell
from .gridscore import score_maps
from .ratemaps import rate_maps


def grid_summary(
    positions: np.ndarray,
    activity: np.ndarray,
    box: tuple[float, float, float, float],
    bin_size: float,
    threshold: float = GRID_THRESHOLD,
    min_fields: int = MIN_FIELDS,
) -> dict[str, float]:
    """positions (S, 2) m, activity (S, U) -> grid fraction and score statistics (floats)."""
    rm = rate_maps(positions, activity, box, bin_size)
    gs = score_maps(rm.maps, variant="minmax")
    scores = np.nan_to_num(gs.scores, nan=-2.0)
    ff = firing_fields(rm.maps)
    grid = is_grid_cell(gs, ff, threshold, min_fields)
    return {
        "grid_fraction": float(grid.mean()),
        "above_threshold": float((scores > threshold).mean()),
        "score_median": float(np.median(scores)),
        "score_max": float(scores.max()),
        "multi_field": float((ff.n_fields >= min_fields).mean()),
    }
