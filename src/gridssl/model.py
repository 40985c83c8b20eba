"""The velocity-conditioned Norm-ReLU RNN of SIC (docs/METHOD.md section 3).

    g_t = Norm(ReLU(W(v_t) g_{t-1})),   W(v) = MLP(v) reshaped to N x N,   Norm(z) = z / |z|

Every state is non-negative with unit norm. No input, bias or leak in the update, no readout.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import kernels
from .config import ModelConfig
from .data import VelocityBatch

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}


def norm_relu(z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """ReLU then divide by the L2 norm over the last axis, floored at ``eps``.

    A vector with no positive entry maps to the zero vector (not NaN), with finite gradients; a zero
    state then stays zero, which the dead-unit and collapse metrics of training report.
    """
    r = torch.relu(z)
    return r / r.norm(dim=-1, keepdim=True).clamp_min(eps)


def _group_slots(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each entry's rank among the equal entries of its row, for keys (R, L) (long).

    -> slot (R, L) and cmax (R,) = 1 + the largest slot of each row. An entry with key k then has
    row k * cmax + slot of a padded (K * cmax, .) block holding each key's entries together.
    """
    sk, perm = keys.contiguous().sort(dim=-1, stable=True)
    first = torch.searchsorted(sk, sk)  # (R, L): position of the first equal key
    rank = torch.arange(keys.shape[-1], device=keys.device).expand_as(sk) - first
    slot = torch.empty_like(keys).scatter_(-1, perm, rank)
    return slot, slot.amax(-1) + 1


class _MatVecPlan:
    """W[index[:, t]] @ g_b for every step t of a batch, without a (B, N, N) gather where possible.

    grouped: the B rows of step t go into a padded (K, cmax_t, N) block by velocity index and meet
    all K matrices in one batched GEMM, so W (K, N, N) is read once per step instead of copied
    per trajectory. Used when K * cmax_t <= ``group_factor`` * B at every step (a permutation
    batch with B >= about T: the paper, cpu and modules shapes). Otherwise gather W[index[:, t]]
    (B, N, N) and batch-multiply row vectors (small permutation batches such as the campaign
    shape B 32, T 60; independent batches: K = B * T). At the paper shape the grouped plan is also
    the more exact of the two against the naive reference (gradient 3e-6 against 1.2e-5,
    benchmarks/step_equivalence.py), so the default factor 6 keeps it there.
    """

    def __init__(self, index: torch.Tensor, K: int, N: int, group_factor: float):
        self.index, self.K, self.N = index, K, N
        self.steps = index.T.contiguous()  # (T, B): each step's matrix indices, contiguous
        slot, cmax = _group_slots(self.steps)  # (T, B), (T,)
        self.cmax = cmax.tolist()
        self.grouped = K * max(self.cmax) <= group_factor * index.shape[0]
        self.rows = self.steps * cmax[:, None] + slot  # (T, B): row of trajectory b in its block
        self._buf: torch.Tensor | None = None

    def matvec(self, W: torch.Tensor, t: int, g: torch.Tensor, transpose: bool = False):
        """Per row b: W[index[b, t]] @ g[b], or its transpose times g[b]. (B, N) -> (B, N)."""
        if not self.grouped:
            # index_select (not W[idx]) and row vectors g^T W^T (not W g): the two fast kernels
            # of a gathered batched mat-vec on CPU (10x the W[idx] / column-vector pair at B 32)
            if self._buf is None:
                self._buf = W.new_empty(self.steps.shape[1], self.N, self.N)
            Wt = torch.index_select(W, 0, self.steps[t], out=self._buf)  # (B, N, N)
            return torch.bmm(g.unsqueeze(1), Wt if transpose else Wt.transpose(1, 2)).squeeze(1)
        if self._buf is None:  # reused across steps; stale rows are never read back
            self._buf = W.new_zeros(2, self.K * max(self.cmax) * self.N)
        c, rows = self.cmax[t], self.rows[t]
        n = self.K * c * self.N
        block = self._buf[0, :n].view(self.K, c, self.N)
        block.view(-1, self.N).index_copy_(0, rows, g)
        # row vectors: g^T W_k^T = (W_k g)^T, and g^T W_k = (W_k^T g)^T
        out = torch.bmm(
            block, W if transpose else W.transpose(1, 2), out=self._buf[1, :n].view(block.shape)
        )
        return out.view(-1, self.N).index_select(0, rows)


