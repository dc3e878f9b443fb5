"""Time `torchfix check` against a plain parse of the same files; print the figures.

Usage: python benchmarks/bench.py [PATH ...]

Default input: the Python sources of the installed torch and torchvision packages
(found without importing them) plus corpus/. Each measurement runs in its own
subprocess, one after another, on the same files:

  (a) one process calling libcst.parse_module on every file
  (b) one process calling ast.parse on every file
  (c) torchfix check --no-cache          (cold)
  (d) torchfix check, second run         (warm: the cache of a previous run)
  (e) torchfix apply --dry-run --no-cache

For each: wall time, files/s, and peak RSS of the whole process tree (workers
included, sampled from /proc), then the ratios of (c), (d) and (e) to (a).
Nothing is asserted: this prints figures.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from torchfix.discovery import discover  # noqa: E402
from torchfix.sourcefile import DEFAULT_MAX_FILE_SIZE  # noqa: E402

PARSE = """
import sys, {module}
paths = open(sys.argv[1], encoding="utf-8").read().splitlines()
for path in paths:
    data = open(path, "rb").read()
    try:
        {call}
    except Exception:
        pass
"""


def default_paths() -> list[Path]:
    paths = []
    for name in ("torch", "torchvision"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            paths.append(Path(list(spec.submodule_search_locations)[0]))
    return paths + [ROOT / "corpus"]


def _tree_rss(pid: int) -> int:
    """The resident memory of ``pid`` and all its descendants, in bytes."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as stream:
                fields = stream.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


def measure(command: list[str], cwd: Path) -> tuple[float, int, int]:
    """(wall seconds, peak RSS of the process tree, exit code)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = process.wait()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    return elapsed, peak, code


def main(argv: list[str]) -> None:
    paths = [Path(p) for p in argv] or default_paths()
    found = discover(paths)
    files = [p for p in found.files if p.stat().st_size <= DEFAULT_MAX_FILE_SIZE]
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    print(f"inputs: {', '.join(str(p) for p in paths)}")
    print(f"files: {len(files)}  lines: {lines}  cpus: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        listing = work / "files.txt"
        listing.write_text("\n".join(str(p.resolve()) for p in files), encoding="utf-8")
        torchfix = [sys.executable, "-m", "torchfix"]
        where = [str(p.resolve()) for p in paths]
        runs = [
            ("(a)", "libcst.parse_module", [sys.executable, "-c", PARSE.format(module="libcst", call="libcst.parse_module(data)"), str(listing)]),
            ("(b)", "ast.parse", [sys.executable, "-c", PARSE.format(module="ast", call="ast.parse(data)"), str(listing)]),
            ("(c)", "check --no-cache (cold)", [*torchfix, "check", "--no-cache", "--exit-zero", *where]),
            ("", "check (fills the cache)", [*torchfix, "check", "--exit-zero", *where]),
            ("(d)", "check (warm)", [*torchfix, "check", "--exit-zero", *where]),
            ("(e)", "apply --dry-run --no-cache", [*torchfix, "apply", "--dry-run", "--no-cache", *where]),
        ]
        results = {}
        print(f"{'measurement':34} {'wall s':>8} {'files/s':>9} {'peak RSS MB':>12} {'exit':>5}")
        for key, label, command in runs:
            elapsed, peak, code = measure(command, work)
            results[key] = elapsed
            print(f"{key:3} {label:30} {elapsed:8.2f} {len(files) / elapsed:9.0f} {peak / 2**20:12.0f} {code:5d}")
    base = results["(a)"]
    for label in ("(c)", "(d)", "(e)"):
        print(f"ratio {label}/(a): {results[label] / base:.3f}")
    print(f"ratio (e)/(c): {results['(e)'] / results['(c)']:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
