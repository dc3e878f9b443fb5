"""Fixed code in the repository's own style: its line length, black's wrapping, isort's settings.

The style is read from the configuration files the repository's linters read
(ruff, black, flake8, pycodestyle, isort; in ``pyproject.toml``, ``ruff.toml``,
``setup.cfg``, ``tox.ini`` or ``.flake8``), nearest folder first. A new or changed
line longer than the line length is wrapped the way black wraps it: the
outermost bracket of the statement is split with its contents on one indented
line, else one argument per line with a trailing comma; an assignment or a
``return`` whose value has no call to split is wrapped in parentheses. Nothing
else is reformatted: lines the fix did not touch, and lines the user split,
stay as they are.
"""

from __future__ import annotations

import configparser
import tomllib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Collection, Mapping

import libcst as cst
from libcst.metadata import CodeRange

from torchfix.positions import Positions
from torchfix.walk import walk

DEFAULT_LINE_LENGTH = 88


@dataclass(frozen=True)
class Style:
    """What a fix's output must respect in one file."""

    line_length: int = DEFAULT_LINE_LENGTH
    #: isort's ``force_sort_within_sections`` (ruff: ``force-sort-within-sections``; the google profile)
    force_sort_within_sections: bool = False
    #: where the settings came from (for messages and tests); None: the defaults
    source: str | None = None


# -- reading the repository's configuration -------------------------------------------------

#: (file, table path, key) in the order a linter's own setting wins: ruff, black, flake8, isort
_TOML_LENGTHS = (
    ("ruff.toml", ("lint", "pycodestyle"), "max-line-length"),
    ("ruff.toml", (), "line-length"),
    (".ruff.toml", ("lint", "pycodestyle"), "max-line-length"),
    (".ruff.toml", (), "line-length"),
    ("pyproject.toml", ("tool", "ruff", "lint", "pycodestyle"), "max-line-length"),
    ("pyproject.toml", ("tool", "ruff"), "line-length"),
    ("pyproject.toml", ("tool", "black"), "line-length"),
    ("pyproject.toml", ("tool", "isort"), "line_length"),
)
_INI_LENGTHS = (
    ("setup.cfg", "flake8", "max-line-length"),
    ("tox.ini", "flake8", "max-line-length"),
    (".flake8", "flake8", "max-line-length"),
    ("setup.cfg", "pycodestyle", "max-line-length"),
    ("tox.ini", "pycodestyle", "max-line-length"),
    ("setup.cfg", "isort", "line_length"),
    ("tox.ini", "isort", "line_length"),
    (".isort.cfg", "settings", "line_length"),
)
_TOML_SORTS = (
    ("ruff.toml", ("lint", "isort")),
    (".ruff.toml", ("lint", "isort")),
    ("pyproject.toml", ("tool", "ruff", "lint", "isort")),
    ("pyproject.toml", ("tool", "ruff", "isort")),
    ("pyproject.toml", ("tool", "isort")),
)
_INI_SORTS = (("setup.cfg", "isort"), ("tox.ini", "isort"), (".isort.cfg", "settings"))


@lru_cache(maxsize=256)
def _toml(path: Path) -> Mapping:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


@lru_cache(maxsize=256)
def _ini(path: Path) -> configparser.RawConfigParser | None:
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, configparser.Error):
        return None
    return parser


def _table(data: Mapping, keys: tuple[str, ...]) -> Mapping:
    for key in keys:
        data = data.get(key, {})
        if not isinstance(data, Mapping):
            return {}
    return data


def _length(folder: Path) -> tuple[int, str] | None:
    for name, keys, key in _TOML_LENGTHS:
        path = folder / name
        if path.is_file():
            value = _table(_toml(path), keys).get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value, f"{path} ({'.'.join((*keys, key))})"
    for name, section, key in _INI_LENGTHS:
        path = folder / name
        if path.is_file():
            parser = _ini(path)
            if parser is not None and parser.has_option(section, key):
                value = parser.get(section, key).strip()
                if value.isdigit() and int(value) > 0:
                    return int(value), f"{path} ([{section}] {key})"
    return None


