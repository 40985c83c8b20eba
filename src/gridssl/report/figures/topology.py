"""A population's activity embedded in 3-D beside its persistence barcodes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._base import MAP_CMAP, PathLike, _figure, _save

if TYPE_CHECKING:  # type hints only
    from ...pipeline import Topology


def _embedding_axes(fig, spec, emb: np.ndarray) -> None:
    """3-D scatter of the embedding emb (P, >= 3), a.u., coloured by sample index, with colorbar."""
    ax3 = fig.add_subplot(spec, projection="3d")
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


def _draw_bars(ax, lt: np.ndarray, dim: int, row: int, top: float, colour, threshold) -> int:
    """One homology dimension's bars ``lt`` (n,), longest first, from ``row`` down; returns the
    row after them.

    Infinite lifetimes run to ``top`` and end in an arrow; no bars gives a note. ``threshold``
    (None or a lifetime, a.u.) is drawn as a dashed line over the dimension's rows when finite.
    """
    start = row
    for v in lt:
        inf = not np.isfinite(v)
        ax.plot([0, top if inf else v], [row, row], color=colour, lw=2.2, solid_capstyle="butt")
        if inf:
            ax.plot(top, row, marker=">", color=colour, ms=5, clip_on=False)
        row += 1
    if len(lt) == 0:
        ax.text(0.01 * top, row, f"H{dim}: no bars", fontsize=7, va="center", color="0.4")
        row += 1
    if threshold is not None and np.isfinite(threshold):
        ax.plot(
            [threshold] * 2,
            [start - 0.5, row - 0.5],
            color="k",
            ls="--",
            lw=1.2,
            label="null threshold",
        )
    return row


def _barcode_axes(fig, spec, dgms: list[np.ndarray], null_thresholds, max_bars: int) -> None:
    """Persistence barcodes of the diagrams dgms (one (n_i, 2) per dimension) as lifetimes, at
    most ``max_bars`` per dimension, with the null thresholds (see :func:`torus_panel`)."""
    ax = fig.add_subplot(spec)
    colours = ["C0", "C1", "C2", "C4", "C5"]
    lifetimes = [d[:, 1] - d[:, 0] for d in dgms]
    finite = np.concatenate([lt[np.isfinite(lt)] for lt in lifetimes] or [np.array([])])
    thr = list(null_thresholds) if null_thresholds is not None else []
    thr_f = [t for t in thr if t is not None and np.isfinite(t)]
    top = max([*finite.tolist(), *thr_f, 1e-9]) * 1.15
    row = 0
    ticks, tick_labels = [], []
    for dim, lt in enumerate(lifetimes):
        start = row
        colour = colours[dim % len(colours)]
        threshold = thr[dim] if dim < len(thr) else None
        row = _draw_bars(ax, np.sort(lt)[::-1][:max_bars], dim, row, top, colour, threshold)
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
    _embedding_axes(fig, grid[0, 0], emb)
    _barcode_axes(fig, grid[0, 1], dgms, null_thresholds, max_bars)
    bt = ", ".join(str(int(b)) for b in betti)
    fig.suptitle(
        f"Topology: Betti numbers (b0, b1, b2) = ({bt}); a torus is (1, 2, 1)", fontsize=10
    )
    return _save(fig, path)


# -- pipeline results ----------------------------------------------------------------------------
def topology_torus(topo: Topology, path: PathLike) -> Path:
    """:func:`torus_panel` of the pipeline's topology stage (its spectral embedding and null)."""
    r = topo.result
    return torus_panel(topo.embedding3, r.diagrams, r.betti, path, null_thresholds=r.thresholds)
