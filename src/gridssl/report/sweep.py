"""The pages of sweeps and ablations: a metrics-against-grid figure and a self-contained HTML
page on the one page builder (:func:`gridssl.report.page.html_page`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import atomic_write_text
from ..sweep import FINAL, PLOTTED, SweepSpec, _label, make_trials, result_columns, trial_config
from .figures._base import new_figure, save_png
from .page import Figure, figures_html, html_page, paragraphs_html, section_html, table_html


def measured(spec: SweepSpec) -> str:
    """How the first trial of ``spec`` is measured, in words (its config's analysis section)."""
    try:
        a = trial_config(spec, make_trials(spec)[0]).analysis
    except Exception:  # a spec whose trials fail validation: they say so in the table
        return "each trial's analysis settings."
    null = f"above its 95th percentile of {a.shuffles} time shifts, " if a.shuffles else ""
    return (
        f"rate maps of smooth walks from the origin in a {a.arenas[0]:g} m arena ({a.bin_size:g} m "
        f"bins); a grid cell's min-max score (Banino annuli) is > {a.threshold:g}, {null}with >= "
        f"{a.min_fields} firing fields and not place-like."
    )


def sweep_figure(rows: list[dict], columns: list[str], path: Path) -> Path:
    """Each metric (rows of panels) against each grid key (columns), one point per finished
    trial (colour: seed), the mean over the rest of the grid and the seeds as a black bar."""
    done = [r for r in rows if r["status"] in ("ok", "stopped")]
    keys = columns or ["seed"]
    fig = new_figure(3.2 * len(keys), 2.2 * len(PLOTTED))
    axes = fig.subplots(len(PLOTTED), len(keys), squeeze=False)
    seeds = sorted({r["seed"] for r in rows})
    colours = {s: f"C{i % 10}" for i, s in enumerate(seeds)}
    for j, key in enumerate(keys):
        levels = list(dict.fromkeys(r[key] for r in rows))
        for i, metric in enumerate(PLOTTED):
            ax = axes[i, j]
            for k, level in enumerate(levels):
                pts = [
                    (r["seed"], r[metric])
                    for r in done
                    if r[key] == level and r[metric] is not None
                ]
                if not pts:
                    continue
                jitter = np.linspace(-0.15, 0.15, len(pts)) if len(pts) > 1 else [0.0]
                for (seed, y), dx in zip(pts, jitter):
                    ax.plot(k + dx, y, "o", ms=4, color=colours[seed], alpha=0.8)
                mean = float(np.mean([y for _, y in pts]))
                ax.plot([k - 0.25, k + 0.25], [mean, mean], "k-", lw=2)
            ax.set_xticks(range(len(levels)), [_label(v) for v in levels], fontsize=7)
            ax.tick_params(axis="y", labelsize=7)
            if j == 0:
                ax.set_ylabel(metric.replace("_", " "), fontsize=8)
            if i == len(PLOTTED) - 1:
                ax.set_xlabel(key, fontsize=8)
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", ls="", color=c, label=f"seed {s}") for s, c in colours.items()
    ]
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(seeds), 8), fontsize=8)
    return save_png(fig, path)


def sweep_page(
    title: str,
    paragraphs: list[str],
    tables: list[tuple[str, list[str], list[dict]]],
    figures: list[tuple[str, Path, str]],
) -> str:
    """A sweep or ablation page on the one page builder (gridssl.report.page.html_page):
    paragraphs, then figures (title, PNG path, caption), then tables (caption, columns, rows)."""
    blocks = ["\n".join(paragraphs_html(p) for p in paragraphs)]
    if figures:
        shown = [Figure(name, path, caption) for name, path, caption in figures]
        blocks.append(section_html("Figures", figures_html(shown)))
    for caption, columns, rows in tables:
        cells = [[row.get(c) for c in columns] for row in rows]  # table_html formats each value
        blocks.append(section_html(caption, table_html(columns, cells)))
    return html_page(title, blocks)


def write_sweep_report(out: Path, spec: SweepSpec, rows: list[dict], wall_s: float) -> Path:
    fig = sweep_figure(rows, spec.columns, out / "sweep.png")
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", *FINAL[1:], "pending")}
    text = [
        f"Preset {spec.preset}, steps {spec.steps or 'the preset default'}, seeds "
        f"{list(spec.seeds)}, shared overrides {spec.set or 'none'}; {len(rows)} trials: "
        + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        + f". Wall-clock of this invocation {wall_s:.0f} s.",
        f"Metrics: {measured(spec)} Each trial is a run directory under trials/.",
    ]
    page = sweep_page(
        f"gridssl sweep: {out}",
        text,
        [("Trials", result_columns(spec), rows)],
        [("Metrics against the grid", fig, "One point per trial (colour: seed); bar: mean.")],
    )
    return atomic_write_text(out / "report.html", page)
