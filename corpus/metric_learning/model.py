"""The embedding network: a small MLP that maps feature vectors onto the unit sphere."""

from __future__ import annotations

import torch
from torch import nn

IN_FEATURES = 32
EMBED_DIM = 16


class EmbeddingNet(nn.Module):
    """MLP backbone and a linear projection; returns L2-normalised embeddings."""

    def __init__(self, in_features: int, embed_dim: int, hidden: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )
        self.projection = nn.Linear(hidden, embed_dim)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Unnormalised embeddings (what retrieval indexes store)."""
        return self.projection(self.backbone(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.project(x)
        return z / z.norm(dim=-1, keepdim=True)


def build_model() -> EmbeddingNet:
    return EmbeddingNet(IN_FEATURES, EMBED_DIM)


def example_inputs() -> tuple[torch.Tensor]:
    """A batch of 8 feature vectors (seeded, so every call returns the same batch)."""
    generator = torch.Generator().manual_seed(0)
    return (torch.randn(8, IN_FEATURES, generator=generator),)
