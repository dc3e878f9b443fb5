"""Jupyter notebooks: check and fix the code cells of an ``.ipynb`` file, keep every other byte.

The JSON is read here, not with ``nbformat``: re-serialising a notebook changes
its indentation, key order or escapes unless they happen to match nbformat's own.
A scan records where each code cell's ``source`` value lies in the raw text, and
a fix replaces exactly those bytes (in the list-of-lines or single-string form
and the indentation the file already uses). Markdown cells, outputs, metadata,
cell ids and every unchanged cell stay byte for byte.

The code cells are checked as one module, as Jupyter runs them (an import in the
first cell is known in the fifth), joined with a marker comment between cells so
that the fixed text can be split back. IPython syntax is masked with a
placeholder statement before parsing and restored after: line magics (``%time``),
shell escapes (``!pip``), help (``obj?``) and ``x = !cmd`` assignments. A cell
magic (``%%time``) whose body is Python keeps its body checked; any other cell
magic (``%%bash``, ``%%writefile``) leaves its cell alone. A cell that still does
not parse is reported and left out; the other cells are checked and fixed.

Findings carry their cell (1-based, counting every cell of the notebook, as the
``cells`` list does) and their line and column inside it; ``raw_spans`` positions
them in the ``.ipynb`` text itself, for SARIF and GitHub annotations.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field, replace
from json.decoder import scanstring
from json.scanner import NUMBER_RE
from pathlib import Path

import libcst as cst

from torchfix.discovery import is_notebook
from torchfix.engine import Finding, RunOptions, check_text, fix_previews, fix_text
from torchfix.results import FileReport, RawSpan
from torchfix.sourcefile import SourceError, decode_source, read_source, write_source
from torchfix.suppression import Suppressions, unused_findings

#: cell magics whose body is Python (the magic line is masked, the body checked)
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})

_CELL_MARKER = "# torchfix: notebook cell {}\n"
_MAGIC_NAME = "__torchfix_ipython_{}__"
_ASSIGNED_MAGIC = re.compile(r"^(\s*)([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*)[%!]")
_PARSE_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_WHITESPACE = re.compile(r"[ \t\n\r]*")
#: a line with its line break, broken where LibCST breaks lines
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_NOT_SPLIT = "not fixed: a fix reached across a cell boundary or an IPython line; notebook left unchanged"


def _lines(text: str) -> list[str]:
    return _LINE.findall(text)


class NotebookError(Exception):
    """The file is not a notebook this module can read (a one-line reason)."""


def skipped_notebooks_note(paths, settings) -> str | None:
    """The verifier's note on the notebooks under ``paths`` it leaves out, if there are any."""
    from torchfix.discovery import discover

    found = discover(paths, settings.exclude_spec(), settings.root, notebooks=True)
    count = sum(1 for path in found.files if is_notebook(path))
    if not count:
        return None
    noun = "notebook" if count == 1 else "notebooks"
    return f"torchfix: {count} {noun} skipped: verification imports Python modules, not .ipynb files"


# -- the JSON, with the positions of the code ----------------------------------------


@dataclass
class _Source:
    """One code cell's ``source`` value: its text and where it lies in the raw JSON."""

    index: int
    text: str
    start: int
    end: int
    #: the (start, end, text) of each string of the list form; None for the single-string form
    strings: list[tuple[int, int, str]] | None


