"""Lattice geometry of a model's periodic units in a 2 m arena (square and hexagonal).

    python benchmarks/model_lattice.py [MODEL]      # MODEL: run dir, checkpoint or "pretrained"

Units: square-lattice units (G90 > 0.3 over Banino annuli, >= 3 firing fields, not hexagonal grid
cells) and grid cells (min-max > 0.3 and above a 20-shuffle time-shift null). For each group: the
wave period 2 pi / |k| of each map's strongest Fourier peak, and that wave's angle.
"""

from __future__ import annotations

import sys

import numpy as np

import gridssl
from gridssl.analysis.fields import is_grid_cell
from gridssl.analysis.lattice import lattice_from_fourier
from gridssl.analysis.population import grid_population
from gridssl.data import Arena
from gridssl.evaluate import arena_rollout


def main() -> None:
    model = sys.argv[1] if len(sys.argv) > 1 else "pretrained"
    net, arena = gridssl.load(model), Arena(2.0)
    ro = arena_rollout(net, arena, seed=0, per_bin=60)
    pop = grid_population(*ro.flat, arena.box, 0.05, rng=0, n_shuffles=20)
    square = is_grid_cell(pop.square, pop.fields, 0.3) & ~pop.is_grid
    fl = lattice_from_fourier(pop.maps.maps, 0.05)
    period = 2 * np.pi / fl.k_peak
    angle = np.mod(fl.wave_angles[:, 0], 90)
    print(f"{model}: {len(square)} units, 2 m arena, 5 cm bins")
    for name, sel in (("square-lattice units", square), ("hexagonal grid cells", pop.is_grid)):
        if not sel.any():
            print(f"{name}: none")
            continue
        q1, med, q3 = np.percentile(period[sel], [25, 50, 75])
        print(
            f"{name}: {int(sel.sum())}; wave period median {med:.3f} m (IQR {q1:.3f}-{q3:.3f});"
            f" strongest wave angle mod 90: median {np.median(angle[sel]):.1f} deg"
        )


if __name__ == "__main__":
    main()
