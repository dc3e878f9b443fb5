"""Small matchers shared by the rules: argument lookup, code comparison, purity."""

from __future__ import annotations

import ast
from functools import lru_cache
from typing import Mapping, Sequence, TypeVar

import libcst as cst

from torchfix.walk import walk

_EMPTY = cst.Module(body=[])

#: tensor methods without side effects, safe to evaluate twice or once
PURE_METHODS = frozenset(
    {
        "float", "double", "half", "bfloat16", "int", "long", "bool",
        "detach", "t", "view", "view_as", "reshape", "reshape_as", "flatten",
        "squeeze", "unsqueeze", "transpose", "permute", "contiguous",
        "expand", "expand_as", "narrow", "select", "abs", "neg", "exp", "log",
        "sqrt", "sum", "mean", "norm", "pow", "square", "to", "type_as", "clone",
        "cpu", "cuda", "size", "dim",
    }
)


Node = TypeVar("Node", bound=cst.CSTNode)


def is_name(node: cst.CSTNode | None, *values: str) -> bool:
    """Whether ``node`` is a ``Name`` (spelled one of ``values``, when given). The structural
    rules test nodes by hand, not with ``libcst.matchers``: importing that took 0.18 s of
    every run that loads them."""
    return isinstance(node, cst.Name) and (not values or node.value in values)


class _Collect(cst.CSTVisitor):
    def __init__(self, kind: type[cst.CSTNode]) -> None:
        super().__init__()
        self.kind = kind
        self.found: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, self.kind):
            self.found.append(node)
        return True


def nodes_of(root: cst.CSTNode, kind: type[Node]) -> list[Node]:
    """Every ``kind`` node at or under ``root``, in source order."""
    collector = _Collect(kind)
    walk(root, [collector])
    return collector.found  # type: ignore[return-value]


def code(node: cst.CSTNode) -> str:
    """The source text of ``node``."""
    return _EMPTY.code_for_node(node)


@lru_cache(maxsize=4096)
def normal_form(text: str) -> str | None:
    """A formatting-independent form of an expression's code (its AST dump), or None."""
    try:
        return ast.dump(ast.parse(text.strip(), mode="eval"))
    except SyntaxError:
        return None


def same_code(a: cst.CSTNode, b: cst.CSTNode) -> bool:
    """Whether two expressions are the same code, ignoring formatting and parentheses."""
    left, right = normal_form(code(a)), normal_form(code(b))
    return left is not None and left == right


def strip_parens(node: cst.BaseExpression) -> cst.BaseExpression:
    """``node`` without its own redundant parentheses (for reuse inside a call)."""
    if getattr(node, "lpar", ()) or getattr(node, "rpar", ()):
        return node.with_changes(lpar=[], rpar=[])
    return node


def arg(call: cst.Call, keyword: str, position: int | None = None) -> cst.Arg | None:
    """The argument passed as ``keyword=`` or at ``position`` (no star-args)."""
    for a in call.args:
        if a.keyword is not None and a.keyword.value == keyword:
            return a
    if position is not None:
        positional = [a for a in call.args if a.keyword is None and not a.star]
        if position < len(positional):
            return positional[position]
    return None


def has_star_args(call: cst.Call) -> bool:
    return any(a.star for a in call.args)


def int_value(node: cst.CSTNode | None) -> int | None:
    """The value of an integer literal, with an optional unary minus."""
    if isinstance(node, cst.Integer):
        return int(node.value, 0)
    if (
        isinstance(node, cst.UnaryOperation)
        and isinstance(node.operator, cst.Minus)
        and isinstance(node.expression, cst.Integer)
    ):
        return -int(node.expression.value, 0)
    return None


def number_value(node: cst.CSTNode | None) -> float | None:
    """The value of an int or float literal (optionally negated)."""
    if isinstance(node, (cst.Integer, cst.Float)):
        return float(ast.literal_eval(node.value))
    if (
        isinstance(node, cst.UnaryOperation)
        and isinstance(node.operator, cst.Minus)
        and isinstance(node.expression, (cst.Integer, cst.Float))
    ):
        return -float(ast.literal_eval(node.expression.value))
    return None


def is_true(node: cst.CSTNode | None) -> bool:
    return isinstance(node, cst.Name) and node.value == "True"


def is_false(node: cst.CSTNode | None) -> bool:
    return isinstance(node, cst.Name) and node.value == "False"


