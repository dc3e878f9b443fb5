"""A small convolutional classifier with input normalisation built in."""

from __future__ import annotations

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NUM_CLASSES = 3


class SmallConvNet(nn.Module):
    """Three conv stages, global average pooling and a linear classifier; takes RGB in [0, 1]."""

    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()
        self.mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.pre_logits = nn.Sequential()
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - self.mean.to(images.device)) / self.std.to(images.device)
        return self.head(self.pre_logits(self.features(x)))


def build_model() -> SmallConvNet:
    return SmallConvNet(NUM_CLASSES)


def example_inputs() -> tuple[torch.Tensor]:
    """Two 16x16 RGB images with values in [0, 1]."""
    generator = torch.Generator().manual_seed(7)
    return (torch.rand(2, 3, 16, 16, generator=generator),)
