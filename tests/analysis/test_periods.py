"""Every unit's period and lattice type, and the modules they form, on planted codes in a 4 m
arena: two hexagonal modules, a square lattice, bands, a place code and silent units."""

import numpy as np
import pytest

from gridssl.analysis.periods import period_modules, unit_periods
from gridssl.analysis.synthetic import (
    bin_centres,
    hex_field,
    hex_wavevectors,
    place_map,
    square_map,
    stripe_map,
)
from gridssl.config import AnalysisConfig

BIN, N_BINS = 0.05, 80  # a 4 m arena
CFG = AnalysisConfig()
SETTINGS = dict(
    active_fraction=CFG.unit_active_fraction,
    min_explained=CFG.unit_min_explained,
    partner_ratio=CFG.unit_partner_ratio,
    angle_tolerance_deg=CFG.unit_angle_tolerance_deg,
    k_tolerance=CFG.unit_k_tolerance,
    period_ratio=CFG.module_period_ratio,
    min_units=CFG.module_min_units,
)


def _hex_module(rng, period, orientation, n, sharp=False):
    xy = bin_centres(N_BINS, BIN)
    maps = [hex_field(xy, period, orientation, rng.uniform(0, period, 2)) for _ in range(n)]
    maps = np.stack(maps)
    return maps**3 if sharp else maps  # sharp: compact fields, harmonics in the spectrum


def test_two_planted_hexagonal_modules_come_out_as_two_modules_with_their_periods():
    rng = np.random.default_rng(0)
    maps = np.concatenate(
        [_hex_module(rng, 0.5, 7.0, 20), _hex_module(rng, 0.8, 23.0, 16, sharp=True)]
    )
    maps += 0.02 * rng.standard_normal(maps.shape)  # measurement noise
    maps[:, :3, :5] = np.nan  # a few unvisited bins
    res = unit_periods(maps, BIN, **SETTINGS)
    assert list(res.lattice) == ["hexagonal"] * 36
    assert len(res.modules) == 2
    fine, coarse = res.modules
    assert fine.period_m == pytest.approx(0.5, rel=0.03) and len(fine.units) == 20
    assert coarse.period_m == pytest.approx(0.8, rel=0.03) and len(coarse.units) == 16
    assert fine.lattice == coarse.lattice == "hexagonal"
    assert list(res.module) == [0] * 20 + [1] * 16
    assert np.all(res.explained[:20] > 0.9)  # three cosines: all the variance


@pytest.mark.parametrize("period", [0.45, 0.7, 1.1])
def test_square_lattices_and_bands_are_told_from_hexagonal_with_their_periods(period):
    rng = np.random.default_rng(1)
    sq = [square_map(N_BINS, BIN, period, 10.0, rng.uniform(0, period, 2)) for _ in range(6)]
    bands = [stripe_map(N_BINS, BIN, period, 75.0, rng.uniform(0, period, 2)) for _ in range(6)]
    res = unit_periods(np.stack(sq + bands), BIN, **SETTINGS)
    assert list(res.lattice) == ["square"] * 6 + ["bands"] * 6
    np.testing.assert_allclose(res.period, period, rtol=0.03)
    # bands along 75 deg: the wave points along 75 deg
    d = np.abs((res.wave_angle[6:] - 75.0 + 90) % 180 - 90)
    assert np.all(d < 2.0)
    assert len(res.modules) == 1 and res.modules[0].lattice_counts == {
        "hexagonal": 0,
        "square": 6,
        "bands": 6,
    }


def test_place_code_is_aperiodic_and_silent_units_are_silent():
    rng = np.random.default_rng(2)
    places = [place_map(N_BINS, BIN, rng.uniform(-1.8, 1.8, 2), 0.12) for _ in range(10)]
    silent = [np.full((N_BINS, N_BINS), 0.3), np.zeros((N_BINS, N_BINS))]
    res = unit_periods(np.stack(places + silent), BIN, **SETTINGS)
    assert list(res.lattice) == ["aperiodic"] * 10 + ["silent"] * 2
    assert np.isnan(res.period).all() and res.modules == [] and (res.module == -1).all()
    assert res.counts()["aperiodic"] == 10


def test_min_explained_is_what_separates_periodic_from_aperiodic():
    rng = np.random.default_rng(3)
    maps = _hex_module(rng, 0.6, 0.0, 4) + 0.25 * rng.standard_normal((4, N_BINS, N_BINS))
    loose = unit_periods(maps, BIN, **SETTINGS)
    strict = unit_periods(maps, BIN, **{**SETTINGS, "min_explained": 0.9})
    assert set(loose.lattice) == {"hexagonal"} and set(strict.lattice) == {"aperiodic"}


def test_period_modules_split_at_gaps_and_drop_small_groups():
    period = np.array([0.50, 0.52, 0.51, np.nan, 0.80, 0.83, 0.79, 1.6])
    lattice = np.array(["hexagonal"] * 3 + ["aperiodic"] + ["square"] * 3 + ["bands"])
    labels, mods = period_modules(period, lattice, period_ratio=1.15, min_units=2)
    assert list(labels) == [0, 0, 0, -1, 1, 1, 1, -1]
    assert [m.period_m for m in mods] == [0.51, 0.8]
    assert [m.lattice for m in mods] == ["hexagonal", "square"]
    labels, mods = period_modules(period, lattice, period_ratio=1.7, min_units=2)
    assert list(labels) == [0, 0, 0, -1, 0, 0, 0, -1] and len(mods) == 1


def test_a_hexagonal_module_with_units_read_as_bands_stays_one_module():
    # elongated fields: two of the three waves weak in some units, which then read as bands with
    # a period sqrt(3)/2 of the spacing; they share the module's wavelength, so one module
    rng = np.random.default_rng(4)
    xy = bin_centres(N_BINS, BIN)
    maps = []
    for i in range(12):
        kv = hex_wavevectors(0.7, 10.0)
        w = np.array([1.0, 1.0, 1.0]) if i < 8 else np.array([1.0, 0.1, 0.1])
        d = xy - rng.uniform(0, 0.7, 2)
        maps.append((np.cos(d @ kv.T) * w).sum(-1))
    res = unit_periods(np.stack(maps), BIN, **SETTINGS)
    assert list(res.lattice) == ["hexagonal"] * 8 + ["bands"] * 4
    assert len(res.modules) == 1 and len(res.modules[0].units) == 12
    assert res.modules[0].lattice == "hexagonal"
    assert res.modules[0].period_m == pytest.approx(0.7, rel=0.03)
    # at a finer gap ratio (1.1; sqrt(3)/2 is 1.155) the periods split, the wavelengths do not
    wavelength = np.where(res.lattice == "bands", res.period, res.period * np.sqrt(3) / 2)
    assert len(period_modules(res.period, res.lattice, 1.1, 3)[1]) == 2
    assert len(period_modules(res.period, res.lattice, 1.1, 3, wavelength)[1]) == 1


def test_bad_maps_are_refused():
    with pytest.raises(ValueError, match="maps must be"):
        unit_periods(np.zeros((5, 5)), BIN, **SETTINGS)
