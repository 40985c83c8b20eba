"""Spatial information, sparsity, selectivity, firing fields and the grid-cell rule."""

import numpy as np
import pytest

from gridssl.analysis.fields import (
    firing_fields,
    is_grid_cell,
    selectivity,
    sparsity,
    spatial_information,
)
from gridssl.analysis.gridscore import score_maps
from gridssl.analysis.synthetic import hex_map, noise_map, place_map


def test_information_sparsity_selectivity_by_hand():
    # rate 4 in one of four equally visited bins, 0 elsewhere: mean 1
    m = np.array([[[4.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]])
    np.testing.assert_allclose(spatial_information(m), [2.0, 0.0])  # 0.25 * 4 * log2(4)
    np.testing.assert_allclose(sparsity(m), [0.25, 1.0])
    np.testing.assert_allclose(selectivity(m), [4.0, 1.0])


def test_occupancy_weighting_and_unvisited_bins():
    m = np.array([[[2.0, 0.0], [np.nan, 1.0]]])
    occ = np.array([[1, 2], [5, 1]])  # the NaN bin's occupancy is ignored
    p = np.array([0.25, 0.5, 0.25])
    lam = np.array([2.0, 0.0, 1.0])
    mean = (p * lam).sum()
    ref = sum(pi * li / mean * np.log2(li / mean) for pi, li in zip(p, lam) if li > 0)
    assert spatial_information(m, occ)[0] == pytest.approx(ref)
    assert sparsity(m, occ)[0] == pytest.approx(mean**2 / (p * lam**2).sum())
    assert selectivity(m, occ)[0] == pytest.approx(2.0 / mean)
    assert np.isnan(spatial_information(np.zeros((1, 3, 3))))[0]


def test_place_map_is_more_informative_than_grid():
    maps = np.stack([place_map(width=0.12), hex_map(spacing=0.5)])
    info = spatial_information(maps)
    assert info[0] > 2 * info[1]
    assert sparsity(maps)[0] < sparsity(maps)[1]


def test_field_counts():
    maps = np.stack(
        [
            hex_map(spacing=0.5),
            place_map(),
            place_map(centre=(0.5, 0.5), width=0.1),
            np.zeros((40, 40)),
        ]
    )
    maps[3, 5:10, 5:10] = 1.0  # two square fields, one too small
    maps[3, 30:32, 30:32] = 1.0
    f = firing_fields(maps, frac=0.3, min_area=6)
    # a 2 m box holds about (2 / 0.5)^2 / (sqrt(3) / 2) ~ 18 fields of a 0.5 m grid
    assert 12 <= f.n_fields[0] <= 30
    assert f.n_fields[1] == 1 and f.n_fields[2] == 1
    assert f.n_fields[3] == 1 and f.largest_area[3] == 25
    assert f.largest_fraction[3] == pytest.approx(25 / 1600)
    assert f.place_like.tolist() == [False, True, True, True]


def test_fields_do_not_connect_across_units():
    a = np.zeros((2, 10, 10))
    a[0, :, 9] = 1.0  # a field on the last column of unit 0
    a[1, :, 0] = 1.0  # and on the first column of unit 1 (adjacent in memory)
    f = firing_fields(a, min_area=5)
    assert f.n_fields.tolist() == [1, 1]
    assert f.largest_area.tolist() == [10, 10]


def test_broad_single_field_is_not_place_like():
    m = noise_map(rng=0)
    f = firing_fields(m[None], frac=0.0, min_area=6)  # everything above the minimum: one field
    assert f.n_fields[0] == 1 and not f.place_like[0]


def test_place_map_never_counted_as_grid_cell():
    maps = np.stack([place_map(), place_map(centre=(-0.4, 0.2), width=0.2), hex_map(spacing=0.5)])
    fs = firing_fields(maps)
    assert fs.place_like.tolist() == [True, True, False]
    scores = score_maps(maps, variant="minmax")
    # even with a threshold every score passes, place-like units are not grid cells
    low = np.nanmin(scores.scores) - 1.0
    assert is_grid_cell(scores, fs, threshold=low).tolist() == [False, False, True]
    assert is_grid_cell(scores.scores, fs.n_fields, threshold=0.3).tolist() == [False, False, True]
    # per-unit thresholds and NaN scores
    s = np.array([0.5, np.nan, 0.5])
    assert is_grid_cell(s, np.array([5, 5, 5]), np.array([0.4, 0.0, 0.6])).tolist() == [
        True,
        False,
        False,
    ]
    assert is_grid_cell(s, np.array([2, 5, 5]), 0.3, min_fields=3).tolist() == [False, False, True]
