"""A static view of the user's project (no imports run): module names, import
closures and the classes a module check should build.

The module check builds every class defined in a changed file and every class
that uses one (by name, through imports), and blames a failing model on the
changed files its module imports, directly or not.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Iterable

from torchfix.discovery import discover
from torchfix.verify.importwork import has_main_block, import_work

#: how many re-export hops (``from .layers import Attention`` in ``__init__``) are followed
_MAX_HOPS = 10


def module_name(path: Path, root: Path) -> str | None:
    """The dotted name ``path`` is imported as with ``root`` on ``sys.path``."""
    try:
        parts = list(path.resolve().relative_to(root.resolve()).with_suffix("").parts)
    except ValueError:
        return None
    if parts and parts[-1] == "__init__":
        parts.pop()
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


@dataclass
class ModuleInfo:
    """What one file imports and defines."""

    name: str
    path: Path
    is_package: bool
    #: local name -> (module, attribute or None for a module binding)
    bindings: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    #: modules this one imports (absolute names; may be outside the project)
    imports: list[str] = field(default_factory=list)
    #: those imported when the module itself is (not inside a function)
    import_time: set[str] = field(default_factory=set)
    #: top-level class name -> (line, dotted names referenced in its body)
    classes: dict[str, tuple[int, set[str]]] = field(default_factory=dict)
    #: what the module does when imported, beyond defining things (see :mod:`importwork`)
    work: str | None = None
    #: whether it has an ``if __name__ == "__main__":`` block (an example to record from)
    has_main: bool = False


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def _absolute(info_name: str, is_package: bool, level: int, module: str | None) -> str | None:
    """The absolute module of ``from <level dots><module> import ...`` inside ``info_name``."""
    if level == 0:
        return module
    parts = info_name.split(".") if is_package else info_name.split(".")[:-1]
    if level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    if module:
        base.append(module)
    return ".".join(base) or None


def _imported(name: str, is_package: bool, statement: ast.stmt) -> set[str]:
    """The modules one top-level statement imports (with ``from m import x``: m and m.x)."""
    found = set()
    for node in ast.walk(statement):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(name, is_package, node.level, node.module)
            if module is not None:
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names if alias.name != "*")
    return found


def _parse(name: str, path: Path, is_package: bool) -> ModuleInfo | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError, OSError):
        return None
    info = ModuleInfo(name, path, is_package, work=import_work(tree), has_main=has_main_block(tree))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                info.imports.append(alias.name)
                if alias.asname:
                    info.bindings[alias.asname] = (alias.name, None)
                else:
                    head = alias.name.split(".")[0]
                    info.bindings.setdefault(head, (head, None))
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(name, is_package, node.level, node.module)
            if module is None:
                continue
            info.imports.append(module)
            for alias in node.names:
                if alias.name == "*":
                    continue
                info.imports.append(f"{module}.{alias.name}")
                info.bindings[alias.asname or alias.name] = (module, alias.name)
    for statement in tree.body:
        if not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            info.import_time.update(_imported(name, is_package, statement))
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            used = {d for sub in ast.walk(node) if (d := _dotted(sub)) is not None}
            used.discard(node.name)
            info.classes[node.name] = (node.lineno, used)
    return info


class Project:
    """Every module under the project root, parsed once."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.modules: dict[str, ModuleInfo] = {}
        for path in discover([self.root]).files:
            name = module_name(path, self.root)
            if name is not None and name not in self.modules:
                info = _parse(name, path, path.name == "__init__.py")
                if info is not None:
                    self.modules[name] = info

    @cached_property
    def _by_path(self) -> dict[Path, str]:
        return {info.path.resolve(): name for name, info in self.modules.items()}

    def name_of(self, path: Path) -> str | None:
        return self._by_path.get(path.resolve())

    def closure(self, module: str, at_import: bool = False) -> set[str]:
        """``module`` and every project module it imports, directly or not (with parent packages);
        ``at_import``: only what importing it imports (not the imports inside its functions)."""
        seen: set[str] = set()
        todo = [module]
        while todo:
            name = todo.pop()
            for candidate in _with_parents(name):
                if candidate in self.modules and candidate not in seen:
                    seen.add(candidate)
                    info = self.modules[candidate]
                    todo.extend(info.import_time if at_import else info.imports)
        return seen

    def files(self, modules: Iterable[str]) -> set[Path]:
        return {self.modules[m].path.resolve() for m in modules if m in self.modules}

    def resolve(self, module: str, dotted: str) -> tuple[str, str] | None:
        """The (module, class) a dotted name used in ``module`` refers to, if a project class."""
        head, _, rest = dotted.partition(".")
        info = self.modules.get(module)
        if info is None:
            return None
        if not rest and head in info.classes:
            return module, head
        binding = info.bindings.get(head)
        if binding is None:
            return None
        target, attribute = binding
        path = ([attribute] if attribute else []) + (rest.split(".") if rest else [])
        return self._follow(target, path, 0)

    def _follow(self, module: str, path: list[str], hops: int) -> tuple[str, str] | None:
        if hops > _MAX_HOPS or not path:
            return None
        if f"{module}.{path[0]}" in self.modules:
            return self._follow(f"{module}.{path[0]}", path[1:], hops + 1)
        info = self.modules.get(module)
        if info is None:
            return None
        if len(path) == 1 and path[0] in info.classes:
            return module, path[0]
        binding = info.bindings.get(path[0])
        if binding is None:
            return None
        target, attribute = binding
        return self._follow(target, ([attribute] if attribute else []) + path[1:], hops + 1)

    def entry_details(self, target: str) -> dict[str, str]:
        """Extra worker-entry fields for a ``module:Class`` candidate: its file (the worker's
        ``sys.argv[0]``) and, when importing it would run work, why it must not be imported."""
        module = target.partition(":")[0]
        details = {"path": str(self.modules[module].path)} if module in self.modules else {}
        for name in sorted(self.closure(module, at_import=True)):
            work = self.modules[name].work
            if work:
                shown = self.modules[name].path.relative_to(self.root).as_posix()
                details["skip"] = (
                    f"not imported: {shown} does work when imported ({work}); move that under "
                    f'`if __name__ == "__main__":` or configure a factory that avoids it'
                )
                break
        return details

    def examples(self) -> dict[str, str]:
        """Modules with a ``__main__`` block whose import does no work: name -> path."""
        return {
            name: str(info.path)
            for name, info in sorted(self.modules.items())
            if info.has_main and not any(self.modules[m].work for m in self.closure(name, at_import=True))
        }

    def candidates(self, changed: Iterable[Path]) -> list[str]:
        """``"module:Class"`` for every class in a changed file and every class that uses one."""
        chosen = {
            (name, cls) for name in filter(None, map(self.name_of, changed)) for cls in self.modules[name].classes
        }
        grown = True
        while grown:
            grown = False
            for name, info in self.modules.items():
                for cls, (_, used) in info.classes.items():
                    if (name, cls) in chosen:
                        continue
                    if any(self.resolve(name, dotted) in chosen for dotted in used):
                        chosen.add((name, cls))
                        grown = True
        ordered = sorted(chosen, key=lambda item: (item[0], self.modules[item[0]].classes[item[1]][0]))
        return [f"{name}:{cls}" for name, cls in ordered]


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]
