"""Run the engine over files: read, prefilter, check or fix, write safely.

Each file is independent, so :func:`process_file` is a plain top-level function
that a worker process can run; its result is a :class:`FileReport`.
"""

from __future__ import annotations

import ast
import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import libcst as cst

from torchfix.config import Settings
from torchfix.discovery import discover
from torchfix.engine import RunOptions, check_text, fix_previews, fix_text
from torchfix.results import FileReport
from torchfix.sourcefile import SourceError, read_source, write_source


class Mode(str, enum.Enum):
    CHECK = "check"
    #: compute fixes and write them
    APPLY = "apply"
    #: compute fixes, write nothing
    DIFF = "diff"


@dataclass(frozen=True)
class Job:
    """What to do with each file of a run."""

    mode: Mode
    settings: Settings
    #: keep each fix's preview text (SARIF fixes)
    previews: bool = False


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def may_match(text: str, options: RunOptions) -> bool:
    """The prefilter: can any enabled rule match ``text`` at all?"""
    return any(needle in text for rule in options.rules for needle in rule.REQUIRES)


def syntax_error(text: str, path: str) -> str | None:
    """Python's own syntax check (much cheaper than a LibCST parse), as an error line."""
    try:
        compile(text, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as error:
        return f"cannot parse: line {error.lineno}:{error.offset}: {error.msg}"
    except (RecursionError, MemoryError, ValueError):
        return "cannot parse: the code is nested too deeply"
    return None


def process_file(path: Path, job: Job, accept=None) -> FileReport:
    """Check or fix one file; every failure becomes a one-line ``error``."""
    report = FileReport(path.as_posix())
    try:
        source = read_source(path, job.settings.max_file_size)
    except SourceError as error:
        report.error = str(error)
        return report
    options = job.settings.options_for(_relative(path, job.settings.root))
    if not may_match(source.text, options):
        # No rule can match, so LibCST need not parse it; a syntax error is still reported.
        report.error = syntax_error(source.text, report.path)
        return report
    report.source = source.text
    try:
        if job.mode is Mode.CHECK:
            report.findings = check_text(source.text, options)
            if job.previews:
                report.previews = fix_previews(source.text, options)
            return report
        outcome = fix_text(source.text, options, accept=accept)
    except cst.ParserSyntaxError as error:
        # Python's message points at the real spot; LibCST's only when Python accepts the code.
        report.error = syntax_error(source.text, report.path) or f"cannot parse: {error.message.strip()}"
        return report
    except RecursionError:
        report.error = "cannot parse: the code is nested too deeply"
        return report
    report.findings = outcome.remaining
    report.bug = outcome.bug
    if outcome.bug is not None or not outcome.changed:
        return report
    report.fixed = outcome.applied
    report.original, report.source = source.text, outcome.text
    report.changed = True
    if job.mode is Mode.APPLY:
        try:
            write_source(source, outcome.text)
        except SourceError as error:
            report.error = str(error)
            report.changed = False
    return report


def run(paths: Sequence[Path], job: Job, accept=None) -> list[FileReport]:
    """Every file's report, in path order; unreadable paths are reports with an error."""
    found = discover(paths, job.settings.exclude_spec(), job.settings.root)
    reports = [FileReport(path.as_posix(), error=reason) for path, reason in found.errors]
    reports += [process_file(path, job, accept) for path in found.files]
    return sorted(reports, key=lambda r: r.path)
