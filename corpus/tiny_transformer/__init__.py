"""A tiny decoder-only transformer (llama-style: RMSNorm, SwiGLU, grouped-query attention)."""

from .config import TransformerConfig
from .model import TinyTransformer

__all__ = ["TinyTransformer", "TransformerConfig"]
