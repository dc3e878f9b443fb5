"""torchfix: rewrite PyTorch repositories toward ten idioms, and prove nothing changed."""

__version__ = "0.1.0"
