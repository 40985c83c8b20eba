"""Typed, validated configuration: data.*, model.*, loss.*, train.* (training) and analysis.*
(:class:`AnalysisConfig`, every evaluation: ``gridssl eval``, ``gridssl analyze``, in-training
evaluation, sweeps, benchmarks).

The dataclass defaults are the paper's values (docs/METHOD.md); presets
(``gridssl/presets/*.yaml``) are data that override them. Every setting the paper leaves open is a
named field here, with its documented default. A bad value raises :class:`ConfigError` with one
line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration value, key, preset or file that is not allowed (one-line message)."""


# The analysis constants, defined once: every default below and in gridssl.analysis refers here.
BIN_SIZE_M = 0.05  # rate-map bin side, m
GRID_THRESHOLD = 0.3  # grid score a grid cell must exceed (Sargolini min-max, Banino annuli)
MIN_FIELDS = 3  # firing fields a grid cell must have (one compact field is place-like)
MODULE_PERIOD_RATIO = 1.15  # periods further apart than this ratio are different modules


def _opt(default, *, doc: str, gt=None, ge=None, le=None, choices=None):
    """A config field with its constraints and documentation stored as metadata.

    A tuple default is a list setting: its constraints hold for every element.
    """
    meta = {"doc": doc, "gt": gt, "ge": ge, "le": le, "choices": choices}
    if isinstance(default, tuple):
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    """SIC velocity batches (docs/METHOD.md section 2)."""

    batch_size: int = _opt(130, gt=0, doc="B: trajectories per batch [paper]")
    seq_len: int = _opt(60, gt=0, doc="T: velocities per trajectory [paper]")
    max_speed: float = _opt(
        0.15, gt=0, doc="each velocity component ~ U(-max, max), m/step [paper]"
    )
    velocity_dist: str = _opt(
        "square",
        choices=("square", "disk"),
        doc="square: each component U(-max, max) [paper]; disk: uniform in the disk of radius "
        "max (isotropic, no preferred axes) [ours]",
    )
    slow_fraction: float = _opt(
        0.0,
        ge=0,
        le=1,
        doc="a spread of speed scales: this fraction of the base velocities gets a speed drawn "
        "log-uniformly in [slow_min_speed, max_speed] instead (0: none) [ours: long, slow "
        "walks, docs/RECIPE.md]",
    )
    slow_min_speed: float = _opt(
        0.003, gt=0, doc="slowest speed of the slow_fraction velocities, m/step [ours]"
    )
    slow_from_step: int = _opt(
        0,
        ge=0,
        doc="slow_fraction applies from this optimiser step on (0: from the start): the lattice "
        "forms on the paper's speeds first, then slow steps refine the small-step updates [ours]",
    )
    slow_seq_len: int = _opt(
        0,
        ge=0,
        doc="from slow_from_step on, the batches' T (0: seq_len or its curriculum): longer "
        "sequences ask the slow steps for path integration over a longer horizon [ours: long "
        "walks, docs/RECIPE.md]",
    )
    slow_batch_size: int = _opt(
        0,
        ge=0,
        doc="from slow_from_step on, the batches' B (0: batch_size); e.g. halve B where "
        "slow_seq_len doubles T, so that the pair losses' M = B T and their cost stay [ours]",
    )
    slow_pair_stride: int = _opt(
        1,
        ge=1,
        doc="from slow_from_step on, the pair losses (separation, invariance) see every k-th "
        "state of each trajectory, its last included (capacity and isometry see every state): "
        "a slow_seq_len k times longer at the same pair cost, so that path integration is asked "
        "over a longer horizon [ours: long walks, docs/RECIPE.md]",
    )
    still_fraction: float = _opt(
        0.0,
        ge=0,
        le=0.5,
        doc="in the slow phase, this fraction of the base velocities is exactly zero (standing "
        "still): the states before and after such a step lie at one place, so path invariance "
        "asks W(0) to leave the code where it is (the drift probe: W(0) moves it, docs/RECIPE.md) "
        "[ours: long walks]",
    )
    slow_gate: float = _opt(
        0.0,
        ge=0,
        le=1,
        doc="if > 0, the slow phase (slow_fraction, slow_seq_len, slow_batch_size, "
        "slow_pair_stride) begins at the first in-training evaluation at or after "
        "slow_from_step whose grid fraction reaches this, not at slow_from_step itself (never, "
        "if none does; needs train.eval_every): slow steps keep a lattice from forming, so a "
        "seed whose lattice forms late keeps the paper's speeds until it has one (0: at "
        "slow_from_step) [ours: docs/RECIPE.md]",
    )

    def in_slow_phase(self, step: int, slow_from: int | None = None) -> bool:
        """Whether optimiser step ``step`` (0-based) is in the slow phase, which begins at
        ``slow_from`` (None: ``slow_from_step``; training passes a gated start, ``slow_gate``)."""
        return step >= (self.slow_from_step if slow_from is None else slow_from)

    def pair_stride_at(self, step: int, slow_from: int | None = None) -> int:
        """The pair losses' state stride at optimiser step ``step`` (see :meth:`in_slow_phase`)."""
        return self.slow_pair_stride if self.in_slow_phase(step, slow_from) else 1

    seq_len_final: int = _opt(
        0, ge=0, doc="curriculum: T grows linearly from seq_len to this (0: no curriculum) [ours]"
    )
    curriculum_steps: int = _opt(1, gt=0, doc="curriculum: steps over which T grows [ours]")
    mode: str = _opt(
        "permutation",
        choices=("permutation", "independent", "identity"),
        doc="permutation: B permutations of one base sequence [paper]; independent: B independent "
        "sequences; identity: B copies of one sequence (ablations)",
    )


