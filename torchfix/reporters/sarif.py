"""``--format sarif``: SARIF 2.1.0 for GitHub code scanning, with fixes.

One run whose driver lists every rule (``id`` = code, ``name`` = slug, the
summary, the ``## Why`` section, the documentation and first example as help,
and the fix safety in ``properties``). Each finding is a ``warning`` result at
its span, with a ``partialFingerprints`` entry that survives line shifts (the
rule and the flagged code, numbered among equal ones in the file), and, when
``apply`` with the current settings would fix it, a ``fixes`` entry computed
from ``FileReport.previews``: the changed hunks between ``source`` and the text
after that fix alone, each trimmed to its minimal region.

Decisions:

* Columns are UTF-16 code units (``columnKind: utf16CodeUnits``, SARIF's
  default, which GitHub and editors assume); findings count characters, so they
  are converted through the line text. Every file with findings needs
  ``FileReport.source``: the text the findings refer to.
* Lines break at ``\\r\\n``, ``\\r`` and ``\\n``, as LibCST counts them. A
  position just after a final newline is line N+1, column 1.
* The replacements of one fix do not overlap, are in source order and are all
  positioned in the original text: a consumer applies them from last to first.
* Paths are relative POSIX paths, written as URI references against
  ``%SRCROOT%``.
* A notebook's regions are in its ``.ipynb`` JSON text (``source`` is that
  text, the previews too, so fixes replace bytes of the JSON); the cell and the
  position inside it are in the result's ``properties.notebookCell``.
* Files that could not be read, parsed or fixed are error-level
  ``toolExecutionNotifications`` of the one invocation, whose
  ``executionSuccessful`` is then false: the analysis is incomplete.
"""

from __future__ import annotations

import bisect
import difflib
import hashlib
import json
import re
from collections import Counter
from typing import Iterable, Sequence
from urllib.parse import quote

import torchfix
from torchfix.findings import Finding
from torchfix.reporters._common import ordered
from torchfix.results import FileReport
from torchfix.rule import Rule
from torchfix.suppression import UNUSED_CODE, UNUSED_SLUG

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/torchfix-idioms/"
SRCROOT = "%SRCROOT%"
FINGERPRINT = "torchfixSpanHash/v1"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_WHY = re.compile(r"^## Why\n(.*?)(?=^## |\Z)", re.MULTILINE | re.DOTALL)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _Text:
    """One source text: its lines (with their breaks) and SARIF positions in it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = []
        #: where each line starts, an empty last line after a final line break included
        self.starts = [0]
        for match in _LINE_BREAK.finditer(text):
            self.lines.append(text[self.starts[-1] : match.end()])
            self.starts.append(match.end())
        if self.starts[-1] < len(text):
            self.lines.append(text[self.starts[-1] :])

    def line_offset(self, index: int) -> int:
        """Where ``lines[index]`` starts; ``len(lines)`` gives the end of the text."""
        return self.starts[index] if index < len(self.starts) else len(self.text)

    def offset(self, line: int, column: int) -> int:
        """The offset of a 1-based line and character column."""
        return self.starts[line - 1] + column - 1

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based line and UTF-16 column at ``offset``."""
        index = bisect.bisect_right(self.starts, offset) - 1
        start = self.starts[index]
        return index + 1, _utf16_len(self.text[start:offset]) + 1

    def region(self, start: int, end: int) -> dict:
        start_line, start_column = self.position(start)
        end_line, end_column = self.position(end)
        return {
            "startLine": start_line,
            "startColumn": start_column,
            "endLine": end_line,
            "endColumn": end_column,
        }


def _common_prefix(a: str, b: str) -> int:
    size = 0
    for x, y in zip(a, b):
        if x != y:
            break
        size += 1
    return size


def _replacements(before: _Text, after: str) -> list[dict]:
    """The changes from ``before`` to ``after``: one minimal replacement per changed hunk."""
    after_text = _Text(after)
    matcher = difflib.SequenceMatcher(None, before.lines, after_text.lines, autojunk=False)
    replacements = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        start, end = before.line_offset(i1), before.line_offset(i2)
        deleted = before.text[start:end]
        inserted = after[after_text.line_offset(j1) : after_text.line_offset(j2)]
        prefix = _common_prefix(deleted, inserted)
        suffix = _common_prefix(deleted[prefix:][::-1], inserted[prefix:][::-1])
        replacements.append(
            {
                "deletedRegion": before.region(start + prefix, end - suffix),
                "insertedContent": {"text": inserted[prefix : len(inserted) - suffix]},
            }
        )
    return replacements


def _artifact(path: str) -> dict:
    return {"uri": quote(path), "uriBaseId": SRCROOT}


