"""Add the imports a fix needs, once, where isort puts them.

An added ``import a.b as c`` goes into the block of top-level imports that already
imports from package ``a`` (isort's section), at its sorted place: plain imports
before ``from`` imports (unless ``force_sort_within_sections``), by module name,
case-insensitively. An added ``from a import b`` joins an existing ``from a import
...`` statement, at its sorted place among the names (constants, classes, then
the rest, as isort's ``order_by_type``), and the statement is wrapped in
parentheses, one name per line, when it grows past the line length. Without a
block for the package, the import goes after the last top-level import (or the
docstring). Nothing here knows about torch: rules state the imports they need.
"""

from __future__ import annotations

from typing import Sequence

import libcst as cst

from torchfix.layout import Style
from torchfix.names import ImportRequest, NameTable, dotted_name

_EMPTY = cst.Module(body=[])


def _single_import(stmt: cst.CSTNode) -> cst.Import | cst.ImportFrom | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        small = stmt.body[0]
        if isinstance(small, (cst.Import, cst.ImportFrom)):
            return small
    return None


def _module_of(node: cst.Import | cst.ImportFrom) -> str | None:
    """The imported module's name (``a.b`` in ``import a.b`` and ``from a.b import c``); None when relative."""
    if isinstance(node, cst.Import):
        return dotted_name(node.names[0].name)
    if node.relative or node.module is None:
        return None
    return dotted_name(node.module)


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _sort_key(plain: bool, module: str, style: Style) -> tuple:
    if style.force_sort_within_sections:
        return (module.lower(), not plain)
    return (not plain, module.lower())


def _name_key(name: str) -> tuple:
    """isort's ``order_by_type``: CONSTANTS, then Classes, then everything else; case-insensitive."""
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return (kind, name.lower(), name)


def _blocks(body: Sequence[cst.CSTNode]) -> list[list[int]]:
    """Runs of consecutive top-level import statements not separated by a blank line or comment."""
    runs: list[list[int]] = []
    for index, stmt in enumerate(body):
        node = _single_import(stmt)
        if node is None or (isinstance(node, cst.ImportFrom) and _module_of(node) == "__future__"):
            continue
        separated = bool(stmt.leading_lines)  # type: ignore[attr-defined]
        if runs and runs[-1][-1] == index - 1 and not separated:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs


def _insert_statement(module: cst.Module, request: ImportRequest, style: Style) -> cst.Module:
    body = list(module.body)
    root = request.module.split(".")[0]
    plain = request.name is None
    key = _sort_key(plain, request.module, style)
    new = request.statement()
    block = next(
        (
            run
            for run in _blocks(body)
            if any((_module_of(_single_import(body[i])) or "").split(".")[0] == root for i in run)
        ),
        None,
    )
    if block is None:
        imports = [i for i, stmt in enumerate(body) if _single_import(stmt) is not None]
        at = imports[-1] + 1 if imports else (1 if body and _is_docstring(body[0]) else 0)
        return module.with_changes(body=[*body[:at], new, *body[at:]])
    at = block[-1] + 1
    for index in block:
        node = _single_import(body[index])
        module_name = _module_of(node) or ""  # type: ignore[arg-type]
        if _sort_key(isinstance(node, cst.Import), module_name, style) > key:
            at = index
            break
    if at == block[0]:
        # The new first statement of the block takes the block's blank lines; comments stay with theirs.
        first = body[at]
        lines = list(first.leading_lines)  # type: ignore[attr-defined]
        blanks = 0
        while blanks < len(lines) and lines[blanks].comment is None:
            blanks += 1
        new = new.with_changes(leading_lines=lines[:blanks])
        body[at] = first.with_changes(leading_lines=lines[blanks:])
    return module.with_changes(body=[*body[:at], new, *body[at:]])


def _join_from(module: cst.Module, request: ImportRequest, style: Style) -> cst.Module | None:
    """``module`` with ``request``'s name added to an existing ``from <module> import ...``; None when none."""
    for index, stmt in enumerate(module.body):
        node = _single_import(stmt)
        if not isinstance(node, cst.ImportFrom) or isinstance(node.names, cst.ImportStar):
            continue
        if _module_of(node) != request.module:
            continue
        names = list(node.names)
        alias = cst.ImportAlias(
            name=cst.Name(request.name),  # type: ignore[arg-type]
            asname=cst.AsName(cst.Name(request.asname)) if request.asname else None,
        )
        at = len(names)
        for position, existing in enumerate(names):
            if _name_key(dotted_name(existing.name) or "") > _name_key(request.name or ""):
                at = position
                break
        multiline = node.lpar is not None and "\n" in _EMPTY.code_for_node(node)
        if at == len(names):
            # The new last name takes the old last name's trailing comma (or none).
            alias = alias.with_changes(comma=names[-1].comma)
            separator = names[-2].comma if len(names) > 1 else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            names[-1] = names[-1].with_changes(comma=separator)
        else:
            alias = alias.with_changes(
                comma=names[at].comma if multiline else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            )
        names.insert(at, alias)
        updated = node.with_changes(names=names)
        line = _EMPTY.code_for_node(stmt.with_changes(body=[updated], leading_lines=[]))
        if not multiline and len(line.rstrip("\n")) > style.line_length:
            updated = _vertical(updated)
        new_stmt = stmt.with_changes(body=[updated])
        return module.with_changes(body=[*module.body[:index], new_stmt, *module.body[index + 1 :]])
    return None


def _vertical(node: cst.ImportFrom) -> cst.ImportFrom:
    """``from a import (\\n    b,\\n    c,\\n)``: isort's wrapping for black (one name per line, trailing comma)."""
    indented = cst.ParenthesizedWhitespace(indent=True, last_line=cst.SimpleWhitespace("    "))
    names = [n.with_changes(comma=cst.Comma(whitespace_after=indented)) for n in node.names]  # type: ignore[union-attr]
    names[-1] = names[-1].with_changes(comma=cst.Comma(whitespace_after=cst.ParenthesizedWhitespace(indent=True)))
    return node.with_changes(
        names=names,
        lpar=cst.LeftParen(whitespace_after=indented),
        rpar=cst.RightParen(),
    )


def add_imports(module: cst.Module, requests: Sequence[ImportRequest], style: Style = Style()) -> cst.Module:
    """``module`` with each request's import added unless its name is already bound to it."""
    if not requests:
        return module
    names = NameTable(module)
    missing = []
    for request in requests:
        target = request.module if request.name is None else f"{request.module}.{request.name}"
        if names.bindings.get(request.bound_name) != target and request not in missing:
            missing.append(request)
    for request in missing:
        joined = _join_from(module, request, style) if request.name is not None else None
        module = joined if joined is not None else _insert_statement(module, request, style)
    return module
