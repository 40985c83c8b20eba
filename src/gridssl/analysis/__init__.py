"""Analysis of any spatial code, one metric per module (inputs and units in each docstring).

``ratemaps`` (binning), ``sac`` (autocorrelograms), ``gridscore`` (min-max, mean, BNT, square),
``fields``, ``lattice`` (spacing, orientation), ``modules``, ``fourier`` (lattice, phases),
``nulls``, ``population`` (all of them on one population), ``generalisation``, ``longwalk``
(population-vector decay along long walks), ``topology``, ``synthetic`` (ground-truth maps),
``summary``, ``report`` and ``figures``. Submodules load on first use, so ``import gridssl`` stays
light and ``gridssl.analysis.gridscore`` works without an explicit import.
"""

import importlib

SUBMODULES = (
    "fields",
    "figures",
    "fourier",
    "generalisation",
    "gridscore",
    "lattice",
    "longwalk",
    "modules",
    "nulls",
    "population",
    "ratemaps",
    "report",
    "sac",
    "summary",
    "synthetic",
    "topology",
)


def __getattr__(name: str):
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(SUBMODULES))
