"""The image dataset (``root/<class>/<image>``) and mixup augmentation."""

from __future__ import annotations

import os
from typing import Any, Callable

import torch
from PIL import Image
from torch.utils.data import Dataset

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


class FolderImageDataset(Dataset):
    """Images stored one folder per class; the class index follows the sorted folder names."""

    def __init__(
        self,
        root: str,
        transform: Callable[[Image.Image], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
    ) -> None:
        self.root = root
        self.transform = transform
        self.target_transform = target_transform
        self.classes = sorted(os.listdir(root))
        self.class_to_idx = {name: index for index, name in enumerate(self.classes)}
        self.samples = []
        for name in self.classes:
            class_dir = os.path.join(root, name)
            for file_name in sorted(os.listdir(class_dir)):
                if file_name.lower().endswith(IMAGE_EXTENSIONS):
                    self.samples.append((os.path.join(class_dir, file_name), self.class_to_idx[name]))

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        path, target = self.samples[index]
        image = Image.open(path).convert("RGB")
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target


def mixup(
    images: torch.Tensor, targets: torch.Tensor, lam: float, permutation: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zhang et al.: blend every image (and its one-hot target) with a partner from the batch."""
    mixed_images = lam * images + (1 - lam) * images[permutation]
    mixed_targets = lam * targets + (1 - lam) * targets[permutation]
    return mixed_images, mixed_targets


def write_example_tree(root: str, classes: tuple[str, ...] = ("cat", "dog", "fox"), per_class: int = 3) -> None:
    """A tiny on-disk dataset of 8x8 images with deterministic pixels (for smoke runs)."""
    generator = torch.Generator().manual_seed(6)
    for name in classes:
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for item in range(per_class):
            pixels = torch.randint(0, 256, (8, 8, 3), dtype=torch.uint8, generator=generator)
            Image.fromarray(pixels.numpy()).save(os.path.join(root, name, f"{item:03d}.png"))
