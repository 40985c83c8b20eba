"""The analysis report of one network (``gridssl analyze``): its figures with captions, the
headline findings and the claims table, on the one page builder (:mod:`gridssl.report.page`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import pipeline as P
from ..config import AnalysisConfig
from . import figures
from .page import Claim, Figure, write_report

if TYPE_CHECKING:
    from ..analyze import Analysis


def make_figures(a: Analysis, fig_dir: Path, metrics: list[dict]) -> list[Figure]:
    """Every figure of the report, with a short caption."""
    return [
        *_code_figures(a, fig_dir),
        *_generalisation_figures(a, fig_dir),
        *_stage_figures(a, fig_dir, metrics),
    ]


def _code_figures(a: Analysis, fig_dir: Path) -> list[Figure]:
    """The primary arena's code: maps, scores, spacing, orientation, Fourier, phases, torus."""
    cfg, pop = a.cfg, a.pops.primary
    primary = a.rollouts.primary
    label = P.score_label(pop.scores, cfg.bin_size)
    figs = [
        Figure(
            "Rate maps and autocorrelograms",
            figures.population_ratemaps(pop, fig_dir / "ratemaps.png", label),
            f"{primary:g} m arena, units sorted by grid score ({label}); module in titles.",
        ),
        Figure(
            "Grid scores against the shuffle null",
            figures.population_scores(pop, fig_dir / "scores.png", label),
            "Circular time-shift null, pooled 95th percentile.",
        ),
        Figure(
            "Spacing by module",
            figures.population_spacing(pop, fig_dir / "spacing.png"),
            "Spacing from the six SAC peaks nearest the centre; grey: not a grid cell.",
        ),
        Figure(
            "Orientation by module",
            figures.population_orientation(pop, fig_dir / "orientation.png"),
            "Lattice-vector angle modulo 60 degrees.",
        ),
    ]
    for m, fl in a.fourier.by_module.items():
        figs.append(
            Figure(
                f"Module {m}: Fourier lattice",
                figures.module_fourier(fl, fig_dir / f"fourier_m{m}.png"),
                f"Mean power of module {m}; spacing {fl.spacing:.3f} m, orientation "
                f"{fl.orientation:.1f} deg.",
            )
        )
        figs.append(
            Figure(
                f"Module {m}: phases",
                figures.module_phases(fl, fig_dir / f"phases_m{m}.png"),
                f"Unit phases in the unit cell; uniformity p = {fl.uniformity.p_value:.3g}.",
            )
        )
    t = a.topology
    if t is not None and t.result is not None:
        figs.append(
            Figure(
                f"Topology: {t.of}",
                figures.topology_torus(t, fig_dir / "torus.png"),
                f"{len(t.units)} units; PCA to 6, landmarks, Rips persistence; Betti "
                f"{t.result.betti} (bars longer than the rolled-activity null).",
            )
        )
    return figs


def _top_units(a: Analysis) -> np.ndarray:
    """Units of the primary arena by grid score, best first."""
    return np.argsort(-np.nan_to_num(a.pops.primary.scores.scores, nan=-9))


def _generalisation_figures(a: Analysis, fig_dir: Path) -> list[Figure]:
    """Larger arenas, distance from the start, neural against spatial separation."""
    order = _top_units(a)
    g = a.generalisation
    return [
        Figure(
            "The same units in larger arenas",
            figures.arenas_same_units(a.pops, [int(u) for u in order[:6]], fig_dir / "arenas.png"),
            "Top-scoring units of the primary arena, driven from the origin in each arena.",
        ),
        Figure(
            "Distance from the start state",
            figures.start_distances(g, fig_dir / "start_distance.png"),
            "Neural distance |g(x) - g0| against distance from the start; shaded: training extent.",
        ),
        Figure(
            "Neural distance against spatial and temporal separation",
            figures.separations(g, fig_dir / "separation.png"),
            f"Pairs within walks in the {g.separation_arena:g} m arena; revisit / random distance "
            f"ratio {g.separation.invariance_ratio:.3f}.",
        ),
    ]


