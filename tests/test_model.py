import pytest
import torch

from gridssl import kernels
from gridssl.config import ModelConfig
from gridssl.data import VelocityBatch, sic_batch
from gridssl.model import SICNet, _group_slots, norm_relu, rollout_states
from gridssl.reference import rollout_naive


def test_norm_relu_unit_norm_nonnegative_and_zero_vector():
    z = torch.randn(50, 7)
    g = norm_relu(z)
    pos = (z > 0).any(-1)
    assert (g >= 0).all()
    assert torch.allclose(g[pos].norm(dim=-1), torch.ones(int(pos.sum())))
    zero = torch.full((3,), -1.0, requires_grad=True)
    out = norm_relu(zero)
    assert torch.equal(out, torch.zeros(3))  # no positive entry -> zero state, not NaN
    out.sum().backward()
    assert torch.isfinite(zero.grad).all()


def _net64(N=12, seed=0):
    net = SICNet(ModelConfig(n_units=N, mlp_hidden=16), torch.Generator().manual_seed(seed))
    return net.double()


def _batch64(B, T, mode, seed=1):
    b = sic_batch(B, T, 0.15, mode, torch.Generator().manual_seed(seed))
    return VelocityBatch(b.velocities.double(), b.positions.double(), b.distinct.double(), b.index)


def _assert_matches_naive(net, b, ours):
    """States ``ours`` of ``net`` on batch ``b``: values and gradients (MLP weights and g0,
    through a random probe) against the autograd of the naive loop."""
    naive = rollout_naive(net, b)
    assert torch.allclose(ours, naive, rtol=0, atol=1e-12)
    probe = torch.randn(ours.shape, generator=torch.Generator().manual_seed(3), dtype=ours.dtype)
    params = list(net.parameters())
    gw = torch.autograd.grad((ours * probe).sum(), params)
    gn = torch.autograd.grad((naive * probe).sum(), params)
    assert all(torch.allclose(a, c, rtol=1e-9, atol=1e-12) for a, c in zip(gw, gn))


def test_group_slots_rank_equal_keys_in_order():
    keys = torch.tensor([[3, 1, 3, 3, 0, 1], [2, 2, 2, 2, 2, 2]])
    slot, cmax = _group_slots(keys)
    assert slot.tolist() == [[0, 0, 1, 2, 0, 1], [0, 1, 2, 3, 4, 5]]
    assert cmax.tolist() == [3, 6]


@pytest.mark.parametrize("mode", ["permutation", "independent", "identity"])
@pytest.mark.parametrize("group_factor", [0.0, 1e9])  # always gather / always grouped
def test_rollout_states_matches_plain_autograd(mode, group_factor):
    """Values and gradients (MLP weights and g0) against the autograd of the naive loop."""
    net, b = _net64(), _batch64(6, 9, mode)
    W = net.weights(b.distinct)
    ours = rollout_states(W, net.g0(), b.index, net.cfg.norm_eps, group_factor)
    _assert_matches_naive(net, b, ours)


@pytest.mark.parametrize("group_factor", [0.0, 1e9])
def test_rollout_states_gradcheck_any_index(group_factor):
    """An index with uneven reuse (not from draw_batch) and a zero ReLU row: exact gradients."""
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(4, 5, 5, generator=gen, dtype=torch.float64).requires_grad_()
    g0 = torch.rand(5, generator=gen, dtype=torch.float64).requires_grad_()
    index = torch.tensor([[0, 0, 3], [1, 0, 0], [0, 2, 0]])

    def f(W, g0):
        return rollout_states(W, g0, index, 1e-8, group_factor)

    assert torch.autograd.gradcheck(f, (W, g0))
    with torch.no_grad():  # matrices that silence every unit: zero states, not NaN
        dead = f(-W.abs() - 0.1, g0)
    assert torch.equal(dead, torch.zeros_like(dead))


fused = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed")