class _Scanner:
    """A JSON reader that notes where each ``cells[i].source`` value (and its items) lie."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.spans: dict[tuple, tuple[int, int]] = {}

    def skip(self, at: int) -> int:
        return _WHITESPACE.match(self.text, at).end()

    def value(self, at: int, path: tuple) -> tuple[object, int]:
        text = self.text
        start = at = self.skip(at)
        char = text[at : at + 1]
        if char == '"':
            result, at = scanstring(text, at + 1)
        elif char == "{":
            result, at = self.members(at + 1, path)
        elif char == "[":
            result, at = self.items(at + 1, path)
        else:
            result, at = self.literal(at)
        if len(path) in (3, 4) and path[0] == "cells" and path[2] == "source":
            self.spans[path] = (start, at)
        return result, at

    def literal(self, at: int) -> tuple[object, int]:
        for word, result in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(word, at):
                return result, at + len(word)
        match = NUMBER_RE.match(self.text, at)
        if match is None:
            raise NotebookError(f"cannot read notebook: invalid JSON at character {at}")
        integer, fraction, exponent = match.groups()
        number = float(integer + (fraction or "") + (exponent or "")) if fraction or exponent else int(integer)
        return number, match.end()

    def members(self, at: int, path: tuple) -> tuple[dict, int]:
        result: dict = {}
        at = self.skip(at)
        if self.text.startswith("}", at):
            return result, at + 1
        while True:
            at = self.skip(at)
            if not self.text.startswith('"', at):
                raise NotebookError(f"cannot read notebook: invalid JSON at character {at}")
            name, at = scanstring(self.text, at + 1)
            at = self.skip(at)
            if not self.text.startswith(":", at):
                raise NotebookError(f"cannot read notebook: invalid JSON at character {at}")
            result[name], at = self.value(at + 1, (*path, name) if len(path) < 4 else path)
            at = self.skip(at)
            if self.text.startswith("}", at):
                return result, at + 1
            if not self.text.startswith(",", at):
                raise NotebookError(f"cannot read notebook: invalid JSON at character {at}")
            at += 1

    def items(self, at: int, path: tuple) -> tuple[list, int]:
        result: list = []
        at = self.skip(at)
        if self.text.startswith("]", at):
            return result, at + 1
        while True:
            item, at = self.value(at, (*path, len(result)) if len(path) < 4 else path)
            result.append(item)
            at = self.skip(at)
            if self.text.startswith("]", at):
                return result, at + 1
            if not self.text.startswith(",", at):
                raise NotebookError(f"cannot read notebook: invalid JSON at character {at}")
            at += 1


def _joined(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return "".join(value)
    return None


def code_sources(raw: str) -> list[_Source]:
    """Every code cell's source and its place in ``raw``; NotebookError if it is no notebook."""
    scanner = _Scanner(raw)
    try:
        document, end = scanner.value(0, ())
    except (ValueError, IndexError, RecursionError) as error:  # scanstring raises JSONDecodeError
        raise NotebookError(f"cannot read notebook: invalid JSON ({error})") from None
    if scanner.skip(end) != len(raw):
        raise NotebookError("cannot read notebook: text after the JSON document")
    cells = document.get("cells") if isinstance(document, dict) else None
    if not isinstance(cells, list):
        raise NotebookError("cannot read notebook: no `cells` list (nbformat 4 is supported)")
    result = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source")
        text = _joined(source)
        if text is None:
            raise NotebookError(f"cannot read notebook: cell {index + 1}'s source is not text")
        start, stop = scanner.spans[("cells", index, "source")]
        strings = None
        if isinstance(source, list):
            strings = [(*scanner.spans[("cells", index, "source", i)], item) for i, item in enumerate(source)]
        result.append(_Source(index, text, start, stop, strings))
    return result


def _json_string(value: str, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)


def _serialised(source: _Source, raw: str, text: str) -> str:
    """``text`` as the JSON value replacing ``source``, in the form and layout the file uses."""
    ascii_only = raw.isascii()
    if source.strings is None:
        return _json_string(text, ascii_only)
    lines = _lines(text)
    if not lines:
        return "[]"
    items = source.strings
    if items:
        opening = raw[source.start + 1 : items[0][0]]
        closing = raw[items[-1][1] : source.end - 1]
        separator = raw[items[0][1] : items[1][0]] if len(items) > 1 else "," + (opening or " ")
    else:
        opening, closing, separator = "", "", ", "
    return "[" + opening + separator.join(_json_string(line, ascii_only) for line in lines) + closing + "]"


def with_sources(raw: str, sources: list[_Source], texts: dict[int, str]) -> str:
    """``raw`` with the code of the cells in ``texts`` (cell index -> code) replaced, nothing else."""
    pieces, at = [], 0
    for source in sources:
        if source.index not in texts or texts[source.index] == source.text:
            continue
        pieces += [raw[at : source.start], _serialised(source, raw, texts[source.index])]
        at = source.end
    return "".join(pieces) + raw[at:]


# -- masking IPython syntax -------------------------------------------------------------


@dataclass
class _Masked:
    """A cell's code with IPython lines replaced by placeholders (``originals`` restores them)."""

    text: str
    originals: dict[str, str] = field(default_factory=dict)


def _compiles(text: str) -> str | None:
    """None when ``text`` parses as a cell (top-level ``await`` allowed), else the error."""
    try:
        compile(text, "<cell>", "exec", _PARSE_FLAGS, dont_inherit=True)
    except SyntaxError as error:
        return f"line {error.lineno}:{error.offset}: {error.msg}"
    except (RecursionError, MemoryError, ValueError):
        return "the code is nested too deeply"
    return None


def _is_magic(stripped: str) -> bool:
    if stripped.startswith(("%", "!")):
        return True
    return not stripped.startswith("#") and (stripped.startswith("?") or stripped.rstrip().endswith("?"))


