"""One optimisation step: a prototypical episode loss plus the CosFace classification loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .heads import NUM_CLASSES, AdditiveMarginHead
from .losses import prototypical_loss
from .model import EMBED_DIM, IN_FEATURES, EmbeddingNet


def train_step(
    model: EmbeddingNet,
    head: AdditiveMarginHead,
    batch: tuple[torch.Tensor, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    proto_weight: float = 0.5,
) -> dict[str, float]:
    """Even rows of the batch are the support set, odd rows the queries."""
    features, labels = batch
    model.train()
    head.train()
    embeddings = model(features)
    proto = prototypical_loss(embeddings[::2], labels[::2], embeddings[1::2], labels[1::2], NUM_CLASSES)
    margin = F.cross_entropy(head(embeddings, labels), labels)
    loss = proto_weight * proto + margin
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"loss": loss.item(), "prototype": proto.item(), "margin": margin.item()}


def example_batch(batch_size: int = 20, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-dependent Gaussian features: every class appears in the support and the query rows."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(batch_size) // 2 % NUM_CLASSES
    centers = torch.randn(NUM_CLASSES, IN_FEATURES, generator=generator)
    return centers[labels] + 0.3 * torch.randn(batch_size, IN_FEATURES, generator=generator), labels


def run(steps: int = 3, seed: int = 0) -> tuple[EmbeddingNet, AdditiveMarginHead, list[dict[str, float]]]:
    """A few seeded steps on one batch (a smoke run)."""
    torch.manual_seed(seed)
    model = EmbeddingNet(IN_FEATURES, EMBED_DIM)
    head = AdditiveMarginHead(EMBED_DIM, NUM_CLASSES)
    optimizer = torch.optim.SGD([*model.parameters(), *head.parameters()], lr=0.1)
    batch = example_batch(seed=seed)
    history = [train_step(model, head, batch, optimizer) for _ in range(steps)]
    return model, head, history
