"""Figures of the spatial-code analysis: pure presentation of results computed elsewhere.

One module per subject: ``maps`` (rate maps, autocorrelograms, arenas), ``population`` (scores,
spacing, orientation), ``fourier`` (power, phases), ``topology`` (embedding, barcodes),
``generalisation`` (start distance, separation, other walks), ``code`` (every unit's period and
lattice, the decorrelation curve), ``training`` (curves). Each has
array-level functions (numpy arrays in, one PNG out) and, below them, functions that take the
pipeline's result dataclasses (:mod:`gridssl.pipeline`). Every function writes its PNG atomically
and returns the path; nothing here computes a scientific quantity (the only arithmetic is for
display: sorting, histograms, binned means via ``generalisation.binned``). Every grid-score label
names its variant.
"""

from .code import unit_code
from .fourier import fourier_panel, module_fourier, module_phases, phase_panel
from .generalisation import (
    generalisation_panel,
    long_walks,
    separation_panel,
    separations,
    start_distances,
    velocity_tests,
)
from .maps import arena_maps, arenas_same_units, population_ratemaps, ratemaps_with_sacs
from .population import (
    orientation_plot,
    population_orientation,
    population_scores,
    population_spacing,
    score_histogram,
    spacing_histogram,
)
from .topology import topology_torus, torus_panel
from .training import LOSS_TERMS, training_curves

__all__ = [
    "LOSS_TERMS",
    "arena_maps",
    "arenas_same_units",
    "fourier_panel",
    "generalisation_panel",
    "long_walks",
    "module_fourier",
    "module_phases",
    "orientation_plot",
    "phase_panel",
    "population_orientation",
    "population_ratemaps",
    "population_scores",
    "population_spacing",
    "ratemaps_with_sacs",
    "score_histogram",
    "separation_panel",
    "separations",
    "spacing_histogram",
    "start_distances",
    "topology_torus",
    "torus_panel",
    "training_curves",
    "unit_code",
    "velocity_tests",
]
