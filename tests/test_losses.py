import math

import pytest
import torch

from gridssl import kernels
from gridssl.config import LossConfig
from gridssl.losses import (
    capacity_loss,
    code_health,
    isometry_loss,
    listed_pair_sum,
    near_pairs,
    pair_sums_exact,
    pair_sums_sampled,
    sic_loss,
)
from gridssl.reference import isometry_naive, pair_losses_dense, pair_losses_naive

SX, SG = 0.05, 0.4
# loss.pair_kernel: every listed-pair test runs on both implementations
PAIR_KERNELS = [
    "torch",
    pytest.param("fused", marks=pytest.mark.skipif(not kernels.AVAILABLE, reason="no numba")),
]


def _states(M=70, N=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    G = torch.rand(M, N, generator=gen, dtype=torch.float64)
    G = (G / G.norm(dim=-1, keepdim=True)).requires_grad_(True)
    # clustered positions so that both pair sets are populated
    X = (torch.rand(M, 2, generator=gen, dtype=torch.float64) * 0.3).round(decimals=1)
    X = X + torch.rand(M, 2, generator=gen, dtype=torch.float64) * 0.02
    return G, X


def _grads(sep, inv, G):
    return torch.autograd.grad(sep + 3 * inv, G, retain_graph=True)[0]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize(
    "M, chunk",
    [(70, 1), (70, 7), (70, 1000), (203, 64), (203, 203), (257, 32)],  # tiles; M % chunk != 0
)
@pytest.mark.parametrize("kernel", PAIR_KERNELS)
@pytest.mark.parametrize("tiles", ["masked", "whole"])
def test_exact_matches_naive_values_and_grads(reduction, M, chunk, kernel, tiles):
    G, X = _states(M=M)
    sums = pair_sums_exact(G, X, SX, SG, chunk, kernel=kernel, tiles=tiles)
    assert sums.n_inv > 10 and sums.n_sep > 10
    sep, inv = sums.reduce(reduction)
    rsep, rinv = pair_losses_naive(G, X, SX, SG, reduction)
    assert torch.allclose(sep, rsep, rtol=1e-12) and torch.allclose(inv, rinv, rtol=1e-12)
    assert torch.allclose(_grads(sep, inv, G), _grads(rsep, rinv, G), rtol=1e-10, atol=1e-13)
    assert sums.n_sep + sums.n_inv == M * (M - 1) // 2


@pytest.mark.parametrize("kernel", PAIR_KERNELS)
@pytest.mark.parametrize("tiles", ["masked", "whole"])
def test_exact_separation_and_invariance_gradients_separately(kernel, tiles):
    """Each term's gradient on its own (a swapped or shared gradient would pass the sum)."""
    G, X = _states(M=90)
    sums = pair_sums_exact(G, X, SX, SG, 16, kernel=kernel, tiles=tiles)
    rsep, rinv = pair_losses_naive(G, X, SX, SG, "sum")
    for ours, ref in ((sums.sep, rsep), (sums.inv, rinv)):
        a = torch.autograd.grad(ours, G, retain_graph=True)[0]
        b = torch.autograd.grad(ref, G, retain_graph=True)[0]
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kernel", PAIR_KERNELS)
@pytest.mark.parametrize("tiles", ["masked", "whole"])
@pytest.mark.parametrize("which", ["no_near", "no_far"])
def test_exact_empty_pair_sets(which, kernel, tiles):
    gen = torch.Generator().manual_seed(4)
    G = torch.rand(40, 6, generator=gen, dtype=torch.float64).requires_grad_()
    if which == "no_near":  # a lattice wider than sigma_x: every pair is far
        X = torch.stack(torch.meshgrid(torch.arange(8.0), torch.arange(5.0), indexing="ij"), -1)
        X = X.reshape(-1, 2).double() * 3 * SX
    else:  # all at one place: every pair is near
        X = torch.zeros(40, 2, dtype=torch.float64)
    sums = pair_sums_exact(G, X, SX, SG, 16, kernel=kernel, tiles=tiles)
    assert (sums.n_inv == 0) == (which == "no_near") and (sums.n_sep == 0) == (which == "no_far")
    rsep, rinv = pair_losses_naive(G, X, SX, SG, "sum")
    assert torch.allclose(sums.sep, rsep) and torch.allclose(sums.inv, rinv)
    assert torch.allclose(_grads(sums.sep, sums.inv, G), _grads(rsep, rinv, G), atol=1e-13)
    sep, inv = sums.reduce("mean")  # an empty set's mean is 0, with zero gradient
    empty = inv if which == "no_near" else sep
    assert empty == 0 and not torch.autograd.grad(empty, G)[0].any()


@pytest.mark.parametrize("kernel", PAIR_KERNELS)
def test_pairs_at_exactly_sigma_x_are_in_neither_set(kernel):
    X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [5.0, 5.0], [5.5, 5.0]])
    G = torch.eye(5, dtype=torch.float64)[:, :4].requires_grad_()
    near, edge = near_pairs(X, 1.0, kernel)
    assert near.tolist() == [[3, 4]] and sorted(edge.tolist()) == [[0, 1], [1, 2]]
    sums = pair_sums_exact(G, X, 1.0, SG, 2, kernel=kernel)
    assert (sums.n_inv, sums.n_sep) == (1, 10 - 1 - 2)
    rsep, rinv = pair_losses_naive(G, X, 1.0, SG, "sum")
    assert torch.allclose(sums.sep, rsep) and torch.allclose(sums.inv, rinv)


