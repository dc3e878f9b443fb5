"""One ``check`` or ``apply`` run of the command line, after Typer has parsed its flags.

:mod:`torchfix.cli` declares the flags; this module turns them into settings, a
job, stdin or files, output (to stdout or ``--output-file``) and an exit code.
It imports what it needs when it needs it: the command line must start fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence, TextIO

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from torchfix.config import Settings
    from torchfix.results import FileReport
    from torchfix.runner import Job

#: the path that stands for stdin
STDIN = Path("-")


@dataclass
class Flags:
    """The flags ``check`` and ``apply`` share (``fmt`` is the ``--format`` value)."""

    paths: list[Path] = field(default_factory=list)
    select: Sequence[str] = ()
    extend_select: Sequence[str] = ()
    ignore: Sequence[str] = ()
    extend_ignore: Sequence[str] = ()
    unsafe_fixes: bool | None = None
    fmt: str = "text"
    statistics: bool = False
    quiet: bool = False
    no_color: bool = False
    config: Path | None = None
    no_cache: bool = False
    jobs: int | None = None
    force_exclude: bool = False
    output_file: Path | None = None
    show_fixes: bool = False
    show_files: bool = False
    show_settings: bool = False
    verbose: bool = False
    stdin_filename: Path | None = None


def consoles(no_color: bool, stream: TextIO | None = None) -> tuple[Console, Console]:
    """The output console (stdout, or ``stream``) and stderr's; piped output is not folded at 80 columns."""
    from rich.console import Console

    kwargs = {"highlight": False, "soft_wrap": True, "no_color": no_color or None}
    out = Console(file=stream, **kwargs) if stream is not None else Console(**kwargs)
    err = Console(stderr=True, **kwargs)
    for console in (out, err):
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console.width = 160
    return out, err