def _outer_sums(
    index: torch.Tensor, K: int, left: torch.Tensor, right: torch.Tensor
) -> torch.Tensor:
    """sum over uses u = (b, t) with index[b, t] = k of left_u right_u^T, per k. -> (K, N, N).

    left, right (B, T, N). Every permutation, identity or independent batch uses each index equally
    often, so the uses group into a (K, c, N) block without padding: one batched GEMM.
    """
    N = left.shape[-1]
    slot, cmax = _group_slots(index.reshape(1, -1))
    c = int(cmax[0])
    rows = index.reshape(-1) * c + slot[0]  # (B*T,)
    L = left.new_zeros(K * c, N).index_copy_(0, rows, left.reshape(-1, N))
    R = right.new_zeros(K * c, N).index_copy_(0, rows, right.reshape(-1, N))
    return torch.bmm(L.view(K, c, N).transpose(1, 2), R.view(K, c, N))


class _Rollout(torch.autograd.Function):
    """States g_t = Norm(ReLU(W[index[:, t]] g_{t-1})) for t = 1..T from the shared g0.

    Forward keeps only the states (B, T, N) and pre-norm lengths (B, T); backward runs the
    recurrence in reverse (one transposed mat-vec per step) and forms the weight gradient at the
    end as one batched GEMM over the uses of each matrix (no per-step outer products).
    """

    @staticmethod
    def forward(ctx, W, g0, index, eps, plan):  # W (K, N, N), g0 (N,), index (B, T)
        K, N, _ = W.shape
        B, T = index.shape
        states = W.new_empty(B, T, N)
        lengths = W.new_empty(B, T)
        g = g0.expand(B, N)
        for t in range(T):
            r = plan.matvec(W, t, g).relu_()  # (B, N)
            n = torch.linalg.vector_norm(r, dim=-1)  # (B,)
            lengths[:, t] = n
            g = torch.div(r, n.clamp_min(eps)[:, None], out=states[:, t])
        ctx.save_for_backward(W, g0, index, states, lengths)
        ctx.plan, ctx.eps = plan, eps
        return states

    @staticmethod
    def backward(ctx, d_states):  # (B, T, N)
        W, g0, index, states, lengths = ctx.saved_tensors
        plan, eps = ctx.plan, ctx.eps
        B, T, N = states.shape
        d_pre = torch.empty_like(states)  # dL/dz_t, z_t = W[index[:, t]] g_{t-1}
        carry = None  # dL/dg_t through later steps
        for t in reversed(range(T)):
            dg = d_states[:, t] if carry is None else d_states[:, t] + carry
            g, n = states[:, t], lengths[:, t, None]
            along = (g * dg).sum(-1, keepdim=True) * (n > eps)  # the norm's radial part
            dz = (dg - g * along).div_(n.clamp_min(eps)).mul_(g > 0)
            d_pre[:, t] = dz
            carry = plan.matvec(W, t, dz, transpose=True)
        grad_W = grad_g0 = None
        if ctx.needs_input_grad[0]:
            prev = torch.cat([g0.expand(B, 1, N), states[:, :-1]], dim=1)  # g_{t-1} (B, T, N)
            grad_W = _outer_sums(index, W.shape[0], d_pre, prev)
        if ctx.needs_input_grad[1]:
            grad_g0 = carry.sum(0)
        return grad_W, grad_g0, None, None, None


