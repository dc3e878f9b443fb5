"""Statement lists of class and function bodies, shared by the structural rules (TF001, TF003, TF004, TF008)."""

from __future__ import annotations

from typing import Iterator, Sequence

import libcst as cst


def is_docstring(stmt: cst.CSTNode) -> bool:
    """A string expression statement (or a line holding only one)."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        stmt = stmt.body[0]
    return isinstance(stmt, cst.Expr) and isinstance(stmt.value, (cst.SimpleString, cst.ConcatenatedString))


def statements(block: cst.BaseSuite) -> list[cst.CSTNode]:
    """A suite's statements, small statements flattened (one-line suites too), without a docstring."""
    items: list[cst.CSTNode] = []
    for stmt in block.body:
        items.extend(stmt.body if isinstance(stmt, cst.SimpleStatementLine) else [stmt])
    return items[1:] if items and is_docstring(items[0]) else items


def assignment_targets(body: Sequence[cst.CSTNode]) -> Iterator[tuple[cst.BaseSmallStatement, cst.BaseExpression]]:
    """Each target assigned at a block's own level (``=``, annotated, augmented), with its statement."""
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign):
                    yield from ((small, target.target) for target in small.targets)
                elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                    yield small, small.target
