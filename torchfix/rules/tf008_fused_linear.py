"""TF008 fused-linear: parallel ``nn.Linear`` layers on one input -> one fused layer."""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field

import libcst as cst

from torchfix.names import dotted_name
from torchfix.patterns import normal_form, arg, code, has_star_args, is_pure, make_call
from torchfix.rule import Applicability, Example, Fix, Rule, Valid
from torchfix.rules._nn_classes import (
    HOOK_PREFIX,
    FileIndex,
    body_names,
    changed_in,
    class_names_in_body,
    file_index,
    may_be_module_class,
    method,
    paths_in,
    self_attribute,
    self_name,
)
from torchfix.walk import walk

UNSAFE = Applicability.UNSAFE
LINEAR = ("torch.nn.Linear", "torch.nn.modules.linear.Linear")
MODULE_LIST = ("torch.nn.ModuleList", "torch.nn.modules.container.ModuleList")
_LINEAR_ARGS = ("in_features", "out_features", "bias", "device", "dtype")
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
#: names the generated load hook binds; the file's torch alias must not be one of them
_HOOK_LOCALS = ("module", "state_dict", "prefix", "args", "suffix", "keys", "name", "key")
ASSUMPTION = (
    "assumes nothing else uses the separate layers (state_dict keys and parameters() change; the added "
    "load hook converts old checkpoints) and no .view() merges the last dimension of a split output."
)
_HOOK = '''\
@staticmethod
def {hook}(module, state_dict, prefix, *args):
    """Load checkpoints saved with separate {listing} layers into {fused}."""
    for suffix in ("weight", "bias"):
        keys = [f"{{prefix}}{{name}}.{{suffix}}" for name in {names}]
        if all(key in state_dict for key in keys):
            state_dict[f"{{prefix}}{fused}.{{suffix}}"] = {cat}([state_dict.pop(key) for key in keys])
'''


def form(node: cst.CSTNode | None) -> str:
    """A hashable form of an expression that ignores formatting ("" for None)."""
    return "" if node is None else (normal_form(code(node)) or code(node))


@dataclass
class _Decl:
    """``self.<name> = nn.Linear(...)`` in ``__init__``."""

    name: str
    assign: cst.Assign
    call: cst.Call
    out_arg: cst.Arg
    key: tuple[str, str, str, str]

    @property
    def out(self) -> cst.BaseExpression:
        return self.out_arg.value


@dataclass
class _Call:
    """``self.<layer>(<input>)`` in a method."""

    call: cst.Call
    method: cst.FunctionDef
    input: cst.BaseExpression
    line: cst.SimpleStatementLine | None
    #: why this call cannot move (inside a lambda, a comprehension, ...)
    problem: str | None

    #: the statement list holding ``line``
    block: cst.CSTNode | None = None
    #: which value of the input the call sees (see ``_ClassFusion._version``)
    version: int = -1

    @property
    def cluster(self) -> tuple[int, int, str, int]:
        """Calls of one cluster fuse into one: same method, same block, same value of the same input."""
        return (id(self.method), id(self.block), form(self.input), self.version)


@dataclass
class _Layer:
    decl: _Decl
    calls: list[_Call] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.decl.name


def _parse_linear(call: cst.BaseExpression, names) -> tuple[cst.Arg, tuple[str, str, str, str]] | None:
    """(the out_features argument, the fusion key) of an ``nn.Linear(...)`` call we fully understand."""
    if not isinstance(call, cst.Call) or names.qualified(call.func) not in LINEAR or has_star_args(call):
        return None
    positional = [a for a in call.args if a.keyword is None]
    if len(positional) > len(_LINEAR_ARGS):
        return None
    if any(a.keyword is not None and a.keyword.value not in _LINEAR_ARGS for a in call.args):
        return None
    values = {name: arg(call, name, i) for i, name in enumerate(_LINEAR_ARGS)}
    if values["in_features"] is None or values["out_features"] is None:
        return None
    bias = values["bias"].value if values["bias"] is not None else cst.Name("True")
    key = tuple(form(v.value if isinstance(v, cst.Arg) else v) for v in (
        values["in_features"], bias, values["device"], values["dtype"]))
    return values["out_features"], key


def _listing(names: list[str]) -> str:
    quoted = [f"`self.{n}`" for n in names]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _affixes(parts: list[str]) -> tuple[str, str]:
    """The prefix and suffix the names share: whole words, or all but one letter (``wq``, ``wk``)."""
    prefix = _common(parts)
    suffix = _common([p[len(prefix):][::-1] for p in parts])[::-1]
    if not all(len(p) - len(prefix) - len(suffix) == 1 for p in parts):
        # Cut the shared affixes back to a word boundary: query/key share no word.
        prefix = prefix[: prefix.rfind("_") + 1]
        suffix = suffix[suffix.find("_"):] if "_" in suffix else ""
    return prefix, suffix


def fused_name(parts: list[str]) -> str:
    """``q, k, v`` -> ``qkv``; ``q_proj, k_proj`` -> ``qk_proj``; ``query, key`` -> ``query_key``."""
    prefix, suffix = _affixes(parts)
    middles = [p[len(prefix):len(p) - len(suffix)] for p in parts]
    if not all(middles):
        return "_".join(parts)
    joined = "".join(middles) if all(len(m) == 1 for m in middles) else "_".join(middles)
    return prefix + joined + suffix


def _common(words: list[str]) -> str:
    shortest = min(words, key=len)
    for i, ch in enumerate(shortest):
        if any(w[i] != ch for w in words):
            return shortest[:i]
    return shortest


