"""The verifier's entry points: ``torchfix verify`` and ``torchfix apply --verify``.

Neither imports torch: every check runs in a worker subprocess (see
:mod:`torchfix.verify.checks`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import libcst as cst
from rich.console import Console

from torchfix.config import ConfigError, Settings, load_settings
from torchfix.engine import AppliedFix, Finding, FixOutcome, RunOptions, fix_text
from torchfix.names import ImportRequest
from torchfix.results import FileReport
from torchfix.rule import Applicability, Fix
from torchfix.runner import Job, Mode, process_file, relative_to_root, run
from torchfix.sourcefile import SourceError, read_source, write_source
from torchfix.verify.checks import CheckOptions, SiteCheck, Verification, VerifyError
from torchfix.verify.config import ModelSpec, VerifyConfig, parse_verify_config, target
from torchfix.verify.config import device as valid_device
from torchfix.verify.gitbase import revision_sources
from torchfix.verify.modes import Mode as CheckMode
from torchfix.verify.outcomes import (
    UNVERIFIED,
    FileOutcome,
    ModelRun,
    Unit,
    changed_lines,
    judge,
    scope_at,
    scope_table,
)
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


def _shown(path: Path | str) -> str:
    """``path`` relative to the current folder when it is below it."""
    try:
        return Path(path).resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _parse_options(paths, config_file, factory, check_options_args):
    """Settings, the verify table, the check options and the models: a bad value is a ValueError."""
    settings = load_settings(paths, config_file)
    config = parse_verify_config(settings.verify)
    options = check_options(config, *check_options_args)
    models = (ModelSpec(factory=target(factory, "--factory")),) if factory else config.models
    return settings, options, models


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
    allow_unverified: bool = False,
    out: Console | None = None,
    err: Console | None = None,
) -> int:
    """``torchfix verify``: compare the models of ``paths`` as of ``base`` with the working tree,
    and check the site of each fix that leads from ``base`` to the working tree.

    Returns the exit code: 0 everything changed verified, 1 something differs, 2 verification
    could not run (or a torchfix bug), 3 nothing differs but something is unverified
    (0 with ``allow_unverified``).
    """
    out = out or Console(highlight=False, soft_wrap=True)
    err = err or Console(stderr=True, highlight=False, soft_wrap=True)
    paths = list(paths) or [Path(".")]
    try:
        settings, options, models = _parse_options(
            paths, config_file, factory, check_options_args=(device, rtol, atol, timeout, mode, resume_steps)
        )
    except (ConfigError, ValueError) as error:
        err.print(f"torchfix verify: {error}", markup=False)
        return 2
    report = VerifyReport(allow_unverified=allow_unverified)
    try:
        before = revision_sources(paths, base)
        project = Project(settings.root)
        candidates = [] if factory else project.candidates(before)
        reports, others = base_fixes(before, settings)
        report.sites = collect_sites(reports)
        if models or candidates or report.sites:
            with Verification(settings.root, options) as verification:
                details = {target: project.entry_details(target) for target in candidates}
                verification.run_original(
                    before, models, candidates, report.sites, list(before), details, project.examples()
                )
                report.site_device = verification.device
                result = verification.compare({})
            if result.models:
                report.rounds.append(Round(f"torchfix verify: {base} -> working tree", result))
        report.files = file_outcomes(project, reports, report.sites, report.rounds, others)
    except VerifyError as error:
        err.print(f"torchfix verify: {error}", markup=False)
        return 2
    if fmt == "json":
        print(render_json(report), file=out.file)
    elif report.files:
        render(out, report)
    else:
        err.print(f"Nothing to verify: no Python file differs from {base}.", markup=False)
    return report.exit_code


def _changed_with(original: str, options: RunOptions, expected: str) -> FixOutcome | None:
    """The rules' fixes of ``original`` if they turn it into ``expected`` exactly."""
    try:
        outcome = fix_text(original, options)
    except (cst.ParserSyntaxError, RecursionError):
        return None
    return outcome if outcome.text == expected else None


