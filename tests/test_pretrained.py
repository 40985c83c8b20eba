"""The shipped checkpoint does what its model card (src/gridssl/pretrained/MODEL_CARD.md) says,
measured the way the card measures it: ``gridssl.load("pretrained")``, ``model.rollout`` along
smooth walks from the origin in a 2 m arena (``gridssl.evaluate.arena_rollout``, the rollout
``gridssl analyze`` uses), the project's own grid analysis."""

import numpy as np

import gridssl
from gridssl.analysis.population import grid_population
from gridssl.data import Arena
from gridssl.evaluate import arena_rollout

# The card's claims for the 2 m arena: 5 cm bins, Sargolini min-max over Banino annuli (inner 0.2,
# outer 0.4-1.0 of the map size), 20-shuffle time-shift null; 960 walks of 100 steps (60 samples
# per bin, as `gridssl analyze` draws them), trajectory seed 0.
CLAIMED_GRID_CELLS = 43  # of 48
CLAIMED_PERIOD_M = 0.7375


def test_pretrained_rollout_gives_the_claimed_grid_cells():
    net = gridssl.load("pretrained")
    arena = Arena(2.0)
    ro = arena_rollout(net, arena, seed=0, per_bin=60)  # net.rollout along the smooth walks
    assert ro.states.shape == (960, 100, net.n_units)
    pop = grid_population(*ro.flat, arena.box, 0.05, rng=0, n_shuffles=20)
    s = pop.summary()
    assert s["grid_score"]["variant"] == "minmax"
    assert s["n_grid_cells"] == CLAIMED_GRID_CELLS
    assert s["n_modules"] == 1
    assert np.isclose(s["module_periods_m"][0], CLAIMED_PERIOD_M, atol=0.03)
