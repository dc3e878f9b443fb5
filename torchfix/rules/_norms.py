"""Recognising vector-norm calls in all their spellings (TF005, TF006, TF007).

``x.norm(p, dim, keepdim)``, ``torch.norm(x, p, dim, keepdim)``,
``torch.linalg.norm(x, ord, dim, keepdim)`` and
``torch.linalg.vector_norm(x, ord, dim, keepdim)`` all become one
:class:`NormCall`; a call with arguments whose meaning we do not model
(``dtype=``, ``out=``, star-args, a matrix ``ord``) is not a norm here.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from torchfix.names import NameTable
from torchfix.patterns import arg, has_star_args, is_false, is_true, number_value

#: qualified function -> (name of the order argument, its default meaning "2")
_FUNCTIONS = {
    "torch.norm": "p",
    "torch.functional.norm": "p",
    "torch.linalg.norm": "ord",
    "torch.linalg.vector_norm": "ord",
}
_KNOWN = {"input", "x", "A", "p", "ord", "dim", "keepdim"}


@dataclass(frozen=True)
class NormCall:
    """A vector norm: ``operand``'s ``p``-norm over ``dim`` (None: every element)."""

    call: cst.Call
    operand: cst.BaseExpression
    #: the order argument as written, None when it means the 2-norm
    p: cst.BaseExpression | None
    dim: cst.BaseExpression | None
    keepdim: bool

    @property
    def is_two_norm(self) -> bool:
        return self.p is None or number_value(self.p) == 2.0


def _order(node: cst.BaseExpression | None, default_two: bool) -> tuple[bool, cst.BaseExpression | None]:
    """(ok, p): p None for the 2-norm; not ok for matrix norms and non-literal strings."""
    if node is None:
        return default_two, None
    if isinstance(node, cst.SimpleString):
        # 'fro' over one dim (or all elements) is the 2-norm; 'nuc' is a matrix norm.
        return node.evaluated_value == "fro", None
    if isinstance(node, cst.Name) and node.value == "None":
        return default_two, None
    return True, node


def parse_norm(node: cst.CSTNode, names: NameTable) -> NormCall | None:
    """The norm ``node`` computes, or None if it is not a plain vector norm."""
    if not isinstance(node, cst.Call) or has_star_args(node):
        return None
    keywords = {a.keyword.value for a in node.args if a.keyword is not None}
    if keywords - _KNOWN:
        return None
    func = node.func
    qualified = names.qualified(func)
    if qualified in _FUNCTIONS:
        order_name = _FUNCTIONS[qualified]
        operand = arg(node, "input", 0) or arg(node, "x", 0) or arg(node, "A", 0)
        order, dim, keepdim = arg(node, order_name, 1), arg(node, "dim", 2), arg(node, "keepdim", 3)
        positional = 4
    elif isinstance(func, cst.Attribute) and func.attr.value == "norm" and qualified is None:
        operand = None
        order, dim, keepdim = arg(node, "p", 0), arg(node, "dim", 1), arg(node, "keepdim", 2)
        positional = 3
    else:
        return None
    if sum(1 for a in node.args if a.keyword is None) > positional:
        return None
    dim_value = dim.value if dim is not None else None
    if isinstance(dim_value, cst.Name) and dim_value.value == "None":
        dim_value = None
    # torch.linalg.norm with ord over all elements is a matrix norm for 2-D input.
    if qualified == "torch.linalg.norm" and dim_value is None and order is not None:
        return None
    ok, p = _order(order.value if order is not None else None, default_two=True)
    if not ok:
        return None
    if keepdim is not None and not (is_true(keepdim.value) or is_false(keepdim.value)):
        return None
    base = operand.value if operand is not None else func.value  # type: ignore[union-attr]
    return NormCall(
        call=node,
        operand=base,
        p=p,
        dim=dim_value,
        keepdim=keepdim is not None and is_true(keepdim.value),
    )
