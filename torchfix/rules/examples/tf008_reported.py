"""TF008's report-only examples: parallel layers that are left unfused, each with its reason."""

from __future__ import annotations

from torchfix.rule import Example

REPORTED = (
    # per-layer init of the weights.
    Example(
        '''\
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.q.weight)
        nn.init.xavier_uniform_(self.k.weight)
        nn.init.zeros_(self.v.bias)

    def forward(self, x):
        return self.q(x) * self.k(x) + self.v(x)
''',
        None,
        row='skip',
        message='`self.q.weight`, `self.k.weight` and `self.v.bias` are used directly',
    ),
    # a layer passed to a function.
    Example(
        '''\
import torch.nn as nn
from torch.nn.utils import spectral_norm


class Gate(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gate = nn.Linear(dim, dim)
        self.up = nn.Linear(dim, dim)
        spectral_norm(self.gate)

    def forward(self, x):
        return self.gate(x).sigmoid() * self.up(x)
''',
        None,
        row='skip',
        message='`self.gate` is passed to `spectral_norm`',
    ),
    # k and v also run on another input.
    Example(
        '''\
import torch
import torch.nn as nn


class Decoder(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)

    def forward(self, x, memory):
        q, k, v = self.q(x), self.k(x), self.v(x)
        k_mem, v_mem = self.k(memory), self.v(memory)
        keys = torch.cat([k, k_mem], dim=1)
        values = torch.cat([v, v_mem], dim=1)
        return torch.softmax(q @ keys.transpose(1, 2), dim=-1) @ values
''',
        None,
        row='skip',
        message='they are not all called on the same inputs',
    ),
    # parallel heads in a ModuleList.
    Example(
        '''\
import torch
from torch import nn


class MultiHead(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = nn.ModuleList([nn.Linear(dim, dim // heads) for _ in range(heads)])

    def forward(self, x):
        return torch.cat([head(x) for head in self.heads], dim=-1)
''',
        None,
        row='skip',
        message='they are created in a loop or ModuleList (indexed keys such',
    ),
    # both forms behind a flag.
    Example(
        '''\
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, dim, fused=False):
        super().__init__()
        self.fused = fused
        if fused:
            self.qkv = nn.Linear(dim, 3 * dim)
        else:
            self.q = nn.Linear(dim, dim)
            self.k = nn.Linear(dim, dim)
            self.v = nn.Linear(dim, dim)

    def forward(self, x):
        if self.fused:
            q, k, v = self.qkv(x).chunk(3, dim=-1)
        else:
            q, k, v = self.q(x), self.k(x), self.v(x)
        return q * k + v
''',
        None,
        row='skip',
        message='`self.q`, `self.k` and `self.v` are created under a conditional',
    ),
    # a tensor-parallel plan names the layers.
    Example(
        '''\
import torch.nn as nn

TP_PLAN = {
    "attention.wq": "colwise",
    "attention.wk": "colwise",
    "attention.wv": "colwise",
}


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)

    def forward(self, x):
        return self.wq(x) + self.wk(x) * self.wv(x)
''',
        None,
        row='skip',
        message="the name 'wq' appears in a string literal in this file",
    ),
    # mixed bias.
    Example(
        '''\
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim)

    def forward(self, x):
        q = self.q(x)
        k = self.k(x)
        v = self.v(x)
        return (q @ k.transpose(-2, -1)).softmax(-1) @ v
''',
        None,
        row='skip',
        message='mixed bias (`self.q` and `self.k` differ)',
    ),
    # a layer called on an external object.
    Example(
        '''\
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)

    def forward(self, x):
        return self.to_q(x) @ self.to_k(x).transpose(-2, -1)


def queries(attn, x):
    return attn.to_q(x)
''',
        None,
        row='skip',
        message='`attn.to_q` uses a layer outside the class',
    ),
    # the input is a submodule call, evaluated once per layer.
    Example(
        '''\
import torch.nn as nn


class Mixer(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.a = nn.Linear(dim, dim)
        self.b = nn.Linear(dim, dim)

    def forward(self, x):
        return self.a(self.norm(x)) * self.b(self.norm(x))
''',
        None,
        row='skip',
        message='the input `self.norm(x)` is an expression with calls (assign',
    ),
    # a checkpoint filter names a layer's key.
    Example(
        '''\
import torch.nn as nn


class Checkpointed(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)

    def forward(self, x):
        return self.q_proj(x) + self.k_proj(x)


def load_filtered(model, state):
    return model.load_state_dict({k: v for k, v in state.items() if "q_proj.weight" not in k})
''',
        None,
        row='skip',
        message="the name 'q_proj' appears in a string literal in this file",
    ),
)
