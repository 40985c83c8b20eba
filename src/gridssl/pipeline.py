"""The one evaluation pipeline: stage functions that take and return plain dataclasses.

    rollout -> population -> modules -> Fourier -> topology -> generalisation (arenas, path
    invariance) -> velocity generalisation -> long walks -> unit code (every active unit's
    period and lattice, the decorrelation curve) -> (figures, summary: gridssl.analyze)

Every setting comes from one :class:`~gridssl.config.AnalysisConfig`. ``gridssl analyze`` runs every
stage; ``gridssl eval`` and :func:`gridssl.analyze.trial_metrics` run the same stages on the
primary arena only, without topology. The primary arena (the first) gets the shuffle null and
dense sampling; the other arenas are judged by the threshold rule alone (no null, to keep the run
short).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .analysis.decorrelation import Decorrelation, decorrelation
from .analysis.fourier import ModuleLattice, module_lattice
from .analysis.generalisation import (
    Separation,
    StartDistance,
    crop_correlation,
    separation,
    start_distance,
)
from .analysis.gridscore import GridScores
from .analysis.gridscore import score_maps as score_grid_maps
from .analysis.longwalk import PVDecay, pv_decay
from .analysis.modules import ModuleResult
from .analysis.nulls import block_shuffle_null
from .analysis.periods import UnitPeriods, unit_periods
from .analysis.population import GridPopulation, analyse_maps, grid_population
from .analysis.ratemaps import RateMaps, rate_maps
from .analysis.topology import TopologyResult, population_topology, spectral_embedding
from .config import AnalysisConfig
from .data import Arena, Walk, ratinabox_positions, smooth_trajectories, steps_from_positions
from .evaluate import ArenaRollout, arena_rollout
from .model import SICNet


def arena_name(size: float) -> str:
    """The name of an arena in summaries and figures: "2 m"."""
    return f"{size:g} m"


def score_label(scores: GridScores, bin_size: float) -> str:
    """The grid-score variant, its annuli and the bin size, for every figure and summary."""
    p = scores.params
    name = {"minmax": "min-max"}.get(scores.variant, scores.variant)
    outers = np.asarray(p.get("outers", [np.nan]))
    return (
        f"{name}, Banino annuli (inner {p.get('inner'):g}, outer {outers[0]:g}-{outers[-1]:g} of "
        f"the map size), {bin_size * 100:g} cm bins"
    )


def walk_description(step_mean: float, heading_noise: float) -> str:
    return f"Rayleigh steps of mean {step_mean:g} m, heading noise {heading_noise:g} rad/step"


# ----------------------------------------------------------------------------- stage results


@dataclass
class Rollouts:
    """The network driven along smooth walks from the origin in each arena (config order)."""

    by_arena: dict[float, ArenaRollout]
    g0: np.ndarray  # (N,) the start state

    @property
    def primary(self) -> float:
        return next(iter(self.by_arena))


@dataclass
class Populations:
    """Rate maps, scores, null, grid cells, lattice and modules per arena."""

    by_arena: dict[float, GridPopulation]

    @property
    def primary(self) -> GridPopulation:
        return next(iter(self.by_arena.values()))


@dataclass
class Modules:
    """The primary arena's modules and their member units."""

    result: ModuleResult
    members: dict[int, np.ndarray]  # module -> unit indices
    largest: int | None  # the module with the most units (None: no module)


@dataclass
class Fourier:
    """The Fourier lattice and phases of every module with at least 3 units; ``missing``: the
    modules whose maps hold no lattice (fewer than three admissible peaks, or no usable unit),
    with the reason."""

    by_module: dict[int, ModuleLattice]
    missing: dict[int, str] = field(default_factory=dict)


@dataclass
class Topology:
    """Persistent homology of the largest module (or of all units when there is none)."""

    of: str
    units: np.ndarray  # (K,) unit indices
    result: TopologyResult | None  # None: fewer than 6 units
    embedding3: np.ndarray | None  # (P, 3) spectral embedding, for the figure


