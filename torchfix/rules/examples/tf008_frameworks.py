"""TF008's examples from framework code: layers that all pass the same ``**kwargs`` (timm)."""

from __future__ import annotations

from torchfix.rule import Applicability, Example

UNSAFE = Applicability.UNSAFE

FRAMEWORKS = (
    # identical **kwargs on every layer (timm's `dd = {"device": device, "dtype": dtype}`) fuse with them.
    Example(
        '''\
import torch
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, dim, qkv_bias=False, device=None, dtype=None):
        dd = {"device": device, "dtype": dtype}
        super().__init__()
        self.q = nn.Linear(dim, dim, bias=qkv_bias, **dd)
        self.k = nn.Linear(dim, dim, bias=qkv_bias, **dd)
        self.v = nn.Linear(dim, dim, bias=qkv_bias, **dd)

    def forward(self, x):
        q = self.q(x)
        k = self.k(x)
        v = self.v(x)
        return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
''',
        '''\
import torch
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, dim, qkv_bias=False, device=None, dtype=None):
        dd = {"device": device, "dtype": dtype}
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias, **dd)
        self.register_load_state_dict_pre_hook(self._load_unfused_qkv)
        self.register_state_dict_post_hook(self._save_unfused_qkv)

    @staticmethod
    def _load_unfused_qkv(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate q, k, v layers into qkv."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("q", "k", "v")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}qkv.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    @staticmethod
    def _save_unfused_qkv(module, state_dict, prefix, *args):
        """Save qkv as the separate q, k, v layers, so checkpoints keep their keys."""
        for suffix in ("weight", "bias"):
            key = f"{prefix}qkv.{suffix}"
            if key in state_dict:
                for name, part in zip(("q", "k", "v"), state_dict.pop(key).chunk(3)):
                    state_dict[f"{prefix}{name}.{suffix}"] = part

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
''',
        UNSAFE,
        row="equal",
        inputs={"dim": "int:16", "x": "float(2, 5, 16)"},
    ),
)
