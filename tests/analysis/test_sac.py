"""Spatial autocorrelograms against a naive per-lag Pearson loop and synthetic truth."""

import numpy as np
import pytest

from gridssl.analysis.sac import autocorrelogram, sac_centre
from gridssl.analysis.synthetic import hex_map, hex_wavevectors


def naive_sac(m: np.ndarray, min_overlap: int) -> np.ndarray:
    """Reference: for every lag, Pearson over the pairs of visited bins, written as loops."""
    ny, nx = m.shape
    out = np.full((2 * ny - 1, 2 * nx - 1), np.nan)
    for dy in range(-(ny - 1), ny):
        for dx in range(-(nx - 1), nx):
            a, b = [], []
            for i in range(ny):
                for j in range(nx):
                    i2, j2 = i + dy, j + dx
                    if 0 <= i2 < ny and 0 <= j2 < nx:
                        if np.isfinite(m[i, j]) and np.isfinite(m[i2, j2]):
                            a.append(m[i, j])
                            b.append(m[i2, j2])
            if len(a) >= min_overlap:
                a, b = np.array(a), np.array(b)
                if a.std() > 1e-12 and b.std() > 1e-12:
                    out[dy + ny - 1, dx + nx - 1] = np.corrcoef(a, b)[0, 1]
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_equals_naive_loop_with_nans(seed):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((8, 8)) + 3.0
    m[rng.random((8, 8)) < 0.2] = np.nan
    m[0, :3] = np.nan
    got = autocorrelogram(m, min_overlap=4)
    ref = naive_sac(m, 4)
    assert got.shape == (15, 15)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got, ref, atol=1e-10, equal_nan=True)


def test_rectangular_map_and_batch_equal_single():
    rng = np.random.default_rng(2)
    maps = rng.random((3, 6, 9))
    maps[1, 2, 3] = np.nan
    batch = autocorrelogram(maps, min_overlap=5)
    assert batch.shape == (3, 11, 17)
    for u in range(3):
        np.testing.assert_allclose(batch[u], naive_sac(maps[u], 5), atol=1e-10, equal_nan=True)


def test_centre_symmetry_and_min_overlap():
    m = hex_map(n_bins=20, spacing=0.4)
    s = autocorrelogram(m, min_overlap=20)
    cy, cx = sac_centre(s.shape)
    assert (cy, cx) == (19, 19)
    assert s[cy, cx] == pytest.approx(1.0)
    np.testing.assert_allclose(s, s[::-1, ::-1], atol=1e-12, equal_nan=True)
    # corner lag (19, 19) overlaps in 1 bin < 20: masked; lag (0, 19) overlaps in 20 bins: kept
    assert np.isnan(s[0, 0]) and np.isfinite(s[cy, 0])


def test_hex_sac_peaks_at_lattice_vectors():
    spacing, ori, b = 0.5, 20.0, 0.05
    s = autocorrelogram(hex_map(spacing=spacing, orientation_deg=ori))
    cy, cx = sac_centre(s.shape)
    for a in ori + np.array([0, 60, 120]):
        dx, dy = spacing / b * np.cos(np.deg2rad(a)), spacing / b * np.sin(np.deg2rad(a))
        assert s[cy + int(round(dy)), cx + int(round(dx))] > 0.8
    # half way between the centre and a lattice peak the SAC is low
    k = hex_wavevectors(spacing, ori)[0]
    half = 0.5 * spacing / b * k / np.linalg.norm(k)  # along a wave-vector: a trough
    assert s[cy + int(round(half[1])), cx + int(round(half[0]))] < 0.0


def test_constant_map_gives_nan():
    assert np.isnan(autocorrelogram(np.ones((5, 5)), min_overlap=2)).all()
