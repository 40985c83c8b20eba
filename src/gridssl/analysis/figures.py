"""Figures of the spatial-code analysis: pure presentation of arrays computed elsewhere.

Every function takes numpy arrays (or dicts of them), draws one matplotlib figure, writes it as a
PNG atomically (a temporary file in the destination folder, then ``os.replace``) and returns the
path. Nothing here computes a scientific quantity: scores, spacings, persistence diagrams etc. come
in ready-made; the only arithmetic is for display (sorting, binning into histograms, binned means).

Conventions:
- Maps use the image convention ``[y, x]`` and are drawn with ``origin="lower"`` and the arena box
  ``(xmin, xmax, ymin, ymax)`` in metres as ``extent``; unvisited bins (NaN) are drawn light grey.
- Perceptual colormaps: ``viridis`` for rate maps, ``magma`` for autocorrelograms and power,
  ``twilight`` (cyclic) for phases. Module colours are categorical (``tab10``); -1 = unassigned,
  grey.
- Every panel states its units; every grid-score label names its variant via ``variant_label``.
- No pyplot: each figure is a standalone :class:`matplotlib.figure.Figure` drawn on its own Agg
  canvas, so no global backend or figure state is touched, and it is cleared when written.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..io import atomic_write

Box = tuple[float, float, float, float]
PathLike = str | os.PathLike
#: a pre-binned curve: an object with ``centres``, ``mean``, ``sd`` arrays (K,) such as
#: ``generalisation.BinnedCurve``, or a 3-tuple (centres, mean, sd)
BinnedCurveLike = object

MAP_CMAP = "viridis"
SAC_CMAP = "magma"
POWER_CMAP = "magma"
PHASE_CMAP = "twilight"
UNASSIGNED = "0.55"
NAN_COLOUR = "0.88"
LOSS_TERMS = ("total", "sep", "inv", "cap", "iso")


# -- plumbing ------------------------------------------------------------------------------------
def _figure(width: float, height: float, layout: str | None = "constrained"):
    """A standalone Figure on an Agg canvas (no pyplot, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: PathLike) -> Path:
    """Write ``fig`` to ``path`` as PNG atomically; return the path.

    The figure is not registered with pyplot, so nothing stays open: it is freed with its last
    reference when the calling function returns.
    """
    return atomic_write(path, lambda fh: fig.savefig(fh, format="png"))


def _cmap(name: str, bad: str = NAN_COLOUR):
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad=bad)


def _wrap(text: str, width: int = 90) -> str:
    return "\n".join(textwrap.wrap(text, width)) if text else text


def _module_colours(mods: Sequence) -> dict:
    """Label -> colour: integer labels by value (stable across figures), others by position."""
    import matplotlib

    tab = matplotlib.colormaps["tab10"]
    out, i = {}, 0
    for m in mods:
        if _is_unassigned(m):
            out[m] = UNASSIGNED
        elif isinstance(m, (int, np.integer)):
            out[m] = tab(int(m) % 10)
        else:
            out[m] = tab(i % 10)
            i += 1
    return out


def _is_unassigned(label) -> bool:
    try:
        return int(label) == -1
    except (TypeError, ValueError):
        return False


def _module_name(label) -> str:
    if _is_unassigned(label):
        return "unassigned"
    if isinstance(label, (int, np.integer)):
        return f"module {int(label)}"
    return str(label)


def _module_order(labels: np.ndarray) -> list:
    """Distinct labels, assigned modules first (sorted), unassigned (-1) last."""
    uniq = list(dict.fromkeys(labels.tolist()))
    assigned = [u for u in uniq if not _is_unassigned(u)]
    try:
        assigned.sort()
    except TypeError:
        pass
    return assigned + [u for u in uniq if _is_unassigned(u)]


