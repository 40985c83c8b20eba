"""Lattice geometry of a model's periodic units in its primary arena (square and hexagonal).

    python benchmarks/model_lattice.py [MODEL]      # MODEL: run dir, checkpoint or "pretrained"

Measured by the pipeline's stages with the model's own ``analysis`` settings (by default a 2 m
arena, 5 cm bins, a 20-shuffle time-shift null). Units: square-lattice units (G90 above the
threshold over Banino annuli, enough firing fields, not hexagonal grid cells) and grid cells
(min-max above the threshold and the null). For each group: the wave period 2 pi / |k| of each
map's strongest Fourier peak, and that wave's angle.
"""

from __future__ import annotations

import sys

import numpy as np

import gridssl
from gridssl import pipeline
from gridssl.analysis.fields import is_grid_cell
from gridssl.analysis.lattice import lattice_from_fourier
from gridssl.analyze import measuring_config


def main() -> None:
    model = sys.argv[1] if len(sys.argv) > 1 else "pretrained"
    net, cfg = gridssl.load(model), measuring_config(model)
    pop = pipeline.population(pipeline.rollout(net, cfg, cfg.arenas[:1]), cfg).primary
    square = is_grid_cell(pop.square, pop.fields, cfg.threshold, cfg.min_fields) & ~pop.is_grid
    fl = lattice_from_fourier(pop.maps.maps, cfg.bin_size)
    period = 2 * np.pi / fl.k_peak
    angle = np.mod(fl.wave_angles[:, 0], 90)
    print(f"{model}: {len(square)} units, {cfg.arenas[0]:g} m arena, {cfg.bin_size:g} m bins")
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