def base_fixes(before: Mapping[Path, str], settings: Settings) -> tuple[list[FileReport], dict[str, list[int]]]:
    """The fixes that lead from each file's ``before`` text to its working-tree text: the rules
    run on the base, with the configured fixes, then with every unsafe fix. A file they do not
    reproduce exactly gets no fixes but its changed lines (under ``others``): its edits are
    verified only by module checks."""
    reports, others = [], {}
    for path, original in sorted(before.items()):
        try:
            current = read_source(path, settings.max_file_size).text
        except SourceError:
            continue
        options = settings.options_for(relative_to_root(path, settings.root))
        every_fix = replace(options, unsafe_codes=frozenset(rule.CODE for rule in options.rules))
        outcome = _changed_with(original, options, current) or _changed_with(original, every_fix, current)
        applied = [fix.portable() for fix in outcome.applied] if outcome else []
        reports.append(FileReport(path.as_posix(), fixed=applied, original=original, source=current, changed=True))
        if outcome is None:
            others[path.as_posix()] = changed_lines(original, current)
    return reports, others


def file_outcomes(
    project: Project,
    reports: Sequence[FileReport],
    sites: Sequence[SiteCheck],
    rounds: Sequence[Round],
    others: Mapping[str, list[int]] | None = None,
) -> list[FileOutcome]:
    """Each changed file's fixes, judged by their site checks and the last module check."""
    site_status = {}
    for site in sites:
        for path in site.files:
            site_status[(path, site.code, site.before, site.after)] = site.status
    files = []
    for report in reports:
        if not report.changed:
            continue
        table = scope_table(report.original or "")
        outcome = FileOutcome(_shown(report.path))
        for applied in report.fixed:
            finding, site = applied.finding, applied.fix.site
            outcome.units.append(
                Unit(
                    outcome.path,
                    f"{finding.code} at line {finding.line}",
                    applied.fix.applicability is Applicability.UNSAFE,
                    (scope_at(table, finding.line),),
                    site_status.get((report.path, finding.code, site.before, site.after)) if site else None,
                    code=finding.code,
                    line=finding.line,
                )
            )
        lines = (others or {}).get(report.path)
        if lines:
            scopes = tuple(sorted({scope_at(table, line) for line in lines}))
            shown = ", ".join(map(str, lines[:5])) + (", ..." if len(lines) > 5 else "")
            outcome.units.append(Unit(outcome.path, f"edits torchfix did not make (lines {shown})", True, scopes))
        files.append(outcome)
    models = rounds[-1].report.models if rounds else []
    runs = [
        ModelRun(m.name, m.status, m.ran, [str(p) for p in project.files(project.closure(m.module))])
        for m in models
        if m.status in ("equal", "differs")
    ]
    judge(files, runs, [m.name for m in models if m.status == "skipped"])
    return files


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
    """Which fixes a file may keep: level 0 all that passed their site check, 1 safe ones, 2 none;
    and never an unsafe fix in a scope no check covered (``unverified``: path -> (code, scope))."""

    failed_sites: set[tuple[str, str, str]] = field(default_factory=set)
    levels: dict[str, int] = field(default_factory=dict)
    unverified: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def accept(self, path: str) -> Callable[..., bool]:
        """The veto callback for one file (the runner's ``accept``)."""
        level = self.levels.get(path, 0)
        refused = self.unverified.get(path, set())

        def accept(finding: Finding, fix: Fix, preview=None) -> bool:
            unsafe = fix.applicability is Applicability.UNSAFE
            if level >= 2 or (level == 1 and unsafe):
                return False
            if unsafe and refused and preview is not None:
                scope = scope_at(scope_table(preview()[0]), finding.line)
                if (finding.code, scope) in refused:
                    return False
            site = fix.site
            return site is None or (finding.code, site.before, site.after) not in self.failed_sites

        return accept


