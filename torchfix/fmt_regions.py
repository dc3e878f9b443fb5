"""Code the formatter is told to leave alone: ``# fmt: off`` ... ``# fmt: on`` and ``# fmt: skip``.

The user wrote these lines by hand (an aligned table, a matrix literal), so no fix
may change them: a fix that would edit a line inside such a region is reported
without a fix, and says why. The comments are read as black and ruff read them:
``# yapf: disable``/``# yapf: enable`` are the same as ``# fmt: off``/``# fmt: on``;
``# fmt: skip`` trailing a statement covers that statement (a compound statement's
header only). A ``# fmt: off`` without its ``# fmt: on`` runs to the end of the file
(black ends it with its block: the longer region only declines more).
"""

from __future__ import annotations

import io
import re
import tokenize
from typing import Mapping

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, WhitespaceInclusivePositionProvider

from torchfix.rule import Fix

_OFF = re.compile(r"#\s*(?:fmt:\s*off|yapf:\s*disable)\s*$")
_ON = re.compile(r"#\s*(?:fmt:\s*on|yapf:\s*enable)\s*$")
#: the skip may share its comment with other tools' pragmas, before or after it (after ``#`` or ``;``)
_SKIP = re.compile(r"#\s*fmt:\s*skip\s*(?:$|[;#])")
#: what a file holding a region's first marker holds somewhere (``fmt: Format`` is a parameter)
_ANY_START = re.compile(r"#\s*(?:fmt:\s*(?:off|skip)|yapf:\s*disable)")


class FormatRegions:
    """The line spans of one source text that fixes must not edit."""

    def __init__(self, source: str) -> None:
        #: (first line, last line, what protects it), marker comments included
        self.spans: list[tuple[int, int, str]] = []
        self._whitespace_inclusive: Mapping[cst.CSTNode, CodeRange] | None = None
        if _ANY_START.search(source):  # else no region: Python's tokenizer need not read the file
            self._read(source)

    def _read(self, source: str) -> None:
        off: int | None = None
        statement: int | None = None  # first line of the logical line being read
        last = 1
        try:
            for token in tokenize.generate_tokens(io.StringIO(source).readline):
                last = token.end[0]
                if token.type == tokenize.COMMENT:
                    if off is None and _OFF.search(token.string):
                        off = token.start[0]
                    elif off is not None and _ON.search(token.string):
                        self.spans.append((off, token.start[0], "inside a `# fmt: off` region"))
                        off = None
                    elif statement is not None and _SKIP.search(token.string):
                        self.spans.append((statement, token.start[0], "on a `# fmt: skip` line"))
                elif token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                    statement = None
                elif token.type not in (tokenize.NL, tokenize.INDENT, tokenize.DEDENT) and statement is None:
                    statement = token.start[0]
        except (tokenize.TokenError, SyntaxError):
            pass
        if off is not None:
            self.spans.append((off, last, "inside a `# fmt: off` region"))

    def __bool__(self) -> bool:
        return bool(self.spans)

    def refusal(self, fix: Fix, positions: Mapping[cst.CSTNode, CodeRange], module: cst.Module) -> str | None:
        """Why ``fix`` may not be applied (None: it edits nothing protected).

        A removed statement takes its leading comments along (a ``# fmt: on`` may be
        one), so removals count those lines too. An edit that replaces a node around
        a region may rewrite it; one computed from the updated node (a callable: the
        method a fix appends to) keeps it, up to its last comment. The imports a fix
        adds go next to the file's own.
        """
        for node, edit in fix.edits.items():
            whole = isinstance(edit, cst.RemovalSentinel) or callable(edit)
            first, last = _lines(self._inclusive(module)[node] if whole else positions[node])
            for start, end, why in self.spans:
                if first <= end and start <= last and not (callable(edit) and first < start and end <= last):
                    return f"line {max(first, start)} is {why}"
        for statement in module.body if fix.imports else ():
            if isinstance(statement, cst.SimpleStatementLine) and isinstance(statement.body[0], (cst.Import, cst.ImportFrom)):
                _, line = _lines(self._inclusive(module)[statement])  # its last line: its comments are above
                why = next((why for start, end, why in self.spans if start <= line <= end), None)
                if why is not None:
                    return f"its import would go next to line {line}, which is {why}"
        return None

    def _inclusive(self, module: cst.Module) -> Mapping[cst.CSTNode, CodeRange]:
        if self._whitespace_inclusive is None:
            wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
            self._whitespace_inclusive = wrapper.resolve(WhitespaceInclusivePositionProvider)
        return self._whitespace_inclusive


def _lines(where: CodeRange) -> tuple[int, int]:
    """The first and last line of a range (one that ends with its line break ends on the line before)."""
    if where.end.column == 0 and where.end.line > where.start.line:
        return where.start.line, where.end.line - 1
    return where.start.line, where.end.line