@dataclass
class ModelConfig:
    """The velocity-conditioned Norm-ReLU RNN g_t = Norm(ReLU(W(v_t) g_{t-1})), W(v) = MLP(v)."""

    n_units: int = _opt(128, gt=0, doc="N: recurrent units [paper]")
    mlp_layers: int = _opt(3, ge=1, doc="linear layers of the MLP R^2 -> R^(N*N) [paper: 3]")
    mlp_hidden: int = _opt(256, gt=0, doc="hidden width of the MLP [guess]")
    activation: str = _opt(
        "relu", choices=("relu", "tanh", "gelu", "silu"), doc="MLP hidden activation [guess]"
    )
    init: str = _opt(
        "identity",
        choices=("identity", "default"),
        doc="identity: last layer bias = I so W(v) starts near the identity [guess]; "
        "default: fan-in uniform initialisation everywhere",
    )
    init_scale: float = _opt(
        0.1, ge=0, doc="identity init: std of W(v) - I entries comes from last-layer weights ~ this"
    )
    learn_g0: bool = _opt(True, doc="learn the shared initial state g0 [guess]")
    groups: int = _opt(
        1,
        ge=1,
        doc="a control, not the paper: split the units into this many equal groups with a "
        "block-diagonal W(v), so no group drives another (1: the paper's full W(v)) [ours]",
    )
    norm_eps: float = _opt(1e-8, gt=0, doc="Norm(z) = z / max(|z|, eps); a zero vector stays zero")
    rollout_kernel: str = _opt(
        "auto",
        choices=("auto", "torch", "fused"),
        doc="how the training rollout is computed: fused (one numba kernel per pass on the CPU, "
        "no per-step copies of the matrices), torch (batched GEMMs, any device) or auto (fused "
        "on the CPU where torch would copy each step's matrices: few trajectories per matrix, "
        "e.g. B 32, T 60; torch's grouped plan elsewhere); equal to float32 rounding",
    )