def _stage_figures(a: Analysis, fig_dir: Path, metrics: list[dict]) -> list[Figure]:
    """The optional stages (other velocities, long walks, unit code) and the training curves."""
    primary, figs = a.rollouts.primary, []
    if a.velocity is not None:
        figs.append(
            Figure(
                "Other velocity statistics",
                figures.velocity_tests(a.velocity, _top_units(a)[:4], fig_dir / "velocity.png"),
                f"The {primary:g} m arena driven by walks unlike the default ones: the top units' "
                "maps, grid fraction and median same-place map correlation with the default walks.",
            )
        )
    if a.long_walks is not None:
        figs.append(
            Figure(
                "Long walks",
                figures.long_walks(a.long_walks, fig_dir / "long_walks.png"),
                "Walks from the origin with no restarts, at several step sizes"
                + (" and a RatInABox agent" if not a.long_walks.skipped else "")
                + ": the population vector against the reference maps (from the short walks) "
                "at the same place, over time; about 0 once the network has lost track.",
            )
        )
    if a.unit_code is not None:
        c = a.unit_code
        figs.append(
            Figure(
                "Every unit's period and the decorrelation curve",
                figures.unit_code(c, fig_dir / "unit_code.png"),
                f"{c.arena:g} m arena. Left: every active unit's period from its strongest Fourier "
                "waves, by lattice type; dashed: module medians. Right: RMS distance between "
                "unit-length population vectors against separation; dot: the decorrelation length "
                f"({100 * c.decorrelation.params['level']:.0f}% of the plateau, dotted); "
                "recurrence: the smallest distance beyond twice that length over the plateau (near "
                "0: the code repeats, one module). The paper's Figure 5a reaches its plateau "
                "within about sigma_x (0.05 m).",
            )
        )
    if metrics:
        figs.append(
            Figure(
                "Training curves",
                figures.training_curves(metrics, fig_dir / "training.png"),
                "Loss terms and the in-training grid fraction.",
            )
        )
    return figs


def headline(summary: dict) -> list[tuple[str, str]]:
    """The findings in a few sentences, every number with its rule."""
    primary = summary["primary_arena_m"]
    first = summary["arenas"][P.arena_name(primary)]
    gs = first["grid_score"]
    lines = [
        f"Grid cells: {first['n_grid_cells']} of {first['n_units']} units "
        f"({100 * (first['grid_fraction'] or 0):.0f}%) in the {primary:g} m arena. Rule: "
        f"{first['grid_rule']}; score {gs['variant']} over Banino annuli (inner {gs['inner']}, "
        f"outer {gs['outer_radii'][0]:g}-{gs['outer_radii'][-1]:g} of the map size), "
        f"{gs['bin_size_m'] * 100:g} cm bins.",
        f"Modules: {first['n_modules']} (distinct periods: {first['n_distinct_periods']}), "
        f"periods {first['module_periods_m']} m, sizes {first['module_sizes']}.",
    ]
    if summary.get("topology"):
        t = summary["topology"]
        lines.append(f"Topology of {t['of']}: Betti {t['betti']}.")
    return [("Findings", " ".join(lines))]


def _variant_words(gs: dict) -> str:
    """A summary's grid_score block in words: variant, annuli, bin size."""
    name = {"minmax": "min-max"}.get(gs["variant"], gs["variant"])
    outer = gs["outer_radii"]
    return (
        f"{name}, Banino annuli {gs['inner']:g} / {outer[0]:g}-{outer[-1]:g} of the map, "
        f"{gs['bin_size_m'] * 100:g} cm bins"
    )


def claims(summary: dict, cfg: AnalysisConfig) -> list[Claim]:
    """Each of the paper's claims (docs/METHOD.md section 1) with this network's number and verdict
    (the verdict thresholds are ``cfg.verdict_*``)."""
    return [
        *_code_claims(summary, cfg),
        _arena_claim(summary, cfg),
        _velocity_claim(summary, cfg),
        _long_walk_claim(summary, cfg),
        _invariance_claim(summary, cfg),
        *ablation_claims(),
    ]


def _code_claims(summary: dict, cfg: AnalysisConfig) -> list[Claim]:
    """Grid cells, modules, hexagonal not square, torus."""
    primary = summary["primary_arena_m"]
    first = summary["arenas"][P.arena_name(primary)]
    gf, sq = first["grid_fraction"] or 0.0, first["square_fraction"] or 0.0
    out = [
        Claim(
            "Grid cells",
            "units with spatially periodic, grid-like firing",
            f"{first['n_grid_cells']} of {first['n_units']} units ({100 * gf:.0f}%) in the "
            f"{primary:g} m arena; median score {first['score_median']} "
            f"({_variant_words(first['grid_score'])})",
            gf >= cfg.verdict_grid_fraction,
        ),
        Claim(
            "Several modules: periods and ratios",
            "typically 3 modules, periods about 0.45, 0.75, 1.27 m (ratios about 1.7)",
            f"grid cells: {first['n_modules']} module(s), {first['n_distinct_periods']} distinct "
            f"period(s): {first['module_periods_m']} m, ratios {first['module_period_ratios']}"
            + _unit_code_words(summary.get("unit_code")),
            first["n_distinct_periods"] >= 2,
        ),
        Claim(
            "Hexagonal, not square",
            "hexagonal lattices (square or sheared only without the isometry loss)",
            f"hexagonal grid cells {100 * gf:.0f}%, square-lattice units (G90) {100 * sq:.0f}%",
            gf > sq,
        ),
    ]
    t = summary.get("topology")
    out.append(
        Claim(
            "Torus",
            "one module's population activity on a torus, Betti (1, 2, 1)",
            "not run" if t is None else f"Betti {t['betti']} of {t['of']} ({t['units']} units)",
            None if t is None else bool(t["torus"]),
        )
    )
    return out


