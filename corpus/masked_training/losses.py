"""Losses and metrics over the labelled (non-padding) tokens of a batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def masked_token_loss(
    logits: torch.Tensor, labels: torch.Tensor, class_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy over the positions whose label is not IGNORE_INDEX."""
    valid = labels != IGNORE_INDEX
    return F.cross_entropy(
        logits[valid.nonzero(as_tuple=True)], labels[valid.nonzero(as_tuple=True)], weight=class_weights
    )


def token_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of labelled tokens whose arg-max tag is right."""
    valid = labels != IGNORE_INDEX
    predictions = logits.argmax(dim=-1)
    return (predictions.flatten()[valid.flatten()] == labels.flatten()[valid.flatten()]).float().mean()


def labelled_sequences(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the sequences without any labelled token (they would add nothing but padding)."""
    has_label = (labels != IGNORE_INDEX).any(dim=1)
    kept_labels = torch.stack([row for row, keep in zip(labels, has_label) if keep])
    return logits.index_select(0, has_label.nonzero().squeeze(1)), kept_labels


def mean_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-token cross-entropy averaged over labelled tokens (the index is kept for the count)."""
    flat_labels = labels.flatten()
    index = (flat_labels != IGNORE_INDEX).nonzero().squeeze(1)
    selected = logits.flatten(0, 1).index_select(0, index)
    losses = F.cross_entropy(selected, flat_labels.index_select(0, index), reduction="none")
    return losses.sum() / index.numel()


def example_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Logits for 3 sequences of 5 tokens over 6 tags, and labels with padding (the last row has none)."""
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 5, 6, generator=generator)
    labels = torch.tensor([[1, 4, 0, 2, 5], [3, 3, 1, IGNORE_INDEX, IGNORE_INDEX], [IGNORE_INDEX] * 5])
    return logits, labels
