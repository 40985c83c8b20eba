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
) -> VelocityBatch:
    """Draw one SIC batch (SPEC.md section 2).

    permutation: one base sequence of T velocities, each component U(-max_speed, max_speed), and B
    random permutations of it (every trajectory ends at the same point). independent: B independent
    sequences. identity: B copies of one sequence (no augmentation). ``dist="disk"`` draws each
    velocity uniformly in the disk of radius ``max_speed`` instead (isotropic).
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


def draw_batch(d: DataConfig, step: int, generator: torch.Generator) -> VelocityBatch:
    """The SIC batch the config ``d`` asks for at optimiser step ``step`` (curriculum on T)."""
    T = seq_len_at(step, d.seq_len, d.seq_len_final, d.curriculum_steps)
    return sic_batch(d.batch_size, T, d.max_speed, d.mode, generator, d.velocity_dist)


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
