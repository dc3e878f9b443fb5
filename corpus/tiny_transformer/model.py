"""The decoder: token and position embeddings, pre-norm blocks, and a language-model head."""

from __future__ import annotations

import torch
from torch import nn

from .attention import GroupedQueryAttention, MultiHeadSelfAttention
from .config import TransformerConfig, example_hidden_states
from .layers import GatedSkip, Identity, RMSNorm, SwiGLU


class TransformerBlock(nn.Module):
    """Pre-norm residual block: attention, then the SwiGLU feed-forward."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        grouped = config.n_kv_heads < config.n_heads
        self.attention_norm = RMSNorm(config.dim)
        self.attention = GroupedQueryAttention(config) if grouped else MultiHeadSelfAttention(config)
        self.ffn_norm = RMSNorm(config.dim)
        self.feed_forward = SwiGLU(config.dim, config.hidden_dim, bias=config.bias)
        self.residual_dropout = nn.Dropout(config.dropout) if config.dropout > 0 else Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x + self.residual_dropout(self.attention(self.attention_norm(x)))
        return h + self.residual_dropout(self.feed_forward(self.ffn_norm(h)))


class TinyTransformer(nn.Module):
    """Decoder-only language model returning next-token logits of shape (B, T, vocab_size)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.dim)
        self.pos_embeddings = nn.Embedding(config.max_seq_len, config.dim)
        self.embedding_skip = GatedSkip(config.dim)
        self.layers = nn.ModuleList(TransformerBlock(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.dim)
        self.output = nn.Linear(config.dim, config.vocab_size, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.size(1), device=tokens.device)
        h = self.embedding_skip(self.tok_embeddings(tokens) + self.pos_embeddings(positions))
        for layer in self.layers:
            h = layer(h)
        return self.output(self.norm(h))


def build_block() -> TransformerBlock:
    return TransformerBlock(TransformerConfig())


def build_model() -> TinyTransformer:
    """The default grouped-query model."""
    return TinyTransformer(TransformerConfig())


def build_multi_head_model() -> TinyTransformer:
    """The same model with as many key/value heads as query heads (classic multi-head attention)."""
    return TinyTransformer(TransformerConfig(n_kv_heads=4, bias=True))


example_block_inputs = example_hidden_states


def example_inputs(config: TransformerConfig = TransformerConfig()) -> tuple[torch.Tensor]:
    """Two sequences of 8 token ids."""
    generator = torch.Generator().manual_seed(5)
    return (torch.randint(0, config.vocab_size, (2, 8), generator=generator),)
