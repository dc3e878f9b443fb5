"""A model's forward inputs, found without configuration, best first.

Its ``example_input(s)`` attribute; else a batch of 2 for the first layer
``forward`` reaches (Linear, ConvNd, Embedding, LayerNorm, RNN); else a small
search over shapes that the forward's first operations may accept (tokens,
features, images, ids, feature maps, volumes, one value per sample; masks and
timesteps by parameter name), sized by the
constructor arguments. The before side tries them in order; the first that runs
is saved, and the after side reuses exactly those tensors.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from typing import Any

import torch
from torch import nn

from torchfix.verify.worker.common import resolve

#: how many inputs the shape search proposes at most
_SEARCH = 10


def _call(value: Any) -> Any:
    return value() if callable(value) else value


def normalize_inputs(value: Any) -> tuple[tuple, dict]:
    """A tensor, a tuple/list of positional arguments, or a dict of keyword arguments."""
    if isinstance(value, dict):
        return (), dict(value)
    if isinstance(value, (tuple, list)):
        return tuple(value), {}
    return (value,), {}


class _SelfUses(ast.NodeVisitor):
    """``self.<name>`` in evaluation order: a call's arguments before the call itself."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def visit_Call(self, node: ast.Call) -> None:
        for child in (*node.args, *node.keywords):
            self.visit(child)
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            self.names.append(func.attr)
        else:
            self.visit(func)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == "self":
            self.names.append(node.attr)
        self.generic_visit(node)


def _forward_order(module: nn.Module) -> list[str] | None:
    """The ``self.<name>`` attributes ``forward`` uses, first used first (None: no source)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(type(module).forward)))
    except (OSError, TypeError, SyntaxError):
        return None
    visitor = _SelfUses()
    visitor.visit(tree)
    return list(dict.fromkeys(visitor.names))


_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_LAYERS = (nn.Linear, nn.Embedding, nn.EmbeddingBag, nn.LayerNorm, nn.RNNBase, *_CONV)


def first_layer(module: nn.Module, depth: int = 0) -> nn.Module | None:
    """The first layer with a known input shape that ``forward`` reaches."""
    if isinstance(module, _LAYERS):
        return module
    if depth > 20:
        return None
    children = dict(module.named_children())
    order = None if isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)) else _forward_order(module)
    names = [name for name in order if name in children] if order is not None else list(children)
    for name in names:
        found = first_layer(children[name], depth + 1)
        if found is not None:
            return found
    return None


def layer_input(layer: nn.Module) -> torch.Tensor:
    weight = getattr(layer, "weight", None)
    dtype = weight.dtype if isinstance(weight, torch.Tensor) and weight.is_floating_point() else torch.float32
    if isinstance(layer, nn.Linear):
        return torch.randn(2, layer.in_features, dtype=dtype)
    if isinstance(layer, (nn.Embedding, nn.EmbeddingBag)):
        return torch.randint(0, layer.num_embeddings, (2, 8))
    if isinstance(layer, nn.LayerNorm):
        return torch.randn(2, *layer.normalized_shape, dtype=dtype)
    if isinstance(layer, nn.RNNBase):
        shape = (2, 8, layer.input_size) if layer.batch_first else (8, 2, layer.input_size)
        return torch.randn(*shape, dtype=dtype)
    dims = len(layer.kernel_size)
    return torch.randn(2, layer.in_channels, *([16, 16, 8][dims - 1],) * dims, dtype=dtype)


def call_inputs(target: str) -> tuple[tuple, dict]:
    """The user's configured inputs function's arguments."""
    return normalize_inputs(_call(resolve(target)))


def _size(kwargs: dict, pattern: str, default: int) -> int:
    for name, value in kwargs.items():
        if isinstance(value, int) and not isinstance(value, bool) and re.search(pattern, name.lower()):
            return value
    return default


def _tensor_for(name: str, shape: str, sizes: dict[str, int]) -> torch.Tensor:
    """One argument of the search: by its name (masks, timesteps, ids), else by ``shape``."""
    width, channels, image, vocab = sizes["width"], sizes["channels"], sizes["image"], sizes["vocab"]
    lowered = name.lower()
    if re.search(r"mask", lowered):
        return torch.ones(2, 16, dtype=torch.bool)
    if re.fullmatch(r"t|time|times|timesteps?|noise_levels?|sigmas?", lowered):
        return torch.rand(2)
    if re.search(r"ids|tokens|labels|classes|^text$|^seq$", lowered) or shape == "ids":
        return torch.randint(0, vocab, (2, 16))
    return {
        "tokens": lambda: torch.randn(2, 16, width),
        "features": lambda: torch.randn(2, width),
        "image": lambda: torch.randn(2, channels, image, image),
        "map": lambda: torch.randn(2, width, 8, 8),
        "volume": lambda: torch.randn(2, channels, 4, 16, 16),
        "volume_map": lambda: torch.randn(2, width, 4, 8, 8),
        "batch": lambda: torch.rand(2),
        "sequence": lambda: torch.randn(2, channels, 64),
    }[shape]()


def _required_names(model: nn.Module) -> list[str]:
    try:
        parameters = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return ["x"]
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in kinds and p.default is p.empty]


def input_candidates(model: nn.Module, kwargs: dict) -> list[tuple[tuple, dict, str]]:
    """Forward arguments to try, best first, each with how it was found (``kwargs``: the
    constructor's synthesized arguments, which size the search)."""
    for attribute in ("example_inputs", "example_input"):
        value = getattr(model, attribute, None)
        if value is not None and not isinstance(value, nn.Module):
            return [(*normalize_inputs(_call(value)), f"{attribute} attribute")]
    found = []
    names = _required_names(model)
    layer = first_layer(model)
    if layer is not None and len(names) == 1:
        tensor = layer_input(layer)
        found.append(((tensor,), {}, f"inferred from {type(layer).__name__}: {tuple(tensor.shape)} {tensor.dtype}"))
    sizes = {
        "width": getattr(layer, "in_features", None) or _size(kwargs, r"dim|width|hidden|d_model|features|emb", 16),
        "channels": getattr(layer, "in_channels", None) or _size(kwargs, r"chan", 3),
        "image": _size(kwargs, r"image|img|resolution", 32),
        "vocab": getattr(layer, "num_embeddings", None) or _size(kwargs, r"tokens|vocab", 10),
    }
    for shape in ("tokens", "features", "image", "ids", "map", "sequence", "volume", "volume_map", "batch"):
        args = tuple(_tensor_for(name, shape, sizes) for name in names)
        label = "searched: " + ", ".join(f"{n}={tuple(a.shape)} {a.dtype}" for n, a in zip(names, args))
        found.append((args, {}, label))
    return found[:_SEARCH]
