"""Line and column of LibCST nodes, the same as ``PositionProvider``'s, at a fraction of its cost.

``PositionProvider`` regenerates the module's code and builds a ``CodeRange`` of two
``CodePosition`` objects for every node, splitting every token on newlines as it
goes; a file with findings needs a handful of them. This regenerates the code
once, recording each node's start and end as character offsets (two ints), stops
once the nodes asked for are done, and turns an offset into a line and column
only when a position is asked for.
"""

from __future__ import annotations

import contextlib
import re
from bisect import bisect_right
from contextlib import contextmanager
from typing import Collection, Iterator, Mapping

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst.metadata import CodePosition, CodeRange

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

    ``wanted``: the nodes whose positions are needed (nodes of ``module``, each once); code
    generation stops after the last of them, and nodes after it have no position.
    """

    def __init__(self, module: cst.Module, wanted: Collection[cst.CSTNode] | None = None) -> None:
        state = _OffsetState(module, wanted)
        if wanted is None or wanted:
            with contextlib.suppress(_AllFound):
                module._codegen(state)
        self._offsets = state.computed
        code = "".join(state.tokens)
        self._line_starts = [0] + [match.end() for match in _NEWLINE.finditer(code)]

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
