"""Sequence tagging with padded batches: masked losses and a small training loop."""

from .model import TokenTagger

__all__ = ["TokenTagger"]
