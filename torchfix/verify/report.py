"""The verification report: a Rich table for people, JSON for machines."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from torchfix.verify.checks import ModuleReport, SiteCheck
from torchfix.verify.modes import ModeRow, speedup_text
from torchfix.verify.outcomes import (
    DIFFERS,
    EXIT_UNVERIFIED,
    UNVERIFIED,
    VERIFIED,
    FileOutcome,
    counts,
    exit_code,
)

_STYLES = {
    "equal": "green",
    "differs": "bold red",
    "skipped": "yellow",
    "bug": "bold red",
    "passed": "green",
    "failed": "bold red",
    "verified": "green",
    "unverified": "yellow",
}


@dataclass
class Round:
    """One module check and what it was run on."""

    title: str
    report: ModuleReport


@dataclass
class VerifyReport:
    """Everything a verification found, and each changed file's and fix's outcome."""

    sites: list[SiteCheck] = field(default_factory=list)
    site_device: str = ""
    rounds: list[Round] = field(default_factory=list)
    #: what ``apply --verify`` did not write, one line each
    dropped: list[str] = field(default_factory=list)
    files: list[FileOutcome] = field(default_factory=list)
    #: unsafe fixes ``apply --verify`` did not write because no check covered them
    withheld: list[str] = field(default_factory=list)
    #: unverified changes are accepted (exit 0, not 3); ``apply --verify`` writes them
    allow_unverified: bool = False

    @property
    def bugs(self) -> list[str]:
        return [m.name for r in self.rounds for m in r.report.models if m.status == "bug"]

    @property
    def failed(self) -> bool:
        return any(s.status == "failed" for s in self.sites) or any(
            m.status == "differs" for r in self.rounds for m in r.report.models
        )

    @property
    def status(self) -> str:
        if self.failed or any(f.state == DIFFERS for f in self.files):
            return DIFFERS
        unverified = any(f.state == UNVERIFIED for f in self.files) or bool(self.withheld)
        return UNVERIFIED if unverified else VERIFIED

    @property
    def exit_code(self) -> int:
        """0 verified, 1 something differs, 2 a torchfix bug, 3 something unverified (0 if allowed)."""
        if self.bugs:
            return 2
        if self.failed:
            return 1
        if self.withheld and not self.allow_unverified:
            return EXIT_UNVERIFIED
        return exit_code(self.files, self.allow_unverified)

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "counts": counts(self.files),
            "files": [f.as_dict() for f in self.files],
            "sites": {"device": self.site_device, "checks": [s.as_dict() for s in self.sites]},
            "rounds": [
                {
                    "title": r.title,
                    "device": r.report.device,
                    "torch": r.report.torch,
                    "models": [m.as_dict(r.report.device) for m in r.report.models],
                    "covered": r.report.covered,
                }
                for r in self.rounds
            ],
            "dropped": self.dropped,
            "withheld": self.withheld,
        }


def _error(value: float | None) -> str:
    if value is None:
        return "-"
    return "0" if value == 0 else f"{value:.2e}"


def _peak(row: ModeRow) -> str:
    """Both sides' peak memory in MiB (CUDA: allocated; CPU: the process's resident set)."""
    peaks = [t.peak_bytes if t else None for t in (row.before, row.after)]
    if None in peaks:
        return "-"
    return "/".join(f"{peak / 2**20:.0f}" for peak in peaks)


def table(report: ModuleReport, title: str) -> Table:
    """One row per model and mode; times are medians (fastest-slowest) in milliseconds."""
    grid = Table(title=f"{title} (on {report.device})", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    # a narrow terminal folds the module names; the numbers never wrap
    grid.add_column("Module", overflow="fold", min_width=12)
    headers = ("Mode", "Status", "Max abs", "Max rel", "Floor", "Before ms", "After ms", "Speedup", "Peak MiB")
    for header in headers:
        grid.add_column(header, justify="left" if header in ("Mode", "Status") else "right", no_wrap=True)
    for model in report.models:
        rows = model.modes or [ModeRow("-", model.status)]
        for row in rows:
            grid.add_row(
                model.name,
                row.mode,
                Text(row.status, style=_STYLES[row.status]),
                _error(row.max_abs),
                _error(row.max_rel),
                _error(row.floor),
                str(row.before) if row.before else "-",
                str(row.after) if row.after else "-",
                speedup_text(row.before, row.after),
                _peak(row),
            )
    return grid


def _details(console: Console, report: ModuleReport) -> None:
    for model in report.models:
        if model.reason:
            console.print(Text.assemble((model.name, "bold"), f" {model.status}: ", model.reason))
        if model.hint:
            console.print(Text.assemble("  to check it, add to [tool.torchfix.verify]: ", (model.hint, "cyan")))
        for note in model.notes:
            console.print(Text.assemble((model.name, "bold"), " note: ", note))
    if report.covered:
        console.print(f"Checked inside the models above: {', '.join(report.covered)}", markup=False)


def _sites(console: Console, sites: Sequence[SiteCheck], device: str) -> None:
    if not sites:
        return
    counts = {status: sum(1 for s in sites if s.status == status) for status in ("passed", "failed", "skipped")}
    worst = max((s.max_rel for s in sites), default=0.0)
    console.print(
        f"Site checks on {device}: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped (max rel err {_error(worst)})",
        markup=False,
    )
    for site in sites:
        if site.status == "failed":
            console.print(
                Text.assemble(
                    ("torchfix bug: ", "bold red"),
                    f"{site.code} fix `{site.before}` -> `{site.after}` failed its site check ",
                    f"({site.problem}); not written in {', '.join(site.files)} (please report it)",
                )
            )
        elif site.status == "skipped":
            console.print(f"{site.code} site `{site.before}` not site-checked: {site.problem}", markup=False)


def render(console: Console, report: VerifyReport) -> None:
    """The human report: site-check summary, one table per module check, then details."""
    _sites(console, report.sites, report.site_device)
    for check in report.rounds:
        if check.report.models:
            console.print(table(check.report, check.title))
        _details(console, check.report)
    for line in report.dropped:
        console.print(Text.assemble(("not written: ", "bold red"), line))
    for line in report.withheld:
        console.print(Text.assemble(("not written (unverified; --allow-unverified writes it): ", "yellow"), line))
    _outcomes(console, report)


def _outcomes(console: Console, report: VerifyReport) -> None:
    """Each fix that is not verified, with why; then the summary line counting the three states."""
    for outcome in report.files:
        for unit in outcome.units:
            if unit.state != VERIFIED:
                console.print(
                    Text.assemble((f"{outcome.path}: {unit.what} ", "bold"), (unit.state, _STYLES[unit.state]),
                                  f": {unit.reason}")
                )
    tally = counts(report.files)
    files, fixes = tally["files"], tally["fixes"]
    console.print(
        Text.assemble(
            ("Outcome: ", "bold"),
            (report.status, _STYLES[report.status]),
            f" - files: {files[VERIFIED]} verified, {files[DIFFERS]} differ, {files[UNVERIFIED]} unverified; "
            f"fixes: {fixes[VERIFIED]} verified, {fixes[DIFFERS]} differ, {fixes[UNVERIFIED]} unverified",
            f"; {len(report.withheld)} unsafe fix{'es' if len(report.withheld) > 1 else ''} not written (unverified)"
            if report.withheld
            else "",
            " (unverified accepted by --allow-unverified)" if report.allow_unverified and files[UNVERIFIED] else "",
        )
    )
    for name in report.bugs:
        console.print(Text.assemble(("torchfix bug", "bold red"), f" while checking {name} (please report it)"))


def _strict(value):
    """Non-finite floats as strings: strict JSON has no NaN or Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict(item) for item in value]
    return value


def render_json(report: VerifyReport) -> str:
    return json.dumps(_strict(report.as_dict()), indent=2, allow_nan=False)
