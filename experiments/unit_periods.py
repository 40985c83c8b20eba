"""Each unit's dominant spatial wavelength and direction, summarised per group of units: the
2-D Fourier peak of its rate map (any code: grids, bands, ramps), where the grid-cell analysis only
sees hexagonal units. For the block-diagonal control (``model.groups``) and for codes without grid
cells (docs/MODULES.md).

    python experiments/unit_periods.py MODEL [--arena 4] [--groups G] [--longest 3.3]

MODEL: a run directory or model file. Rate maps: the evaluation pipeline's smooth walks from the
origin, ``analysis.bin_size`` bins (5 cm), no null. A unit is silent if its map's peak is below
1e-3 of the population's. The peak is searched at wavelengths up to ``--longest`` metres (longer:
a ramp across the arena; the arena side bounds what can be resolved). For a hexagonal grid the
wavelength is sqrt(3)/2 of its spacing; for bands it is their spacing.
"""

from __future__ import annotations

import argparse

import numpy as np

from gridssl import pipeline as P
from gridssl.checkpoint import load
from gridssl.config import AnalysisConfig


def dominant_waves(
    maps: np.ndarray, bin_size: float, longest: float, pad: int = 4
) -> tuple[np.ndarray, ...]:
    """(wavelength m, direction deg in [0, 180)) of each map's largest Fourier component with a
    wavelength <= ``longest``; maps (U, ny, nx), NaN bins as 0, zero-padded ``pad``-fold (a
    frequency grid ``pad`` times finer than the map's own 1 / side)."""
    maps = np.nan_to_num(maps)
    U, ny, nx = maps.shape
    ny, nx = ny * pad, nx * pad
    F = np.abs(np.fft.fft2(maps - maps.mean((1, 2), keepdims=True), s=(ny, nx)))
    fy, fx = np.meshgrid(np.fft.fftfreq(ny, bin_size), np.fft.fftfreq(nx, bin_size), indexing="ij")
    k = np.hypot(fx, fy)
    F[:, k < 1 / longest] = 0
    best = F.reshape(U, -1).argmax(1)
    with np.errstate(divide="ignore"):  # a silent unit's peak is the zero frequency
        return 1 / k.ravel()[best], np.degrees(np.arctan2(fy.ravel()[best], fx.ravel()[best])) % 180


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--arena", type=float, default=2.0, help="arena side, m")
    ap.add_argument("--groups", type=int, help="groups of consecutive units (default: the model's)")
    ap.add_argument("--longest", type=float, default=3.3, help="longest wavelength searched, m")
    a = ap.parse_args()
    net = load(a.model)
    cfg = AnalysisConfig(shuffles=0, arenas=(a.arena,))
    maps = P.population(P.rollout(net, cfg, arenas=(a.arena,)), cfg).primary.maps.maps
    peak = np.nan_to_num(maps).reshape(len(maps), -1).max(1)
    alive = peak > 1e-3 * peak.max()
    wave, angle = dominant_waves(maps, cfg.bin_size, a.longest)
    groups = a.groups or getattr(net.cfg, "groups", 1) or 1
    size = len(maps) // groups
    print(f"{a.model}: {a.arena:g} m arena, {cfg.bin_size:g} m bins, waves <= {a.longest:g} m")
    print("| units | silent | wavelength m: median [25th, 75th pct] | direction deg: median |")
    print("|---|---|---|---|")
    for g in range(groups):
        sl = slice(g * size, (g + 1) * size)
        live = np.flatnonzero(alive[sl]) + g * size
        if not len(live):
            print(f"| {sl.start}-{sl.stop - 1} | {size} | - | - |")
            continue
        q = np.percentile(wave[live], [50, 25, 75])
        print(
            f"| {sl.start}-{sl.stop - 1} | {size - len(live)} | {q[0]:.2f} [{q[1]:.2f}, {q[2]:.2f}]"
            f" | {np.median(angle[live]):.0f} |"
        )


if __name__ == "__main__":
    main()
