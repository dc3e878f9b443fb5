"""A read-only traversal of a LibCST tree, several times faster than ``node.visit``.

``CSTNode.visit`` rebuilds every node it passes (``_visit_and_replace_children``),
even for a read-only visitor; that cost was larger than parsing. This walker only
reads: it visits the same nodes in the same order as LibCST (see
:func:`child_fields`), skips whitespace, parentheses and commas (no rule
inspects them), and calls the ``visit_<Node>``/``leave_<Node>`` methods of any
number of visitors.
"""

from __future__ import annotations

import dataclasses
import weakref
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


#: node classes whose fields LibCST visits in source order, not in declaration order
#: (LibCST 1.1 to 1.9); every other class is visited in declaration order. A name
#: this LibCST lacks is ignored. ``tests/test_walk.py`` compares the walker with
#: ``CSTNode.visit`` on a module that holds every node class with two code fields,
#: and fails on a class it does not know, so a LibCST upgrade that changes the
#: order or adds a node class fails loudly there.
_SOURCE_ORDER: dict[str, tuple[str, ...]] = {
    "Arg": ("keyword", "value"),
    "ClassDef": ("decorators", "name", "type_parameters", "bases", "keywords", "body"),
    "CompFor": ("asynchronous", "target", "iter", "ifs", "inner_for_in"),
    "ExceptHandler": ("type", "name", "body"),
    "ExceptStarHandler": ("type", "name", "body"),
    "For": ("asynchronous", "target", "iter", "body", "orelse"),
    "FormattedStringExpression": ("expression", "format_spec", "conversion"),
    "FunctionDef": ("decorators", "asynchronous", "name", "type_parameters", "params", "returns", "body"),
    "IfExp": ("body", "test", "orelse"),
    "ImportFrom": ("relative", "module", "names"),
    "LazyImportFrom": ("relative", "module", "names"),
    "MatchCase": ("pattern", "guard", "body"),
    "Parameters": ("posonly_params", "posonly_ind", "params", "star_arg", "kwonly_params", "star_kwarg"),
    "SimpleStatementSuite": ("leading_whitespace", "body"),
    "Slice": ("lower", "first_colon", "upper", "second_colon", "step"),
    "TemplatedStringExpression": ("expression", "format_spec", "conversion"),
    "TypeAlias": ("name", "type_parameters", "value"),
    "With": ("asynchronous", "items", "body"),
}


@lru_cache(maxsize=None)
def child_fields(cls: type) -> tuple[str, ...]:
    """The fields of ``cls`` that can hold code, in LibCST's visiting order.

    From LibCST's public dataclass fields, in declaration order, or in the
    source order of :data:`_SOURCE_ORDER` for the classes listed there.
    """
    names = [f.name for f in dataclasses.fields(cls)]
    names = [n for n in names if n not in _FORMATTING and not n.startswith("whitespace")]
    ordered = _SOURCE_ORDER.get(cls.__name__) if cls.__module__.startswith("libcst") else None
    if ordered is None:
        return tuple(names)
    return tuple(n for n in ordered if n in names) + tuple(n for n in names if n not in ordered)


#: the nodes whose fields may hold a compound statement (the others hold expressions and small
#: statements only): all a walk enters when no visitor looks at anything else
_STATEMENT_HOLDERS = (
    cst.Module, cst.BaseCompoundStatement, cst.BaseSuite, cst.Else, cst.ExceptHandler, cst.ExceptStarHandler,
    cst.Finally, cst.MatchCase,
)


@lru_cache(maxsize=None)
def statement_fields(cls: type) -> tuple[str, ...]:
    """:func:`child_fields` for a node that may hold compound statements; none for any other."""
    return child_fields(cls) if issubclass(cls, _STATEMENT_HOLDERS) else ()


Callback = Callable[[cst.CSTNode], object]

_SKIP, _NODE, _SEQUENCE = 0, 1, 2
#: value type -> how to walk it; LibCST's classes are ABCs, so isinstance is slow
_KINDS: dict[type, int] = {}


def _kind(value_type: type) -> int:
    kind = _KINDS.get(value_type)
    if kind is None:
        if issubclass(value_type, _FORMATTING_TYPES):
            kind = _SKIP
        elif issubclass(value_type, cst.CSTNode):
            kind = _NODE
        elif issubclass(value_type, (tuple, list)):
            kind = _SEQUENCE
        else:
            kind = _SKIP
        _KINDS[value_type] = kind
    return kind


def _overrides(visitor_type: type, hook: str) -> bool:
    method = getattr(visitor_type, hook, None)
    return method is not None and method is not getattr(cst.CSTVisitor, hook)


#: visitor class -> node class -> (visit method name, leave method name), either None.
#: Weak: rules define visitor classes inside functions, and such a class keeps the
#: enclosing rule (and its whole tree) alive for as long as anything refers to it.
_HOOKS: "weakref.WeakKeyDictionary[type, dict[type, tuple[str | None, str | None]]]" = weakref.WeakKeyDictionary()


_VISITOR_BASES = frozenset(cst.CSTVisitor.__mro__)
#: visitor class -> whether it looks at compound statements (and the module) only
_STATEMENTS_ONLY: "weakref.WeakKeyDictionary[type, bool]" = weakref.WeakKeyDictionary()