class _RolloutFused(torch.autograd.Function):
    """The same recurrence and gradients as :class:`_Rollout`, forward and backward each one
    fused CPU kernel (:mod:`gridssl.kernels`); the weight gradient is the same batched GEMM."""

    @staticmethod
    def forward(ctx, W, g0, index, eps):  # W (K, N, N), g0 (N,), index (B, T)
        Wn, idx = W.detach().contiguous().numpy(), index.contiguous().numpy()
        states, lengths = kernels.forward(Wn, g0.detach().contiguous().numpy(), idx, eps)
        states, lengths = torch.from_numpy(states), torch.from_numpy(lengths)
        ctx.save_for_backward(W, g0, index, states, lengths)
        ctx.eps = eps
        return states

    @staticmethod
    def backward(ctx, d_states):  # (B, T, N)
        W, g0, index, states, lengths = ctx.saved_tensors
        B, T, N = states.shape
        d_pre, d_g0 = kernels.backward(
            W.detach().contiguous().numpy(),
            index.contiguous().numpy(),
            ctx.eps,
            states.numpy(),
            lengths.numpy(),
            d_states.contiguous().numpy(),
        )
        d_pre = torch.from_numpy(d_pre)
        grad_W = grad_g0 = None
        if ctx.needs_input_grad[0]:
            prev = torch.cat([g0.detach().expand(B, 1, N), states[:, :-1]], dim=1)  # g_{t-1}
            grad_W = _outer_sums(index, W.shape[0], d_pre, prev)
        if ctx.needs_input_grad[1]:
            grad_g0 = torch.from_numpy(d_g0).sum(0)
        return grad_W, grad_g0, None, None


ROLLOUT_KERNELS = ("auto", "torch", "fused")  # model.rollout_kernel


def rollout_states(
    W: torch.Tensor,
    g0: torch.Tensor,
    index: torch.Tensor,
    eps: float,
    group_factor: float = 6.0,
    kernel: str = "torch",
) -> torch.Tensor:
    """The training recurrence from g0 (N,) with matrices W (K, N, N) picked by index (B, T).

    -> states (B, T, N), differentiable in W and g0, memory O(B T N) for backward.
    ``kernel``: "torch" (batched GEMMs, :class:`_MatVecPlan`; any device), "fused" (one fused CPU
    kernel per pass, :mod:`gridssl.kernels`; needs numba and CPU tensors) or "auto": fused where
    the torch plan would gather a (B, N, N) copy of the matrices every step (few trajectories per
    matrix: the campaign shape B 32, T 60), torch's grouped plan where it applies (the paper, cpu
    and modules shapes: there it is exact to 3e-6 against the naive reference, and the shipped
    network was trained with it). The two agree to float32 rounding (tests/test_model.py).
    """
    if kernel not in ROLLOUT_KERNELS:
        raise ValueError(f"kernel {kernel!r}: choose one of {list(ROLLOUT_KERNELS)}")
    fusable = kernels.AVAILABLE and W.device.type == "cpu" and W.dtype == g0.dtype
    if kernel == "fused" and not fusable:
        raise ValueError("kernel 'fused' needs numba installed and CPU tensors of one dtype")
    if kernel == "fused":
        return _RolloutFused.apply(W, g0, index, eps)
    plan = _MatVecPlan(index, W.shape[0], W.shape[1], group_factor)
    if kernel == "auto" and fusable and not plan.grouped:
        return _RolloutFused.apply(W, g0, index, eps)
    return _Rollout.apply(W, g0, index, eps, plan)


def _init_linear(layer: nn.Linear, gen: torch.Generator) -> None:
    """PyTorch's fan-in uniform init, drawn from ``gen`` (no global RNG)."""
    bound = 1 / math.sqrt(layer.in_features)
    with torch.no_grad():
        layer.weight.copy_((torch.rand(layer.weight.shape, generator=gen) * 2 - 1) * bound)
        layer.bias.copy_((torch.rand(layer.bias.shape, generator=gen) * 2 - 1) * bound)


