"""Line and column of LibCST nodes, the same as ``PositionProvider``'s, at a fraction of its cost.

``PositionProvider`` regenerates the module's code and builds a ``CodeRange`` of two
``CodePosition`` objects for every node, splitting every token on newlines as it
goes; a file with findings needs a handful of them. This regenerates only the
top-level statements (in a class, the methods) holding the nodes asked for,
recording each node's start and end as character offsets (two ints) within the
statement's code, and finds where that code starts in the text the module was
parsed from (LibCST's code is the text, byte for byte); a statement whose code is
not there exactly once is not guessed at: its class is generated, else the module
from its start, up to the last node asked for. An offset becomes a line and
column only when a position is asked for.
"""

from __future__ import annotations

import contextlib
import re
from bisect import bisect_right
from contextlib import contextmanager
from typing import Collection, Iterator, Mapping, Sequence

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst.metadata import CodePosition, CodeRange

from torchfix.walk import holds

#: what LibCST counts as a line break (``position_provider.NEWLINE_RE``)
_NEWLINE = re.compile(r"\r\n?|\n")


class _AllFound(Exception):
    """Every node asked for has its position: the rest of the module need not be generated."""


class _OffsetState(CodegenState):
    """Code generation that records every node's syntactic (start, end) offsets."""

    def __init__(self, module: cst.Module, wanted: Collection[cst.CSTNode] | None) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.offset = 0
        self.computed: dict[cst.CSTNode, tuple[int, int]] = {}
        self._starts: list[int] = []
        #: the wanted nodes not generated yet (a node object may appear twice in a tree)
        self._missing = set(wanted) if wanted is not None else None

    def add_indent_tokens(self) -> None:
        self.tokens.extend(self.indent_tokens)
        for token in self.indent_tokens:
            self.offset += len(token)

    def add_token(self, value: str) -> None:
        self.tokens.append(value)
        self.offset += len(value)

    def pop_trailing_newline(self) -> None:
        """Keep it: positions count the module's last newline, as ``PositionProvider``'s do."""

    def before_codegen(self, node: cst.CSTNode) -> None:
        self._starts.append(self.offset)

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self._starts.pop()
        if node not in self.computed:  # a syntactic position recorded inside wins
            self.computed[node] = (start, self.offset)
        if self._missing is not None and node in self._missing:
            self._missing.discard(node)
            if not self._missing:
                raise _AllFound

    @contextmanager
    def record_syntactic_position(
        self,
        node: cst.CSTNode,
        *,
        start_node: cst.CSTNode | None = None,
        end_node: cst.CSTNode | None = None,
    ) -> Iterator[None]:
        start = self.offset
        yield  # not in a ``finally``: after _AllFound, nothing more is recorded
        end = self.offset
        if start_node is not None:
            start = self.computed[start_node][0]
        if end_node is not None:
            end = self.computed[end_node][1]
        self.computed[node] = (start, end)


class Positions(Mapping[cst.CSTNode, CodeRange]):
    """Node -> ``CodeRange`` (1-based lines, 0-based columns), as ``PositionProvider`` gives.

    ``wanted``: the nodes whose positions are needed (nodes of ``module``, each once); other
    nodes may have none. ``text``: the code ``module`` was parsed from; without it, code
    generation starts at the module's start.
    """

    def __init__(
        self, module: cst.Module, wanted: Collection[cst.CSTNode] | None = None, text: str | None = None
    ) -> None:
        offsets = _by_statement(module, wanted, text) if wanted and text is not None else None
        if offsets is None:
            state = _OffsetState(module, wanted)
            if wanted is None or wanted:
                with contextlib.suppress(_AllFound):
                    module._codegen(state)
            offsets, text = state.computed, "".join(state.tokens)
        self._offsets = offsets
        self._line_starts = [0] + [match.end() for match in _NEWLINE.finditer(text)]

    def _position(self, offset: int) -> CodePosition:
        line = bisect_right(self._line_starts, offset)
        return CodePosition(line, offset - self._line_starts[line - 1])

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        start, end = self._offsets[node]
        return CodeRange(self._position(start), self._position(end))

    def __contains__(self, node: object) -> bool:
        return node in self._offsets

    def __iter__(self) -> Iterator[cst.CSTNode]:
        return iter(self._offsets)

    def __len__(self) -> int:
        return len(self._offsets)


def _by_statement(
    module: cst.Module, wanted: Collection[cst.CSTNode], text: str
) -> dict[cst.CSTNode, tuple[int, int]] | None:
    """The offsets of the nodes of each statement holding a ``wanted`` node, placed where its
    code occurs in ``text``; None when one is not there exactly once, or a wanted node lies in
    no statement (the module, its header)."""
    placer = _Placer(module, wanted, text)
    return placer.offsets if placer.place(module.body, []) and not placer.missing else None


class _Placer:
    """Generates the statements holding the nodes asked for; in a class, its methods and
    statements one by one (a model file is often one large class)."""

    def __init__(self, module: cst.Module, wanted: Collection[cst.CSTNode], text: str) -> None:
        self.module, self.text = module, text
        self.missing = {id(node) for node in wanted}
        self.offsets: dict[cst.CSTNode, tuple[int, int]] = {}

    def _holds_missing(self, node: cst.CSTNode) -> bool:
        return bool(self.missing) and holds(node, lambda inner: id(inner) in self.missing)

    def place(self, statements: Sequence[cst.CSTNode], indents: list[str]) -> bool:
        """Place the wanted nodes of ``statements``, whose lines start with ``indents``; False when
        the code of one is not in the text exactly once."""
        for statement in statements:
            if not self._holds_missing(statement):
                continue
            body = statement.body if isinstance(statement, cst.ClassDef) else None
            if isinstance(body, cst.IndentedBlock):
                indent = body.indent if body.indent is not None else self.module.default_indent
                if self.place(body.body, [*indents, indent]) and not self._holds_missing(statement):
                    continue  # else the class's own lines (or a method not found once) hold one
            if not self._generate(statement, indents):
                return False
        return True

    def _generate(self, statement: cst.CSTNode, indents: list[str]) -> bool:
        state = _OffsetState(self.module, None)
        state.indent_tokens = list(indents)
        statement._codegen(state)
        code = "".join(state.tokens)
        start = self.text.find(code)
        if start < 0 or self.text.find(code, start + 1) >= 0:
            return False
        for node, (first, last) in state.computed.items():
            self.offsets[node] = (start + first, start + last)
            self.missing.discard(id(node))
        return True
