"""What every reporter shares: one deterministic order of files and findings."""

from __future__ import annotations

from typing import Iterable

from torchfix.findings import Finding
from torchfix.results import FileReport


def ordered(reports: Iterable[FileReport]) -> list[tuple[FileReport, list[Finding]]]:
    """Each report with its findings, files by path and findings by position.

    Workers may finish in any order; the output must not show it.
    """
    return [
        (report, sorted(report.findings, key=lambda finding: finding.sort_key))
        for report in sorted(reports, key=lambda report: report.path)
    ]
