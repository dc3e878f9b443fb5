"""The human reporter: finding lines, summaries, statistics and coloured diffs (Rich)."""

from __future__ import annotations

import difflib
from collections import Counter
from typing import Sequence

from rich.console import Console
from rich.text import Text

from torchfix.findings import Applicability, Finding
from torchfix.reporters._common import ordered
from torchfix.results import FileReport


def location(path: str, finding: Finding) -> str:
    """``path:line:col``, or ``path.ipynb:cell N:line:col`` in a notebook."""
    cell = f":cell {finding.cell}" if finding.cell is not None else ""
    return f"{path}{cell}:{finding.line}:{finding.column}"


def finding_line(path: str, finding: Finding) -> Text:
    """``path:line:col: TF007 [*] message`` (``[*]``: fixable with the current settings)."""
    where = location(path, finding)
    return Text.assemble(
        (where[: len(path)], "bold"),
        f"{where[len(path):]}: ",
        (finding.code, "bold red"),
        " ",
        ("[*] ", "cyan") if finding.fixable else "",
        finding.message,
    )


def print_findings(console: Console, reports: Sequence[FileReport]) -> None:
    for report, findings in ordered(reports):
        for finding in findings:
            console.print(finding_line(report.path, finding))


def print_errors(console: Console, reports: Sequence[FileReport]) -> None:
    """One line per file that could not be read, parsed or written (to stderr)."""
    for report in reports:
        if report.error:
            console.print(Text.assemble((report.path, "bold"), ": ", (report.error, "red")))
        if report.bug:
            console.print(
                Text.assemble(
                    (report.path, "bold"),
                    ": torchfix bug, file left unchanged: ",
                    (report.bug, "red"),
                    " (please report it)",
                )
            )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _failures(reports: Sequence[FileReport], verb: str) -> str:
    """``; 2 files could not be checked`` when some could not, else nothing."""
    failed = sum(1 for r in reports if r.error or r.bug)
    if not failed:
        return ""
    return f"; {_plural(failed, 'file')} could not be {verb}"


def summary_line(reports: Sequence[FileReport]) -> str:
    """``Found 5 findings in 3 files: 2 fixable; 3 more with --unsafe-fixes; 1 file could not be checked.``"""
    findings = [f for r in reports for f in r.findings]
    failures = _failures(reports, "checked")
    if not findings:
        return f"No findings{failures}."
    files = sum(1 for r in reports if r.findings)
    fixable = sum(1 for f in findings if f.fixable)
    hidden = sum(1 for f in findings if not f.fixable and f.applicability is Applicability.UNSAFE)
    line = f"Found {_plural(len(findings), 'finding')} in {_plural(files, 'file')}"
    parts = [f"{fixable} fixable with `torchfix apply`"]
    if hidden:
        parts.append(f"{hidden} more with `--unsafe-fixes`")
    return f"{line}: {'; '.join(parts)}{failures}."


def fixed_line(reports: Sequence[FileReport], dry_run: bool) -> str:
    fixes = sum(len(r.fixed) for r in reports)
    files = sum(1 for r in reports if r.changed)
    verb = "Would fix" if dry_run else "Fixed"
    return f"{verb} {_plural(fixes, 'finding')} in {_plural(files, 'file')}{_failures(reports, 'fixed')}."


def print_statistics(console: Console, reports: Sequence[FileReport], slugs: dict[str, str]) -> None:
    from rich.table import Table  # only ``--statistics`` prints a table

    counts = Counter(f.code for r in reports for f in r.findings)
    fixable = Counter(f.code for r in reports for f in r.findings if f.fixable)
    table = Table("count", "code", "rule", "fixable", box=None, pad_edge=False)
    for code in sorted(counts, key=lambda c: (-counts[c], c)):
        table.add_row(str(counts[code]), code, slugs.get(code, ""), str(fixable[code]))
    console.print(table)


def unified_diff(path: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


_DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


def report_diff(report: FileReport) -> str:
    """The unified diff of one changed file; of each changed cell's code in a notebook."""
    assert report.original is not None and report.source is not None
    if report.changed_cells is None:
        return unified_diff(report.path, report.original, report.source)
    return "".join(
        unified_diff(f"{report.path}:cell {cell}", before, after) for cell, before, after in report.changed_cells
    )


def print_diff(console: Console, report: FileReport) -> None:
    """The coloured unified diff of one changed file."""
    print_colored_diff(console, report_diff(report))


def print_unified_diff(console: Console, path: str, before: str, after: str) -> None:
    print_colored_diff(console, unified_diff(path, before, after))


def print_colored_diff(console: Console, diff: str) -> None:
    for line in diff.splitlines():
        style = next((s for prefix, s in _DIFF_STYLES if line.startswith(prefix)), None)
        console.print(Text(line, style=style or ""))