class Session:
    """The consoles, settings and reports of one run."""

    def __init__(self, flags: Flags, stream: TextIO) -> None:
        self.flags = flags
        self.stream = stream
        self.out, self.err = consoles(flags.no_color or stream is not sys.stdout, stream)
        self.started = time.monotonic()
        self.stdin = flags.paths == [STDIN] or (flags.stdin_filename is not None and not flags.paths)
        if STDIN in flags.paths and not self.stdin:
            self.fail("- (stdin) cannot be combined with other paths")
        # a path that does not exist is a failed file in every format (exit 2), as an unreadable one
        self.paths = list(flags.paths or [Path(".")])
        self.settings = self._settings()

    def fail(self, message: str) -> None:
        """A usage error: say it, exit 2."""
        self.err.print(f"torchfix: {message}", markup=False)
        raise typer.Exit(2)

    def _settings(self) -> Settings:
        from torchfix.config import ConfigError, load_settings, with_flags

        flags = self.flags
        where = [flags.stdin_filename or Path("stdin.py")] if self.stdin else self.paths
        try:
            return with_flags(
                load_settings(where, flags.config), flags.select, flags.ignore, flags.unsafe_fixes,
                flags.force_exclude, flags.extend_select, flags.extend_ignore,
            )
        except ConfigError as error:
            self.fail(str(error))
            raise  # unreachable: fail raises

    def job(self, mode: str, previews: bool = False, unused_noqa: bool = False) -> Job:
        """The run's job; ``mode`` is a :class:`torchfix.runner.Mode` value. Unused-noqa runs skip
        the cache (its entries do not hold TF100 findings)."""
        from torchfix.cache import cache_root
        from torchfix.runner import Job, Mode

        no_cache = self.flags.no_cache or unused_noqa or self.stdin
        root = None if no_cache else cache_root(self.settings.config_file, self.paths)
        return Job(Mode(mode), self.settings, previews=previews, cache_root=root, jobs=self.flags.jobs,
                   unused_noqa=unused_noqa)

    # -- what runs -----------------------------------------------------------------------

    def run(self, job: Job, quiet: bool, accept=None) -> list[FileReport]:
        """Every report, with a progress bar on a terminal; Ctrl-C stops cleanly (exit 130)."""
        if self.stdin:
            return self._run_stdin(job)
        from torchfix.runner import run

        try:
            if quiet or not self.err.is_terminal:
                return run(self.paths, job, accept)
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            with Progress(
                TextColumn("torchfix"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=self.err, transient=True,
            ) as bar:
                task = bar.add_task("files", total=None)

                def progress(total: int):
                    bar.update(task, total=total)
                    return lambda done: bar.advance(task, done)

                return run(self.paths, job, accept, progress)
        except KeyboardInterrupt:
            self.err.print("torchfix: interrupted; every file is either untouched or fully written.", markup=False)
            raise typer.Exit(130) from None

    def _run_stdin(self, job: Job) -> list[FileReport]:
        """stdin as the file ``--stdin-filename``: no report when its config excludes it."""
        from torchfix.runner import process_stdin

        data = sys.stdin.buffer.read()
        self.stdin_data = data
        shown = self.flags.stdin_filename or Path("-")
        if self.flags.stdin_filename is not None and self.settings.is_excluded(shown):
            return []
        return [process_stdin(shown, data, job)]

    def files(self) -> list[Path]:
        from torchfix.discovery import discover
        from torchfix.runner import files_to_process

        found = discover(self.paths, self.settings.exclude_spec(), self.settings.root, notebooks=True)
        return files_to_process(found.files, self.settings)

    # -- what is printed -------------------------------------------------------------------

    def write(self, text: str) -> None:
        self.stream.write(text)

    def show_files_or_settings(self) -> None:
        """``--show-files`` / ``--show-settings``: print them, exit 0."""
        if self.flags.show_settings:
            self.write(json.dumps(settings_dict(self.settings), indent=2) + "\n")
        if self.flags.show_files:
            self.write("".join(f"{path.as_posix()}\n" for path in self.files()))
        if self.flags.show_settings or self.flags.show_files:
            raise typer.Exit(0)

    def notes(self, reports: Sequence[FileReport], job: Job) -> None:
        """``-v``: where the settings came from, what ran, how long it took (to stderr)."""
        if not self.flags.verbose:
            return
        settings = self.settings
        lines = [
            f"config: {settings.config_file or 'none (defaults)'}",
            f"root: {settings.root}",
            f"rules: {', '.join(settings.codes)}",
            f"cache: {job.cache_root / '.torchfix_cache' if job.cache_root else 'off'}",
            f"files: {len(reports)} in {time.monotonic() - self.started:.2f}s",
        ]
        for line in lines:
            self.err.print(f"torchfix: {line}", markup=False, soft_wrap=True)

    def nothing_found(self, reports: Sequence[FileReport]) -> bool:
        """Say so when there was nothing to check (the paths hold no Python files or notebooks)."""
        if reports or self.stdin:
            return False
        shown = ", ".join(path.as_posix() for path in self.paths)
        self.err.print(f"torchfix: no Python files or notebooks found under {shown}", markup=False)
        return True

    def machine_output(self, reports: Sequence[FileReport], edits: bool = False) -> None:
        fmt = self.flags.fmt
        if fmt == "json":
            from torchfix.reporters import json as reporter

            self.write(reporter.render_edits(reports) if edits else reporter.render(reports))
        elif fmt == "sarif":
            from torchfix.reporters import sarif
            from torchfix.rules import all_rules

            self.write(sarif.render(reports, all_rules()))
        else:
            from torchfix.reporters import github

            self.write(github.render(reports))

    def findings(self, reports: Sequence[FileReport], summary: bool = True) -> None:
        """Finding lines, statistics and the summary (``--statistics -q``: the table alone)."""
        from torchfix.reporters import text
        from torchfix.rules import rule_slugs

        if self.flags.fmt != "text":
            self.machine_output(reports)
            return
        if not (self.flags.statistics and self.flags.quiet):
            text.print_findings(self.out, reports)
        if self.flags.statistics:
            text.print_statistics(self.out, reports, rule_slugs())
        if summary and not self.flags.quiet:
            self.out.print(text.summary_line(reports), markup=False)

    def show_fixes(self, reports: Sequence[FileReport], dry_run: bool) -> None:
        """``--show-fixes``: per file, how many fixes of each rule were (or would be) applied."""
        from collections import Counter

        changed = [r for r in sorted(reports, key=lambda r: r.path) if r.fixed and r.changed]
        if not self.flags.show_fixes or not changed:
            return
        self.out.print("Fixes that would be applied:" if dry_run else "Fixes applied:", markup=False)
        for report in changed:
            self.out.print(f"  {report.path}:", markup=False)
            counts = Counter((a.finding.code, a.finding.slug) for a in report.fixed)
            for (code, slug), count in sorted(counts.items()):
                self.out.print(f"    {count} × {code} ({slug})", markup=False)


def settings_dict(settings: Settings) -> dict:
    """The resolved settings, as ``--show-settings`` prints them."""
    return {
        "config_file": str(settings.config_file) if settings.config_file else None,
        "root": str(settings.root),
        "rules": list(settings.codes),
        "unsafe_fixes": sorted(settings.unsafe_codes),
        "exclude": list(settings.exclude),
        "per_file_ignores": {pattern: list(codes) for pattern, codes in settings.per_file_ignores.items()},
        "force_exclude": settings.force_exclude,
        "buffer_persistent": settings.buffer_persistent,
        "fused_linear": settings.fused_linear,
        "fused_linear_keys": settings.fused_linear_keys,
        "max_file_size": settings.max_file_size,
        "max_file_tokens": settings.max_file_tokens,
    }


@contextlib.contextmanager
def output_stream(path: Path | None) -> Iterator[TextIO]:
    """stdout, or the ``--output-file`` (written whole; its folder is created)."""
    if path is None:
        yield sys.stdout
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as stream:
        yield stream


def failed(reports: Sequence[FileReport]) -> bool:
    return any(r.error or r.bug for r in reports)


def run_check(flags: Flags, exit_zero: bool, show_unused_noqa: bool) -> int:
    """``torchfix check``: the exit code."""
    from torchfix.reporters import text

    with output_stream(flags.output_file) as stream:
        session = Session(flags, stream)
        session.show_files_or_settings()
        job = session.job("check", previews=flags.fmt == "sarif", unused_noqa=show_unused_noqa)
        reports = session.run(job, flags.quiet)
        session.notes(reports, job)
        text.print_errors(session.err, reports)
        if session.nothing_found(reports) and flags.fmt == "text":
            return 0
        session.findings(reports)
    if failed(reports):
        return 2
    return 1 if any(r.findings for r in reports) and not exit_zero else 0


@dataclass
class ApplyOptions:
    """What only ``apply`` (and ``check --fix``) has."""

    dry_run: bool = False
    exit_non_zero_on_fix: bool = False
    interactive: bool = False
    #: ``apply --verify``: ``verify(session, job) -> (exit code, reports)``
    verify: Callable | None = None


def run_apply(flags: Flags, options: ApplyOptions) -> int:
    """``torchfix apply`` (and ``check --fix``): the exit code."""
    from torchfix.reporters import text

    with output_stream(flags.output_file) as stream:
        session = Session(flags, stream)
        session.show_files_or_settings()
        dry_run = options.dry_run
        job = session.job("diff" if dry_run else "apply")
        if session.stdin and options.interactive:
            session.fail("--interactive cannot read answers from stdin while stdin is the source")
        review = None
        if options.interactive:
            from torchfix.interactive import Review

            review = Review(session.out, sys.stdin)
        verified = 0
        if options.verify is not None:
            verified, reports = options.verify(session, job)
        else:
            reports = session.run(job, flags.quiet or options.interactive, review.for_file if review else None)
        session.notes(reports, job)
        if review is not None and review.stopped:
            session.out.print("Stopped: the remaining fixes were not applied.", markup=False)
        text.print_errors(session.err, reports)
        remaining = any(r.findings for r in reports)
        if session.stdin:
            _print_stdin_result(session, reports)
        elif flags.fmt != "text":
            session.machine_output(reports, edits=dry_run and flags.fmt == "json")
        elif not session.nothing_found(reports):
            _print_apply_text(session, reports, dry_run, remaining)
    changed = any(r.changed for r in reports)
    if failed(reports):
        return 2
    if session.stdin:
        return 1 if remaining else 0
    # apply --verify's own code first: 1 differs, 3 something unverified (verify's exit codes)
    return verified or (1 if remaining or (changed and (dry_run or options.exit_non_zero_on_fix)) else 0)


def _print_apply_text(session: Session, reports: Sequence[FileReport], dry_run: bool, remaining: bool) -> None:
    from torchfix.reporters import text

    for report in reports:
        if dry_run and report.changed:
            text.print_diff(session.out, report)
    session.show_fixes(reports, dry_run)
    if not session.flags.quiet:
        session.out.print(text.fixed_line(reports, dry_run), markup=False)
    if remaining:
        session.out.print("Not fixed:", markup=False)
        session.findings(reports)


def _print_stdin_result(session: Session, reports: Sequence[FileReport]) -> None:
    """``apply -``: the fixed source on stdout (the input unchanged when nothing applies);
    remaining findings and fixes on stderr."""
    from torchfix.reporters import text

    report = reports[0] if reports else None
    if report is not None and report.changed and report.source is not None:
        from torchfix.sourcefile import decode_source

        # in stdin's own encoding and BOM (it decoded, or nothing would have changed)
        data = decode_source(STDIN, session.stdin_data).encode(report.source)
    else:
        data = session.stdin_data
    session.stream.flush()
    if session.stream is sys.stdout:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        session.stream.write(data.decode("utf-8", "surrogateescape"))
    if report is not None and report.findings:
        text.print_findings(session.err, reports)