def _arena_claim(summary: dict, cfg: AnalysisConfig) -> Claim:
    gen = summary["generalisation"]
    corr = {a: v[k] for a, v in gen.items() for k in v if k.startswith("map_correlation")}
    return Claim(
        "Larger arenas (3 m, 4 m)",
        "units stay periodic in 2, 3 and 4 m arenas; no aliasing to the start state",
        "; ".join(
            f"{a}: same-place map r {c:.2f}, grid (threshold rule) "
            f"{100 * (summary['arenas'][a]['grid_fraction'] or 0):.0f}%, alias fraction "
            f"{gen[a]['alias_fraction']}"
            for a, c in corr.items()
        )
        or "no larger arena",
        None if not corr else all(c >= cfg.verdict_map_correlation for c in corr.values()),
    )


def _velocity_claim(summary: dict, cfg: AnalysisConfig) -> Claim:
    v = summary.get("velocity_generalisation")
    tests = {
        k: x for k, x in (v or {}).items() if isinstance(x, dict) and "map_correlation_median" in x
    }
    measured = "not run"
    if tests:
        measured = "; ".join(
            f"{k}: grid {100 * (x['grid_fraction'] or 0):.0f}%, r {x['map_correlation_median']}"
            for k, x in tests.items()
        )
        measured += f" (default walks: grid {100 * (v['default']['grid_fraction'] or 0):.0f}%)"
    r_min = min((x["map_correlation_median"] or -1.0 for x in tests.values()), default=None)
    return Claim(
        "Other velocity statistics",
        "the code holds along differently distributed trajectories",
        measured,
        None if r_min is None else r_min >= cfg.verdict_map_correlation,
    )


def _long_walk_claim(summary: dict, cfg: AnalysisConfig) -> Claim:
    lw = {
        k: x
        for k, x in (summary.get("long_walks") or {}).items()
        if isinstance(x, dict) and "grid_fraction" in x
    }
    last = [x["pv_correlation_last_fifth"] for x in lw.values()]
    return Claim(
        "Long walks (no restarts)",
        "a model of grid cells path-integrates slow movement for minutes [ours: the paper "
        "evaluates short walks]",
        "; ".join(
            f"{k}: {x['steps']} steps, grid {100 * (x['grid_fraction'] or 0):.0f}%, "
            f"last-fifth pv r {x['pv_correlation_last_fifth']}"
            for k, x in lw.items()
        )
        + _still_words(summary)
        or "not run",
        None
        if not last
        else all(c is not None and c >= cfg.verdict_long_walk_correlation for c in last),
    )


def _invariance_claim(summary: dict, cfg: AnalysisConfig) -> Claim:
    p = summary["path_invariance"]
    return Claim(
        "Path invariance",
        "the same place reached along different paths gives the same state",
        f"revisit / random state distance {p['invariance_ratio']} ({p['n_revisits']} "
        f"revisits, {p['arena_m']:g} m arena)",
        p["invariance_ratio"] < cfg.verdict_invariance_ratio,
    )


# The paper's ablation claims as the `cpu` preset's seeded ablation judged them (`gridssl ablate`
# writes ablation_claims.json; the shipped copy is its 5-seed run's, docs/EXPERIMENTS.md). Plain
# JSON, read as data.
ABLATION_CLAIMS = Path(__file__).with_name("ablation_claims.json")


def ablation_claims(path: Path = ABLATION_CLAIMS) -> list[Claim]:
    """One row per ablation condition, labelled as the preset's ablation, not this network's
    measurement (none where no ablation is shipped)."""
    if not path.is_file():
        return []
    data = json.loads(path.read_text())
    a = data["ablation"]
    where = f"the {a['preset']} preset's ablation, {a['seeds']} seeds (docs/EXPERIMENTS.md)"
    holds = {"yes": True, "no": False}
    return [
        Claim(
            f"Ablation {v['condition']} ({v['change']})",
            v["claim"],
            f"{where}, not this network: {v['measured']}; {v['rule']}",
            holds.get(v["verdict"]),
            "" if v["verdict"] in holds else v["verdict"],
        )
        for v in data["verdicts"]
    ]


def _unit_code_words(code: dict | None) -> str:
    if not code:
        return ""
    mods = code["periods"]["modules"]
    d = code["decorrelation"]
    return (
        f"; every active unit ({code['arena_m']:g} m arena): {len(mods)} module(s)"
        + "".join(f", {m['period_m']} m x {m['n_units']} ({m['lattice']})" for m in mods)
        + f"; decorrelation length {d['length_m']} m, recurrence {d['recurrence']}"
    )


def _still_words(summary: dict) -> str:
    st = (summary.get("long_walks") or {}).get("standing_still")
    if not st:
        return ""
    return f"; standing still {st['steps']} steps: pv r {st['pv_correlation_last_fifth']}"


def write_analysis_report(out: Path, a: Analysis, summary: dict, figs: list[Figure]) -> Path:
    """The report: the claims table first, then the figures, the key numbers folded last."""
    return write_report(
        out, f"gridssl analysis: {a.model}", summary, figs, claims=claims(summary, a.cfg)
    )
