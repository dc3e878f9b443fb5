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

_STYLES = {"equal": "green", "differs": "bold red", "skipped": "yellow", "passed": "green", "failed": "bold red"}


@dataclass
class Round:
    """One module check and what it was run on."""

    title: str
    report: ModuleReport


@dataclass
class VerifyReport:
    """Everything a verification found; ``exit_code`` is 1 when anything differs."""

    sites: list[SiteCheck] = field(default_factory=list)
    site_device: str = ""
    rounds: list[Round] = field(default_factory=list)
    #: what ``apply --verify`` did not write, one line each
    dropped: list[str] = field(default_factory=list)
    #: changed files no module check imported (their expression fixes may still be site-checked)
    unchecked: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(s.status == "failed" for s in self.sites) or any(
            m.status == "differs" for r in self.rounds for m in r.report.models
        )

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def as_dict(self) -> dict:
        return {
            "status": "differs" if self.failed else "equal",
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
            "unchecked": self.unchecked,
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
    if report.unchecked:
        console.print(
            f"Not module-checked (no checked model imports them): "
            f"{', '.join(report.unchecked)}",
            markup=False,
        )


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
