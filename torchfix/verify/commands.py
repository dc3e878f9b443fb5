"""The verifier's entry points: ``torchfix verify`` and ``torchfix apply --verify``.

Neither imports torch: every check runs in a worker subprocess (see
:mod:`torchfix.verify.checks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from rich.console import Console

from torchfix.config import ConfigError, Settings, load_settings
from torchfix.engine import AppliedFix, Finding
from torchfix.names import ImportRequest
from torchfix.results import FileReport
from torchfix.rule import Applicability, Fix
from torchfix.runner import Job, Mode, process_file, run
from torchfix.sourcefile import SourceError, read_source, write_source
from torchfix.verify.checks import CheckOptions, ModuleReport, SiteCheck, Verification, VerifyError
from torchfix.verify.config import ModelSpec, VerifyConfig, device as valid_device, parse_verify_config, target
from torchfix.verify.gitbase import revision_sources
from torchfix.verify.modes import Mode as CheckMode
from torchfix.verify.project import Project
from torchfix.verify.report import Round, VerifyReport, render, render_json

#: module-check rounds of ``apply --verify``: as asked, without unsafe fixes, without any fix
_MAX_ROUNDS = 3


def check_options(
    config: VerifyConfig,
    device: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    timeout: float | None = None,
    mode: CheckMode | None = None,
    resume_steps: int = 0,
) -> CheckOptions:
    """Flags override ``[tool.torchfix.verify]``; a mode from the flags replaces the configured modes."""
    if resume_steps < 0:
        raise ValueError(f"--resume-steps must be zero or positive, got {resume_steps}")
    return CheckOptions(
        device=valid_device(device, "--device") if device is not None else config.device,
        rtol=config.rtol if rtol is None else rtol,
        atol=config.atol if atol is None else atol,
        timeout=config.timeout if timeout is None else timeout,
        modes=(mode,) if mode is not None else config.modes,
        resume_steps=resume_steps,
        optimizer=config.optimizer,
    )


def _unchecked(project: Project, changed: Sequence[Path], report: ModuleReport) -> list[str]:
    """Changed files that no checked model imports."""
    reached = set()
    for model in report.models:
        if model.status != "skipped":
            reached |= project.files(project.closure(model.module))
    return sorted(_shown(path) for path in changed if path.resolve() not in reached)


def _shown(path: Path) -> str:
    """``path`` relative to the current folder when it is below it."""
    try:
        return path.resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def run_verify(
    paths: Sequence[Path],
    *,
    base: str = "HEAD",
    factory: str | None = None,
    device: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    timeout: float | None = None,
    mode: CheckMode | None = None,
    resume_steps: int = 0,
    fmt: str = "text",
    config_file: Path | None = None,
    out: Console | None = None,
    err: Console | None = None,
) -> int:
    """``torchfix verify``: compare the models of ``paths`` as of ``base`` with the working tree.

    Returns the exit code: 0 all equal, 1 something differs, 2 verification could not run.
    """
    out = out or Console(highlight=False, soft_wrap=True)
    err = err or Console(stderr=True, highlight=False, soft_wrap=True)
    paths = list(paths) or [Path(".")]
    try:
        settings = load_settings(paths, config_file)
        config = parse_verify_config(settings.verify)
        options = check_options(config, device, rtol, atol, timeout, mode, resume_steps)
        models = (ModelSpec(factory=target(factory, "--factory")),) if factory else config.models
        before = revision_sources(paths, base)
        project = Project(settings.root)
        candidates = [] if factory else project.candidates(before)
        report = VerifyReport()
        if models or candidates:
            with Verification(settings.root, options) as verification:
                verification.run_original(before, models, candidates)
                result = verification.compare({})
            report.rounds.append(Round(f"torchfix verify: {base} -> working tree", result))
            report.unchecked = [] if factory else _unchecked(project, list(before), result)
    except (ConfigError, ValueError, VerifyError) as error:
        err.print(f"torchfix verify: {error}", markup=False)
        return 2
    if fmt == "json":
        print(render_json(report), file=out.file)
    elif report.rounds:
        render(out, report)
    else:
        err.print(f"Nothing to verify: no model in a Python file that differs from {base}.", markup=False)
    return report.exit_code


# --- apply --verify ----------------------------------------------------------------------------


def _bound(request: ImportRequest) -> str:
    """The qualified name the import binds to ``request.bound_name``."""
    if request.name is not None:
        return f"{request.module}.{request.name}"
    return request.module if request.asname else request.module.split(".")[0]


def collect_sites(reports: Sequence[FileReport]) -> list[SiteCheck]:
    """The distinct sites of every applied fix, in file order."""
    sites: dict[tuple, SiteCheck] = {}
    for report in reports:
        for applied in report.fixed:
            site = applied.fix.site
            if site is None:
                continue
            names = {**applied.aliases, **{r.bound_name: _bound(r) for r in applied.fix.imports}}
            key = (
                applied.finding.code,
                site.before,
                site.after,
                tuple(sorted(site.inputs.items())),
                site.edge_values,
                tuple(sorted(names.items())),
            )
            check = sites.setdefault(
                key,
                SiteCheck(applied.finding.code, site.before, site.after, dict(site.inputs), site.edge_values, names),
            )
            if report.path not in check.files:
                check.files.append(report.path)
    return list(sites.values())


@dataclass
class _Policy:
    """Which fixes a file may keep: level 0 all that passed their site check, 1 safe ones, 2 none."""

    failed_sites: set[tuple[str, str, str]] = field(default_factory=set)
    levels: dict[str, int] = field(default_factory=dict)

    def accept(self, path: str) -> Callable[..., bool]:
        """The veto callback for one file (the runner's ``accept``)."""
        level = self.levels.get(path, 0)

        def accept(finding: Finding, fix: Fix, preview=None) -> bool:
            if level >= 2 or (level == 1 and fix.applicability is Applicability.UNSAFE):
                return False
            site = fix.site
            return site is None or (finding.code, site.before, site.after) not in self.failed_sites

        return accept


def _describe(fixes: Sequence[AppliedFix]) -> str:
    return ", ".join(f"{a.finding.code} at line {a.finding.line}" for a in fixes)


def _blamed(project: Project, model_module: str, changed: Sequence[str]) -> list[str]:
    reached = project.files(project.closure(model_module))
    blamed = [path for path in changed if Path(path).resolve() in reached]
    return blamed or list(changed)


def _write(report: FileReport, settings: Settings) -> None:
    try:
        source = read_source(Path(report.path), settings.max_file_size)
        if source.text != report.original:
            raise SourceError("not written: the file changed on disk since it was read")
        write_source(source, report.source or "")
    except SourceError as error:
        report.error = str(error)
        report.changed = False


class _ApplyRun:
    """The state of one ``apply --verify``: each file's report and the fixes it may keep."""

    def __init__(self, paths: Sequence[Path], settings: Settings, job: Job, config: VerifyConfig) -> None:
        self.settings = settings
        self.job = job
        self.config = config
        self.policy = _Policy()
        self.project = Project(settings.root)
        self.reports = {report.path: report for report in run(paths, job)}
        self.result = VerifyReport()

    def refix(self, path: str) -> None:
        self.reports[path] = process_file(Path(path), self.job, self.policy.accept)

    def changed(self) -> dict[str, FileReport]:
        return {path: report for path, report in self.reports.items() if report.changed}

    def verify(self, options: CheckOptions) -> None:
        self.result.sites = collect_sites(list(self.reports.values()))
        candidates = self.project.candidates([Path(path) for path in self.changed()])
        with Verification(self.settings.root, options) as check:
            check.run_original({}, self.config.models, candidates, self.result.sites)
            self.result.site_device = check.device
            failed = [site for site in self.result.sites if site.status == "failed"]
            self.policy.failed_sites.update(site.key for site in failed)
            for path in sorted({path for site in failed for path in site.files}):
                self.refix(path)
            for attempt in range(_MAX_ROUNDS):
                if not self._module_round(check, last=attempt == _MAX_ROUNDS - 1):
                    break

    def _module_round(self, check: Verification, last: bool) -> bool:
        """Compare the current rewrite; drop the fixes a differing model blames. True: check again."""
        changed = self.changed()
        if not changed:
            return False
        result = check.compare({Path(path): report.source or "" for path, report in changed.items()})
        first = not self.result.rounds
        self.result.rounds.append(
            Round("Module check" if first else "Module check again, after dropping the fixes below", result)
        )
        differing = [model for model in result.models if model.status == "differs"]
        if not differing:
            self.result.unchecked = _unchecked(self.project, [Path(p) for p in changed], result)
            return False
        blamed: dict[str, list[str]] = {}
        for model in differing:
            for path in _blamed(self.project, model.module, list(changed)):
                blamed.setdefault(path, []).append(model.name)
        for path in sorted(blamed):
            names = ", ".join(blamed[path])
            fixed = changed[path].fixed
            unsafe = [a for a in fixed if a.fix.applicability is Applicability.UNSAFE]
            # only safe fixes left to try, or no round left to check them: nothing unverified is written
            if self.policy.levels.get(path, 0) == 0 and unsafe and len(unsafe) < len(fixed) and not last:
                self.policy.levels[path] = 1
                self.result.dropped.append(f"{path}: unsafe fixes {_describe(unsafe)} ({names} differs)")
            else:
                self.policy.levels[path] = 2
                self.result.dropped.append(f"{path}: every fix, {_describe(fixed)} ({names} differs)")
            self.refix(path)
        return True


def verify_apply(
    paths: Sequence[Path],
    settings: Settings,
    *,
    job: Job | None = None,
    write: bool = True,
    device: str | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    timeout: float | None = None,
    console: Console | None = None,
) -> tuple[list[FileReport], int]:
    """``torchfix apply --verify``: fix, verify, and write only what passed (``write=False``: a dry run).

    Fixes whose site check fails are refused (a torchfix bug naming the rule and
    the site). When a model differs, the changed files it imports lose their
    unsafe fixes and are checked again; a file that still differs, or had only
    safe fixes, is not written at all. Returns the file reports (as the apply
    reporters expect them) and the verification's exit code (1: something
    differed or a site failed; raises VerifyError when verification cannot run).
    """
    console = console or Console(highlight=False, soft_wrap=True)
    try:
        config = parse_verify_config(settings.verify)
        options = check_options(config, device, rtol, atol, timeout)
    except ValueError as error:
        raise VerifyError(str(error)) from None
    job = replace(job, mode=Mode.DIFF, notebooks=False) if job is not None else Job(Mode.DIFF, settings, notebooks=False)
    state = _ApplyRun(paths, settings, job, config)
    state.verify(options)
    if write:
        for report in state.changed().values():
            _write(report, settings)
    render(console, state.result)
    return sorted(state.reports.values(), key=lambda r: r.path), state.result.exit_code
