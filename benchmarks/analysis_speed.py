"""Speed of the per-unit analysis pipeline: rate maps, SACs, grid scores, lattice, fields.

Run ``python benchmarks/analysis_speed.py [--units 128] [--bins 40] [--samples 200000]``. Prints one
row per stage (median of ``--repeats`` runs, seconds) and the total for rate maps + SAC + the three
grid scores, which should stay under 2 s for 128 units on 40 x 40 maps.

Each stage is a function ``stage_<name>(data) -> result`` taking the output of the previous
stage, so a ``gridssl analyze`` command can reuse them.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from gridssl.analysis import synthetic
from gridssl.analysis.fields import firing_fields, spatial_information
from gridssl.analysis.gridscore import bnt_grid_scores, grid_scores
from gridssl.analysis.lattice import lattice_from_fourier, lattice_from_sac
from gridssl.analysis.ratemaps import rate_maps
from gridssl.analysis.sac import autocorrelogram


@dataclass
class Inputs:
    positions: np.ndarray  # (S, 2) metres
    activity: np.ndarray  # (S, U)
    box: tuple[float, float, float, float]
    bin_size: float


def make_inputs(
    n_units: int = 128,
    n_bins: int = 40,
    n_samples: int = 200_000,
    bin_size: float = 0.05,
    seed: int = 0,
) -> Inputs:
    """Uniform random positions in a square box and hexagonal units with random geometry."""
    rng = np.random.default_rng(seed)
    half = n_bins * bin_size / 2
    pos = rng.uniform(-half, half, size=(n_samples, 2))
    sp = rng.uniform(0.35, 0.8, n_units)
    ori = rng.uniform(0, 60, n_units)
    ph = rng.uniform(0, 1, (n_units, 2))
    act = np.empty((n_samples, n_units))
    for u in range(n_units):  # input generation only, not timed
        act[:, u] = synthetic.hex_field(pos, sp[u], ori[u], ph[u])
    return Inputs(pos, act, (-half, half, -half, half), bin_size)


def stage_rate_maps(inp: Inputs):
    return rate_maps(inp.positions, inp.activity, inp.box, inp.bin_size)


def stage_sac(rm):
    return autocorrelogram(rm.maps)


def stage_minmax(sacs):
    return grid_scores(sacs, variant="minmax")


def stage_mean(sacs):
    return grid_scores(sacs, variant="mean")


def stage_bnt(sacs):
    return bnt_grid_scores(sacs)


def stage_lattice_sac(sacs, bin_size):
    return lattice_from_sac(sacs, bin_size)


def stage_lattice_fourier(rm):
    return lattice_from_fourier(rm.maps, rm.bin_size)


def stage_fields(rm):
    return firing_fields(rm.maps), spatial_information(rm.maps, rm.occupancy)


def _time(fn, *args, repeats: int = 3):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def run(
    n_units: int = 128, n_bins: int = 40, n_samples: int = 200_000, repeats: int = 3
) -> list[tuple[str, float]]:
    """Time every stage; returns ``[(stage, seconds), ...]`` and prints the table."""
    inp = make_inputs(n_units, n_bins, n_samples)
    rows = []
    t, rm = _time(stage_rate_maps, inp, repeats=repeats)
    rows.append(("rate maps", t))
    t, sacs = _time(stage_sac, rm, repeats=repeats)
    rows.append(("SAC", t))
    for name, fn in [
        ("grid score minmax", stage_minmax),
        ("grid score mean", stage_mean),
        ("grid score BNT", stage_bnt),
    ]:
        t, _ = _time(fn, sacs, repeats=repeats)
        rows.append((name, t))
    core = sum(t for _, t in rows)
    t, _ = _time(stage_lattice_sac, sacs, inp.bin_size, repeats=repeats)
    rows.append(("lattice (SAC peaks)", t))
    t, _ = _time(stage_lattice_fourier, rm, repeats=repeats)
    rows.append(("lattice (Fourier)", t))
    t, _ = _time(stage_fields, rm, repeats=repeats)
    rows.append(("fields + information", t))
    print(f"{n_units} units, {n_bins} x {n_bins} bins, {n_samples} samples (median of {repeats})")
    print(f"{'stage':<24}{'seconds':>10}")
    for name, t in rows:
        print(f"{name:<24}{t:>10.3f}")
    print(f"{'rate maps+SAC+3 scores':<24}{core:>10.3f}  (target < 2 s)")
    return rows


def run_analyze(n_units: int = 128, arenas=(2.0, 3.0, 4.0)) -> dict:
    """A whole ``gridssl analyze`` of an untrained ``n_units`` paper-architecture model in three
    arenas, topology included; prints its stage timings and the wall-clock total."""
    import tempfile
    from pathlib import Path

    import torch

    from gridssl.analyze import analyze
    from gridssl.config import load_config
    from gridssl.model import SICNet

    arena_set = "analysis.arenas=" + ",".join(str(a) for a in arenas)
    cfg = load_config("paper", overrides=[f"model.n_units={n_units}", arena_set])
    net = SICNet(cfg.model, torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as tmp:
        ck = Path(tmp) / "model.pt"
        torch.save({"model": net.state_dict(), "config": cfg.to_dict()}, ck)
        t0 = time.perf_counter()
        summary = analyze(ck, Path(tmp) / "analysis", progress=False)  # the model's analysis.*
        total = time.perf_counter() - t0
    print(f"gridssl analyze: {n_units}-unit model, arenas {arenas} m, topology included")
    print(f"{'stage':<40}{'seconds':>10}")
    for name, t in summary["timings_s"].items():
        print(f"{name:<40}{t:>10.2f}")
    print(f"{'total (wall-clock)':<40}{total:>10.2f}  (target < 60 s)")
    return summary


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--bins", type=int, default=40)
    p.add_argument("--samples", type=int, default=200_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-analyze", action="store_true", help="skip the whole-analyze timing")
    a = p.parse_args(argv)
    run(a.units, a.bins, a.samples, a.repeats)
    if not a.no_analyze:
        print()
        run_analyze(a.units)


if __name__ == "__main__":
    main()
