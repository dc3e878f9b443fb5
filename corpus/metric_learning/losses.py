"""Metric-learning losses: prototypical networks, a center triplet loss and InfoNCE."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .model import EMBED_DIM


def class_prototypes(embeddings: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Mean embedding of each class, shape (C, D); a class absent from the batch gets zeros."""
    one_hot = F.one_hot(labels, num_classes).to(embeddings.dtype)
    counts = one_hot.sum(dim=0).clamp(min=1)
    return (one_hot.T @ embeddings) / counts[:, None]


def prototype_distances(queries: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distance from every query (Q, D) to every prototype (C, D): (Q, C)."""
    # torch.cdist(...) ** 2 would round the last bit of these exact squared sums: report only
    return ((queries[:, None] - prototypes[None]) ** 2).sum(-1)  # torchfix: ignore[TF005]


def prototypical_loss(
    support: torch.Tensor,
    support_labels: torch.Tensor,
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    num_classes: int,
) -> torch.Tensor:
    """Snell et al.: classify queries by a softmax over negative distances to class prototypes."""
    prototypes = class_prototypes(support, support_labels, num_classes)
    return F.cross_entropy(-prototype_distances(queries, prototypes), query_labels)


def center_triplet_loss(
    embeddings: torch.Tensor, labels: torch.Tensor, centers: torch.Tensor, margin: float = 0.5
) -> torch.Tensor:
    """Hinge between the distance to the own class center and to the nearest other center."""
    embeddings = embeddings / (embeddings.norm(dim=1, keepdim=True) + 1e-8)
    distances = torch.norm(embeddings.unsqueeze(1) - centers.unsqueeze(0), dim=2)
    positive = distances.gather(1, labels[:, None]).squeeze(1)
    own_class = labels[:, None] == torch.arange(centers.size(0), device=labels.device)
    negative = distances.masked_fill(own_class, float("inf")).amin(dim=1)
    return F.relu(positive - negative + margin).mean()


def info_nce_loss(first: torch.Tensor, second: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE between two views of a batch; row i of each view is a positive pair."""
    similarity = F.normalize(first, dim=-1) @ F.normalize(second, dim=-1).T / temperature
    targets = torch.arange(first.size(0), device=first.device)
    return (F.cross_entropy(similarity, targets) + F.cross_entropy(similarity.T, targets)) / 2


def example_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Twelve embeddings of four classes (three each), and their labels."""
    generator = torch.Generator().manual_seed(2)
    return torch.randn(12, EMBED_DIM, generator=generator), torch.arange(12) % 4
