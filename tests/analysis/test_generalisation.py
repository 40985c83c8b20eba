import numpy as np
import torch

from gridssl.analysis.generalisation import binned, separation, start_distance
from gridssl.analysis.synthetic import hex_field
from gridssl.data import Arena, smooth_trajectories


def _walk(n=40, T=600, size=3.0, seed=0):
    v, x = smooth_trajectories(n, T, Arena(size), torch.Generator().manual_seed(seed))
    return x.numpy().astype(float)


def _place_code(x, n_centres=12, width=0.6, seed=0):
    """A smooth, non-periodic code: Gaussian bumps spread over the arena, unit-normalised."""
    c = np.random.default_rng(seed).uniform(-1.5, 1.5, (n_centres**2, 2))
    g = np.exp(-((x[..., None, :] - c) ** 2).sum(-1) / (2 * width**2))
    return g / np.linalg.norm(g, axis=-1, keepdims=True)


def _grid_code(x, spacing=0.5, n=64, seed=0):
    ph = np.random.default_rng(seed).uniform(0, spacing, (n, 2))
    g = np.stack([hex_field(x - p, spacing, 0.0) for p in ph], -1)
    return g / np.linalg.norm(g, axis=-1, keepdims=True)


def test_binned_matches_loop():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, 500), rng.normal(size=500)
    edges = np.linspace(0, 1, 6)
    c = binned(x, y, edges)
    for k in range(5):
        m = (x >= edges[k]) & (x < edges[k + 1])
        assert np.isclose(c.mean[k], y[m].mean()) and c.count[k] == m.sum()
        assert np.isclose(c.sd[k], y[m].std())


def test_start_distance_detects_aliasing_of_a_single_periodic_code():
    x = _walk().reshape(-1, 2)
    g0 = _grid_code(np.zeros((1, 2)))[0]
    periodic = start_distance(x, _grid_code(x), g0)
    smooth = start_distance(x, _place_code(x), _place_code(np.zeros((1, 2)))[0])
    assert periodic.alias_fraction > 0.02  # returns near the start state one period away
    assert smooth.alias_fraction < 0.005
    assert smooth.min_far > 2 * smooth.near_start


def test_separation_path_invariant_code_vs_time_code():
    x = _walk(n=20, T=800, size=2.0)
    rng = np.random.default_rng(1)
    place = separation(x, _place_code(x), rng, n_pairs=100_000)
    t = np.arange(x.shape[1])[None, :, None] * np.ones((x.shape[0], 1, 1))
    time_code = np.concatenate(
        [np.cos(t / 50.0 + np.arange(8)), np.sin(t / 70.0 + np.arange(8))], -1
    )
    timed = separation(x, time_code, rng, n_pairs=100_000)
    assert place.n_revisits > 100
    assert place.invariance_ratio < 0.2  # revisits coded alike
    assert timed.invariance_ratio > 0.5  # revisits at other times coded differently


def test_crop_correlation_same_code_vs_other_code():
    from gridssl.analysis.generalisation import crop_correlation
    from gridssl.analysis.synthetic import bin_centres

    small_xy, large_xy = bin_centres(40, 0.05), bin_centres(80, 0.05)
    small = np.stack([hex_field(small_xy, 0.5, 10.0, (0.1 * u, 0.0)) for u in range(3)])
    large = np.stack([hex_field(large_xy, 0.5, 10.0, (0.1 * u, 0.0)) for u in range(3)])
    large[:, :5] = np.nan
    r = crop_correlation(small, (-1, 1, -1, 1), large, (-2, 2, -2, 2), 0.05)
    assert np.allclose(r, 1.0)
    other = np.stack([hex_field(large_xy, 0.5, 40.0) for _ in range(3)])
    r2 = crop_correlation(small, (-1, 1, -1, 1), other, (-2, 2, -2, 2), 0.05)
    assert (np.abs(r2) < 0.5).all()
