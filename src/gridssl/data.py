"""Velocities: SIC training batches and smooth evaluation trajectories.

A velocity is the displacement per step, in metres (no dt). Positions are cumulative sums from the
shared origin x_0 = 0: ``positions[:, t]`` is the place reached after step ``t`` (x_1 .. x_T).
Every random draw comes from the ``torch.Generator`` passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .config import DataConfig


@dataclass
class VelocityBatch:
    """One SIC batch. ``velocities == distinct[index]``: the MLP only runs on ``distinct``."""

    velocities: torch.Tensor  # (B, T, 2) m/step
    positions: torch.Tensor  # (B, T, 2) m, x_1..x_T from x_0 = 0
    distinct: torch.Tensor  # (K, 2) the distinct velocities (K = T, or B*T when independent)
    index: torch.Tensor  # (B, T) long, into distinct

    def to(self, device) -> VelocityBatch:
        return VelocityBatch(
            *(t.to(device) for t in (self.velocities, self.positions, self.distinct, self.index))
        )


def sic_batch(
    batch_size: int,
    seq_len: int,
    max_speed: float,
    mode: str = "permutation",
    generator: torch.Generator | None = None,
    dist: str = "square",
    slow_fraction: float = 0.0,
    slow_min_speed: float = 0.003,
    still_fraction: float = 0.0,
) -> VelocityBatch:
    """Draw one SIC batch (docs/METHOD.md section 2).

    permutation: one base sequence of T velocities, each component U(-max_speed, max_speed), and B
    random permutations of it (every trajectory ends at the same point). independent: B independent
    sequences. identity: B copies of one sequence (no augmentation). ``dist="disk"`` draws each
    velocity uniformly in the disk of radius ``max_speed`` instead (isotropic). A fraction
    ``slow_fraction`` of the distinct velocities then gets a speed log-uniform in
    [``slow_min_speed``, ``max_speed``], keeping its direction (:func:`slow_down`), and a
    fraction ``still_fraction`` is set to exactly zero (standing still).
    """
    B, T = batch_size, seq_len
    if mode == "independent":
        distinct = draw_velocities(B * T, max_speed, dist, generator)
        index = torch.arange(B * T).view(B, T)
    elif mode in ("permutation", "identity"):
        distinct = draw_velocities(T, max_speed, dist, generator)
        if mode == "permutation":
            index = torch.argsort(torch.rand(B, T, generator=generator), dim=1)
        else:
            index = torch.arange(T).expand(B, T).clone()
    else:
        raise ValueError(f"data.mode = {mode!r}: choose permutation, independent or identity")
    if slow_fraction > 0:
        distinct = slow_down(distinct, slow_fraction, slow_min_speed, max_speed, generator)
    if still_fraction > 0:
        still = torch.rand(distinct.shape[0], generator=generator) < still_fraction
        distinct = torch.where(still[:, None], 0.0, distinct)
    velocities = distinct[index]  # (B, T, 2)
    return VelocityBatch(velocities, velocities.cumsum(dim=1), distinct, index)


def seq_len_at(step: int, seq_len: int, seq_len_final: int, curriculum_steps: int) -> int:
    """The sequence length of a curriculum at optimiser step ``step`` (0-based): linear from
    ``seq_len`` to ``seq_len_final`` over ``curriculum_steps`` (no curriculum if final is 0)."""
    if seq_len_final <= 0:
        return seq_len
    frac = min(1.0, step / curriculum_steps)
    return int(round(seq_len + (seq_len_final - seq_len) * frac))


def draw_velocities(n: int, max_speed: float, dist: str, generator=None) -> torch.Tensor:
    """n velocities (n, 2): uniform in the square [-max, max]^2, or uniform in the disk."""
    if dist == "disk":
        r = max_speed * torch.sqrt(torch.rand(n, generator=generator))
        a = 2 * math.pi * torch.rand(n, generator=generator)
        return torch.stack([r * torch.cos(a), r * torch.sin(a)], dim=-1)
    return (torch.rand(n, 2, generator=generator) * 2 - 1) * max_speed


def slow_down(
    v: torch.Tensor, fraction: float, min_speed: float, max_speed: float, generator=None
) -> torch.Tensor:
    """A spread of speed scales: each velocity of ``v`` (n, 2), with probability ``fraction``,
    keeps its direction and gets a speed log-uniform in [min_speed, max_speed] (m/step), so that
    slow steps (a rat's centimetre steps at 20-50 Hz) are common in training, not 0.4% of it."""
    n = v.shape[0]
    pick = torch.rand(n, generator=generator) < fraction
    lo, hi = math.log(min_speed), math.log(max_speed)
    speed = torch.exp(lo + (hi - lo) * torch.rand(n, generator=generator))
    unit = v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return torch.where(pick[:, None], unit * speed[:, None], v)


def draw_batch(
    d: DataConfig, step: int, generator: torch.Generator, slow_from: int | None = None
) -> VelocityBatch:
    """The SIC batch the config ``d`` asks for at optimiser step ``step``: the curriculum on T,
    and from ``slow_from`` (None: ``d.slow_from_step``; training passes the gated start, see
    ``data.slow_gate``) on the slow phase (its slow velocities, and its own T and B where
    ``slow_seq_len`` / ``slow_batch_size`` are set)."""
    slow = d.in_slow_phase(step, slow_from)
    T = seq_len_at(step, d.seq_len, d.seq_len_final, d.curriculum_steps)
    return sic_batch(
        d.slow_batch_size if slow and d.slow_batch_size else d.batch_size,
        d.slow_seq_len if slow and d.slow_seq_len else T,
        d.max_speed,
        d.mode,
        generator,
        d.velocity_dist,
        d.slow_fraction if slow else 0.0,
        d.slow_min_speed,
        d.still_fraction if slow else 0.0,
    )


@dataclass
class Arena:
    """A square open field of side ``size`` metres, centred on the training origin (0, 0)."""

    size: float = 2.0

    @property
    def box(self) -> tuple[float, float, float, float]:
        h = self.size / 2
        return (-h, h, -h, h)


def smooth_trajectories(
    n: int,
    steps: int,
    arena: Arena,
    generator: torch.Generator | None = None,
    start: tuple[float, float] = (0.0, 0.0),
    step_mean: float = 0.08,
    turn_sd: float = 0.25,
    border: float = 0.15,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth wall-bounded random walks, vectorised over the ``n`` trajectories.

    Speed per step is Rayleigh with mean ``step_mean`` m/step (default 0.08: inside the training
    range, whose mean |v| is 0.115 m/step; networks integrate small steps they rarely saw worse);
    the heading turns by N(0, turn_sd) rad per step; within ``border`` m of a wall, a heading that
    points into the wall is turned parallel to it and the step slows down (a rat's wall avoidance).
    Returns velocities (n, steps, 2) and positions (n, steps, 2), positions[:, t] = start + sum of
    velocities[:, :t+1], all inside the arena.
    """
    lo, hi = -arena.size / 2, arena.size / 2
    rayleigh_scale = step_mean / math.sqrt(math.pi / 2)
    pos = torch.tensor(start, dtype=torch.float32).expand(n, 2).clone()
    heading = torch.rand(n, generator=generator) * 2 * math.pi
    u = torch.rand(n, steps, generator=generator).clamp_min(1e-12)
    speeds = rayleigh_scale * torch.sqrt(-2 * torch.log(u))  # (n, steps)
    turns = torch.randn(n, steps, generator=generator) * turn_sd
    vel = torch.empty(n, steps, 2)
    posi = torch.empty(n, steps, 2)
    for t in range(steps):
        heading = heading + turns[:, t]
        d = torch.stack([torch.cos(heading), torch.sin(heading)], -1)  # (n, 2)
        # distances to the four walls and whether the heading points into each
        dist = torch.stack([pos[:, 0] - lo, hi - pos[:, 0], pos[:, 1] - lo, hi - pos[:, 1]], -1)
        into = torch.stack([d[:, 0] < 0, d[:, 0] > 0, d[:, 1] < 0, d[:, 1] > 0], -1)
        near = (dist < border) & into  # (n, 4)
        # cancel the velocity component into any near wall (heading turned parallel to the wall)
        d = torch.where(near[:, :2].any(-1, keepdim=True) & torch.tensor([True, False]), 0 * d, d)
        d = torch.where(near[:, 2:].any(-1, keepdim=True) & torch.tensor([False, True]), 0 * d, d)
        norm = d.norm(dim=-1, keepdim=True)
        stuck = norm.squeeze(-1) < 1e-6  # heading straight into a corner: turn back inward
        d = torch.where(stuck[:, None], -torch.sign(pos) / math.sqrt(2), d / norm.clamp_min(1e-6))
        heading = torch.where(near.any(-1), torch.atan2(d[:, 1], d[:, 0]), heading)
        s = torch.where(near.any(-1), 0.5 * speeds[:, t], speeds[:, t])
        new = (pos + s[:, None] * d).clamp(lo, hi)
        vel[:, t] = new - pos
        posi[:, t] = new
        pos = new
    return vel, posi


# ----------------------------------------------------------------------------- real trajectories


@dataclass
class Walk:
    """A trajectory as the network takes it: displacements per step from its start state.

    ``positions[:, t]`` is the place after step ``t``, relative to the training origin (the place
    of g0), so rate maps of a walk live in a box centred on that origin.
    """

    velocities: torch.Tensor  # (n, T, 2) m/step
    positions: torch.Tensor  # (n, T, 2) m, from the origin

    @property
    def step_lengths(self) -> torch.Tensor:
        return self.velocities.norm(dim=-1)  # (n, T) m


def steps_from_positions(
    positions, origin=None, step_length: float | None = None, dtype=torch.float32
) -> Walk:
    """Turn tracked positions (a simulator's or an animal's) into the network's input.

    ``positions``: (T, 2) or (n, T, 2) metres at any sampling rate, in any frame. ``origin``: the
    place where the walk starts, the network's g0 (say the arena centre for an agent released
    there); None: the first sample is the start (and the walk begins with the step after it).
    A simulator whose history leaves out the start position (RatInABox) gets it back through
    ``origin``. ``step_length`` (m): resample each walk along its path into steps of this length
    (positions interpolated by distance travelled; walks of several trajectories are cut to the
    shortest); None keeps the samples as they are. The returned positions are relative to
    ``origin``: centred on the training origin, as every arena of gridssl is.
    """
    p = torch.as_tensor(positions, dtype=torch.float64)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3 or p.shape[-1] != 2 or p.shape[1] < 1:
        raise ValueError(f"positions must be (T, 2) or (n, T, 2), got {tuple(p.shape)}")
    if not bool(torch.isfinite(p).all()):
        raise ValueError("positions hold NaN or inf: drop or interpolate untracked samples first")
    if origin is None:
        start, p = p[:, :1], p[:, 1:]
        if p.shape[1] == 0:
            raise ValueError("a walk needs at least 2 positions when origin is None")
    else:
        start = torch.as_tensor(origin, dtype=torch.float64).reshape(-1, 1, 2).expand(len(p), 1, 2)
    path = torch.cat([start, p], dim=1)  # (n, T + 1, 2), the start first
    if step_length is not None:
        path = _resample(path, step_length)
    rel = path - path[:, :1]
    return Walk(rel.diff(dim=1).to(dtype), rel[:, 1:].to(dtype))


def _resample(path: torch.Tensor, step: float) -> torch.Tensor:
    """Each path (n, T, 2) resampled at equal distances ``step`` along it (linear interpolation
    of x and y against distance travelled), cut to the shortest path's number of steps."""
    import numpy as np

    if not step > 0:
        raise ValueError(f"step_length = {step!r}: must be > 0 m")
    p = path.numpy()
    dist = np.concatenate(
        [np.zeros((len(p), 1)), np.cumsum(np.linalg.norm(np.diff(p, axis=1), axis=-1), 1)], 1
    )
    n_steps = int(dist[:, -1].min() // step)
    if n_steps < 1:
        raise ValueError(
            f"step_length = {step:g} m is longer than the walk ({dist[:, -1].min():.3g} m)"
        )
    at = np.arange(n_steps + 1) * step
    out = np.stack(
        [
            np.stack([np.interp(at, d, q[:, 0]), np.interp(at, d, q[:, 1])], -1)
            for d, q in zip(dist, p)
        ]
    )
    return torch.from_numpy(out)


@dataclass
class TrainingRange:
    """What a network was trained on: step lengths (1st-99th percentile, m/step) and sequence
    length, read from its config. :meth:`check` names a walk that falls outside it."""

    step_lo: float
    step_hi: float
    seq_len: int

    @classmethod
    def of(cls, d: DataConfig, samples: int = 20000) -> TrainingRange:
        gen = torch.Generator().manual_seed(0)  # a fixed draw: the range is a property of d
        b = sic_batch(
            1,
            samples,
            d.max_speed,
            "independent",
            gen,
            d.velocity_dist,
            d.slow_fraction,
            d.slow_min_speed,
            d.still_fraction,
        )
        q = torch.quantile(
            b.velocities.norm(dim=-1).flatten().double(),
            torch.tensor([0.01, 0.99], dtype=torch.float64),
        )
        return cls(float(q[0]), float(q[1]), max(d.seq_len, d.seq_len_final, d.slow_seq_len))

    def describe(self) -> str:
        return (
            f"trained on steps of {self.step_lo * 100:.2g}-{self.step_hi * 100:.3g} cm "
            f"(1st-99th percentile) in sequences of {self.seq_len} steps"
        )

    def check(self, walk: Walk, tolerance: float = 0.25) -> str | None:
        """One line when more than ``tolerance`` of the walk's steps lie outside the trained
        step range, or the walk is longer than the trained sequences; None otherwise."""
        s = walk.step_lengths.flatten()
        out = float(((s < self.step_lo) | (s > self.step_hi)).float().mean())
        T = walk.velocities.shape[1]
        problems = []
        if out > tolerance:
            problems.append(
                f"{out:.0%} of its steps (median {float(s.median()) * 100:.2g} cm) lie outside"
            )
        if T > self.seq_len:
            problems.append(f"it is {T} steps long")
        if not problems:
            return None
        why = " and ".join(problems)
        return f"walk outside the training range: {why}; the network was {self.describe()}"


def walk_for(net, positions, origin=None, step_length: float | None = None) -> Walk:
    """:func:`steps_from_positions` for a trained network ``net`` (anything with ``.config``, such
    as ``gridssl.load(...)``): emits one ``UserWarning`` line when the walk falls outside what
    the network was trained on (:class:`TrainingRange`, read from its config)."""
    import warnings

    walk = steps_from_positions(positions, origin=origin, step_length=step_length)
    line = TrainingRange.of(net.config.data).check(walk)
    if line is not None:
        warnings.warn(line, UserWarning, stacklevel=2)
    return walk


def ratinabox_positions(
    seconds: float = 300.0, dt: float = 0.05, box: float = 2.0, seed: int = 0, n: int = 1
) -> tuple[torch.Tensor, tuple[float, float]]:
    """Positions (n, T, 2) of RatInABox's default ``Agent`` released at the centre of a
    ``box``-metre square ``Environment``, sampled every ``dt`` s for ``seconds``, and that centre
    (the ``origin`` for :func:`steps_from_positions`). Needs the optional extra
    ``pip install 'gridssl[ratinabox]'``; RatInABox draws from numpy's global generator, which is
    seeded with ``seed`` here (its state is restored afterwards)."""
    import numpy as np

    try:
        from ratinabox.Agent import Agent
        from ratinabox.Environment import Environment
    except ImportError:
        raise ImportError("RatInABox is not installed: pip install 'gridssl[ratinabox]'") from None
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        walks = []
        for _ in range(n):
            env = Environment(params={"scale": box})
            agent = Agent(env, params={"dt": dt})
            agent.pos = np.array([box / 2, box / 2])
            for _ in range(int(round(seconds / dt))):
                agent.update()
            walks.append(np.asarray(agent.history["pos"]))
    finally:
        np.random.set_state(saved)
    return torch.as_tensor(np.stack(walks)), (box / 2, box / 2)
