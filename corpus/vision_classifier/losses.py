"""Label-smoothed cross-entropy with per-class weights (for imbalanced folders)."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .model import NUM_CLASSES


class ClassBalancedSmoothingLoss(nn.Module):
    """Cross-entropy against smoothed targets, each example weighted by its class weight."""

    def __init__(self, class_counts: Sequence[int], smoothing: float = 0.1) -> None:
        super().__init__()
        total = sum(class_counts)
        weights = [total / (len(class_counts) * count) for count in class_counts]
        self.class_weights = torch.tensor(weights, dtype=torch.float32)
        self.smoothing = smoothing

    def smoothed_targets(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Target distribution: ``1 - smoothing`` on the true class, the rest spread evenly."""
        off_value = self.smoothing / (logits.size(-1) - 1)
        distribution = torch.full(logits.shape, off_value, dtype=logits.dtype, device=logits.device)
        return distribution.scatter(1, targets[:, None], 1 - self.smoothing)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        per_example = -(self.smoothed_targets(logits, targets) * F.log_softmax(logits, dim=-1)).sum(dim=-1)
        weights = self.class_weights.to(logits.device)[targets]
        return (weights * per_example).sum() / weights.sum()


def build_loss() -> ClassBalancedSmoothingLoss:
    return ClassBalancedSmoothingLoss([30, 10, 5])


def example_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Logits for four images and their class labels."""
    generator = torch.Generator().manual_seed(8)
    return torch.randn(4, NUM_CLASSES, generator=generator), torch.tensor([0, 2, 1, 2])
