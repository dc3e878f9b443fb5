"""TF003's before/after examples and valid near misses (checked by tests/test_rule_examples.py)."""

from __future__ import annotations

from torchfix.rule import Applicability, Example, Valid

UNSAFE = Applicability.UNSAFE

EXAMPLES = (
    # normalisation constants: non-persistent buffers keep state_dict() unchanged.
    Example(
        '''\
import torch
from torch import nn


class Normalize(nn.Module):
    def __init__(self):
        super().__init__()
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def forward(self, img):
        return (img - self.mean) / self.std
''',
        '''\
import torch
from torch import nn


class Normalize(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer(
            "mean",
            torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1),
            persistent=False,
        )
        self.register_buffer(
            "std",
            torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1),
            persistent=False,
        )

    def forward(self, img):
        return (img - self.mean) / self.std
''',
        applicability=UNSAFE,
        row='buffer',
        findings=2,
        inputs={"img": "float(2, 3, 4, 4)"},
    ),
    # a tensor built in local variables first; the comment stays.
    Example(
        '''\
import math

import torch
import torch.nn as nn


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=64):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.pe = pe.unsqueeze(0)  # (1, max_len, d_model)

    def forward(self, x):
        return x + self.pe[:, : x.size(1)]
''',
        '''\
import math

import torch
import torch.nn as nn


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=64):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer(
            "pe", pe.unsqueeze(0), persistent=False
        )  # (1, max_len, d_model)

    def forward(self, x):
        return x + self.pe[:, : x.size(1)]
''',
        applicability=UNSAFE,
        row='buffer',
        inputs={"d_model": "int:8", "x": "float(2, 5, 8)"},
    ),
    # a causal mask, `import torch as t`.
    Example(
        '''\
import torch as t


class CausalMask(t.nn.Module):
    def __init__(self, block_size):
        super().__init__()
        self.bias = t.tril(t.ones(block_size, block_size)).view(1, 1, block_size, block_size)

    def forward(self, scores):
        n = scores.size(-1)
        return scores.masked_fill(self.bias[:, :, :n, :n] == 0, float("-inf")).softmax(dim=-1)
''',
        '''\
import torch as t


class CausalMask(t.nn.Module):
    def __init__(self, block_size):
        super().__init__()
        self.register_buffer(
            "bias",
            t.tril(t.ones(block_size, block_size)).view(1, 1, block_size, block_size),
            persistent=False,
        )

    def forward(self, scores):
        n = scores.size(-1)
        return scores.masked_fill(self.bias[:, :, :n, :n] == 0, float("-inf")).softmax(dim=-1)
''',
        applicability=UNSAFE,
        row='buffer',
        inputs={"block_size": "int:8", "scores": "float(2, 2, 6, 6)"},
    ),
    # a tensor in one branch and None in the other: both registered, so either way it is a buffer.
    Example(
        '''\
import torch
from torch import nn


class Scaled(nn.Module):
    def __init__(self, temperature=None):
        super().__init__()
        if temperature is None:
            self.temperature = None
        else:
            self.temperature = torch.tensor(temperature)

    def forward(self, logits):
        if self.temperature is None:
            return logits.softmax(-1)
        return (logits / self.temperature).softmax(-1)
''',
        '''\
import torch
from torch import nn


class Scaled(nn.Module):
    def __init__(self, temperature=None):
        super().__init__()
        if temperature is None:
            self.register_buffer("temperature", None, persistent=False)
        else:
            self.register_buffer(
                "temperature", torch.tensor(temperature), persistent=False
            )

    def forward(self, logits):
        if self.temperature is None:
            return logits.softmax(-1)
        return (logits / self.temperature).softmax(-1)
''',
        applicability=UNSAFE,
        row='buffer',
        inputs={"temperature": "int:2", "logits": "float(4, 5)"},
    ),
    # class weights of a loss, `from torch import tensor`.
    Example(
        '''\
import torch.nn.functional as F
from torch import tensor
from torch.nn import Module


class WeightedLoss(Module):
    def __init__(self):
        super().__init__()
        self.class_weights = tensor([0.1, 0.2, 0.3, 0.2, 0.2])

    def forward(self, logits, target):
        return F.cross_entropy(logits, target, weight=self.class_weights)
''',
        '''\
import torch.nn.functional as F
from torch import tensor
from torch.nn import Module


class WeightedLoss(Module):
    def __init__(self):
        super().__init__()
        self.register_buffer(
            "class_weights", tensor([0.1, 0.2, 0.3, 0.2, 0.2]), persistent=False
        )

    def forward(self, logits, target):
        return F.cross_entropy(logits, target, weight=self.class_weights)
''',
        applicability=UNSAFE,
        row='buffer',
        inputs={"logits": "float(4, 5)", "target": "long(4)"},
    ),
    # buffer-persistent = true: persistent buffers, a new state_dict() key.
    Example(
        '''\
import torch
from torch import nn


class Normalize(nn.Module):
    def __init__(self):
        super().__init__()
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def forward(self, img):
        return (img - self.mean) / self.std
''',
        '''\
import torch
from torch import nn


class Normalize(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer(
            "mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        )
        self.register_buffer(
            "std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        )

    def forward(self, img):
        return (img - self.mean) / self.std
''',
        applicability=UNSAFE,
        row='persistent',
        findings=2,
        inputs={"img": "float(2, 3, 4, 4)"},
        settings={'buffer_persistent': True},
    ),
    # the buffer and, with unsafe fixes, the `.to(x.device)` it no longer needs.
    Example(
        '''\
import math

import torch
import torch.nn as nn


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=64):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.pe = pe.unsqueeze(0)

    def forward(self, x):
        return x + self.pe[:, : x.size(1)].to(x.device)
''',
        '''\
import math

import torch
import torch.nn as nn


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=64):
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0), persistent=False)

    def forward(self, x):
        return x + self.pe[:, : x.size(1)]
''',
        applicability=UNSAFE,
        row='to-device',
        findings=2,
        inputs={"d_model": "int:8", "x": "float(2, 5, 8)"},
    ),
    # an existing buffer moved on every call.
    Example(
        '''\
import torch
from torch import nn


class Rotary(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)))

    def forward(self, x):
        t = torch.arange(x.shape[1], device=x.device).float()
        freqs = torch.outer(t, self.inv_freq.to(x.device))
        return x * freqs.cos().repeat_interleave(2, dim=-1)
''',
        '''\
import torch
from torch import nn


class Rotary(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim)))

    def forward(self, x):
        t = torch.arange(x.shape[1], device=x.device).float()
        freqs = torch.outer(t, self.inv_freq)
        return x * freqs.cos().repeat_interleave(2, dim=-1)
''',
        applicability=UNSAFE,
        row='to-device',
        inputs={"dim": "int:8", "x": "float(2, 5, 8)"},
    ),
    # `.cuda()` on a buffer.
    Example(
        '''\
import torch
import torch.nn as nn


class AnchorHead(nn.Module):
    def __init__(self, anchors):
        super().__init__()
        self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32))

    def forward(self, offsets):
        return self.anchors.cuda() + offsets
''',
        '''\
import torch
import torch.nn as nn


class AnchorHead(nn.Module):
    def __init__(self, anchors):
        super().__init__()
        self.register_buffer("anchors", torch.tensor(anchors, dtype=torch.float32))

    def forward(self, offsets):
        return self.anchors + offsets
''',
        applicability=UNSAFE,
        row='to-device',
        inputs={"anchors": "int:3", "offsets": "float(4, 2)"},
    ),
    # an annotated assignment, and `.to(device=...)`.
    Example(
        '''\
import torch
from torch import nn


class Prior(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.loc: torch.Tensor = torch.zeros(dim)
        self.table = torch.linspace(0, 1, dim)

    def forward(self, x):
        return (x - self.loc) * self.table.to(device=x.device)
''',
        '''\
import torch
from torch import nn


class Prior(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.register_buffer("loc", torch.zeros(dim), persistent=False)
        self.register_buffer("table", torch.linspace(0, 1, dim), persistent=False)

    def forward(self, x):
        return (x - self.loc) * self.table
''',
        applicability=UNSAFE,
        row='to-device',
        findings=3,
        inputs={"dim": "int:6", "x": "float(3, 6)"},
    ),
    # a frozen parameter used as a constant: a persistent buffer keeps its state_dict() key.
    Example(
        '''\
import torch
import torch.nn as nn


class LayerScale(nn.Module):
    def __init__(self, dim, init_values=1e-5):
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim), requires_grad=False)

    def forward(self, x):
        return x * self.gamma
''',
        '''\
import torch
import torch.nn as nn


class LayerScale(nn.Module):
    def __init__(self, dim, init_values=1e-5):
        super().__init__()
        self.register_buffer("gamma", init_values * torch.ones(dim))

    def forward(self, x):
        return x * self.gamma
''',
        applicability=UNSAFE,
        row='parameter',
        inputs={"dim": "int:8", "x": "float(2, 8)"},
    ),
    # reassigned in another method.
    Example(
        '''\
import torch
from torch import nn


class Memory(nn.Module):
    def __init__(self, size, dim):
        super().__init__()
        self.size = size
        self.bank = torch.zeros(size, dim)

    def reset(self):
        self.bank = torch.zeros_like(self.bank)

    def forward(self, x):
        return x @ self.bank.T
''',
        None,
        row='skip',
        message='it is reassigned in',
    ),
    # a tensor in one branch and a float in the other.
    Example(
        '''\
import torch
from torch import nn


class Focal(nn.Module):
    def __init__(self, alpha, per_class=False):
        super().__init__()
        if per_class:
            self.alpha = torch.tensor(alpha)
        else:
            self.alpha = alpha

    def forward(self, p):
        return self.alpha * (1 - p) ** 2
''',
        None,
        row='skip',
        message='it is also assigned a non-tensor',
    ),
    # deleted later.
    Example(
        '''\
import torch
from torch import nn


class Warmup(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.init_stats = torch.zeros(dim)

    def finish_warmup(self):
        del self.init_stats

    def forward(self, x):
        return x
''',
        None,
        row='skip',
        message='it is deleted in',
    ),
    # kept on the CPU on purpose for CPU-side sampling.
    Example(
        '''\
import torch
from torch import nn


class Sampler(nn.Module):
    def __init__(self, counts):
        super().__init__()
        self.probs = torch.tensor(counts, dtype=torch.float, device="cpu")

    def forward(self, n):
        return torch.multinomial(self.probs, n)
''',
        None,
        row='skip',
        message='it is kept on the CPU on purpose',
    ),
    # a frozen parameter filled later with .data.copy_.
    Example(
        '''\
import torch
import torch.nn as nn


class Codebook(nn.Module):
    def __init__(self, size, dim):
        super().__init__()
        self.embed = nn.Parameter(torch.zeros(size, dim), requires_grad=False)

    def load(self, vectors):
        self.embed.data.copy_(vectors)

    def forward(self, x):
        return x @ self.embed.T
''',
        None,
        row='skip',
        message='it is filled or changed later',
    ),
    # assigned from outside the class.
    Example(
        '''\
import torch
from torch import nn


class Scaler(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.ones(1)

    def forward(self, x):
        return x * self.scale


def calibrate(model, value):
    model.scale = value
''',
        None,
        row='skip',
        message='it is reassigned outside the class',
    ),
    # a class attribute of the same name makes register_buffer raise.
    Example(
        '''\
import torch
from torch import nn


class Shift(nn.Module):
    offset = None

    def __init__(self, value):
        super().__init__()
        self.offset = torch.tensor(value)

    def forward(self, x):
        return x + self.offset
''',
        None,
        row='skip',
        message='the class already has an attribute',
    ),
    # requires grad: a parameter in disguise, not a constant.
    Example(
        '''\
import torch
from torch import nn


class Bias(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.shift = torch.zeros(dim, requires_grad=True)

    def forward(self, x):
        return x + self.shift
''',
        None,
        row='skip',
        message='it requires grad (a parameter, not a constant)',
    ),
    # a boolean mask is not cast with the module: the fix is safe.
    Example(
        '''\
import torch
import torch.nn as nn


class CausalSelfAttention(nn.Module):
    def __init__(self, block_size):
        super().__init__()
        self.causal = torch.tril(torch.ones(block_size, block_size, dtype=torch.bool))
        self.positions = torch.arange(block_size, dtype=torch.long)

    def forward(self, scores):
        n = scores.shape[-1]
        return scores.masked_fill(~self.causal[:n, :n], float("-inf")) + self.positions[:n]
''',
        '''\
import torch
import torch.nn as nn


class CausalSelfAttention(nn.Module):
    def __init__(self, block_size):
        super().__init__()
        self.register_buffer(
            "causal",
            torch.tril(torch.ones(block_size, block_size, dtype=torch.bool)),
            persistent=False,
        )
        self.register_buffer(
            "positions", torch.arange(block_size, dtype=torch.long), persistent=False
        )

    def forward(self, scores):
        n = scores.shape[-1]
        return scores.masked_fill(~self.causal[:n, :n], float("-inf")) + self.positions[:n]
''',
        row='buffer',
        findings=2,
        inputs={"block_size": "int:8", "scores": "float(2, 8, 8)"},
    ),
    # a tensor or None, chosen in __init__: register_buffer takes both.
    Example(
        '''\
import torch
from torch import nn


class Smoothing(nn.Module):
    def __init__(self, weights=None):
        super().__init__()
        self.weights = torch.tensor(weights) if weights is not None else None

    def forward(self, x):
        return x if self.weights is None else x * self.weights
''',
        '''\
import torch
from torch import nn


class Smoothing(nn.Module):
    def __init__(self, weights=None):
        super().__init__()
        self.register_buffer(
            "weights",
            torch.tensor(weights) if weights is not None else None,
            persistent=False,
        )

    def forward(self, x):
        return x if self.weights is None else x * self.weights
''',
        applicability=UNSAFE,
        row='buffer',
        inputs={"x": "float(2, 3)"},
    ),
    # a sibling attribute is moved to the CPU on purpose: the class keeps its tensors there.
    Example(
        '''\
import torch
from torch import nn


class Sampler(nn.Module):
    def __init__(self, vocab, counts):
        super().__init__()
        self.table = torch.as_tensor(counts).cpu()
        self.offsets = torch.arange(vocab)

    def forward(self, n):
        return self.offsets[torch.multinomial(self.table.float(), n)]
''',
        None,
        row='skip',
        message='a sibling attribute is kept on the CPU on purpose',
    ),
    # the constant is used from the collate_fn a DataLoader runs on CPU batches.
    Example(
        '''\
import torch
from torch import nn
from torch.utils.data import DataLoader


class Tokenizing(nn.Module):
    def __init__(self, pad_id):
        super().__init__()
        self.pad = torch.tensor([pad_id])

    def pad_batch(self, items):
        width = max(len(i) for i in items)
        return torch.stack([torch.cat([i, self.pad.repeat(width - len(i))]) for i in items])

    def forward(self, x):
        return x


def loader(model, data):
    return DataLoader(data, batch_size=4, collate_fn=model.pad_batch)
''',
        None,
        row='skip',
        message='a DataLoader collate_fn on CPU batches',
    ),
    # frozen parameters convert all or none: one is filled later, so neither converts.
    Example(
        '''\
import torch
from torch import nn


class Frozen(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim), requires_grad=False)
        self.shift = nn.Parameter(torch.zeros(dim), requires_grad=False)

    def load_stats(self, stats):
        self.shift.data.copy_(stats)

    def forward(self, x):
        return x * self.scale + self.shift
''',
        None,
        row='skip',
        message='filled or changed later',
        findings=2,
    ),
)
VALID = (
    Valid(
        '''\
import torch


class WarmupSchedule:
    def __init__(self, steps):
        self.lrs = torch.linspace(0, 1, steps)

    def __call__(self, step):
        return self.lrs[step]
''',
        'not an nn.Module: no register_buffer',
    ),
    Valid(
        '''\
import torch
from torch import nn


class Normalize(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.zeros(3), persistent=False)

    def forward(self, x):
        return x - self.mean
''',
        'already a buffer',
    ),
    Valid(
        '''\
import torch
from torch import nn


class Scale(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * self.weight
''',
        'a trainable parameter',
    ),
    Valid(
        '''\
from torch import nn


class Head(nn.Module):
    def __init__(self, dim, classes):
        super().__init__()
        self.dim = dim
        self.fc = nn.Linear(dim, classes)

    def forward(self, x):
        return self.fc(x)
''',
        'a submodule and an int',
    ),
    Valid(
        '''\
import torch
from torch import nn


class Cache(nn.Module):
    def __init__(self):
        super().__init__()
        self.keys = None

    def forward(self, k):
        self.keys = k if self.keys is None else torch.cat([self.keys, k])
        return self.keys
''',
        'a cache set in forward, not a constant of __init__',
    ),
    Valid(
        '''\
import numpy as np
from torch import nn


class Lookup(nn.Module):
    def __init__(self):
        super().__init__()
        self.table = np.arange(10)

    def forward(self, i):
        return self.table[i]
''',
        'a numpy array, not a torch tensor',
    ),
    Valid(
        '''\
import torch
from torch import nn


class Normalize(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.zeros(3))

    def forward(self, x):
        return x - self.mean.to(x)
''',
        '`.to(x)` also converts the dtype',
    ),
)
