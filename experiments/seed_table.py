"""The seed table of a recipe: one row per trial of a sweep, mean and 95% CI per column, and the
in-training curves of every seed on one figure (issue 16's regression check).

    python experiments/seed_table.py OUT [OUT ...] [--fig PNG] [--json FILE] [--group KEY]
        [--trials REGEX] [--merge] [--code] [--settle-window W]

OUT is a ``gridssl sweep`` directory (its results.json and trials/*/metrics.jsonl). Columns:
grid / square / place-like fractions, modules, mean module period, median grid score (Sargolini
min-max over Banino annuli, inner 0.2, outer 0.4-1.0 of the map size, 5 cm bins, 2 m arena),
invariance ratio, the first in-training evaluation step with >= 30% grid cells (the in-training
rule: min-max > 0.3 and >= 3 fields, no null) and, where the trials were measured with the
long-walk stage, each long input's grid fraction and its population-vector correlation over the
last fifth of the walk. With ``--code``, the unit code of every active unit in the 4 m arena
(hexagonal share, modules, their periods, decorrelation length and recurrence; issue 21); with
``--settle-window W``, whether the in-training evaluation is settled over the last W steps (the
means of the window's two halves within gridssl.train.SETTLE_TOLERANCE, the rule of
``train.settle_window``); and where a trial's slow phase was
gated (``data.slow_gate``), the step where it began. Means come with a 95% percentile-bootstrap
CI over the seeds (gridssl.ablate.bootstrap_ci, 10000 resamples, seed 0). Rows are grouped by the
trial's name without its seed (a condition or grid point), or by ``--group KEY``; ``--trials
REGEX`` keeps the trials whose names match it whole, and ``--merge`` puts every kept row into one
group (one recipe's seeds spread over several directories, e.g. an ablation's `full` condition
and a sweep of further seeds). The figure: in-training grid fraction and median score against
step, one line per trial, coloured by group. A trial counts as passing issue 16's bar when grid
>= 0.6, square <= 0.1 and invariance ratio <= 0.5.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from gridssl.ablate import BOOTSTRAP_SEED, bootstrap_ci
from gridssl.checkpoint import read_metrics
from gridssl.train import settled

BASE = [
    ("grid", "grid_fraction"),
    ("square", "square_fraction"),
    ("place", "place_fraction"),
    ("modules", "n_modules"),
    ("period_m", "period_m"),
    ("median", "median_grid_score"),
    ("inv", "invariance_ratio"),
    ("t30", "steps_to_30"),
]
BAR = {
    "grid_fraction": (0.6, ">="),
    "square_fraction": (0.1, "<="),
    "invariance_ratio": (0.5, "<="),
}


def steps_to(metrics: list[dict], frac: float = 0.3) -> int | None:
    """The first in-training evaluation step whose grid fraction reaches ``frac``."""
    for m in metrics:
        if (m.get("eval_grid_fraction") or 0) >= frac:
            return int(m["step"])
    return None


def passes(row: dict) -> bool:
    ok = True
    for k, (v, op) in BAR.items():
        x = row.get(k)
        ok &= x is not None and (x >= v if op == ">=" else x <= v)
    return bool(ok)


def rows_of(out: Path) -> list[dict]:
    res = json.loads((out / "results.json").read_text())
    rows = res if isinstance(res, list) else res.get("rows", res.get("trials", []))
    for r in rows:
        run = out / "trials" / r["trial"]
        r["metrics"] = read_metrics(run) if run.is_dir() else []
        r["steps_to_30"] = steps_to(r["metrics"])
        opened = [m["slow_start"] for m in r["metrics"] if "slow_start" in m]
        r["slow_start"] = opened[0] if opened else None  # a gated slow phase (data.slow_gate)
        periods = [p for p in r.get("module_periods_m") or [] if p is not None]
        r["period_m"] = float(np.mean(periods)) if periods else None
        r["group"] = re.sub(r"_?seed=\d+$", "", r["trial"]) or "all"
        r["pass"] = passes(r) if r.get("status") == "ok" else None
    return rows


STATUS_RANK = {"ok": 0, "failed": 1, "running": 2, "pending": 3}


def one_per_trial(rows: list[dict]) -> list[dict]:
    """One row per trial name: where several directories list a trial (a spec run in parts), the
    furthest record wins (finished, then failed, running, pending); order of first appearance."""
    best: dict[str, dict] = {}
    for r in rows:
        old = best.get(r["trial"])
        if old is None or STATUS_RANK.get(r.get("status"), 4) < STATUS_RANK.get(
            old.get("status"), 4
        ):
            best[r["trial"]] = r
    return list(best.values())


def long_keys(rows: list[dict]) -> list[tuple[str, str]]:
    keys = sorted({k for r in rows for k in r if k.startswith("long_")})
    return [(k[len("long_") :].replace("_grid_fraction", "_grid"), k) for k in keys]


def fmt(x) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    return f"{x:.3g}" if isinstance(x, float) else str(x)


# the unit code (every active unit, 4 m arena; gridssl.analysis.periods and .decorrelation)
CODE = [
    ("code_hex", "code_hexagonal_fraction"),
    ("code_modules", "code_n_modules"),
    ("code_periods_m", "code_periods"),
    ("decorr_m", "decorrelation_length_m"),
    ("recurrence", "decorrelation_recurrence"),
]


def table(
    rows: list[dict], group_key: str | None = None, window: int | None = None, code: bool = False
) -> tuple[str, list[dict]]:
    cols = BASE + long_keys(rows)
    if code:
        for r in rows:
            periods = [p for p in r.get("code_module_periods_m") or [] if p is not None]
            r["code_periods"] = "/".join(f"{p:.2f}" for p in periods) or None
        cols += CODE
    if window:
        for r in rows:
            r["settled"] = settled(r["metrics"], window)
        cols.append((f"settled_{window}", "settled"))
    if any(r.get("slow_start") is not None for r in rows):
        cols.append(("slow_start", "slow_start"))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    groups: dict[str, list[dict]] = {}
    for r in rows:
        g = str(r.get(group_key)) if group_key else r["group"]
        groups.setdefault(g, []).append(r)
    lines, summary = [], []
    head = ["trial", "seed", "status", *[c for c, _ in cols], "pass"]
    lines.append(" | ".join(head))
    lines.append(" | ".join("---" for _ in head))
    for g, rs in groups.items():
        rs = sorted(rs, key=lambda r: int(r.get("seed") or 0))
        for r in rs:
            vals = [fmt(r.get(k)) for _, k in cols]
            p = {True: "yes", False: "no", None: "-"}[r["pass"]]
            lines.append(
                " | ".join([r["trial"], fmt(r.get("seed")), r.get("status", "?"), *vals, p])
            )
        done = [r for r in rs if r.get("status") == "ok"]
        cis, s = [], {"group": g, "n_ok": len(done), "n_pass": sum(bool(r["pass"]) for r in done)}
        for c, k in cols:
            if any(isinstance(r.get(k), str) for r in done):  # text: no mean
                s[c] = None
                cis.append("-")
                continue
            mean, lo, hi = bootstrap_ci([r.get(k) for r in done], rng)
            s[c] = (mean, lo, hi)
            cis.append("-" if not np.isfinite(mean) else f"{mean:.3g} [{lo:.3g}, {hi:.3g}]")
        n_pass = f"{s['n_pass']}/{len(done)}"
        lines.append(" | ".join([f"**{g}: mean [95% CI]**", f"n={len(done)}", "", *cis, n_pass]))
        summary.append(s)
    return "\n".join(lines), summary


def figure(rows: list[dict], path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from gridssl.io import atomic_write

    fig = Figure(figsize=(10, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    groups = sorted({r["group"] for r in rows})
    colours = {g: f"C{i % 10}" for i, g in enumerate(groups)}
    for r in rows:
        ev = [m for m in r["metrics"] if "eval_grid_fraction" in m]
        if not ev:
            continue
        st = [m["step"] for m in ev]
        style = "-" if r.get("pass") else "--"
        kw = dict(color=colours[r["group"]], ls=style, lw=1, alpha=0.85)
        ax1.plot(st, [m["eval_grid_fraction"] for m in ev], **kw)
        ax2.plot(st, [m["eval_score_median"] for m in ev], **kw)
        ax1.annotate(str(r.get("seed")), (st[-1], ev[-1]["eval_grid_fraction"]), fontsize=6)
    for g, c in colours.items():
        ax1.plot([], [], color=c, label=g)
    ax1.plot([], [], color="k", ls="--", label="fails the bar")
    ax1.set(xlabel="step", ylabel="in-training grid fraction", ylim=(-0.02, 1.02))
    ax2.set(xlabel="step", ylabel="in-training median min-max score")
    ax2.axhline(0, color="0.6", lw=0.8)
    ax1.legend(fontsize=6)
    return atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outs", nargs="+", type=Path, help="gridssl sweep directories")
    ap.add_argument("--fig", type=Path, help="write the in-training curves here (PNG)")
    ap.add_argument("--json", type=Path, help="write the rows and the summary here")
    ap.add_argument("--group", help="group rows by this results column instead of the name")
    ap.add_argument("--trials", help="keep only trials whose whole name matches this regex")
    ap.add_argument("--merge", action="store_true", help="one group of all the kept rows")
    ap.add_argument(
        "--code", action="store_true", help="add the unit code's columns (modules, periods)"
    )
    ap.add_argument(
        "--settle-window",
        type=int,
        help="add whether each trial's in-training evaluation is settled over its last this "
        "many steps (issue 21: 10000)",
    )
    args = ap.parse_args(argv)
    rows = []
    for out in args.outs:
        if not (out / "results.json").is_file():
            print(
                f"seed_table: {out} has no results.json (run gridssl sweep SPEC --out {out} "
                "--collect)",
                file=sys.stderr,
            )
            return 2
        rows += rows_of(out)
    rows = one_per_trial(rows)
    if args.trials:
        rows = [r for r in rows if re.fullmatch(args.trials, r["trial"])]
    if args.merge:
        for r in rows:
            r["group"] = "all"
    text, summary = table(rows, args.group, args.settle_window, args.code)
    print(text)
    if args.fig:
        print(f"figure: {figure(rows, args.fig)}")
    if args.json:
        from gridssl.io import atomic_write_text

        slim = [{k: v for k, v in r.items() if k != "metrics"} for r in rows]
        atomic_write_text(args.json, json.dumps({"rows": slim, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