@pytest.mark.parametrize("kernel", PAIR_KERNELS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_near_pairs_match_brute_force(seed, kernel):
    gen = torch.Generator().manual_seed(seed)
    X = (torch.rand(400, 2, generator=gen) - 0.5) * torch.tensor([0.6, 3.0])  # negative coords
    X[:50] = X[:50].round(decimals=1)  # exact repeats
    near, edge = near_pairs(X, SX, kernel)
    i, j = torch.triu_indices(400, 400, 1)
    d2 = ((X[i] - X[j]) ** 2).sum(-1)
    assert torch.equal(near, torch.stack([i, j], 1)[d2 < SX**2])  # lexicographic order
    assert edge.shape[0] == int((d2 == SX**2).sum())


@pytest.mark.skipif(not kernels.AVAILABLE, reason="no numba")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_near_pairs_are_the_torch_lists(dtype):
    """Training batches (every trajectory from the origin: exact repeats) and a lattice with
    pairs at exactly sigma_x: the fused search returns the torch search's lists, not only the
    same set (the invariance sum and the separation's skipped pairs follow their order)."""
    from gridssl.config import DataConfig
    from gridssl.data import draw_batch

    b = draw_batch(DataConfig(), 0, torch.Generator().manual_seed(0))
    lattice = torch.randint(-10, 10, (600, 2), generator=torch.Generator().manual_seed(1)) * 0.5
    for X, sx in ((b.positions.reshape(-1, 2), SX), (lattice, 1.0), (lattice, 0.5)):
        X = X.to(dtype)
        near, edge = near_pairs(X, sx, "torch")
        fnear, fedge = near_pairs(X, sx, "fused")
        assert near.shape[0] > 0 and torch.equal(near, fnear)
        assert sorted(edge.tolist()) == fedge.tolist()
    assert edge.shape[0] > 0  # the lattice has pairs at exactly sigma_x


@pytest.mark.skipif(not kernels.AVAILABLE, reason="no numba")
def test_fused_invariance_sum_matches_torch_in_float32():
    """At float32 (training), the fused pair sum and its gradient agree with the torch blocks'
    to float32 rounding."""
    from gridssl.config import DataConfig
    from gridssl.data import draw_batch

    b = draw_batch(DataConfig(), 0, torch.Generator().manual_seed(2))
    X = b.positions.reshape(-1, 2)
    G = torch.rand(X.shape[0], 16, generator=torch.Generator().manual_seed(3))
    G = (G / G.norm(dim=-1, keepdim=True)).requires_grad_(True)
    near, _ = near_pairs(X, SX)
    ref = listed_pair_sum(G, near)
    ours = listed_pair_sum(G, near, kernel="fused")
    assert near.shape[0] > 1000 and ours.dtype == torch.float32
    assert float(ours) == pytest.approx(float(ref), rel=1e-5)
    a, r = (torch.autograd.grad(v, G)[0] for v in (ours, ref))
    assert float((a - r).norm() / r.norm()) < 1e-5


def test_pair_kernel_choices_are_checked():
    G, X = _states(M=10)
    with pytest.raises(ValueError, match="pair kernel 'numba'"):
        pair_sums_exact(G, X, SX, SG, kernel="numba")
    with pytest.raises(ValueError, match="pair tiles 'half'"):
        pair_sums_exact(G, X, SX, SG, tiles="half")


@pytest.mark.parametrize("chunk", [1, 7, 32, 2048])
def test_whole_tiles_octave_weights_and_no_grad_sum(chunk):
    """Whole diagonal blocks: the octave weights' total and the sum without a gradient count
    each pair once, as the masked tiles do."""
    G, X = _states(M=120)
    ref = pair_sums_exact(G.detach(), X, SX, SG, chunk, "octave")
    got = pair_sums_exact(G.detach(), X, SX, SG, chunk, "octave", tiles="whole")
    assert got.w_sep == pytest.approx(ref.w_sep, rel=1e-12)
    assert float(got.sep) == pytest.approx(float(ref.sep), rel=1e-12)
    with_grad = pair_sums_exact(G, X, SX, SG, chunk, "octave", tiles="whole")
    assert float(with_grad.sep) == pytest.approx(float(ref.sep), rel=1e-12)


def test_dense_reference_matches_naive():
    G, X = _states(M=60)
    for reduction in ("mean", "sum"):
        a = pair_losses_dense(G, X, SX, SG, reduction)
        b = pair_losses_naive(G, X, SX, SG, reduction)
        assert all(torch.allclose(x, y) for x, y in zip(a, b))
        assert torch.allclose(_grads(*a, G), _grads(*b, G), atol=1e-12)


def _replay_sampled(G, X, n_samples, seed):
    """The sampled estimate recomputed from its own draws with the naive pair formulas."""
    gen = torch.Generator().manual_seed(seed)
    M = G.shape[0]
    i = torch.randint(0, M, (n_samples,), generator=gen)
    j = (i + 1 + torch.randint(0, M - 1, (n_samples,), generator=gen)) % M
    dg2 = ((G[i] - G[j]) ** 2).sum(-1)
    far = ((X[i] - X[j]) ** 2).sum(-1).sqrt() > SX
    sep = M * (M - 1) / 2 * (torch.exp(-dg2 / (2 * SG**2)) * far).mean()
    dx = ((X[:, None] - X[None]) ** 2).sum(-1).sqrt()
    a, b = torch.nonzero(torch.triu(dx < SX, diagonal=1), as_tuple=True)  # lexicographic
    n_inv = a.shape[0]
    if n_inv > n_samples:
        pick = torch.randint(0, n_inv, (n_samples,), generator=gen)
        a, b = a[pick], b[pick]
    inv = n_inv * ((G[a] - G[b]) ** 2).sum(-1).mean()
    return sep, inv


@pytest.mark.parametrize("n_samples", [300, 50])  # 50 < n_inv: the invariance set is subsampled
def test_sampled_values_and_grads_equal_replay_of_its_draws(n_samples):
    G, X = _states(M=70)
    s = pair_sums_sampled(G, X, SX, SG, n_samples, torch.Generator().manual_seed(7))
    assert (s.n_inv > n_samples) == (n_samples == 50)
    rsep, rinv = _replay_sampled(G, X, n_samples, 7)
    assert torch.allclose(s.sep, rsep, rtol=1e-12) and torch.allclose(s.inv, rinv, rtol=1e-12)
    for ours, ref in ((s.sep, rsep), (s.inv, rinv)):
        a = torch.autograd.grad(ours, G, retain_graph=True)[0]
        b = torch.autograd.grad(ref, G, retain_graph=True)[0]
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("n_samples", [200, 50])  # 50 < n_inv = 194: invariance subsampled
def test_sampled_is_unbiased_in_value_and_gradient(n_samples):
    """Over 400 draws, the mean estimate of each term (both reductions) and of each of its M N
    gradient entries lies within a few standard errors of the exact value."""
    G, X = _states(M=70)
    sums = pair_sums_exact(G, X, SX, SG)
    gen = torch.Generator().manual_seed(0)
    draws = [pair_sums_sampled(G, X, SX, SG, n_samples, gen) for _ in range(400)]
    for reduction in ("mean", "sum"):
        exact = sums.reduce(reduction)
        for k in range(2):  # separation, invariance
            ests = [d.reduce(reduction)[k] for d in draws]
            v = torch.stack(ests).detach()  # (draws,)
            g = torch.stack([torch.autograd.grad(e, G, retain_graph=True)[0] for e in ests])
            g_exact = torch.autograd.grad(exact[k], G, retain_graph=True)[0]
            n = len(v)
            if k == 1 and n_samples >= sums.n_inv:  # every invariance pair is used: exact
                assert torch.allclose(v, exact[1].detach().expand(n), rtol=1e-12)
                assert torch.allclose(g, g_exact.expand_as(g), rtol=1e-10, atol=1e-13)
                continue
            assert v.std() > 1e-3 * v.mean().abs()  # a real estimate, not the exact value
            assert abs(v.mean() - exact[k]) < 4 * v.std() / math.sqrt(n)
            se = g.std(0) / math.sqrt(n)
            z = (g.mean(0) - g_exact).abs() / se.clamp_min(1e-15)
            assert float(z.max()) < 5.5  # every one of the M N gradient entries
            assert torch.allclose(g.mean(0), g_exact, atol=5.5 * float(se.max()))


def test_sic_loss_sampled_pairs():
    gen = torch.Generator().manual_seed(0)
    vel = (torch.rand(6, 12, 2, generator=gen, dtype=torch.float64) - 0.5) * 0.1
    states = torch.rand(6, 12, 5, generator=gen, dtype=torch.float64).requires_grad_()
    cfg = LossConfig(pairs="sampled", pair_samples=100, w_inv=0.7, iso_max_step=1.0)
    t = sic_loss(
        states, vel.cumsum(1), vel, states[0, 0].detach(), cfg, torch.Generator().manual_seed(3)
    )
    G, X = states.reshape(-1, 5), vel.cumsum(1).reshape(-1, 2)
    gen = torch.Generator().manual_seed(3)  # the same draws, the config's pair kernel
    sums = pair_sums_sampled(G, X, SX, SG, 100, gen, kernel=cfg.pair_kernel)
    sep, inv = sums.reduce("mean")
    assert torch.equal(t.sep, sep) and torch.equal(t.inv, inv) and t.inv > 0
    exact = sic_loss(
        states, vel.cumsum(1), vel, states[0, 0].detach(), LossConfig(iso_max_step=1.0)
    )
    assert not torch.equal(t.sep, exact.sep)  # the sampled path, not the exact one
    g = torch.autograd.grad(t.total, states, retain_graph=True)[0]
    parts = t.sep + 0.7 * t.inv + 0.5 * t.cap + t.iso
    assert torch.allclose(g, torch.autograd.grad(parts, states)[0])


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


def test_sic_loss_pair_stride_keeps_every_kth_state_for_the_pairs_only():
    """Stride k: separation and invariance equal those of the states t = T-1, T-1-k, ... alone
    (the last state of each trajectory, where permutations meet, always among them); capacity
    and isometry still see every state; gradients reach only the kept states through the pairs."""
    gen = torch.Generator().manual_seed(1)
    B, T, N = 5, 10, 6
    vel = (torch.rand(B, T, 2, generator=gen, dtype=torch.float64) - 0.5) * 0.12
    pos = vel.cumsum(1)
    states = torch.rand(B, T, N, generator=gen, dtype=torch.float64)
    states = (states / states.norm(dim=-1, keepdim=True)).requires_grad_(True)
    cfg = LossConfig(iso_max_step=1.0)
    full = sic_loss(states, pos, vel, states[0, 0], cfg)
    one = sic_loss(states, pos, vel, states[0, 0], cfg, pair_stride=1)
    assert all(torch.equal(getattr(full, k), getattr(one, k)) for k in ("sep", "inv", "cap", "iso"))
    s3 = sic_loss(states, pos, vel, states[0, 0], cfg, pair_stride=3)
    kept = [0, 3, 6, 9]  # T - 1 = 9, 6, 3, 0
    ref = pair_sums_exact(
        states[:, kept].reshape(-1, N), pos[:, kept].reshape(-1, 2), SX, SG, cfg.chunk_size
    ).reduce("mean")
    assert torch.allclose(s3.sep, ref[0], rtol=1e-12) and torch.allclose(s3.inv, ref[1], rtol=1e-12)
    assert not torch.allclose(s3.sep, full.sep)
    assert torch.equal(s3.cap, full.cap) and torch.equal(s3.iso, full.iso)
    g = torch.autograd.grad(s3.sep + s3.inv, states)[0]
    dropped = [t for t in range(T) if t not in kept]
    assert g[:, dropped].abs().max() == 0 and g[:, kept].abs().max() > 0
    s4 = sic_loss(states, pos, vel, states[0, 0], cfg, pair_stride=4)  # 9, 5, 1
    ref4 = pair_sums_exact(
        states[:, [1, 5, 9]].reshape(-1, N), pos[:, [1, 5, 9]].reshape(-1, 2), SX, SG
    ).reduce("mean")
    assert torch.allclose(s4.sep, ref4[0], rtol=1e-12)


def test_code_health_far_pairs_on_planted_states():
    """Two places 1 m apart, each with its own one-hot state: far pairs are exactly the cross
    pairs (distance sqrt 2, cosine 0); near pairs (same place, same state) do not count."""
    B, T, N = 4, 6, 3
    pos = torch.zeros(B, T, 2)
    pos[:, T // 2 :, 0] = 1.0
    states = torch.zeros(B, T, N)
    states[:, : T // 2, 0] = 1.0
    states[:, T // 2 :, 1] = 1.0
    h = code_health(states, pos, far_m=0.3)
    assert h["far_dist"] == pytest.approx(2**0.5)
    assert h["far_cos"] == pytest.approx(0.0)
    assert h["dead_units"] == 1
    states[:, T // 2 :, 0] = 1.0  # the far place now shares unit 0: cosine rises
    states = states / states.norm(dim=-1, keepdim=True)
    h = code_health(states, pos, far_m=0.3)
    assert h["far_cos"] == pytest.approx(2**-0.5)
    assert "far_dist" not in code_health(states, pos, far_m=5.0)  # no pair that far apart


SXO = 0.25  # exact in binary: lattice pairs lie at exactly sigma_x


def _octave_states(M=200, N=6, seed=0):
    """Unit states at positions in [0, 2]^2: a quarter on a lattice of spacing SXO (repeats, so
    near pairs at distance 0, and edge pairs at exactly SXO), the rest uniform (near and far
    pairs at every distance up to 2.8, weights (SXO / dx)^2 down to 0.008). The states follow
    the positions, so that the kernel falls with distance and the weighting matters."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.rand(M, 2, generator=gen, dtype=torch.float64) * 2
    X[: M // 4] = torch.randint(0, 9, (M // 4, 2), generator=gen).double() * SXO
    G = torch.rand(M, N, generator=gen, dtype=torch.float64)
    G[:, :2] += X
    G = (G / G.norm(dim=-1, keepdim=True)).requires_grad_(True)
    return G, X


@pytest.mark.parametrize("weighting", ["octave", "inverse"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("M, chunk", [(200, 64), (200, 200), (203, 1), (203, 17)])
def test_weighted_exact_matches_dense_values_and_grads(weighting, reduction, M, chunk):
    G, X = _octave_states(M=M)
    near, edge = near_pairs(X, SXO)
    assert near.shape[0] > 10 and edge.shape[0] > 10
    sums = pair_sums_exact(G, X, SXO, SG, chunk, weighting)
    assert sums.n_sep > 10 and 0 < sums.w_sep < sums.n_sep
    sep, inv = sums.reduce(reduction)
    rsep, rinv = pair_losses_dense(G, X, SXO, SG, reduction, weighting)
    usep = pair_losses_dense(G, X, SXO, SG, reduction)[0]
    assert not torch.allclose(rsep, usep, rtol=1e-2)  # the weights matter here
    assert torch.allclose(sep, rsep, rtol=1e-12) and torch.allclose(inv, rinv, rtol=1e-12)
    assert torch.allclose(_grads(sep, inv, G), _grads(rsep, rinv, G), rtol=1e-10, atol=1e-13)
    a = torch.autograd.grad(sep, G, retain_graph=True)[0]  # separation on its own
    b = torch.autograd.grad(rsep, G, retain_graph=True)[0]
    assert torch.allclose(a, b, rtol=1e-10, atol=1e-13)
    with torch.no_grad():  # the no-grad path sums the tiles directly
        plain = pair_sums_exact(G.detach(), X, SXO, SG, chunk, weighting)
    assert torch.allclose(plain.sep, sums.sep, rtol=1e-12) and plain.w_sep == sums.w_sep


def test_inverse_weighting_lies_between_uniform_and_octave():
    """Per pair, inverse weights are the geometric mean of the uniform and octave weights, so
    the weighted total lies between theirs; the weighted mean of a kernel that falls with
    distance rises from uniform to octave (near pairs weigh more), inverse in between."""
    G, X = _octave_states(M=200)
    s = {w: pair_sums_exact(G, X, SXO, SG, 64, w) for w in ("uniform", "inverse", "octave")}
    assert s["octave"].w_sep < s["inverse"].w_sep < s["uniform"].w_sep
    mean = {w: float(v.reduce("mean")[0]) for w, v in s.items()}
    assert mean["uniform"] < mean["inverse"] < mean["octave"]
    with pytest.raises(ValueError, match="separation weighting 'log'"):
        pair_sums_exact(G, X, SXO, SG, 64, "log")
    with pytest.raises(ValueError, match="separation weighting 'log'"):
        pair_sums_sampled(G, X, SXO, SG, 10, torch.Generator().manual_seed(0), "log")


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_uniform_weighting_is_the_unweighted_path(reduction):
    G, X = _octave_states(M=150)
    ref = pair_sums_exact(G, X, SXO, SG, 32)
    sums = pair_sums_exact(G, X, SXO, SG, 32, "uniform")
    assert sums.w_sep == float(sums.n_sep) == ref.w_sep
    sep, inv = sums.reduce(reduction)
    assert all(torch.equal(x, y) for x, y in zip((sep, inv), ref.reduce(reduction)))
    rsep, rinv = pair_losses_dense(G, X, SXO, SG, reduction, "uniform")
    assert torch.allclose(sep, rsep, rtol=1e-12) and torch.allclose(inv, rinv, rtol=1e-12)
    assert torch.allclose(_grads(sep, inv, G), _grads(rsep, rinv, G), rtol=1e-10, atol=1e-13)


def test_octave_weights_hand_computed():
    """Points 0, 1 and 3 share a state (kernel 1), point 2 is orthogonal (kernel e); pair (0, 3)
    lies at exactly sigma_x = 1 (in no set). Far pairs and their weights (1 / dx)^2:
    (0, 1) dx 2: 1/4, k 1; (0, 2) dx 4: 1/16, k e; (1, 2) dx sqrt 20: 1/20, k e;
    (1, 3) dx sqrt 5: 1/5, k 1; (2, 3) dx 3: 1/9, k e."""
    X = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [0.0, 1.0]], dtype=torch.float64)
    G = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    e = math.exp(-1 / SG**2)  # dg2 = 2 between orthogonal unit states
    w_one, w_e = 1 / 4 + 1 / 5, 1 / 16 + 1 / 20 + 1 / 9
    uniform = (2 + 3 * e) / 5
    octave = (w_one + e * w_e) / (w_one + w_e)
    assert octave - uniform == pytest.approx((1 - e) * (w_one / (w_one + w_e) - 2 / 5))
    for chunk in (1, 3, 4):
        sums = pair_sums_exact(G, X, 1.0, SG, chunk, "octave")
        assert sums.n_sep == 5 and sums.w_sep == pytest.approx(w_one + w_e, rel=1e-14)
        assert float(sums.reduce("mean")[0]) == pytest.approx(octave, rel=1e-14)
        assert float(sums.reduce("sum")[0]) == pytest.approx(w_one + e * w_e, rel=1e-14)
        assert float(pair_sums_exact(G, X, 1.0, SG, chunk).reduce("mean")[0]) == pytest.approx(
            uniform, rel=1e-14
        )
    for reduction, want in (("mean", octave), ("sum", w_one + e * w_e)):
        got = pair_losses_dense(G, X, 1.0, SG, reduction, "octave")[0]
        assert float(got) == pytest.approx(want, rel=1e-14)
    # inverse: the weights 1 / dx of the same pairs
    w_one, w_e = 1 / 2 + 1 / math.sqrt(5), 1 / 4 + 1 / math.sqrt(20) + 1 / 3
    for chunk in (1, 3, 4):
        sums = pair_sums_exact(G, X, 1.0, SG, chunk, "inverse")
        assert sums.w_sep == pytest.approx(w_one + w_e, rel=1e-14)
        want = (w_one + e * w_e) / (w_one + w_e)
        assert float(sums.reduce("mean")[0]) == pytest.approx(want, rel=1e-14)
        assert float(sums.reduce("sum")[0]) == pytest.approx(w_one + e * w_e, rel=1e-14)


@pytest.mark.parametrize("kernel", PAIR_KERNELS)
def test_weighted_listed_pair_sum_values_and_grads(kernel):
    G, _ = _states(M=30)
    gen = torch.Generator().manual_seed(5)
    pairs = torch.randint(0, 30, (80, 2), generator=gen)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    w = torch.rand(pairs.shape[0], generator=gen, dtype=torch.float64)
    dg2 = ((G[pairs[:, 0]] - G[pairs[:, 1]]) ** 2).sum(-1)
    for scale in (None, -1.0 / (2 * SG**2)):
        ours = listed_pair_sum(G, pairs, scale, block=7, weights=w, kernel=kernel)
        ref = (w * (dg2 if scale is None else torch.exp(scale * dg2))).sum()
        assert torch.allclose(ours, ref, rtol=1e-12)
        a = torch.autograd.grad(ours, G, retain_graph=True)[0]
        b = torch.autograd.grad(ref, G, retain_graph=True)[0]
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("weighting, power", [("octave", 2), ("inverse", 1)])
def test_weighted_sampled_equals_replay_of_its_draws(weighting, power):
    G, X = _states(M=70)
    s = pair_sums_sampled(G, X, SX, SG, 300, torch.Generator().manual_seed(7), weighting)
    gen = torch.Generator().manual_seed(7)
    i = torch.randint(0, 70, (300,), generator=gen)
    j = (i + 1 + torch.randint(0, 69, (300,), generator=gen)) % 70
    dx2 = ((X[i] - X[j]) ** 2).sum(-1)
    far = dx2 > SX**2
    w = torch.where(far, (SX / dx2.sqrt()) ** power, 0.0)
    k = torch.exp(-((G[i] - G[j]) ** 2).sum(-1) / (2 * SG**2))
    n_pairs = 70 * 69 / 2
    rsep = n_pairs * (w * k).mean()
    assert s.w_sep == pytest.approx(n_pairs * float(w.mean()), rel=1e-12)
    assert torch.allclose(s.sep, rsep, rtol=1e-12)
    a = torch.autograd.grad(s.sep, G, retain_graph=True)[0]
    b = torch.autograd.grad(rsep, G, retain_graph=True)[0]
    assert torch.allclose(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("weighting", ["octave", "inverse"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_weighted_sampled_is_close_to_exact_with_many_draws(weighting, reduction):
    G, X = _states(M=100)
    exact = pair_sums_exact(G, X, SX, SG, 32, weighting).reduce(reduction)[0]
    gen = torch.Generator().manual_seed(11)
    est = pair_sums_sampled(G, X, SX, SG, 200_000, gen, weighting).reduce(reduction)[0]
    assert abs(float(est.detach()) / float(exact.detach()) - 1) < 0.03


def test_sic_loss_passes_the_weighting():
    gen = torch.Generator().manual_seed(0)
    vel = (torch.rand(6, 12, 2, generator=gen, dtype=torch.float64) - 0.5) * 0.1
    states = torch.rand(6, 12, 5, generator=gen, dtype=torch.float64)
    G, X = states.reshape(-1, 5), vel.cumsum(1).reshape(-1, 2)
    cfg = LossConfig(sep_weighting="octave", iso_max_step=1.0)
    t = sic_loss(states, vel.cumsum(1), vel, states[0, 0], cfg)
    assert torch.equal(t.sep, pair_sums_exact(G, X, SX, SG, 2048, "octave").reduce("mean")[0])
    cfg = LossConfig(sep_weighting="octave", pairs="sampled", pair_samples=100)
    t = sic_loss(states, vel.cumsum(1), vel, states[0, 0], cfg, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    s = pair_sums_sampled(G, X, SX, SG, 100, gen, "octave", cfg.pair_kernel)
    assert torch.equal(t.sep, s.reduce("mean")[0])
