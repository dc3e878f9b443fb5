"""Axes: where an unsqueeze puts its new axis, and the broadcast operands of pairwise code.

An inserted axis is an ``int`` when written as a literal (negative counts from
the end of the result, as ``unsqueeze`` does) or the expression passed to
``unsqueeze`` otherwise; ``x[:, None]`` is axis 1 and ``x[..., None]`` axis -1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import libcst as cst

from torchfix.names import NameTable
from torchfix.patterns import int_value, is_pure, same_code
from torchfix.rules._exprs import parse_receiver

Axis = Union[int, cst.BaseExpression]


@dataclass(frozen=True)
class Unsqueeze:
    """``operand.unsqueeze(axis)``, ``torch.unsqueeze(operand, axis)`` or ``operand[..., None]``."""

    operand: cst.BaseExpression
    axis: Axis


def _subscript_axis(node: cst.Subscript) -> int | None:
    """The axis a subscript of full slices, one ``None`` and at most one ``...`` inserts."""
    slices_before = slices_after = 0
    seen_none = ellipsis_first = seen_ellipsis = False
    for element in node.slice:
        index = element.slice
        if isinstance(index, cst.Slice):
            if index.lower is not None or index.upper is not None or index.step is not None:
                return None
            if seen_none:
                slices_after += 1
            else:
                slices_before += 1
        elif isinstance(index.value, cst.Name) and index.value.value == "None" and not seen_none:
            seen_none = True
        elif isinstance(index.value, cst.Ellipsis) and not seen_ellipsis:
            seen_ellipsis, ellipsis_first = True, not seen_none
        else:
            return None
    if not seen_none:
        return None
    return -(slices_after + 1) if ellipsis_first else slices_before


def parse_unsqueeze(node: cst.CSTNode, names: NameTable) -> Unsqueeze | None:
    """The tensor and the new axis of an unsqueeze in any spelling."""
    if isinstance(node, cst.Subscript):
        axis = _subscript_axis(node)
        return None if axis is None else Unsqueeze(node.value, axis)
    found = parse_receiver(node, names, ("unsqueeze",), ("torch.unsqueeze",), frozenset({"dim"}), 1)
    dim = found.arg("dim", 0) if found is not None else None
    if dim is None:
        return None
    value = int_value(dim.value)
    if value is not None:
        return Unsqueeze(found.operand, value)
    return Unsqueeze(found.operand, dim.value) if is_pure(dim.value) else None


def same_axis(axis: Axis, dim: cst.BaseExpression) -> bool:
    """Whether ``axis`` is the axis ``dim`` names, for any rank (equal literals or the same pure code)."""
    if not isinstance(axis, int) and int_value(axis) is not None:
        axis = int_value(axis)
    if isinstance(axis, int):
        return int_value(dim) == axis
    return int_value(dim) is None and is_pure(dim) and same_code(axis, dim)


def position(axis: Axis | cst.BaseExpression | None, rank: int) -> int | None:
    """The non-negative position of a literal axis in a tensor of ``rank``; None when unknown or out of range."""
    value = axis if isinstance(axis, int) or axis is None else int_value(axis)
    if value is None:
        return None
    value = value + rank if value < 0 else value
    return value if 0 <= value < rank else None


@dataclass(frozen=True)
class Broadcast:
    """An operand of pairwise code: ``operand`` with a new axis (None: used as it is)."""

    operand: cst.BaseExpression
    axis: Axis | None
    #: whether an ``.expand``/``.expand_as`` repeats it after the unsqueeze
    expanded: bool = False


def parse_broadcast(node: cst.BaseExpression, names: NameTable) -> Broadcast | None:
    """``a.unsqueeze(1)``, ``a[:, None].expand(n, m, d)``, or a plain name ``a`` / ``self.a``.

    Any other operand (``b.view(1, m, d)``, ``b[0]``) could have any rank: None.
    """
    expand = parse_receiver(node, names, ("expand", "expand_as"), (), frozenset(), 8)
    inner = expand.operand if expand is not None else node
    unsqueeze = parse_unsqueeze(inner, names)
    if unsqueeze is not None:
        return Broadcast(unsqueeze.operand, unsqueeze.axis, expanded=expand is not None)
    plain = node
    while isinstance(plain, cst.Attribute):
        plain = plain.value
    return Broadcast(node, None) if expand is None and isinstance(plain, cst.Name) else None


@dataclass(frozen=True)
class Pairwise:
    """Two broadcast operands whose difference (or product) pairs every row of ``row`` with every row of ``col``."""

    row: Broadcast
    col: Broadcast
    #: the rank both operands are assumed to have (2: (N, D) and (M, D); 3: batched)
    rank: int
    #: whether the code names ``col`` before ``row``
    swapped: bool


def pair(first: Broadcast, second: Broadcast, reduced: cst.BaseExpression | None) -> Pairwise | None:
    """The pairwise reading of ``first`` and ``second`` reduced over ``reduced``, at rank 2 or 3.

    Rank ``r`` needs one operand with a new axis at ``r - 1``, the other at
    ``r - 2`` (or, for ``r == 2``, none: it broadcasts), and the reduction over
    the last axis; anything else is not pairwise code.
    """
    for rank in (2, 3):
        out = rank + 1
        if position(reduced, out) != rank:
            continue
        for row, col, swapped in ((first, second, False), (second, first, True)):
            if position(row.axis, out) != rank - 1:
                continue
            if (col.axis is None and rank == 2) or position(col.axis, out) == rank - 2:
                return Pairwise(row, col, rank, swapped)
    return None
