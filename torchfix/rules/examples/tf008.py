"""TF008's before/after examples and valid near misses (checked by tests/test_rule_examples.py)."""

from __future__ import annotations

from torchfix.rule import Applicability, Example, Valid
from torchfix.rules.examples.tf008_frameworks import FRAMEWORKS
from torchfix.rules.examples.tf008_reported import REPORTED

UNSAFE = Applicability.UNSAFE

_FIXED = (
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
        self.register_state_dict_post_hook(self._save_unfused_qkv)
        self.proj = nn.Linear(dim, dim)

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
        self.register_state_dict_post_hook(self._save_unfused_to_qkv)

    @staticmethod
    def _load_unfused_to_qkv(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate to_q, to_k, to_v layers into to_qkv."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("to_q", "to_k", "to_v")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}to_qkv.{suffix}"] = t.cat([state_dict.pop(key) for key in keys])

    @staticmethod
    def _save_unfused_to_qkv(module, state_dict, prefix, *args):
        """Save to_qkv as the separate to_q, to_k, to_v layers, so checkpoints keep their keys."""
        for suffix in ("weight", "bias"):
            key = f"{prefix}to_qkv.{suffix}"
            if key in state_dict:
                for name, part in zip(("to_q", "to_k", "to_v"), state_dict.pop(key).chunk(3)):
                    state_dict[f"{prefix}{name}.{suffix}"] = part

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
import torch
from torch.nn import Linear, Module


class KeyValue(Module):
    def __init__(self, dim, device=None):
        super().__init__()
        self.key_value = Linear(dim, 2 * dim, device=device)
        self.register_load_state_dict_pre_hook(self._load_unfused_key_value)
        self.register_state_dict_post_hook(self._save_unfused_key_value)

    @staticmethod
    def _load_unfused_key_value(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate key, value layers into key_value."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("key", "value")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}key_value.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    @staticmethod
    def _save_unfused_key_value(module, state_dict, prefix, *args):
        """Save key_value as the separate key, value layers, so checkpoints keep their keys."""
        for suffix in ("weight", "bias"):
            key = f"{prefix}key_value.{suffix}"
            if key in state_dict:
                for name, part in zip(("key", "value"), state_dict.pop(key).chunk(2)):
                    state_dict[f"{prefix}{name}.{suffix}"] = part

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
        self.register_state_dict_post_hook(self._save_unfused_qkv_proj)
        self.out_proj = nn.Linear(dim, dim)

    @staticmethod
    def _load_unfused_qkv_proj(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate q_proj, k_proj, v_proj layers into qkv_proj."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("q_proj", "k_proj", "v_proj")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}qkv_proj.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    @staticmethod
    def _save_unfused_qkv_proj(module, state_dict, prefix, *args):
        """Save qkv_proj as the separate q_proj, k_proj, v_proj layers, so checkpoints keep their keys."""
        for suffix in ("weight", "bias"):
            key = f"{prefix}qkv_proj.{suffix}"
            if key in state_dict:
                for name, part in zip(("q_proj", "k_proj", "v_proj"), state_dict.pop(key).chunk(3)):
                    state_dict[f"{prefix}{name}.{suffix}"] = part

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
        self.wqkv = nn.Linear(
            dim, n_heads * self.head_dim + 2 * n_kv_heads * self.head_dim, bias=False
        )
        self.wqkv_sizes = [
            n_heads * self.head_dim,
            n_kv_heads * self.head_dim,
            n_kv_heads * self.head_dim,
        ]
        self.register_load_state_dict_pre_hook(self._load_unfused_wqkv)
        self.register_state_dict_post_hook(self._save_unfused_wqkv)

    @staticmethod
    def _load_unfused_wqkv(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate wq, wk, wv layers into wqkv."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("wq", "wk", "wv")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}wqkv.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    @staticmethod
    def _save_unfused_wqkv(module, state_dict, prefix, *args):
        """Save wqkv as the separate wq, wk, wv layers, so checkpoints keep their keys."""
        for suffix in ("weight", "bias"):
            key = f"{prefix}wqkv.{suffix}"
            if key in state_dict:
                for name, part in zip(("wq", "wk", "wv"), state_dict.pop(key).split(module.wqkv_sizes)):
                    state_dict[f"{prefix}{name}.{suffix}"] = part

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
import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, dim, n_heads, n_kv_heads):
        super().__init__()
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads
        self.head_dim = dim // n_heads
        self.wqkv = nn.Linear(
            dim,
            self.n_heads * self.head_dim + 2 * self.n_kv_heads * self.head_dim,
            bias=False,
        )
        self.register_load_state_dict_pre_hook(self._load_unfused_wqkv)
        self.register_state_dict_post_hook(self._save_unfused_wqkv)

    @staticmethod
    def _load_unfused_wqkv(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate wq, wk, wv layers into wqkv."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("wq", "wk", "wv")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}wqkv.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    @staticmethod
    def _save_unfused_wqkv(module, state_dict, prefix, *args):
        """Save wqkv as the separate wq, wk, wv layers, so checkpoints keep their keys."""
        for suffix in ("weight", "bias"):
            key = f"{prefix}wqkv.{suffix}"
            if key in state_dict:
                for name, part in zip(("wq", "wk", "wv"), state_dict.pop(key).split([module.n_heads * module.head_dim, module.n_kv_heads * module.head_dim, module.n_kv_heads * module.head_dim])):
                    state_dict[f"{prefix}{name}.{suffix}"] = part

    def forward(self, x):
        bsz, seqlen, _ = x.shape
        xq, xk, xv = self.wqkv(x).split(
            [
                self.n_heads * self.head_dim,
                self.n_kv_heads * self.head_dim,
                self.n_kv_heads * self.head_dim,
            ],
            dim=-1,
        )
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
import torch
import torch.nn as nn
import torch.nn.functional as F


class FeedForward(nn.Module):
    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.w13 = nn.Linear(dim, 2 * hidden_dim, bias=False)
        self.register_load_state_dict_pre_hook(self._load_unfused_w13)
        self.register_state_dict_post_hook(self._save_unfused_w13)

    @staticmethod
    def _load_unfused_w13(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate w1, w3 layers into w13."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("w1", "w3")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}w13.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    @staticmethod
    def _save_unfused_w13(module, state_dict, prefix, *args):
        """Save w13 as the separate w1, w3 layers, so checkpoints keep their keys."""
        for suffix in ("weight", "bias"):
            key = f"{prefix}w13.{suffix}"
            if key in state_dict:
                for name, part in zip(("w1", "w3"), state_dict.pop(key).chunk(2)):
                    state_dict[f"{prefix}{name}.{suffix}"] = part

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
        self.register_state_dict_post_hook(self._save_unfused_query_key_value)

    @staticmethod
    def _load_unfused_query_key_value(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate query, key, value layers into query_key_value."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("query", "key", "value")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}query_key_value.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    @staticmethod
    def _save_unfused_query_key_value(module, state_dict, prefix, *args):
        """Save query_key_value as the separate query, key, value layers, so checkpoints keep their keys."""
        for suffix in ("weight", "bias"):
            key = f"{prefix}query_key_value.{suffix}"
            if key in state_dict:
                for name, part in zip(("query", "key", "value"), state_dict.pop(key).chunk(3)):
                    state_dict[f"{prefix}{name}.{suffix}"] = part

    def attend(self, q, k, v):
        return torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v

    def forward(self, hidden_states):
        query_out, key_out, value_out = self.query_key_value(hidden_states).chunk(
            3, dim=-1
        )
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
        self.register_state_dict_post_hook(self._save_unfused_fc_mu_logvar)

    @staticmethod
    def _load_unfused_fc_mu_logvar(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate fc_mu, fc_logvar layers into fc_mu_logvar."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("fc_mu", "fc_logvar")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}fc_mu_logvar.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    @staticmethod
    def _save_unfused_fc_mu_logvar(module, state_dict, prefix, *args):
        """Save fc_mu_logvar as the separate fc_mu, fc_logvar layers, so checkpoints keep their keys."""
        for suffix in ("weight", "bias"):
            key = f"{prefix}fc_mu_logvar.{suffix}"
            if key in state_dict:
                for name, part in zip(("fc_mu", "fc_logvar"), state_dict.pop(key).chunk(2)):
                    state_dict[f"{prefix}{name}.{suffix}"] = part

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
        self.register_state_dict_post_hook(self._save_unfused_to_kv)
        self.to_out = nn.Linear(inner_dim, query_dim)

    @staticmethod
    def _load_unfused_to_kv(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate to_k, to_v layers into to_kv."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("to_k", "to_v")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}to_kv.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    @staticmethod
    def _save_unfused_to_kv(module, state_dict, prefix, *args):
        """Save to_kv as the separate to_k, to_v layers, so checkpoints keep their keys."""
        for suffix in ("weight", "bias"):
            key = f"{prefix}to_kv.{suffix}"
            if key in state_dict:
                for name, part in zip(("to_k", "to_v"), state_dict.pop(key).chunk(2)):
                    state_dict[f"{prefix}{name}.{suffix}"] = part

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
        self.register_state_dict_post_hook(self._save_unfused_wqkv)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w13 = nn.Linear(dim, 2 * hidden, bias=False)
        self.register_load_state_dict_pre_hook(self._load_unfused_w13)
        self.register_state_dict_post_hook(self._save_unfused_w13)

    @staticmethod
    def _load_unfused_wqkv(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate wq, wk, wv layers into wqkv."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("wq", "wk", "wv")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}wqkv.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    @staticmethod
    def _save_unfused_wqkv(module, state_dict, prefix, *args):
        """Save wqkv as the separate wq, wk, wv layers, so checkpoints keep their keys."""
        for suffix in ("weight", "bias"):
            key = f"{prefix}wqkv.{suffix}"
            if key in state_dict:
                for name, part in zip(("wq", "wk", "wv"), state_dict.pop(key).chunk(3)):
                    state_dict[f"{prefix}{name}.{suffix}"] = part

    @staticmethod
    def _load_unfused_w13(module, state_dict, prefix, *args):
        """Load checkpoints saved with separate w1, w3 layers into w13."""
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("w1", "w3")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}w13.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    @staticmethod
    def _save_unfused_w13(module, state_dict, prefix, *args):
        """Save w13 as the separate w1, w3 layers, so checkpoints keep their keys."""
        for suffix in ("weight", "bias"):
            key = f"{prefix}w13.{suffix}"
            if key in state_dict:
                for name, part in zip(("w1", "w3"), state_dict.pop(key).chunk(2)):
                    state_dict[f"{prefix}{name}.{suffix}"] = part

    def forward(self, x):
        q, k, v = self.wqkv(x).chunk(3, dim=-1)
        h = x + torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
        w1_out, w3_out = self.w13(h).chunk(2, dim=-1)
        return h + self.w2(F.silu(w1_out) * w3_out)
''',
        applicability=UNSAFE,
        row='nested',
        findings=2,
        inputs={"dim": "int:16", "hidden": "int:32", "x": "float(2, 5, 16)"},
    ),
)
EXAMPLES = _FIXED + FRAMEWORKS + REPORTED

VALID = (
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