def _force_sort(folder: Path) -> bool | None:
    for name, keys in _TOML_SORTS:
        path = folder / name
        if path.is_file():
            table = _table(_toml(path), keys)
            for key in ("force-sort-within-sections", "force_sort_within_sections"):
                if isinstance(table.get(key), bool):
                    return table[key]
            if table.get("profile") == "google":
                return True
    for name, section in _INI_SORTS:
        path = folder / name
        if path.is_file():
            parser = _ini(path)
            if parser is not None and parser.has_option(section, "force_sort_within_sections"):
                return parser.get(section, "force_sort_within_sections").strip().lower() in ("true", "1", "yes")
            if parser is not None and parser.has_option(section, "profile"):
                return parser.get(section, "profile").strip() == "google"
    return None


@lru_cache(maxsize=1024)
def style_for(folder: Path) -> Style:
    """The style of files in ``folder``: each setting from the nearest folder (upwards) that sets it."""
    length = sort = None
    for candidate in (folder, *folder.parents):
        length = length or _length(candidate)
        sort = sort if sort is not None else _force_sort(candidate)
        if length is not None and sort is not None:
            break
    value, source = length if length is not None else (DEFAULT_LINE_LENGTH, None)
    return Style(line_length=value, force_sort_within_sections=bool(sort), source=source)


# -- parents ------------------------------------------------------------------------------


