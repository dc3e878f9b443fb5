"""Sweep real code: copy a tree, check it, apply every fix, and show that nothing broke.

Usage: python benchmarks/sweep.py [--keep] [DIR ...]

Default trees: the Python sources of the installed torch and torchvision packages
(found without importing them) and corpus/. Each tree's .py files are copied to a
temporary folder (with an empty ``[tool.torchfix]`` so no outer config leaks in),
and there, as the command line (``python -m torchfix``, no cache):

  1. ``check --format json``            findings per rule
  2. ``apply --unsafe-fixes``            files changed (compared byte for byte)
  3. every changed file                 still parses (LibCST, ast)? compiles (py_compile)?
                                        does LibCST write its other bytes back unchanged?
  4. ``apply --unsafe-fixes`` again      files that change on a second apply

A crash is a run that exits with neither 0, 1 nor 2 or prints a traceback; a
"fix bug" is a fix the engine threw away because its output did not parse.
Prints a table per tree, then all trees as one Markdown table; exits 1 when a
must-be-zero count is not zero.
"""

from __future__ import annotations

import argparse
import ast
import json
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from bench import default_paths  # benchmarks/ is the script's own folder

#: counts that must be zero on any tree
MUST_BE_ZERO = (
    "no longer parse",
    "change on a second apply",
    "changed, fail py_compile",
    "changed, bytes lost by LibCST",
    "crashes",
    "fix bugs",
)


@dataclass
class Sweep:
    tree: Path
    files: int = 0
    findings: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)
    #: count name -> the files (and why) behind it
    details: dict[str, list[str]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def note(self, count: str, detail: str) -> None:
        self.counts[count] += 1
        self.details.setdefault(count, []).append(detail)


def _copy(tree: Path, into: Path) -> Path:
    """Only the folders and .py files of ``tree``: a package's binaries are gigabytes."""

    def ignore(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if not n.endswith(".py") and not Path(folder, n).is_dir()]

    target = into / tree.name
    shutil.copytree(tree, target, ignore=ignore, symlinks=True)
    (into / "pyproject.toml").write_text("[tool.torchfix]\n")
    return target


def _torchfix(sweep: Sweep, label: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "torchfix", *args, "--no-cache"], cwd=cwd, capture_output=True, text=True
    )
    sweep.seconds[label] = time.perf_counter() - started
    if result.returncode not in (0, 1, 2) or "Traceback" in result.stderr + result.stdout:
        sweep.note("crashes", f"{label}: exit {result.returncode}: {result.stderr.strip()[-2000:]}")
    for line in result.stderr.splitlines():
        if "torchfix bug" in line:
            sweep.note("fix bugs", f"{label}: {line}")
        elif re.match(r"\S.*: (cannot (read|decode|parse)|skipped)", line) and label == "check":
            sweep.note("inputs not read or parsed", line)
        elif ": not written:" in line:
            sweep.note("not written", f"{label}: {line}")
    return result


def _snapshot(tree: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(tree.rglob("*.py")) if path.is_file()}


def _parses(data: bytes) -> bool:
    try:
        cst.parse_module(data)
        ast.parse(data)
    except (cst.ParserSyntaxError, SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _round_trips(data: bytes) -> bool | None:
    """Whether LibCST writes ``data`` back unchanged (a form feed before a statement: no)."""
    try:
        return cst.parse_module(data).bytes == data
    except (cst.ParserSyntaxError, RecursionError):
        return None


def _compiles(path: Path, scratch: Path) -> str | None:
    try:
        py_compile.compile(str(path), cfile=str(scratch / "sweep.pyc"), doraise=True)
    except py_compile.PyCompileError as error:
        return error.msg.strip().splitlines()[-1]
    return None


def sweep_tree(tree: Path, keep: bool) -> Sweep:
    sweep = Sweep(tree)
    scratch = Path(tempfile.mkdtemp(prefix=f"torchfix-sweep-{tree.name}-"))
    try:
        copy = _copy(tree, scratch)
        name = copy.name
        original = _snapshot(copy)
        checked = _torchfix(sweep, "check", scratch, "check", "--format", "json", name)
        try:
            findings = json.loads(checked.stdout or "[]")
        except ValueError:
            findings = []
            sweep.note("crashes", f"check: output is not JSON: {checked.stdout[:200]!r}")
        sweep.findings.update(finding["code"] for finding in findings)
        sweep.files = len(original)

        _torchfix(sweep, "apply", scratch, "apply", "--unsafe-fixes", "--quiet", name)
        applied = _snapshot(copy)
        changed = [path for path, data in applied.items() if original.get(path) != data]
        sweep.counts["files changed"] = len(changed)
        for path in changed:
            shown = path.relative_to(scratch).as_posix()
            if _parses(original[path]) and not _parses(applied[path]):
                sweep.note("no longer parse", shown)
            error = _compiles(path, scratch)
            if error is not None:
                sweep.note("changed, fail py_compile", f"{shown}: {error}")
            if _round_trips(original[path]) is False:
                sweep.note("changed, bytes lost by LibCST", shown)

        _torchfix(sweep, "second apply", scratch, "apply", "--unsafe-fixes", "--quiet", name)
        again = _snapshot(copy)
        for path, data in again.items():
            if applied.get(path) != data:
                sweep.note("change on a second apply", path.relative_to(scratch).as_posix())
    finally:
        if keep:
            print(f"kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return sweep


def print_table(sweep: Sweep) -> None:
    rows = [("files", sweep.files), ("findings", sum(sweep.findings.values()))]
    rows += [(f"  {code}", count) for code, count in sorted(sweep.findings.items())]
    rows += [(name, sweep.counts[name]) for name in ("files changed", *MUST_BE_ZERO)]
    rows += [(name, sweep.counts[name]) for name in ("inputs not read or parsed", "not written")]
    rows.append(("time", ", ".join(f"{label} {seconds:.0f}s" for label, seconds in sweep.seconds.items())))
    print(f"\n== {sweep.tree} ==")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        flag = "   <-- must be 0" if label in MUST_BE_ZERO and value else ""
        print(f"{label:<{width}}  {value}{flag}")
    for name, details in sweep.details.items():
        print(f"-- {name}:")
        for detail in details[:20]:
            print(f"   {detail}")
        if len(details) > 20:
            print(f"   ... and {len(details) - 20} more")


def print_markdown(sweeps: list[Sweep]) -> None:
    codes = sorted({code for sweep in sweeps for code in sweep.findings})
    header = ["tree", "files", "findings", *codes, "changed", *MUST_BE_ZERO, "not read/parsed", "time (s)"]
    print("\n| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for sweep in sweeps:
        cells = [sweep.tree.name, sweep.files, sum(sweep.findings.values())]
        cells += [sweep.findings[code] for code in codes]
        cells += [sweep.counts["files changed"], *(sweep.counts[name] for name in MUST_BE_ZERO)]
        cells += [sweep.counts["inputs not read or parsed"], f"{sum(sweep.seconds.values()):.0f}"]
        print("| " + " | ".join(str(cell) for cell in cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="*", type=Path, help="folders to sweep (default: torch, torchvision, corpus/)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copies to look at")
    args = parser.parse_args(argv)
    sweeps = []
    for tree in args.trees or default_paths():
        sweeps.append(sweep_tree(tree.resolve(), args.keep))
        print_table(sweeps[-1])
        sys.stdout.flush()
    print_markdown(sweeps)
    return 1 if any(sweep.counts[name] for sweep in sweeps for name in MUST_BE_ZERO) else 0


if __name__ == "__main__":
    sys.exit(main())
