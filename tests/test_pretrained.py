"""The shipped checkpoint does what its model card (src/gridssl/pretrained/MODEL_CARD.md) says,
measured the way the card measures it: ``gridssl.load("pretrained")``, ``model.rollout`` along
smooth walks from the origin in a 2 m arena (``gridssl.evaluate.arena_rollout``, the rollout
``gridssl analyze`` uses), the project's own grid analysis."""

import numpy as np
import pytest

import gridssl
from gridssl.analysis.population import grid_population
from gridssl.data import Arena
from gridssl.evaluate import arena_rollout

# The card's claims for the 2 m arena: 5 cm bins, Sargolini min-max over Banino annuli (inner 0.2,
# outer 0.4-1.0 of the map size), 20-shuffle time-shift null; 960 walks of 100 steps (60 samples
# per bin, as `gridssl analyze` draws them), trajectory seed 0.
CLAIMED_GRID_CELLS = 43  # of 48
CLAIMED_PERIOD_M = 0.7153


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


# ------------------------------------------------------------------------ the card's other claims
# One rollout and analysis (as above) shared by the tests below.


@pytest.fixture(scope="module")
def card():
    net = gridssl.load("pretrained")
    arena = Arena(2.0)
    ro = arena_rollout(net, arena, seed=0, per_bin=60)
    pop = grid_population(*ro.flat, arena.box, 0.05, rng=0, n_shuffles=20)
    return ro, pop, pop.summary()


def test_card_median_score_and_bnt_fraction(card):
    """Median min-max score 1.48: a median of 48 scores far above the 0.3 threshold, so not
    threshold-sensitive; the 5% tolerance covers float16 weights and BLAS rounding, and is far
    tighter than what separates grid codes (> 1) from noise (< 0.35). BNT fraction 90%: a count
    over a threshold, so allow +-3 units of 48 (6%) rather than an exact count."""
    _, _, s = card
    assert s["score_median"] == pytest.approx(1.48, rel=0.05)
    assert abs(s["bnt_fraction"] - 0.896) <= 3 / 48 + 1e-9


def test_card_orientation(card):
    """Module orientation 42.4 deg, spread 0.07 deg: the SAC peak angles of 43 units agree to
    0.1 deg, so +-1 deg (ten spreads, a fifth of a 5 cm bin's angle at the 0.72 m period)
    catches any rotation of the lattice without depending on rounding."""
    _, _, s = card
    assert len(s["module_orientations_deg"]) == 1
    assert s["module_orientations_deg"][0] == pytest.approx(42.4, abs=1.0)
    assert s["module_orientation_spread_deg"][0] < 1.0


@pytest.mark.slow
def test_card_torus(card):
    """Betti numbers (1, 2, 1) of the module, with the analysis's settings (800 landmarks)."""
    from gridssl.analysis.topology import population_topology

    ro, pop, _ = card
    labels = pop.modules.labels
    units = np.flatnonzero(labels == np.bincount(labels[labels >= 0]).argmax())
    act = ro.flat[1]
    topo = population_topology(act[:, units], n_points=800, rng=0)
    assert topo.betti == (1, 2, 1)
