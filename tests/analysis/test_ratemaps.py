"""Rate maps: hand-made examples with known bin averages, NaN where unvisited, smoothing."""

import numpy as np
import pytest

from gridssl.analysis.ratemaps import bin_positions, rate_maps, smooth_nan

BOX = (0.0, 0.3, 0.0, 0.2)  # 3 columns (x) x 2 rows (y) of 0.1 m bins


def _hand_example():
    positions = np.array(
        [
            [0.05, 0.05],  # bin [y=0, x=0]
            [0.02, 0.08],  # bin [0, 0]
            [0.25, 0.05],  # bin [0, 2]
            [0.15, 0.15],  # bin [1, 1]
            [0.15, 0.12],  # bin [1, 1]
            [0.19, 0.11],  # bin [1, 1]
            [0.30, 0.20],  # on the upper corner: last bin [1, 2]
            [0.50, 0.10],  # outside the box: ignored
        ]
    )
    activity = np.array(
        [
            [1.0, 10.0],
            [3.0, 20.0],
            [5.0, 30.0],
            [2.0, 0.0],
            [4.0, 0.0],
            [9.0, 3.0],
            [7.0, 1.0],
            [100.0, 100.0],
        ]
    )
    return positions, activity


def test_known_bin_averages_and_nan():
    pos, act = _hand_example()
    rm = rate_maps(pos, act, BOX, 0.1)
    assert rm.maps.shape == (2, 2, 3)
    assert rm.occupancy.tolist() == [[2, 0, 1], [0, 3, 1]]
    nan = np.nan
    expected_u0 = np.array([[2.0, nan, 5.0], [nan, 5.0, 7.0]])
    expected_u1 = np.array([[15.0, nan, 30.0], [nan, 1.0, 1.0]])
    np.testing.assert_allclose(rm.maps[0], expected_u0, equal_nan=True)
    np.testing.assert_allclose(rm.maps[1], expected_u1, equal_nan=True)
    assert rm.visited.tolist() == [[True, False, True], [False, True, True]]
    xc, yc = rm.bin_centres()
    np.testing.assert_allclose(xc, [0.05, 0.15, 0.25])
    np.testing.assert_allclose(yc, [0.05, 0.15])


def test_min_occupancy_masks_rare_bins():
    pos, act = _hand_example()
    rm = rate_maps(pos, act, BOX, 0.1, min_occupancy=2)
    assert np.isnan(rm.maps[:, 0, 2]).all() and np.isnan(rm.maps[:, 1, 2]).all()
    assert rm.maps[0, 0, 0] == 2.0 and rm.maps[0, 1, 1] == 5.0


def test_one_dimensional_activity_and_binning_reuse():
    pos, act = _hand_example()
    rm = rate_maps(pos, act[:, 1], BOX, 0.1)
    assert rm.maps.shape == (1, 2, 3)
    b = bin_positions(pos, BOX, 0.1)
    np.testing.assert_array_equal(b.rate_maps(act).maps, rate_maps(pos, act, BOX, 0.1).maps)


def test_vectorised_equals_per_unit_loop():
    rng = np.random.default_rng(3)
    pos = rng.uniform(-1, 1, size=(3000, 2))
    act = rng.random((3000, 5))
    box = (-1, 1, -1, 1)
    rm = rate_maps(pos, act, box, 0.25)
    ix = np.clip(((pos[:, 0] + 1) / 0.25).astype(int), 0, 7)
    iy = np.clip(((pos[:, 1] + 1) / 0.25).astype(int), 0, 7)
    for u in range(5):
        ref = np.full((8, 8), np.nan)
        for j in range(8):
            for i in range(8):
                sel = (iy == j) & (ix == i)
                if sel.any():
                    ref[j, i] = act[sel, u].mean()
        np.testing.assert_allclose(rm.maps[u], ref, rtol=1e-12, equal_nan=True)


def test_torch_tensors_accepted():
    torch = pytest.importorskip("torch")
    pos, act = _hand_example()
    t_pos = torch.tensor(pos, dtype=torch.float32)
    t_act = torch.tensor(act, dtype=torch.float32, requires_grad=True)
    rm = rate_maps(t_pos, t_act, BOX, 0.1)
    np.testing.assert_allclose(
        rm.maps, rate_maps(pos, act, BOX, 0.1).maps, rtol=1e-6, equal_nan=True
    )


def test_smooth_nan_keeps_nan_and_constants():
    m = np.full((1, 10, 12), 3.0)
    m[0, 2:5, 3:6] = np.nan
    s = smooth_nan(m, 1.5)
    assert np.isnan(s[0, 2:5, 3:6]).all()
    np.testing.assert_allclose(s[np.isfinite(s)], 3.0)  # no edge or hole bias
    np.testing.assert_array_equal(smooth_nan(m, 0.0), m)


def test_smooth_nan_is_normalised_convolution():
    rng = np.random.default_rng(0)
    m = rng.random((7, 7))
    m[3, 1] = np.nan
    sigma = 1.0
    s = smooth_nan(m, sigma)
    # hand computation at bin (3, 2): Gaussian-weighted mean over finite bins
    yy, xx = np.mgrid[0:7, 0:7]
    w = np.exp(-((yy - 3) ** 2 + (xx - 2) ** 2) / (2 * sigma**2))
    ok = np.isfinite(m)
    ref = (w * np.where(ok, m, 0)).sum() / (w * ok).sum()
    assert s[3, 2] == pytest.approx(ref, rel=1e-3)  # gaussian_filter truncates the kernel
    assert np.isnan(s[3, 1])


def test_rate_map_smoothing_in_metres():
    rng = np.random.default_rng(1)
    pos = rng.uniform(0, 1, size=(20000, 2))
    act = rng.random((20000, 2))
    raw = rate_maps(pos, act, (0, 1, 0, 1), 0.1)
    sm = rate_maps(pos, act, (0, 1, 0, 1), 0.1, smooth_sigma=0.2)
    np.testing.assert_allclose(sm.maps, smooth_nan(raw.maps, 2.0))
    assert np.nanstd(sm.maps) < np.nanstd(raw.maps)
