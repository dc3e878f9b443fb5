"""Model hyper-parameters; the defaults are a toy size that runs in milliseconds on a CPU."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TransformerConfig:
    vocab_size: int = 64
    dim: int = 32
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int = 2
    hidden_dim: int = 64
    max_seq_len: int = 16
    dropout: float = 0.0
    bias: bool = False

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads


def example_hidden_states(config: TransformerConfig = TransformerConfig()) -> tuple[torch.Tensor]:
    """A (2, 8, dim) batch of hidden states, the input of every block-level layer."""
    generator = torch.Generator().manual_seed(4)
    return (torch.randn(2, 8, config.dim, generator=generator),)
