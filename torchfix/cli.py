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
from typing import TYPE_CHECKING, List, Optional

import typer

from torchfix import __version__

# Startup is paid on every pre-commit run and editor save: what a command needs
# is imported inside it (`--version` loads typer alone), and the runner imports
# LibCST and the rules only for a file that needs a tree. tests/test_startup.py
# holds `--version` and a cached `check` to never importing LibCST.
if TYPE_CHECKING:
    from rich.console import Console

    from torchfix.config import Settings

class _Command(typer.core.TyperCommand):
    """A command whose help names its arguments by their metavar alone (``PATHS``, not
    ``PATHS <list[Path]>``)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, typer.core.TyperArgument):
                param.display_type_rich = lambda ctx: None


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
    json = "json"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"torchfix {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """torchfix: modernise a PyTorch repository, safely."""


PATHS = typer.Argument(
    None, metavar="PATHS", help="Files and folders to process (default: the current folder; - reads stdin)."
)
SELECT = typer.Option(
    [], "--select", metavar="CODES", help="Only these rules: codes, slugs or prefixes (TF00, TF, ALL), comma-separated."
)
EXTEND_SELECT = typer.Option([], "--extend-select", metavar="CODES", help="Add these rules to the selection.")
IGNORE = typer.Option([], "--ignore", metavar="CODES", help="Skip these rules (added to the config's `ignore`).")
EXTEND_IGNORE = typer.Option([], "--extend-ignore", metavar="CODES", help="Skip these rules too (as --ignore).")
FORMAT = typer.Option(Format.text, "--format", "--output-format", help="Output format.")
UNSAFE = typer.Option(None, "--unsafe-fixes/--no-unsafe-fixes", help="Also apply (or count as fixable) unsafe fixes.")
STATISTICS = typer.Option(False, "--statistics", help="Show the count per rule (with -q: only that table).")
QUIET = typer.Option(False, "--quiet", "-q", help="Print findings only, no summary.")
NO_COLOR = typer.Option(False, "--no-color", help="Plain output without colours.")
CONFIG = typer.Option(None, "--config", metavar="PATH", help="The pyproject.toml to read instead of the nearest one.")
NO_CACHE = typer.Option(False, "--no-cache", help="Neither read nor write .torchfix_cache/.")
FORCE_EXCLUDE = typer.Option(
    False, "--force-exclude", help="Apply `exclude` to files named on the command line too (for pre-commit)."
)
JOBS = typer.Option(None, "--jobs", "-j", min=1, help="Worker processes (default: one per CPU).")
ALLOW_UNVERIFIED = typer.Option(
    False,
    "--allow-unverified",
    help="Accept changes no check covered: exit 0 instead of 3; apply --verify writes their unsafe fixes.",
)


DEVICE = typer.Option(
    None, "--device", help="Where verification runs: auto (CUDA, else MPS, else CPU), cpu, cuda or mps."
)
OUTPUT_FILE = typer.Option(None, "--output-file", "-o", metavar="PATH", help="Write the output to PATH, not stdout.")
SHOW_FIXES = typer.Option(False, "--show-fixes", help="List the fixes applied (or that would be), per file.")
SHOW_FILES = typer.Option(False, "--show-files", help="List the files that would be processed, and exit.")
SHOW_SETTINGS = typer.Option(False, "--show-settings", help="Print the resolved settings as JSON, and exit.")
VERBOSE = typer.Option(False, "--verbose", "-v", help="Also say which config, rules and cache the run used.")
STDIN_FILENAME = typer.Option(
    None, "--stdin-filename", metavar="PATH",
    help="With - as the path: the file stdin stands for (its config, excludes and per-file ignores; its name).",
)


def _consoles(no_color: bool) -> tuple[Console, Console]:
    """stdout and stderr consoles; piped output is not folded at 80 columns."""
    from torchfix.session import consoles

    return consoles(no_color)


def _settings(paths, config, err: Console) -> tuple[list[Path], Settings]:
    from torchfix.config import ConfigError, load_settings

    paths = list(paths or [Path(".")])
    try:
        settings = load_settings(paths, config)
    except ConfigError as error:
        err.print(f"torchfix: {error}", markup=False)
        raise typer.Exit(2) from None
    return paths, settings


@app.command(cls=_Command)
def check(
    paths: Optional[List[Path]] = PATHS,
    select: List[str] = SELECT,
    extend_select: List[str] = EXTEND_SELECT,
    ignore: List[str] = IGNORE,
    extend_ignore: List[str] = EXTEND_IGNORE,
    fmt: Format = FORMAT,
    unsafe_fixes: Optional[bool] = UNSAFE,
    fix: bool = typer.Option(False, "--fix", help="Apply the fixes, as `torchfix apply` does."),
    show_fixes: bool = SHOW_FIXES,
    statistics: bool = STATISTICS,
    exit_zero: bool = typer.Option(False, "--exit-zero", help="Exit 0 even when findings remain."),
    show_unused_noqa: bool = typer.Option(
        False, "--show-unused-noqa", help="Also report suppression comments that suppress nothing (TF100)."
    ),
    quiet: bool = QUIET,
    verbose: bool = VERBOSE,
    no_color: bool = NO_COLOR,
    output_file: Optional[Path] = OUTPUT_FILE,
    config: Optional[Path] = CONFIG,
    no_cache: bool = NO_CACHE,
    jobs: Optional[int] = JOBS,
    force_exclude: bool = FORCE_EXCLUDE,
    stdin_filename: Optional[Path] = STDIN_FILENAME,
    show_files: bool = SHOW_FILES,
    show_settings: bool = SHOW_SETTINGS,
) -> None:
    """Report findings (the CI gate): exit 1 when any remain."""
    from torchfix.session import ApplyOptions, Flags, run_apply, run_check

    flags = Flags(
        list(paths or []), select, extend_select, ignore, extend_ignore, unsafe_fixes, fmt.value, statistics,
        quiet, no_color, config, no_cache, jobs, force_exclude, output_file, show_fixes, show_files,
        show_settings, verbose, stdin_filename,
    )
    if fix:
        raise typer.Exit(run_apply(flags, ApplyOptions()))
    raise typer.Exit(run_check(flags, exit_zero, show_unused_noqa))


@app.command(cls=_Command)
def apply(
    paths: Optional[List[Path]] = PATHS,
    select: List[str] = SELECT,
    extend_select: List[str] = EXTEND_SELECT,
    ignore: List[str] = IGNORE,
    extend_ignore: List[str] = EXTEND_IGNORE,
    unsafe_fixes: Optional[bool] = UNSAFE,
    dry_run: bool = typer.Option(False, "--dry-run", "--diff", help="Print a diff of every change; write nothing."),
    exit_non_zero_on_fix: bool = typer.Option(False, "--exit-non-zero-on-fix", help="Exit 1 when anything was fixed."),
    interactive: bool = typer.Option(
        False, "--interactive", "-i", help="Show each fix and ask: [y]es / [n]o / [a]ll remaining / [q]uit."
    ),
    fmt: Format = FORMAT,
    show_fixes: bool = SHOW_FIXES,
    statistics: bool = STATISTICS,
    quiet: bool = QUIET,
    verbose: bool = VERBOSE,
    no_color: bool = NO_COLOR,
    output_file: Optional[Path] = OUTPUT_FILE,
    config: Optional[Path] = CONFIG,
    no_cache: bool = NO_CACHE,
    jobs: Optional[int] = JOBS,
    force_exclude: bool = FORCE_EXCLUDE,
    stdin_filename: Optional[Path] = STDIN_FILENAME,
    show_files: bool = SHOW_FILES,
    show_settings: bool = SHOW_SETTINGS,
    verify: bool = typer.Option(
        False, "--verify", help="Check every fix numerically (in subprocesses, with torch) and write only what passed."
    ),
    device: Optional[str] = DEVICE,
    allow_unverified: bool = ALLOW_UNVERIFIED,
) -> None:
    """Write the fixes in place (safe ones; unsafe ones too with --unsafe-fixes); with -, print the fixed stdin."""
    from torchfix.session import ApplyOptions, Flags, run_apply

    flags = Flags(
        list(paths or []), select, extend_select, ignore, extend_ignore, unsafe_fixes, fmt.value, statistics,
        quiet, no_color, config, no_cache, jobs, force_exclude, output_file, show_fixes, show_files,
        show_settings, verbose, stdin_filename,
    )
    verifier = None
    if verify:
        def verifier(session, job):
            return _verify_apply(session, job, dry_run, interactive, device, allow_unverified)

    raise typer.Exit(run_apply(flags, ApplyOptions(dry_run, exit_non_zero_on_fix, interactive, verifier)))


def _verify_apply(session, job, dry_run, interactive, device, allow_unverified):
    """``apply --verify``: the verification's exit code and the reports of what it let through."""
    from torchfix.notebook import skipped_notebooks_note
    from torchfix.verify.checks import VerifyError
    from torchfix.verify.commands import verify_apply

    if interactive:
        session.fail("--verify and --interactive cannot be combined")
    if session.stdin:
        session.fail("--verify cannot check source read from stdin")
    note = skipped_notebooks_note(session.paths, session.settings)
    if note:
        session.err.print(note, markup=False)
    console = session.out if session.flags.fmt == "text" else session.err
    try:
        reports, code = verify_apply(
            session.paths, session.settings, job=job, write=not dry_run, device=device,
            allow_unverified=allow_unverified, console=console,
        )
    except VerifyError as error:
        session.fail(f"--verify: {error}")
    return code, reports


