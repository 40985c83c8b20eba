"""``gridssl analyze`` and ``gridssl eval``: the evaluation pipeline (:mod:`gridssl.pipeline`)
run on one trained network, then figures, ``summary.json`` and one self-contained report.

    analyze:        rollout -> population -> modules -> Fourier -> topology -> generalisation
                    -> velocity generalisation -> figures -> summary -> report
    eval:           the same on the primary arena, without topology   -> RUN/eval/
    trial_metrics:  the same on the primary arena, no figures         -> a dict (sweeps)

Every setting is an :class:`~gridssl.config.AnalysisConfig`: the ``analysis`` section of the
network's own run config unless the caller passes one (:func:`measuring_config`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import pipeline as P
from .checkpoint import load, read_metrics
from .config import AnalysisConfig, ConfigError, config_from_dict
from .io import atomic_write, atomic_write_text
from .report import figures
from .report.analysis import make_figures, write_analysis_report
from .sweep import CODE_METRICS
from .train import resolve_device


def default_out(path: str | Path) -> Path:
    p = Path(path)
    if str(path) == "pretrained":
        return Path("analysis-pretrained")
    return (p if p.is_dir() else p.parent.parent) / "analysis"


@dataclass
class Analysis:
    """Every stage's result for one network (None: the stage was not run)."""

    model: str
    n_units: int
    cfg: AnalysisConfig
    rollouts: P.Rollouts
    pops: P.Populations
    modules: P.Modules
    fourier: P.Fourier
    topology: P.Topology | None
    generalisation: P.Generalisation
    velocity: P.VelocityGeneralisation | None
    long_walks: P.LongWalks | None
    unit_code: P.UnitCode | None
    timings: dict[str, float]


class _Clock:
    """Times named stages and shows them on a progress bar (stderr, a terminal only: a log file
    gets no carriage-return frames)."""

    def __init__(self, names: list[str], progress: bool):
        self.bar = tqdm(
            total=len(names),
            disable=not (progress and sys.stderr.isatty()),
            file=sys.stderr,
            unit="stage",
            dynamic_ncols=True,
        )
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        self.bar.set_description(name)
        t0 = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - t0
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def run_pipeline(
    path: str | Path,
    cfg: AnalysisConfig,
    *,
    arenas: tuple[float, ...] | None = None,
    topology: bool | None = None,
    velocity: bool | None = None,
    long_walks: bool | None = None,
    unit_code: bool | None = None,
    clock: _Clock | None = None,
    device: str = "cpu",
) -> Analysis:
    """Load a run directory, checkpoint or "pretrained" and run the measuring stages
    (``arenas``, ``topology``, ``velocity``, ``long_walks`` default to the config's; ``unit_code``
    to whether ``analysis.unit_code_arena`` is not 0)."""
    arenas = cfg.arenas if arenas is None else arenas
    topology = cfg.topology if topology is None else topology
    velocity = cfg.velocity_tests if velocity is None else velocity
    long_walks = cfg.long_walks if long_walks is None else long_walks
    unit_code = bool(cfg.unit_code_arena) if unit_code is None else unit_code
    clock = clock or _Clock([], progress=False)
    net = load(path, str(resolve_device(device, "--device")))
    with clock.stage("rollout"):
        ro = P.rollout(net, cfg, arenas)
    with clock.stage("grid population"):
        pops = P.population(ro, cfg)
    with clock.stage("modules + Fourier"):
        mods = P.modules(pops)
        four = P.fourier(pops, mods, cfg)
    topo = None
    if topology:
        with clock.stage("topology"):
            topo = P.topology(ro, mods, cfg)
    with clock.stage("generalisation"):
        gen = P.generalisation(ro, pops, cfg)
    vel = None
    if velocity:
        with clock.stage("other velocity statistics"):
            vel = P.velocity_generalisation(net, pops, cfg)
    lw = None
    if long_walks:
        with clock.stage("long walks"):
            lw = P.long_walks(net, pops, cfg)
    code = None
    if unit_code:
        with clock.stage("unit code"):
            code = P.unit_code(net, pops, cfg)
    return Analysis(
        str(path), net.n_units, cfg, ro, pops, mods, four, topo, gen, vel, lw, code, clock.timings
    )


