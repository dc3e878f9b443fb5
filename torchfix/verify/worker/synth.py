"""Constructor arguments for a class with required parameters, synthesized without configuration.

Each required parameter gets a small value from, best first: its annotation
(``int``, ``float``, ``bool``, a config class that builds with defaults), how
``__init__`` uses it (passed to ``nn.Linear`` or ``range`` means an int,
iterated or indexed means a tuple of ints, called means a module), and its
name: widths get a small int divisible by the head count, heads 2, depth 1,
channels 3, image size 32, patch size 8, classes and vocabularies 10-32,
dropout 0.0. A few candidate sizes are tried, smallest first.

Values are JSON (the after side rebuilds the model from the same recipe); a
module argument is written ``{"module": "Identity"}``.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
import typing
from typing import Any

from torch import nn

#: the candidate sizes: (width, heads, head width), smallest first
SIZES = ((16, 2, 8), (32, 4, 8), (64, 8, 8))

_RULES: tuple[tuple[str, Any], ...] = (
    (r"drop|dropout|p_drop", 0.0),
    (r"eps|epsilon", 1e-5),
    (r"dim_head|head_dim|d_head|head_size|dim_per_head", "head"),
    (r"(num_|n_)?heads?|nhead|n_head|num_attention_heads|attn_heads", "heads"),
    (r"depth|(num_|n_)?layers?|n_layer|num_blocks|blocks|n_blocks", 1),
    (r"(image|img|input)_?(size|res|resolution)|resolution", 32),
    (r"patch(_size)?|patch_len", 8),
    (r"window(_size)?", 4),
    (r"(num_)?frames|n_frames|time_steps|video_frames", 4),
    (r"t|frac|mix|interp(olation)?", 0.5),
    (r"(num_|n_)?classes|num_labels|n_class", 10),
    (r"(num_|n_)?tokens|vocab(_size)?|num_embeddings|n_vocab|codebook_size", 32),
    (r"(max_)?(seq|sequence)_?len(gth)?|max_len|context_len|block_size|num_positions|max_position_embeddings", 16),
    (r"in_?(chans|channels|ch|c)|channels|num_channels|image_channels|chans", 3),
    (r"out_?(chans|channels|ch|c)", 4),
    (r"kernel(_size)?|ksize", 3),
    (r"stride|groups|dilation|n_groups", 1),
    (r"padding|pad", 1),
    (r"(mlp_|ff_)?(mult|ratio|expansion)|expansion_factor", 2),
    (r"scale|alpha|beta|gamma|temperature|tau", 1.0),
    (r"(is_|use_)\w+|causal|bias|\w+_bias|residual|flash", False),
    (r"fn|func|block|layer|module|net|model|body|backbone|encoder|decoder|inner", {"module": "Identity"}),
)


def _usage(cls: type) -> dict[str, str]:
    """How ``__init__`` uses each parameter: "int", "ints" (iterated/indexed), "module" (called)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__)))
    except (OSError, TypeError, SyntaxError):
        return {}
    usage: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            callee = ast.unparse(node.func)
            if isinstance(node.func, ast.Name) and node.func.id not in usage:
                usage.setdefault(node.func.id, "module")
            if re.search(r"(Linear|Conv\w*|Embedding|LayerNorm|BatchNorm\w*|GroupNorm|range|Parameter|zeros|ones|randn)$", callee):
                for arg in node.args:
                    for name in ast.walk(arg):
                        if isinstance(name, ast.Name):
                            usage[name.id] = "int"
        elif isinstance(node, (ast.For, ast.comprehension)) and isinstance(node.iter, ast.Name):
            usage[node.iter.id] = "ints"
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            usage[node.value.id] = "ints"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.FloorDiv, ast.Mod)):
            for side in (node.left, node.right):
                if isinstance(side, ast.Name):
                    usage.setdefault(side.id, "int")
    return usage


def _by_name(name: str, size: tuple[int, int, int]) -> Any:
    _, heads, head = size
    lowered = name.lower()
    for pattern, value in _RULES:
        if re.fullmatch(pattern, lowered):
            return {"heads": heads, "head": head}.get(value, value) if isinstance(value, str) else value
    return None


def _by_annotation(annotation: Any, width: int) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = options[0] if options else None
        origin = typing.get_origin(annotation)
    if annotation is bool:
        return False
    if annotation is int:
        return width
    if annotation is float:
        return 1.0
    if origin in (tuple, list) or annotation in (tuple, list):
        return [width, width]
    return None


def value_for(parameter: inspect.Parameter, annotation: Any, usage: str | None, size: tuple[int, int, int]) -> Any:
    """A value for one required parameter, or None when nothing suggests one."""
    named = _by_name(parameter.name, size)
    if named is not None and not (usage == "ints" and isinstance(named, (int, float))):
        return named
    if usage == "ints":
        return [size[0], size[0]]
    if usage == "module":
        return {"module": "Identity"}
    typed = _by_annotation(annotation, size[0])
    if typed is not None:
        return typed
    if usage == "int" or re.search(r"dim|width|size|features|hidden|channels|emb|d_model|units|chan", parameter.name):
        return size[0]
    return None


def candidates(cls: type, required: list[inspect.Parameter], hints: dict[str, Any]) -> tuple[list[dict], list[str]]:
    """Keyword arguments to try for ``required`` (one set per candidate size), and the
    parameters nothing suggests a value for."""
    usage = _usage(cls)
    unknown = []
    results = []
    for size in SIZES:
        values = {}
        for parameter in required:
            value = value_for(parameter, hints.get(parameter.name, parameter.annotation), usage.get(parameter.name), size)
            if value is None:
                if size is SIZES[0]:
                    unknown.append(parameter.name)
                continue
            values[parameter.name] = value
        if values not in results:
            results.append(values)
    return (results if not unknown else []), unknown


def decode(value: Any) -> Any:
    """A synthesized JSON value as the constructor receives it."""
    if isinstance(value, dict) and set(value) == {"module"}:
        return getattr(nn, value["module"])()
    if isinstance(value, list):
        return tuple(value)
    return value


def call_text(cls: type, kwargs: dict) -> str:
    """The exact call, for a message: ``Attention(dim=16, heads=2)``."""
    shown = ", ".join(
        f"{k}=nn.{v['module']}()" if isinstance(v, dict) and "module" in v else f"{k}={decode(v)!r}"
        for k, v in kwargs.items()
    )
    return f"{cls.__name__}({shown})"
