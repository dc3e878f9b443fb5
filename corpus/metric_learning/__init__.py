"""Few-shot metric learning: an embedding network trained with prototype and cosine-margin losses."""

from .heads import AdditiveMarginHead, CosineClassifier
from .model import EmbeddingNet

__all__ = ["AdditiveMarginHead", "CosineClassifier", "EmbeddingNet"]
