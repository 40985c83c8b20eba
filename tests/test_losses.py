import math

import pytest
import torch

from gridssl.config import LossConfig
from gridssl.losses import (
    capacity_loss,
    isometry_loss,
    pair_sums_exact,
    pair_sums_sampled,
    sic_loss,
)
from gridssl.reference import isometry_naive, pair_losses_naive

SX, SG = 0.05, 0.4


def _states(M=70, N=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    G = torch.rand(M, N, generator=gen, dtype=torch.float64)
    G = (G / G.norm(dim=-1, keepdim=True)).requires_grad_(True)
    # clustered positions so that both pair sets are populated
    X = (torch.rand(M, 2, generator=gen, dtype=torch.float64) * 0.3).round(decimals=1)
    X = X + torch.rand(M, 2, generator=gen, dtype=torch.float64) * 0.02
    return G, X


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_exact_chunked_matches_naive_values_and_grads(reduction, chunk):
    G, X = _states()
    sums = pair_sums_exact(G, X, SX, SG, chunk)
    assert sums.n_inv > 10 and sums.n_sep > 10
    sep, inv = sums.reduce(reduction)
    rsep, rinv = pair_losses_naive(G, X, SX, SG, reduction)
    assert torch.allclose(sep, rsep) and torch.allclose(inv, rinv)
    g1 = torch.autograd.grad(sep + 3 * inv, G)[0]
    g2 = torch.autograd.grad(rsep + 3 * rinv, G)[0]
    assert torch.allclose(g1, g2, atol=1e-10)
    assert sums.n_sep + sums.n_inv == 70 * 69 // 2


def test_sampled_is_unbiased_and_matches_naive_on_its_pairs():
    G, X = _states(M=40)
    exact_sep, exact_inv = pair_sums_exact(G, X, SX, SG).reduce("mean")
    gen = torch.Generator().manual_seed(0)
    draws = [pair_sums_sampled(G, X, SX, SG, 200, gen).reduce("mean") for _ in range(400)]
    seps = torch.stack([d[0] for d in draws]).detach()
    invs = torch.stack([d[1] for d in draws]).detach()
    # mean of estimates within 4 standard errors of the exact value
    assert abs(seps.mean() - exact_sep) < 4 * seps.std() / math.sqrt(len(seps)) + 1e-12
    assert abs(invs.mean() - exact_inv) < 4 * invs.std() / math.sqrt(len(invs)) + 1e-12
    # with more samples than invariance pairs, invariance is exact (values and gradients)
    s = pair_sums_sampled(G, X, SX, SG, 10_000, gen)
    _, inv = s.reduce("mean")
    assert torch.allclose(inv, exact_inv)
    ga = torch.autograd.grad(inv, G)[0]
    gb = torch.autograd.grad(pair_losses_naive(G, X, SX, SG)[1], G)[0]
    assert torch.allclose(ga, gb)


def test_capacity_sign_and_minimiser():
    same = torch.tensor([[1.0, 0.0]] * 4)
    spread = torch.tensor([[1.0, 0.0], [0.0, 1.0]] * 2)
    assert capacity_loss(same) == -1.0  # all states equal: the minimum on the unit sphere
    assert capacity_loss(spread) == pytest.approx(-0.5)
    assert capacity_loss(spread) > capacity_loss(same)


def test_separation_and_invariance_minimisers_hand_built():
    X = torch.tensor([[0.0, 0.0], [0.01, 0.0], [1.0, 0.0], [1.0, 0.01]])
    good = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # code = place
    bad = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])  # code mixes places
    sg, ig = pair_sums_exact(good, X, SX, SG).reduce("mean")
    sb, ib = pair_sums_exact(bad, X, SX, SG).reduce("mean")
    assert ig == 0 and ib > 0  # same place, same state
    assert sg == pytest.approx(math.exp(-2 / (2 * SG**2)))  # different places are orthogonal
    assert sb > sg


@pytest.mark.parametrize("form", ["variance", "scale_free"])
@pytest.mark.parametrize("max_step", [SX, 1.0])
def test_isometry_matches_naive(form, max_step):
    gen = torch.Generator().manual_seed(2)
    states = torch.rand(3, 8, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    vel = (torch.rand(3, 8, 2, generator=gen, dtype=torch.float64) - 0.5) * 0.12
    vel[0, 0] = 0.0  # zero step excluded
    g0 = torch.rand(4, generator=gen, dtype=torch.float64)
    a = isometry_loss(states, vel, g0, max_step, form)
    b = isometry_naive(states, vel, g0, max_step, form)
    assert torch.allclose(a, b)
    assert torch.allclose(torch.autograd.grad(a, states)[0], torch.autograd.grad(b, states)[0])


def test_isometry_minimiser_and_constant_code():
    vel = torch.tensor([[[0.01, 0.0], [0.02, 0.0], [0.0, 0.03]]])
    g0 = torch.zeros(2)
    iso_states = torch.tensor([[[0.01, 0.0], [0.03, 0.0], [0.03, 0.03]]]) * 10  # |dg| = 10 |v|
    assert isometry_loss(iso_states, vel, g0, SX) == pytest.approx(0.0, abs=1e-10)
    const = torch.zeros(1, 3, 2)  # a constant code satisfies the variance form
    assert isometry_loss(const, vel, g0, SX, "variance") == 0
    noisy = iso_states + torch.tensor([[[0.0, 0.0], [0.05, 0.0], [0.0, 0.0]]])
    assert isometry_loss(noisy, vel, g0, SX) > 0


def test_sic_loss_weights_combine_terms():
    gen = torch.Generator().manual_seed(0)
    states = torch.rand(4, 5, 6, generator=gen)
    states = states / states.norm(dim=-1, keepdim=True)
    vel = (torch.rand(4, 5, 2, generator=gen) - 0.5) * 0.3
    cfg = LossConfig(w_sep=1.0, w_inv=0.1, w_cap=0.5, w_iso=2.0, iso_max_step=1.0)
    t = sic_loss(states, vel.cumsum(1), vel, states[0, 0], cfg)
    expect = t.sep + 0.1 * t.inv + 0.5 * t.cap + 2.0 * t.iso
    assert torch.allclose(t.total, expect)
