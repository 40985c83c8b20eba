"""Drive a trained network through open arenas and look at its rate maps (``gridssl eval``).

The network only ever saw SIC batches: random-order velocity sequences from the origin. Here it is
driven by smooth, wall-bounded trajectories that start at the training origin (0, 0) with g0, in a
square arena centred on the origin (SPEC.md section 6), and each unit's activity is binned by place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import Arena, smooth_trajectories
from .model import SICNet


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


def samples_for(arena: Arena, bin_size: float, per_bin: float = 100.0) -> int:
    """Samples that give about ``per_bin`` visits per bin of the arena on average."""
    return int(per_bin * (arena.size / bin_size) ** 2)


@torch.no_grad()
def arena_rollout(
    net: SICNet,
    arena: Arena,
    n_traj: int | None = None,
    steps: int | None = None,
    bin_size: float = 0.05,
    seed: int = 0,
    per_bin: float = 100.0,
    step_mean: float = 0.08,
    path_sides: float = 4.0,
) -> ArenaRollout:
    """Roll ``net`` out along smooth walks from the origin in ``arena``.

    Each walk is ``steps`` long, by default ``path_sides`` arena sides of path at ``step_mean``
    m/step (100 steps in a 2 m arena: long enough to reach every corner, short enough that errors
    of path integration do not pile up); ``n_traj`` walks give about ``per_bin`` samples per
    ``bin_size`` bin on average.
    """
    steps = steps or max(20, round(path_sides * arena.size / step_mean))
    n_traj = n_traj or max(1, samples_for(arena, bin_size, per_bin) // steps)
    gen = torch.Generator().manual_seed(seed)
    vel, pos = smooth_trajectories(n_traj, steps, arena, gen, step_mean=step_mean)
    states = net.rollout(vel)
    return ArenaRollout(arena, pos.numpy(), states.cpu().numpy())


def evaluate_run(
    run, arena_size: float = 2.0, seed: int = 0, bin_size: float = 0.05, n_shuffles: int = 50
) -> dict:
    """Rate maps, grid cells and modules in one arena; writes RUN/eval/ (figure + JSON)."""
    from .analysis import figures
    from .analysis.population import grid_population
    from .checkpoint import load
    from .io import atomic_write_text

    net = load(run)
    arena = Arena(arena_size)
    ro = arena_rollout(net, arena, bin_size=bin_size, seed=seed)
    pop = grid_population(*ro.flat, arena.box, bin_size, rng=seed, n_shuffles=n_shuffles)
    out = Path(run) / "eval" if Path(run).is_dir() else Path(run).parent / "eval"
    variant = (
        f"{pop.scores.variant}, Banino annuli (inner 0.2, outer 0.4-1.0 of the map size), "
        f"{bin_size * 100:g} cm bins, {arena_size:g} m arena"
    )
    figures.ratemaps_with_sacs(
        pop.maps.maps,
        pop.sacs,
        pop.scores.scores,
        arena.box,
        out / f"ratemaps_{arena_size:g}m.png",
        variant,
        labels=pop.modules.labels,
    )
    summary = {"arena_m": arena_size, "trajectory_seed": seed, **pop.summary()}
    full = {
        **summary,
        "scores": [None if np.isnan(x) else round(float(x), 4) for x in pop.scores.scores],
    }
    atomic_write_text(out / f"eval_{arena_size:g}m.json", json.dumps(full, indent=2))
    return summary
