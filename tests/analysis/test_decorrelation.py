"""The decorrelation curve d(g(x), g(x + r)): against a naive all-pairs reference, against the
analytic curve of a code of plane waves, and on planted grid and place codes."""

import numpy as np
import pytest
from scipy.special import j0

from gridssl.analysis.decorrelation import decorrelation
from gridssl.analysis.synthetic import bin_centres, hex_field, place_map
from gridssl.config import AnalysisConfig

BIN = 0.05
CFG = AnalysisConfig()


def _naive(maps, bin_size, max_r):
    """All pairs of valid bins, one by one in displacement: RMS distance per separation bin."""
    U, ny, nx = maps.shape
    norm = np.sqrt(np.nansum(maps**2, 0))
    valid = np.isfinite(maps).all(0) & (norm > 0)
    ys, xs = np.nonzero(valid)
    g = maps[:, ys, xs] / norm[ys, xs]  # (U, V)
    n_r = int(np.floor(max_r / bin_size)) + 1
    s2, cnt = np.zeros(n_r), np.zeros(n_r)
    for a in range(len(ys)):
        ring = np.rint(np.hypot(ys - ys[a], xs - xs[a])).astype(int)
        d2 = ((g - g[:, a : a + 1]) ** 2).sum(0)
        ok = ring < n_r
        np.add.at(s2, ring[ok], d2[ok])
        np.add.at(cnt, ring[ok], 1)
    return np.sqrt(s2 / cnt), cnt


def test_curve_equals_the_naive_all_pairs_reference():
    rng = np.random.default_rng(0)
    maps = rng.random((5, 14, 17))
    maps[:, 0, :4] = np.nan  # unvisited bins
    maps[2, 9, 9] = np.nan
    maps[:, 5, 5] = 0.0  # a zero population vector: left out
    res = decorrelation(maps, BIN, max_r=0.6, level=0.9)
    want, cnt = _naive(maps, BIN, 0.6)
    np.testing.assert_allclose(res.pairs, cnt, atol=1e-6)
    np.testing.assert_allclose(res.distance**2, want**2, atol=1e-9)  # FFT round-off in d^2
    assert res.distance[0] == pytest.approx(0.0, abs=1e-6)


def test_plane_waves_in_all_directions_give_the_bessel_curve():
    # units cos(k_i . x), sin(k_i . x) / sqrt(n) for n directions: g(x) . g(x + d) = mean_i
    # cos(k_i . d), whose average over directions is J0(k |d|)
    k, n = 2 * np.pi / 0.6, 36
    xy = bin_centres(60, BIN)
    th = np.pi * np.arange(n) / n
    phase = xy @ (k * np.stack([np.cos(th), np.sin(th)]))  # (ny, nx, n)
    maps = np.concatenate([np.cos(phase), np.sin(phase)], -1).transpose(2, 0, 1) / np.sqrt(n)
    res = decorrelation(maps, BIN, max_r=1.0, level=0.9)
    want = np.sqrt(2 - 2 * j0(k * res.r))
    np.testing.assert_allclose(res.distance[1:], want[1:], atol=0.06)


def _hex_module(rng, period, n, orientation=5.0):
    xy = bin_centres(80, BIN)
    fields = [hex_field(xy, period, orientation, rng.uniform(0, period, 2)) for _ in range(n)]
    return np.stack(fields) ** 3


def test_one_module_recurs_at_its_period_and_place_or_two_module_codes_do_not():
    rng = np.random.default_rng(1)
    cfg = dict(max_r=CFG.decorrelation_max_r, level=CFG.decorrelation_level)
    grid = decorrelation(_hex_module(rng, 0.8, 40), BIN, **cfg)
    two = decorrelation(
        np.concatenate([_hex_module(rng, 0.8, 20), _hex_module(rng, 0.5, 20, 22.0)]), BIN, **cfg
    )
    centres = rng.uniform(-2, 2, (300, 2))
    places = decorrelation(np.stack([place_map(80, BIN, c, 0.08) for c in centres]), BIN, **cfg)
    # one module: the code repeats at a lattice vector (0.8 m; off the bin grid by < 1 bin)
    assert grid.recurrence < 0.15 and grid.recurrence_r == pytest.approx(0.8, abs=0.05)
    # averaged over directions that is only a dip (a hexagonal code averages to 3 J0(k r))
    at_period = grid.distance[np.argmin(np.abs(grid.r - 0.8))]
    assert at_period < grid.distance.max() - 0.15
    # two incommensurate modules repeat much less, a place code not at all
    assert grid.recurrence + 0.3 < two.recurrence < places.recurrence
    assert places.recurrence > 0.9
    far = places.r > places.length
    assert places.distance[far].min() > 0.9 * places.plateau  # no dip: nothing repeats
    # 8 cm place fields: 90% of the plateau within about 2.6 field s.d. (Gaussian overlap)
    assert places.length == pytest.approx(2.6 * 0.08, rel=0.35)
    assert 0 < places.plateau <= np.sqrt(2) + 1e-9


def test_bad_maps_are_refused():
    with pytest.raises(ValueError, match="maps must be"):
        decorrelation(np.zeros((4, 4)), BIN, max_r=1.0, level=0.9)
