"""The command line: parse flags, build settings, run, report, choose the exit code.

Exit codes: 0 clean; 1 findings remain (``check``), or a dry run would change
something; 2 usage or configuration errors, and files that could not be read,
parsed or written (the other files are still processed).
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional, Sequence

import typer

from torchfix import __version__

# Startup is paid on every pre-commit run and editor save: what a command needs
# is imported inside it (`--version` loads typer alone), and the runner imports
# LibCST and the rules only for a file that needs a tree. tests/test_startup.py
# holds `--version` and a cached `check` to never importing LibCST.
if TYPE_CHECKING:
    from rich.console import Console

    from torchfix.config import Settings
    from torchfix.results import FileReport
    from torchfix.runner import Job

app = typer.Typer(
    name="torchfix",
    help="Rewrite PyTorch code toward ten idioms, and prove the rewrite changed nothing.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
)


class Format(str, Enum):
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"


class RulesFormat(str, Enum):
    table = "table"
    markdown = "markdown"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"torchfix {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """torchfix: modernise a PyTorch repository, safely."""


PATHS = typer.Argument(None, help="Files and folders to process (default: the current folder).")
SELECT = typer.Option([], "--select", help="Only these rules (codes or slugs, comma-separated).")
IGNORE = typer.Option([], "--ignore", help="Skip these rules (codes or slugs, comma-separated).")
FORMAT = typer.Option(Format.text, "--format", help="Output format.")
UNSAFE = typer.Option(None, "--unsafe-fixes/--no-unsafe-fixes", help="Also apply (or count as fixable) unsafe fixes.")
STATISTICS = typer.Option(False, "--statistics", help="Show the count per rule.")
QUIET = typer.Option(False, "--quiet", "-q", help="Print findings only, no summary.")
NO_COLOR = typer.Option(False, "--no-color", help="Plain output without colours.")
CONFIG = typer.Option(None, "--config", help="The pyproject.toml to read instead of the nearest one.")
NO_CACHE = typer.Option(False, "--no-cache", help="Neither read nor write .torchfix_cache/.")
FORCE_EXCLUDE = typer.Option(
    False, "--force-exclude", help="Apply `exclude` to files named on the command line too (for pre-commit)."
)
JOBS = typer.Option(None, "--jobs", "-j", min=1, help="Worker processes (default: one per CPU).")
DEVICE = typer.Option(
    None, "--device", help="Where verification runs: auto (CUDA, else MPS, else CPU), cpu, cuda or mps."
)


def _consoles(no_color: bool) -> tuple[Console, Console]:
    """stdout and stderr consoles; piped output is not folded at 80 columns."""
    from rich.console import Console

    kwargs = {"highlight": False, "soft_wrap": True, "no_color": no_color or None}
    consoles = Console(**kwargs), Console(stderr=True, **kwargs)
    for console in consoles:
        if not console.is_terminal and "COLUMNS" not in os.environ:
            console.width = 160
    return consoles


def _settings(
    paths, config, select, ignore, unsafe_fixes, err: Console, force_exclude: bool = False
) -> tuple[list[Path], Settings]:
    from torchfix.config import ConfigError, load_settings, with_flags

    paths = list(paths or [Path(".")])
    try:
        settings = with_flags(load_settings(paths, config), select, ignore, unsafe_fixes, force_exclude)
    except ConfigError as error:
        err.print(f"torchfix: {error}", markup=False)
        raise typer.Exit(2) from None
    return paths, settings


def _machine_output(fmt: Format, reports: Sequence[FileReport]) -> None:
    if fmt is Format.json:
        from torchfix.reporters import json as reporter

        sys.stdout.write(reporter.render(reports))
    elif fmt is Format.sarif:
        from torchfix.reporters import sarif
        from torchfix.rules import all_rules

        sys.stdout.write(sarif.render(reports, all_rules()))
    else:
        from torchfix.reporters import github

        sys.stdout.write(github.render(reports))


def _run(paths, job: Job, err: Console, quiet: bool, accept=None) -> list[FileReport]:
    """Run with a progress bar on a terminal; Ctrl-C stops cleanly (exit 130)."""
    from torchfix.runner import run

    try:
        if quiet or not err.is_terminal:
            return run(paths, job, accept)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("torchfix"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=True,
        ) as bar:
            task = bar.add_task("files", total=None)

            def progress(total: int):
                bar.update(task, total=total)
                return lambda done: bar.advance(task, done)

            return run(paths, job, accept, progress)
    except KeyboardInterrupt:
        err.print("torchfix: interrupted; every file is either untouched or fully written.", markup=False)
        raise typer.Exit(130) from None


def _job(mode: str, settings: Settings, paths, no_cache: bool, jobs, previews: bool = False) -> Job:
    """The run's job; ``mode`` is a :class:`torchfix.runner.Mode` value."""
    from torchfix.cache import cache_root
    from torchfix.runner import Job, Mode

    root = None if no_cache else cache_root(settings.config_file, paths)
    return Job(Mode(mode), settings, previews=previews, cache_root=root, jobs=jobs)


