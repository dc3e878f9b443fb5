"""The torch spellings the rules write: which import a new reference to a torch API adds.

The engine and the name table know nothing of torch; every rule declares these as
its ``IMPORT_CONVENTIONS``.
"""

from __future__ import annotations

from torchfix.names import Convention, ImportRequest

TORCH_CONVENTIONS = (
    # `F.normalize` reads better than a chain through an imported `torch.nn`
    Convention("torch.nn.functional.", ImportRequest("torch.nn.functional", asname="F"), preferred=True),
    # `nn.Identity` through `from torch import nn` when the file does not import torch.nn
    Convention("torch.nn.", ImportRequest("torch", name="nn")),
)