@dataclass
class LossConfig:
    """The four SIC losses (docs/METHOD.md section 4)."""

    sigma_x: float = _opt(0.05, gt=0, doc="same-place radius, m [paper]")
    sigma_g: float = _opt(0.4, gt=0, doc="separation kernel width in state space [paper]")
    w_sep: float = _opt(1.0, ge=0, doc="separation weight [paper]")
    w_inv: float = _opt(0.1, ge=0, doc="path-invariance weight [paper]")
    w_cap: float = _opt(0.5, ge=0, doc="capacity weight [paper]")
    w_iso: float = _opt(
        1.0, ge=0, doc="conformal-isometry weight [guess: not in the paper's table]"
    )
    reduction: str = _opt(
        "mean", choices=("mean", "sum"), doc="pair losses: mean or sum over each pair set [guess]"
    )
    sep_weighting: str = _opt(
        "uniform",
        choices=("uniform", "octave", "inverse"),
        doc="separation pair weights: uniform: every pair [paper]; octave: w = (sigma_x / dx)^2 "
        "for dx > sigma_x, so each octave of distance carries about the same weight in a 2-D "
        "cloud of positions (the modules search, docs/MODULES.md) [ours]; inverse: w = sigma_x "
        "/ dx, halfway between the two on a log scale (milder than octave, which broke path "
        "invariance) [ours]",
    )
    pairs: str = _opt(
        "exact",
        choices=("exact", "sampled"),
        doc="exact: all pairs in bounded-memory chunks; sampled: unbiased pair-subsampled estimate",
    )
    pair_samples: int = _opt(65536, gt=0, doc="sampled mode: pairs drawn per pair set")
    pair_kernel: str = _opt(
        "auto",
        choices=("auto", "torch", "fused"),
        doc="how the listed pair sums (the invariance pairs; sampled separation pairs) and the "
        "search for the pairs within sigma_x run: fused (one numba pass, float64 accumulation, "
        "on the CPU), torch (gathers and scatter-adds, any device) or auto (fused on the CPU "
        "where numba is installed); the same pair lists, sums equal to float32 rounding",
    )
    pair_tiles: str = _opt(
        "masked",
        choices=("masked", "whole"),
        doc="exact mode: each tile's diagonal block masked to its upper half, or kept whole (one "
        "GEMM less per tile: about 10-20% faster at B 32, T 60, N 128, docs/PERFORMANCE.md); the "
        "same sums rounded differently, so training takes another path: the shipped network was "
        "grown masked and does not regrow whole; the modules trials use whole [ours]",
    )
    chunk_size: int = _opt(
        512,
        gt=0,
        doc="exact mode: rows of the pair matrix per tile (smaller tiles skip more of the lower "
        "triangle; 512 was fastest at every shape of benchmarks/step_time.py)",
    )
    iso_form: str = _opt(
        "variance",
        choices=("variance", "scale_free"),
        doc="variance: Var(|dg|/|v|) [paper]; scale_free: Var/Mean^2 (a constant code cannot "
        "satisfy it)",
    )
    iso_max_step: float = _opt(
        0.05,
        gt=0,
        doc="isometry over steps with 0 < |v| < this, m [paper: sigma_x = 0.05]; "
        "above 0.22 every step counts",
    )
    iso_full_until: int = _opt(
        0,
        ge=0,
        doc="isometry over every step for the first this many optimiser steps, then over "
        "|v| < iso_max_step (0: iso_max_step from the start) [ours: short-step isometry alone "
        "from scratch gave no path integration, docs/MODULES.md]",
    )

    def iso_range(self, step: int) -> float:
        """The isometry's step-length bound at optimiser step ``step`` (0-based), m."""
        return math.inf if step < self.iso_full_until else self.iso_max_step


