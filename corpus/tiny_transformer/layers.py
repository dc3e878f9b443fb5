"""Building blocks: RMSNorm, the SwiGLU feed-forward, a gated skip and a no-op layer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import TransformerConfig, example_hidden_states


# A no-op layer, for configurations that switch a sub-block off.
class Identity(nn.Module):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class RMSNorm(nn.Module):
    """Root-mean-square layer norm (no mean subtraction, no bias)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class SwiGLU(nn.Module):
    """Feed-forward with a SiLU-gated linear unit (Shazeer, 2020)."""

    def __init__(self, dim: int, hidden_dim: int, bias: bool = False) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden_dim, bias=bias)
        self.w2 = nn.Linear(hidden_dim, dim, bias=bias)
        self.w3 = nn.Linear(dim, hidden_dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class GatedSkip(nn.Module):
    """Highway connection: a sigmoid gate mixes a transformed input with the input itself."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        # Not fused on purpose: the gate has its own initialisation (it starts mostly closed).
        self.gate = nn.Linear(dim, dim)  # torchfix: ignore[TF008]
        self.transform = nn.Linear(dim, dim)
        nn.init.zeros_(self.gate.weight)
        nn.init.constant_(self.gate.bias, -2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.gate(x))
        return gate * F.silu(self.transform(x)) + (1 - gate) * x


def build_identity() -> nn.Module:
    return Identity(TransformerConfig().dim)


def build_rms_norm() -> RMSNorm:
    return RMSNorm(TransformerConfig().dim)


def build_swiglu() -> SwiGLU:
    config = TransformerConfig()
    return SwiGLU(config.dim, config.hidden_dim)


def build_gated_skip() -> GatedSkip:
    return GatedSkip(TransformerConfig().dim)


example_inputs = example_hidden_states