def _describe(fixes: Sequence[AppliedFix]) -> str:
    return ", ".join(f"{a.finding.code} at line {a.finding.line}" for a in fixes)


def _drop_unverified(state: "_ApplyRun") -> None:
    """Refix each file without its unverified unsafe fixes, listing them as not written."""
    for outcome in state.result.files:
        units = [unit for unit in outcome.units if unit.unsafe and unit.state == UNVERIFIED and unit.code]
        if not units:
            continue
        path = next(p for p in state.reports if _shown(p) == outcome.path)
        state.policy.unverified[path] = {(unit.code, unit.scopes[0]) for unit in units}
        for unit in units:
            state.result.withheld.append(f"{outcome.path}: {unit.what} ({unit.reason})")
        state.refix(path)


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

    def __init__(
        self, paths: Sequence[Path], settings: Settings, job: Job, config: VerifyConfig, allow_unverified: bool
    ) -> None:
        self.settings = settings
        self.job = job
        self.config = config
        self.policy = _Policy()
        self.project = Project(settings.root)
        self.reports = {report.path: report for report in run(paths, job)}
        self.result = VerifyReport(allow_unverified=allow_unverified)

    def refix(self, path: str) -> None:
        self.reports[path] = process_file(Path(path), self.job, self.policy.accept)

    def changed(self) -> dict[str, FileReport]:
        return {path: report for path, report in self.reports.items() if report.changed}

    def verify(self, options: CheckOptions) -> None:
        self.result.sites = collect_sites(list(self.reports.values()))
        changed = [Path(path) for path in self.changed()]
        candidates = self.project.candidates(changed)
        with Verification(self.settings.root, options) as check:
            details = {target: self.project.entry_details(target) for target in candidates}
            check.run_original(
                {}, self.config.models, candidates, self.result.sites, changed, details, self.project.examples()
            )
            self.result.site_device = check.device
            failed = [site for site in self.result.sites if site.status == "failed"]
            self.policy.failed_sites.update(site.key for site in failed)
            for path in sorted({path for site in failed for path in site.files}):
                self.refix(path)
            for attempt in range(_MAX_ROUNDS):
                if not self._module_round(check, last=attempt == _MAX_ROUNDS - 1):
                    break
        self.judge()
        if not self.result.allow_unverified:
            _drop_unverified(self)
            self.judge()

    def judge(self) -> None:
        """Each written fix's outcome, from the site checks and the last module check."""
        reports = list(self.reports.values())
        self.result.files = file_outcomes(self.project, reports, self.result.sites, self.result.rounds)

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
    allow_unverified: bool = False,
    console: Console | None = None,
) -> tuple[list[FileReport], int]:
    """``torchfix apply --verify``: fix, verify, and write only what passed (``write=False``: a dry run).

    Fixes whose site check fails are refused (a torchfix bug naming the rule and
    the site). When a model differs, the changed files it imports lose their
    unsafe fixes and are checked again; a file that still differs, or had only
    safe fixes, is not written at all. An unsafe fix that no passing check
    covers is not written either, unless ``allow_unverified``. Returns the file
    reports (as the apply reporters expect them) and the verification's exit
    code (1: something differed or a site failed; 3: something unverified was
    left out or written; raises VerifyError when verification cannot run).
    """
    console = console or Console(highlight=False, soft_wrap=True)
    try:
        config = parse_verify_config(settings.verify)
        options = check_options(config, device, rtol, atol, timeout)
    except ValueError as error:
        raise VerifyError(str(error)) from None
    job = replace(job, mode=Mode.DIFF, notebooks=False) if job is not None else Job(Mode.DIFF, settings, notebooks=False)
    state = _ApplyRun(paths, settings, job, config, allow_unverified)
    state.verify(options)
    if write:
        for report in state.changed().values():
            _write(report, settings)
    render(console, state.result)
    return sorted(state.reports.values(), key=lambda r: r.path), state.result.exit_code