@dataclass
class TrainConfig:
    """Optimisation, logging, checkpoints and in-training evaluation (docs/METHOD.md section 5)."""

    steps: int = _opt(2_000_000, gt=0, doc="optimiser steps [paper]")
    lr: float = _opt(2e-5, gt=0, doc="AdamW learning rate [paper]")
    weight_decay: float = _opt(0.0, ge=0, doc="AdamW weight decay [guess: not given]")
    grad_clip: float = _opt(0.1, gt=0, doc="gradient-norm clip [paper]")
    grad_accum: int = _opt(2, gt=0, doc="batches accumulated per optimiser step [paper]")
    schedule: str = _opt(
        "plateau",
        choices=("plateau", "cosine", "constant"),
        doc="plateau: ReduceLROnPlateau [paper]; cosine: decay to min_lr over train.steps; "
        "constant",
    )
    plateau_every: int = _opt(
        1000, gt=0, doc="ReduceLROnPlateau is stepped on the mean loss of this many steps [guess]"
    )
    plateau_factor: float = _opt(0.5, gt=0, le=1, doc="ReduceLROnPlateau factor [guess]")
    plateau_patience: int = _opt(10, ge=0, doc="ReduceLROnPlateau patience, in evaluations [guess]")
    min_lr: float = _opt(0.0, ge=0, doc="learning-rate floor (plateau and cosine)")
    warmup_steps: int = _opt(
        0,
        ge=0,
        doc="linear learning-rate warm-up over this many steps, before the cosine or constant "
        "schedule (0: none) [guess: the paper gives none]",
    )
    hold_steps: int = _opt(
        0,
        ge=0,
        doc="cosine schedule: the learning rate stays at its peak for this many steps and the "
        "cosine decays over the rest (0: over all of train.steps) [ours: late lattices, "
        "docs/RECIPE.md]",
    )
    seed: int = _opt(0, ge=0, le=2**32 - 1, doc="seed of every random draw of the run")
    threads: int = _opt(0, ge=0, doc="torch CPU threads (0: torch's default)")
    device: str = _opt("cpu", choices=("cpu", "cuda", "auto"), doc="where to train")
    log_every: int = _opt(10, gt=0, doc="steps between metrics.jsonl lines")
    far_pair_m: float = _opt(
        0.3,
        gt=0,
        doc="metrics far_dist / far_cos: state distance and cosine of pairs farther apart than "
        "this, m (where the separation kernel saturates) [diagnostic]",
    )
    print_every: int = _opt(
        0,
        ge=0,
        doc="when stderr is not a terminal (a log file, CI, a sweep worker): steps between plain "
        "progress lines instead of a progress bar (0: about 20 lines a run, a multiple of "
        "log_every)",
    )
    ckpt_every: int = _opt(1000, gt=0, doc="steps between checkpoints")
    keep_ckpts: int = _opt(3, gt=0, doc="checkpoints kept (the last K)")
    eval_every: int = _opt(0, ge=0, doc="steps between in-training grid evaluations (0: never)")
    eval_batches: int = _opt(8, gt=0, doc="training-distribution batches per evaluation")
    eval_shuffles: int = _opt(
        0,
        ge=0,
        doc="in-training evaluation: shuffle-null draws per unit (0: the threshold rule alone, "
        "to stay cheap); its arena, bin and grid-cell rule are analysis.*'s",
    )
    settle_window: int = _opt(
        0,
        ge=0,
        doc="if > 0, training ends before train.steps once the in-training evaluations of the "
        "last settle_window steps have settled (the means of the window's two halves within "
        "gridssl.train.SETTLE_TOLERANCE), not before settle_min_steps; needs eval_every and at "
        "least 4 evaluations in the window (0: always train.steps) [ours: issue 21's long trials]",
    )
    settle_min_steps: int = _opt(
        0, ge=0, doc="the earliest step at which settle_window may end training"
    )
    stop_at: int = _opt(
        0,
        ge=0,
        doc="end training at this step while every schedule keeps the length of train.steps, "
        "so that a resume with stop_at 0 goes on as if never stopped (0: train.steps) [ours: "
        "screens of the early phase, where a seed's lattice forms, docs/RECIPE.md round 12]",
    )


