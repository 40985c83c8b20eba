"""Persistent homology of planted population codes: a torus, a circle and a line."""

import numpy as np
import pytest

from gridssl.analysis.synthetic import torus_activity
from gridssl.analysis.topology import (
    landmark_subsample,
    pca,
    population_topology,
    spectral_embedding,
    zscore,
)

N_UNITS = 48


def smooth_walk(n_steps, rng, half_width=1.0, speed=0.02, turn_sd=0.3):
    """A smooth random walk (n_steps, 2), metres, in a square box with reflecting walls."""
    heading = np.cumsum(rng.normal(0, turn_sd, n_steps))
    step = speed * np.stack([np.cos(heading), np.sin(heading)], axis=1)
    free = np.cumsum(step, axis=0)
    # reflect the free path into [-h, h]: a triangle wave of period 4h
    w = 2 * half_width
    return half_width - np.abs(np.mod(free + half_width, 2 * w) - w)


def noisy(a, rng, sd=0.1):
    return a + sd * rng.standard_normal(a.shape)


@pytest.fixture(scope="module")
def torus_uniform():
    """A 0.5 m module sampled at uniform random positions of a 2 m box (16 unit cells)."""
    rng = np.random.default_rng(0)
    pos = rng.uniform(-1, 1, (6000, 2))
    return noisy(torus_activity(pos, N_UNITS, spacing=0.5, orientation_deg=7.0, rng=rng), rng)


def test_torus_betti_121(torus_uniform):
    res = population_topology(torus_uniform, n_points=300, n_null=2, rng=1)
    assert res.betti == (1, 2, 1)
    assert res.embedding.shape == (300, 6)
    assert res.indices.shape == (300,) and np.all(np.diff(res.indices) > 0)
    assert len(res.diagrams) == 3 and res.thresholds.shape == (3,)
    # the two H1 bars and the H2 bar are well above their null thresholds
    assert res.lifetimes[1][1] > 1.5 * res.thresholds[1]
    assert res.lifetimes[2][0] > 1.5 * res.thresholds[2]
    assert np.isinf(res.lifetimes[0][0])
    assert res.units.size == N_UNITS and res.cocycles is None


def test_torus_along_smooth_walk():
    rng = np.random.default_rng(2)
    pos = smooth_walk(20000, rng)
    assert np.abs(pos).max() <= 1.0
    act = noisy(torus_activity(pos, N_UNITS, spacing=0.6, orientation_deg=41.0, rng=rng), rng)
    res = population_topology(act, n_points=300, n_null=2, rng=3)
    assert res.betti == (1, 2, 1)


def test_circle_code_is_not_a_torus():
    """Units tuned to x only, periodically (stripes): the population lies on a circle."""
    rng = np.random.default_rng(4)
    pos = rng.uniform(-1, 1, (6000, 2))
    ph = rng.uniform(0, 0.5, N_UNITS)
    act = noisy((np.cos(2 * np.pi * (pos[:, :1] - ph) / 0.5) + 1) / 2, rng, 0.05)
    res = population_topology(act, n_points=300, n_null=2, rng=5)
    assert res.betti != (1, 2, 1)
    assert res.betti == (1, 1, 0)


def test_line_code_is_contractible():
    """Monotonic (sigmoid) tuning to x: a contractible curve, no loops or voids."""
    rng = np.random.default_rng(6)
    pos = rng.uniform(-1, 1, (6000, 2))
    centres = rng.uniform(-1, 1, N_UNITS)
    act = noisy(1 / (1 + np.exp(-(pos[:, :1] - centres) / 0.2)), rng, 0.05)
    res = population_topology(act, n_points=300, n_null=2, rng=7)
    assert res.betti == (1, 0, 0)


def test_ripser_backend_with_cocycles(torus_uniform):
    res = population_topology(
        torus_uniform, n_points=300, maxdim=1, backend="ripser", n_null=1, rng=8
    )
    assert res.betti == (1, 2)
    assert res.backend == "ripser" and res.cocycles is not None and len(res.cocycles) == 2


def test_zscore_pca_and_landmarks():
    rng = np.random.default_rng(9)
    a = rng.standard_normal((500, 5)) * [1, 2, 3, 4, 5] + 10
    a = np.concatenate([a, np.full((500, 1), 3.0)], axis=1)  # a constant unit is dropped
    z, units = zscore(a)
    assert units.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(z.std(0), 1.0)
    scores, comps, evr = pca(z, 3, whiten_floor=0.0)
    np.testing.assert_allclose(scores.std(0), 1.0)  # full whitening
    assert comps.shape == (3, 5) and np.all(np.diff(evr) <= 0)
    # landmarks: an outlier far from a dense blob is dropped by the density filter,
    # and max-min sampling of a uniform square covers it evenly
    sq = rng.uniform(0, 1, (4000, 2))
    pts = np.concatenate([sq, [[50.0, 50.0]]])
    idx = landmark_subsample(pts, 100, rng)
    assert 4000 not in idx and idx.size == 100
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 11), np.linspace(0, 1, 11)), -1).reshape(-1, 2)
    cover = np.linalg.norm(grid[:, None] - pts[idx][None], axis=-1).min(1).max()
    assert cover < 0.15  # random 100 points leave holes of about 0.2


def test_spectral_embedding_of_a_circle():
    rng = np.random.default_rng(10)
    t = rng.uniform(0, 2 * np.pi, 400)
    pts = np.stack([np.cos(t), np.sin(t), 0.01 * rng.standard_normal(400)], axis=1)
    emb = spectral_embedding(pts, n_components=3, rng=11)
    assert emb.shape == (400, 3) and np.isfinite(emb).all()
    # the two leading eigenvectors of a ring are cos/sin of the angle: a ring of constant radius
    r = np.hypot(emb[:, 0], emb[:, 1])
    assert r.std() / r.mean() < 0.2
    np.testing.assert_allclose(emb, spectral_embedding(pts, n_components=3, rng=11))


@pytest.mark.slow
def test_torus_default_settings():
    """The default pipeline (1000 landmarks, 3 null shuffles) on a 128-unit module."""
    rng = np.random.default_rng(12)
    pos = rng.uniform(-1, 1, (20000, 2))
    act = noisy(torus_activity(pos, 128, spacing=0.5, rng=rng), rng)
    res = population_topology(act, rng=13)
    assert res.betti == (1, 2, 1)


def test_sphere_code_is_not_a_torus():
    """Units tuned to directions on a 2-sphere (a population whose manifold is S^2): Betti
    numbers (1, 0, 1), which a test that only checks for H1 = 2 would miss."""
    rng = np.random.default_rng(11)
    p = rng.normal(size=(6000, 3))
    p /= np.linalg.norm(p, axis=1, keepdims=True)  # (S, 3) uniform on the sphere
    pref = rng.normal(size=(40, 3))
    pref /= np.linalg.norm(pref, axis=1, keepdims=True)  # (U, 3) preferred directions
    act = np.exp(p @ pref.T - 1.0)  # (S, U) broad von Mises-Fisher tuning
    res = population_topology(act, n_points=300, n_null=2, rng=11)
    assert res.betti == (1, 0, 1)
