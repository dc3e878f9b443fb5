"""Recognising vector norms and eps guards in all their spellings (TF005, TF006, TF007).

``x.norm(p, dim, keepdim)``, ``torch.norm(x, p, dim, keepdim)``,
``torch.linalg.norm(x, ord, dim, keepdim)``,
``torch.linalg.vector_norm(x, ord, dim, keepdim)`` and the spelled-out 2-norm
``torch.sqrt(x.pow(2).sum(dim, keepdim))`` all become one :class:`NormCall`; a
call with arguments whose meaning we do not model (``dtype=``, ``out=``,
star-args, a matrix ``ord``) is not a norm here.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from torchfix.names import NameTable
from torchfix.patterns import arg, has_star_args, number_value
from torchfix.rules._exprs import dim_value, keepdim_flag, parse_sqrt, parse_sum_of_squares

#: qualified function -> the name of its order argument
_FUNCTIONS = {
    "torch.norm": "p",
    "torch.functional.norm": "p",
    "torch.linalg.norm": "ord",
    "torch.linalg.vector_norm": "ord",
}
_KNOWN = {"input", "x", "A", "p", "ord", "dim", "keepdim"}
#: numpy-style spellings the linalg functions accept
_LINALG_ALIASES = {"keepdims": "keepdim", "axis": "dim"}


@dataclass(frozen=True)
class NormCall:
    """A vector norm: ``operand``'s ``p``-norm over ``dim`` (None: every element)."""

    node: cst.BaseExpression
    operand: cst.BaseExpression
    #: the order argument as written, None when it means the 2-norm
    p: cst.BaseExpression | None
    dim: cst.BaseExpression | None
    keepdim: bool
    #: for the spelled-out form, the sum of squares under the root
    radicand: cst.BaseExpression | None = None

    @property
    def is_two_norm(self) -> bool:
        return self.p is None or number_value(self.p) == 2.0


def _order(node: cst.BaseExpression | None) -> tuple[bool, cst.BaseExpression | None]:
    """(ok, p): p None for the 2-norm; not ok for matrix norms."""
    if node is None or (isinstance(node, cst.Name) and node.value == "None"):
        return True, None
    if isinstance(node, cst.SimpleString):
        # 'fro' over one dim (or all elements) is the 2-norm; 'nuc' is a matrix norm.
        return node.evaluated_value == "fro", None
    return True, node


def _keyword(a: cst.Arg, aliases: dict[str, str]) -> str | None:
    return None if a.keyword is None else aliases.get(a.keyword.value, a.keyword.value)


def _named(call: cst.Call, name: str, position: int | None, aliases: dict[str, str]) -> cst.Arg | None:
    for a in call.args:
        if _keyword(a, aliases) == name:
            return a
    return arg(call, name, position) if position is not None else None


def parse_norm(node: cst.CSTNode, names: NameTable) -> NormCall | None:
    """The norm call ``node`` computes, or None if it is not a plain vector norm."""
    if not isinstance(node, cst.Call) or has_star_args(node):
        return None
    func = node.func
    qualified = names.qualified(func)
    aliases = _LINALG_ALIASES if qualified in ("torch.linalg.norm", "torch.linalg.vector_norm") else {}
    if {_keyword(a, aliases) for a in node.args if a.keyword is not None} - _KNOWN:
        return None
    if qualified in _FUNCTIONS:
        operand = _named(node, "input", 0, {"x": "input", "A": "input"})
        shift = 1 if operand is not None and operand.keyword is None else 0
        order = _named(node, _FUNCTIONS[qualified], shift, aliases)
    elif isinstance(func, cst.Attribute) and func.attr.value == "norm" and qualified is None:
        operand, shift = None, 0
        order = _named(node, "p", 0, aliases)
    else:
        return None
    dim, keepdim = _named(node, "dim", 1 + shift, aliases), _named(node, "keepdim", 2 + shift, aliases)
    if sum(1 for a in node.args if a.keyword is None) > 3 + shift or (qualified in _FUNCTIONS and operand is None):
        return None
    reduced, kept = dim_value(dim), keepdim_flag(keepdim)
    # torch.linalg.norm with ord over all elements is a matrix norm for 2-D input.
    if qualified == "torch.linalg.norm" and reduced is None and order is not None:
        return None
    ok, p = _order(order.value if order is not None else None)
    if not ok or kept is None:
        return None
    base = operand.value if operand is not None else func.value  # type: ignore[union-attr]
    return NormCall(node, base, p, reduced, kept)


def parse_vector_norm(node: cst.CSTNode, names: NameTable) -> NormCall | None:
    """:func:`parse_norm`, or the 2-norm spelled ``sqrt((x ** 2).sum(dim))`` in any of its forms."""
    norm = parse_norm(node, names)
    if norm is not None:
        return norm
    radicand = parse_sqrt(node, names)
    total = parse_sum_of_squares(radicand, names) if radicand is not None else None
    if total is None:
        return None
    return NormCall(node, total.operand, None, total.dim, total.keepdim, radicand=radicand)


@dataclass(frozen=True)
class EpsGuard:
    """``inner.clamp(min=eps)`` (the clamp F.normalize itself does) or ``inner + eps`` (additive)."""

    inner: cst.BaseExpression
    eps: cst.BaseExpression
    additive: bool


def _is_eps(node: cst.BaseExpression) -> bool:
    """A non-negative number literal or a plain name/attribute (``eps``, ``self.eps``)."""
    value = number_value(node)
    if value is not None:
        return value >= 0
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name) and node.value not in ("None", "True", "False")


def parse_eps_guard(node: cst.BaseExpression, names: NameTable) -> EpsGuard | None:
    """``n.clamp(min=eps)``, ``n.clamp_min(eps)``, ``torch.clamp(n, min=eps)``, ``n + eps``, ``eps + n``."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        for inner, eps in ((node.left, node.right), (node.right, node.left)):
            if _is_eps(eps) and not _is_eps(inner):
                return EpsGuard(inner, eps, additive=True)
        return None
    if not isinstance(node, cst.Call) or len(node.args) not in (1, 2) or has_star_args(node):
        return None
    func = node.func
    qualified = names.qualified(func)
    if isinstance(func, cst.Attribute) and qualified is None and func.attr.value in ("clamp", "clamp_min"):
        inner, low, count = func.value, arg(node, "min", 0), 1
    elif qualified in ("torch.clamp", "torch.clamp_min"):
        operand = arg(node, "input", 0)
        inner, low, count = (operand.value if operand is not None else None), arg(node, "min", 1), 2
    else:
        return None
    if inner is None or low is None or len(node.args) != count or not _is_eps(low.value):
        return None
    return EpsGuard(inner, low.value, additive=False)
