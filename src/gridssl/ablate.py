"""``gridssl ablate``: the paper's ablations (docs/METHOD.md section 1, item 4) as one sweep.

Each condition is a set of config overrides on top of the chosen preset:

    full             the preset as it is
    no_cap           loss.w_cap = 0           (paper: a single module)
    no_sep           loss.w_sep = 0           (paper: the grid structure is lost)
    no_inv           loss.w_inv = 0           (paper: the grid structure is lost)
    no_iso           loss.w_iso = 0           (paper: several modules, sheared or square lattices)
    small_sigma_g    loss.sigma_g = 0.1       (paper: place-cell-like fields)
    independent      data.mode = independent  (no permutation: B independent sequences)
    identity         data.mode = identity     (no permutation: B copies of one sequence)
    square_velocity  data.velocity_dist = square  (the paper's velocity distribution)

small_sigma_g: the paper says a smaller sigma_g gives place-like fields but not the value it used.
We take 0.1, a quarter of the paper's 0.4. States are non-negative unit vectors, so two of them lie
0 to sqrt(2) apart. With sigma_g = 0.4 the separation kernel exp(-dg^2 / (2 sigma_g^2)) is still
0.04 at dg = 1: far places must be coded by states far apart on the whole sphere. With 0.1 it is
e^-2 = 0.14 at dg = 0.2 and below 1e-4 at dg = 0.45: it is enough that different places get states
a few tenths apart, which one compact bump of activity per unit (a place code) achieves. A factor
of four is far from the paper's value without collapsing the kernel to nothing.

square_velocity equals full for presets that already use the square distribution (tiny, paper);
it matters for ``cpu``, whose isotropic ``disk`` velocities are its own departure from the paper.

``DIR/ablations.csv`` has one row per condition: for each metric its mean over the seeds whose
trial finished, and a 95% percentile-bootstrap CI of that mean (resampling seeds, a generator
seeded :data:`BOOTSTRAP_SEED`). ``period_m`` of a trial is the mean of its module periods (trials
without a module do not count towards it; ``n_period`` says how many did).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from .config import AnalysisConfig, ConfigError
from .io import atomic_write_text
from .sweep import (
    Executor,
    SweepSpec,
    parse_spec,
    run_sweep,
    write_table,
)

SMALL_SIGMA_G = 0.1  # the small_sigma_g condition (see the module docstring)
ABLATIONS: dict[str, dict[str, Any]] = {
    "full": {},
    "no_cap": {"loss.w_cap": 0.0},
    "no_sep": {"loss.w_sep": 0.0},
    "no_inv": {"loss.w_inv": 0.0},
    "no_iso": {"loss.w_iso": 0.0},
    "small_sigma_g": {"loss.sigma_g": SMALL_SIGMA_G},
    "independent": {"data.mode": "independent"},
    "identity": {"data.mode": "identity"},
    "square_velocity": {"data.velocity_dist": "square"},
}
CLAIMS: dict[str, str] = {
    "full": "modular grid cells (several modules, ratio ~1.7) [claims 1-2]",
    "no_cap": "a single module",
    "no_sep": "no grid structure",
    "no_inv": "no grid structure",
    "no_iso": "several modules, but sheared or square lattices",
    "small_sigma_g": "place-cell-like fields",
    "independent": "no spatial tuning (no permutation augmentation)",
    "identity": "no spatial tuning (no permutation augmentation)",
    "square_velocity": "the paper's own velocities: hexagonal grid cells",
}
METRICS = (
    "grid_fraction",
    "place_fraction",
    "square_fraction",
    "n_modules",
    "period_m",
    "invariance_ratio",
)
BOOTSTRAP_SEED = 0
N_BOOT = 10_000
CI_LEVEL = 0.95


def bootstrap_ci(
    values, rng: np.random.Generator, n_boot: int = N_BOOT, level: float = CI_LEVEL
) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap CI of the mean of ``values`` (NaN and None dropped).

    ``n_boot`` resamples with replacement, all drawn at once from ``rng``; one value gives a
    zero-width interval, none gives NaNs.
    """
    v = np.asarray([x for x in values if x is not None], float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (float("nan"),) * 3
    means = v[rng.integers(0, v.size, (n_boot, v.size))].mean(axis=1)  # (n_boot,)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(v.mean()), float(lo), float(hi)


def trial_period(row: dict) -> float | None:
    periods = [p for p in row.get("module_periods_m") or [] if p is not None]
    return float(np.mean(periods)) if periods else None


def ablation_table(rows: list[dict], seed: int = BOOTSTRAP_SEED) -> list[dict]:
    """One row per condition: trials finished, and mean, ci_lo, ci_hi of every metric."""
    rng = np.random.default_rng(seed)
    table = []
    for cond in ABLATIONS:
        done = [r for r in rows if r["condition"] == cond and r["status"] == "ok"]
        out: dict[str, Any] = {"condition": cond, "n_ok": len(done), "n_trials": 0}
        out["n_trials"] = sum(r["condition"] == cond for r in rows)
        for m in METRICS:
            vals = [trial_period(r) if m == "period_m" else r.get(m) for r in done]
            mean, lo, hi = bootstrap_ci(vals, rng)
            out |= {f"{m}_mean": _r(mean), f"{m}_ci_lo": _r(lo), f"{m}_ci_hi": _r(hi)}
        out["n_period"] = sum(trial_period(r) is not None for r in done)
        out["paper_claim"] = CLAIMS[cond]
        table.append(out)
    return table


# ----------------------------------------------------------------------------- verdicts
# Each condition's claim judged from its row of the table, by fixed rules (docs/EXPERIMENTS.md):
# a fraction is there when its mean over seeds reaches ``present`` (the analysis's
# verdict_grid_fraction), and absent when the upper end of its 95% CI stays below it; between the
# two (some seeds have it, the mean does not reach it) a claim holds partly.
VERDICTS = ("yes", "no", "partly", "not testable")
KINDS = {"grid_fraction": "grid cells", "square_fraction": "square lattices",
         "place_fraction": "place-like fields"}  # fmt: skip


def _there(row: dict, m: str, present: float) -> bool:
    return (row.get(f"{m}_mean") or 0.0) >= present


def _absent(row: dict, m: str, present: float) -> bool:
    hi = row.get(f"{m}_ci_hi")
    return hi is not None and hi < present


def _verdict(cond: str, row: dict, full: dict, present: float) -> tuple[str, str]:
    """(verdict, the rule that gave it) for one condition's claim (CLAIMS[cond])."""

    def there(m: str) -> bool:
        return _there(row, m, present)

    def absent(m: str) -> bool:
        return _absent(row, m, present)

    several = (row.get("n_modules_mean") or 0.0) >= 2
    if cond == "full":
        if not there("grid_fraction"):
            return "no", "grid cells below the threshold"
        return (
            ("yes", "grid cells in 2+ modules")
            if several
            else ("partly", "grid cells, but one module")
        )
    if cond == "no_cap":
        if (full.get("n_modules_mean") or 0.0) < 2:
            return "not testable", "the full recipe has one module too"
        return ("no", "2+ modules without it") if several else ("yes", "one module")
    if cond in ("no_sep", "no_inv", "independent", "identity"):
        kinds = ["grid_fraction", "square_fraction"]  # no lattice of either kind ...
        if cond in ("independent", "identity"):
            kinds.append("place_fraction")  # ... and, for spatial tuning, no place fields
        if all(absent(m) for m in kinds):
            return "yes", "95% CI below the threshold: " + ", ".join(KINDS[m] for m in kinds)
        if there("grid_fraction"):
            return "no", "grid cells at the threshold"
        kept = ", ".join(KINDS[m] for m in kinds if not absent(m))
        return "partly", f"some seeds keep {kept}"
    if cond == "no_iso":
        if there("square_fraction") or (there("grid_fraction") and several):
            return "yes", "square lattices, or 2+ modules"
        if not absent("square_fraction"):
            return "partly", "square lattices on some seeds"
        return "no", "neither square lattices nor 2+ modules"
    if cond == "small_sigma_g":
        if there("place_fraction"):
            return "yes", "place-like fields at the threshold"
        return (
            ("no", "no place-like fields")
            if absent("place_fraction")
            else ("partly", "place-like fields on some seeds")
        )
    if cond == "square_velocity":
        grid, square = row.get("grid_fraction_mean") or 0.0, row.get("square_fraction_mean") or 0.0
        if there("grid_fraction") and grid > square:
            return "yes", "hexagonal grid cells, more than square units"
        return (
            ("no", "no hexagonal grid cells")
            if absent("grid_fraction")
            else ("partly", "hexagonal grid cells on some seeds")
        )
    raise ValueError(f"no verdict rule for condition {cond!r}")


def _measured(row: dict) -> str:
    def cell(m: str, name: str) -> str:
        mean, lo, hi = (row.get(f"{m}_{k}") for k in ("mean", "ci_lo", "ci_hi"))
        return f"{name} -" if mean is None else f"{name} {mean:.2f} [{lo:.2f}, {hi:.2f}]"

    names = ("grid", "place-like", "square", "modules", "period m", "invariance ratio")
    cells = [cell(m, n) for m, n in zip(METRICS, names)]
    return ", ".join(cells) + f" ({row['n_ok']} of {row['n_trials']} seeds)"


def ablation_verdicts(table: list[dict], present: float) -> list[dict]:
    """One verdict per condition (VERDICTS) with the rule that gave it and the measured means and
    95% CIs over seeds it rests on; ``present``: the fraction at which a kind of unit is there."""
    full = next((r for r in table if r["condition"] == "full"), {})
    out = []
    for row in table:
        cond = row["condition"]
        verdict, rule = _verdict(cond, row, full, present)
        change = ", ".join(f"{k} = {v}" for k, v in ABLATIONS[cond].items()) or "none"
        out.append(
            {
                "condition": cond,
                "change": change,
                "claim": CLAIMS[cond],
                "measured": _measured(row),
                "verdict": verdict,
                "rule": rule,
            }
        )
    return out


def verdicts_markdown(verdicts: list[dict]) -> str:
    """The verdicts as a markdown table (docs/EXPERIMENTS.md)."""
    lines = [
        "| condition | change | paper's claim | measured: mean [95% CI] over seeds | verdict |"
    ]
    lines.append("|---|---|---|---|---|")
    for v in verdicts:
        lines.append(
            f"| {v['condition']} | `{v['change']}` | {v['claim']} | {v['measured']} | "
            f"**{v['verdict']}** ({v['rule']}) |"
        )
    return "\n".join(lines) + "\n"


def _r(x: float) -> float | None:
    return None if not np.isfinite(x) else round(x, 4)


def table_columns() -> list[str]:
    cols = ["condition", "n_trials", "n_ok"]
    for m in METRICS:
        cols += [f"{m}_mean", f"{m}_ci_lo", f"{m}_ci_hi"]
    return [*cols, "n_period", "paper_claim"]


def representative(run: Path) -> tuple[np.ndarray, np.ndarray, tuple, float]:
    """The best-scoring unit of a trial in its primary arena (the run's ``analysis`` section,
    threshold rule only): rate map (ny, nx), SAC, box, min-max score."""
    from . import pipeline as P
    from .analyze import measuring_config
    from .checkpoint import load

    cfg = measuring_config(run)
    ro = P.rollout(load(run), cfg, cfg.arenas[:1]).by_arena[cfg.arenas[0]]
    pop = P.score_population(*ro.flat, ro.arena.box, cfg, cfg.seed, 0)
    scores = pop.scores.scores
    u = int(np.argmax(np.nan_to_num(scores, nan=-np.inf))) if np.isfinite(scores).any() else 0
    return pop.maps.maps[u], pop.sacs[u], ro.arena.box, float(scores[u])


def ablation_spec(
    preset: str, seeds: int, steps: int | None = None, overrides: list[str] | None = None
) -> SweepSpec:
    """Every condition x seeds 0..seeds-1 as one sweep spec; ``overrides`` (KEY=VALUE, as
    ``--set`` gives them, e.g. ``analysis.shuffles=50``) are shared by every trial."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"--seeds {seeds!r} is not allowed: an integer >= 1")
    shared = {}
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r} is not allowed: expected KEY=VALUE")
        shared[key.strip()] = value.strip()
    raw = {"preset": preset, "steps": steps, "seeds": list(range(seeds)), "set": shared}
    return parse_spec({**raw, "conditions": ABLATIONS}, "ablate")


def ablate(
    preset: str,
    seeds: int,
    out: str | Path,
    steps: int | None = None,
    workers: int | None = None,
    address: str | None = None,
    executor: str = "ray",
    overrides: list[str] | None = None,
) -> list[dict]:
    """Run every condition x seeds 0..seeds-1 as one sweep into ``out`` (``executor``: "ray" or
    "local", :class:`gridssl.sweep.Executor`; ``overrides``: KEY=VALUE shared by every trial,
    :func:`ablation_spec`); write ablations.csv, ablation_claims.json / .md (the verdicts,
    :func:`ablation_verdicts`), ablations.png and ablations.html; return the sweep's result
    rows. Rerun on a finished ablation, it trains nothing and rewrites these files."""
    spec = ablation_spec(preset, seeds, steps, overrides)
    out = Path(out)
    t0 = time.perf_counter()
    rows = run_sweep(spec, out, workers, address, executor=Executor(executor))
    from .report.ablation import ablation_figure, write_ablation_page  # matplotlib: only here

    table = ablation_table(rows)
    write_table(out / "ablations.csv", table_columns(), table)
    verdicts = ablation_verdicts(table, AnalysisConfig().verdict_grid_fraction)
    about = {"preset": preset, "seeds": seeds, "steps": steps, "set": overrides or []}
    text = json.dumps({"ablation": about, "verdicts": verdicts}, indent=1)
    atomic_write_text(out / "ablation_claims.json", text + "\n")
    atomic_write_text(out / "ablation_claims.md", verdicts_markdown(verdicts))
    fig = ablation_figure(rows, table, out, out / "ablations.png")
    wall = time.perf_counter() - t0
    write_ablation_page(out, spec, rows, table, fig, wall)
    print(
        f"ablate: {out / 'ablations.csv'}, {out / 'ablations.html'} (wall-clock {wall:.0f} s)",
        flush=True,
    )
    return rows
