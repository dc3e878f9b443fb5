"""``--format json``: a JSON list with one object per finding, and one per file that failed.

A finding has ``path``, ``cell`` (a notebook's 1-based cell, else null), ``line``,
``column``, ``end_line``, ``end_column`` (1-based, columns in characters, the end
exclusive), ``code``, ``slug``, ``message``, ``fixable`` (whether ``apply`` with
the current settings fixes it) and ``applicability`` (``"safe"``, ``"unsafe"`` or
``"none"`` for report-only).

A file that could not be read, parsed or written is an object with only ``path``
and ``error`` (the one-line reason; ``torchfix bug: ...`` when a fix produced
invalid code), placed before that file's findings: tell the two apart by the
``error`` key.

``apply --dry-run --format json`` prints the pending edits instead
(:func:`render_edits`): per changed file its ``path``, the unified ``diff`` and
the ``fixes`` it carries (findings, as above), then the error objects.
"""

from __future__ import annotations

import json
from typing import Iterable

from torchfix.findings import Finding
from torchfix.reporters._common import ordered
from torchfix.reporters.text import report_diff
from torchfix.results import FileReport


def _finding(path: str, finding: Finding) -> dict:
    return {
        "path": path,
        "cell": finding.cell,
        "line": finding.line,
        "column": finding.column,
        "end_line": finding.end_line,
        "end_column": finding.end_column,
        "code": finding.code,
        "slug": finding.slug,
        "message": finding.message,
        "fixable": finding.fixable,
        "applicability": finding.applicability.value,
    }


def errors(report: FileReport) -> list[dict]:
    """The error objects of one file (none when it was checked)."""
    entries = []
    if report.error is not None:
        entries.append({"path": report.path, "error": report.error})
    if report.bug is not None:
        entries.append({"path": report.path, "error": f"torchfix bug: {report.bug}"})
    return entries


def render(reports: Iterable[FileReport]) -> str:
    entries = []
    for report, findings in ordered(reports):
        entries += errors(report)
        entries += [_finding(report.path, finding) for finding in findings]
    return json.dumps(entries, indent=2) + "\n"


def render_edits(reports: Iterable[FileReport]) -> str:
    """The edits a dry run would write: path, unified diff, the fixes each carries; then errors."""
    edits, failures = [], []
    for report, _ in ordered(reports):
        failures += errors(report)
        if report.changed:
            fixes = sorted((applied.finding for applied in report.fixed), key=lambda f: f.sort_key)
            edits.append(
                {"path": report.path, "diff": report_diff(report), "fixes": [_finding(report.path, f) for f in fixes]}
            )
    return json.dumps(edits + failures, indent=2) + "\n"
