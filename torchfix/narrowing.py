"""Narrowing: the part of a file LibCST must parse for the rules whose findings stay in one function.

Parsing with LibCST is most of a cold check's cost, and in a large file the
prefilter usually keeps one or two functions. The expression rules
(:data:`~torchfix.prefilter.ANCHORS`: TF002, TF005-TF007, TF009, TF010) report at
the nodes their prefilter matchers yield (the anchors), and what they read about
such a node (its names' assignments, the rank and dtype evidence) comes from the
function that holds it, the module's imports and the file's identifiers (a fix
needs a free name). So when every anchor of the kept rules lies in a function,
LibCST parses the file with each top-level definition (and each method of a
class it keeps) that holds no anchor hidden: its first and last lines become
marker comments naming their numbers and the lines between are emptied, so every
line and column stays where it was, and the identifiers it held are handed to
the name table (:attr:`Narrowed.hidden_names`). Module-level statements are
always kept. Fixes are applied to the narrowed tree and the hidden lines put back
between their markers (:meth:`Narrowed.restore`). Rules that read the whole module
(TF001, TF003, TF004, TF008), and anchors outside any function (whose evidence is
the whole module), parse the file whole.

``tests/test_narrowing.py`` holds narrowed checks to the whole file's findings on
the corpus and the rule examples, and ``benchmarks/prefilter.py`` on real libraries.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import cached_property
from typing import Collection

from torchfix.prefilter import ANCHORS, Facts

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
#: a line with its line end (a last line may have none), as Python numbers lines
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_LINE_END = re.compile(r"\r\n|\n")
#: what the first and last lines of hidden code become: a comment naming the line's number
_MARKER = "#@torchfix-hidden "
_MARKER_LINE = re.compile(rf"^{_MARKER}(\d+)(?=\r?\n|\Z)", re.MULTILINE)


@dataclass(frozen=True)
class Narrowed:
    """A file's source with the definitions no rule needs hidden, line for line."""

    #: the source with each hidden span's first and last lines replaced by markers, the others emptied
    text: str
    #: the source's lines, each with its line end
    original: list[str]
    #: the hidden spans of lines (first, last; 1-based), in order
    spans: tuple[tuple[int, int], ...]
    #: the hidden definitions (Python's AST)
    hidden: tuple[ast.stmt, ...]

    def restore(self, fixed: str) -> str | None:
        """``fixed`` (:attr:`text` with fixes applied) with the hidden lines put back; None when a
        fix dropped or moved one (then the fixes are applied to the whole file)."""
        markers = list(_MARKER_LINE.finditer(fixed))
        if [int(marker.group(1)) for marker in markers] != [n for span in self.spans for n in sorted(set(span))]:
            return None
        found = iter(markers)
        pieces = []
        done = 0
        for first, last in self.spans:
            start = next(found)
            end = start if first == last else next(found)
            between = fixed[start.end() : end.start()]
            if len(_LINE_END.findall(between)) != last - first or _LINE_END.sub("", between):
                return None  # a line between the markers was removed, added or written
            pieces += [fixed[done : start.start()], "".join(self.original[first - 1 : last]).rstrip("\r\n")]
            done = end.end()
        return "".join(pieces) + fixed[done:]

    @cached_property
    def hidden_names(self) -> frozenset[str]:
        """Every identifier the hidden definitions hold, as LibCST's ``Name`` nodes would
        (imports excepted, as :class:`~torchfix.names.NameTable` counts them)."""
        return frozenset(name for statement in self.hidden for name in identifiers(statement))


def narrowed(text: str, facts: Facts, codes: Collection[str]) -> Narrowed | None:
    """The source to parse for the rules ``codes`` (the ones the prefilter kept), or None when
    the whole file is needed (or nothing would be left out)."""
    if not codes or any(code not in ANCHORS for code in codes):
        return None
    if "\r" in text.replace("\r\n", "") or _MARKER in text:
        return None  # lone CR line ends (LibCST does not keep them), or markers already
    anchors = [anchor for code in sorted(codes) for anchor in ANCHORS[code](facts)]
    if not anchors or not all(facts.in_function(anchor) for anchor in anchors):
        return None
    spans: list[tuple[int, int]] = []
    hidden: list[ast.stmt] = []
    _hide(facts.tree.body, 1, sorted(anchor.lineno for anchor in anchors), spans, hidden)
    if not spans:
        return None
    lines = _LINE.findall(text)
    marked = list(lines)
    for first, last in spans:
        for number in range(first, last + 1):
            line = lines[number - 1]
            content = line.rstrip("\r\n")
            marked[number - 1] = (f"{_MARKER}{number}" if number in (first, last) else "") + line[len(content) :]
    return Narrowed("".join(marked), lines, tuple(sorted(spans)), tuple(hidden))


def _hide(body: list[ast.stmt], first: int | None, lines: list[int], spans: list, hidden: list) -> None:
    """The spans of lines to hide in ``body``: each definition with no anchor on its ``lines``,
    from the line after the statement before it (``first`` for the first statement; None: the
    first one of a class body, whose header may end on its line, is hidden only when it has no
    decorator)."""
    for statement in body:
        start = first
        if start is None and not getattr(statement, "decorator_list", None):
            start = statement.lineno
        end = statement.end_lineno or statement.lineno
        if type(statement) in _DEFINITIONS and start is not None:
            index = bisect_left(lines, start)
            if index == len(lines) or lines[index] > end:
                spans.append((start, end))
                hidden.append(statement)
            elif type(statement) is ast.ClassDef:
                _hide(statement.body, None, lines, spans, hidden)
        first = end + 1


_KEYWORD_CONSTANTS = {None: "None", True: "True", False: "False"}


def identifiers(node: ast.AST) -> set[str]:
    """The identifiers under ``node`` that LibCST spells as ``Name`` nodes (``None``, ``True`` and
    ``False`` among them), outside import statements."""
    found: set[str] = set()
    stack = [node]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is ast.Import or kind is ast.ImportFrom:
            continue
        if kind is ast.Name:
            found.add(node.id)
        elif kind is ast.Attribute:
            found.add(node.attr)
        elif kind is ast.Constant or kind is ast.MatchSingleton:
            if node.value is None or type(node.value) is bool:
                found.add(_KEYWORD_CONSTANTS[node.value])
        elif kind in _DEFINITIONS:
            found.add(node.name)
        elif kind is ast.arg:
            found.add(node.arg)
        elif kind is ast.keyword or kind is ast.ExceptHandler or kind is ast.MatchAs or kind is ast.MatchStar:
            name = node.arg if kind is ast.keyword else node.name
            if name is not None:
                found.add(name)
        elif kind is ast.Global or kind is ast.Nonlocal:
            found.update(node.names)
        elif kind is ast.MatchMapping and node.rest is not None:
            found.add(node.rest)
        elif kind is ast.MatchClass:
            found.update(node.kwd_attrs)
        stack.extend(ast.iter_child_nodes(node))
    return found