class SICNet(nn.Module):
    """The SIC recurrent network. ``rollout(velocities)`` maps (B, T, 2) to states (B, T, N)."""

    def __init__(self, cfg: ModelConfig, generator: torch.Generator | None = None):
        super().__init__()
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        self.cfg = cfg
        N, H = cfg.n_units, cfg.mlp_hidden
        widths = [2] + [H] * (cfg.mlp_layers - 1) + [N * N]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            lin = nn.Linear(a, b)
            _init_linear(lin, gen)
            layers.append(lin)
            if i < len(widths) - 2:
                layers.append(ACTIVATIONS[cfg.activation]())
        self.mlp = nn.Sequential(*layers)
        if cfg.init == "identity":  # W(v) = I + small(v)
            last = self.mlp[-1]
            with torch.no_grad():
                std = cfg.init_scale / math.sqrt(last.in_features)
                last.weight.copy_(torch.randn(last.weight.shape, generator=gen) * std)
                last.bias.copy_(torch.eye(N).flatten())
        if cfg.groups > 1:  # the control: W(v) block-diagonal over equal groups of units
            group = torch.arange(N) // (N // cfg.groups)
            self.register_buffer("block", group[:, None] == group[None, :], persistent=False)
        else:
            self.block = None
        g0 = torch.rand(N, generator=gen) + 0.5  # positive, so Norm(ReLU(g0)) is a valid state
        if cfg.learn_g0:
            self.g0_raw = nn.Parameter(g0)
        else:
            self.register_buffer("g0_raw", g0)

    @property
    def n_units(self) -> int:
        return self.cfg.n_units

    def g0(self) -> torch.Tensor:
        """The shared initial state (N,), non-negative with unit norm."""
        return norm_relu(self.g0_raw, self.cfg.norm_eps)

    def weights(self, v: torch.Tensor) -> torch.Tensor:
        """W(v): (K, 2) -> (K, N, N) (zero outside the diagonal blocks when model.groups > 1)."""
        N = self.cfg.n_units
        W = self.mlp(v).view(-1, N, N)
        return W if self.block is None else W * self.block

    def rollout_batch(self, batch: VelocityBatch) -> torch.Tensor:
        """Training rollout: the MLP runs on the K distinct velocities only. -> (B, T, N)."""
        W = self.weights(batch.distinct)  # (K, N, N)
        g0, eps, kernel = self.g0(), self.cfg.norm_eps, self.cfg.rollout_kernel
        return rollout_states(W, g0, batch.index, eps, kernel=kernel)  # (B, T, N)

    def rollout(
        self,
        velocities: torch.Tensor,
        g0: torch.Tensor | None = None,
        max_matrices: int = 1 << 14,
    ) -> torch.Tensor:
        """States g_1..g_T (B, T, N) for any velocities (B, T, 2), from g0 at the training origin.

        Runs in time chunks so that at most ``max_matrices`` N x N weight matrices exist at once
        (a 4 m arena evaluation fits in memory). Differentiable when grad is enabled.
        """
        velocities = torch.as_tensor(velocities, dtype=torch.float32)
        dev = next(self.parameters()).device
        velocities = velocities.to(dev)
        B, T, _ = velocities.shape
        g = (self.g0() if g0 is None else g0.to(dev)).expand(B, -1)
        rows = max(1, min(B, max_matrices))
        out = torch.empty(B, T, self.n_units, device=dev) if not torch.is_grad_enabled() else None
        chunks_b = []
        for b0 in range(0, B, rows):  # batch chunks
            gb = g[b0 : b0 + rows]
            nb = gb.shape[0]
            tc = max(1, max_matrices // nb)  # time steps per chunk
            seq = []
            for t0 in range(0, T, tc):
                W = self.weights(velocities[b0 : b0 + nb, t0 : t0 + tc].reshape(-1, 2))
                W = W.view(nb, -1, self.n_units, self.n_units)  # (nb, tc, N, N)
                for t in range(W.shape[1]):
                    gb = norm_relu(
                        torch.bmm(W[:, t], gb.unsqueeze(-1)).squeeze(-1), self.cfg.norm_eps
                    )
                    if out is not None:
                        out[b0 : b0 + nb, t0 + t] = gb
                    else:
                        seq.append(gb)
            if out is None:
                chunks_b.append(torch.stack(seq, dim=1))
        return out if out is not None else torch.cat(chunks_b, dim=0)