def mask(text: str, counter: list[int]) -> _Masked | None:
    """``text`` with its IPython lines masked; None for a cell magic whose body is not Python.

    Code that parses as it is is left as it is (a ``%`` line inside a string stays).
    ``counter`` numbers the placeholders across the notebook.
    """
    first = text.lstrip().split(None, 1)[0] if text.strip() else ""
    if first.startswith("%%") and first[2:] not in PYTHON_CELL_MAGICS:
        return None
    if not first.startswith("%%") and _compiles(text) is None:
        return _Masked(text)
    masked = _Masked("")
    lines, kept = _lines(text), []
    continued_indent = None
    for number, line in enumerate(lines):
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        assigned = _ASSIGNED_MAGIC.match(line)
        magic = continued_indent is not None or (number == 0 and first.startswith("%%")) or _is_magic(stripped)
        if not magic and assigned is None:
            kept.append(line)
            continue
        name = _MAGIC_NAME.format(counter[0])
        counter[0] += 1
        ending = line[len(line.rstrip("\r\n")) :]
        if continued_indent is not None:
            indent = continued_indent
        target = "" if magic else assigned.group(2)  # `x = !ls` keeps binding `x`
        placeholder = f"{indent}{target}{name}{ending}"
        masked.originals[placeholder] = line
        kept.append(placeholder)
        continued_indent = indent if line.rstrip("\r\n").endswith("\\") else None
    masked.text = "".join(kept)
    return masked


def unmask(text: str, masked: _Masked) -> str | None:
    """The fixed cell with its IPython lines back; None if a placeholder did not survive."""
    lines = _lines(text)
    restored, found = [], 0
    for line in lines:
        original = masked.originals.get(line)
        if original is None and "__torchfix_ipython_" in line:
            return None
        if original is not None:
            found += 1
        restored.append(original if original is not None else line)
    return "".join(restored) if found == len(masked.originals) else None


# -- the notebook as one module ------------------------------------------------------------


@dataclass
class Notebook:
    """A notebook's code cells joined into one module, and the way back."""

    raw: str
    sources: list[_Source]
    #: the cells in the module, in order: (cell index, masked code)
    cells: list[tuple[int, _Masked]] = field(default_factory=list)
    #: cells that do not parse: (cell index, the error)
    broken: list[tuple[int, str]] = field(default_factory=list)
    #: the module's line number where each cell's code starts
    starts: list[int] = field(default_factory=list)
    module: str = ""

    @classmethod
    def read(cls, raw: str) -> Notebook:
        notebook = cls(raw, code_sources(raw))
        counter = [0]
        parts, line = [], 1
        for source in notebook.sources:
            masked = mask(source.text, counter)
            if masked is None:
                continue
            error = _compiles(masked.text)
            if error is not None:
                notebook.broken.append((source.index, error))
                continue
            code = masked.text if masked.text.endswith("\n") or not masked.text else masked.text + "\n"
            if notebook.cells:
                parts.append(_CELL_MARKER.format(len(notebook.cells)))
                line += 1
            notebook.cells.append((source.index, masked))
            notebook.starts.append(line)
            parts.append(code)
            line += code.count("\n")
        notebook.module = "".join(parts)
        return notebook

    def locate(self, finding: Finding) -> Finding:
        """``finding`` (positioned in the module) positioned in its cell."""
        position = max(i for i, start in enumerate(self.starts) if start <= finding.line)
        offset = self.starts[position] - 1
        return replace(
            finding,
            cell=self.cells[position][0] + 1,
            line=finding.line - offset,
            end_line=finding.end_line - offset,
        )

    def split(self, module: str) -> dict[int, str] | None:
        """The code of each cell in a fixed module (cell index -> code); None if it cannot be split."""
        parts, rest = [], module
        for number in range(1, len(self.cells)):
            head, marker, rest = rest.partition(_CELL_MARKER.format(number))
            if not marker:
                return None
            parts.append(head)
        parts.append(rest)
        texts = {}
        for (index, masked), code in zip(self.cells, parts):
            original = next(s.text for s in self.sources if s.index == index)
            if not original.endswith("\n") and code.endswith("\n"):
                code = code[:-1]
            restored = unmask(code, masked)
            if restored is None:
                return None
            texts[index] = restored
        return texts

    def fixed_raw(self, module: str) -> str | None:
        """The notebook's JSON text after ``module`` (the fixed module), or None if it cannot be mapped."""
        texts = self.split(module)
        return None if texts is None else with_sources(self.raw, self.sources, texts)

    def changed_cells(self, module: str) -> list[tuple[int, str, str]]:
        """(cell number, code before, code after) of each cell the fixed ``module`` changes."""
        texts = self.split(module) or {}
        return [
            (source.index + 1, source.text, texts[source.index])
            for source in self.sources
            if source.index in texts and texts[source.index] != source.text
        ]

    def raw_span(self, finding: Finding) -> tuple[int, int]:
        """Where a cell-positioned finding lies in the notebook's JSON text (start and end offsets)."""
        return self._raw_offset(finding.cell, finding.line, finding.column), self._raw_offset(
            finding.cell, finding.end_line, finding.end_column
        )

    def _raw_offset(self, cell: int, line: int, column: int) -> int:
        source = next(s for s in self.sources if s.index == cell - 1)
        lines = _lines(source.text)
        offset = sum(len(text) for text in lines[: line - 1]) + column - 1
        strings = source.strings or [(source.start, source.end, source.text)]
        for start, _, text in strings[:-1]:
            if offset <= len(text):
                break
            offset -= len(text)
        else:
            start, _, text = strings[-1]
        # the string's opening quote, then the characters before the position as the file escapes them
        return start + len(_json_string(text[:offset], self.raw.isascii())) - 1


