"""Module clustering against planted spacing/orientation populations."""

import numpy as np
import pytest

from gridssl.analysis.lattice import circular_mean_mod
from gridssl.analysis.modules import (
    circular_diff_deg,
    circular_std_deg,
    find_modules,
)


def planted(periods, oris, n_per, rng, sp_noise=0.02, ori_noise=1.5):
    """Per-unit features of planted modules: relative spacing noise, orientation noise (deg)."""
    sp, ori, lab = [], [], []
    for m, (p, o) in enumerate(zip(periods, oris)):
        sp.append(p * (1 + sp_noise * rng.standard_normal(n_per)))
        ori.append(np.mod(o + ori_noise * rng.standard_normal(n_per), 60))
        lab += [m] * n_per
    return np.concatenate(sp), np.concatenate(ori), np.array(lab)


def agreement(labels, truth):
    """Fraction of units whose found module is the majority module of their planted one."""
    hits = 0
    for t in np.unique(truth):
        found = labels[truth == t]
        hits += np.bincount(found[found >= 0]).max() if (found >= 0).any() else 0
    return hits / truth.size


def test_circular_helpers():
    m = float(circular_mean_mod(np.array([59.0, 1.0]), 60.0))
    assert 0 <= m < 60 and circular_diff_deg(m, 0.0) < 1e-9
    assert circular_mean_mod(np.array([10.0, 20.0]), 60.0) == pytest.approx(15.0)
    assert circular_diff_deg(59.0, 1.0) == pytest.approx(2.0)
    assert circular_std_deg(np.full(5, 17.0)) == pytest.approx(0.0, abs=1e-6)


def test_three_planted_modules():
    rng = np.random.default_rng(0)
    periods = [0.45, 0.75, 1.27]
    sp, ori, truth = planted(periods, [10.0, 10.0, 10.0], 40, rng)
    perm = rng.permutation(sp.size)  # order of units must not matter
    res = find_modules(sp[perm], ori[perm], rng=1)
    assert res.k == 3
    np.testing.assert_allclose(res.periods, periods, rtol=0.05)
    np.testing.assert_allclose(res.period_ratios, [0.75 / 0.45, 1.27 / 0.75], rtol=0.05)
    assert agreement(res.labels, truth[perm]) > 0.97
    assert np.all(circular_diff_deg(res.orientations, 10.0) < 1.5)
    assert np.all(res.orientation_spread < 3.0)
    assert res.sizes.sum() == sp.size


def test_orientation_wraps_around_60():
    """One module straddling the 0/60 wrap must stay one module."""
    rng = np.random.default_rng(1)
    sp, ori, _ = planted([0.6], [0.0], 60, rng, ori_noise=2.0)
    assert (ori > 50).any() and (ori < 10).any()
    res = find_modules(sp, ori, rng=2)
    assert res.k == 1
    assert circular_diff_deg(res.orientations[0], 0.0) < 1.0
    assert res.orientation_spread[0] < 3.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_single_module_not_split(seed):
    """A tight module, a flat (uniform, non-Gaussian) one and a skewed one all give k = 1."""
    rng = np.random.default_rng(seed)
    n = 80
    tight = (0.5 * (1 + 0.01 * rng.standard_normal(n)), 20 + 0.5 * rng.standard_normal(n))
    flat = (rng.uniform(0.47, 0.53, n), rng.uniform(15, 21, n))
    skew = (0.5 * np.exp(0.04 * rng.exponential(1, n)), 20 + 1.5 * rng.standard_t(3, n))
    for sp, ori in (tight, flat, skew):
        res = find_modules(sp, ori, rng=rng)
        assert res.k == 1
        assert res.periods[0] == pytest.approx(sp.mean())
        assert (res.labels == 0).mean() > 0.95


def test_same_period_different_orientation():
    rng = np.random.default_rng(3)
    sp, ori, truth = planted([0.6, 0.6], [5.0, 25.0], 40, rng)
    res = find_modules(sp, ori, rng=4)
    assert res.k == 2
    assert agreement(res.labels, truth) > 0.97
    found = np.sort(res.orientations)
    np.testing.assert_allclose(found, [5.0, 25.0], atol=1.5)


def test_invalid_units_and_shear():
    rng = np.random.default_rng(5)
    sp, ori, truth = planted([0.45, 0.75], [0.0, 0.0], 30, rng)
    sp[:4] = np.nan  # not grid cells
    valid = np.ones(sp.size, bool)
    valid[-3:] = False
    # same period/orientation but two shear populations -> two modules only with the shear
    shear = np.where(np.arange(sp.size) % 2 == 0, 0.0, 0.3) + 0.01 * rng.standard_normal(sp.size)
    res = find_modules(sp, ori, valid=valid, rng=6)
    assert res.k == 2
    assert np.all(res.labels[:4] == -1) and np.all(res.labels[-3:] == -1)
    assert res.shears is None
    sp1 = np.full(60, 0.5) * (1 + 0.01 * rng.standard_normal(60))
    ori1 = 10 + rng.standard_normal(60)
    res_sh = find_modules(sp1, ori1, shear=shear, rng=7)
    res_no = find_modules(sp1, ori1, rng=7)
    assert res_no.k == 1
    assert res_sh.k == 2
    assert res_sh.shears.shape == (2, 1)


def test_empty_and_tiny_inputs():
    res = find_modules(np.full(5, np.nan), np.zeros(5), rng=0)
    assert res.k == 0 and np.all(res.labels == -1)
    res = find_modules(np.array([0.5, 0.51, 0.49]), np.array([1.0, 2.0, 59.0]), rng=0)
    assert res.k == 1 and res.period_ratios.size == 0


def test_too_few_valid_units_give_no_module():
    from gridssl.analysis.modules import find_modules

    sp = np.array([0.5, np.nan, 0.6, 0.7])
    ori = np.array([1.0, 2.0, 3.0, 4.0])
    res = find_modules(sp, ori, valid=np.array([True, False, False, False]), rng=0)
    assert res.k == 0 and (res.labels == -1).all()
