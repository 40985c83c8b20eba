"""The velocity-conditioned Norm-ReLU RNN of SIC (SPEC.md section 3).

    g_t = Norm(ReLU(W(v_t) g_{t-1})),   W(v) = MLP(v) reshaped to N x N,   Norm(z) = z / |z|

Every state is non-negative with unit norm. No input, bias or leak in the update, no readout.
"""

from __future__ import annotations

import math

import torch
from torch import nn

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


class _GatheredMatVec(torch.autograd.Function):
    """out[b] = W[idx[b]] @ g[b] without keeping a (B, N, N) gather alive for backward.

    Autograd of ``W[idx] @ g`` saves the gathered (B, N, N) tensor at every step (B*T*N*N floats for
    a rollout); this saves only the shared W (K, N, N) and g (B, N), and regathers in backward.
    """

    @staticmethod
    def forward(ctx, W, idx, g):  # W (K, N, N), idx (B,), g (B, N)
        ctx.save_for_backward(W, idx, g)
        return torch.bmm(W[idx], g.unsqueeze(-1)).squeeze(-1)  # (B, N)

    @staticmethod
    def backward(ctx, grad_out):  # grad_out (B, N)
        W, idx, g = ctx.saved_tensors
        grad_W = grad_g = None
        if ctx.needs_input_grad[2]:
            grad_g = torch.bmm(grad_out.unsqueeze(1), W[idx]).squeeze(1)  # (B, N)
        if ctx.needs_input_grad[0]:
            outer = grad_out.unsqueeze(-1) * g.unsqueeze(1)  # (B, N, N)
            grad_W = torch.zeros_like(W).index_add_(0, idx, outer)
        return grad_W, None, grad_g


def gathered_matvec(W: torch.Tensor, idx: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``W[idx] @ g`` per batch row, (K, N, N), (B,), (B, N) -> (B, N), memory-light backward."""
    return _GatheredMatVec.apply(W, idx, g)


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
        """W(v): (K, 2) -> (K, N, N)."""
        N = self.cfg.n_units
        return self.mlp(v).view(-1, N, N)

    def rollout_batch(self, batch: VelocityBatch) -> torch.Tensor:
        """Training rollout: the MLP runs on the K distinct velocities only. -> (B, T, N)."""
        W = self.weights(batch.distinct)  # (K, N, N)
        B, T = batch.index.shape
        g = self.g0().expand(B, -1)  # (B, N)
        states = []
        for t in range(T):
            g = norm_relu(gathered_matvec(W, batch.index[:, t], g), self.cfg.norm_eps)
            states.append(g)
        return torch.stack(states, dim=1)  # (B, T, N)

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