@dataclass
class Generalisation:
    """Distance from the start state per arena, same-place map correlation against the primary
    arena, and path invariance in the largest arena."""

    starts: dict[float, StartDistance]
    same_place: dict[float, np.ndarray]  # larger arena -> (U,) map correlation
    separation: Separation
    separation_arena: float


@dataclass
class WalkTest:
    """The primary arena driven by walks of other velocity statistics than the default."""

    name: str
    description: str
    step_mean: float
    heading_noise: float
    path_sides: float
    grid_fraction: float
    map_correlation: np.ndarray  # (U,) each unit's map against its map under the default walks
    population: GridPopulation = field(repr=False)

    @property
    def median_correlation(self) -> float:
        return float(np.nanmedian(self.map_correlation))


@dataclass
class VelocityGeneralisation:
    default_grid_fraction: float
    default_maps: np.ndarray  # (U, ny, nx) the primary arena's maps under the default walks
    tests: list[WalkTest]


# ----------------------------------------------------------------------------- stages


def rollout(net: SICNet, cfg: AnalysisConfig, arenas: tuple[float, ...] | None = None) -> Rollouts:
    """Roll ``net`` out in each arena along the configured walks (seed + arena index)."""
    arenas = cfg.arenas if arenas is None else arenas
    runs = {size: _arena_walks(net, cfg, size, k) for k, size in enumerate(arenas)}
    g0 = net.g0().detach().cpu().numpy()
    return Rollouts(runs, g0)


def _arena_walks(net: SICNet, cfg: AnalysisConfig, size: float, k: int) -> ArenaRollout:
    """The configured walks in the ``k``-th arena (seed + k); the primary arena (k = 0) gets
    dense sampling, the others are threshold-only checks."""
    return arena_rollout(
        net,
        Arena(size),
        bin_size=cfg.bin_size,
        seed=cfg.seed + k,
        per_bin=cfg.samples_per_bin if k == 0 else cfg.samples_per_bin_others,
        step_mean=cfg.step_mean,
        path_sides=cfg.path_sides,
        heading_noise=cfg.heading_noise,
    )


def population(rollouts: Rollouts, cfg: AnalysisConfig) -> Populations:
    """Grid population per arena; the shuffle null only in the primary arena."""
    pops = {}
    for k, (size, ro) in enumerate(rollouts.by_arena.items()):
        pops[size] = _population(ro, cfg, cfg.seed + k, cfg.shuffles if k == 0 else 0)
    return Populations(pops)


def _population(ro: ArenaRollout, cfg: AnalysisConfig, seed: int, shuffles: int):
    return score_population(*ro.flat, ro.arena.box, cfg, seed, shuffles)


def score_population(
    positions: np.ndarray,
    activity: np.ndarray,
    box: tuple[float, float, float, float],
    cfg: AnalysisConfig,
    seed: int,
    shuffles: int,
) -> GridPopulation:
    """positions (S, 2) m, activity (S, U) in ``box`` -> the grid population by the config's
    bin and grid-cell rule, with ``shuffles`` null draws per unit (0: the threshold alone). The
    one scoring stage of every measurement: the arenas here and the in-training evaluation
    (:func:`gridssl.train.quick_eval`, ``train.eval_shuffles``)."""
    return grid_population(
        positions,
        activity,
        box,
        cfg.bin_size,
        rng=seed,
        n_shuffles=shuffles,
        threshold=cfg.threshold,
        min_fields=cfg.min_fields,
    )