# ----------------------------------------------------------------------------- commands


def measuring_config(path: str | Path, overrides: list[str] | None = None) -> AnalysisConfig:
    """How ``path`` (a run directory, checkpoint or "pretrained") is measured: the ``analysis``
    section of its own config (defaults where it has none), then ``analysis.KEY=VALUE``
    overrides, by the one resolver (:func:`gridssl.config.config_from_dict`)."""
    for item in overrides or []:
        if not item.strip().startswith("analysis."):
            raise ConfigError(
                f"--set {item!r} is not allowed here: measuring takes analysis.KEY=VALUE, e.g. "
                "analysis.bin_size=0.1"
            )
    return config_from_dict(load(path).config.to_dict(), overrides).analysis


def analyze(
    path: str | Path,
    out: str | Path | None = None,
    cfg: AnalysisConfig | None = None,
    progress: bool = True,
    device: str = "cpu",
) -> dict:
    """Analyse a run directory, checkpoint or "pretrained"; write ``out`` (default RUN/analysis):
    summary.json, figures/, report.html and, per arena, the rate maps and rollout as arrays
    (:func:`write_arrays`). Returns the summary (with ``report``: its path)."""
    cfg = cfg or measuring_config(path)
    out = Path(out) if out is not None else default_out(path)
    names = ["rollout", "grid population", "modules + Fourier", "generalisation"]
    names += ["topology"] * cfg.topology + ["other velocity statistics"] * cfg.velocity_tests
    names += ["long walks"] * cfg.long_walks + ["unit code"] * bool(cfg.unit_code_arena)
    clock = _Clock(names + ["figures", "report"], progress)
    a = run_pipeline(path, cfg, clock=clock, device=device)
    run_dir = Path(path) if Path(path).is_dir() else None
    with clock.stage("figures"):
        figs = make_figures(a, out / "figures", read_metrics(run_dir) if run_dir else [])
    with clock.stage("report"):
        summary = summarise(a)
        for size, ro in a.rollouts.by_arena.items():
            write_arrays(out, size, ro, a.pops.by_arena[size])
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=_jsonable))
        report = write_analysis_report(out, a, summary, figs)
    clock.close()
    summary["report"] = str(report)
    return summary


def evaluate(
    path: str | Path,
    cfg: AnalysisConfig | None = None,
    out: str | Path | None = None,
    device: str = "cpu",
) -> dict:
    """``gridssl eval``: the pipeline on the primary arena without topology or long walks;
    writes ``eval_{A}m.json`` (with every unit's score), ``ratemaps_{A}m.png`` and the arrays
    of :func:`write_arrays` to ``out`` (default RUN/eval). Returns the summary (without the
    per-unit scores)."""
    cfg = cfg or measuring_config(path)
    size = cfg.arenas[0]
    a = run_pipeline(
        path,
        cfg,
        arenas=(size,),
        topology=False,
        velocity=False,
        long_walks=False,
        unit_code=False,
        device=device,
    )
    p = Path(path)
    out = Path(out) if out is not None else (p / "eval" if p.is_dir() else p.parent / "eval")
    pop = a.pops.primary
    figures.population_ratemaps(
        pop,
        out / f"ratemaps_{size:g}m.png",
        f"{P.score_label(pop.scores, cfg.bin_size)}, {size:g} m arena",
    )
    summary = {
        "arena_m": size,
        "trajectory_seed": cfg.seed,
        **pop.summary(),
        "invariance_ratio": _r(a.generalisation.separation.invariance_ratio),
    }
    scores = [None if np.isnan(x) else round(float(x), 4) for x in pop.scores.scores]
    full = {**summary, "scores": scores, "settings": dataclasses.asdict(cfg)}
    write_arrays(out, size, a.rollouts.by_arena[size], pop)
    atomic_write_text(out / f"eval_{size:g}m.json", json.dumps(full, indent=2))
    return summary