@fused
@pytest.mark.parametrize("mode", ["permutation", "independent", "identity"])
def test_fused_rollout_matches_plain_autograd(mode):
    """The fused CPU kernels: values and gradients against the autograd of the naive loop."""
    net, b = _net64(), _batch64(6, 9, mode)
    ours = rollout_states(net.weights(b.distinct), net.g0(), b.index, 1e-8, kernel="fused")
    _assert_matches_naive(net, b, ours)


@fused
def test_fused_rollout_gradcheck_any_index_and_silenced_units():
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(4, 5, 5, generator=gen, dtype=torch.float64).requires_grad_()
    g0 = torch.rand(5, generator=gen, dtype=torch.float64).requires_grad_()
    index = torch.tensor([[0, 0, 3], [1, 0, 0], [0, 2, 0]])

    def f(W, g0):
        return rollout_states(W, g0, index, 1e-8, kernel="fused")

    assert torch.autograd.gradcheck(f, (W, g0))
    with torch.no_grad():  # matrices that silence every unit: zero states, not NaN
        dead = f(-W.abs() - 0.1, g0)
    assert torch.equal(dead, torch.zeros_like(dead))


@fused
def test_fused_and_torch_rollouts_agree_in_float32_at_any_thread_count():
    """float32, a small-batch permutation shape: the fused kernels (float64 accumulation) and the
    torch plans agree to rounding, and the fused result does not depend on the thread count."""
    gen = torch.Generator().manual_seed(0)
    K, B, T, N = 12, 5, 12, 16
    W = (torch.randn(K, N, N, generator=gen) / N**0.5 + torch.eye(N)).requires_grad_()
    g0 = torch.rand(N, generator=gen).requires_grad_()
    index = torch.stack([torch.randperm(T, generator=gen) % K for _ in range(B)])
    probe = torch.randn(B, T, N, generator=gen)
    out = {}
    threads = torch.get_num_threads()
    try:
        for kernel, n in (("torch", 1), ("fused", 1), ("fused", 2)):
            torch.set_num_threads(n)
            s = rollout_states(W, g0, index, 1e-8, kernel=kernel)
            out[kernel, n] = (s, *torch.autograd.grad((s * probe).sum(), (W, g0)))
    finally:
        torch.set_num_threads(threads)
    for a, c in zip(out["torch", 1], out["fused", 1]):
        assert torch.allclose(a, c, rtol=1e-5, atol=1e-6)
    assert all(torch.equal(a, c) for a, c in zip(out["fused", 1], out["fused", 2]))


def test_rollout_kernel_choice():
    W, g0, index = torch.eye(3).expand(2, 3, 3), torch.ones(3) / 3**0.5, torch.zeros(2, 2).long()
    with pytest.raises(ValueError, match="choose one of"):
        rollout_states(W, g0, index, 1e-8, kernel="cuda")
    if not kernels.AVAILABLE:
        with pytest.raises(ValueError, match="needs numba"):
            rollout_states(W, g0, index, 1e-8, kernel="fused")
    auto = rollout_states(W, g0, index, 1e-8, kernel="auto")
    assert torch.allclose(auto, rollout_states(W, g0, index, 1e-8, kernel="torch"))


def test_training_rollout_matches_naive_and_eval_rollout():
    cfg = ModelConfig(n_units=12, mlp_hidden=16)
    net = SICNet(cfg, torch.Generator().manual_seed(0))
    b = sic_batch(6, 9, 0.15, "permutation", torch.Generator().manual_seed(1))
    ours = net.rollout_batch(b)
    naive = rollout_naive(net, b)
    assert ours.shape == (6, 9, 12)
    assert torch.allclose(ours, naive, atol=1e-6)
    gw = torch.autograd.grad(ours.pow(3).sum(), list(net.parameters()))
    gn = torch.autograd.grad(naive.pow(3).sum(), list(net.parameters()))
    assert all(torch.allclose(a, c, atol=1e-5) for a, c in zip(gw, gn))
    with torch.no_grad():  # the chunked evaluation rollout gives the same states
        ev = net.rollout(b.velocities, max_matrices=7)
    assert torch.allclose(ev, ours.detach(), atol=1e-5)
    assert torch.allclose(ev.norm(dim=-1), torch.ones(6, 9), atol=1e-5)


