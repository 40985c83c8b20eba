"""Module Fourier analysis against planted hexagonal populations."""

import numpy as np
import pytest

from gridssl.analysis.fourier import module_lattice, phase_uniformity
from gridssl.analysis.synthetic import bin_centres, hex_field, modular_population

BIN = 0.05


def expected_angles(ori):
    """Convention: wave-vectors at ori + 30 + {0, 60, 120} degrees, folded to [0, 180), sorted."""
    return np.sort(np.mod(ori + 30 + np.array([0.0, 60.0, 120.0]), 180))


def angle_err(a, b, period=180.0):
    d = np.mod(np.asarray(a) - np.asarray(b), period)
    return np.minimum(d, period - d)


def wrap(x):
    return np.angle(np.exp(1j * x))


def cell_uniform_phases(spacing, ori, n, rng):
    """Phases (n, 2), metres, uniform on the rhombic unit cell of the lattice."""
    a = np.deg2rad(ori + np.array([0.0, 60.0]))
    basis = spacing * np.stack([np.cos(a), np.sin(a)], axis=1)  # rows: lattice vectors
    return rng.uniform(0, 1, (n, 2)) @ basis


def maps_from_phases(phases, spacing, ori, n_bins=40):
    xy = bin_centres(n_bins, BIN)
    return np.stack([hex_field(xy, spacing, ori, p) for p in phases])


@pytest.mark.parametrize("spacing,ori", [(0.45, 0.0), (0.75, 17.0), (0.5, 45.0), (1.27, 8.0)])
def test_wavevectors_and_phases(spacing, ori):
    maps, _, planted = modular_population([spacing], 50, ori, n_bins=40, bin_size=BIN, rng=1)
    res = module_lattice(maps, BIN)
    k_true = 4 * np.pi / (np.sqrt(3) * spacing)
    np.testing.assert_allclose(res.wavenumbers, k_true, rtol=0.05)
    assert np.all(angle_err(res.angles, expected_angles(ori)) < 3.0)
    assert res.spacing == pytest.approx(spacing, rel=0.05)
    assert angle_err(res.orientation, ori, 60.0) < 3.0
    # hexagonal triad k1 - k2 + k3 = 0
    tri = res.wavevectors[0] - res.wavevectors[1] + res.wavevectors[2]
    assert np.linalg.norm(tri) < 0.05 * k_true
    # phases along k_i equal k_i . p of the planted field position p (mod 2 pi)
    expected = planted @ res.wavevectors.T
    tol = 0.15 if spacing < 1.0 else 0.35  # the 2 m box holds fewer than two 1.27 m periods
    assert np.abs(wrap(res.phases - expected)).max() < tol
    assert np.abs(res.triad_residual).max() < tol
    assert np.all(res.lattice_fraction > 0.9)
    # the 2-D phase is the planted position modulo the lattice
    d = (res.phase_xy - planted) @ res.wavevectors[:2].T  # multiples of 2 pi if equal mod lattice
    assert np.abs(wrap(d)).max() < tol
    # the mean spectrum's maximum sits on the lattice ring
    iy, ix = np.unravel_index(np.argmax(res.power), res.power.shape)
    assert np.hypot(res.kx[ix], res.ky[iy]) == pytest.approx(k_true, rel=0.1)


def test_nan_bins_circular_arena():
    rng = np.random.default_rng(2)
    spacing, ori = 0.6, 33.0
    phases = cell_uniform_phases(spacing, ori, 60, rng)
    maps = maps_from_phases(phases, spacing, ori)
    outside = (bin_centres(40, BIN) ** 2).sum(-1) > 1.0  # circular arena of radius 1 m
    maps[:, outside] = np.nan
    maps[rng.random(maps.shape) < 0.1] = np.nan  # scattered unvisited bins
    maps[0] = np.nan  # a unit never recorded
    res = module_lattice(maps, BIN)
    assert not res.usable[0] and res.usable[1:].all()
    assert np.isnan(res.phases[0]).all()
    np.testing.assert_allclose(res.wavenumbers, 4 * np.pi / (np.sqrt(3) * spacing), rtol=0.05)
    assert np.all(angle_err(res.angles, expected_angles(ori)) < 3.0)
    err = wrap(res.phases[1:] - phases[1:] @ res.wavevectors.T)
    assert np.abs(err).max() < 0.3
    assert res.uniformity.n == 59


def test_uniform_phases_pass_clustered_fail():
    rng = np.random.default_rng(3)
    spacing, ori = 0.5, 12.0
    uniform = module_lattice(
        maps_from_phases(cell_uniform_phases(spacing, ori, 80, rng), spacing, ori), BIN
    )
    assert uniform.uniformity.uniform and uniform.uniformity.p_value > 0.05
    same = module_lattice(maps_from_phases(np.tile([0.1, -0.2], (80, 1)), spacing, ori), BIN)
    assert not same.uniformity.uniform and same.uniformity.p_value < 1e-6
    assert np.abs(wrap(same.phases - same.phases[0])).max() < 1e-6
    # two tight clusters of phases, half a lattice vector apart
    a1 = np.array([np.cos(np.deg2rad(ori)), np.sin(np.deg2rad(ori))]) * spacing
    two = np.where(np.arange(80)[:, None] % 2 == 0, 0.0, 0.5 * a1) + 0.01 * rng.standard_normal(
        (80, 2)
    )
    res_two = module_lattice(maps_from_phases(two, spacing, ori), BIN)
    assert not res_two.uniformity.uniform


def test_phase_uniformity_calibration():
    """Under uniformity the test rejects at about its nominal rate; clusters are always rejected."""
    rng = np.random.default_rng(4)
    rejections = [not phase_uniformity(rng.uniform(0, 1, (100, 2))).uniform for _ in range(400)]
    assert 0.02 < np.mean(rejections) < 0.09
    clustered = np.mod(0.3 + 0.08 * rng.standard_normal((40, 2)), 1)
    assert not phase_uniformity(clustered).uniform
    assert phase_uniformity(rng.uniform(0, 1, (10, 2)), order=1).dof == 8


def test_errors():
    with pytest.raises(ValueError):
        module_lattice(np.full((3, 10, 10), np.nan), BIN)
    with pytest.raises(ValueError):
        module_lattice(np.ones((3, 10, 10)), BIN)