def _statements_only(visitor_type: type) -> bool:
    """Whether every ``visit_X``/``leave_X`` of ``visitor_type`` is for a compound statement or
    the module (TF003's and TF008's rules look at classes only), and it has no ``on_visit``."""
    found = _STATEMENTS_ONLY.get(visitor_type)
    if found is None:
        hooks = {  # its own methods, not LibCST's no-op defaults (rules make visitor classes per call)
            name
            for klass in visitor_type.__mro__ if klass not in _VISITOR_BASES
            for name in vars(klass) if name.startswith(("visit_", "leave_", "on_visit", "on_leave"))
        }
        found = _STATEMENTS_ONLY[visitor_type] = not hooks & {"on_visit", "on_leave"} and all(
            isinstance(cls, type) and issubclass(cls, (cst.Module, cst.BaseCompoundStatement))
            for cls in (getattr(cst, name.partition("_")[2], None) for name in hooks)
        )
    return found


def _hooks(visitor_type: type, cls: type) -> tuple[str | None, str | None]:
    """Which methods of ``visitor_type`` see a ``cls`` node, on visit and on leave.

    A visitor that overrides the generic ``on_visit``/``on_leave`` sees every node through them.
    """
    table = _HOOKS.get(visitor_type)
    if table is None:
        table = _HOOKS[visitor_type] = {}
    found = table.get(cls)
    if found is None:
        visit = "on_visit" if _overrides(visitor_type, "on_visit") else f"visit_{cls.__name__}"
        leave = "on_leave" if _overrides(visitor_type, "on_leave") else f"leave_{cls.__name__}"
        found = table[cls] = (
            visit if hasattr(visitor_type, visit) else None,
            leave if hasattr(visitor_type, leave) else None,
        )
    return found


def walk(
    node: cst.CSTNode,
    visitors: Sequence[object],
    failures: list[tuple[object, Exception]] | None = None,
) -> None:
    """Call each visitor's ``visit_X``/``leave_X`` on every code node under ``node``.

    A ``cst.CSTVisitor`` that overrides ``on_visit``/``on_leave`` gets those instead,
    for every node, as under ``CSTNode.visit``. With one visitor, a visit
    returning False skips the node's children, as in ``CSTNode.visit``; with
    several (the rules' batch) return values are ignored, as in LibCST's batched
    visitor.

    Given a ``failures`` list, a visitor whose method raises is recorded there
    with its exception and called no more, and the walk goes on for the others
    (one crashing rule must not hide the other rules' findings). Without one,
    the exception propagates. ``RecursionError`` always propagates: it means the
    code is nested too deeply, not that a visitor is broken.

    When every visitor looks at compound statements only, the walk does not enter
    expressions and small statements (no statement is inside one): the same hooks
    are called, in the same order, at a fraction of the cost.
    """
    single = len(visitors) == 1
    active = list(visitors)
    fields_of = statement_fields if all(_statements_only(type(visitor)) for visitor in active) else child_fields
    dropped: set[int] = set()
    bound: dict[type, tuple[tuple[Callback, ...], tuple[Callback, ...]]] = {}

    def methods(cls: type) -> tuple[tuple[Callback, ...], tuple[Callback, ...]]:
        hooks = [(visitor, _hooks(type(visitor), cls)) for visitor in active]
        bound[cls] = (
            tuple(getattr(visitor, visit) for visitor, (visit, _) in hooks if visit is not None),
            tuple(getattr(visitor, leave) for visitor, (_, leave) in hooks if leave is not None),
        )
        return bound[cls]

    def drop(method: Callback, error: Exception) -> None:
        """Stop calling the visitor whose ``method`` raised, or re-raise."""
        if failures is None or isinstance(error, RecursionError):
            raise error
        visitor = method.__self__  # type: ignore[attr-defined]
        failures.append((visitor, error))
        dropped.add(id(visitor))
        active.remove(visitor)
        bound.clear()

    kinds = _KINDS

    def go(current: cst.CSTNode) -> None:
        cls = type(current)
        visits, leaves = bound.get(cls) or methods(cls)
        descend = True
        for visit in visits:
            try:
                if visit(current) is False and single:
                    descend = False
            except Exception as error:
                drop(visit, error)
        if descend and active:
            for name in fields_of(cls):
                value = getattr(current, name)
                kind = kinds.get(type(value))
                if kind is None:
                    kind = _kind(type(value))
                if kind == _NODE:
                    go(value)
                elif kind == _SEQUENCE:
                    for item in value:
                        item_kind = kinds.get(type(item))
                        if item_kind is None:
                            item_kind = _kind(type(item))
                        if item_kind == _NODE:
                            go(item)
        for leave in leaves:
            if dropped and id(leave.__self__) in dropped:  # type: ignore[attr-defined]
                continue  # scheduled before its visitor failed
            try:
                leave(current)
            except Exception as error:
                drop(leave, error)

    try:
        go(node)
    finally:
        # ``go`` refers to itself, so it waits for the cyclic garbage collector: emptied, its
        # closure no longer keeps the visitors (the rules, the tree they hold) alive meanwhile
        bound.clear()
        active.clear()


class _Finder(cst.CSTVisitor):
    def __init__(self, predicate: Callable[[cst.CSTNode], bool]) -> None:
        super().__init__()
        self.predicate = predicate
        self.found = False

    def on_visit(self, node: cst.CSTNode) -> bool:
        if not self.found and self.predicate(node):
            self.found = True
        return not self.found


def holds(node: cst.CSTNode, predicate: Callable[[cst.CSTNode], bool]) -> bool:
    """Whether ``predicate`` is true of ``node`` or of a code node under it (the walk stops at the first)."""
    finder = _Finder(predicate)
    walk(node, [finder])
    return finder.found