def test_identity_init_and_g0():
    net = SICNet(ModelConfig(n_units=10, mlp_hidden=8, init_scale=0.0), torch.Generator())
    W = net.weights(torch.randn(4, 2))
    assert torch.allclose(W, torch.eye(10).expand(4, 10, 10))
    assert torch.isclose(net.g0().norm(), torch.tensor(1.0)) and (net.g0() > 0).all()
    fixed = SICNet(ModelConfig(n_units=10, mlp_hidden=8, learn_g0=False), torch.Generator())
    assert "g0_raw" not in dict(fixed.named_parameters())
    a = SICNet(ModelConfig(n_units=10, mlp_hidden=8), torch.Generator().manual_seed(5))
    b = SICNet(ModelConfig(n_units=10, mlp_hidden=8), torch.Generator().manual_seed(5))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_rollout_batch_and_time_chunks_match_one_chunk():
    """SICNet.rollout with a small max_matrices (several batch chunks and time chunks) gives
    the states of one big chunk, with and without autograd."""
    from gridssl.config import ModelConfig
    from gridssl.model import SICNet

    net = SICNet(ModelConfig(n_units=8, mlp_hidden=16), torch.Generator().manual_seed(3))
    v = torch.rand(7, 9, 2, generator=torch.Generator().manual_seed(4)) * 0.3 - 0.15
    with torch.no_grad():
        whole = net.rollout(v, max_matrices=10_000)
        for m in (1, 3, 5, 13):  # rows = min(B, m) per batch chunk, m // rows steps per chunk
            assert torch.allclose(net.rollout(v, max_matrices=m), whole, atol=1e-6), m
    grad = net.rollout(v, max_matrices=4)
    assert grad.requires_grad and torch.allclose(grad.detach(), whole, atol=1e-6)
    grad.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_groups_control_keeps_each_group_to_itself():
    """model.groups = 3: W(v) is zero across groups, so a group's states never depend on another
    group's units (the ReLU sees only its own block; the shared norm only rescales)."""
    cfg = ModelConfig(n_units=12, mlp_hidden=16, groups=3)
    net = SICNet(cfg, torch.Generator().manual_seed(0))
    W = net.weights(torch.randn(5, 2))
    off = torch.ones(12, 12, dtype=torch.bool)
    for k in range(3):
        off[4 * k : 4 * k + 4, 4 * k : 4 * k + 4] = False
    assert (W[:, off] == 0).all() and (W[:, ~off] != 0).all()
    assert "block" not in net.state_dict()  # derived from the config, not saved
    b = sic_batch(4, 6, 0.15, "permutation", torch.Generator().manual_seed(1))
    states = net.rollout_batch(b)
    # a group's direction is unchanged when another group's g0 entries change
    g0 = net.g0().detach().clone()
    g0b = g0.clone()
    g0b[4:8] *= 3.0
    with torch.no_grad():
        a = net.rollout(b.velocities, g0=g0 / g0.norm())
        c = net.rollout(b.velocities, g0=g0b / g0b.norm())
    for k in (0, 2):
        sl = slice(4 * k, 4 * k + 4)
        ua = a[..., sl] / a[..., sl].norm(dim=-1, keepdim=True)
        uc = c[..., sl] / c[..., sl].norm(dim=-1, keepdim=True)
        assert torch.allclose(ua, uc, atol=1e-5)
    assert torch.allclose(states, rollout_naive(net, b), atol=1e-6)
    grad = torch.autograd.grad(states.pow(3).sum(), net.mlp[-1].weight)[0].view(12, 12, -1)
    assert (grad[off] == 0).all()  # off-block outputs of the MLP get no gradient
