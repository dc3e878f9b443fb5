"""Causal self-attention: classic multi-head, and grouped-query (fewer key/value heads)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import TransformerConfig, example_hidden_states


class MultiHeadSelfAttention(nn.Module):
    """Causal multi-head self-attention with separate input projections for queries, keys and values."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.head_dim = config.head_dim
        self.dropout = config.dropout
        self.q_proj = nn.Linear(config.dim, config.dim, bias=config.bias)
        self.k_proj = nn.Linear(config.dim, config.dim, bias=config.bias)
        self.v_proj = nn.Linear(config.dim, config.dim, bias=config.bias)
        self.out_proj = nn.Linear(config.dim, config.dim, bias=config.bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q = self.q_proj(x)
        k = self.k_proj(x)
        v = self.v_proj(x)
        dropout = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(
            self._heads(q), self._heads(k), self._heads(v), dropout_p=dropout, is_causal=True
        )
        return self.out_proj(y.transpose(1, 2).reshape(batch, length, dim))


class GroupedQueryAttention(nn.Module):
    """Causal attention where groups of query heads share one key/value head (Ainslie et al., 2023)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.n_kv_heads = config.n_kv_heads
        self.head_dim = config.head_dim
        self.wq = nn.Linear(config.dim, config.n_heads * config.head_dim, bias=False)
        self.wk = nn.Linear(config.dim, config.n_kv_heads * config.head_dim, bias=False)
        self.wv = nn.Linear(config.dim, config.n_kv_heads * config.head_dim, bias=False)
        self.wo = nn.Linear(config.n_heads * config.head_dim, config.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        xq, xk, xv = self.wq(x), self.wk(x), self.wv(x)
        xq = xq.view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)
        xk = xk.view(batch, length, self.n_kv_heads, self.head_dim).transpose(1, 2)
        xv = xv.view(batch, length, self.n_kv_heads, self.head_dim).transpose(1, 2)
        repeats = self.n_heads // self.n_kv_heads
        xk = xk.repeat_interleave(repeats, dim=1)
        xv = xv.repeat_interleave(repeats, dim=1)
        y = F.scaled_dot_product_attention(xq, xk, xv, is_causal=True)
        return self.wo(y.transpose(1, 2).reshape(batch, length, -1))


def build_attention() -> MultiHeadSelfAttention:
    return MultiHeadSelfAttention(TransformerConfig())


def build_grouped_attention() -> GroupedQueryAttention:
    return GroupedQueryAttention(TransformerConfig())


example_inputs = example_hidden_states
