"""Each changed file's and each fix's outcome: verified, differs or unverified (no torch here).

A fix is *verified* when its site check passed, or when a model whose check came
out equal ran the code the fix sits in (the worker records, per model, which
functions and classes of the changed files it executed: its *scope*). It
*differs* when its site check failed or a differing model ran its scope. Anything
else is *unverified*, with the reason. A file takes its worst fix's state.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

VERIFIED, DIFFERS, UNVERIFIED = "verified", "differs", "unverified"
#: exit codes: 0 everything verified, 1 something differs, 3 nothing differs but something is unverified
EXIT_UNVERIFIED = 3
MODULE_SCOPE = "<module>"


class _Scopes(ast.NodeVisitor):
    """The qualified name (as ``co_qualname`` spells it) of the innermost def or class at each line."""

    def __init__(self) -> None:
        self.spans: list[tuple[int, int, str]] = []
        self.prefix: list[tuple[str, bool]] = []

    def _scope(self, node: ast.AST, is_function: bool) -> None:
        parts = []
        for name, function in self.prefix:
            parts.append(f"{name}.<locals>" if function else name)
        qualname = ".".join([*parts, node.name])
        self.spans.append((node.lineno, node.end_lineno or node.lineno, qualname))
        self.prefix.append((node.name, is_function))
        self.generic_visit(node)
        self.prefix.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scope(node, False)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scope(node, True)

    visit_AsyncFunctionDef = visit_FunctionDef


def scope_table(text: str) -> list[tuple[int, int, str]]:
    """Every def and class of ``text``: (first line, last line, qualified name)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return []
    visitor = _Scopes()
    visitor.visit(tree)
    return visitor.spans


def scope_at(table: Sequence[tuple[int, int, str]], line: int) -> str:
    """The innermost def or class holding ``line`` (decorators and signature lines included)."""
    best = MODULE_SCOPE
    best_size = None
    for first, last, name in table:
        if first <= line <= last and (best_size is None or last - first < best_size):
            best, best_size = name, last - first
    return best


def changed_lines(before: str, after: str) -> list[int]:
    """The lines of ``before`` that the edit to ``after`` replaces (an insertion: the line before it)."""
    lines = []
    matcher = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(), autojunk=False)
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag != "equal":
            lines.extend(range(i1 + 1, i2 + 1) if i2 > i1 else [max(i1, 1)])
    return lines


@dataclass
class Unit:
    """One fix (or the edits torchfix did not make) and its verdict."""

    path: str
    what: str  # "TF008 at line 12" or "edits torchfix did not make (lines ...)"
    unsafe: bool
    scopes: tuple[str, ...]
    site: str | None = None  # the site check's status: passed, failed, skipped, or None (no site)
    state: str = UNVERIFIED
    reason: str = ""
    code: str = ""
    line: int = 0

    def as_dict(self) -> dict:
        return {
            "fix": self.what,
            "code": self.code,
            "line": self.line,
            "unsafe": self.unsafe,
            "scope": ", ".join(self.scopes),
            "state": self.state,
            "reason": self.reason,
        }


@dataclass
class ModelRun:
    """What one module check ran: its verdict, its name, and the scopes it executed per file."""

    name: str
    status: str
    ran: Mapping[str, Iterable[str]]
    #: files whose module code the model imported (a fix at module level)
    imported: Iterable[str] = ()


@dataclass
class FileOutcome:
    path: str
    units: list[Unit] = field(default_factory=list)

    @property
    def state(self) -> str:
        states = {unit.state for unit in self.units}
        if DIFFERS in states:
            return DIFFERS
        return UNVERIFIED if UNVERIFIED in states or not self.units else VERIFIED

    def as_dict(self) -> dict:
        return {"path": self.path, "state": self.state, "fixes": [unit.as_dict() for unit in self.units]}


def _key(path: str) -> str:
    return str(Path(path).resolve())


def judge(files: Sequence[FileOutcome], models: Sequence[ModelRun], skipped: Sequence[str] = ()) -> None:
    """Give each unit its state and reason (in place). ``skipped`` names models that could not
    be checked, for the reason of an unverified unit."""
    for outcome in files:
        path = _key(outcome.path)
        ran_by = {}
        for model in models:
            ran = set(model.ran.get(path, ()))
            if path in {_key(p) for p in model.imported}:
                ran.add(MODULE_SCOPE)
            ran_by[model.name] = (model.status, ran)
        for unit in outcome.units:
            _judge_unit(unit, ran_by, skipped)


def _judge_unit(unit: Unit, ran_by: Mapping[str, tuple[str, set[str]]], skipped: Sequence[str]) -> None:
    if unit.site == "failed":
        unit.state, unit.reason = DIFFERS, "its site check failed"
        return
    differing = sorted(name for name, (status, ran) in ran_by.items() if status == "differs" and ran & set(unit.scopes))
    if differing and unit.site != "passed":
        unit.state, unit.reason = DIFFERS, f"{', '.join(differing)} differs and runs {_scopes(unit)}"
        return
    if unit.site == "passed":
        unit.state, unit.reason = VERIFIED, "site check passed"
        return
    equal = sorted(name for name, (status, ran) in ran_by.items() if status == "equal")
    covering = [name for name in equal if set(unit.scopes) <= ran_by[name][1]]
    if covering:
        unit.state, unit.reason = VERIFIED, f"{covering[0]} ran {_scopes(unit)} and is equal"
        return
    unit.state = UNVERIFIED
    why = [f"no checked model ran {_scopes(unit)}"]
    if unit.site == "skipped":
        why.append("its site check was skipped")
    if skipped:
        shown = ", ".join(skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
        why.append(f"not checked: {shown}")
    unit.reason = "; ".join(why)


def _scopes(unit: Unit) -> str:
    return ", ".join("module-level code" if s == MODULE_SCOPE else s for s in unit.scopes)


def counts(files: Sequence[FileOutcome]) -> dict[str, dict[str, int]]:
    """How many files and fixes end in each state."""
    result = {"files": dict.fromkeys((VERIFIED, DIFFERS, UNVERIFIED), 0)}
    result["fixes"] = dict(result["files"])
    for outcome in files:
        result["files"][outcome.state] += 1
        for unit in outcome.units:
            result["fixes"][unit.state] += 1
    return result


def exit_code(files: Sequence[FileOutcome], allow_unverified: bool) -> int:
    states = {outcome.state for outcome in files}
    if DIFFERS in states:
        return 1
    return EXIT_UNVERIFIED if UNVERIFIED in states and not allow_unverified else 0