def write_arrays(out: Path, size: float, ro, pop) -> tuple[Path, Path]:
    """Arrays for other tools, per arena: ``maps_{A}m.npy`` (units, ny, nx) rate maps, NaN where
    unvisited, ``[y, x]`` rows growing with y (what ``gridssl score`` reads), and
    ``rollout_{A}m.npz``: ``positions`` (walks, steps, 2) m from the origin, ``states`` (walks,
    steps, units), ``box`` (xmin, xmax, ymin, ymax) m, ``bin_size`` m and ``arena`` m."""
    maps_path = out / f"maps_{size:g}m.npy"
    atomic_write(maps_path, lambda fh: np.save(fh, pop.maps.maps))
    arrays = {
        "positions": ro.positions.astype(np.float32),
        "states": ro.states.astype(np.float32),
        "box": np.asarray(pop.maps.box, dtype=np.float64),
        "bin_size": np.float64(pop.maps.bin_size),
        "arena": np.float64(size),
    }
    npz_path = out / f"rollout_{size:g}m.npz"
    atomic_write(npz_path, lambda fh: np.savez_compressed(fh, **arrays))
    return maps_path, npz_path


def trial_metrics(run: str | Path, cfg: AnalysisConfig | None = None) -> dict:
    """Evaluate a run directory's latest checkpoint with the one pipeline in the primary arena
    (no topology, no figures). Keys: grid_fraction, place_fraction, square_fraction,
    n_modules, n_distinct_periods, module_periods_m, module_period_ratios, module_sizes,
    module_orientation_spread_deg (lists: one entry per module, periods ascending),
    median_grid_score, invariance_ratio, far_dist, far_cos, the unit code's
    :func:`code_metrics` (``analysis.unit_code_arena``), and with ``analysis.long_walks``
    ``long_<input>_grid_fraction`` and ``long_<input>_pv_last`` per long-walk input (e.g.
    ``long_0_5_cm_pv_last``, ``long_ratinabox_grid_fraction``).

    Definitions (those of ``summary.json``): grid cells by the config's rule (threshold, its own
    shuffle null, firing fields, not place-like); place_fraction: units with one compact field;
    square_fraction: units that are not grid cells but whose square score G90 exceeds the
    threshold with enough fields; module_sizes: grid cells per module; n_distinct_periods:
    modules whose periods differ by at least 1.15x (one period at two orientations counts once);
    invariance_ratio: revisit / random state distance along the primary arena's walks;
    far_dist / far_cos: the training-time far-pair state distance and cosine
    (``train.far_pair_m``), the mean of the last ``FAR_PAIR_WINDOW`` logged values. None where a
    number is undefined. ``cfg``: the run's own analysis section by default (a sweep's
    ``set: {analysis.KEY: ...}`` reaches here through it).
    """
    cfg = cfg or measuring_config(run)
    a = run_pipeline(run, cfg, arenas=cfg.arenas[:1], topology=False, velocity=False)
    s = a.pops.primary.summary()
    walks = {}
    for w in a.long_walks.walks if a.long_walks is not None else ():
        key = "long_" + re.sub(r"[^a-z0-9]+", "_", w.name.lower()).strip("_")
        walks[f"{key}_grid_fraction"] = _r(w.grid_fraction)
        walks[f"{key}_pv_last"] = _r(w.decay.last)
    if a.long_walks is not None and a.long_walks.still is not None:
        walks["still_pv_last"] = _r(a.long_walks.still.last)
    return {
        "grid_fraction": s["grid_fraction"],
        "place_fraction": s["place_like_fraction"],
        "square_fraction": s["square_fraction"],
        "n_modules": s["n_modules"],
        "n_distinct_periods": s["n_distinct_periods"],
        "module_periods_m": [float(x) for x in s["module_periods_m"] if x is not None],
        "module_period_ratios": s["module_period_ratios"],
        "module_sizes": s["module_sizes"],
        "module_orientation_spread_deg": s["module_orientation_spread_deg"],
        "median_grid_score": s["score_median"],
        "invariance_ratio": _r(a.generalisation.separation.invariance_ratio),
        **walks,
        **code_metrics(a.unit_code),
        **far_pair_diagnostics(run),
    }