def block_bins(cfg: AnalysisConfig, ny: int, nx: int) -> int:
    """The block side of :func:`score_maps`' null: ``analysis.score_block_bins``, or a fifth of
    the shorter map side (at least 2)."""
    return cfg.score_block_bins or max(2, min(ny, nx) // 5)


def score_maps(
    maps: np.ndarray, bin_size: float, cfg: AnalysisConfig, variant: str = "minmax"
) -> GridPopulation:
    """Rate maps from anywhere (U, ny, nx), NaN = unvisited, ``bin_size`` m -> the grid
    population by the config's rule, against a block-shuffle null of ``analysis.score_shuffles``
    draws per unit (:func:`block_bins`; seed ``analysis.seed``) scored with the same
    ``variant`` (``gridssl score``)."""
    ny, nx = maps.shape[1:]
    visited = np.isfinite(maps).any(0).astype(np.int64)
    rm = RateMaps(maps, visited, (0.0, nx * bin_size, 0.0, ny * bin_size), bin_size)
    null = None
    if cfg.score_shuffles:
        null = block_shuffle_null(
            maps,
            cfg.score_shuffles,
            block_bins(cfg, ny, nx),
            np.random.default_rng(cfg.seed),
            scorer=lambda m: score_grid_maps(m, variant=variant),
        )
    return analyse_maps(rm, null, cfg.threshold, cfg.seed, cfg.min_fields, variant)


def modules(pops: Populations) -> Modules:
    """The primary arena's modules and their members."""
    res = pops.primary.modules
    members = {m: np.flatnonzero(res.labels == m) for m in range(res.k)}
    largest = int(np.argmax(res.sizes)) if res.k else None
    return Modules(res, members, largest)


def fourier(pops: Populations, mods: Modules, cfg: AnalysisConfig) -> Fourier:
    """Module Fourier lattice and phases for each module of at least 3 units. A module whose
    mean power has fewer than three admissible lattice peaks (say a few grid-scoring units of a
    square or banded code) has no lattice: it is listed in ``missing``, and the rest of the
    analysis goes on (a sweep trial's measurement failed on one, 2026-12-08)."""
    maps = pops.primary.maps.maps
    found: dict[int, ModuleLattice] = {}
    missing: dict[int, str] = {}
    for m, units in mods.members.items():
        if len(units) < 3:
            continue
        try:
            found[m] = module_lattice(maps[units], cfg.bin_size)
        except ValueError as err:
            missing[m] = str(err)
    return Fourier(found, missing)


def topology(rollouts: Rollouts, mods: Modules, cfg: AnalysisConfig) -> Topology:
    """Persistent homology of the largest module's activity in the primary arena."""
    if mods.largest is not None:
        units, of = mods.members[mods.largest], f"module {mods.largest}"
    else:  # no module: the whole population's topology (still informative: a place code)
        n = rollouts.g0.shape[-1]
        units, of = np.arange(n), "all units (no module found)"
    if len(units) < 6:
        return Topology(of, units, None, None)
    _, act = rollouts.by_arena[rollouts.primary].flat
    topo = population_topology(
        act[:, units], n_points=cfg.topology_points, n_null=cfg.topology_shuffles, rng=cfg.seed
    )
    return Topology(of, units, topo, spectral_embedding(topo.embedding, 3, rng=cfg.seed))


def generalisation(rollouts: Rollouts, pops: Populations, cfg: AnalysisConfig) -> Generalisation:
    """Start distance per arena, same-place map correlation, path invariance (largest arena)."""
    primary = rollouts.primary
    starts = {a: start_distance(*ro.flat, rollouts.g0) for a, ro in rollouts.by_arena.items()}
    first = pops.primary.maps
    # each unit's primary-arena map against the same region of its map in every larger arena
    same_place = {
        a: crop_correlation(first.maps, first.box, p.maps.maps, p.maps.box, cfg.bin_size)
        for a, p in list(pops.by_arena.items())[1:]
        if a > primary
    }
    big = list(rollouts.by_arena)[-1]
    ro = rollouts.by_arena[big]
    sep = separation(ro.positions, ro.states, np.random.default_rng(cfg.seed))
    return Generalisation(starts, same_place, sep, big)


def walk_variants(cfg: AnalysisConfig) -> list[tuple[str, str, float, float, float]]:
    """(name, description, step mean, heading noise, path sides) of the velocity tests."""
    s, h, p = cfg.step_mean, cfg.heading_noise, cfg.path_sides
    return [
        ("slow", f"steps x{cfg.slow_factor:g}", s * cfg.slow_factor, h, p),
        ("fast", f"steps x{cfg.fast_factor:g}", s * cfg.fast_factor, h, p),
        ("noisy", f"heading noise x{cfg.noise_factor:g}", s, h * cfg.noise_factor, p),
        (
            "straight",
            f"long straight runs (heading noise x{cfg.straight_noise_factor:g}, paths "
            f"x{cfg.straight_path_factor:g})",
            s,
            h * cfg.straight_noise_factor,
            p * cfg.straight_path_factor,
        ),
    ]


def velocity_generalisation(
    net: SICNet, pops: Populations, cfg: AnalysisConfig
) -> VelocityGeneralisation:
    """The primary arena driven by walks unlike the default ones (RQ3): the grid fraction under
    the same rule (shuffle null included) and each unit's map against its default-walk map."""
    size = cfg.arenas[0]
    base = pops.primary
    tests = []
    for i, (name, desc, step, noise, sides) in enumerate(walk_variants(cfg)):
        seed = cfg.seed + len(cfg.arenas) + i  # walks independent of every arena's
        ro = arena_rollout(
            net,
            Arena(size),
            bin_size=cfg.bin_size,
            seed=seed,
            per_bin=cfg.samples_per_bin_others,
            step_mean=step,
            path_sides=sides,
            heading_noise=noise,
        )
        pop = _population(ro, cfg, seed, cfg.shuffles)
        corr = crop_correlation(
            base.maps.maps, base.maps.box, pop.maps.maps, pop.maps.box, cfg.bin_size
        )
        frac = float(pop.is_grid.mean())
        tests.append(WalkTest(name, desc, step, noise, sides, frac, corr, pop))
    return VelocityGeneralisation(float(base.is_grid.mean()), base.maps.maps, tests)


# ----------------------------------------------------------------------------- long walks


@dataclass
class LongWalk:
    """One long input: walks from the origin with no restarts, scored like the default walks."""

    name: str
    description: str
    step_mean: float  # measured mean step length, m/step
    grid_fraction: float  # the primary arena's rule, shuffle null included
    decay: PVDecay  # population-vector correlation with the reference maps over time
    population: GridPopulation = field(repr=False)


@dataclass
class LongWalks:
    walks: list[LongWalk]
    skipped: list[str]  # inputs not run, with the reason (RatInABox absent)
    still: PVDecay | None = None  # standing still after reaching a place (v = 0 each step)


def long_walk_inputs(cfg: AnalysisConfig) -> tuple[list[tuple[str, str, object]], list[str]]:
    """(name, description, Walk) for each long input, and the inputs skipped with a reason."""
    size = cfg.arenas[0]
    inputs, skipped = [], []
    for i, mean in enumerate(cfg.long_walk_step_means):
        gen = torch.Generator().manual_seed(cfg.seed + 100 + i)
        vel, pos = smooth_trajectories(
            cfg.long_walk_count,
            cfg.long_walk_steps,
            Arena(size),
            gen,
            step_mean=mean,
            turn_sd=cfg.heading_noise,
        )
        desc = f"{cfg.long_walk_count} walks of {cfg.long_walk_steps} steps, " + walk_description(
            mean, cfg.heading_noise
        )
        inputs.append((f"{mean * 100:g} cm", desc, Walk(vel, pos)))
    try:
        raw, origin = ratinabox_positions(
            cfg.ratinabox_seconds, cfg.ratinabox_dt, size, seed=cfg.seed
        )
    except ImportError as err:
        skipped.append(f"RatInABox: {err}")
    else:
        desc = (
            f"RatInABox default Agent, {size:g} m box, dt {cfg.ratinabox_dt:g} s, "
            f"{cfg.ratinabox_seconds:g} s from the centre"
        )
        inputs.append(("RatInABox", desc, steps_from_positions(raw, origin=origin)))
    return inputs, skipped


def long_walks(net: SICNet, pops: Populations, cfg: AnalysisConfig) -> LongWalks:
    """Long walks from the origin, no restarts: the grid fraction of their rate maps and the
    population vector against the primary arena's reference maps along them, over time."""
    ref = pops.primary.maps
    inputs, skipped = long_walk_inputs(cfg)
    out = []
    for k, (name, desc, walk) in enumerate(inputs):
        with torch.no_grad():
            states = net.rollout(walk.velocities).cpu().numpy()
        pos = walk.positions.numpy()
        flat = pos.reshape(-1, 2), states.reshape(-1, states.shape[-1])
        pop = grid_population(
            *flat,
            ref.box,
            cfg.bin_size,
            rng=cfg.seed + 200 + k,
            n_shuffles=cfg.shuffles,
            threshold=cfg.threshold,
            min_fields=cfg.min_fields,
        )
        decay = pv_decay(pos, states, ref.maps, ref.box, cfg.bin_size, cfg.long_walk_windows)
        mean = float(walk.step_lengths.mean())
        out.append(LongWalk(name, desc, mean, float(pop.is_grid.mean()), decay, pop))
    return LongWalks(out, skipped, standing_still(net, pops, cfg))


STILL_WALKS = 64  # short walks to random places before standing still
STILL_APPROACH = 20  # their steps, at the default step mean


def standing_still(net: SICNet, pops: Populations, cfg: AnalysisConfig) -> PVDecay | None:
    """Walk ``STILL_APPROACH`` steps from the origin to a place, then stand still (v = 0) for
    ``cfg.still_steps`` steps: the population vector against the reference maps at that place,
    over the standing. A network whose W(0) is not the identity on its code drifts to a fixed
    point of W(0) and loses the place without moving (window 0 is the arrival)."""
    if not cfg.still_steps:
        return None
    ref = pops.primary.maps
    gen = torch.Generator().manual_seed(cfg.seed + 300)
    vel, pos = smooth_trajectories(
        STILL_WALKS, STILL_APPROACH, Arena(cfg.arenas[0]), gen, step_mean=cfg.step_mean
    )
    stand = torch.zeros(STILL_WALKS, cfg.still_steps, 2)
    with torch.no_grad():
        states = net.rollout(torch.cat([vel, stand], 1))[:, STILL_APPROACH - 1 :].cpu().numpy()
    place = pos[:, -1:].expand(-1, states.shape[1], 2).numpy()
    windows = min(cfg.long_walk_windows, states.shape[1])
    return pv_decay(place, states, ref.maps, ref.box, cfg.bin_size, windows)


@dataclass
class UnitCode:
    """Every active unit's period and lattice type, their modules, and the population's
    decorrelation curve, in one arena (``analysis.unit_code_arena``)."""

    arena: float
    periods: UnitPeriods
    decorrelation: Decorrelation


def unit_code_maps(net: SICNet, pops: Populations | None, cfg: AnalysisConfig) -> np.ndarray:
    """The rate maps (U, ny, nx) of the ``analysis.unit_code_arena`` arena: that arena's maps
    where the populations have them; otherwise from a rollout there with the walks that arena
    gets in ``gridssl analyze`` (same seed), so both give the same maps."""
    size = cfg.unit_code_arena
    if pops is not None and size in pops.by_arena:
        return pops.by_arena[size].maps.maps
    k = cfg.arenas.index(size) if size in cfg.arenas else len(cfg.arenas)
    ro = _arena_walks(net, cfg, size, k)
    return rate_maps(*ro.flat, ro.arena.box, cfg.bin_size).maps


def unit_periods_of(maps: np.ndarray, cfg: AnalysisConfig) -> UnitPeriods:
    """:func:`gridssl.analysis.periods.unit_periods` with the config's settings."""
    return unit_periods(
        maps,
        cfg.bin_size,
        active_fraction=cfg.unit_active_fraction,
        min_explained=cfg.unit_min_explained,
        partner_ratio=cfg.unit_partner_ratio,
        angle_tolerance_deg=cfg.unit_angle_tolerance_deg,
        k_tolerance=cfg.unit_k_tolerance,
        period_ratio=cfg.module_period_ratio,
        min_units=cfg.module_min_units,
    )


def unit_code(net: SICNet, pops: Populations | None, cfg: AnalysisConfig) -> UnitCode | None:
    """The unit-code stage on :func:`unit_code_maps` (None where ``analysis.unit_code_arena`` is
    0)."""
    if not cfg.unit_code_arena:
        return None
    maps = unit_code_maps(net, pops, cfg)
    decor = decorrelation(
        maps, cfg.bin_size, max_r=cfg.decorrelation_max_r, level=cfg.decorrelation_level
    )
    return UnitCode(cfg.unit_code_arena, unit_periods_of(maps, cfg), decor)