def is_pure(node: cst.CSTNode) -> bool:
    """Whether evaluating ``node`` twice is the same as once, and changes nothing.

    Names, attributes, subscripts with constant/name/slice indices, literals and
    calls of pure tensor methods on pure operands with pure arguments.
    """
    if isinstance(node, (cst.Name, cst.Integer, cst.Float, cst.SimpleString)):
        return True
    if isinstance(node, cst.Attribute):
        return is_pure(node.value)
    if isinstance(node, cst.UnaryOperation):
        return is_pure(node.expression)
    if isinstance(node, cst.BinaryOperation):
        return is_pure(node.left) and is_pure(node.right)
    if isinstance(node, cst.Subscript):
        return is_pure(node.value) and all(_pure_index(e.slice) for e in node.slice)
    if isinstance(node, cst.Call):
        func = node.func
        return (
            isinstance(func, cst.Attribute)
            and func.attr.value in PURE_METHODS
            and is_pure(func.value)
            and all(not a.star and is_pure(a.value) for a in node.args)
        )
    if isinstance(node, cst.Tuple):
        return all(is_pure(e.value) for e in node.elements)
    return False


def _pure_index(index: cst.BaseSlice) -> bool:
    if isinstance(index, cst.Slice):
        return all(p is None or is_pure(p) for p in (index.lower, index.upper, index.step))
    value = index.value
    return isinstance(value, cst.Ellipsis) or (is_pure(value) and not isinstance(value, cst.Call))


def make_call(
    func: cst.BaseExpression,
    positional: Sequence[cst.BaseExpression] = (),
    keywords: Sequence[tuple[str, cst.BaseExpression]] = (),
) -> cst.Call:
    """``func(a, b, key=value)`` in PEP 8 spelling (parentheses of operands dropped)."""
    args = [cst.Arg(strip_parens(value)) for value in positional]
    args += [
        cst.Arg(
            strip_parens(value),
            keyword=cst.Name(name),
            equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
        )
        for name, value in keywords
    ]
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    args = [a.with_changes(comma=comma) for a in args[:-1]] + args[-1:]
    return cst.Call(func=func, args=args)


class _ReplaceSameCode(cst.CSTTransformer):
    def __init__(self, targets: Mapping[str, cst.BaseExpression]) -> None:
        super().__init__()
        self.targets = targets

    def leave_Name(self, original_node, updated_node):
        return self._swap(original_node, updated_node)

    def on_leave(self, original_node, updated_node):
        if isinstance(original_node, cst.BaseExpression):
            return self._swap(original_node, updated_node)
        return updated_node

    def _swap(self, original_node, updated_node):
        form = normal_form(code(original_node))
        return self.targets.get(form, updated_node) if form is not None else updated_node


def replace_same_code(node: cst.CSTNode, replacements: Mapping[cst.CSTNode, cst.BaseExpression]) -> cst.CSTNode:
    """``node`` with every sub-expression that is the same code as a key replaced.

    The verifier's site check uses it to put placeholders (``x``, ``a``, ``b``) in
    place of the operands a rule matched.
    """
    targets = {}
    for old, new in replacements.items():
        form = normal_form(code(old))
        if form is not None:
            targets[form] = new
    return node.visit(_ReplaceSameCode(targets))


class _FreeNames(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def visit_Name(self, node: cst.Name) -> None:
        self.names.append(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        walk(node.value, [self])
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        walk(node.value, [self])
        return False


def names_read(node: cst.CSTNode) -> list[str]:
    """Every Name an expression reads, in order, names bound inside it (lambda parameters) included.

    Attribute names and keywords are left out. ``rules._datasets.free_names``
    differs: it drops names bound inside and reads ``self.X`` as one name.
    """
    collector = _FreeNames()
    walk(node, [collector])
    return collector.names


def parenthesized(node: cst.BaseExpression) -> cst.BaseExpression:
    """``node`` parenthesised unless it is an atom, so it can be substituted anywhere."""
    atoms = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.SimpleString, cst.Integer, cst.Tuple)
    if isinstance(node, atoms) or node.lpar:
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def self_attribute_name(node: cst.CSTNode) -> str | None:
    """``X`` for ``self.X``, else None."""
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == "self":
        return node.attr.value
    return None


class _Substitute(cst.CSTTransformer):
    """Replaces Name reads and ``self.X`` reads (attribute names, keywords, parameters kept)."""

    def __init__(self, mapping: Mapping[str, cst.BaseExpression]) -> None:
        super().__init__()
        self.mapping = mapping
        self.fixed: set[cst.Name] = set()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.fixed.add(node.attr)

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.fixed.add(node.keyword)

    def visit_Param(self, node: cst.Param) -> bool:
        return False

    def leave_Name(self, original_node, updated_node):
        if original_node in self.fixed:
            return updated_node
        replacement = self.mapping.get(original_node.value)
        return parenthesized(replacement) if replacement is not None else updated_node

    def leave_Attribute(self, original_node, updated_node):
        attr = self_attribute_name(original_node)
        if attr is not None and f"self.{attr}" in self.mapping:
            return parenthesized(self.mapping[f"self.{attr}"])
        return updated_node


def substitute(node: cst.BaseExpression, mapping: Mapping[str, cst.BaseExpression]) -> cst.BaseExpression:
    """``node`` with each name (or ``"self.X"``) in ``mapping`` replaced by its expression, parenthesised."""
    return node.visit(_Substitute(mapping)) if mapping else node  # type: ignore[return-value]
