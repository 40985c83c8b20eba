"""A population's grid scores against the null, spacing and orientation by module."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...config import GRID_THRESHOLD
from ._base import (
    PathLike,
    _figure,
    _is_unassigned,
    _module_colours,
    _module_name,
    _module_order,
    _no_data,
    _save,
    _wrap,
)

if TYPE_CHECKING:  # type hints only
    from ...analysis.population import GridPopulation


def score_histogram(
    scores: np.ndarray,
    path: PathLike,
    variant_label: str,
    threshold: float | None = GRID_THRESHOLD,
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


# -- pipeline results ----------------------------------------------------------------------------
def population_scores(pop: GridPopulation, path: PathLike, variant_label: str) -> Path:
    """:func:`score_histogram` of a GridPopulation: its threshold and its null, if any."""
    return score_histogram(
        pop.scores.scores,
        path,
        variant_label,
        threshold=pop.threshold,
        null_p95=None if pop.null is None else pop.null.pooled,
        null_scores=None if pop.null is None else pop.null.scores,
    )


def population_spacing(pop: GridPopulation, path: PathLike) -> Path:
    """:func:`spacing_histogram` of a GridPopulation by module."""
    return spacing_histogram(pop.lattice.spacing, pop.modules.labels, path)


def population_orientation(pop: GridPopulation, path: PathLike) -> Path:
    """:func:`orientation_plot` of a GridPopulation by module."""
    return orientation_plot(pop.lattice.orientation, pop.modules.labels, path)