_EXAMPLES = (
    # q, k, v of equal width: one layer, chunk, and the checkpoint hook.
    Example(
        '''\
import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim, heads=4):
        super().__init__()
        self.heads = heads
        # projections
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        q = self.q(x)
        k = self.k(x)
        v = self.v(x)
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj(attn @ v)
''',
        '''\
import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim, heads=4):
        super().__init__()
        self.heads = heads
        # projections
        self.qkv = nn.Linear(dim, 3 * dim)
        self.register_load_state_dict_pre_hook(self._load_unfused_qkv)
        self.proj = nn.Linear(dim, dim)

    @staticmethod
    def _load_unfused_qkv(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate q, k, v layers into qkv."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("q", "k", "v")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}qkv.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj(attn @ v)
''',
        applicability=UNSAFE,
        row='equal',
        inputs={"dim": "int:16", "x": "float(2, 5, 16)"},
    ),
    # bias=False, `import torch as t`.
    Example(
        '''\
import torch as t


class SelfAttention(t.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.to_q = t.nn.Linear(dim, dim, bias=False)
        self.to_k = t.nn.Linear(dim, dim, bias=False)
        self.to_v = t.nn.Linear(dim, dim, bias=False)

    def forward(self, x):
        q = self.to_q(x)
        k = self.to_k(x)
        v = self.to_v(x)
        scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
        return scores.softmax(dim=-1) @ v
''',
        '''\
import torch as t


class SelfAttention(t.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.to_qkv = t.nn.Linear(dim, 3 * dim, bias=False)
        self.register_load_state_dict_pre_hook(self._load_unfused_to_qkv)

    @staticmethod
    def _load_unfused_to_qkv(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate to_q, to_k, to_v layers into to_qkv."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("to_q", "to_k", "to_v")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}to_qkv.{suffix}"] = t.cat([state_dict.pop(key) for key in keys])

    def forward(self, x):
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
        return scores.softmax(dim=-1) @ v
''',
        applicability=UNSAFE,
        row='equal',
        inputs={"dim": "int:16", "x": "float(2, 5, 16)"},
    ),
    # `from torch.nn import Linear`, device= kept; the hook needs `import torch`.
    Example(
        '''\
from torch.nn import Linear, Module


class KeyValue(Module):
    def __init__(self, dim, device=None):
        super().__init__()
        self.key = Linear(dim, dim, device=device)
        self.value = Linear(dim, dim, device=device)

    def forward(self, memory):
        key = self.key(memory)
        value = self.value(memory)
        return key.tanh() * value
''',
        '''\
from torch.nn import Linear, Module
import torch


class KeyValue(Module):
    def __init__(self, dim, device=None):
        super().__init__()
        self.key_value = Linear(dim, 2 * dim, device=device)
        self.register_load_state_dict_pre_hook(self._load_unfused_key_value)

    @staticmethod
    def _load_unfused_key_value(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate key, value layers into key_value."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("key", "value")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}key_value.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    def forward(self, memory):
        key, value = self.key_value(memory).chunk(2, dim=-1)
        return key.tanh() * value
''',
        applicability=UNSAFE,
        row='equal',
        inputs={"dim": "int:16", "memory": "float(2, 5, 16)"},
    ),
    # the layers called from a helper method.
    Example(
        '''\
import torch
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def project(self, hidden):
        q = self.q_proj(hidden)
        k = self.k_proj(hidden)
        v = self.v_proj(hidden)
        return q, k, v

    def forward(self, hidden):
        q, k, v = self.project(hidden)
        weights = torch.softmax(q @ k.transpose(1, 2), dim=-1)
        return self.out_proj(weights @ v)
''',
        '''\
import torch
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.qkv_proj = nn.Linear(dim, 3 * dim)
        self.register_load_state_dict_pre_hook(self._load_unfused_qkv_proj)
        self.out_proj = nn.Linear(dim, dim)

    @staticmethod
    def _load_unfused_qkv_proj(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate q_proj, k_proj, v_proj layers into qkv_proj."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("q_proj", "k_proj", "v_proj")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}qkv_proj.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    def project(self, hidden):
        q, k, v = self.qkv_proj(hidden).chunk(3, dim=-1)
        return q, k, v

    def forward(self, hidden):
        q, k, v = self.project(hidden)
        weights = torch.softmax(q @ k.transpose(1, 2), dim=-1)
        return self.out_proj(weights @ v)
''',
        applicability=UNSAFE,
        row='equal',
        inputs={"dim": "int:16", "hidden": "float(2, 5, 16)"},
    ),
    # calls nested in reshapes get fresh names; the hook sees the submodule's prefix (`attn.`).
    Example(
        '''\
import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim, num_heads=2):
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        q = self.q(x).reshape(B, N, self.num_heads, -1).transpose(1, 2)
        k = self.k(x).reshape(B, N, self.num_heads, -1).transpose(1, 2)
        v = self.v(x).reshape(B, N, self.num_heads, -1).transpose(1, 2)
        x = torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
        return x.transpose(1, 2).reshape(B, N, C)


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(dim)

    def forward(self, x):
        return x + self.attn(self.norm(x))
''',
        '''\
import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim, num_heads=2):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.register_load_state_dict_pre_hook(self._load_unfused_qkv)

    @staticmethod
    def _load_unfused_qkv(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate q, k, v layers into qkv."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("q", "k", "v")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}qkv.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    def forward(self, x):
        B, N, C = x.shape
        q_out, k_out, v_out = self.qkv(x).chunk(3, dim=-1)
        q = q_out.reshape(B, N, self.num_heads, -1).transpose(1, 2)
        k = k_out.reshape(B, N, self.num_heads, -1).transpose(1, 2)
        v = v_out.reshape(B, N, self.num_heads, -1).transpose(1, 2)
        x = torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
        return x.transpose(1, 2).reshape(B, N, C)


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(dim)

    def forward(self, x):
        return x + self.attn(self.norm(x))
''',
        applicability=UNSAFE,
        row='nested',
        inputs={"dim": "int:16", "x": "float(2, 5, 16)"},
    ),
    # grouped-query attention: k and v narrower than q; widths use a local of __init__, so they are stored.
    Example(
        '''\
import torch
import torch.nn as nn


class GroupedQueryAttention(nn.Module):
    def __init__(self, dim, n_heads, n_kv_heads):
        super().__init__()
        self.head_dim = dim // n_heads
        self.n_kv_heads = n_kv_heads
        self.wq = nn.Linear(dim, n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(dim, n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(dim, n_kv_heads * self.head_dim, bias=False)

    def forward(self, x):
        b, t, _ = x.shape
        q = self.wq(x).view(b, t, -1, self.head_dim).transpose(1, 2)
        k = self.wk(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.wv(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        repeat = q.shape[1] // self.n_kv_heads
        k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
        out = torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
        return out.transpose(1, 2).reshape(b, t, -1)
''',
        '''\
import torch
import torch.nn as nn


class GroupedQueryAttention(nn.Module):
    def __init__(self, dim, n_heads, n_kv_heads):
        super().__init__()
        self.head_dim = dim // n_heads
        self.n_kv_heads = n_kv_heads
        self.wqkv = nn.Linear(dim, n_heads * self.head_dim + n_kv_heads * self.head_dim + n_kv_heads * self.head_dim, bias=False)
        self.wqkv_sizes = [n_heads * self.head_dim, n_kv_heads * self.head_dim, n_kv_heads * self.head_dim]
        self.register_load_state_dict_pre_hook(self._load_unfused_wqkv)

    @staticmethod
    def _load_unfused_wqkv(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate wq, wk, wv layers into wqkv."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("wq", "wk", "wv")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}wqkv.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    def forward(self, x):
        b, t, _ = x.shape
        wq_out, wk_out, wv_out = self.wqkv(x).split(self.wqkv_sizes, dim=-1)
        q = wq_out.view(b, t, -1, self.head_dim).transpose(1, 2)
        k = wk_out.view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = wv_out.view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        repeat = q.shape[1] // self.n_kv_heads
        k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
        out = torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
        return out.transpose(1, 2).reshape(b, t, -1)
''',
        applicability=UNSAFE,
        row='split',
        inputs={"dim": "int:16", "n_heads": "int:4", "n_kv_heads": "int:2", "x": "float(2, 5, 16)"},
    ),
    # grouped-query attention whose widths the method can compute; a tuple of calls becomes the split.
    Example(
        '''\
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, dim, n_heads, n_kv_heads):
        super().__init__()
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads
        self.head_dim = dim // n_heads
        self.wq = nn.Linear(dim, self.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(dim, self.n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(dim, self.n_kv_heads * self.head_dim, bias=False)

    def forward(self, x):
        bsz, seqlen, _ = x.shape
        xq, xk, xv = self.wq(x), self.wk(x), self.wv(x)
        xq = xq.view(bsz, seqlen, self.n_heads, self.head_dim).transpose(1, 2)
        xk = xk.view(bsz, seqlen, self.n_kv_heads, self.head_dim).transpose(1, 2)
        xv = xv.view(bsz, seqlen, self.n_kv_heads, self.head_dim).transpose(1, 2)
        out = F.scaled_dot_product_attention(xq, xk, xv, enable_gqa=True)
        return out.transpose(1, 2).reshape(bsz, seqlen, -1)
''',
        '''\
import torch.nn as nn
import torch.nn.functional as F
import torch


class Attention(nn.Module):
    def __init__(self, dim, n_heads, n_kv_heads):
        super().__init__()
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads
        self.head_dim = dim // n_heads
        self.wqkv = nn.Linear(dim, self.n_heads * self.head_dim + self.n_kv_heads * self.head_dim + self.n_kv_heads * self.head_dim, bias=False)
        self.register_load_state_dict_pre_hook(self._load_unfused_wqkv)

    @staticmethod
    def _load_unfused_wqkv(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate wq, wk, wv layers into wqkv."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("wq", "wk", "wv")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}wqkv.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    def forward(self, x):
        bsz, seqlen, _ = x.shape
        xq, xk, xv = self.wqkv(x).split([self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim, self.n_kv_heads * self.head_dim], dim=-1)
        xq = xq.view(bsz, seqlen, self.n_heads, self.head_dim).transpose(1, 2)
        xk = xk.view(bsz, seqlen, self.n_kv_heads, self.head_dim).transpose(1, 2)
        xv = xv.view(bsz, seqlen, self.n_kv_heads, self.head_dim).transpose(1, 2)
        out = F.scaled_dot_product_attention(xq, xk, xv, enable_gqa=True)
        return out.transpose(1, 2).reshape(bsz, seqlen, -1)
''',
        applicability=UNSAFE,
        row='split',
        inputs={"dim": "int:16", "n_heads": "int:4", "n_kv_heads": "int:2", "x": "float(2, 5, 16)"},
    ),
    # SwiGLU: gate and up projections nested in one expression.
    Example(
        '''\
import torch.nn as nn
import torch.nn.functional as F


class FeedForward(nn.Module):
    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden_dim, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))
''',
        '''\
import torch.nn as nn
import torch.nn.functional as F
import torch


class FeedForward(nn.Module):
    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.w13 = nn.Linear(dim, 2 * hidden_dim, bias=False)
        self.register_load_state_dict_pre_hook(self._load_unfused_w13)

    @staticmethod
    def _load_unfused_w13(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate w1, w3 layers into w13."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("w1", "w3")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}w13.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    def forward(self, x):
        w1_out, w3_out = self.w13(x).chunk(2, dim=-1)
        return self.w2(F.silu(w1_out) * w3_out)
''',
        applicability=UNSAFE,
        row='nested',
        inputs={"dim": "int:16", "hidden_dim": "int:32", "x": "float(2, 5, 16)"},
    ),
    # calls as arguments; query, key, value -> query_key_value.
    Example(
        '''\
import torch
from torch import nn


class BertSelfAttention(nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)

    def attend(self, q, k, v):
        return torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v

    def forward(self, hidden_states):
        return self.attend(self.query(hidden_states), self.key(hidden_states), self.value(hidden_states))
''',
        '''\
import torch
from torch import nn


class BertSelfAttention(nn.Module):
    def __init__(self, hidden_size):
        super().__init__()
        self.query_key_value = nn.Linear(hidden_size, 3 * hidden_size)
        self.register_load_state_dict_pre_hook(self._load_unfused_query_key_value)

    @staticmethod
    def _load_unfused_query_key_value(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate query, key, value layers into query_key_value."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("query", "key", "value")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}query_key_value.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    def attend(self, q, k, v):
        return torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v

    def forward(self, hidden_states):
        query_out, key_out, value_out = self.query_key_value(hidden_states).chunk(3, dim=-1)
        return self.attend(query_out, key_out, value_out)
''',
        applicability=UNSAFE,
        row='nested',
        inputs={"hidden_size": "int:16", "hidden_states": "float(2, 5, 16)"},
    ),
    # VAE encoder: a tuple return of the two heads.
    Example(
        '''\
import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self, in_dim, hidden, latent):
        super().__init__()
        self.fc = nn.Linear(in_dim, hidden)
        self.fc_mu = nn.Linear(hidden, latent)
        self.fc_logvar = nn.Linear(hidden, latent)

    def encode(self, x):
        h = torch.relu(self.fc(x))
        return self.fc_mu(h), self.fc_logvar(h)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return mu, torch.exp(0.5 * logvar)
''',
        '''\
import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self, in_dim, hidden, latent):
        super().__init__()
        self.fc = nn.Linear(in_dim, hidden)
        self.fc_mu_logvar = nn.Linear(hidden, 2 * latent)
        self.register_load_state_dict_pre_hook(self._load_unfused_fc_mu_logvar)

    @staticmethod
    def _load_unfused_fc_mu_logvar(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate fc_mu, fc_logvar layers into fc_mu_logvar."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("fc_mu", "fc_logvar")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}fc_mu_logvar.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    def encode(self, x):
        h = torch.relu(self.fc(x))
        return self.fc_mu_logvar(h).chunk(2, dim=-1)

    def forward(self, x):
        mu, logvar = self.encode(x)
        return mu, torch.exp(0.5 * logvar)
''',
        applicability=UNSAFE,
        row='tuple',
        inputs={"in_dim": "int:8", "hidden": "int:16", "latent": "int:4", "x": "float(3, 8)"},
    ),
    # cross-attention: only k and v share an input.
    Example(
        '''\
import torch
from torch import nn


class CrossAttention(nn.Module):
    def __init__(self, query_dim, context_dim, inner_dim):
        super().__init__()
        self.to_q = nn.Linear(query_dim, inner_dim, bias=False)
        self.to_k = nn.Linear(context_dim, inner_dim, bias=False)
        self.to_v = nn.Linear(context_dim, inner_dim, bias=False)
        self.to_out = nn.Linear(inner_dim, query_dim)

    def forward(self, x, context):
        q = self.to_q(x)
        k = self.to_k(context)
        v = self.to_v(context)
        attn = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
        return self.to_out(attn @ v)
''',
        '''\
import torch
from torch import nn


class CrossAttention(nn.Module):
    def __init__(self, query_dim, context_dim, inner_dim):
        super().__init__()
        self.to_q = nn.Linear(query_dim, inner_dim, bias=False)
        self.to_kv = nn.Linear(context_dim, 2 * inner_dim, bias=False)
        self.register_load_state_dict_pre_hook(self._load_unfused_to_kv)
        self.to_out = nn.Linear(inner_dim, query_dim)

    @staticmethod
    def _load_unfused_to_kv(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate to_k, to_v layers into to_kv."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("to_k", "to_v")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}to_kv.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    def forward(self, x, context):
        q = self.to_q(x)
        k, v = self.to_kv(context).chunk(2, dim=-1)
        attn = torch.softmax(q @ k.transpose(-1, -2), dim=-1)
        return self.to_out(attn @ v)
''',
        applicability=UNSAFE,
        row='partial',
        inputs={"query_dim": "int:16", "context_dim": "int:12", "inner_dim": "int:8", "x": "float(2, 5, 16)", "context": "float(2, 7, 12)"},
    ),
    # two groups in one class, fixed in two passes.
    Example(
        '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x):
        q, k, v = self.wq(x), self.wk(x), self.wv(x)
        h = x + torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
        return h + self.w2(F.silu(self.w1(h)) * self.w3(h))
''',
        '''\
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.wqkv = nn.Linear(dim, 3 * dim, bias=False)
        self.register_load_state_dict_pre_hook(self._load_unfused_wqkv)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w13 = nn.Linear(dim, 2 * hidden, bias=False)
        self.register_load_state_dict_pre_hook(self._load_unfused_w13)

    @staticmethod
    def _load_unfused_wqkv(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate wq, wk, wv layers into wqkv."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("wq", "wk", "wv")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}wqkv.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    @staticmethod
    def _load_unfused_w13(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate w1, w3 layers into w13."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("w1", "w3")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}w13.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    def forward(self, x):
        q, k, v = self.wqkv(x).chunk(3, dim=-1)
        h = x + torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
        w1_out, w3_out = self.w13(h).chunk(2, dim=-1)
        return h + self.w2(F.silu(w1_out) * w3_out)
''',
        applicability=UNSAFE,
        row='nested',
        inputs={"dim": "int:16", "hidden": "int:32", "x": "float(2, 5, 16)"},
        findings=2,
    ),
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
    ),
)
_VALID = (
    Valid(
        '''\
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.fc1(x).relu())
''',
        "sequential layers: fc2 runs on fc1's output",
    ),
    Valid(
        '''\
import torch.nn as nn


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.proj((q @ k.transpose(-2, -1)).softmax(-1) @ v)
''',
        'already fused',
    ),
    Valid(
        '''\
import torch.nn as nn


class TwoTower(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.user = nn.Linear(dim, dim)
        self.item = nn.Linear(dim, dim)

    def forward(self, users, items):
        return (self.user(users) * self.item(items)).sum(-1)
''',
        'each layer has its own input (a two-tower model)',
    ),
    Valid(
        '''\
import torch.nn as nn


class Heads:
    def __init__(self, dim):
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)

    def __call__(self, x):
        return self.q(x), self.k(x)
''',
        'not an nn.Module',
    ),
    Valid(
        '''\
import torch.nn as nn


class Deep(nn.Module):
    def __init__(self, dim, depth):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim, dim) for _ in range(depth)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x).relu()
        return x
''',
        'a ModuleList applied in sequence, not in parallel',
    ),
    Valid(
        '''\
import torch.nn as nn


class Branches(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.a = nn.Conv2d(channels, channels, 1)
        self.b = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        return self.a(x) + self.b(x)
''',
        'convolutions are not matched',
    ),
    Valid(
        '''\
import torch.nn as nn


class Mixer(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.a = nn.Linear(dim, dim)
        self.b = nn.Linear(dim, dim)

    def forward(self, x):
        a = self.a(x)
        x = self.norm(x)
        b = self.b(x)
        return a * b
''',
        'the input changes between the calls: b runs on the normalised x',
    ),
)


class FusedLinear(Rule):
    CODE = "TF008"
    SLUG = "fused-linear"
    IDIOM = "one fused nn.Linear"
    SUMMARY = "Fuse parallel nn.Linear layers applied to the same input into one layer and split its output."
    FIX_SAFETY = "unsafe"
    DOCS = """\
## Why
Separate `q`, `k`, `v` (or SwiGLU gate and up) projections of one input launch
one matrix multiply each; one `nn.Linear` with the widths added up does the same
work in a single, larger and faster GEMM, and the output is split with `chunk`
(equal widths) or `split([...])`.

## Fix safety
Unsafe: `state_dict()` keys and `parameters()` change (`q.weight`, `k.weight`,
`v.weight` become `qkv.weight`). The fix therefore also adds a load-state-dict
pre-hook, registered with the public `register_load_state_dict_pre_hook`, that
concatenates the old weights and biases into the fused keys, so a checkpoint
saved before the rewrite loads with `strict=True` and gives the same outputs
(and the same gradients: the fused weight's gradient is the concatenation of the
old ones). The hook is a static method of the class (picklable, no torchfix
import). Optimizer states saved before the rewrite do not convert.

Detection: in one `nn.Module` subclass, two or more `nn.Linear` attributes with
the same input width expression, bias flag and `device=`/`dtype=`, each called
only as `self.<name>(x)` on the same input expression, in the same block, with
`x` not reassigned or changed in place between the calls (`x = self.fc1(x)`
then `self.fc2(x)` is a sequence, not a group). Anything else that
touches a layer is a reason to skip, and the finding says which: per-layer
init or weight access (`nn.init.*(self.q.weight)`, `self.q.weight`), a layer
passed to a function or used as a value, called on another input or twice, a
layer created in a loop, a `ModuleList` or under a conditional (both forms
behind a flag), the layer name in a string literal of the file (parallelism
plans, checkpoint key filters, conversion maps), mixed bias, layers used from
outside the class (`attn.to_q(x)`), an input that is itself a call. Layers run
on different inputs are grouped per input: cross-attention fuses `k` and `v`
and leaves `q`.

The fused layer is named from the parts (`q, k, v` -> `qkv`,
`query, key, value` -> `query_key_value`, `w1, w3` -> `w13`), free in the class.
It is created where the last part was (all widths are in scope there). Calls
become one `self.qkv(x).chunk(3, dim=-1)` (same width expression) or
`.split([...], dim=-1)`, placed at the first call; a call nested in an
expression gets a fresh local name; a tuple of the calls becomes the split
itself. When the split widths are not computable in the method (a local of
`__init__`), they are stored next to the layer as `self.<fused>_sizes`.

## What could go wrong
- The split outputs are views of one tensor: a `.view()` that merges the last
  dimension with another fails where it worked before (`.reshape` is fine).
- Training from scratch draws different initial weights (same distribution for
  the default init, which depends on the input width only; fan-out based
  inits such as Xavier change scale).
- Code elsewhere in the package that names the old layers (a tensor-parallel
  plan in another file) is not seen: the check only covers this file.

## Verify
`torchfix verify` builds the module before and after, loads the old
`state_dict()` with `strict=True` and compares outputs and gradients.
"""
    ROWS = {
        "equal": "parallel layers of equal width -> one nn.Linear, `.chunk(n, dim=-1)`, plus the checkpoint hook",
        "split": "different widths (grouped-query attention) -> `.split([...], dim=-1)`",
        "nested": "calls nested in expressions (SwiGLU, calls as arguments) -> fresh local names",
        "tuple": "a tuple of the calls (`return self.fc_mu(h), self.fc_logvar(h)`) -> the split itself",
        "partial": "only the layers on the same input fuse (cross-attention: k and v)",
        "skip": "a group that could fuse but is touched elsewhere: reported with the reason, no fix",
    }
    EXAMPLES = _EXAMPLES
    VALID = _VALID

    def __init__(self, context) -> None:
        super().__init__(context)
        #: local names given out in this pass, per function
        self._locals: dict[int, set[str]] = {}

    def fresh_local(self, base: str, function: cst.FunctionDef) -> str:
        """A name free in the whole file and not yet given out in ``function``."""
        taken = self._locals.setdefault(id(function), set())
        candidate, n = base, 1
        while not self.names.is_free(candidate) or candidate in taken:
            n += 1
            candidate = f"{base}{n}"
        taken.add(candidate)
        return candidate

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if not may_be_module_class(node, self.names):
            return
        init = method(node, "__init__")
        self_ = self_name(init) if init is not None else None
        if init is None or self_ is None:
            return
        assigns = _init_assignments(init, self_)
        linears = [a for a in assigns if _parse_linear(a.value, self.names) is not None]
        lists = [a for a in assigns if self._linear_list(a.value)]
        if len(linears) < 2 and not lists:
            return
        index = file_index(self.context)
        if not index.is_module_class(node):
            return
        _ClassFusion(self, index, node, init, self_).run(linears, lists)

    def _linear_list(self, value: cst.BaseExpression) -> bool:
        """``nn.ModuleList([nn.Linear(...) for _ in ...])`` or of two or more alike literal layers."""
        if not isinstance(value, cst.Call) or self.names.qualified(value.func) not in MODULE_LIST:
            return False
        if len(value.args) != 1 or value.args[0].keyword is not None:
            return False
        inner = value.args[0].value
        if isinstance(inner, (cst.ListComp, cst.GeneratorExp)):
            return _parse_linear(inner.elt, self.names) is not None
        if isinstance(inner, (cst.List, cst.Tuple)) and len(inner.elements) >= 2:
            parsed = [_parse_linear(e.value, self.names) for e in inner.elements]
            return all(p is not None for p in parsed) and len({p[1] for p in parsed}) == 1
        return False


def _init_assignments(init: cst.FunctionDef, self_: str) -> list[cst.Assign]:
    """``self.<name> = value`` statements anywhere in ``__init__`` (not in nested functions)."""
    found: list[cst.Assign] = []

    class _Collect(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if len(node.targets) == 1 and self_attribute(node.targets[0].target, self_) is not None:
                found.append(node)

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

    walk(init.body, [_Collect()])
    return found


class _ClassFusion:
    """The analysis and fixes of one class."""

    def __init__(self, rule: FusedLinear, index: FileIndex, cls: cst.ClassDef, init: cst.FunctionDef, self_: str):
        self.rule = rule
        self.names = rule.names
        self.index = index
        self.cls = cls
        self.init = init
        self.self_ = self_
        self._changes: dict[int, set[str]] = {}

    # -- analysis --------------------------------------------------------------

    def run(self, linears: list[cst.Assign], lists: list[cst.Assign]) -> None:
        for assign in lists:
            self._check_list(assign)
        layers = self._layers(linears)
        groups = self._components(layers)
        alone = [layer for layer in layers if all(layer is not m for g in groups for m in g)]
        for group in groups:
            self._check_group(group, alone)

    def _layers(self, linears: list[cst.Assign]) -> list[_Layer]:
        by_name: dict[str, list[cst.Assign]] = {}
        for assign in linears:
            by_name.setdefault(assign.targets[0].target.attr.value, []).append(assign)
        layers = []
        for name, assigns in by_name.items():
            out_arg, key = _parse_linear(assigns[0].value, self.names)
            layer = _Layer(_Decl(name, assigns[0], assigns[0].value, out_arg, key))
            if len(assigns) > 1:
                layer.problems.append(f"`self.{name}` is assigned more than once")
            self._uses(layer)
            layers.append(layer)
        return layers

    def _uses(self, layer: _Layer) -> None:
        """Sort every use of the layer into calls and reasons not to fuse."""
        name = layer.name
        problems = layer.problems
        where = self.index.enclosing(layer.decl.assign, self.init)
        if where is not None:
            problems.append(f"`self.{name}` is created {where}")
        if name in self.index.strings:
            problems.append(f"the name '{name}' appears in a string literal in this file")
        foreign = self.index.foreign_uses(self.cls, name)
        if foreign:
            problems.append(f"`{code(foreign[0].node)}` uses a layer outside the class")
        for use in self.index.self_uses(self.cls, name):
            parent = self.index.parent[use.node]
            if isinstance(parent, cst.AssignTarget) and self.index.parent[parent] is layer.decl.assign:
                continue
            if isinstance(parent, cst.Call) and parent.func is use.node:
                call = self._call(parent, use.method)
                if call is None:
                    problems.append(f"`self.{name}` is called with other arguments")
                else:
                    layer.calls.append(call)
            elif isinstance(parent, cst.Attribute):
                problems.append(f"`{code(parent)}` is used directly")
            elif isinstance(parent, cst.AssignTarget):
                problems.append(f"`self.{name}` is reassigned")
            elif isinstance(parent, cst.Arg):
                func = self.index.parent[parent]
                callee = code(func.func) if isinstance(func, cst.Call) else "a call"
                problems.append(f"`self.{name}` is passed to `{callee}`")
            else:
                problems.append(f"`self.{name}` is used as a value")

    def _call(self, node: cst.Call, method_: cst.FunctionDef) -> _Call | None:
        if len(node.args) != 1 or node.args[0].keyword is not None or node.args[0].star:
            return None
        problem = None
        for ancestor in self.index.ancestors(node):
            if isinstance(ancestor, (cst.BaseStatement, cst.BaseSmallStatement)):
                break
            if isinstance(ancestor, (cst.IfExp, cst.BooleanOperation)):
                problem = "under a conditional expression"
            elif isinstance(ancestor, cst.Lambda):
                problem = "inside a lambda"
            elif isinstance(ancestor, _COMPREHENSIONS):
                problem = "inside a comprehension"
        line = self.index.line_of(node)
        if line is None and problem is None:
            problem = "in the header of a compound statement"
        if line is None:
            return _Call(node, method_, node.args[0].value, line, problem, version=id(node))
        block = self.index.parent[line]
        version = self._version(node, line, block)
        return _Call(node, method_, node.args[0].value, line, problem, block, version)

    def _version(self, node: cst.Call, line: cst.SimpleStatementLine, block) -> int:
        """The position of the last statement before the call, in its block, that changes its input
        (-1: none): calls with the same version see the same value (`x = f(self.a(x)); self.b(x)` differ)."""
        paths = paths_in(node.args[0].value)
        small = next(a for a in self.index.ancestors(node) if isinstance(a, cst.BaseSmallStatement))
        version, position = -1, 0
        for statement in block.body:
            for part in statement.body if isinstance(statement, cst.SimpleStatementLine) else [statement]:
                if part is small:
                    return version
                if id(part) not in self._changes:
                    self._changes[id(part)] = changed_in([part])
                if paths & self._changes[id(part)]:
                    version = position
                position += 1
        return version

    def _components(self, layers: list[_Layer]) -> list[list[_Layer]]:
        """Layers linked by a shared (method, input), in declaration order; two or more each."""
        groups: list[list[_Layer]] = []
        for layer in layers:
            clusters = {c.cluster for c in layer.calls}
            linked = [g for g in groups if any(c.cluster in clusters for other in g for c in other.calls)]
            groups = [g for g in groups if all(g is not x for x in linked)]
            groups.append([m for g in linked for m in g] + [layer])
        order = {id(layer): i for i, layer in enumerate(layers)}
        result = [sorted(g, key=lambda layer: order[id(layer)]) for g in groups if len(g) >= 2]
        return sorted(result, key=lambda g: order[id(g[0])])

    def _check_group(self, group: list[_Layer], alone: list[_Layer]) -> None:
        reason = self._reason(group)
        listing = _listing([layer.name for layer in group])
        anchor = group[0].decl.assign
        if reason is None:
            fix, fused = self._fix(group)
            if fix is not None:
                note = self._left_out(group, alone)
                message = f"Fuse {listing} (parallel nn.Linear on one input) into one `self.{fused}`{note}."
                self.rule.report(anchor, message, fix)
                return
            reason = fused
        self.rule.report(anchor, f"{listing} are parallel nn.Linear layers that could be one fused layer; no fix: {reason}.")

    def _reason(self, group: list[_Layer]) -> str | None:
        for layer in group:
            if layer.problems:
                return layer.problems[0]
        difference = self._key_difference(group)
        if difference is not None:
            return difference
        lines = [self.index.line_of(layer.decl.assign) for layer in group]
        if any(line is None or len(line.body) != 1 for line in lines):
            return "a declaration shares its line with other statements"
        if len({id(self.index.parent[line]) for line in lines}) != 1:
            return "they are created in different blocks"
        # The fused layer is created where the last part was: what the earlier parts read must not
        # change on the way there.
        block = self.index.parent[lines[0]].body
        last = block.index(lines[-1])
        for layer, line in zip(group, lines):
            between = [s for s in block[block.index(line) + 1:last] if all(s is not other for other in lines)]
            if paths_in(layer.decl.call) & changed_in(between):
                return f"a name in the widths of `self.{layer.name}` changes before the last declaration"
        for layer in group:
            seen = [c.cluster for c in layer.calls]
            twice = next((c for c in layer.calls if seen.count(c.cluster) > 1), None)
            if twice is not None:
                return f"`self.{layer.name}` is called more than once on `{code(twice.input)}`"
        everywhere = {c.cluster: c for layer in group for c in layer.calls}
        for layer in group:
            missing = set(everywhere) - {c.cluster for c in layer.calls}
            if missing:
                odd = next(everywhere[k] for k in everywhere if k in missing)
                return f"they are not all called on the same inputs (`{code(odd.call)}`)"
        for calls in self._clusters(group):
            reason = self._cluster_reason(calls)
            if reason is not None:
                return reason
        return None

    def _key_difference(self, group: list[_Layer]) -> str | None:
        first = group[0].decl.key
        for layer in group[1:]:
            key = layer.decl.key
            if key[1] != first[1]:
                return f"mixed bias (`self.{group[0].name}` and `self.{layer.name}` differ)"
            if key[0] != first[0]:
                return f"the input width of `self.{layer.name}` is written differently"
            if key[2:] != first[2:]:
                return f"`self.{layer.name}` has another device= or dtype="
        return None

    @staticmethod
    def _clusters(group: list[_Layer]) -> list[list[_Call]]:
        """For each (method, input): the group's calls there, in layer order."""
        return [
            [next(c for c in layer.calls if c.cluster == call.cluster) for layer in group]
            for call in group[0].calls
        ]

    def _cluster_reason(self, calls: list[_Call]) -> str | None:
        for call in calls:
            if call.problem is not None:
                return f"a call is {call.problem}"
        source = calls[0].input
        if not is_pure(source) or _calls_module(source, self_name(calls[0].method)):
            return f"the input `{code(source)}` is an expression with calls (assign it to a variable first)"
        block = calls[0].block.body
        positions = sorted(block.index(c.line) for c in calls)
        changed = changed_in(block[positions[0]:positions[-1]])
        last = block[positions[-1]]
        only = last.body[0] if len(last.body) == 1 else None
        # The last line's own assignment happens after its calls.
        if isinstance(only, (cst.Assign, cst.AugAssign, cst.AnnAssign)) and only.value is not None:
            changed |= changed_in([only.value])
        else:
            changed |= changed_in([last])
        if paths_in(source) & changed:
            return f"`{code(source)}` changes between the calls"
        return None

    def _left_out(self, group: list[_Layer], alone: list[_Layer]) -> str:
        """A note on ungrouped layers named like the group that the same methods call on another of
        their parameters (cross-attention: `to_q` on `x`, `to_k` and `to_v` on `context`)."""
        methods_ = {id(c.method) for c in group[0].calls}
        prefix, suffix = _affixes([layer.name for layer in group])
        others = [
            layer.name
            for layer in alone
            if layer.name.startswith(prefix)
            and layer.name.endswith(suffix)
            and len(layer.name) > len(prefix) + len(suffix)
            and any(id(c.method) in methods_ and _is_parameter(c.input, c.method) for c in layer.calls)
        ]
        if not others:
            return ""
        verb = "runs" if len(others) == 1 else "run"
        return f" ({', '.join(f'`self.{n}`' for n in others)} {verb} on another input and stays separate)"

    def _check_list(self, assign: cst.Assign) -> None:
        """A ModuleList of Linear layers each called on one input: report, never fix."""
        name = assign.targets[0].target.attr.value
        for use in self.index.self_uses(self.cls, name):
            source = self._parallel_source(use.node)
            if source is not None:
                self.rule.report(
                    assign,
                    f"The nn.Linear layers in `self.{name}` all run on `{code(source)}` and could be one fused "
                    f"layer; no fix: they are created in a loop or ModuleList (indexed keys such as `{name}.0.weight`).",
                )
                return

    def _parallel_source(self, node: cst.Attribute) -> cst.BaseExpression | None:
        """The input when ``node`` is iterated and each item is called on it: ``[h(x) for h in self.heads]``."""
        parent = self.index.parent.get(node)
        if isinstance(parent, cst.CompFor) and parent.iter is node:
            body = getattr(self.index.parent[parent], "elt", None)
            target, writes = parent.target, set()
        elif isinstance(parent, cst.For) and parent.iter is node:
            target, body = parent.target, parent.body
            writes = changed_in([parent.body])
        else:
            return None
        if body is None or not isinstance(target, cst.Name):
            return None
        item = target.value
        found: list[cst.BaseExpression] = []

        class _Calls(cst.CSTVisitor):
            def visit_Call(self, call: cst.Call) -> None:
                if isinstance(call.func, cst.Name) and call.func.value == item and len(call.args) == 1:
                    found.append(call.args[0].value)

        walk(body, [_Calls()])
        if len(found) != 1 or item in paths_in(found[0]) or paths_in(found[0]) & writes:
            return None
        return found[0]

    # -- the fix ---------------------------------------------------------------

    def _fix(self, group: list[_Layer]) -> tuple[Fix | None, str]:
        """The fix and the fused name, or (None, the reason there is no fix)."""
        parts = [layer.name for layer in group]
        cat = self.names.reference("torch.cat")
        if cat is None or code(cat.expr).split(".")[0] in _HOOK_LOCALS or self._shadows_all():
            return None, "the load hook's names would clash with this file's names"
        fused = self._free_attribute(fused_name(parts))
        hook = self._free_attribute(f"{HOOK_PREFIX}{fused}")
        decls = [layer.decl for layer in group]
        outs = [d.out for d in decls]
        equal = len({form(o) for o in outs}) == 1
        sizes_attr = None
        if not equal and not self._computable_in_methods(outs, group):
            sizes_attr = self._free_attribute(f"{fused}_sizes")
        edits: dict[cst.CSTNode, object] = {}
        self._edit_init(edits, decls, fused, hook, sizes_attr, equal)
        hook_def = self._hook_def(hook, fused, parts, code(cat.expr))
        edits[self._hook_anchor()] = lambda updated: cst.FlattenSentinel([updated, hook_def])
        for calls in self._clusters(group):
            self._edit_calls(edits, calls, fused, outs, equal, sizes_attr)
        return Fix(UNSAFE, edits, imports=cat.imports, assumption=ASSUMPTION), fused

    def _hook_anchor(self) -> cst.FunctionDef:
        """The method the new hook follows: ``__init__``, or the hooks earlier fixes put after it."""
        body = list(self.cls.body.body)
        anchor = self.init
        for stmt in body[body.index(self.init) + 1:]:
            if not (isinstance(stmt, cst.FunctionDef) and stmt.name.value.startswith(HOOK_PREFIX)):
                break
            anchor = stmt
        return anchor

    def _shadows_all(self) -> bool:
        """Whether the file rebinds the builtin ``all`` the hook uses."""
        return "all" in self.names.bindings or "all" in body_names(self.rule.context.module.body)

    def _free_attribute(self, base: str) -> str:
        """``base`` or ``base_2``, ... : no attribute, method or file name of that spelling in the class."""
        candidate, n = base, 1
        while not self._attribute_free(candidate):
            n += 1
            candidate = f"{base}_{n}"
        return candidate

    def _attribute_free(self, name: str) -> bool:
        if keyword.iskeyword(name) or name in _MODULE_ATTRIBUTES:
            return False
        for classes in self.index.classes.values():
            if any(self.index.related(self.cls, c) and name in class_names_in_body(c) for c in classes):
                return False
        return all(
            use.is_self and use.owner is not None and not self.index.related(self.cls, use.owner)
            for use in self.index.uses.get(name, ())
        )

    def _computable_in_methods(self, outs: list[cst.BaseExpression], group: list[_Layer]) -> bool:
        """Whether the widths can be written again in the calling methods: literals and
        ``self.<attr>`` set once, in ``__init__`` before the layers, and methods using the same self name."""
        if any(self_name(c.method) != self.self_ for layer in group for c in layer.calls):
            return False
        last = self.index.line_of(group[-1].decl.assign)
        block = self.index.parent[last].body
        for path in set().union(*(paths_in(o) for o in outs)):
            if path == self.self_:
                continue
            attribute = path.split(".")
            if len(attribute) != 2 or attribute[0] != self.self_:
                return False
            stores = [u for u in self.index.self_uses(self.cls, attribute[1]) if _is_store(self.index, u.node)]
            if len(stores) != 1 or self.index.foreign_uses(self.cls, attribute[1]):
                return False
            line = self.index.line_of(stores[0].node)
            if line not in block or block.index(line) >= block.index(last):
                return False
        return True

    def _edit_init(self, edits, decls: list[_Decl], fused: str, hook: str, sizes_attr: str | None, equal: bool):
        lines = [self.index.line_of(d.assign) for d in decls]
        last = decls[-1]
        if equal:
            total = cst.BinaryOperation(cst.Integer(str(len(decls))), cst.Multiply(), _factor(last.out))
        else:
            total = _summand(decls[0].out)
            for out in [d.out for d in decls[1:]]:
                total = cst.BinaryOperation(total, cst.Add(), _summand(out))
        args = [a.with_changes(value=total) if a is last.out_arg else a for a in last.call.args]
        new_call = last.call.with_changes(args=args)
        target = cst.AssignTarget(_self_attr(self.self_, fused))
        comments = _comments(lines[:-1])
        fused_line = lines[-1].with_changes(
            body=[cst.Assign([target], new_call)], leading_lines=[*comments, *lines[-1].leading_lines]
        )
        added = [fused_line]
        if sizes_attr is not None:
            sizes = cst.List([cst.Element(o.deep_clone()) for o in (d.out for d in decls)])
            added.append(cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(_self_attr(self.self_, sizes_attr))], sizes)]))
        register = make_call(_self_attr(self.self_, "register_load_state_dict_pre_hook"), [_self_attr(self.self_, hook)])
        added.append(cst.SimpleStatementLine([cst.Expr(register)]))
        edits[lines[-1]] = cst.FlattenSentinel(added)
        for line in lines[:-1]:
            edits[line] = cst.RemovalSentinel.REMOVE

    def _hook_def(self, hook: str, fused: str, parts: list[str], cat: str) -> cst.FunctionDef:
        indent = self.rule.context.module.default_indent
        names = "(" + ", ".join(f'"{p}"' for p in parts) + ")"
        text = _HOOK.format(hook=hook, fused=fused, listing=", ".join(parts), names=names, cat=cat)
        node = cst.parse_statement(text.replace("    ", indent), self.rule.context.module.config_for_parsing)
        return node.with_changes(leading_lines=[cst.EmptyLine(indent=False)])

    def _edit_calls(self, edits, calls: list[_Call], fused: str, outs, equal: bool, sizes_attr: str | None):
        method_self = self_name(calls[0].method)
        fused_call = make_call(_self_attr(method_self, fused), [calls[0].input.deep_clone()])
        if equal:
            split = make_call(cst.Attribute(fused_call, cst.Name("chunk")), [cst.Integer(str(len(calls)))], [("dim", _minus_one())])
        else:
            sizes = (
                _self_attr(method_self, sizes_attr)
                if sizes_attr is not None
                else cst.List([cst.Element(o.deep_clone()) for o in outs])
            )
            split = make_call(cst.Attribute(fused_call, cst.Name("split")), [sizes], [("dim", _minus_one())])
        tuple_node = self._whole_tuple(calls)
        if tuple_node is not None:
            edits[tuple_node] = split.with_changes(lpar=tuple_node.lpar, rpar=tuple_node.rpar)
            return
        block = calls[0].block.body
        by_position = sorted(calls, key=lambda c: block.index(c.line))
        first_line = by_position[0].line
        start = block.index(first_line)
        locals_: list[str] = []
        removed: list[cst.SimpleStatementLine] = []
        for call in calls:
            name = _assigned_name(call)
            position = block.index(call.line)
            if name is not None and name not in locals_ and not any(
                name in paths_in(s) for s in block[start:position]
            ):
                locals_.append(name)
                if call.line is not first_line:
                    removed.append(call.line)
                    edits[call.line] = cst.RemovalSentinel.REMOVE
                continue
            fresh = self.rule.fresh_local(f"{call.call.func.attr.value}_out", call.method)
            locals_.append(fresh)
            edits[call.call] = cst.Name(fresh, lpar=call.call.lpar, rpar=call.call.rpar)
        targets = cst.Tuple([cst.Element(cst.Name(n)) for n in locals_], lpar=[], rpar=[])
        comments = _comments(removed)
        unpack = cst.SimpleStatementLine(
            [cst.Assign([cst.AssignTarget(targets)], split)],
            leading_lines=[*first_line.leading_lines, *comments],
        )
        if _assigned_name(by_position[0]) == locals_[calls.index(by_position[0])]:
            edits[first_line] = first_line.with_changes(body=unpack.body, leading_lines=unpack.leading_lines)
        else:
            edits[first_line] = lambda updated: cst.FlattenSentinel([unpack, updated.with_changes(leading_lines=[])])

    def _whole_tuple(self, calls: list[_Call]) -> cst.Tuple | None:
        """The tuple when it holds exactly the calls, in layer order (``return self.a(h), self.b(h)``)."""
        parent = self.index.parent.get(self.index.parent.get(calls[0].call))
        if not isinstance(parent, cst.Tuple) or len(parent.elements) != len(calls):
            return None
        if any(e.value is not c.call for e, c in zip(parent.elements, calls)):
            return None
        holder = self.index.parent.get(parent)
        if isinstance(holder, (cst.Return, cst.Assign)) and holder.value is parent:
            return parent
        return None


def _calls_module(node: cst.BaseExpression, self_: str | None) -> bool:
    """Whether ``node`` calls something on ``self`` (a submodule such as ``self.norm(x)``)."""
    found: list[cst.Call] = []

    class _Find(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            root = dotted_name(call.func)
            if root is not None and root.split(".")[0] == self_:
                found.append(call)

    walk(node, [_Find()])
    return bool(found)


def _is_parameter(node: cst.BaseExpression, function: cst.FunctionDef) -> bool:
    params = function.params
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    return isinstance(node, cst.Name) and any(p.name.value == node.value for p in every)


def _is_store(index: FileIndex, node: cst.CSTNode) -> bool:
    parent = index.parent.get(node)
    return isinstance(parent, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign)) or (
        isinstance(parent, (cst.Element, cst.Tuple)) and _is_store(index, parent)
    )


def _comments(removed: list[cst.SimpleStatementLine]) -> list[cst.EmptyLine]:
    """The comments of removed lines (above them and after them), as comment lines to keep."""
    kept = []
    for line in removed:
        kept += [empty for empty in line.leading_lines if empty.comment is not None]
        if line.trailing_whitespace.comment is not None:
            kept.append(cst.EmptyLine(comment=line.trailing_whitespace.comment))
    return kept


def _assigned_name(call: _Call) -> str | None:
    """``name`` when the call's line is exactly ``name = self.<layer>(x)``."""
    line = call.line
    if len(line.body) != 1 or not isinstance(line.body[0], cst.Assign):
        return None
    assign = line.body[0]
    if assign.value is not call.call or len(assign.targets) != 1:
        return None
    target = assign.targets[0].target
    return target.value if isinstance(target, cst.Name) else None


def _self_attr(self_: str, name: str) -> cst.Attribute:
    return cst.Attribute(cst.Name(self_), cst.Name(name))


def _minus_one() -> cst.UnaryOperation:
    return cst.UnaryOperation(cst.Minus(), cst.Integer("1"))


def _parenthesized(node: cst.BaseExpression) -> cst.BaseExpression:
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


_ATOMS = (cst.Name, cst.Attribute, cst.Integer, cst.Call, cst.Subscript)


def _product(node: cst.BaseExpression) -> bool:
    return isinstance(node, _ATOMS) or (
        isinstance(node, cst.BinaryOperation)
        and isinstance(node.operator, cst.Multiply)
        and _product(node.left)
        and _product(node.right)
    )


def _factor(node: cst.BaseExpression) -> cst.BaseExpression:
    """``node`` as the right operand of ``n * node``: a product of atoms needs no parentheses."""
    node = node.deep_clone()
    return node if _product(node) else _parenthesized(node)


def _summand(node: cst.BaseExpression) -> cst.BaseExpression:
    node = node.deep_clone()
    arithmetic = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.FloorDivide, cst.Modulo, cst.Power)
    if isinstance(node, _ATOMS) or (isinstance(node, cst.BinaryOperation) and isinstance(node.operator, arithmetic)):
        return node
    return _parenthesized(node)


#: nn.Module attributes a fused name must not take
_MODULE_ATTRIBUTES = frozenset(
    {
        "training", "forward", "state_dict", "load_state_dict", "parameters", "buffers", "children",
        "modules", "to", "cuda", "cpu", "half", "float", "double", "type", "apply", "train", "eval",
        "zero_grad", "register_buffer", "register_parameter", "add_module", "get_submodule",
    }
)