def _failed(reports: Sequence[FileReport]) -> bool:
    return any(r.error or r.bug for r in reports)


def _report_findings(out: Console, fmt: Format, reports, statistics: bool, quiet: bool) -> None:
    from torchfix.reporters import text
    from torchfix.rules import rule_slugs

    if fmt is not Format.text:
        _machine_output(fmt, reports)
        return
    text.print_findings(out, reports)
    if statistics:
        text.print_statistics(out, reports, rule_slugs())
    if not quiet:
        out.print(text.summary_line(reports), markup=False)


@app.command()
def check(
    paths: Optional[List[Path]] = PATHS,
    select: List[str] = SELECT,
    ignore: List[str] = IGNORE,
    fmt: Format = FORMAT,
    unsafe_fixes: Optional[bool] = UNSAFE,
    statistics: bool = STATISTICS,
    exit_zero: bool = typer.Option(False, "--exit-zero", help="Exit 0 even when findings remain."),
    quiet: bool = QUIET,
    no_color: bool = NO_COLOR,
    config: Optional[Path] = CONFIG,
    no_cache: bool = NO_CACHE,
    jobs: Optional[int] = JOBS,
    force_exclude: bool = FORCE_EXCLUDE,
) -> None:
    """Report findings (the CI gate): exit 1 when any remain."""
    from torchfix.reporters import text

    out, err = _consoles(no_color)
    paths, settings = _settings(paths, config, select, ignore, unsafe_fixes, err, force_exclude)
    job = _job("check", settings, paths, no_cache, jobs, previews=fmt is Format.sarif)
    reports = _run(paths, job, err, quiet)
    text.print_errors(err, reports)
    _report_findings(out, fmt, reports, statistics, quiet)
    if _failed(reports):
        raise typer.Exit(2)
    raise typer.Exit(1 if any(r.findings for r in reports) and not exit_zero else 0)


@app.command()
def apply(
    paths: Optional[List[Path]] = PATHS,
    select: List[str] = SELECT,
    ignore: List[str] = IGNORE,
    unsafe_fixes: Optional[bool] = UNSAFE,
    dry_run: bool = typer.Option(False, "--dry-run", "--diff", help="Print a diff of every change; write nothing."),
    exit_non_zero_on_fix: bool = typer.Option(False, "--exit-non-zero-on-fix", help="Exit 1 when anything was fixed."),
    interactive: bool = typer.Option(
        False, "--interactive", "-i", help="Show each fix and ask: [y]es / [n]o / [a]ll remaining / [q]uit."
    ),
    fmt: Format = FORMAT,
    statistics: bool = STATISTICS,
    quiet: bool = QUIET,
    no_color: bool = NO_COLOR,
    config: Optional[Path] = CONFIG,
    no_cache: bool = NO_CACHE,
    jobs: Optional[int] = JOBS,
    force_exclude: bool = FORCE_EXCLUDE,
    verify: bool = typer.Option(
        False, "--verify", help="Check every fix numerically (in subprocesses, with torch) and write only what passed."
    ),
    device: Optional[str] = DEVICE,
) -> None:
    """Write the fixes in place (safe ones; unsafe ones too with --unsafe-fixes)."""
    from torchfix.reporters import text

    out, err = _consoles(no_color)
    paths, settings = _settings(paths, config, select, ignore, unsafe_fixes, err, force_exclude)
    job = _job("diff" if dry_run else "apply", settings, paths, no_cache, jobs)
    review = None
    if interactive:
        from torchfix.interactive import Review

        review = Review(out, sys.stdin)
    verified = 0
    if verify:
        verified, reports = _verify_apply(paths, settings, job, dry_run, interactive, device, fmt, out, err)
    else:
        reports = _run(paths, job, err, quiet or interactive, review.for_file if review else None)
    if review is not None and review.stopped:
        out.print("Stopped: the remaining fixes were not applied.", markup=False)
    text.print_errors(err, reports)
    remaining = any(r.findings for r in reports)
    if fmt is not Format.text:
        _machine_output(fmt, reports)
    else:
        for report in reports:
            if dry_run and report.changed:
                text.print_diff(out, report)
        if not quiet:
            out.print(text.fixed_line(reports, dry_run), markup=False)
        if remaining:
            out.print("Not fixed:", markup=False)
            _report_findings(out, fmt, reports, statistics, quiet)
    changed = any(r.changed for r in reports)
    if _failed(reports):
        raise typer.Exit(2)
    raise typer.Exit(1 if verified or remaining or (changed and (dry_run or exit_non_zero_on_fix)) else 0)