FAR_PAIR_WINDOW = 10  # logged lines averaged for a trial's far_dist / far_cos


def far_pair_diagnostics(run: str | Path, window: int = FAR_PAIR_WINDOW) -> dict:
    """far_dist and far_cos of a run directory: the mean of the last ``window`` metrics.jsonl
    lines that have them (None for a run that logged none, or a checkpoint file)."""
    rows = read_metrics(run) if Path(run).is_dir() else []
    rows = [r for r in rows if "far_dist" in r][-window:]
    return {
        k: (round(float(np.mean([r[k] for r in rows])), 4) if rows else None)
        for k in ("far_dist", "far_cos")
    }


# ----------------------------------------------------------------------------- summary


def summarise(a: Analysis) -> dict:
    """summary.json: every number with its rule and settings."""
    cfg = a.cfg
    arenas = list(a.rollouts.by_arena)
    primary, g = arenas[0], a.generalisation
    topo = a.topology.result if a.topology is not None else None
    sep = g.separation
    summary = {
        "model": a.model,
        "n_units": a.n_units,
        "primary_arena_m": primary,
        "arenas": {P.arena_name(s): p.summary() for s, p in a.pops.by_arena.items()},
        "fourier": {
            f"module {m}": {
                "spacing_m": round(float(fl.spacing), 4),
                "orientation_deg": round(float(fl.orientation), 2),
                "wavenumbers_rad_per_m": np.round(fl.wavenumbers, 3).tolist(),
                "phase_uniformity_p": float(fl.uniformity.p_value),
                "phases_uniform": bool(fl.uniformity.uniform),
            }
            for m, fl in a.fourier.by_module.items()
        }
        | {f"module {m}": {"no_lattice": why} for m, why in a.fourier.missing.items()},
        "topology": None
        if topo is None
        else {
            "units": len(a.topology.units),
            "of": a.topology.of,
            "betti": list(topo.betti),
            "null_thresholds": np.round(topo.thresholds, 4).tolist(),
            "torus": tuple(topo.betti[:3]) == (1, 2, 1),
        },
        "generalisation": {
            P.arena_name(s): {
                "near_start_distance": round(st.near_start, 4),
                "min_far_distance": round(st.min_far, 4),
                "alias_fraction": round(st.alias_fraction, 4),
                **(
                    {
                        f"map_correlation_with_{primary:g}m_median": round(
                            float(np.nanmedian(g.same_place[s])), 4
                        )
                    }
                    if s in g.same_place
                    else {}
                ),
            }
            for s, st in g.starts.items()
        },
        "path_invariance": {
            "arena_m": g.separation_arena,
            "revisit_distance": round(sep.revisit_distance, 4),
            "random_distance": round(sep.random_distance, 4),
            "invariance_ratio": round(sep.invariance_ratio, 4),
            "n_revisits": sep.n_revisits,
            **sep.params,
        },
        "velocity_generalisation": None if a.velocity is None else _velocity_summary(a),
        "long_walks": None if a.long_walks is None else _long_walk_summary(a),
        "unit_code": None if a.unit_code is None else _unit_code_summary(a.unit_code),
        "settings": {
            "bin_size_m": cfg.bin_size,
            "seed": cfg.seed,
            "n_shuffles": cfg.shuffles,
            "topology_points": cfg.topology_points,
            "topology_shuffles": cfg.topology_shuffles,
            "samples_per_bin": {
                "primary": cfg.samples_per_bin,
                "others": cfg.samples_per_bin_others,
            },
            "walks": {
                P.arena_name(s): "{} smooth wall-bounded walks of {} steps from the origin".format(
                    *ro.states.shape[:2]
                )
                for s, ro in a.rollouts.by_arena.items()
            },
            "walk_steps": P.walk_description(cfg.step_mean, cfg.heading_noise),
            "analysis_config": dataclasses.asdict(cfg),
        },
        "timings_s": {k: round(v, 2) for k, v in a.timings.items()},
    }
    return summary


