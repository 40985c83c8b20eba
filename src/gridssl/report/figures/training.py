"""Training curves: loss terms and the in-training grid fraction against step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._base import PathLike, _figure, _no_data, _save

LOSS_TERMS = ("total", "sep", "inv", "cap", "iso")


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
