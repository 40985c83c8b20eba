"""A worked example: the shipped network, driven along a trajectory as a neuroscientist has one.

    python examples/walk_and_score.py [--out DIR] [--seconds 60] [--gridssl-walk]

1. Load the shipped SIC network (``gridssl.load("pretrained")``) and ask what it was trained on.
2. Get a trajectory: RatInABox's default agent in a 2 m box (``pip install 'gridssl[ratinabox]'``),
   or, without it (or with ``--gridssl-walk``), gridssl's own smooth walks. Positions are all a
   tracker gives; ``gridssl.data.steps_from_positions`` turns them into the network's input
   (displacements per step from the start, the start put back) and can resample them to the
   step length the network was trained on, which is what keeps its code on track.
3. Roll the network out, bin its units into rate maps (``[y, x]``, 5 cm bins), score them
   (Sargolini min-max over Banino annuli: inner 0.2, outer 0.4-1.0 of the map size) and draw
   the maps beside their autocorrelograms.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import gridssl
from gridssl.analysis.population import analyse_maps
from gridssl.analysis.ratemaps import rate_maps
from gridssl.data import Arena, TrainingRange, smooth_trajectories, steps_from_positions
from gridssl.report.figures import ratemaps_with_sacs

BOX = (-1.0, 1.0, -1.0, 1.0)  # the 2 m arena, centred on the start (the network's origin)
BIN = 0.05  # m


def trajectory(seconds: float, own: bool, n: int = 8) -> tuple[np.ndarray, tuple | None, str]:
    """Positions (n, T, 2) in metres, the start they leave out (or None) and a name."""
    if not own:
        try:
            from gridssl.data import ratinabox_positions

            pos, origin = ratinabox_positions(seconds, dt=0.05, box=2.0, seed=0, n=n)
            return pos.numpy(), origin, f"RatInABox default agent, {n} x {seconds:g} s at 20 Hz"
        except ImportError:
            pass
    # gridssl's walks, slowed to a rat's pace (0.5 cm per 50 ms step), shifted into a 0-2 m box
    _, pos = smooth_trajectories(
        n, int(seconds / 0.05), Arena(2.0), torch.Generator(), step_mean=0.005
    )
    return pos.numpy() + 1.0, (1.0, 1.0), f"gridssl smooth walks, {n} x {seconds:g} s, 0.5 cm steps"


def main(argv=None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/example"))
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--gridssl-walk", action="store_true", help="do not use RatInABox")
    args = ap.parse_args(argv)

    net = gridssl.load("pretrained")
    trained = TrainingRange.of(net.config.data)
    print(f"the network was {trained.describe()}")

    positions, origin, name = trajectory(args.seconds, args.gridssl_walk)
    native = steps_from_positions(positions, origin=origin)
    step_cm = float(native.step_lengths.mean()) * 100
    print(f"{name}: {native.velocities.shape[1]} steps of {step_cm:.2g} cm")
    if (warning := trained.check(native)) is not None:
        print(warning)
    # resampled to the training step: what the shipped network integrates best
    walk = steps_from_positions(positions, origin=origin, step_length=0.08)
    print(f"resampled: {walk.velocities.shape[1]} steps of 8 cm")

    states = net.rollout(walk.velocities)  # (n, T, N)
    maps = rate_maps(walk.positions.reshape(-1, 2), states.reshape(-1, net.n_units), BOX, BIN)
    pop = analyse_maps(maps)
    print(
        f"grid cells: {int(pop.is_grid.sum())} of {net.n_units} (min-max > 0.3, >= 3 fields; "
        f"threshold rule, no null), median score {np.nanmedian(pop.scores.scores):.2f}"
    )
    fig = ratemaps_with_sacs(
        maps.maps,
        pop.sacs,
        pop.scores.scores,
        BOX,
        args.out / "example_maps.png",
        "min-max, Banino annuli, 5 cm bins",
        max_units=12,
    )
    print(f"figure: {fig}")
    return fig


if __name__ == "__main__":
    main()
