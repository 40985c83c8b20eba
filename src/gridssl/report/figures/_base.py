"""Plumbing shared by the figure modules: standalone Agg figures, atomic PNG writes, colours.

Conventions:
- Maps use the image convention ``[y, x]`` and are drawn with ``origin="lower"`` and the arena box
  ``(xmin, xmax, ymin, ymax)`` in metres as ``extent``; unvisited bins (NaN) are drawn light grey.
- Perceptual colormaps: ``viridis`` for rate maps, ``magma`` for autocorrelograms and power,
  ``twilight`` (cyclic) for phases. Module colours are categorical (``tab10``); -1 = unassigned,
  grey.
- No pyplot: each figure is a standalone :class:`matplotlib.figure.Figure` drawn on its own Agg
  canvas, so no global backend or figure state is touched, and it is cleared when written.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ...io import atomic_write

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


def _figure(width: float, height: float, layout: str | None = "constrained"):
    """A standalone Figure on an Agg canvas (no pyplot, no global state)."""
    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: PathLike) -> Path:
    """Write ``fig`` to ``path`` as PNG atomically; return the path.

    The figure is not registered with pyplot, so nothing stays open: it is freed with its last
    reference when the calling function returns.
    """
    return atomic_write(path, lambda fh: fig.savefig(fh, format="png"))


#: the public names of the two helpers, for figures drawn outside this package (sweep, ablation)
new_figure = _figure
save_png = _save


def _cmap(name: str, bad: str = NAN_COLOUR):
    return matplotlib.colormaps[name].with_extremes(bad=bad)


def _wrap(text: str, width: int = 90) -> str:
    return "\n".join(textwrap.wrap(text, width)) if text else text


def _module_colours(mods: Sequence) -> dict:
    """Label -> colour: integer labels by value (stable across figures), others by position."""
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