@dataclass
class AnalysisConfig:
    """How a trained network is measured: ``gridssl eval``, ``gridssl analyze``, the in-training
    evaluation's grid-cell rule, sweeps and benchmarks (docs/METHOD.md section 6). Keys:
    ``analysis.NAME``."""

    arenas: tuple[float, ...] = _opt(
        (2.0, 3.0, 4.0), gt=0, doc="square arena sides, m; the first is the primary arena"
    )
    bin_size: float = _opt(BIN_SIZE_M, gt=0, doc="rate-map bin side, m")
    samples_per_bin: float = _opt(60.0, gt=0, doc="primary arena: walk samples per bin (mean)")
    samples_per_bin_others: float = _opt(
        20.0, gt=0, doc="larger arenas and other walk statistics: samples per bin (mean)"
    )
    shuffles: int = _opt(
        20, ge=0, doc="circular time-shift null shuffles per unit (0: the threshold alone)"
    )
    threshold: float = _opt(
        GRID_THRESHOLD,
        ge=-2,
        le=2,
        doc="grid cell: min-max score (Banino annuli) above this and the null",
    )
    min_fields: int = _opt(MIN_FIELDS, ge=1, doc="grid cell: at least this many firing fields")
    step_mean: float = _opt(0.08, gt=0, doc="walks: Rayleigh step length mean, m/step")
    heading_noise: float = _opt(0.25, ge=0, doc="walks: heading turn s.d., rad/step")
    path_sides: float = _opt(4.0, gt=0, doc="walks: path length, in arena sides")
    topology: bool = _opt(True, doc="persistent homology of the largest module (analyze)")
    topology_points: int = _opt(800, ge=10, doc="landmark points of the persistent homology")
    topology_shuffles: int = _opt(
        3,
        ge=0,
        doc="persistent homology: rolled-activity null draws; a bar counts when it outlives the "
        "longest null bar, so a spurious bar passes about 1 time in n + 1 (3: 25%, 10: 9%, 19: "
        "5%), each draw another Rips complex (0: every bar counts)",
    )
    velocity_tests: bool = _opt(
        True, doc="analyze: also drive the network with walks of other velocity statistics"
    )
    slow_factor: float = _opt(0.5, gt=0, doc="velocity test 'slow': step mean x this")
    fast_factor: float = _opt(1.5, gt=0, doc="velocity test 'fast': step mean x this")
    noise_factor: float = _opt(2.0, gt=0, doc="velocity test 'noisy': heading noise x this")
    straight_noise_factor: float = _opt(
        0.1, ge=0, doc="velocity test 'straight': heading noise x this (long straight runs)"
    )
    straight_path_factor: float = _opt(
        2.0, gt=0, doc="velocity test 'straight': path length x this"
    )
    long_walks: bool = _opt(
        True,
        doc="long-walk stage: walks of long_walk_steps steps from the origin, no restarts, at "
        "each of long_walk_step_means (and a RatInABox agent where the package is installed)",
    )
    long_walk_step_means: tuple[float, ...] = _opt(
        (0.005, 0.02, 0.08),
        gt=0,
        doc="long walks: Rayleigh step-length means, m/step (0.005: RatInABox's default agent "
        "at dt 0.05 s; 0.08: the default walks)",
    )
    long_walk_steps: int = _opt(
        6000, ge=10, doc="long walks: steps per walk (6000: 5 min at 20 Hz)"
    )
    long_walk_count: int = _opt(8, ge=1, doc="long walks: walks per step size (vectorised)")
    long_walk_windows: int = _opt(
        20, ge=1, doc="long walks: time windows of the population-vector correlation curve"
    )
    still_steps: int = _opt(
        200,
        ge=0,
        doc="long walks: steps of standing still (v = 0) after short walks to random places; "
        "the population vector there against the reference maps, over those steps (0: skip)",
    )
    ratinabox_seconds: float = _opt(
        300.0, gt=0, doc="long walks: RatInABox default agent, seconds (2 m box, from the centre)"
    )
    ratinabox_dt: float = _opt(0.05, gt=0, doc="long walks: RatInABox time step, s")
    verdict_long_walk_correlation: float = _opt(
        0.7,
        ge=-1,
        le=1,
        doc="report verdict: a code holds on long walks at this population-vector correlation "
        "over the last fifth of the walk",
    )
    verdict_grid_fraction: float = _opt(
        0.3, ge=0, le=1, doc="report verdict: grid cells reproduced at this grid fraction"
    )
    verdict_map_correlation: float = _opt(
        0.5, ge=-1, le=1, doc="report verdict: a code generalises at this median map correlation"
    )
    verdict_invariance_ratio: float = _opt(
        0.5, gt=0, doc="report verdict: path invariant below this revisit / random distance"
    )
    unit_code_arena: float = _opt(
        4.0,
        ge=0,
        doc="unit code (every active unit's period and lattice type, and the population's "
        "decorrelation curve): arena side, m, one of arenas (0: skip the stage)",
    )
    unit_active_fraction: float = _opt(
        0.01,
        ge=0,
        le=1,
        doc="unit code: a unit is active when its map's s.d. over visited bins is at least this "
        "fraction of the population's largest",
    )
    unit_min_explained: float = _opt(
        0.3,
        ge=0,
        le=1,
        doc="unit code: a unit is periodic when its lattice's waves explain at least this "
        "fraction of its map's variance (else aperiodic: place-like fields, noise)",
    )
    unit_partner_ratio: float = _opt(
        0.3,
        gt=0,
        le=1,
        doc="unit code: a wave at 60 and 120 deg (hexagonal) or 90 deg (square) from the "
        "strongest counts when it explains at least this fraction of the strongest's variance",
    )
    unit_angle_tolerance_deg: float = _opt(
        12.0, gt=0, le=30, doc="unit code: a partner wave's angle may differ this much, deg"
    )
    unit_k_tolerance: float = _opt(
        0.15, gt=0, le=0.5, doc="unit code: a partner wave's |k| may differ this fraction"
    )
    module_period_ratio: float = _opt(
        MODULE_PERIOD_RATIO,
        gt=1,
        doc="unit code: units' periods further apart than this ratio (a gap in the sorted "
        "periods) start a new module",
    )
    module_min_units: int = _opt(
        3, ge=1, doc="unit code: a module has at least this many periodic units (fewer: unassigned)"
    )
    decorrelation_max_r: float = _opt(
        1.5, gt=0, doc="decorrelation curve: largest spatial separation, m"
    )
    decorrelation_level: float = _opt(
        0.9,
        gt=0,
        le=1,
        doc="decorrelation length: the first separation where the distance reaches this "
        "fraction of its plateau (the mean over the outer half of the separations)",
    )
    score_shuffles: int = _opt(
        100,
        ge=0,
        doc="gridssl score (maps from anywhere): block-shuffle null draws per unit; with 20 a "
        "smooth noise map whose shuffles beat it 15% of the time still passes about 1 time in 6, "
        "with 100 about 1 in 250 (binomial tails) (0: the threshold alone)",
    )
    score_block_bins: int = _opt(
        0,
        ge=0,
        doc="gridssl score: block side of the null, bins (0: a fifth of the shorter "
        "map side, at least 2)",
    )
    seed: int = _opt(0, ge=0, doc="seed of the walks, the null and the topology")


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return dataclasses.asdict(self)


