"""experiments/unit_periods.py: the dominant wavelength and direction of synthetic maps."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

_path = Path(__file__).resolve().parents[1] / "experiments" / "unit_periods.py"
_spec = importlib.util.spec_from_file_location("unit_periods", _path)
up = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("unit_periods", up)
_spec.loader.exec_module(up)

B = 0.05  # bin, m
X, Y = np.meshgrid(np.arange(80) * B, np.arange(80) * B)  # a 4 m map, x across, y down


def _wave(wavelength, angle):
    return np.cos(2 * np.pi * (X * np.cos(angle) + Y * np.sin(angle)) / wavelength)


def test_bands_hexagonal_grids_and_ramps():
    band = _wave(0.7, np.radians(20))
    spacing = 0.5  # a hexagonal grid's wave-vectors have wavelength sqrt(3)/2 of its spacing
    hexagonal = sum(_wave(spacing * np.sqrt(3) / 2, np.radians(10 + k * 60)) for k in range(3))
    ramp = X / 4  # no period within the map: it reads as at least half the map side
    wave, angle = up.dominant_waves(np.stack([band, hexagonal, ramp]), B, longest=3.3)
    assert wave[0] == pytest.approx(0.7, rel=0.02) and angle[0] == pytest.approx(20, abs=2)
    assert wave[1] == pytest.approx(spacing * np.sqrt(3) / 2, rel=0.02)
    assert min(abs(angle[1] - a) for a in (10, 70, 130)) < 2
    assert wave[2] >= 1.9
    # without padding the same band is read on the coarse 1 / (4 m) frequency grid
    coarse, _ = up.dominant_waves(band[None], B, longest=3.3, pad=1)
    assert abs(coarse[0] - 0.7) > abs(wave[0] - 0.7)
