"""Classification heads on top of embeddings: plain cosine (NormFace) and additive margin (CosFace)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .model import EMBED_DIM

NUM_CLASSES = 5


class CosineClassifier(nn.Module):
    """Scaled cosine similarity between every embedding and every class weight vector."""

    def __init__(self, embed_dim: int, num_classes: int, scale: float = 16.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, embed_dim))
        nn.init.normal_(self.weight, std=1 / math.sqrt(embed_dim))
        self.scale = scale

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        cosine = F.cosine_similarity(embeddings.unsqueeze(1), self.weight.unsqueeze(0), dim=-1)
        return self.scale * cosine


class AdditiveMarginHead(nn.Module):
    """CosFace: cosine logits with a margin subtracted from the target class during training."""

    def __init__(self, embed_dim: int, num_classes: int, scale: float = 16.0, margin: float = 0.2) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, embed_dim))
        nn.init.xavier_uniform_(self.weight)
        self.scale = scale
        self.margin = margin

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        features = embeddings / torch.norm(embeddings, p=2, dim=1, keepdim=True)
        centers = self.weight / self.weight.norm(dim=1, keepdim=True).clamp(min=1e-6)
        cosine = features @ centers.T
        if labels is None:
            return self.scale * cosine
        return self.scale * (cosine - self.margin * F.one_hot(labels, cosine.size(1)))


def build_cosine_classifier() -> CosineClassifier:
    return CosineClassifier(EMBED_DIM, NUM_CLASSES)


def build_margin_head() -> AdditiveMarginHead:
    return AdditiveMarginHead(EMBED_DIM, NUM_CLASSES)


def example_inputs() -> tuple[torch.Tensor]:
    """Eight embeddings, as the embedding network would produce them (before normalisation)."""
    generator = torch.Generator().manual_seed(1)
    return (torch.randn(8, EMBED_DIM, generator=generator),)


def labelled_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings with their class labels, for the margin head's training path."""
    (embeddings,) = example_inputs()
    return embeddings, torch.arange(8) % NUM_CLASSES