_SECTION_CLASSES = {
    "data": DataConfig,
    "model": ModelConfig,
    "loss": LossConfig,
    "train": TrainConfig,
    "analysis": AnalysisConfig,
}


def preset_names() -> list[str]:
    files = resources.files("gridssl").joinpath("presets").iterdir()
    return sorted(p.name[: -len(".yaml")] for p in files if p.name.endswith(".yaml"))


MAX_INT = 2**53  # integers beyond this are not exact as floats (and no setting needs them)


def _coerce(key: str, value: Any, typ: type) -> Any:
    """Convert a YAML or command-line value to the field's type, or raise ConfigError."""
    text = repr(value)
    if typ is bool:
        if isinstance(value, bool):
            return value
        low = str(value).strip().lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise ConfigError(f"{key} = {text} is not allowed: expected true or false")
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key} = {text} is not allowed: expected an integer")
        try:
            num = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{key} = {text} is not allowed: expected an integer") from None
        if not math.isfinite(num) or num != int(num):
            raise ConfigError(f"{key} = {text} is not allowed: expected an integer")
        if abs(num) >= MAX_INT:
            raise ConfigError(f"{key} = {text} is not allowed: expected an integer below 2**53")
        return int(num)
    if typ is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key} = {text} is not allowed: expected a number")
        try:
            num = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{key} = {text} is not allowed: expected a number") from None
        if not math.isfinite(num):
            raise ConfigError(f"{key} = {text} is not allowed: expected a finite number")
        return num
    if not isinstance(value, str):
        raise ConfigError(f"{key} = {text} is not allowed: expected a string")
    return value


def _check(key: str, value: Any, meta: dict) -> None:
    if meta["choices"] is not None and value not in meta["choices"]:
        raise ConfigError(
            f"{key} = {value!r} is not allowed: choose one of {list(meta['choices'])}"
        )
    if meta["gt"] is not None and not value > meta["gt"]:
        raise ConfigError(f"{key} = {value!r} is not allowed: must be > {meta['gt']}")
    if meta["ge"] is not None and not value >= meta["ge"]:
        raise ConfigError(f"{key} = {value!r} is not allowed: must be >= {meta['ge']}")
    if meta["le"] is not None and not value <= meta["le"]:
        raise ConfigError(f"{key} = {value!r} is not allowed: must be <= {meta['le']}")


