"""A GRU tagger unrolled by hand, so padded steps can carry the state over unchanged."""

from __future__ import annotations

import torch
from torch import nn

VOCAB_SIZE = 50
NUM_TAGS = 6
PAD_ID = 0
UNK_ID = 1


class TokenTagger(nn.Module):
    """Embedding, a GRU cell over time, and a per-token tag classifier."""

    def __init__(
        self,
        vocab_size: int,
        num_tags: int,
        dim: int = 32,
        hidden_size: int = 48,
        word_dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=PAD_ID)
        self.cell = nn.GRUCell(dim, hidden_size)
        self.classifier = nn.Linear(hidden_size, num_tags)
        self.hidden_size = hidden_size
        self.word_dropout = word_dropout

    def drop_words(self, tokens: torch.Tensor) -> torch.Tensor:
        """Replace random non-padding tokens by UNK (training-time regularisation)."""
        batch, length = tokens.shape
        drop = (torch.rand(batch, length, device=tokens.device) < self.word_dropout) & (tokens != PAD_ID)
        return drop * UNK_ID + (~drop) * tokens

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tag logits of shape (B, T, num_tags) for right-padded token ids of shape (B, T)."""
        if self.training and self.word_dropout > 0:
            tokens = self.drop_words(tokens)
        embedded = self.embedding(tokens)
        lengths = (tokens != PAD_ID).sum(dim=1)
        state = embedded.new_zeros(tokens.size(0), self.hidden_size)
        outputs = []
        for step in range(tokens.size(1)):
            updated = self.cell(embedded[:, step], state)
            running = (lengths[:, None] > step).float()
            state = running * updated + (1 - running) * state
            outputs.append(state)
        return self.classifier(torch.stack(outputs, dim=1))


def build_model() -> TokenTagger:
    return TokenTagger(VOCAB_SIZE, NUM_TAGS)


def example_inputs() -> tuple[torch.Tensor]:
    """Four right-padded sequences of lengths 6, 4, 3 and 1."""
    tokens = torch.tensor(
        [
            [5, 9, 12, 7, 3, 30],
            [8, 8, 41, 2, 0, 0],
            [17, 4, 25, 0, 0, 0],
            [11, 0, 0, 0, 0, 0],
        ]
    )
    return (tokens,)
