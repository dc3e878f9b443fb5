"""Add the imports a fix needs, once, next to the file's own torch imports."""

from __future__ import annotations

from typing import Sequence

import libcst as cst

from torchfix.names import ImportRequest, NameTable, dotted_name


def _imported_modules(stmt: cst.CSTNode) -> list[str]:
    if not isinstance(stmt, cst.SimpleStatementLine):
        return []
    modules = []
    for small in stmt.body:
        if isinstance(small, cst.Import):
            modules.extend(dotted_name(a.name) or "" for a in small.names)
        elif isinstance(small, cst.ImportFrom) and small.module is not None:
            modules.append(dotted_name(small.module) or "")
    return modules


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _insert_at(module: cst.Module) -> int:
    """After the last top-level torch import, else the last import, else the docstring."""
    last_import = last_torch = None
    for index, stmt in enumerate(module.body):
        modules = _imported_modules(stmt)
        if modules:
            last_import = index
            if any(m == "torch" or m.startswith("torch.") for m in modules):
                last_torch = index
    if last_torch is not None:
        return last_torch + 1
    if last_import is not None:
        return last_import + 1
    return 1 if module.body and _is_docstring(module.body[0]) else 0


def add_imports(module: cst.Module, requests: Sequence[ImportRequest]) -> cst.Module:
    """``module`` with each request's import added unless its name is already bound to it."""
    if not requests:
        return module
    names = NameTable(module)
    missing = []
    for request in requests:
        target = request.module if request.name is None else f"{request.module}.{request.name}"
        if names.bindings.get(request.bound_name) != target and request not in missing:
            missing.append(request)
    if not missing:
        return module
    at = _insert_at(module)
    statements = [r.statement() for r in missing]
    return module.with_changes(body=[*module.body[:at], *statements, *module.body[at:]])