def _field_map(section: str) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(_SECTION_CLASSES[section])}


_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "tuple[float, ...]": tuple}


def _coerce_field(key: str, value: Any, f: dataclasses.Field) -> Any:
    """``_coerce`` for one field; a list setting takes a list or a "2,3,4" / "2 3 4" string."""
    typ = _TYPES[str(f.type)]
    if typ is not tuple:
        return _coerce(key, value, typ)
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise ConfigError(f"{key} = {value!r} is not allowed: expected a non-empty list of numbers")
    return tuple(_coerce(key, v, float) for v in items)


def _check_field(key: str, value: Any, meta: dict) -> None:
    for v in value if isinstance(value, tuple) else (value,):
        _check(key, v, meta)


def _apply(raw: dict[str, dict[str, Any]], key: str, value: Any) -> None:
    """Set ``section.name = value`` in a nested dict after checking the key exists."""
    section, _, name = key.partition(".")
    if section not in _SECTION_CLASSES or not name:
        raise ConfigError(
            f"unknown config key {key!r}: keys look like {sorted(_SECTION_CLASSES)}.NAME"
        )
    fields = _field_map(section)
    if name not in fields:
        raise ConfigError(f"unknown config key {key!r}: {section}.* has {sorted(fields)}")
    raw.setdefault(section, {})[name] = value


def _merge(raw: dict, layer: Any, origin: str) -> None:
    if layer is None:
        return
    if not isinstance(layer, dict):
        raise ConfigError(f"{origin}: expected a mapping of sections {sorted(_SECTION_CLASSES)}")
    for section, values in layer.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: section {section!r} must be a mapping of key: value")
        for name, value in values.items():
            _apply(raw, f"{section}.{name}", value)


def build(raw: dict[str, dict[str, Any]]) -> Config:
    """Validate a nested dict ``{section: {name: value}}`` into a Config (missing: defaults)."""
    sections = {}
    for section, cls in _SECTION_CLASSES.items():
        kwargs = {}
        for name, value in raw.get(section, {}).items():
            kwargs[name] = _coerce_field(f"{section}.{name}", value, _field_map(section)[name])
        obj = cls(**kwargs)
        for f in dataclasses.fields(cls):
            _check_field(f"{section}.{f.name}", getattr(obj, f.name), f.metadata)
        sections[section] = obj
    m = sections["model"]
    if m.n_units % m.groups:
        raise ConfigError(
            f"model.groups = {m.groups} is not allowed: it must divide model.n_units = {m.n_units}"
        )
    t = sections["train"]
    if t.hold_steps and t.hold_steps >= t.steps:
        raise ConfigError(
            f"train.hold_steps = {t.hold_steps} is not allowed: it must be below train.steps = "
            f"{t.steps} (the cosine decays over the steps after the hold)"
        )
    if t.settle_window and (not t.eval_every or t.settle_window < 3 * t.eval_every):
        raise ConfigError(
            f"train.settle_window = {t.settle_window} is not allowed with train.eval_every = "
            f"{t.eval_every}: the window must hold at least 4 evaluations, so give eval_every > 0 "
            f"and settle_window >= 3 * eval_every, or settle_window = 0"
        )
    d = sections["data"]
    if d.slow_gate > 0 and not t.eval_every:
        raise ConfigError(
            f"data.slow_gate = {d.slow_gate} is not allowed with train.eval_every = 0: the gate "
            "reads the in-training evaluation; set train.eval_every or data.slow_gate = 0"
        )
    slow_t = d.slow_seq_len or max(d.seq_len, d.seq_len_final)
    if d.slow_pair_stride > 1 and d.slow_pair_stride * 2 > slow_t:
        raise ConfigError(
            f"data.slow_pair_stride = {d.slow_pair_stride} is not allowed: the slow phase's "
            f"trajectories have {slow_t} states, so the stride must be at most {slow_t // 2} "
            "(at least two states of each trajectory in the pair losses)"
        )
    check_geometry(sections["analysis"])
    return Config(**sections)


