"""experiments/unit_periods.py: one row per group of units, through the library's unit-code
stage, on a planted block code (two groups: a hexagonal module and bands)."""

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np

from gridssl.analysis.synthetic import modular_population, stripe_map
from gridssl.config import AnalysisConfig

_path = Path(__file__).resolve().parents[1] / "experiments" / "unit_periods.py"
_spec = importlib.util.spec_from_file_location("unit_periods", _path)
up = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("unit_periods", up)
_spec.loader.exec_module(up)


def test_one_row_per_group_with_its_lattices_and_modules():
    grids, _, _ = modular_population([0.6], 8, n_bins=80, rng=0)
    rng = np.random.default_rng(1)
    bands = np.stack([stripe_map(80, 0.05, 1.0, 30.0, rng.uniform(0, 1, 2)) for _ in range(8)])
    rows = up.group_rows(np.concatenate([grids, bands]), 2, AnalysisConfig())
    assert rows[0].startswith("| 0-7 | 8 | 0 | 0 | 0 | 0 | ")
    assert rows[1].startswith("| 8-15 | 0 | 0 | 8 | 0 | 0 | ")
    for row, period, lattice in ((rows[0], 0.6, "hexagonal"), (rows[1], 1.0, "bands")):
        got = re.fullmatch(r".*\| ([0-9.]+) m x 8 \((\w+)\) \|", row)
        assert got and abs(float(got[1]) - period) <= 0.03 * period and got[2] == lattice
