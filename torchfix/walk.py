"""A read-only traversal of a LibCST tree, several times faster than ``node.visit``.

``CSTNode.visit`` rebuilds every node it passes (``_visit_and_replace_children``),
even for a read-only visitor; that cost was larger than parsing. This walker only
reads: it visits the same nodes in the same order as LibCST (the child order is
taken from each node class's own ``_visit_and_replace_children``), skips
whitespace, parentheses and commas (no rule inspects them), and calls the
``visit_<Node>``/``leave_<Node>`` methods of any number of visitors.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Callable, Sequence

import libcst as cst

#: fields that only ever hold formatting, never code
_FORMATTING = frozenset(
    {
        "lpar", "rpar", "lbracket", "rbracket", "lbrace", "rbrace", "comma", "semicolon", "colon",
        "leading_lines", "lines_after_decorators", "header", "footer", "newline", "trailing_whitespace",
        "equal", "dot", "star", "operator_whitespace",
    }
)
_FORMATTING_TYPES = (
    cst.SimpleWhitespace, cst.ParenthesizedWhitespace, cst.Newline, cst.EmptyLine,
    cst.TrailingWhitespace, cst.Comment, cst.Comma, cst.LeftParen, cst.RightParen,
)


@lru_cache(maxsize=None)
def child_fields(cls: type) -> tuple[str, ...]:
    """The fields of ``cls`` that can hold code, in LibCST's visiting order."""
    names = {f.name for f in dataclasses.fields(cls)} - _FORMATTING
    names = {n for n in names if not n.startswith("whitespace")}
    ordered = [n for n in cls._visit_and_replace_children.__code__.co_names if n in names]
    return tuple(dict.fromkeys(ordered))


Callback = Callable[[cst.CSTNode], object]


def _overrides(visitor: object, hook: str) -> bool:
    method = getattr(type(visitor), hook, None)
    return method is not None and method is not getattr(cst.CSTVisitor, hook)


def walk(node: cst.CSTNode, visitors: Sequence[object]) -> None:
    """Call each visitor's ``visit_X``/``leave_X`` on every code node under ``node``.

    A ``cst.CSTVisitor`` that overrides ``on_visit``/``on_leave`` gets those instead,
    for every node, as under ``CSTNode.visit``.

    With one visitor, a ``visit_X`` returning False skips the node's children, as
    in ``CSTNode.visit``; with several (the rules' batch) return values are
    ignored, as in LibCST's batched visitor.
    """
    single = len(visitors) == 1
    plans: dict[type, tuple[tuple[Callback, ...], tuple[Callback, ...]]] = {}

    def plan(cls: type) -> tuple[tuple[Callback, ...], tuple[Callback, ...]]:
        visit, leave = f"visit_{cls.__name__}", f"leave_{cls.__name__}"
        visits, leaves = [], []
        for v in visitors:
            # A visitor that overrides the generic hooks sees every node through them.
            if _overrides(v, "on_visit"):
                visits.append(v.on_visit)
            elif hasattr(v, visit):
                visits.append(getattr(v, visit))
            if _overrides(v, "on_leave"):
                leaves.append(v.on_leave)
            elif hasattr(v, leave):
                leaves.append(getattr(v, leave))
        plans[cls] = (tuple(visits), tuple(leaves))
        return plans[cls]

    def go(current: cst.CSTNode) -> None:
        cls = type(current)
        visits, leaves = plans.get(cls) or plan(cls)
        descend = True
        for visit in visits:
            if visit(current) is False and single:
                descend = False
        if descend:
            for name in child_fields(cls):
                value = getattr(current, name)
                if isinstance(value, cst.CSTNode):
                    if not isinstance(value, _FORMATTING_TYPES):
                        go(value)
                elif isinstance(value, (tuple, list)):
                    for item in value:
                        if isinstance(item, cst.CSTNode) and not isinstance(item, _FORMATTING_TYPES):
                            go(item)
        for leave in leaves:
            leave(current)

    go(node)
