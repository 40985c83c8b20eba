"""Spacing, orientation and shear against synthetic lattices of known geometry."""

import numpy as np
import pytest

from gridssl.analysis.lattice import circular_mean_mod, lattice_from_fourier, lattice_from_sac
from gridssl.analysis.sac import autocorrelogram
from gridssl.analysis.synthetic import bin_centres, hex_field, hex_map, noise_map, place_map

BIN = 0.05
SPACINGS = np.array([0.35, 0.42, 0.5, 0.6, 0.7, 0.8])
ORIENTATIONS = np.array([0.0, 8.0, 21.0, 30.0, 44.0, 59.0])


def angle_error(a, b, period=60.0):
    return np.abs((np.asarray(a) - np.asarray(b) + period / 2) % period - period / 2)


@pytest.fixture(scope="module")
def hex_set():
    rng = np.random.default_rng(1)
    sp, ori = np.meshgrid(SPACINGS, ORIENTATIONS, indexing="ij")
    sp, ori = sp.ravel(), ori.ravel()
    maps = np.stack([hex_map(40, BIN, s, o, phase=rng.uniform(0, 1, 2)) for s, o in zip(sp, ori)])
    return maps, autocorrelogram(maps), sp, ori


def test_sac_spacing_and_orientation(hex_set):
    maps, sacs, sp, ori = hex_set
    lat = lattice_from_sac(sacs, BIN)
    assert np.all(np.abs(lat.spacing / sp - 1) < 0.05), lat.spacing / sp
    assert np.all(angle_error(lat.orientation, ori) < 3.0), lat.orientation - ori
    assert np.all((lat.orientation >= 0) & (lat.orientation < 60))
    assert lat.peaks.shape == (len(sp), 6, 2)
    # six peaks at one distance, 60 degrees apart
    np.testing.assert_allclose(
        np.hypot(*np.moveaxis(lat.peaks, -1, 0)) / sp[:, None], 1.0, atol=0.05
    )
    assert np.all(lat.eccentricity < 0.3) and np.all(lat.axis_ratio > 0.95)
    assert np.all(lat.orientation_spread < 3.0)


def test_fourier_spacing_and_orientation(hex_set):
    maps, _, sp, ori = hex_set
    lat = lattice_from_fourier(maps, BIN)
    assert np.all(np.abs(lat.spacing / sp - 1) < 0.05), lat.spacing / sp
    assert np.all(angle_error(lat.orientation, ori) < 3.0)
    k_true = 4 * np.pi / (np.sqrt(3) * sp)
    np.testing.assert_allclose(lat.k_peak / k_true, 1.0, atol=0.05)
    # the wave angles sit 30 degrees off the lattice vectors
    assert np.all(angle_error(lat.wave_angles, (ori + 30.0)[:, None]) < 3.0)
    assert lat.params["pad_factor"] == 8


def test_orientation_convention_is_the_lattice_vector():
    """Orientation 10 deg: a SAC peak lies at 10 deg (not 40 or 70) from +x, y up the rows."""
    lat = lattice_from_sac(autocorrelogram(hex_map(spacing=0.5, orientation_deg=10.0)), BIN)
    ang = np.degrees(np.arctan2(lat.peaks[0, :, 1], lat.peaks[0, :, 0]))
    assert np.min(np.abs(ang - 10.0)) < 2.0
    assert lat.orientation[0] == pytest.approx(10.0, abs=2.0)


def test_sheared_lattice_has_eccentric_ellipse():
    xy = bin_centres(40, BIN)
    stretch = np.array([[1.25, 0.0], [0.0, 1.0]])  # stretch x by 1.25: major axis along x
    m = hex_field(xy @ np.linalg.inv(stretch).T, 0.5, 15.0)
    lat = lattice_from_sac(autocorrelogram(m), BIN)
    assert lat.axis_ratio[0] == pytest.approx(1 / 1.25, abs=0.06)
    assert lat.eccentricity[0] > 0.45
    assert angle_error(lat.ellipse_angle[0], 0.0, period=180.0) < 8.0


def test_no_lattice_gives_nan():
    lat = lattice_from_sac(autocorrelogram(place_map()[None]), BIN)
    assert np.isnan(lat.spacing[0]) and np.isnan(lat.orientation[0])
    assert np.isnan(lat.peaks[0]).all()


def test_noise_spacing_is_not_confidently_hexagonal():
    lat = lattice_from_sac(autocorrelogram(np.stack([noise_map(rng=i) for i in range(4)])), BIN)
    ok = np.isfinite(lat.orientation_spread)
    assert np.all(lat.orientation_spread[ok] > 3.0)


def test_circular_mean_mod_wraps():
    assert circular_mean_mod(np.array([59.0, 1.0]), 60.0) == pytest.approx(0.0, abs=1e-9)
    assert circular_mean_mod(np.array([29.0, 31.0, np.nan]), 60.0) == pytest.approx(30.0)
