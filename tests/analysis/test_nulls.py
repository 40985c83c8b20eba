"""Shuffle nulls: smoothed noise falls inside the null, a hexagonal grid above it."""

import numpy as np
import pytest

from gridssl.analysis.gridscore import score_maps
from gridssl.analysis.nulls import block_shuffle_maps, block_shuffle_null, time_shift_null
from gridssl.analysis.ratemaps import rate_maps
from gridssl.analysis.synthetic import hex_map, noise_map

BOX = (-1.0, 1.0, -1.0, 1.0)
BIN = 0.05


def reflected_walk(n_steps, rng, side=2.0, step=0.02, turn_sd=0.2):
    """Smooth random walk (correlated headings) folded into [-side/2, side/2]^2 by reflection."""
    heading = np.cumsum(rng.normal(0.0, turn_sd, n_steps)) + rng.uniform(0, 2 * np.pi)
    free = np.cumsum(step * np.stack([np.cos(heading), np.sin(heading)], 1), 0)
    free += rng.uniform(0, side, 2)
    u = np.mod(free, 2 * side)
    return np.where(u > side, 2 * side - u, u) - side / 2


def sample_maps(maps, pos):
    """Activity (S, U) of units with rate maps (U, 40, 40) along positions (S, 2)."""
    ix = np.clip(((pos[:, 0] - BOX[0]) / BIN).astype(int), 0, maps.shape[2] - 1)
    iy = np.clip(((pos[:, 1] - BOX[2]) / BIN).astype(int), 0, maps.shape[1] - 1)
    return maps[:, iy, ix].T


@pytest.fixture(scope="module")
def walk_data():
    rng = np.random.default_rng(0)
    pos = reflected_walk(40_000, rng)
    n_noise = 24
    maps = np.stack(
        [noise_map(smooth_bins=2.0, rng=100 + i) for i in range(n_noise)]
        + [hex_map(spacing=0.5, orientation_deg=10.0)]
    )
    return pos, sample_maps(maps, pos), n_noise


def test_time_shift_null_noise_inside_grid_outside(walk_data):
    pos, act, n_noise = walk_data
    smooth = 0.1  # the same rate-map settings for data and null
    real = score_maps(rate_maps(pos, act, BOX, BIN, smooth_sigma=smooth).maps, "minmax").scores
    null = time_shift_null(
        pos,
        act,
        BOX,
        BIN,
        n_shuffles=8,
        min_shift=2000,
        rng=np.random.default_rng(1),
        smooth_sigma=smooth,
    )
    assert null.scores.shape == (8, n_noise + 1)
    assert null.method == "time_shift" and null.percentile == 95.0
    assert null.params["scorer_variant"] == "minmax"
    noise, grid = real[:n_noise], real[n_noise]
    # smoothed noise lies inside the null: at most a few units above the pooled 95th percentile
    assert np.mean(noise > null.pooled) <= 0.15
    assert np.median(noise) < null.pooled
    # the hexagonal unit is far above both the pooled and its own null
    assert grid > 1.0 and grid > null.pooled + 0.3 and grid > null.per_unit[n_noise]
    assert null.exceeds(real)[n_noise]


def test_time_shift_null_reproducible_and_custom_scorer(walk_data):
    pos, act, _ = walk_data
    kw = dict(n_shuffles=2, min_shift=2000, scorer=lambda m: score_maps(m, "bnt"))
    a = time_shift_null(pos, act[:, :3], BOX, BIN, rng=np.random.default_rng(7), **kw)
    b = time_shift_null(pos, act[:, :3], BOX, BIN, rng=np.random.default_rng(7), **kw)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert a.params["scorer_variant"] == "bnt"
    with pytest.raises(ValueError):
        time_shift_null(pos, act, BOX, BIN, 1, min_shift=len(pos), rng=np.random.default_rng(0))


def test_block_shuffle_preserves_values_and_moves_blocks():
    rng = np.random.default_rng(0)
    m = np.arange(2 * 11 * 12, dtype=float).reshape(2, 11, 12)
    m[0, 0, 0] = np.nan
    out = block_shuffle_maps(m, 4, rng)
    assert out.shape == m.shape
    for u in range(2):  # a permutation of the bins, NaN included
        np.testing.assert_array_equal(np.sort(out[u].ravel()), np.sort(m[u].ravel()))
    # the leftover strip (row 8.. and, here, no column) stays in place
    np.testing.assert_array_equal(out[:, 8:], m[:, 8:])
    # each 4x4 target block is a rotated copy of some source block
    for u in range(2):
        src_blocks = [m[u, i : i + 4, j : j + 4] for i in (0, 4) for j in (0, 4, 8)]
        for i in (0, 4):
            for j in (0, 4, 8):
                blk = out[u, i : i + 4, j : j + 4]
                assert any(
                    np.array_equal(blk, np.rot90(s, k), equal_nan=True)
                    for s in src_blocks
                    for k in range(4)
                )
    assert not np.array_equal(out, m, equal_nan=True)


def test_block_shuffle_null_grid_above_noise_inside():
    maps = np.stack(
        [noise_map(rng=200 + i) for i in range(12)] + [hex_map(spacing=0.5, orientation_deg=25.0)]
    )
    real = score_maps(maps, "minmax").scores
    null = block_shuffle_null(maps, n_shuffles=6, block_bins=10, rng=np.random.default_rng(3))
    assert null.method == "block_shuffle" and null.scores.shape == (6, 13)
    assert real[-1] > null.pooled and real[-1] > null.per_unit[-1]
    assert np.mean(real[:-1] > null.pooled) <= 0.2


def test_time_shift_rolls_each_unit_by_its_own_shift():
    from gridssl.analysis.nulls import time_shift_null
    from gridssl.analysis.ratemaps import rate_maps

    rng = np.random.default_rng(0)
    S, U = 500, 3
    pos = rng.uniform(-1, 1, (S, 2))
    act = rng.random((S, U))
    box = (-1.0, 1.0, -1.0, 1.0)
    seen = []

    def capture(maps):
        seen.append(maps)
        return np.zeros(len(maps))

    time_shift_null(pos, act, box, 0.25, 1, 50, np.random.default_rng(7), scorer=capture)
    shift = np.random.default_rng(7).integers(50, S - 50 + 1, size=U)
    rolled = np.stack([np.roll(act[:, u], shift[u]) for u in range(U)], axis=1)
    expect = rate_maps(pos, rolled, box, 0.25).maps
    assert np.allclose(seen[0], expect, atol=1e-6, equal_nan=True)
