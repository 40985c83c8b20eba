"""The unit code: every active unit's period by lattice type, and the decorrelation curve.

Inputs are :class:`gridssl.analysis.periods.UnitPeriods` and
:class:`gridssl.analysis.decorrelation.Decorrelation` (or the pipeline's
:class:`gridssl.pipeline.UnitCode`, which holds both).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.ticker import FormatStrFormatter

from ._base import PathLike, _figure, _save

LATTICE_COLOURS = {"hexagonal": "C0", "square": "C3", "bands": "C2"}


def period_histogram(ax, periods) -> None:
    """Stacked histogram of the periodic units' periods, one colour per lattice type; each
    module's median period as a dashed line."""
    p = periods.period[np.isfinite(periods.period)]
    if not len(p):
        ax.text(0.5, 0.5, "no periodic unit", ha="center", va="center", transform=ax.transAxes)
        return
    edges = np.geomspace(p.min() / 1.1, p.max() * 1.1, 25)
    stacks = [periods.period[periods.lattice == k] for k in LATTICE_COLOURS]
    ax.hist(
        stacks,
        bins=edges,
        stacked=True,
        color=list(LATTICE_COLOURS.values()),
        label=[f"{k} ({len(s)})" for k, s in zip(LATTICE_COLOURS, stacks)],
    )
    for m in periods.modules:
        ax.axvline(m.period_m, color="k", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FormatStrFormatter("%.2g"))
    ax.xaxis.set_minor_formatter(FormatStrFormatter("%.2g"))
    c = periods.counts()
    ax.set_title(
        f"{len(periods.modules)} module(s); aperiodic {c['aperiodic']}, silent {c['silent']}",
        fontsize=9,
    )
    ax.set_xlabel("period (m; hexagonal: field spacing)")
    ax.set_ylabel("units")
    ax.legend(fontsize=7)


def decorrelation_curve(ax, curves: Sequence[tuple[str, object]]) -> None:
    """d(g(x), g(x + r)) against r, one line per (label, Decorrelation); each curve's
    decorrelation length as a dot on it."""
    for i, (label, d) in enumerate(curves):
        colour = f"C{i}"
        ax.plot(
            d.r,
            d.distance,
            color=colour,
            label=f"{label}: length {d.length:.2f} m, "
            f"recurrence {d.recurrence:.2f} at {d.recurrence_r:.2f} m",
        )
        if np.isfinite(d.length):
            ax.plot([d.length], [np.interp(d.length, d.r, d.distance)], "o", color=colour)
        ax.axhline(d.plateau, color=colour, ls=":", lw=0.8)
    ax.set_xlabel("separation r (m)")
    ax.set_ylabel("RMS distance between unit\npopulation vectors")
    ax.set_ylim(0, None)
    ax.legend(fontsize=7, loc="lower right")


def unit_code(code, path: PathLike, others: Sequence[tuple[str, object]] = ()) -> Path:
    """Two panels: the period histogram of ``code.periods`` and the decorrelation curve of
    ``code.decorrelation`` beside ``others`` ((label, Decorrelation) pairs, e.g. a reference
    network's)."""
    fig = _figure(10, 3.6)
    a1, a2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    period_histogram(a1, code.periods)
    decorrelation_curve(a2, [(f"{code.arena:g} m arena", code.decorrelation), *others])
    return _save(fig, path)
