"""``--format github``: GitHub Actions workflow commands that annotate the diff.

One ``::warning`` line per finding, titled ``TF007 f-normalize``, and one
``::error`` line per file that could not be read, parsed or fixed. Values are
escaped as the Actions runner unescapes them: ``%``, CR and LF everywhere, and
also ``:`` and ``,`` inside properties. ``col``/``endColumn`` are left out for a
finding spanning several lines, where GitHub does not accept them. A notebook's
finding is annotated at its line of the ``.ipynb`` file, its cell position named
in the message.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from torchfix.reporters._common import ordered
from torchfix.results import FileReport

_DATA_ESCAPES = (("%", "%25"), ("\r", "%0D"), ("\n", "%0A"))
_PROPERTY_ESCAPES = _DATA_ESCAPES + ((":", "%3A"), (",", "%2C"))


def _escape(value: object, escapes) -> str:
    text = str(value)
    for char, replacement in escapes:
        text = text.replace(char, replacement)
    return text


def _command(name: str, properties: Mapping[str, object], message: str) -> str:
    """One workflow command line, e.g. ``::warning file=a.py,line=3::message``; ``None`` values are left out."""
    fields = ",".join(
        f"{key}={_escape(value, _PROPERTY_ESCAPES)}" for key, value in properties.items() if value is not None
    )
    return f"::{name} {fields}::{_escape(message, _DATA_ESCAPES)}"


def render(reports: Iterable[FileReport]) -> str:
    lines = []
    for report, findings in ordered(reports):
        if report.error is not None:
            lines.append(_command("error", {"file": report.path, "title": "torchfix"}, report.error))
        if report.bug is not None:
            lines.append(_command("error", {"file": report.path, "title": "torchfix bug"}, report.bug))
        for finding in findings:
            span, message = finding, finding.message
            if report.raw_spans is not None and finding in report.raw_spans:
                # a notebook: annotate the line of the .ipynb file, name the cell in the message
                span = report.raw_spans[finding]
                message = f"cell {finding.cell}:{finding.line}:{finding.column}: {message}"
            one_line = span.end_line == span.line
            where = {
                "file": report.path,
                "line": span.line,
                "col": span.column if one_line else None,
                "endLine": span.end_line,
                "endColumn": span.end_column if one_line else None,
                "title": f"{finding.code} {finding.slug}",
            }
            lines.append(_command("warning", where, message))
    return "".join(line + "\n" for line in lines)