class VerifyFormat(str, Enum):
    text = "text"
    json = "json"


@app.command(cls=_Command)
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
    resume_steps: int = typer.Option(
        0, "--resume-steps", help="Train N steps, checkpoint, resume the rewrite from it, N more steps, compare."
    ),
    fmt: VerifyFormat = typer.Option(VerifyFormat.text, "--format", help="Output format."),
    no_color: bool = NO_COLOR,
    config: Optional[Path] = CONFIG,
    allow_unverified: bool = ALLOW_UNVERIFIED,
) -> None:
    """Prove a committed rewrite changed no numbers: each changed model, from --base and from the working tree.

    Without --train/--dtype/--autocast/--tf32, the modes of [tool.torchfix.verify] (default: eval
    float32, train float32, eval bfloat16); with any of them, that one mode.

    Exit codes: 0 every change verified, 1 something differs, 2 verification could not run,
    3 nothing differs but something is unverified (0 with --allow-unverified).
    """
    from torchfix.notebook import skipped_notebooks_note
    from torchfix.verify.commands import run_verify
    from torchfix.verify.modes import flag_mode

    out, err = _consoles(no_color)
    note = skipped_notebooks_note(*_settings(paths, config, err))
    if note:
        err.print(note, markup=False)
    try:
        mode = flag_mode(train, dtype, autocast, tf32)
    except ValueError as error:
        err.print(f"torchfix verify: {error}", markup=False)
        raise typer.Exit(2) from None
    code = run_verify(
        list(paths or [Path(".")]), base=base, factory=factory, device=device, rtol=rtol, atol=atol,
        timeout=timeout, mode=mode, resume_steps=resume_steps, fmt=fmt.value, config_file=config,
        allow_unverified=allow_unverified, out=out, err=err,
    )
    raise typer.Exit(code)


