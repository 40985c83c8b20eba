"""The ablation page: representative maps and metrics with bootstrap CIs per condition."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import rundir
from ..ablate import (
    ABLATIONS,
    BOOTSTRAP_SEED,
    METRICS,
    N_BOOT,
    representative,
    table_columns,
    trial_period,
)
from ..io import atomic_write_text
from ..sweep import SweepSpec, result_columns
from .figures._base import new_figure, save_png
from .sweep import sweep_page


def ablation_figure(rows: list[dict], table: list[dict], out: Path, path: Path) -> Path:
    """Left: per condition, the best unit's rate map and SAC of its lowest-seed finished trial.
    Right: each metric as bars (mean over seeds) with 95% bootstrap CIs, seeds as dots."""
    fig = new_figure(13, 1.5 * len(ABLATIONS))
    left, right = fig.subfigures(1, 2, width_ratios=[1, 2])
    maps_ax = left.subplots(len(ABLATIONS), 2, squeeze=False)
    for i, cond in enumerate(ABLATIONS):
        done = sorted(
            (r for r in rows if r["condition"] == cond and r["status"] == "ok"),
            key=lambda r: r["seed"],
        )
        a_map, a_sac = maps_ax[i]
        for ax in (a_map, a_sac):
            ax.set_xticks([])
            ax.set_yticks([])
        a_map.set_ylabel(cond, fontsize=8)
        if not done:
            a_map.text(0.5, 0.5, "no finished trial", ha="center", va="center", fontsize=7)
            continue
        m, sac, box, score = representative(out / rundir.TRIALS / done[0]["trial"])
        a_map.imshow(m, origin="lower", extent=box, cmap="viridis")
        a_sac.imshow(sac, origin="lower", cmap="magma", vmin=-1, vmax=1)
        a_map.set_title(f"seed {done[0]['seed']}", fontsize=7)
        a_sac.set_title(f"score {score:.2f}", fontsize=7)
    left.suptitle("best unit, lowest seed (primary arena)", fontsize=8)
    bars = right.subplots(3, 2, squeeze=False).ravel()
    x = np.arange(len(ABLATIONS))
    for ax, metric in zip(bars, METRICS):
        mean = np.array(
            [np.nan if t[f"{metric}_mean"] is None else t[f"{metric}_mean"] for t in table]
        )
        lo = np.array(
            [np.nan if t[f"{metric}_ci_lo"] is None else t[f"{metric}_ci_lo"] for t in table]
        )
        hi = np.array(
            [np.nan if t[f"{metric}_ci_hi"] is None else t[f"{metric}_ci_hi"] for t in table]
        )
        ax.bar(x, np.nan_to_num(mean), color="0.75")
        ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], fmt="none", ecolor="k", capsize=3)
        for k, cond in enumerate(ABLATIONS):
            ys = [
                trial_period(r) if metric == "period_m" else r.get(metric)
                for r in rows
                if r["condition"] == cond and r["status"] == "ok"
            ]
            ys = [y for y in ys if y is not None]
            ax.plot(np.full(len(ys), k), ys, "o", ms=3, color="C0")
        ax.set_xticks(x, list(ABLATIONS), rotation=60, fontsize=7, ha="right")
        ax.set_title(metric.replace("_", " "), fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    right.suptitle("mean over seeds, 95% bootstrap CI; dots: seeds", fontsize=8)
    return save_png(fig, path)


def write_ablation_page(
    out: Path, spec: SweepSpec, rows: list[dict], table: list[dict], fig: Path, wall: float
) -> Path:
    """out/ablations.html: the conditions table, the trials table and the figure."""
    train = sum(r["train_s"] or 0 for r in rows)
    text = [
        f"Preset {spec.preset}, {spec.steps or 'the preset default'} steps, seeds "
        f"0-{len(spec.seeds) - 1}: every "
        "condition beside the paper's claim (docs/METHOD.md section 1, item 4). Wall-clock of "
        f"this invocation {wall:.0f} s; summed training time of the trials {train:.0f} s.",
        "Means over the seeds whose trial finished, with 95% percentile-bootstrap CIs (seeds "
        f"resampled, {N_BOOT} resamples, generator seed {BOOTSTRAP_SEED}). period_m: mean module "
        "period of a trial with modules. Representative maps: the best-scoring unit of the "
        "lowest-seed trial of each condition.",
    ]
    page = sweep_page(
        f"gridssl ablate: {out}",
        text,
        [
            ("Conditions", table_columns(), table),
            ("Trials", result_columns(spec), rows),
        ],
        [("Ablations", fig, "Left: representative maps and SACs. Right: metrics with CIs.")],
    )
    return atomic_write_text(out / "ablations.html", page)
