"""The modules map: sweep trials as a phase diagram and a table (docs/MODULES.md). Study code
of the modules search, built on gridssl's public API (``python experiments/modules_map.py``).

    results.csv of one or more sweeps -> trials (one dict per finished trial)
        -> phase_figure: one heat map per metric; blocks by two outer keys (N across, T down),
           and inside each block a small grid over up to two inner keys (e.g. w_cap x the
           isometry range); a cell's colour and number are the mean over its seeds
        -> trials_markdown: every trial as one table row

A cell with no finished trial is grey. Metrics are those of :data:`gridssl.sweep.METRICS`.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gridssl import rundir
from gridssl.sweep import FINAL, SweepSpec, load_spec, make_trials

PHASE_METRICS = (
    ("n_distinct_periods", "modules (distinct periods)", "viridis", (0, 3)),
    ("grid_fraction", "grid fraction", "magma", (0, 1)),
    ("place_fraction", "place-like fraction", "cividis", (0, 1)),
)


def _number(text: str):
    """A results.csv cell as a float, a list of floats (``a;b``) or the text itself."""
    if text == "":
        return None
    if ";" in text:
        return [_number(t) for t in text.split(";")]
    try:
        return float(text)
    except ValueError:
        return text


def read_trials(paths: Sequence[str | Path], status: Sequence[str] = FINAL) -> list[dict]:
    """The rows of one or more sweeps' results.csv whose status is in ``status`` (numbers parsed;
    a one-entry list column such as ``module_periods_m`` stays a list). Each row gets
    ``sweep``: the name of the folder that holds its results.csv, and, where the folder holds the
    sweep's ``sweep.yaml``, every config override of the trial (shared ``set``, condition and
    grid values) as a column, so trials of condition-style sweeps land in the same map."""
    rows = []
    for p in paths:
        p = Path(p)
        p = p / rundir.RESULTS if p.is_dir() else p
        spec_path = p.parent / rundir.SPEC
        overrides = (
            {t.name: t.overrides for t in make_trials(load_spec(spec_path))}
            if spec_path.exists()
            else {}
        )
        with open(p, newline="") as f:
            for raw in csv.DictReader(f):
                if raw["status"] not in status:
                    continue
                extra = {k: _number(str(v)) for k, v in overrides.get(raw["trial"], {}).items()}
                row = extra | {k: _number(v) for k, v in raw.items()}
                row["status"], row["trial"], row["sweep"] = (
                    raw["status"],
                    raw["trial"],
                    p.parent.name,
                )
                for k in ("module_periods_m", "module_period_ratios", "module_sizes"):
                    if isinstance(row.get(k), float):
                        row[k] = [row[k]]
                if "module_sizes" in row:
                    row["goal_modules"] = goal_modules(row["module_periods_m"], row["module_sizes"])
                rows.append(row)
    return rows


GOAL_RATIO = 1.3  # issue 11: neighbouring module periods at least this far apart
GOAL_SIZE = 7  # and at least this many grid cells per module


def goal_modules(
    periods: Sequence[float] | None,
    sizes: Sequence[int] | None,
    min_ratio: float = GOAL_RATIO,
    min_size: int = GOAL_SIZE,
) -> int:
    """Modules that count for issue 11's goal: among modules of at least ``min_size`` grid
    cells, in order of period, those at least ``min_ratio`` times the last counted period."""
    kept = sorted(p for p, n in zip(periods or [], sizes or []) if n >= min_size)
    count, last = 0, 0.0
    for p in kept:
        if count == 0 or p >= min_ratio * last:
            count, last = count + 1, p
    return count


def _values(rows: list[dict], key: str | None) -> list:
    if key is None:
        return [None]
    return sorted({r.get(key) for r in rows if r.get(key) is not None})


def cell_means(
    rows: list[dict], keys: Sequence[str | None], metric: str
) -> dict[tuple, tuple[float, int]]:
    """Mean of ``metric`` over the rows (seeds) at each combination of ``keys`` -> (mean, n).
    A key of None is ignored (its slot in the tuple is None)."""
    groups: dict[tuple, list[float]] = {}
    for r in rows:
        v = r.get(metric)
        if v is None or isinstance(v, (list, str)):
            continue
        groups.setdefault(tuple(None if k is None else r.get(k) for k in keys), []).append(v)
    return {k: (float(np.mean(v)), len(v)) for k, v in groups.items()}


def phase_grid(
    rows: list[dict],
    metric: str,
    x: str = "model.n_units",
    y: str = "data.seq_len",
    inner_x: str | None = "loss.w_cap",
    inner_y: str | None = "loss.iso_max_step",
) -> tuple[np.ndarray, np.ndarray]:
    """The heat map of one metric: (mean over seeds, number of seeds), each (ny, nx) with
    nx = |x| |inner_x| (x-major) and ny = |y| |inner_y|; NaN and 0 where no trial finished."""
    xs, ys = _values(rows, x), _values(rows, y)
    ixs, iys = _values(rows, inner_x), _values(rows, inner_y)
    means = cell_means(rows, (x, y, inner_x, inner_y), metric)
    grid = np.full((len(ys) * len(iys), len(xs) * len(ixs)), np.nan)
    counts = np.zeros(grid.shape, int)
    for (i, xv), (j, yv), (a, ix), (b, iy) in itertools.product(
        enumerate(xs), enumerate(ys), enumerate(ixs), enumerate(iys)
    ):
        if (xv, yv, ix, iy) in means:
            r, c = j * len(iys) + b, i * len(ixs) + a
            grid[r, c], counts[r, c] = means[(xv, yv, ix, iy)]
    return grid, counts


def phase_figure(
    rows: list[dict],
    path: str | Path,
    x: str = "model.n_units",
    y: str = "data.seq_len",
    inner_x: str | None = "loss.w_cap",
    inner_y: str | None = "loss.iso_max_step",
    metrics: Sequence[tuple[str, str, str, tuple[float, float]]] = PHASE_METRICS,
    title: str = "",
) -> Path:
    """One heat map per metric: blocks of x (across) by y (down), each block a grid of inner_x
    (across) by inner_y (down). Cells show the mean over seeds (and n when more than one)."""
    import matplotlib

    from gridssl.report.figures._base import new_figure, save_png

    xs, ys = _values(rows, x), _values(rows, y)
    ixs, iys = _values(rows, inner_x), _values(rows, inner_y)
    nx, ny = len(xs) * len(ixs), len(ys) * len(iys)
    fig = new_figure((2.5 + 0.75 * nx) * len(metrics), 2.6 + 0.6 * ny, layout=None)
    fig.set_dpi(110)
    axes = fig.subplots(1, len(metrics), squeeze=False)
    for ax, (metric, label, cmap, (lo, hi)) in zip(axes[0], metrics):
        grid, counts = phase_grid(rows, metric, x, y, inner_x, inner_y)
        for row, col in zip(*np.nonzero(counts)):
            m, n = grid[row, col], counts[row, col]
            text = (f"{m:.0f}" if hi > 1 and m == round(m) else f"{m:.2f}") + (
                f"\nn={n}" if n > 1 else ""
            )
            bright = hi > lo and (m - lo) / (hi - lo) > 0.6
            ax.text(col, row, text, ha="center", va="center", fontsize=7,
                    color="black" if bright else "white")  # fmt: skip
        cm = matplotlib.colormaps[cmap].with_extremes(bad="0.85")
        im = ax.imshow(np.ma.masked_invalid(grid), cmap=cm, vmin=lo, vmax=hi, aspect="auto")
        for i in range(1, len(xs)):
            ax.axvline(i * len(ixs) - 0.5, color="white", lw=3)
        for j in range(1, len(ys)):
            ax.axhline(j * len(iys) - 0.5, color="white", lw=3)
        ax.set_xticks(range(nx), [_tick(x, xv, inner_x, ix) for xv in xs for ix in ixs],
                      fontsize=7, rotation=90)  # fmt: skip
        ax.set_yticks(range(ny), [_tick(y, yv, inner_y, iy) for yv in ys for iy in iys],
                      fontsize=7)  # fmt: skip
        ax.set_title(label, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.04)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_png(fig, Path(path))  # atomic; no pyplot state


def _short(key: str | None) -> str:
    return "" if key is None else key.rsplit(".", 1)[-1]


def _tick(outer: str, ov, inner: str | None, iv) -> str:
    text = f"{_short(outer)}={_fmt(ov)}"
    return text if inner is None else f"{text}, {_short(inner)}={_fmt(iv)}"


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v)
    if isinstance(v, float):
        if math.isfinite(v) and v == int(v) and abs(v) < 1e6:
            return str(int(v))
        return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"
    return str(v)


def trials_markdown(rows: list[dict], columns: Sequence[str]) -> str:
    """Every trial as a row of a Markdown table (lists joined with commas; empty: blank)."""
    head = "| " + " | ".join(_short(c) or c for c in columns) + " |"
    rule = "|" + "---|" * len(columns)
    body = ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def followup_spec(
    sweep_dir: str | Path, seeds: Sequence[int], min_periods: int = 2
) -> SweepSpec | None:
    """A sweep spec that reruns, on ``seeds``, every configuration of the sweep in ``sweep_dir``
    whose finished trial showed at least ``min_periods`` distinct module periods: one condition
    per configuration (named after its trial, without the seed, "=" as "-"), the original
    preset, steps and shared overrides. None when no configuration qualifies."""
    sweep_dir = Path(sweep_dir)
    spec = load_spec(sweep_dir / rundir.SPEC)
    hits = {
        r["trial"]
        for r in read_trials([sweep_dir], status=("ok",))
        if (r.get("n_distinct_periods") or 0) >= min_periods
    }
    conditions = {}
    for t in make_trials(spec):
        if t.name in hits:
            own = {k: v for k, v in t.overrides.items() if spec.set.get(k, object()) != v}
            conditions[t.name.rsplit("_seed=", 1)[0].replace("=", "-")] = own
    if not conditions:
        return None
    return SweepSpec(spec.preset, tuple(seeds), spec.steps, dict(spec.set), {}, conditions)
