"""Drive a trained network through open arenas: the rollout stage of the evaluation pipeline
(:mod:`gridssl.pipeline`; ``gridssl eval`` and ``gridssl analyze``).

The network only ever saw SIC batches: random-order velocity sequences from the origin. Here it is
driven by smooth, wall-bounded trajectories that start at the training origin (0, 0) with g0, in a
square arena centred on the origin (docs/METHOD.md section 6), and each unit's activity is binned
by place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import AnalysisConfig
from .data import Arena, smooth_trajectories
from .model import SICNet

_DEFAULT = AnalysisConfig()


@dataclass
class ArenaRollout:
    """A network's activity along smooth trajectories in one arena."""

    arena: Arena
    positions: np.ndarray  # (n, T, 2) m
    states: np.ndarray  # (n, T, N)

    @property
    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """positions (S, 2) and activity (S, N), S = n * T."""
        return self.positions.reshape(-1, 2), self.states.reshape(-1, self.states.shape[-1])


def samples_for(arena: Arena, bin_size: float, per_bin: float) -> int:
    """Samples that give about ``per_bin`` visits per bin of the arena on average."""
    return int(per_bin * (arena.size / bin_size) ** 2)


@torch.no_grad()
def arena_rollout(
    net: SICNet,
    arena: Arena,
    n_traj: int | None = None,
    steps: int | None = None,
    bin_size: float = _DEFAULT.bin_size,
    seed: int = 0,
    per_bin: float = _DEFAULT.samples_per_bin,
    step_mean: float = _DEFAULT.step_mean,
    path_sides: float = _DEFAULT.path_sides,
    heading_noise: float = _DEFAULT.heading_noise,
) -> ArenaRollout:
    """Roll ``net`` out along smooth walks from the origin in ``arena``.

    Each walk is ``steps`` long, by default ``path_sides`` arena sides of path at ``step_mean``
    m/step (100 steps in a 2 m arena: long enough to reach every corner, short enough that errors
    of path integration do not pile up); ``n_traj`` walks give about ``per_bin`` samples per
    ``bin_size`` bin on average; the heading turns by N(0, ``heading_noise``) rad per step. The
    defaults are those of :class:`~gridssl.config.AnalysisConfig`.
    """
    steps = steps or max(20, round(path_sides * arena.size / step_mean))
    n_traj = n_traj or max(1, samples_for(arena, bin_size, per_bin) // steps)
    gen = torch.Generator().manual_seed(seed)
    vel, pos = smooth_trajectories(
        n_traj, steps, arena, gen, step_mean=step_mean, turn_sd=heading_noise
    )
    states = net.rollout(vel)
    return ArenaRollout(arena, pos.numpy(), states.cpu().numpy())
