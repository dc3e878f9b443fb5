"""A small image classifier trained on a folder-per-class image dataset."""

from .data import FolderImageDataset
from .losses import ClassBalancedSmoothingLoss
from .model import SmallConvNet

__all__ = ["ClassBalancedSmoothingLoss", "FolderImageDataset", "SmallConvNet"]