def _verify_apply(paths, settings, job, dry_run, interactive, device, fmt, out, err):
    """``apply --verify``: the verification's exit code and the reports of what it let through."""
    from torchfix.verify.checks import VerifyError
    from torchfix.verify.commands import verify_apply

    if interactive:
        err.print("torchfix: --verify and --interactive cannot be combined", markup=False)
        raise typer.Exit(2)
    console = out if fmt is Format.text else err
    try:
        reports, code = verify_apply(paths, settings, job=job, write=not dry_run, device=device, console=console)
    except VerifyError as error:
        err.print(f"torchfix: --verify: {error}", markup=False)
        raise typer.Exit(2) from None
    return code, reports


class VerifyFormat(str, Enum):
    text = "text"
    json = "json"


@app.command()
def verify(
    paths: Optional[List[Path]] = PATHS,
    base: str = typer.Option("HEAD", "--base", help="The git revision holding the original code."),
    factory: Optional[str] = typer.Option(
        None, "--factory", help="Check only this model: a function `package.module:name` that returns it."
    ),
    device: Optional[str] = DEVICE,
    rtol: Optional[float] = typer.Option(None, "--rtol", help="Relative tolerance for every floating dtype."),
    atol: Optional[float] = typer.Option(None, "--atol", help="Absolute tolerance for every floating dtype."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds each subprocess may take."),
    train: bool = typer.Option(False, "--train", help="Train mode: compare outputs, gradients and buffers."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="Cast the model and inputs: float32|bfloat16|float16."),
    autocast: Optional[str] = typer.Option(None, "--autocast", help="Run forward under autocast: bfloat16|float16."),
    tf32: bool = typer.Option(False, "--tf32", help="Allow TF32 on CUDA."),
    fmt: VerifyFormat = typer.Option(VerifyFormat.text, "--format", help="Output format."),
    no_color: bool = NO_COLOR,
    config: Optional[Path] = CONFIG,
) -> None:
    """Prove a committed rewrite changed no numbers: each changed model, from --base and from the working tree.

    Without --train/--dtype/--autocast/--tf32, the modes of [tool.torchfix.verify] (default: eval
    float32, train float32, eval bfloat16); with any of them, that one mode.
    """
    from torchfix.verify.commands import run_verify
    from torchfix.verify.modes import flag_mode

    out, err = _consoles(no_color)
    try:
        mode = flag_mode(train, dtype, autocast, tf32)
    except ValueError as error:
        err.print(f"torchfix verify: {error}", markup=False)
        raise typer.Exit(2) from None
    code = run_verify(
        list(paths or [Path(".")]), base=base, factory=factory, device=device, rtol=rtol, atol=atol,
        timeout=timeout, mode=mode, fmt=fmt.value, config_file=config, out=out, err=err,
    )
    raise typer.Exit(code)


@app.command()
def rules(
    fmt: RulesFormat = typer.Option(RulesFormat.table, "--format", help="table, or markdown (the README's)."),
) -> None:
    """List every rule with its idiom and fix safety."""
    from rich.table import Table

    from torchfix.docs import rules_table_markdown
    from torchfix.rules import all_rules

    if fmt is RulesFormat.markdown:
        sys.stdout.write(rules_table_markdown())
        return
    table = Table("Code", "Slug", "Idiom", "Fix safety", "Summary", title="torchfix rules")
    for rule in all_rules():
        table.add_row(rule.CODE, rule.SLUG, rule.IDIOM, rule.FIX_SAFETY, rule.SUMMARY)
    _consoles(False)[0].print(table)


@app.command()
def explain(code: str = typer.Argument(..., help="A rule code (TF007) or slug (f-normalize).")) -> None:
    """Show a rule's documentation with its before/after examples."""
    from rich.markdown import Markdown

    from torchfix.docs import explain_markdown
    from torchfix.rules import rule_by_key

    rule = rule_by_key(code)
    if rule is None:
        _consoles(False)[1].print(f"torchfix: unknown rule {code!r} (see `torchfix rules`)", markup=False)
        raise typer.Exit(2)
    out = _consoles(False)[0]
    out.width = min(out.width, 100)  # prose reads best at a moderate width
    out.print(Markdown(explain_markdown(rule), code_theme="ansi_dark"))


@app.command()
def clean(paths: Optional[List[Path]] = PATHS, config: Optional[Path] = CONFIG) -> None:
    """Remove the project's .torchfix_cache/."""
    from torchfix.cache import CACHE_DIR, cache_root
    from torchfix.cache import clean as remove_cache

    _, err = _consoles(False)
    paths, settings = _settings(paths, config, [], [], None, err)
    root = cache_root(settings.config_file, paths)
    removed = remove_cache(root)
    typer.echo(f"Removed {root / CACHE_DIR}" if removed else f"No cache at {root / CACHE_DIR}")


def main() -> None:
    app()
