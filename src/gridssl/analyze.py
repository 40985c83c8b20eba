"""``gridssl analyze``: everything the paper claims, measured on one trained network.

    load -> roll out in 2, 3, 4 m arenas from the origin -> grid population per arena (rate maps,
    grid scores, null, grid cells, lattice, modules) -> module Fourier lattice and phases ->
    toroidal topology of the largest module -> generalisation and path invariance -> figures ->
    summary.json + one self-contained report.html

The first arena is the primary one: the shuffle null, modules, Fourier and topology are computed
there; the other arenas report grid fractions with the fixed 0.3 threshold and the multi-field
rule (no null, to keep the run short) plus their generalisation curves.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .checkpoint import load, read_metrics
from .data import Arena
from .evaluate import arena_rollout
from .io import atomic_write_text


def default_out(path: str | Path) -> Path:
    p = Path(path)
    if str(path) == "pretrained":
        return Path("analysis-pretrained")
    return (p if p.is_dir() else p.parent.parent) / "analysis"


def analyze(
    path: str | Path,
    out: str | Path | None = None,
    arenas: tuple[float, ...] = (2.0, 3.0, 4.0),
    bin_size: float = 0.05,
    seed: int = 0,
    n_shuffles: int = 20,
    topology: bool = True,
    topology_points: int = 800,
    per_bin: tuple[float, float] = (60.0, 20.0),
    progress: bool = True,
) -> dict:
    """Analyse a run directory, checkpoint or "pretrained"; write ``out`` (default RUN/analysis)."""
    from tqdm import tqdm

    from .analysis import figures
    from .analysis.fourier import module_lattice
    from .analysis.generalisation import crop_correlation, separation, start_distance
    from .analysis.population import grid_population
    from .analysis.report import Figure, write_report

    out = Path(out) if out is not None else default_out(path)
    stages = [f"rollout + grid population, {a:g} m" for a in arenas]
    stages += ["Fourier + phases", "topology", "generalisation", "figures", "report"]
    bar = tqdm(stages, disable=not progress, file=sys.stderr, unit="stage", dynamic_ncols=True)
    timings: dict[str, float] = {}

    def stage():
        name = next(it)
        bar.set_description(name)
        return name

    it = iter(stages)
    net = load(path)
    g0 = net.g0().detach().cpu().numpy()
    rollouts, pops = {}, {}
    for k, size in enumerate(arenas):
        t0, name = time.perf_counter(), stage()
        arena = Arena(size)
        # the primary arena gets dense sampling; the others are threshold-only checks
        ro = arena_rollout(
            net,
            arena,
            bin_size=bin_size,
            seed=seed + k,
            per_bin=per_bin[0] if k == 0 else per_bin[1],
        )
        rollouts[size] = ro
        pops[size] = grid_population(
            *ro.flat, arena.box, bin_size, rng=seed + k, n_shuffles=n_shuffles if k == 0 else 0
        )
        timings[name] = time.perf_counter() - t0
        bar.update(1)
    primary = arenas[0]
    pop, ro = pops[primary], rollouts[primary]
    labels = pop.modules.labels

    t0, name = time.perf_counter(), stage()
    fourier = {}
    for m in range(pop.modules.k):
        units = np.flatnonzero(labels == m)
        if len(units) >= 3:
            fourier[m] = module_lattice(pop.maps.maps[units], bin_size)
    timings[name] = time.perf_counter() - t0
    bar.update(1)

    t0, name = time.perf_counter(), stage()
    topo, topo_units, topo_of = None, None, None
    if topology:
        from .analysis.topology import population_topology, spectral_embedding

        if pop.modules.k:
            biggest = int(np.argmax(pop.modules.sizes))
            topo_units, topo_of = np.flatnonzero(labels == biggest), f"module {biggest}"
        else:  # no module: the whole population's topology (still informative: a place code)
            topo_units, topo_of = np.arange(net.n_units), "all units (no module found)"
        if len(topo_units) >= 6:
            _, act = ro.flat
            topo = population_topology(act[:, topo_units], n_points=topology_points, rng=seed)
            topo_embed = spectral_embedding(topo.embedding, 3, rng=seed)
    timings[name] = time.perf_counter() - t0
    bar.update(1)

    t0, name = time.perf_counter(), stage()
    starts = {a: start_distance(*rollouts[a].flat, g0) for a in arenas}
    # each unit's primary-arena map against the same region of its map in every larger arena
    same_place = {
        a: crop_correlation(
            pop.maps.maps, pop.maps.box, pops[a].maps.maps, pops[a].maps.box, bin_size
        )
        for a in arenas[1:]
        if a > primary
    }
    big = arenas[-1]
    sep = separation(rollouts[big].positions, rollouts[big].states, np.random.default_rng(seed))
    timings[name] = time.perf_counter() - t0
    bar.update(1)

    # ---------------------------------------------------------------- figures
    t0, name = time.perf_counter(), stage()
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    variant = (
        f"min-max, Banino annuli (inner 0.2, outer 0.4-1.0 of map size), {bin_size * 100:g} cm bins"
    )
    figs: list = []

    def add(title, path, caption):
        figs.append(Figure(title, path, caption))

    order = np.argsort(-np.nan_to_num(pop.scores.scores, nan=-9))
    add(
        "Rate maps and autocorrelograms",
        figures.ratemaps_with_sacs(
            pop.maps.maps,
            pop.sacs,
            pop.scores.scores,
            pop.maps.box,
            fig_dir / "ratemaps.png",
            variant,
            labels=labels,
        ),
        f"{primary:g} m arena, units sorted by grid score ({variant}); module label in titles.",
    )
    add(
        "Grid scores against the shuffle null",
        figures.score_histogram(
            pop.scores.scores,
            fig_dir / "scores.png",
            variant,
            null_p95=None if pop.null is None else pop.null.pooled,
            null_scores=None if pop.null is None else pop.null.scores,
        ),
        "Circular time-shift null, pooled 95th percentile.",
    )
    add(
        "Spacing by module",
        figures.spacing_histogram(pop.lattice.spacing, labels, fig_dir / "spacing.png"),
        "Spacing from the six SAC peaks nearest the centre; grey: not a grid cell / unassigned.",
    )
    add(
        "Orientation by module",
        figures.orientation_plot(pop.lattice.orientation, labels, fig_dir / "orientation.png"),
        "Lattice-vector angle modulo 60 degrees.",
    )
    for m, fl in fourier.items():
        add(
            f"Module {m}: Fourier lattice",
            figures.fourier_panel(
                fl.power, fl.kx, fl.ky, fl.wavevectors, fig_dir / f"fourier_m{m}.png"
            ),
            f"Mean power of module {m}; spacing {fl.spacing:.3f} m, orientation "
            f"{fl.orientation:.1f} deg.",
        )
        add(
            f"Module {m}: phases",
            figures.phase_panel(
                fl.phase_cell[fl.usable],
                fig_dir / f"phases_m{m}.png",
                uniformity_p=fl.uniformity.p_value,
            ),
            f"Unit phases in the unit cell; uniformity p = {fl.uniformity.p_value:.3g}.",
        )
    if topo is not None:
        add(
            f"Topology: {topo_of}",
            figures.torus_panel(
                topo_embed,
                topo.diagrams,
                topo.betti,
                fig_dir / "torus.png",
                null_thresholds=topo.thresholds,
            ),
            f"{len(topo_units)} units; PCA to 6, landmarks, Rips persistence; Betti {topo.betti} "
            "(bars longer than the rolled-activity null).",
        )
    show = [int(u) for u in order[:6]]
    add(
        "The same units in larger arenas",
        figures.arena_maps(
            {f"{a:g} m": pops[a].maps.maps for a in arenas},
            {f"{a:g} m": pops[a].maps.box for a in arenas},
            show,
            fig_dir / "arenas.png",
        ),
        "Top-scoring units of the primary arena, driven from the origin in each arena.",
    )
    add(
        "Distance from the start state",
        figures.generalisation_panel(
            {f"{a:g} m": starts[a].curve for a in arenas},
            None,
            fig_dir / "start_distance.png",
        ),
        "Neural distance |g(x) - g0| against distance from the start; shaded: training extent.",
    )
    add(
        "Neural distance against spatial and temporal separation",
        figures.separation_panel(sep.spatial, sep.temporal, None, fig_dir / "separation.png"),
        f"Pairs within trajectories in the {big:g} m arena; revisit / random distance ratio "
        f"{sep.invariance_ratio:.3f}.",
    )
    run_dir = Path(path) if Path(path).is_dir() else None
    metrics = read_metrics(run_dir) if run_dir is not None else []
    if metrics:
        add(
            "Training curves",
            figures.training_curves(metrics, fig_dir / "training.png"),
            "Loss terms and the in-training grid fraction.",
        )
    timings[name] = time.perf_counter() - t0
    bar.update(1)

    # ---------------------------------------------------------------- summary + report
    t0, name = time.perf_counter(), stage()
    summary = {
        "model": str(path),
        "n_units": net.n_units,
        "primary_arena_m": primary,
        "arenas": {f"{a:g} m": pops[a].summary() for a in arenas},
        "fourier": {
            f"module {m}": {
                "spacing_m": round(float(fl.spacing), 4),
                "orientation_deg": round(float(fl.orientation), 2),
                "wavenumbers_rad_per_m": np.round(fl.wavenumbers, 3).tolist(),
                "phase_uniformity_p": float(fl.uniformity.p_value),
                "phases_uniform": bool(fl.uniformity.uniform),
            }
            for m, fl in fourier.items()
        },
        "topology": None
        if topo is None
        else {
            "units": len(topo_units),
            "of": topo_of,
            "betti": list(topo.betti),
            "null_thresholds": np.round(topo.thresholds, 4).tolist(),
            "torus": tuple(topo.betti[:3]) == (1, 2, 1),
        },
        "generalisation": {
            f"{a:g} m": {
                "near_start_distance": round(starts[a].near_start, 4),
                "min_far_distance": round(starts[a].min_far, 4),
                "alias_fraction": round(starts[a].alias_fraction, 4),
                **(
                    {
                        f"map_correlation_with_{primary:g}m_median": round(
                            float(np.nanmedian(same_place[a])), 4
                        )
                    }
                    if a in same_place
                    else {}
                ),
            }
            for a in arenas
        },
        "path_invariance": {
            "arena_m": big,
            "revisit_distance": round(sep.revisit_distance, 4),
            "random_distance": round(sep.random_distance, 4),
            "invariance_ratio": round(sep.invariance_ratio, 4),
            "n_revisits": sep.n_revisits,
            **sep.params,
        },
        "settings": {
            "bin_size_m": bin_size,
            "seed": seed,
            "n_shuffles": n_shuffles,
            "topology_points": topology_points,
            "samples_per_bin": {"primary": per_bin[0], "others": per_bin[1]},
            "walks": {
                f"{size:g} m": "{} smooth wall-bounded walks of {} steps from the origin".format(
                    *ro.states.shape[:2]
                )
                for size, ro in rollouts.items()
            },
            "walk_steps": "Rayleigh steps of mean 0.08 m, heading noise 0.25 rad/step",
        },
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=_jsonable))
    report = write_report(
        out, f"gridssl analysis: {path}", summary, figs, sections=headline(summary, arenas)
    )
    timings[name] = time.perf_counter() - t0
    bar.update(1)
    bar.close()
    summary["report"] = str(report)
    return summary


def headline(summary: dict, arenas) -> list[tuple[str, str]]:
    """The findings in a few sentences, every number with its rule."""
    first = summary["arenas"][f"{arenas[0]:g} m"]
    gs = first["grid_score"]
    lines = [
        f"Grid cells: {first['n_grid_cells']} of {first['n_units']} units "
        f"({100 * (first['grid_fraction'] or 0):.0f}%) in the {arenas[0]:g} m arena. Rule: "
        f"{first['grid_rule']}; score {gs['variant']} over Banino annuli (inner {gs['inner']}, "
        f"outer {gs['outer_radii'][0]:g}-{gs['outer_radii'][-1]:g} of the map size), "
        f"{gs['bin_size_m'] * 100:g} cm bins. Square-lattice units (G90): "
        f"{100 * (first['square_fraction'] or 0):.0f}%; BNT score > 0.3 (multi-field): "
        f"{100 * (first['bnt_fraction'] or 0):.0f}%.",
        f"Modules: {first['n_modules']} (distinct periods: {first['n_distinct_periods']}), "
        f"periods {first['module_periods_m']} m, orientations "
        f"{first['module_orientations_deg']} deg, sizes {first['module_sizes']}.",
        "Larger arenas (0.3 threshold, multi-field rule, no null): "
        + ", ".join(
            f"{a}: min-max {100 * (v['grid_fraction'] or 0):.0f}%, BNT "
            f"{100 * (v['bnt_fraction'] or 0):.0f}%, G90 {100 * (v['square_fraction'] or 0):.0f}%"
            for a, v in summary["arenas"].items()
        )
        + ".",
    ]
    if summary.get("topology"):
        t = summary["topology"]
        lines.append(
            f"Topology of {t['of']} ({t['units']} units): Betti {t['betti']} "
            f"({'a torus' if t['torus'] else 'not a torus'})."
        )
    gen = summary["generalisation"]
    corr = {a: v[k] for a, v in gen.items() for k in v if k.startswith("map_correlation")}
    if corr:
        lines.append(
            f"Same place, larger arena: each unit's {arenas[0]:g} m map against the same region "
            "of its map in the larger arena, median correlation "
            + ", ".join(f"{a} {c:.2f}" for a, c in corr.items())
            + "."
        )
    p = summary["path_invariance"]
    lines.append(
        f"Path invariance: revisits of the same place (< {p['radius_m']} m, >= "
        f"{p['min_lag_steps']} steps apart) are {p['invariance_ratio']:.2f} times as far "
        "apart in state space as random pairs."
    )
    return [("Findings", " ".join(lines))]


def _jsonable(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, torch.Tensor):
        return x.tolist()
    return str(x)