class _File:
    """The results of one file's findings."""

    def __init__(self, report: FileReport) -> None:
        self.artifact = _artifact(report.path)
        self.text = _Text(report.source or "")
        self.raw_spans = report.raw_spans
        self.previews: dict[Finding, str] = {}
        for finding, fixed in report.previews or ():
            self.previews.setdefault(finding, fixed)
        self.seen: Counter = Counter()

    def span(self, finding: Finding) -> tuple[int, int]:
        """The finding's offsets in ``source``: a notebook's in its JSON text."""
        if self.raw_spans is not None:
            raw = self.raw_spans[finding]
            return raw.start, raw.end
        return self.text.offset(finding.line, finding.column), self.text.offset(finding.end_line, finding.end_column)

    def result(self, finding: Finding, rule_index: int) -> dict:
        start, end = self.span(finding)
        location = {"artifactLocation": self.artifact, "region": self.text.region(start, end)}
        result = {
            "ruleId": finding.code,
            "ruleIndex": rule_index,
            "level": "warning",
            "message": {"text": finding.message},
            "locations": [{"physicalLocation": location}],
            "partialFingerprints": {FINGERPRINT: self.fingerprint(finding.code, self.text.text[start:end])},
            "properties": {"applicability": finding.applicability.value, "fixable": finding.fixable},
        }
        if finding.cell is not None:
            result["properties"]["notebookCell"] = {
                "cell": finding.cell, "line": finding.line, "column": finding.column
            }
        replacements = _replacements(self.text, self.previews[finding]) if finding in self.previews else []
        if replacements:
            change = {"artifactLocation": self.artifact, "replacements": replacements}
            description = _fix_description(finding)
            result["fixes"] = [{"description": {"text": description}, "artifactChanges": [change]}]
        return result

    def fingerprint(self, code: str, span: str) -> str:
        """A hash of the rule and the flagged code (whitespace-insensitive), numbered among equal ones."""
        key = f"{code}\0{' '.join(span.split())}"
        self.seen[key] += 1
        return hashlib.sha256(f"{key}\0{self.seen[key]}".encode()).hexdigest()


def _fix_description(finding: Finding) -> str:
    """``Safe fix: <message>``; an unsafe fix names its assumption once: ``Unsafe fix: <message> It assumes ...``."""
    message, marker, assumption = finding.message.partition(" (unsafe fix: ")
    if not marker:
        return f"{finding.applicability.value.capitalize()} fix: {message}"
    return f"Unsafe fix: {message} It {assumption[:-1]}"


def _help_markdown(rule: type[Rule]) -> str:
    """The rule's documentation and its first before/after example."""
    example = next((e for e in rule.EXAMPLES if e.after is not None), None)
    if example is None:
        return rule.DOCS
    return (
        f"{rule.DOCS.rstrip()}\n\n## Example\n\n"
        f"```python\n{example.before}```\n\nbecomes\n\n```python\n{example.after}```\n"
    )


def _descriptor(rule: type[Rule]) -> dict:
    why = _WHY.search(rule.DOCS)
    return {
        "id": rule.CODE,
        "name": rule.SLUG,
        "shortDescription": {"text": rule.SUMMARY},
        "fullDescription": {"text": " ".join(why.group(1).split()) if why else rule.SUMMARY},
        "help": {"text": rule.DOCS, "markdown": _help_markdown(rule)},
        "defaultConfiguration": {"level": "warning"},
        "properties": {"idiom": rule.IDIOM, "fixSafety": rule.FIX_SAFETY, "tags": ["pytorch", "idiom"]},
    }


_UNUSED_DESCRIPTOR = {
    "id": UNUSED_CODE,
    "name": UNUSED_SLUG,
    "shortDescription": {"text": "A suppression comment that suppresses nothing (check --show-unused-noqa)."},
    "defaultConfiguration": {"level": "warning"},
    "properties": {"fixSafety": "report-only", "tags": ["torchfix"]},
}


def _notification(path: str, text: str) -> dict:
    location = {"physicalLocation": {"artifactLocation": _artifact(path)}}
    return {"level": "error", "message": {"text": text}, "locations": [location]}


def render(reports: Iterable[FileReport], rules: Sequence[type[Rule]]) -> str:
    """The SARIF log of ``reports``; ``rules`` must include the rule of every finding
    (unused suppressions, TF100, are described here)."""
    reports = list(reports)
    descriptors = [_descriptor(rule) for rule in rules]
    if any(f.code == UNUSED_CODE for report in reports for f in report.findings):
        descriptors.append(_UNUSED_DESCRIPTOR)
    index = {descriptor["id"]: i for i, descriptor in enumerate(descriptors)}
    results, notifications = [], []
    for report, findings in ordered(reports):
        if report.error is not None:
            notifications.append(_notification(report.path, f"{report.path}: {report.error}"))
        if report.bug is not None:
            notifications.append(_notification(report.path, f"{report.path}: torchfix bug: {report.bug}"))
        if not findings:
            continue
        file = _File(report)
        results.extend(file.result(finding, index[finding.code]) for finding in findings)
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "torchfix",
                        "version": torchfix.__version__,
                        "informationUri": INFORMATION_URI,
                        "rules": descriptors,
                    }
                },
                "invocations": [
                    {"executionSuccessful": not notifications, "toolExecutionNotifications": notifications}
                ],
                "columnKind": "utf16CodeUnits",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