def _velocity_summary(a: Analysis) -> dict:
    v = a.velocity
    return {
        "arena_m": a.cfg.arenas[0],
        "rule": "grid fraction by the primary arena's rule (null included); map correlation: "
        "each unit's map against its map under the default walks, median over units",
        "default": {
            "walks": P.walk_description(a.cfg.step_mean, a.cfg.heading_noise),
            "grid_fraction": _r(v.default_grid_fraction),
        },
        **{
            t.name: {
                "walks": f"{t.description}: "
                + P.walk_description(round(t.step_mean, 4), round(t.heading_noise, 4)),
                "path_sides": t.path_sides,
                "grid_fraction": _r(t.grid_fraction),
                "map_correlation_median": _r(t.median_correlation),
            }
            for t in v.tests
        },
    }


def _long_walk_summary(a: Analysis) -> dict:
    lw = a.long_walks
    return {
        "arena_m": a.cfg.arenas[0],
        "rule": "grid fraction by the primary arena's rule (null included) on the long walks' "
        "own maps; pv_correlation: each state against the reference maps' population vector at "
        "its place (units standardised by their reference maps), mean per time window",
        "skipped": lw.skipped,
        "standing_still": None
        if lw.still is None
        else {
            "walks": f"{P.STILL_WALKS} walks of {P.STILL_APPROACH} steps to a place, then "
            f"{a.cfg.still_steps} steps with v = 0",
            **lw.still.summary(),
        },
        **{
            w.name: {
                "walks": w.description,
                "mean_step_m": round(w.step_mean, 5),
                "grid_fraction": _r(w.grid_fraction),
                **w.decay.summary(),
            }
            for w in lw.walks
        },
    }


def _unit_code_summary(code: P.UnitCode) -> dict:
    return {
        "arena_m": code.arena,
        "rule": "every active unit's strongest Fourier waves: hexagonal / square / bands / "
        "aperiodic (gridssl.analysis.periods); modules: gaps in the sorted periods; "
        "decorrelation: RMS distance between unit population vectors against separation "
        "(gridssl.analysis.decorrelation)",
        "periods": code.periods.summary(),
        "decorrelation": code.decorrelation.summary(),
    }


def code_metrics(code: P.UnitCode | None) -> dict:
    """The unit-code stage as flat trial metrics (None where the stage did not run): the
    fraction of active units per lattice type, the modules of periodic units (periods, sizes,
    majority lattice; finest first), the decorrelation length and the recurrence."""
    keys = ("hexagonal", "square", "bands", "aperiodic")
    if code is None:
        return dict.fromkeys(CODE_METRICS)
    counts = code.periods.counts()
    active = sum(counts[k] for k in keys)
    mods = code.periods.modules
    return {f"code_{k}_fraction": _r(counts[k] / active) if active else None for k in keys} | {
        "code_n_modules": len(mods),
        "code_module_periods_m": [_r(m.period_m) for m in mods],
        "code_module_sizes": [len(m.units) for m in mods],
        "code_module_lattices": [m.lattice for m in mods],
        "decorrelation_length_m": _r(code.decorrelation.length),
        "decorrelation_recurrence": _r(code.decorrelation.recurrence),
    }


def _r(x) -> float | None:
    x = float(x)
    return None if not np.isfinite(x) else round(x, 4)


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