def _read_yaml(path: Path, what: str) -> Any:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{what} {str(path)!r} does not exist") from None
    except OSError as err:
        raise ConfigError(f"{what} {str(path)!r} cannot be read: {err.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {str(path)!r} is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        line = getattr(getattr(err, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise ConfigError(f"{what} {str(path)!r} is not valid YAML{where}") from None
    if data is None:
        raise ConfigError(f"{what} {str(path)!r} is empty: expected {{section: {{key: value}}}}")
    return data


def _apply_overrides(raw: dict, overrides: list[str] | None) -> None:
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set {item!r} is not allowed: expected KEY=VALUE, e.g. loss.sigma_g=0.5"
            )
        _apply(raw, key.strip(), value.strip())


def load_config(
    preset: str | None = None,
    file: str | Path | None = None,
    overrides: list[str] | None = None,
    **direct: Any,
) -> Config:
    """Resolve a config: dataclass defaults < preset < file < ``key=value`` overrides < direct.

    ``direct`` takes dotted keys with underscores for dots, e.g. ``train__steps=100``.
    """
    raw: dict[str, dict[str, Any]] = {}
    if preset is not None:
        names = preset_names()
        if preset not in names:
            raise ConfigError(f"unknown preset {preset!r}: choose one of {names}")
        text = resources.files("gridssl").joinpath("presets", f"{preset}.yaml").read_text()
        _merge(raw, yaml.safe_load(text), f"preset {preset!r}")
    if file is not None:
        _merge(raw, _read_yaml(Path(file), "config file"), f"config file {str(file)!r}")
    _apply_overrides(raw, overrides)
    for dunder, value in direct.items():
        if value is not None:
            _apply(raw, dunder.replace("__", "."), value)
    return build(raw)


RETIRED_KEYS = ("train.eval_box", "train.eval_bin_size")  # now analysis.arenas[0], .bin_size


def _migrate(d: dict) -> dict:
    """Saved configs of gridssl 0.1.0 development runs: loss.iso_steps became
    loss.iso_max_step; the in-training evaluation's own arena and bin (``RETIRED_KEYS``, always
    2 m and 5 cm, as analysis.*'s defaults) gave way to the analysis section's."""
    loss = dict(d.get("loss", {}))
    if "iso_steps" in loss:
        steps = loss.pop("iso_steps")
        loss["iso_max_step"] = loss.get("sigma_x", 0.05) if steps == "short" else 1.0
        d = {**d, "loss": loss}
    for key in RETIRED_KEYS:
        section, _, name = key.partition(".")
        if name in d.get(section, {}):
            d = {**d, section: {k: v for k, v in d[section].items() if k != name}}
    return d


def config_from_dict(d: dict, overrides: list[str] | None = None) -> Config:
    """Rebuild a Config saved by :meth:`Config.to_dict` (validated like any other input), with
    optional ``key=value`` overrides on top (as ``--set`` gives them)."""
    raw: dict[str, dict[str, Any]] = {}
    _merge(raw, _migrate(d), "saved config")
    _apply_overrides(raw, overrides)
    return build(raw)


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def describe(sections: tuple[str, ...] = tuple(_SECTION_CLASSES)) -> str:
    """Every key with its default and documentation (for ``--help`` and the README)."""
    lines = []
    for section in sections:
        for f in dataclasses.fields(_SECTION_CLASSES[section]):
            lines.append(f"  {section}.{f.name} = {_default(f)!r}: {f.metadata['doc']}")
    return "\n".join(lines)


MIN_BINS_PER_SIDE = 5  # the SAC needs a few lags (as `gridssl score`'s smallest map)
MAX_BINS_PER_SIDE = 1000  # 10^6 bins per map: beyond it the walks needed exceed any memory


def check_geometry(cfg: AnalysisConfig) -> None:
    """Every arena holds between MIN and MAX_BINS_PER_SIDE bins per side, or ConfigError."""
    for a in cfg.arenas:
        n = a / cfg.bin_size
        if not MIN_BINS_PER_SIDE <= n <= MAX_BINS_PER_SIDE:
            raise ConfigError(
                f"analysis.arenas = {a:g} m with analysis.bin_size = {cfg.bin_size:g} m is not "
                f"allowed: {n:.3g} bins per side, expected {MIN_BINS_PER_SIDE} to "
                f"{MAX_BINS_PER_SIDE}"
            )
