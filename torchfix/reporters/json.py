"""``--format json``: a JSON list with one object per finding.

Each object has ``path``, ``cell`` (a notebook's 1-based cell, else null), ``line``, ``column``, ``end_line``, ``end_column``
(1-based, columns in characters, the end exclusive), ``code``, ``slug``,
``message``, ``fixable`` (whether ``apply`` with the current settings fixes it)
and ``applicability`` (``"safe"``, ``"unsafe"`` or ``"none"`` for report-only).

The top level holds findings only, so every element has the same shape: files
that could not be read or parsed are not findings; the command line reports them
on stderr and through the exit code.
"""

from __future__ import annotations

import json
from typing import Iterable

from torchfix.reporters._common import ordered
from torchfix.results import FileReport


def render(reports: Iterable[FileReport]) -> str:
    findings = [
        {
            "path": report.path,
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
        for report, report_findings in ordered(reports)
        for finding in report_findings
    ]
    return json.dumps(findings, indent=2) + "\n"
