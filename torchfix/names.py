"""Import-alias resolution: which API a name or attribute chain means.

One table is built per file from its import statements; it resolves ``F.normalize``,
``nn.functional.normalize`` and ``torch.nn.functional.normalize`` alike to
``torch.nn.functional.normalize`` (every alias spelling in the catalogue), and
builds references back in the file's own spelling, with the import a fix needs.
The conventional spellings of new imports (``import torch.nn.functional as F``)
are the rules' knowledge, passed in as :class:`Convention` values.

This is deliberately lighter than LibCST's ``QualifiedNameProvider`` (no scope
analysis, no metadata pass): imports are read at module level, including inside
top-level ``if``/``try``/``with`` blocks and their ``else`` and ``except``
branches, but not inside functions or classes, and a local variable that shadows
an imported name is not tracked. Rules only match calls whose resolved name is a
torch API, so these are the blind spots: an import inside a function leaves its
calls unmatched (a missed fix, never a wrong one), and shadowing a torch alias is
documented in the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterable

import libcst as cst

from torchfix.walk import walk


@dataclass(frozen=True, order=True)
class ImportRequest:
    """An import a fix needs: ``import module as asname`` or ``from module import name``."""

    module: str
    name: str | None = None
    asname: str | None = None

    def statement(self) -> cst.SimpleStatementLine:
        alias = cst.AsName(cst.Name(self.asname)) if self.asname else None
        if self.name is None:
            node = cst.Import(names=[cst.ImportAlias(name=dotted(self.module), asname=alias)])
        else:
            node = cst.ImportFrom(
                module=dotted(self.module),
                names=[cst.ImportAlias(name=cst.Name(self.name), asname=alias)],
            )
        return cst.SimpleStatementLine(body=[node])

    @property
    def bound_name(self) -> str:
        if self.asname:
            return self.asname
        return self.name if self.name is not None else self.module.split(".")[0]


@dataclass(frozen=True)
class Convention:
    """The usual spelling of the APIs under ``prefix`` when the file does not import them yet.

    ``Convention("torch.nn.functional.", ImportRequest("torch.nn.functional", asname="F"), preferred=True)``
    writes ``F.normalize`` and adds the import. A *preferred* convention wins over a
    chain through an imported parent module (``F.normalize``, not ``torch.nn.functional.normalize``).
    """

    prefix: str
    request: ImportRequest
    preferred: bool = False


@dataclass(frozen=True)
class Reference:
    """An expression naming an API in the file's spelling, and the imports it needs."""

    expr: cst.BaseExpression
    imports: tuple[ImportRequest, ...] = ()


def dotted(name: str) -> cst.Name | cst.Attribute:
    """``"a.b.c"`` as a Name/Attribute chain."""
    parts = name.split(".")
    node: cst.Name | cst.Attribute = cst.Name(parts[0])
    for part in parts[1:]:
        node = cst.Attribute(value=node, attr=cst.Name(part))
    return node


def dotted_name(node: cst.CSTNode) -> str | None:
    """The source spelling of a Name/Attribute chain (``"a.b.c"``), else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted_name(node.value)
        return None if base is None else f"{base}.{node.attr.value}"
    return None


class NameTable:
    """Maps local names to the qualified names their imports bind."""

    def __init__(
        self,
        module: cst.Module,
        conventions: tuple[Convention, ...] = (),
        hidden_names: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        """``hidden_names``: the identifiers of code left out of ``module`` (a narrowed parse,
        see :mod:`torchfix.narrowing`), asked for only when a fix needs a free name."""
        self.module = module
        self.conventions = conventions
        self._hidden_names = hidden_names
        self.bindings: dict[str, str] = {}
        self._collect(module.body)

    def _collect(self, body) -> None:
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.Import):
                        self._bind_import(small)
                    elif isinstance(small, cst.ImportFrom):
                        self._bind_import_from(small)
            elif isinstance(stmt, (cst.If, cst.Try, cst.With)):
                self._collect(stmt.body.body)
                for extra in (getattr(stmt, "orelse", None), *getattr(stmt, "handlers", ())):
                    if extra is not None and hasattr(extra, "body"):
                        self._collect(getattr(extra.body, "body", ()))

    def _bind_import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = dotted_name(alias.name)
            if full is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.bindings[alias.asname.name.value] = full
            else:
                head = full.split(".")[0]
                self.bindings.setdefault(head, head)

    def _bind_import_from(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None or isinstance(node.names, cst.ImportStar):
            return
        module = dotted_name(node.module)
        for alias in node.names:
            name = dotted_name(alias.name)
            if module is None or name is None:
                continue
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.bindings[local] = f"{module}.{name}"

    # -- resolution ---------------------------------------------------------

    def qualified(self, node: cst.CSTNode) -> str | None:
        """The qualified name a Name/Attribute chain refers to, if imported."""
        if isinstance(node, cst.Name):
            return self.bindings.get(node.value)
        if isinstance(node, cst.Attribute):
            base = self.qualified(node.value)
            return None if base is None else f"{base}.{node.attr.value}"
        return None

    # -- references ---------------------------------------------------------

    @cached_property
    def used_names(self) -> frozenset[str]:
        """Every identifier in the file: a name absent here is free to bind."""
        collector = _NameCollector()
        walk(self.module, [collector])
        hidden = self._hidden_names() if self._hidden_names is not None else ()
        return frozenset(collector.names) | frozenset(self.bindings) | frozenset(hidden)

    def is_free(self, name: str) -> bool:
        return name not in self.used_names

    def _local_for(self, qualified: str) -> str | None:
        # Sorted for determinism when two aliases bind the same module.
        for local in sorted(self.bindings):
            if self.bindings[local] == qualified:
                return local
        return None

    def reference(self, qualified: str) -> Reference | None:
        """An expression for ``qualified`` in this file's spelling, adding an import if needed.

        Prefers a direct binding, then a preferred convention whose name is free,
        then the longest imported module prefix, then another convention, then
        the root package (``import torch``) when that name is free. None when
        no spelling is possible without shadowing a name the file already uses.
        """
        direct = self._local_for(qualified)
        if direct is not None:
            return Reference(cst.Name(direct))
        for convention in self.conventions:
            if convention.preferred and self._local_for(convention.prefix.rstrip(".")) is None:
                found = self._conventional(qualified, convention)
                if found is not None:
                    return found
        parts = qualified.split(".")
        for i in range(len(parts) - 1, 0, -1):
            local = self._local_for(".".join(parts[:i]))
            if local is not None:
                return Reference(dotted(".".join([local, *parts[i:]])))
        for convention in self.conventions:
            found = None if convention.preferred else self._conventional(qualified, convention)
            if found is not None:
                return found
        root = parts[0]
        if self.is_free(root):
            return Reference(dotted(qualified), (ImportRequest(root),))
        return None

    def _conventional(self, qualified: str, convention: Convention) -> Reference | None:
        bound = convention.request.bound_name
        if not qualified.startswith(convention.prefix) or not self.is_free(bound):
            return None
        return Reference(dotted(f"{bound}.{qualified[len(convention.prefix):]}"), (convention.request,))


class _NameCollector(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Import(self, node: cst.Import) -> bool:
        # `import torch.nn as nn` binds `nn` only; the table's bindings list what imports bind.
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False
