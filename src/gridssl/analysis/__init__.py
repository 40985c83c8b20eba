"""Analysis of any spatial code, one metric per module (inputs and units in each docstring).

``ratemaps`` (binning), ``sac`` (autocorrelograms), ``gridscore`` (min-max, mean, BNT, square),
``fields``, ``lattice`` (spacing, orientation), ``modules``, ``fourier`` (lattice, phases),
``nulls``, ``population`` (all of them on one population), ``generalisation``, ``longwalk``
(population-vector decay along long walks), ``periods`` (every unit's period and lattice type),
``decorrelation`` (the population's decorrelation curve), ``topology`` and ``synthetic``
(ground-truth maps). Figures and reports are in :mod:`gridssl.report`. Submodules load on first
use, so ``import gridssl`` stays light and ``gridssl.analysis.gridscore`` works without an
explicit import.
"""

import importlib

SUBMODULES = (
    "decorrelation",
    "fields",
    "fourier",
    "generalisation",
    "gridscore",
    "lattice",
    "longwalk",
    "modules",
    "nulls",
    "periods",
    "population",
    "ratemaps",
    "sac",
    "synthetic",
    "topology",
)


def __getattr__(name: str):
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(SUBMODULES))