@app.command(cls=_Command)
def rules(
    fmt: RulesFormat = typer.Option(
        RulesFormat.table, "--format", help="table, markdown (the README's) or json (every field, the docs too)."
    ),
) -> None:
    """List every rule with its idiom and fix safety."""
    from rich.table import Table

    from torchfix.docs import rules_json, rules_table_markdown
    from torchfix.rules import all_rules

    if fmt is not RulesFormat.table:
        sys.stdout.write(rules_table_markdown() if fmt is RulesFormat.markdown else rules_json())
        return
    table = Table("Code", "Slug", "Idiom", "Fix safety", "Summary", title="torchfix rules")
    for rule in all_rules():
        table.add_row(rule.CODE, rule.SLUG, rule.IDIOM, rule.FIX_SAFETY, rule.SUMMARY)
    _consoles(False)[0].print(table)


@app.command(cls=_Command)
def explain(
    code: str = typer.Argument(..., metavar="CODE", help="A rule code (TF007) or slug (f-normalize)."),
) -> None:
    """Show a rule's documentation with its before/after examples."""
    from rich.markdown import Markdown

    from torchfix.docs import explain_markdown
    from torchfix.rules import rule_by_key

    rule = rule_by_key(code)
    if rule is None:
        _consoles(False)[1].print(f"torchfix: unknown rule {code!r} (see `torchfix rules`)", markup=False)
        raise typer.Exit(2)
    from rich.console import Console

    # Wrapped, never cut: at the terminal's width, or at 100 columns (COLUMNS if set) when piped.
    out = Console(highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out.width = 100
    out.print(Markdown(explain_markdown(rule), code_theme="ansi_dark"))


@app.command(cls=_Command)
def clean(paths: Optional[List[Path]] = PATHS, config: Optional[Path] = CONFIG) -> None:
    """Remove the project's .torchfix_cache/."""
    from torchfix.cache import CACHE_DIR, cache_root
    from torchfix.cache import clean as remove_cache

    _, err = _consoles(False)
    paths, settings = _settings(paths, config, err)
    root = cache_root(settings.config_file, paths)
    removed = remove_cache(root)
    typer.echo(f"Removed {root / CACHE_DIR}" if removed else f"No cache at {root / CACHE_DIR}")


def main() -> None:
    """The console script: the app, then an exit without the interpreter's teardown.

    Freeing every object one by one (LibCST's node and Typer's classes, the rules) took
    30 ms of a one-file check, paid on every pre-commit run. The exit handlers still run
    and the output is flushed first; only the freeing is skipped. Should flushing fail
    (a closed pipe), Python's own exit reports it as it always did.
    """
    try:
        app()
    except SystemExit as exit_:
        if not isinstance(exit_.code, (int, type(None))):
            raise  # a message to print: Python's exit prints it
        code = exit_.code or 0
    else:
        code = 0
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)
