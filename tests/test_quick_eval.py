"""The in-training evaluation (``train.quick_eval`` and the scoring stage it shares with every
measurement, ``pipeline.score_population``) on
planted codes whose grid cells are known: hexagonal units count, a place unit and a stripe unit
do not, and the numbers follow the configured rule."""

import dataclasses

import numpy as np
import torch

from gridssl.analysis.synthetic import hex_field
from gridssl.config import AnalysisConfig, load_config
from gridssl.pipeline import score_population
from gridssl.train import quick_eval

N_HEX = 6  # units 0..5: hexagonal grids; unit 6: one place field; unit 7: stripes


def planted(xy: np.ndarray) -> np.ndarray:
    """Activity (..., 8) of the planted units at positions xy (..., 2), metres."""
    hexes = [
        hex_field(xy, spacing, ori, phase)
        for spacing, ori, phase in zip(
            (0.45, 0.5, 0.55, 0.6, 0.5, 0.45),
            (0.0, 10.0, 20.0, 30.0, 40.0, 50.0),
            ((0.0, 0.0), (0.1, 0.2), (0.3, 0.1), (0.05, 0.25), (0.2, 0.2), (0.15, 0.05)),
        )
    ]
    place = np.exp(-((xy - np.array([0.2, 0.1])) ** 2).sum(-1) / (2 * 0.15**2))
    stripe = (np.cos(2 * np.pi * xy[..., 0] / 0.5) + 1) / 2
    return np.stack([*hexes, place, stripe], axis=-1)


class PlantedNet(torch.nn.Module):
    """Stands in for SICNet: its 'state' is the planted code of the batch's true positions."""

    n_units = N_HEX + 2

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))  # quick_eval reads the device from it

    def rollout_batch(self, batch):
        return torch.as_tensor(planted(batch.positions.numpy()), dtype=torch.float32)


def grid_fraction(xy, cfg: AnalysisConfig) -> float:
    return float(score_population(xy, planted(xy), (-1, 1, -1, 1), cfg, 0, 0).is_grid.mean())


def test_scoring_stage_counts_the_planted_grid_cells():
    rng = np.random.default_rng(0)
    xy = rng.uniform(-1, 1, size=(120_000, 2))
    cfg = AnalysisConfig(bin_size=0.05)
    pop = score_population(xy, planted(xy), (-1, 1, -1, 1), cfg, 0, 0)
    assert pop.is_grid.mean() == N_HEX / 8
    # the stripe's bands are fields, the place unit has one
    assert (pop.fields.n_fields >= cfg.min_fields).mean() == 7 / 8
    score_max = float(np.nanmax(pop.scores.scores))
    assert score_max > 0.8  # clean hexagonal maps score high
    # the field rule: a grid needs min_fields fields (none has 400 in a 2 m box)
    assert grid_fraction(xy, dataclasses.replace(cfg, min_fields=400)) == 0
    # a stricter threshold than any planted grid's score leaves no grid cell
    assert grid_fraction(xy, dataclasses.replace(cfg, threshold=score_max)) == 0.0


def test_quick_eval_counts_the_planted_grid_cells_along_training_batches():
    cfg = load_config("cpu")
    ev = quick_eval(PlantedNet(), cfg, step=7)
    assert ev["grid_fraction"] == N_HEX / 8
    # the rule comes from the config's analysis section: more fields than a grid has in the box
    strict = load_config("cpu", overrides=["analysis.min_fields=400"])
    assert quick_eval(PlantedNet(), strict, 7)["grid_fraction"] == 0
    # deterministic in (seed, step)
    assert quick_eval(PlantedNet(), cfg, step=7) == ev


def test_quick_eval_ignores_the_slow_step_spread():
    """Slow steps shrink the area a batch covers; the evaluation draws batches without them."""
    cfg = load_config("cpu")
    slow = load_config("cpu", overrides=["data.slow_fraction=0.6"])
    assert quick_eval(PlantedNet(), slow, step=7) == quick_eval(PlantedNet(), cfg, step=7)
