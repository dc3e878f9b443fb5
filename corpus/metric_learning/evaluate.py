"""Evaluation: pair verification scores and a nearest-class-mean classifier."""

from __future__ import annotations

import torch


def verification_scores(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of matched pairs (row i of ``first`` with row i of ``second``)."""
    return (first * second).sum(dim=-1) / (first.norm(dim=-1) * second.norm(dim=-1))


def margin_scores(anchor: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Cosine of matched pairs with a small stabiliser, as the margin-loss logging uses it."""
    return (anchor * other).sum(dim=1) / (anchor.norm(dim=1) * other.norm(dim=1) + 1e-8)


@torch.no_grad()
def class_directions(embeddings: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Unit-length mean direction of every class, shape (C, D); every class must be present."""
    directions = []
    for label in range(num_classes):
        mean = embeddings[labels == label].mean(dim=0)
        # mean is 1-D here, but the code cannot show it (embeddings' rank is the caller's): report only
        directions.append(mean / mean.norm())  # torchfix: ignore[TF007]
    return torch.stack(directions)


@torch.no_grad()
def nearest_class_mean_scores(queries: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Cosine between each query and each class direction, shape (Q, C)."""
    queries = queries.clone()
    queries /= queries.norm(dim=-1, keepdim=True)
    return queries @ directions.T