def _no_data(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.3")


def _small_ticks(ax, xt: Sequence[float], yt: Sequence[float]) -> None:
    """Three fixed ticks per axis in a small font (many default ticks make big grids slow)."""
    ax.set_xticks(xt, [f"{v:.2g}" for v in xt])
    ax.set_yticks(yt, [f"{v:.2g}" for v in yt])
    ax.tick_params(labelsize=5, length=2, pad=1)


def _check_box(box: Sequence[float]) -> Box:
    b = tuple(float(v) for v in box)
    if len(b) != 4 or not (b[1] > b[0] and b[3] > b[2]):
        raise ValueError(
            f"box must be (xmin, xmax, ymin, ymax) with xmax > xmin, ymax > ymin: {box}"
        )
    return b  # type: ignore[return-value]


# -- rate maps and autocorrelograms --------------------------------------------------------------
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
    xmin, xmax, ymin, ymax = _check_box(box)
    bx, by = (xmax - xmin) / nx, (ymax - ymin) / ny
    lag_extent = (-(nx - 1) * bx, (nx - 1) * bx, -(ny - 1) * by, (ny - 1) * by)

    order = np.argsort(np.where(np.isnan(scores), np.inf, -scores), kind="stable")[:max_units]
    per_row = 4
    n_rows = max(1, -(-len(order) // per_row))
    # fixed layout (constrained layout is slow with ~64 axes): inches for panels, titles, colorbars
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
        outer[i // per_row, i % per_row].subgridspec(1, 2, wspace=0.45) for i in range(len(order))
    ]
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
        m = maps[u]
        peak = np.nanmax(m) if np.isfinite(m).any() else np.nan
        scale = peak if np.isfinite(peak) and peak > 0 else 1.0
        ax = fig.add_subplot(pairs[i][0, 0])
        im_map = ax.imshow(
            m / scale,
            origin="lower",
            extent=(xmin, xmax, ymin, ymax),
            cmap=map_cmap,
            vmin=0.0,
            vmax=1.0,
            interpolation="nearest",
        )
        s = scores[u]
        title = f"unit {u}  gs {s:.2f}" if np.isfinite(s) else f"unit {u}  gs n/a"
        detail = f"peak {peak:.2g} a.u."
        if labels is not None:
            detail = f"{_module_name(labels[u])}, {detail}"
        ax.set_title(f"{title}\n{detail}", fontsize=7, loc="left")
        ax.set_xlabel("x (m)", fontsize=6, labelpad=1)
        ax.set_ylabel("y (m)", fontsize=6, labelpad=1)
        _small_ticks(ax, *map_ticks)
        ax2 = fig.add_subplot(pairs[i][0, 1])
        im_sac = ax2.imshow(
            sacs[u],
            origin="lower",
            extent=lag_extent,
            cmap=sac_cmap,
            vmin=-1.0,
            vmax=1.0,
            interpolation="nearest",
        )
        ax2.set_xlabel("lag x (m)", fontsize=6, labelpad=1)
        ax2.set_ylabel("lag y (m)", fontsize=6, labelpad=1)
        _small_ticks(ax2, *sac_ticks)
    if im_map is not None:
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


# -- populations: scores, spacing, orientation -------------------------------------------------
def score_histogram(
    scores: np.ndarray,
    path: PathLike,
    variant_label: str,
    threshold: float | None = 0.3,
    null_p95: float | None = None,
    null_scores: np.ndarray | None = None,
) -> Path:
    """Histogram of grid scores (U,) with the fixed threshold and the null's 95th percentile.

    The population and, if given, the null distribution (null_scores, any shape) are drawn as
    fractions per bin so that they compare at different sizes. NaN scores are counted in the legend
    and not drawn. Scores are dimensionless, of the variant named by ``variant_label``.
    """
    s = np.asarray(scores, dtype=float).reshape(-1)
    finite = s[np.isfinite(s)]
    null = None if null_scores is None else np.asarray(null_scores, dtype=float).reshape(-1)
    null = None if null is None else null[np.isfinite(null)]
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot()
    pool = [finite] + ([null] if null is not None and null.size else [])
    allv = np.concatenate(pool) if any(p.size for p in pool) else np.array([-1.0, 1.0])
    lo, hi = min(float(allv.min()), -0.5), max(float(allv.max()), 1.0)
    bins = np.linspace(lo, hi, 41)
    if null is not None and null.size:
        ax.hist(
            null,
            bins=bins,
            weights=np.full(null.size, 1.0 / null.size),
            color="0.6",
            alpha=0.6,
            label=f"null (n={null.size})",
        )
    if finite.size:
        n_above = (
            ""
            if threshold is None
            else (
                f", {int((finite > threshold).sum())} above {threshold:g}"
                f" ({100.0 * (finite > threshold).mean():.0f}%)"
            )
        )
        ax.hist(
            finite,
            bins=bins,
            weights=np.full(finite.size, 1.0 / finite.size),
            color="C0",
            alpha=0.8,
            histtype="stepfilled",
            edgecolor="C0",
            label=f"units (n={finite.size}{n_above})",
        )
    else:
        _no_data(ax, "no finite scores")
    if s.size - finite.size:
        ax.plot([], [], " ", label=f"{s.size - finite.size} units without a score (NaN)")
    if threshold is not None:
        ax.axvline(threshold, color="C3", ls="-", lw=1.5, label=f"threshold {threshold:g}")
    if null_p95 is not None and np.isfinite(null_p95):
        ax.axvline(
            null_p95, color="k", ls="--", lw=1.5, label=f"null 95th percentile {null_p95:.2f}"
        )
    ax.set_xlabel(_wrap(f"grid score (dimensionless): {variant_label}", 80), fontsize=9)
    ax.set_ylabel("fraction of units per bin")
    ax.set_title("Grid score distribution", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, path)


def spacing_histogram(spacing_m: np.ndarray, labels: np.ndarray, path: PathLike) -> Path:
    """Stacked histogram of grid spacing (U,) in metres coloured by module label (U,).

    Label -1 = unassigned (grey). Each module's mean spacing is marked with a dashed line and
    written in the legend, with the ratio to the previous module's mean.
    """
    sp = np.asarray(spacing_m, dtype=float).reshape(-1)
    lab = np.asarray(labels).reshape(-1)
    if lab.shape != sp.shape:
        raise ValueError(f"labels {lab.shape} and spacing_m {sp.shape} differ in shape")
    ok = np.isfinite(sp)
    fig = _figure(7.0, 4.2)
    ax = fig.add_subplot()
    if not ok.any():
        _no_data(ax, "no finite spacings")
    else:
        lo, hi = float(sp[ok].min()), float(sp[ok].max())
        pad = max(0.05 * (hi - lo), 0.02)
        bins = np.linspace(lo - pad, hi + pad, 31)
        mods = _module_order(lab[ok])
        groups = [sp[ok & (lab == m)] for m in mods]
        col = _module_colours(mods)
        ax.hist(
            groups,
            bins=bins,
            stacked=True,
            color=[col[m] for m in mods],
            label=[f"{_module_name(m)} (n={g.size})" for m, g in zip(mods, groups)],
        )
        prev = None
        for m, g in zip(mods, groups):
            if _is_unassigned(m) or not g.size:
                continue
            mu = float(g.mean())
            ratio = f", x{mu / prev:.2f}" if prev else ""
            ax.axvline(
                mu, color=col[m], ls="--", lw=1.5, label=f"{_module_name(m)} mean {mu:.3f} m{ratio}"
            )
            prev = mu
        ax.legend(fontsize=7, frameon=False)
    ax.set_xlabel("grid spacing (m)")
    ax.set_ylabel("units (count)")
    ax.set_title("Grid spacing by module", fontsize=10)
    return _save(fig, path)


def orientation_plot(orientation_deg: np.ndarray, labels: np.ndarray, path: PathLike) -> Path:
    """Lattice orientations (U,) in degrees, in [0, 60), per module label (U,); -1 = unassigned.

    Left: stacked histogram on [0, 60) degrees. Right: polar plot of 6 x orientation (so the
    60-degree-periodic angle wraps once around the circle), one ring per module.
    """
    ori = np.asarray(orientation_deg, dtype=float).reshape(-1)
    lab = np.asarray(labels).reshape(-1)
    if lab.shape != ori.shape:
        raise ValueError(f"labels {lab.shape} and orientation_deg {ori.shape} differ in shape")
    ok = np.isfinite(ori)
    o = np.mod(ori, 60.0)
    fig = _figure(9.0, 4.2)
    ax = fig.add_subplot(1, 2, 1)
    pax = fig.add_subplot(1, 2, 2, projection="polar")
    mods = _module_order(lab[ok]) if ok.any() else []
    if not mods:
        _no_data(ax, "no finite orientations")
    else:
        groups = [o[ok & (lab == m)] for m in mods]
        col = _module_colours(mods)
        ax.hist(
            groups,
            bins=np.linspace(0, 60, 31),
            stacked=True,
            color=[col[m] for m in mods],
            label=[f"{_module_name(m)} (n={g.size})" for m, g in zip(mods, groups)],
        )
        ax.legend(fontsize=7, frameon=False)
        for ring, (m, g) in enumerate(zip(mods, groups), start=1):
            pax.scatter(
                np.deg2rad(6 * g),
                np.full(g.size, ring),
                s=14,
                alpha=0.8,
                color=col[m],
                edgecolors="none",
            )
        pax.set_ylim(0, len(mods) + 0.5)
        pax.set_yticks(range(1, len(mods) + 1))
        pax.set_yticklabels([_module_name(m) for m in mods], fontsize=6)
    ax.set_xlim(0, 60)
    ax.set_xlabel("orientation (deg, mod 60)")
    ax.set_ylabel("units (count)")
    ax.set_title("Lattice orientation by module", fontsize=10)
    pax.set_xticks(np.deg2rad(np.arange(0, 360, 60)))
    pax.set_xticklabels([f"{a // 6:d} deg" for a in range(0, 360, 60)], fontsize=7)
    pax.set_title("6 x orientation on the circle (labels: orientation, deg)", fontsize=9)
    return _save(fig, path)


# -- Fourier power and phases --------------------------------------------------------------------
def fourier_panel(
    mean_power: np.ndarray,
    kx: np.ndarray,
    ky: np.ndarray,
    kvecs: np.ndarray,
    path: PathLike,
) -> Path:
    """Mean 2-D Fourier power (ky, kx) on wave-vector axes kx (kx,), ky (ky,) in rad/m.

    Colour is log10 of power (a.u.). The three wave-vectors kvecs (3, 2) rad/m and their negatives
    are marked (a hexagonal grid has six peaks), with their lengths in the legend.
    """
    p = np.asarray(mean_power, dtype=float)
    kx = np.asarray(kx, dtype=float).reshape(-1)
    ky = np.asarray(ky, dtype=float).reshape(-1)
    kv = np.asarray(kvecs, dtype=float).reshape(-1, 2)
    if p.shape != (ky.size, kx.size):
        raise ValueError(f"mean_power must be (ky, kx) = {(ky.size, kx.size)}, got {p.shape}")
    pos = p[np.isfinite(p) & (p > 0)]
    floor = float(pos.max()) * 1e-6 if pos.size else 1.0
    logp = np.log10(np.where(np.isfinite(p), np.maximum(p, floor), np.nan))
    fig = _figure(6.2, 5.2)
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(kx, ky, logp, cmap=_cmap(POWER_CMAP), shading="nearest")
    for i, k in enumerate(kv):
        colour = f"C{i}"
        ax.scatter(
            *k,
            s=90,
            facecolors="none",
            edgecolors=colour,
            lw=1.8,
            label=f"k{i + 1} = ({k[0]:.1f}, {k[1]:.1f}) rad/m, |k| {np.hypot(*k):.1f} rad/m",
        )
        ax.scatter(*(-k), s=90, facecolors="none", edgecolors=colour, lw=1.8, ls=":")
    if kv.size:
        reach = 1.6 * float(np.hypot(kv[:, 0], kv[:, 1]).max())
        if np.isfinite(reach) and reach > 0:
            ax.set_xlim(max(kx.min(), -reach), min(kx.max(), reach))
            ax.set_ylim(max(ky.min(), -reach), min(ky.max(), reach))
        ax.legend(fontsize=7, loc="upper right", framealpha=0.8)
    ax.set_aspect("equal")
    ax.set_xlabel("k_x (rad/m)")
    ax.set_ylabel("k_y (rad/m)")
    ax.set_title("Mean Fourier power of the rate maps", fontsize=10)
    cb = fig.colorbar(mesh, ax=ax, shrink=0.85)
    cb.set_label("log10 power (a.u.)")
    return _save(fig, path)


def phase_panel(phases: np.ndarray, path: PathLike, uniformity_p: float | None = None) -> Path:
    """Grid phases (U, 2) in unit-cell coordinates [0, 1)^2 (fractions of the two lattice vectors).

    Left: the phases in the unit cell, coloured by the first phase (cyclic colormap). Right: the
    marginal distributions of both phases against the uniform expectation. ``uniformity_p``, the
    p-value of a uniformity test computed elsewhere, goes in the title.
    """
    ph = np.asarray(phases, dtype=float)
    if ph.ndim != 2 or ph.shape[1] != 2:
        raise ValueError(f"phases must be (U, 2), got {ph.shape}")
    ph = np.mod(ph[np.isfinite(ph).all(1)], 1.0)
    fig = _figure(9.0, 4.2)
    ax = fig.add_subplot(1, 2, 1)
    hx = fig.add_subplot(1, 2, 2)
    sc = ax.scatter(
        ph[:, 0],
        ph[:, 1],
        c=ph[:, 0],
        cmap=PHASE_CMAP,
        vmin=0,
        vmax=1,
        s=18,
        edgecolors="k",
        linewidths=0.3,
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("phase along lattice vector a1 (cycles)")
    ax.set_ylabel("phase along lattice vector a2 (cycles)")
    cb = fig.colorbar(sc, ax=ax, shrink=0.85)
    cb.set_label("phase a1 (cycles)")
    if ph.shape[0]:
        bins = np.linspace(0, 1, 11)
        w = np.full(ph.shape[0], 1.0 / ph.shape[0])
        hx.hist(
            [ph[:, 0], ph[:, 1]],
            bins=bins,
            weights=[w, w],
            color=["C0", "C1"],
            label=["phase a1", "phase a2"],
        )
        hx.axhline(0.1, color="k", ls="--", lw=1, label="uniform")
        hx.legend(fontsize=7, frameon=False)
    else:
        _no_data(hx, "no finite phases")
    hx.set_xlabel("phase (cycles)")
    hx.set_ylabel("fraction of units per bin")
    title = f"Grid phases of {ph.shape[0]} units"
    if uniformity_p is not None:
        title += f"; uniformity test p = {uniformity_p:.3g}"
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


# -- topology ------------------------------------------------------------------------------------
def torus_panel(
    embedding: np.ndarray,
    diagrams: Sequence[np.ndarray],
    betti: Sequence[int],
    path: PathLike,
    null_thresholds: Sequence[float | None] | None = None,
    max_bars: int = 25,
) -> Path:
    """A 3-D embedding (P, 3) of population vectors beside the persistence barcodes.

    diagrams: one (n_i, 2) array of (birth, death) per homology dimension (H0, H1, H2), in the
    filtration's distance units (those of the embedding, a.u.); death may be inf. Bars are drawn
    as lifetimes (death - birth) from 0, longest first, at most ``max_bars`` per dimension; infinite
    lifetimes run to the axis maximum and end in an arrow. ``null_thresholds``: per dimension the
    null's lifetime threshold (e.g. the 95th percentile of the longest shuffled bar), a dashed line.
    ``betti``: the Betti numbers estimated elsewhere, shown in the title.
    """
    emb = np.asarray(embedding, dtype=float)
    if emb.ndim != 2 or emb.shape[1] < 3:
        raise ValueError(f"embedding must be (P, 3), got {emb.shape}")
    dgms = [np.asarray(d, dtype=float).reshape(-1, 2) for d in diagrams]
    fig = _figure(11.0, 5.2)
    grid = fig.add_gridspec(1, 2, width_ratios=[1.0, 1.15])
    ax3 = fig.add_subplot(grid[0, 0], projection="3d")
    order = np.arange(emb.shape[0])
    sc = ax3.scatter(
        emb[:, 0], emb[:, 1], emb[:, 2], c=order, cmap=MAP_CMAP, s=4, alpha=0.7, depthshade=False
    )
    span = np.ptp(emb[:, :3], axis=0) if emb.shape[0] else np.ones(3)
    ax3.set_box_aspect(np.where(span > 0, span, 1.0))
    ax3.set_xlabel("PC1 (a.u.)", fontsize=8)
    ax3.set_ylabel("PC2 (a.u.)", fontsize=8)
    ax3.set_zlabel("PC3 (a.u.)", fontsize=8)
    ax3.tick_params(labelsize=6)
    ax3.set_title(f"Population activity, {emb.shape[0]} points", fontsize=9)
    cb = fig.colorbar(sc, ax=ax3, shrink=0.6, pad=0.1)
    cb.set_label("sample index (time order)", fontsize=8)

    ax = fig.add_subplot(grid[0, 1])
    colours = ["C0", "C1", "C2", "C4", "C5"]
    lifetimes = [d[:, 1] - d[:, 0] for d in dgms]
    finite = np.concatenate([lt[np.isfinite(lt)] for lt in lifetimes] or [np.array([])])
    thr = list(null_thresholds) if null_thresholds is not None else []
    thr_f = [t for t in thr if t is not None and np.isfinite(t)]
    top = max([*finite.tolist(), *thr_f, 1e-9]) * 1.15
    row = 0
    ticks, tick_labels = [], []
    for dim, lt in enumerate(lifetimes):
        lt = np.sort(lt)[::-1][:max_bars]
        start = row
        colour = colours[dim % len(colours)]
        for v in lt:
            inf = not np.isfinite(v)
            ax.plot([0, top if inf else v], [row, row], color=colour, lw=2.2, solid_capstyle="butt")
            if inf:
                ax.plot(top, row, marker=">", color=colour, ms=5, clip_on=False)
            row += 1
        if len(lt) == 0:
            ax.text(0.01 * top, row, f"H{dim}: no bars", fontsize=7, va="center", color="0.4")
            row += 1
        if dim < len(thr) and thr[dim] is not None and np.isfinite(thr[dim]):
            ax.plot(
                [thr[dim]] * 2,
                [start - 0.5, row - 0.5],
                color="k",
                ls="--",
                lw=1.2,
                label="null threshold",
            )
        ticks.append((start + row - 1) / 2)
        tick_labels.append(f"H{dim} ({len(lifetimes[dim])})")
        ax.plot([], [], color=colour, lw=3, label=f"H{dim}")
        row += 1  # gap between dimensions
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax.legend(uniq.values(), uniq.keys(), fontsize=7, loc="lower right", frameon=False)
    ax.set_xlim(0, top * 1.02)
    ax.set_ylim(row - 0.5, -1)
    ax.set_yticks(ticks)
    ax.set_yticklabels(tick_labels, fontsize=8)
    ax.set_xlabel("bar lifetime, death - birth (embedding distance, a.u.)")
    ax.set_title(
        f"Persistence barcodes (longest {max_bars} per dimension; arrow = infinite)", fontsize=9
    )
    bt = ", ".join(str(int(b)) for b in betti)
    fig.suptitle(
        f"Topology: Betti numbers (b0, b1, b2) = ({bt}); a torus is (1, 2, 1)", fontsize=10
    )
    return _save(fig, path)


# -- generalisation and separation ---------------------------------------------------------------
def _binned(x: np.ndarray, y: np.ndarray, n_bins: int):
    """Bin centres, means and s.d. of y in n_bins equal-width bins of x (empty bins dropped)."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if not x.size:
        return np.array([]), np.array([]), np.array([])
    edges = np.linspace(x.min(), x.max() if x.max() > x.min() else x.min() + 1, n_bins + 1)
    idx = np.clip(np.digitize(x, edges) - 1, 0, n_bins - 1)
    cnt = np.bincount(idx, minlength=n_bins)
    s1 = np.bincount(idx, y, minlength=n_bins)
    s2 = np.bincount(idx, y * y, minlength=n_bins)
    keep = cnt > 0
    mean = s1[keep] / cnt[keep]
    sd = np.sqrt(np.maximum(s2[keep] / cnt[keep] - mean**2, 0.0))
    return ((edges[:-1] + edges[1:]) / 2)[keep], mean, sd


def _subsample(n: int, k: int = 3000) -> np.ndarray:
    return np.arange(n) if n <= k else np.linspace(0, n - 1, k).astype(int)


def _as_curve(obj) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(centres, mean, sd) of a pre-binned curve, else None.

    A pre-binned curve is an object with ``centres``, ``mean`` and ``sd`` attributes (such as
    ``generalisation.BinnedCurve``) or a 3-tuple (centres, mean, sd) of equal-length arrays.
    """
    if all(hasattr(obj, a) for a in ("centres", "mean", "sd")):
        parts = (obj.centres, obj.mean, obj.sd)
    elif isinstance(obj, tuple) and len(obj) == 3:
        parts = obj
    else:
        return None
    c, mu, sd = (np.asarray(v, dtype=float).reshape(-1) for v in parts)
    if not (c.shape == mu.shape == sd.shape):
        raise ValueError(f"curve arrays differ in shape: {c.shape}, {mu.shape}, {sd.shape}")
    ok = np.isfinite(c) & np.isfinite(mu)  # empty bins (NaN mean) are not drawn
    return c[ok], mu[ok], np.nan_to_num(sd[ok])


def _curve_or_points(obj, y, n_bins: int, name: str):
    """(points (x, y) or None, (centres, mean, sd)) from a pre-binned curve or raw samples."""
    curve = _as_curve(obj)
    if curve is not None:
        return None, curve
    if isinstance(obj, tuple) and len(obj) == 2 and y is None:
        obj, y = obj
    if y is None:
        raise ValueError(f"{name}: raw samples need neural distances (or pass a binned curve)")
    x = np.asarray(obj, dtype=float).reshape(-1)
    y = np.asarray(y, dtype=float).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"{name}: separation {x.shape} and neural distance {y.shape} differ")
    return (x, y), _binned(x, y, n_bins)


def generalisation_panel(
    dist_m: np.ndarray | Mapping[str, tuple | BinnedCurveLike] | BinnedCurveLike,
    neural_dist: np.ndarray | Mapping[str, tuple | BinnedCurveLike] | None,
    path: PathLike,
    train_extent_m: float = 1.1,
    n_bins: int = 25,
) -> Path:
    """Neural distance d(g(0), g(x)) (a.u.) against distance |x| (m) from the training origin.

    Accepted inputs:
    - ``dist_m`` (K,) and ``neural_dist`` (K,): raw samples;
    - a dict arena -> (dist_m (K,), neural (K,)) passed as either argument (the other None);
    - pre-binned curves: an object with ``centres`` (m), ``mean`` and ``sd`` (a.u.), e.g.
      ``generalisation.BinnedCurve``, or a 3-tuple (centres, mean, sd), alone or as dict values.
    Raw samples are drawn faintly and binned into ``n_bins`` bins; every curve is drawn as mean
    +- s.d. (NaN bins skipped). The training extent ``|x| <= train_extent_m`` is shaded.
    """
    if isinstance(dist_m, Mapping):
        items = [(str(k), v, None) for k, v in dist_m.items()]
    elif isinstance(neural_dist, Mapping):
        items = [(str(k), v, None) for k, v in neural_dist.items()]
    else:
        items = [("", dist_m, neural_dist)]
    fig = _figure(7.0, 4.4)
    ax = fig.add_subplot()
    ax.axvspan(
        0,
        train_extent_m,
        color="0.85",
        zorder=0,
        label=f"training extent (|x| <= {train_extent_m:g} m)",
    )
    for i, (name, obj, y) in enumerate(items):
        points, (c, mu, sd) = _curve_or_points(obj, y, n_bins, name or "generalisation_panel")
        if points is not None:
            sub = _subsample(points[0].size)
            ax.scatter(*(v[sub] for v in points), s=3, alpha=0.15, color=f"C{i}", lw=0)
        label = f"arena {name}: mean +- s.d." if name else "mean +- s.d."
        ax.plot(c, mu, color=f"C{i}", lw=1.8, label=label)
        ax.fill_between(c, mu - sd, mu + sd, color=f"C{i}", alpha=0.25, lw=0)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("distance from training origin |x| (m)")
    ax.set_ylabel("neural distance ||g(x) - g(0)|| (a.u.)")
    ax.set_title("Generalisation beyond the training arena", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, path)


def separation_panel(
    spatial_sep: np.ndarray | BinnedCurveLike,
    temporal_sep: np.ndarray | BinnedCurveLike,
    neural_dist: np.ndarray | None,
    path: PathLike,
    temporal_unit: str = "steps",
    n_bins: int = 20,
) -> Path:
    """Neural distance (a.u.) against spatial separation (m) and temporal separation
    (``temporal_unit``): two panels of binned means +- s.d.

    Either raw pair samples, ``spatial_sep`` (K,), ``temporal_sep`` (K,) and ``neural_dist`` (K,)
    (drawn faintly, then binned into ``n_bins`` bins), or ``neural_dist=None`` and two pre-binned
    curves (objects with ``centres``, ``mean``, ``sd`` such as ``generalisation.BinnedCurve``, or
    3-tuples (centres, mean, sd)).
    """
    fig = _figure(10.0, 4.2)
    for j, (obj, xlabel) in enumerate(
        [
            (spatial_sep, "spatial separation (m)"),
            (temporal_sep, f"temporal separation ({temporal_unit})"),
        ]
    ):
        points, (c, mu, sd) = _curve_or_points(obj, neural_dist, n_bins, xlabel)
        ax = fig.add_subplot(1, 2, j + 1)
        if points is not None:
            sub = _subsample(points[0].size)
            ax.scatter(*(v[sub] for v in points), s=3, alpha=0.15, color=f"C{j}", lw=0)
        if c.size > 30:  # many bins: a band reads better than a forest of error bars
            ax.plot(c, mu, color=f"C{j}", lw=1.5, label="binned mean +- s.d.")
            ax.fill_between(c, mu - sd, mu + sd, color=f"C{j}", alpha=0.25, lw=0)
        else:
            ax.errorbar(
                c,
                mu,
                yerr=sd,
                color=f"C{j}",
                lw=1.5,
                capsize=2,
                marker="o",
                ms=3,
                label="binned mean +- s.d.",
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("neural distance (a.u.)")
        ax.legend(fontsize=8, frameon=False)
        if not c.size:
            _no_data(ax)
    fig.suptitle("Neural distance against spatial and temporal separation", fontsize=10)
    return _save(fig, path)


# -- training ------------------------------------------------------------------------------------
def training_curves(metrics: Sequence[Mapping[str, float]], path: PathLike) -> Path:
    """Loss terms (total, sep, inv, cap, iso; a.u.) against optimiser step, one panel each, and
    ``eval_grid_fraction`` (fraction of units, 0-1) against step when present.

    metrics: rows as in ``metrics.jsonl`` (each with ``step``); missing keys are skipped per row.
    """
    rows = [m for m in metrics if "step" in m]
    keys = [k for k in LOSS_TERMS if any(_num(m.get(k)) for m in rows)]
    has_eval = any(_num(m.get("eval_grid_fraction")) for m in rows)
    panels = keys + (["eval_grid_fraction"] if has_eval else [])
    n = max(1, len(panels))
    cols = min(3, n)
    nrows = -(-n // cols)
    fig = _figure(4.0 * cols, 3.0 * nrows + 0.4)
    fig.suptitle("Training curves", fontsize=10)
    if not panels:
        _no_data(fig.add_subplot(), "no loss terms logged")
    for i, k in enumerate(panels):
        ax = fig.add_subplot(nrows, cols, i + 1)
        pts = [(float(m["step"]), float(m[k])) for m in rows if _num(m.get(k))]
        st, v = np.array(pts).T
        ax.plot(
            st,
            v,
            color="C3" if k == "eval_grid_fraction" else "C0",
            lw=1.2,
            marker="o" if len(pts) < 30 else None,
            ms=3,
        )
        ax.set_xlabel("step")
        if k == "eval_grid_fraction":
            ax.set_ylabel("grid fraction (of units)")
            ax.set_ylim(-0.02, 1.02)
            ax.set_title("eval grid fraction", fontsize=9)
        else:
            ax.set_ylabel(f"{k} loss (a.u.)")
            ax.set_title(f"loss: {k}", fontsize=9)
            if (v > 0).all() and v.max() / v.min() > 100:
                ax.set_yscale("log")
    return _save(fig, path)


def _num(v) -> bool:
    """True for a finite real number (bools excluded)."""
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and np.isfinite(v)