# -- checking and fixing a notebook file ---------------------------------------------------


def process(
    path: Path, job, options: RunOptions, accept=None, data: bytes | None = None
) -> FileReport:
    """Check or fix one notebook for the runner's ``job`` (``data``: its bytes, read from stdin).

    Cells that do not parse are named in ``error``; the others are still checked and fixed.
    """
    from torchfix.runner import too_many_tokens  # the runner imports this module

    report = FileReport(path.as_posix())
    max_size, max_tokens = job.settings.max_file_size, job.settings.max_file_tokens
    mode = job.mode.value
    try:
        source = read_source(path, max_size) if data is None else decode_source(path, data)
        notebook = Notebook.read(source.text)
    except (SourceError, NotebookError) as error:
        report.error = str(error)
        return report
    broken = [f"cell {index + 1}: cannot parse: {message}" for index, message in notebook.broken]
    report.error = "; ".join(broken) or None
    skipped = too_many_tokens(notebook.module, max_tokens)
    if skipped or not notebook.cells:
        report.error = report.error or skipped
        return report
    positioned = notebook
    try:
        if mode == "check":
            suppressions = Suppressions(notebook.module)
            findings = check_text(notebook.module, options, suppressions)
            findings += unused_findings(suppressions) if job.unused_noqa else []
            report.findings = [notebook.locate(f) for f in findings]
            if job.previews:
                report.source = notebook.raw
                report.previews = [
                    (notebook.locate(finding), raw)
                    for finding, module in fix_previews(notebook.module, options)
                    if (raw := notebook.fixed_raw(module)) is not None
                ]
        else:
            positioned = _fix(report, source, notebook, options, mode == "apply", accept)
    except cst.ParserSyntaxError as error:
        report.error = f"cannot parse: {error.message.strip()}"
    except RecursionError:
        report.error = "cannot parse: the code is nested too deeply"
    report.raw_spans = {f: RawSpan.of(positioned.raw, *positioned.raw_span(f)) for f in report.findings}
    if report.findings and report.source is None:
        report.source = positioned.raw  # what SARIF positions the spans in
    return report


def _fix(report: FileReport, source, notebook: Notebook, options: RunOptions, write: bool, accept) -> Notebook:
    """Fix the notebook's code into ``report``; the notebook its remaining findings are positioned in."""
    fixed = fix_text(notebook.module, options, accept=accept(report.path) if accept else None)
    report.findings = [notebook.locate(f) for f in fixed.findings]
    report.bug = fixed.bug
    problem = fixed.refused
    raw = notebook.fixed_raw(fixed.text) if fixed.changed and not fixed.bug and not problem else None
    if fixed.changed and raw is None and not fixed.bug and not problem:
        problem = _NOT_SPLIT
    if problem:
        report.error = "; ".join(filter(None, [report.error, problem]))
    if raw is None:
        return notebook
    after = Notebook.read(raw)
    report.findings = [after.locate(f) for f in fixed.remaining]
    report.fixed = [replace(a, finding=notebook.locate(a.finding)).portable() for a in fixed.applied]
    report.original, report.source, report.changed = notebook.raw, raw, True
    report.changed_cells = notebook.changed_cells(fixed.text)
    if write:
        try:
            write_source(source, raw)
        except SourceError as error:
            report.error = "; ".join(filter(None, [report.error, str(error)]))
            report.changed = False
    return after
