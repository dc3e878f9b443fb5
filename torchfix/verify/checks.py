"""Running the checks in worker subprocesses and collecting their results (no torch here).

One subprocess checks every site of a run and builds every model from the
original sources; another builds them from the rewritten sources and compares
(once more per round, when ``apply --verify`` drops fixes). User code only ever
runs in those subprocesses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import torchfix
from torchfix.verify.config import DEFAULT_TIMEOUT, ModelSpec
from torchfix.verify.modes import DEFAULT_MODES, Mode, ModeRow

#: how much of a dead worker's stderr a message quotes
_STDERR_TAIL = 600


class VerifyError(Exception):
    """Verification cannot run at all (no torch, device unavailable, bad revision): exit 2."""


@dataclass(frozen=True)
class CheckOptions:
    device: str = "auto"
    rtol: float | None = None
    atol: float | None = None
    timeout: float = DEFAULT_TIMEOUT
    seed: int = 0
    modes: tuple[Mode, ...] = DEFAULT_MODES
    resume_steps: int = 0
    optimizer: str | None = None


@dataclass
class WorkerRun:
    """What a worker reported: its header (device, torch version), one line per item, and
    why it stopped early, if it did."""

    header: dict
    lines: dict[str, dict]
    failure: str | None = None


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    package_parent = str(Path(torchfix.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # deterministic cuBLAS needs a fixed workspace
    env.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return env


def call_worker(request: dict, options: CheckOptions, workdir: Path, cwd: Path, name: str) -> WorkerRun:
    """Run one worker subprocess on ``request``; raise VerifyError if it could not start checking."""
    request = {
        **request,
        "device": options.device,
        "rtol": options.rtol,
        "atol": options.atol,
        "seed": options.seed,
        "modes": [mode.name for mode in options.modes],
        "resume_steps": options.resume_steps,
        "optimizer": options.optimizer,
    }
    request_path = workdir / f"{name}.json"
    result_path = workdir / f"{name}.jsonl"
    request_path.write_text(json.dumps(request), encoding="utf-8")
    command = [sys.executable, "-m", "torchfix.verify.worker", str(request_path), str(result_path)]
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    failure = None
    try:
        _, stderr = process.communicate(timeout=options.timeout)
        if process.returncode != 0:
            tail = stderr.decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
            failure = f"exited with status {process.returncode}" + (f": {tail}" if tail else "")
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        failure = f"timed out after {options.timeout:g} s (raise `timeout` in [tool.torchfix.verify])"
    lines = _read_lines(result_path)
    header = lines.pop("", {})
    if "error" in header:
        raise VerifyError(header["error"])
    if "device" not in header:
        raise VerifyError(f"the verifier's subprocess (it needs torch) {failure}")
    return WorkerRun(header, lines, failure)


def _read_lines(path: Path) -> dict[str, dict]:
    """Result lines by item id; the header line (no id) under ``""``."""
    result: dict[str, dict] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return result
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            continue
        result[line.get("id", "")] = line
    return result


# --- site checks -----------------------------------------------------------------------------


@dataclass
class SiteCheck:
    """One distinct fix expression and where it occurs."""

    code: str
    before: str
    after: str
    inputs: Mapping[str, str]
    edge_values: bool
    names: Mapping[str, str]
    files: list[str] = field(default_factory=list)
    status: str = "pending"
    max_abs: float = 0.0
    max_rel: float = 0.0
    problem: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.code, self.before, self.after)

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "before": self.before,
            "after": self.after,
            "status": self.status,
            "max_abs": self.max_abs,
            "max_rel": self.max_rel,
            "problem": self.problem,
            "files": self.files,
        }


# --- module checks ---------------------------------------------------------------------------


@dataclass
class ModelCheck:
    """One model's verdict: equal, differs, skipped, or bug (torchfix itself failed)."""

    name: str
    #: the module whose import closure the model depends on (for blame)
    module: str
    status: str = "skipped"
    max_abs: float | None = None
    max_rel: float | None = None
    before_ms: float | None = None
    after_ms: float | None = None
    inputs: str = ""
    reason: str = ""
    hint: str = ""
    notes: list[str] = field(default_factory=list)
    #: one row per mode (and per resume check)
    modes: list[ModeRow] = field(default_factory=list)
    #: the scopes (qualified names) of the changed files this model's check ran, per real path
    ran: dict = field(default_factory=dict)

    @property
    def speedup(self) -> float | None:
        """The first mode's speedup, when its timing ranges do not overlap."""
        return self.modes[0].speedup if self.modes else None

    def as_dict(self, device: str) -> dict:
        return {
            "module": self.name,
            "status": self.status,
            "max_abs_err": self.max_abs,
            "max_rel_err": self.max_rel,
            "device": device,
            "before_ms": self.before_ms,
            "after_ms": self.after_ms,
            "speedup": self.speedup,
            "inputs": self.inputs,
            "reason": self.reason,
            "hint": self.hint,
            "notes": self.notes,
            "modes": [row.as_dict() for row in self.modes],
        }


@dataclass
class ModuleReport:
    device: str = ""
    torch: str = ""
    models: list[ModelCheck] = field(default_factory=list)
    #: classes that could not be built alone but were checked inside another model
    covered: list[str] = field(default_factory=list)


def _entries(models: Sequence[ModelSpec], candidates: Sequence[str], details: Mapping[str, dict]) -> list[dict]:
    entries = []
    for i, spec in enumerate(models):
        entry = {"id": f"m{i}", "name": spec.target, **spec.as_dict()}
        entries.append(entry)
    for i, target in enumerate(candidates):
        entries.append({"id": f"c{i}", "name": target, "class": target, "auto": True, **details.get(target, {})})
    return entries