class _ParentCollector(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self.stack: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self.stack:
            self.parents[node] = self.stack[-1]
        self.stack.append(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()


class Parents:
    """Each node's parent in a module, computed on first use (only files with a fix pay for it)."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self._parents: dict[cst.CSTNode, cst.CSTNode] | None = None

    def of(self, node: cst.CSTNode) -> cst.CSTNode | None:
        if self._parents is None:
            collector = _ParentCollector()
            walk(self.module, [collector])
            self._parents = collector.parents
        return self._parents.get(node)


# -- wrapping -----------------------------------------------------------------------------


def _newline(indent: int) -> cst.ParenthesizedWhitespace:
    """A line break followed by ``indent`` spaces (absolute: not relative to the block)."""
    return cst.ParenthesizedWhitespace(indent=False, last_line=cst.SimpleWhitespace(" " * indent))


_SPACE = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


def _elements(node: cst.BaseExpression) -> tuple[str, str, list] | None:
    """(field of the elements, field of the whitespace after the opening bracket, the elements) of a bracket."""
    if isinstance(node, cst.Call) and node.args:
        return "args", "whitespace_before_args", list(node.args)
    if isinstance(node, (cst.List, cst.Set, cst.Dict)) and node.elements:
        return "elements", "", list(node.elements)
    return None


def _opened(node: cst.BaseExpression, whitespace_field: str, whitespace: cst.BaseParenthesizableWhitespace):
    """``node`` with ``whitespace`` after its opening bracket."""
    if whitespace_field:
        return node.with_changes(**{whitespace_field: whitespace})
    bracket = node.lbracket if isinstance(node, cst.List) else node.lbrace  # type: ignore[union-attr]
    name = "lbracket" if isinstance(node, cst.List) else "lbrace"
    return node.with_changes(**{name: bracket.with_changes(whitespace_after=whitespace)})


def _with_elements(node: cst.BaseExpression, field_name: str, elements: list, closing) -> cst.BaseExpression:
    if isinstance(node, cst.Call):
        return node.with_changes(**{field_name: elements})
    bracket = node.rbracket if isinstance(node, cst.List) else node.rbrace  # type: ignore[union-attr]
    name = "rbracket" if isinstance(node, cst.List) else "rbrace"
    return node.with_changes(**{field_name: elements, name: bracket.with_changes(whitespace_before=closing)})


def _hug(node: cst.BaseExpression, indent: int) -> cst.BaseExpression:
    """``f(\n    a, b\n)`` (or a list, set, dict): the elements on one line, indented one level."""
    field_name, opening, elements = _elements(node)  # type: ignore[misc]
    elements = [e.with_changes(comma=_SPACE) for e in elements]
    elements[-1] = elements[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return _finish(node, field_name, opening, elements, indent)


def _finish(node, field_name: str, opening: str, elements: list, indent: int) -> cst.BaseExpression:
    closing = _newline(indent)
    if isinstance(node, cst.Call):
        elements = [e.with_changes(whitespace_after_arg=cst.SimpleWhitespace("")) for e in elements]
        elements[-1] = elements[-1].with_changes(whitespace_after_arg=closing)
    opened = _opened(node, opening, _newline(indent + 4))
    return _with_elements(opened, field_name, elements, closing)


def _explode(node: cst.BaseExpression, indent: int, limit: int) -> cst.BaseExpression:
    """``f(\n    a,\n    b,\n)``: one element per line and a trailing comma; a long element split in turn."""
    field_name, opening, elements = _elements(node)  # type: ignore[misc]
    result = []
    for index, element in enumerate(elements):
        value = element.value
        own = len(_code(element.with_changes(comma=cst.MaybeSentinel.DEFAULT)))
        if _elements(value) is not None and indent + 4 + own + 1 > limit:
            value = _split(value, indent + 4, limit, prefix=indent + 4 + own - len(_code(value)), suffix=1)
        comma = cst.Comma(
            whitespace_after=cst.SimpleWhitespace("") if index == len(elements) - 1 else _newline(indent + 4)
        )
        result.append(element.with_changes(value=value, comma=comma))
    return _finish(node, field_name, opening, result, indent)


def _fits(text: str, prefix: int, limit: int, suffix: int = 0) -> bool:
    lines = text.split("\n")
    lengths = [len(line) for line in lines]
    lengths[0] += prefix
    lengths[-1] += suffix
    return max(lengths) <= limit


def _split(node: cst.BaseExpression, indent: int, limit: int, prefix: int, suffix: int = 0) -> cst.BaseExpression:
    """Black's right-hand split of a bracket: its contents hugged on one line if that fits, else exploded."""
    hugged = _hug(node, indent)
    if _fits(_code(hugged), prefix, limit, suffix):
        return hugged
    return _explode(node, indent, limit)


_EMPTY = cst.Module(body=[])


def _code(node: cst.CSTNode) -> str:
    return _EMPTY.code_for_node(node)


def _parenthesized(value: cst.BaseExpression, indent: int, split: bool) -> cst.BaseExpression:
    """``(\n    value\n)``: black's optional parentheses around a right-hand side; ``split``: one operand a line."""
    if split and isinstance(value, cst.BinaryOperation):
        value = _operator_split(value, indent + 4)
    return value.with_changes(
        lpar=[cst.LeftParen(whitespace_after=_newline(indent + 4))],
        rpar=[cst.RightParen(whitespace_before=_newline(indent))],
    )


def _operator_split(value: cst.BinaryOperation, indent: int) -> cst.BinaryOperation:
    """``a\n    @ b``: a line break before each operator of the same precedence at the top level."""
    left = value.left
    if isinstance(left, cst.BinaryOperation) and type(left.operator) is type(value.operator) and not left.lpar:
        left = _operator_split(left, indent)
    operator = value.operator.with_changes(whitespace_before=_newline(indent))
    return value.with_changes(left=left, operator=operator)


def _trailing_brackets(value: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The calls of a chain, last first: ``.view(-1, 1)`` then ``torch.arange(n)`` in ``torch.arange(n).view(-1, 1)``."""
    found: list[cst.BaseExpression] = []
    node = value
    while not getattr(node, "lpar", None) or node is value:
        if _elements(node) is not None:
            found.append(node)
        if isinstance(node, cst.Call):
            node = node.func
        elif isinstance(node, (cst.Attribute, cst.Subscript)):
            node = node.value
        else:
            break
    return found


def _chain_base(value: cst.BaseExpression) -> cst.BaseExpression | None:
    """The parenthesized expression a chain starts with (``(a @ b)`` in ``(a @ b).max(1).values / t``)."""
    node = value
    while True:
        if isinstance(node, cst.BinaryOperation) and not node.lpar:
            node = node.left
        elif isinstance(node, (cst.Attribute, cst.Subscript)) and not node.lpar:
            node = node.value
        elif isinstance(node, cst.Call) and not node.lpar:
            node = node.func
        else:
            break
    if node is value or not node.lpar or len(node.lpar) != 1:
        return None
    return node


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


class _Wrapper:
    """Wraps the long lines of the statements that hold edited nodes."""

    def __init__(self, module: cst.Module, limit: int) -> None:
        self.module = module
        self.limit = limit
        self.lines = module.code.split("\n")
        self.positions: Mapping[cst.CSTNode, CodeRange] = Positions(module)
        self.parents = Parents(module)

    def too_long(self, node: cst.CSTNode) -> bool:
        where = self.positions.get(node)
        if where is None:
            return False
        return any(len(self.lines[n - 1]) > self.limit for n in range(where.start.line, where.end.line + 1))

    def _statement(self, node: cst.CSTNode) -> tuple[cst.SimpleStatementLine, cst.BaseSmallStatement] | None:
        small = None
        while node is not None and not isinstance(node, cst.SimpleStatementLine):
            if isinstance(node, cst.BaseSmallStatement):
                small = node
            if isinstance(node, (cst.BaseCompoundStatement, cst.SimpleStatementSuite)):
                return None
            node = self.parents.of(node)  # type: ignore[assignment]
        if node is None:
            return None
        if small is None and len(node.body) == 1:
            small = node.body[0]
        return (node, small) if small is not None else None

    def wrap(self, edited: cst.CSTNode) -> tuple[cst.CSTNode, cst.CSTNode] | None:
        """(node, its wrapped replacement) for one edited node on a long line, or None."""
        found = self._statement(edited)
        if found is None:
            return None
        statement, small = found
        where = self.positions[statement]
        if where.start.line == where.end.line and len(statement.body) == 1:
            return self._wrap_statement(small, self.lines[where.start.line - 1])
        return self._wrap_inside(edited)

    def _wrap_statement(self, small: cst.BaseSmallStatement, line: str) -> tuple[cst.CSTNode, cst.CSTNode] | None:
        """A one-line statement: split its outermost call, or parenthesize its right-hand side."""
        value = getattr(small, "value", None)
        if not isinstance(value, cst.BaseExpression):
            return None
        indent = _indent_of(line)
        head = len(_code(small)) - len(_code(value))  # `y = ` or `return `
        suffix = len(line) - indent - len(_code(small))  # a trailing comment

        def fits(candidate: cst.CSTNode) -> bool:
            return _fits(_code(candidate), indent + head, self.limit, suffix)

        # Black's right-hand split: the last bracket, else an earlier one of the chain whose line fits
        # (`torch.ones(\n    size, device=d\n).long()`), before optional parentheses around the value.
        candidates: list[cst.CSTNode] = [
            value.deep_replace(bracket, _split(bracket, indent, self.limit, prefix=indent + head))
            for bracket in (_trailing_brackets(value) if not value.lpar else [])
        ]
        if isinstance(small, (cst.Assign, cst.AugAssign, cst.AnnAssign, cst.Return)) and not value.lpar:
            candidates.append(_parenthesized(value, indent, split=False))
            base = _chain_base(value)
            if base is not None:
                opened = base.with_changes(
                    lpar=[cst.LeftParen(whitespace_after=_newline(indent + 4))],
                    rpar=[cst.RightParen(whitespace_before=_newline(indent))],
                )
                candidates.append(value.deep_replace(base, opened))  # `y = (\n    a @ b\n).max(1).values / t`
            if isinstance(value, cst.BinaryOperation):
                candidates.append(_parenthesized(value, indent, split=True))
        if candidates and _elements(value) is not None and not any(fits(c) for c in candidates):
            return value, candidates[0]  # black explodes the last bracket
        fitting = next((c for c in candidates if fits(c)), None)
        if fitting is None:
            # Any other bracket of the statement, the rightmost first (black's split of the last bracket).
            inner = [value.deep_replace(b, _split(b, indent, self.limit, prefix=indent)) for b in self._brackets(value)]
            fitting = next((c for c in inner if fits(c)), None)
        if fitting is None and not candidates:
            return None
        return value, fitting if fitting is not None else candidates[-1]

    def _brackets(self, value: cst.BaseExpression) -> list[cst.BaseExpression]:
        """The calls, lists, sets and dicts inside ``value`` on one line, the one that closes last first."""
        collector = _BracketCollector()
        walk(value, [collector])
        found = [b for b in collector.found if b is not value and b in self.positions]
        return sorted(
            found, key=lambda b: (self.positions[b].end.column, -self.positions[b].start.column), reverse=True
        )

    def _wrap_inside(self, edited: cst.CSTNode) -> tuple[cst.CSTNode, cst.CSTNode] | None:
        """An edited call in a statement the user already split: split the call itself, or (when it
        spans lines already) break its long line before an argument, aligned with the line's first one."""
        where = self.positions.get(edited)
        if _elements(edited) is None or where is None:  # type: ignore[arg-type]
            return None
        if where.start.line != where.end.line:
            return self._break_arguments(edited)  # type: ignore[arg-type]
        line = self.lines[where.start.line - 1]
        suffix = len(line) - where.end.column
        return edited, _split(edited, _indent_of(line), self.limit, prefix=where.start.column, suffix=suffix)  # type: ignore[arg-type]

    def _break_arguments(self, call: cst.BaseExpression) -> tuple[cst.CSTNode, cst.CSTNode] | None:
        if not isinstance(call, cst.Call):
            return None
        args = list(call.args)
        starts = [self.positions[a].start if a in self.positions else None for a in args]
        changed = False
        if starts[0] is None:
            return None
        column = starts[0].column  # the arguments' alignment (after the bracket, or a hanging indent)
        for number in sorted({s.line for s in starts if s is not None}):
            line = self.lines[number - 1]
            if len(line) <= self.limit:
                continue
            on_line = [k for k, s in enumerate(starts) if s is not None and s.line == number and k > 0]
            base, segment = 0, 0  # the current output line: its indentation, and where it starts in `line`
            for position, k in enumerate(on_line):
                start = starts[k].column  # type: ignore[union-attr]
                end = starts[on_line[position + 1]].column if position + 1 < len(on_line) else len(line)
                comma = args[k - 1].comma
                if base + end - segment > self.limit and start > segment and isinstance(comma, cst.Comma):
                    args[k - 1] = args[k - 1].with_changes(comma=comma.with_changes(whitespace_after=_newline(column)))
                    base, segment, changed = column, start, True
        return (call, call.with_changes(args=args)) if changed else None


class _BracketCollector(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[cst.BaseExpression] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.BaseExpression) and _elements(node) is not None:
            self.found.append(node)
        return True


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: Mapping[cst.CSTNode, cst.CSTNode]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original_node, updated_node):
        return self.replacements.get(original_node, updated_node)


def wrap_long_lines(
    module: cst.Module, edited: Collection[cst.CSTNode], limit: int, before: Callable[[], str] | None = None
) -> str:
    """The code of ``module`` with each line longer than ``limit`` that holds an edited node
    wrapped as black would.

    ``before()``: the code the edits were made to; when each long line of ``module`` was
    already one of its long lines, the edits wrote none and nothing is measured.
    """
    code = module.code
    long_lines = _long_lines(code, limit)
    if not edited or not long_lines or (before is not None and long_lines <= _long_lines(before(), limit)):
        return code
    wrapper = _Wrapper(module, limit)
    replacements: dict[cst.CSTNode, cst.CSTNode] = {}
    for node in edited:
        if wrapper.too_long(node):
            found = wrapper.wrap(node)
            if found is not None and found[0] not in replacements:
                replacements[found[0]] = found[1]
    return module.visit(_Replace(replacements)).code if replacements else code


def _long_lines(code: str, limit: int) -> Counter[str]:
    return Counter(line for line in code.split("\n") if len(line) > limit)


# -- blank lines ----------------------------------------------------------------------------


def clamp_blank_lines(statement: cst.CSTNode, most: int, leading: bool = False) -> cst.CSTNode:
    """``statement`` with at most ``most`` blank lines in a row before it (none when ``leading``:
    the first statement of a block), comments kept."""
    lines = getattr(statement, "leading_lines", None)
    if not lines:
        return statement
    kept: list[cst.EmptyLine] = []
    run = 0
    for line in lines:
        if line.comment is None:
            run += 1
            if run > most or (leading and len(kept) == 0):
                continue
        else:
            run = 0
        kept.append(line)
    return statement if len(kept) == len(lines) else statement.with_changes(leading_lines=kept)
