"""Rate maps beside autocorrelograms, and the same units across arenas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._base import (
    MAP_CMAP,
    SAC_CMAP,
    Box,
    PathLike,
    _check_box,
    _cmap,
    _figure,
    _module_name,
    _no_data,
    _save,
    _small_ticks,
    _wrap,
)

if TYPE_CHECKING:  # type hints only: the pipeline imports the analysis, not its figures
    from ...analysis.population import GridPopulation
    from ...pipeline import Populations


def _checked_maps(
    maps: np.ndarray, sacs: np.ndarray, scores: np.ndarray, labels: Sequence | np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """maps (U, ny, nx), sacs (U, 2ny-1, 2nx-1) and scores (U,) as float arrays.

    Raises ValueError when a shape does not match the maps, or labels has not U entries.
    """
    maps = np.asarray(maps, dtype=float)
    sacs = np.asarray(sacs, dtype=float)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    if maps.ndim != 3:
        raise ValueError(f"maps must be (U, ny, nx), got {maps.shape}")
    n_units, ny, nx = maps.shape
    if sacs.shape != (n_units, 2 * ny - 1, 2 * nx - 1):
        raise ValueError(f"sacs must be {(n_units, 2 * ny - 1, 2 * nx - 1)}, got {sacs.shape}")
    if scores.shape != (n_units,):
        raise ValueError(f"scores must be ({n_units},), got {scores.shape}")
    if labels is not None and len(labels) != n_units:
        raise ValueError(f"labels must have {n_units} entries, got {len(labels)}")
    return maps, sacs, scores


def _pairs_figure(n_shown: int) -> tuple:
    """A figure with one (rate map, SAC) pair of subplot specs per shown unit, four per row.

    Fixed layout (constrained layout is slow with ~64 axes), sizes in inches for panels, titles
    and colorbars. Returns ``(fig, outer, pairs, height)``: the outer gridspec, the ``n_shown``
    (1, 2) sub-gridspecs and the figure height in inches.
    """
    per_row = 4
    n_rows = max(1, -(-n_shown // per_row))
    panel, top_in, bottom_in = 1.45, 0.75, 0.75
    row_in = panel + 0.75
    height = top_in + n_rows * row_in + bottom_in
    fig = _figure(2 * per_row * 1.85 + 0.4, height, layout=None)
    outer = fig.add_gridspec(
        n_rows,
        per_row,
        left=0.04,
        right=0.99,
        top=1 - (top_in + 0.35) / height,
        bottom=(bottom_in + 0.1) / height,
        wspace=0.25,
        hspace=0.75,
    )
    pairs = [
        outer[i // per_row, i % per_row].subgridspec(1, 2, wspace=0.45) for i in range(n_shown)
    ]
    return fig, outer, pairs, height


def _draw_ratemap(ax, m: np.ndarray, extent: Box, cmap, ticks, title: str, module):
    """One unit's rate map m (ny, nx), a.u., scaled to its peak, in the box ``extent`` (m).

    The title is ``title``, then the ``module`` name (None: no labels) and the peak in a.u.
    Returns the image.
    """
    peak = np.nanmax(m) if np.isfinite(m).any() else np.nan
    scale = peak if np.isfinite(peak) and peak > 0 else 1.0
    im = ax.imshow(
        m / scale,
        origin="lower",
        extent=extent,
        cmap=cmap,
        vmin=0.0,
        vmax=1.0,
        interpolation="nearest",
    )
    detail = f"peak {peak:.2g} a.u."
    if module is not None:
        detail = f"{module}, {detail}"
    ax.set_title(f"{title}\n{detail}", fontsize=7, loc="left")
    ax.set_xlabel("x (m)", fontsize=6, labelpad=1)
    ax.set_ylabel("y (m)", fontsize=6, labelpad=1)
    _small_ticks(ax, *ticks)
    return im


def _draw_sac(ax, sac: np.ndarray, lag_extent: Box, cmap, ticks):
    """One autocorrelogram sac (2ny-1, 2nx-1), Pearson r in [-1, 1], lags in metres; the image."""
    im = ax.imshow(
        sac,
        origin="lower",
        extent=lag_extent,
        cmap=cmap,
        vmin=-1.0,
        vmax=1.0,
        interpolation="nearest",
    )
    ax.set_xlabel("lag x (m)", fontsize=6, labelpad=1)
    ax.set_ylabel("lag y (m)", fontsize=6, labelpad=1)
    _small_ticks(ax, *ticks)
    return im


def _map_colorbars(fig, im_map, im_sac, height: float) -> None:
    """Horizontal colorbars for the rate maps and the SACs along the bottom (height in inches)."""
    h = 0.12 / height
    y0 = 0.4 / height
    for im, x0, label in (
        (im_map, 0.12, "rate map: activity / unit peak"),
        (im_sac, 0.56, "SAC: Pearson r"),
    ):
        cax = fig.add_axes((x0, y0, 0.32, h))
        cb = fig.colorbar(im, cax=cax, orientation="horizontal")
        cb.set_label(label, fontsize=7, labelpad=1)
        cb.ax.tick_params(labelsize=6)


def ratemaps_with_sacs(
    maps: np.ndarray,
    sacs: np.ndarray,
    scores: np.ndarray,
    box: Box,
    path: PathLike,
    variant_label: str,
    max_units: int = 32,
    labels: Sequence | np.ndarray | None = None,
) -> Path:
    """Rate maps beside their spatial autocorrelograms, units sorted by grid score (NaN last).

    maps (U, ny, nx): activity per bin (a.u.), NaN = unvisited; sacs (U, 2ny-1, 2nx-1): Pearson r
    per spatial lag; scores (U,): grid scores of the variant ``variant_label``; box (xmin, xmax,
    ymin, ymax) in metres; labels (U,): optional module label per unit (-1 = unassigned). At most
    ``max_units`` units (the best scored) are drawn, four per row. Each rate map is scaled to its
    own peak (the peak, in a.u., is in the title); SAC lags are in metres.
    """
    maps, sacs, scores = _checked_maps(maps, sacs, scores, labels)
    n_units, ny, nx = maps.shape
    xmin, xmax, ymin, ymax = _check_box(box)
    bx, by = (xmax - xmin) / nx, (ymax - ymin) / ny
    lag_extent = (-(nx - 1) * bx, (nx - 1) * bx, -(ny - 1) * by, (ny - 1) * by)

    order = np.argsort(np.where(np.isnan(scores), np.inf, -scores), kind="stable")[:max_units]
    fig, outer, pairs, height = _pairs_figure(len(order))
    map_ticks = ([xmin, (xmin + xmax) / 2, xmax], [ymin, (ymin + ymax) / 2, ymax])
    sac_ticks = ([lag_extent[0], 0.0, lag_extent[1]], [lag_extent[2], 0.0, lag_extent[3]])
    fig.suptitle(
        _wrap(
            f"Rate maps (x, y in m; colour = activity / unit peak) beside spatial autocorrelograms "
            f"(SAC: lag in m; colour = Pearson r). Units sorted by grid score "
            f"gs = {variant_label}; "
            f"{len(order)} of {n_units} units shown.",
            130,
        ),
        fontsize=9,
        y=1 - 0.12 / height,
        va="top",
    )
    if len(order) == 0:
        _no_data(fig.add_subplot(outer[0, :]), "no units")
    map_cmap, sac_cmap = _cmap(MAP_CMAP), _cmap(SAC_CMAP)
    im_map = im_sac = None
    for i, u in enumerate(order):
        s = scores[u]
        title = f"unit {u}  gs {s:.2f}" if np.isfinite(s) else f"unit {u}  gs n/a"
        module = _module_name(labels[u]) if labels is not None else None
        ax = fig.add_subplot(pairs[i][0, 0])
        im_map = _draw_ratemap(
            ax, maps[u], (xmin, xmax, ymin, ymax), map_cmap, map_ticks, title, module
        )
        ax2 = fig.add_subplot(pairs[i][0, 1])
        im_sac = _draw_sac(ax2, sacs[u], lag_extent, sac_cmap, sac_ticks)
    if im_map is not None:
        _map_colorbars(fig, im_map, im_sac, height)
    return _save(fig, path)


def arena_maps(
    maps_by_arena: Mapping[str, np.ndarray],
    boxes: Mapping[str, Box],
    units: Sequence[int],
    path: PathLike,
) -> Path:
    """The same units' rate maps in several arenas: rows = units, columns = arenas (dict order).

    maps_by_arena: arena name (e.g. "2 m") -> maps (U, ny, nx), activity in a.u., NaN = unvisited;
    boxes: arena name -> (xmin, xmax, ymin, ymax) in metres. Columns are as wide as their arenas, so
    all maps share one metre scale; each row (unit) shares one colour scale across arenas.
    """
    arenas = list(maps_by_arena)
    if not arenas:
        raise ValueError("maps_by_arena is empty")
    missing = [a for a in arenas if a not in boxes]
    if missing:
        raise ValueError(f"no box for arenas {missing}")
    units = [int(u) for u in units]
    data = {a: np.asarray(maps_by_arena[a], dtype=float) for a in arenas}
    bxs = {a: _check_box(boxes[a]) for a in arenas}
    for a in arenas:
        if data[a].ndim != 3:
            raise ValueError(f"maps for arena {a!r} must be (U, ny, nx), got {data[a].shape}")
        bad = [u for u in units if not 0 <= u < data[a].shape[0]]
        if bad:
            raise ValueError(f"units {bad} out of range for arena {a!r} ({data[a].shape[0]} units)")
    widths = [bxs[a][1] - bxs[a][0] for a in arenas]
    heights = [bxs[a][3] - bxs[a][2] for a in arenas]
    n_rows = max(1, len(units))
    scale = 2.2 / max(heights)
    fig = _figure(sum(widths) * scale + 1.6, n_rows * 2.3 + 0.6)
    grid = fig.add_gridspec(n_rows, len(arenas) + 1, width_ratios=[*widths, 0.06 * max(widths)])
    fig.suptitle(
        "Rate maps across arenas (x, y in m; colour = activity, a.u., per-unit scale)", fontsize=10
    )
    cmap = _cmap(MAP_CMAP)
    if not units:
        _no_data(fig.add_subplot(grid[0, :-1]), "no units")
    for r, u in enumerate(units):
        stack = [data[a][u] for a in arenas]
        finite = [m[np.isfinite(m)] for m in stack]
        vals = np.concatenate(finite) if finite else np.array([])
        lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
        if hi <= lo:
            hi = lo + 1.0
        im = None
        for c, a in enumerate(arenas):
            ax = fig.add_subplot(grid[r, c])
            im = ax.imshow(
                stack[c],
                origin="lower",
                extent=bxs[a],
                cmap=cmap,
                vmin=lo,
                vmax=hi,
                interpolation="nearest",
            )
            ax.set_xlim(bxs[a][0], bxs[a][1])
            ax.set_ylim(bxs[a][2], bxs[a][3])
            if r == 0:
                ax.set_title(f"arena {a}", fontsize=9)
            ax.set_xlabel("x (m)", fontsize=7)
            ax.set_ylabel(f"unit {u}\ny (m)" if c == 0 else "y (m)", fontsize=7)
            ax.tick_params(labelsize=6)
        cb = fig.colorbar(im, cax=fig.add_subplot(grid[r, -1]))
        cb.set_label("activity (a.u.)", fontsize=7)
        cb.ax.tick_params(labelsize=6)
    return _save(fig, path)


# -- pipeline results ----------------------------------------------------------------------------
def population_ratemaps(pop: GridPopulation, path: PathLike, variant_label: str) -> Path:
    """:func:`ratemaps_with_sacs` of a GridPopulation, module labels in the titles."""
    return ratemaps_with_sacs(
        pop.maps.maps,
        pop.sacs,
        pop.scores.scores,
        pop.maps.box,
        path,
        variant_label,
        labels=pop.modules.labels,
    )


def arenas_same_units(pops: Populations, units: Sequence[int], path: PathLike) -> Path:
    """:func:`arena_maps` of the pipeline's populations (every arena, config order)."""
    names = {a: f"{a:g} m" for a in pops.by_arena}
    return arena_maps(
        {names[a]: p.maps.maps for a, p in pops.by_arena.items()},
        {names[a]: p.maps.box for a, p in pops.by_arena.items()},
        units,
        path,
    )