class Verification:
    """One verification's subprocesses: the original side runs once, with the site checks;
    the rewritten side once per version of the rewrite (``apply --verify`` drops fixes
    that failed and checks again, reusing the original side's saved results).

    A context manager: the saved states, inputs and outputs live in a temporary folder.
    """

    def __init__(self, root: Path, options: CheckOptions) -> None:
        self.root = root
        self.options = options
        self._folder = tempfile.TemporaryDirectory(prefix="torchfix-verify-")
        self.workdir = Path(self._folder.name)
        self.entries: list[dict] = []
        self.original: WorkerRun | None = None
        self._after_runs = 0

    def __enter__(self) -> "Verification":
        return self

    def __exit__(self, *exc) -> None:
        self._folder.cleanup()

    @property
    def device(self) -> str:
        return self.original.header["device"] if self.original else ""

    def run_original(
        self,
        before: Mapping[Path, str],
        models: Sequence[ModelSpec],
        candidates: Sequence[str],
        sites: Sequence[SiteCheck] = (),
        watch: Sequence[Path] = (),
        details: Mapping[str, dict] | None = None,
        examples: Mapping[str, str] | None = None,
    ) -> None:
        """Check ``sites``, and build, run and save every model from the original sources
        (``before`` overlaid on the files on disk), recording which code of ``watch`` each ran.
        ``details`` adds worker-entry fields to candidates (:meth:`Project.entry_details`);
        ``examples`` are the modules whose ``__main__`` blocks the worker records from."""
        self.entries = _entries(models, candidates, details or {})
        if not self.entries and not sites:
            return
        request = {
            "task": "before",
            "root": str(self.root),
            "workdir": str(self.workdir),
            "overlay": _overlay(before),
            "entries": self.entries,
            "watch": sorted(str(Path(path).resolve()) for path in watch),
            "examples": dict(examples or {}),
            "sites": [
                {"id": f"s{i}", "before": s.before, "after": s.after, "inputs": dict(s.inputs),
                 "edge_values": s.edge_values, "names": dict(s.names)}
                for i, s in enumerate(sites)
            ],
        }
        self.original = call_worker(request, self.options, self.workdir, self.root, "before")
        for i, site in enumerate(sites):
            line = self.original.lines.get(f"s{i}")
            if line is None:
                site.status, site.problem = "failed", f"the checking subprocess {self.original.failure}"
                continue
            site.status = line["status"]
            site.max_abs, site.max_rel = line.get("max_abs", 0.0), line.get("max_rel", 0.0)
            site.problem = "; ".join(line.get("problems", [])[:2]) or line.get("reason", "")

    def compare(self, after: Mapping[Path, str]) -> ModuleReport:
        """Rebuild every model the original side built from the rewritten sources
        (``after`` overlaid), load the saved state and compare."""
        report = ModuleReport()
        original = self.original
        if original is None or not self.entries:
            return report
        built = [e for e in self.entries if original.lines.get(e["id"], {}).get("status") == "built"]
        rewritten = None
        if built:
            self._after_runs += 1
            request = {
                "task": "after",
                "root": str(self.root),
                "workdir": str(self.workdir),
                "overlay": _overlay(after),
                "entries": [{"id": e["id"], "recipe": original.lines[e["id"]]["recipe"]} for e in built],
            }
            rewritten = call_worker(request, self.options, self.workdir, self.root, f"after{self._after_runs}")
        report.device, report.torch = original.header["device"], original.header.get("torch", "")
        for entry in self.entries:
            line = original.lines.get(entry["id"])
            if line is None and entry.get("auto") and original.failure is None:
                continue  # not an nn.Module
            if line is not None and line["status"] == "covered":
                report.covered.append(entry["name"])
                continue
            report.models.append(_verdict(entry, line, original, rewritten))
        return report


def _overlay(sources: Mapping[Path, str]) -> dict[str, str]:
    return {str(Path(path).resolve()): text for path, text in sources.items()}


def _verdict(entry: dict, line: dict | None, original: WorkerRun, rewritten: WorkerRun | None) -> ModelCheck:
    target = entry["name"]
    check = ModelCheck(name=target, module=target.partition(":")[0])
    if line is None:
        check.reason = f"the original's subprocess {original.failure}"
        return check
    if line["status"] in ("skipped", "bug"):
        check.status = line["status"]
        check.reason, check.hint = line["reason"], line.get("hint", "")
        return check
    check.inputs, check.ran = line.get("inputs", ""), line.get("ran", {})
    result = rewritten.lines.get(entry["id"]) if rewritten is not None else None
    if result is None:
        check.status = "differs"
        check.reason = f"the rewritten side's subprocess {rewritten.failure if rewritten else 'did not run'}"
        return check
    check.status = result["status"]
    check.modes = [ModeRow.from_line(row) for row in result.get("modes", [])]
    compared = [row for row in check.modes if row.max_abs is not None]
    if compared:
        check.max_abs = max(row.max_abs for row in compared)
        check.max_rel = max(row.max_rel for row in compared)
    if check.modes and check.modes[0].before and check.modes[0].after:
        check.before_ms, check.after_ms = check.modes[0].before.median_ms, check.modes[0].after.median_ms
    check.reason = "; ".join(result.get("problems", [])[:3])
    check.notes = list(result.get("notes", []))
    return check
