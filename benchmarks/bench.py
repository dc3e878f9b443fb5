"""Time `torchfix check` against a plain parse of the same files, per tree; print every figure.

Usage: python benchmarks/bench.py [--torchfix07 PYTHON] [--repeat N] [PATH ...]

Default trees: pytorch-image-models (timm) and diffusers (their sources under
/work/libs/src, else the installed packages) and the Python sources of the
installed torch (found without importing it). A tree inside a git-ignored
folder (a virtual environment) is copied to a scratch folder first, as
discovery would skip it. Each measurement runs in its own subprocess, one
after another, on the same files:

  (a) one process calling libcst.parse_module on every file
  (b) one process calling ast.parse on every file
  (c) torchfix check --no-cache          (cold)
  (d) torchfix check, second run         (warm: the cache of a previous run)
  (e) torchfix apply --dry-run --no-cache
  (f) TorchFix 0.7 (``--torchfix07``: the python of a venv holding it), on the first tree

For each: wall and CPU seconds (the process and every child it waited for) and
peak RSS of the whole process tree (sampled from /proc), the medians of ``--repeat``
interleaved rounds (a busy spell of a shared machine moves one run by a tenth);
then the issue's ratios, and the startup figures (`--version`, `check` of one file, median of
five). The torchfix package run is compiled to bytecode first, as ``pip install``
does. Nothing is asserted: this prints figures.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import resource
import shutil
import statistics
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

LIBS = Path("/work/libs/src")
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


def _installed(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def default_paths() -> list[Path]:
    """timm and diffusers (sdists under /work/libs/src, else installed) and torch's own sources."""
    paths = []
    for name, sdist in (("timm", "timm-*"), ("diffusers", "diffusers-*")):
        found = sorted(LIBS.glob(sdist)) if LIBS.is_dir() else []
        where = found[-1] if found else _installed(name)
        if where is not None:
            paths.append(where)
    torch = _installed("torch")
    return paths + ([torch] if torch is not None else [])


def _python_files(tree: Path) -> list[Path]:
    return [p for p in discover([tree]).files if p.stat().st_size <= DEFAULT_MAX_FILE_SIZE]


def stage(tree: Path, scratch: Path) -> Path:
    """``tree``, or a copy of its ``.py`` files when discovery skips it (a git-ignored venv)."""
    if _python_files(tree) or not tree.is_dir():
        return tree
    copy = scratch / "staged" / tree.name
    for source in tree.rglob("*.py"):
        target = copy / source.relative_to(tree)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return copy


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


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(command: list[str], cwd: Path, sample: bool = True) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds of the process tree, peak RSS of the process tree, exit code)."""
    cpu, start = _cpu(), time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sampler() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            time.sleep(0.05)

    thread = threading.Thread(target=sampler, daemon=True)
    if sample:
        thread.start()
    code = process.wait()
    elapsed = time.perf_counter() - start
    done.set()
    if sample:
        thread.join()
    return elapsed, _cpu() - cpu, peak, code


def _startup(torchfix: list[str], one_file: Path, cwd: Path) -> dict[str, float]:
    runs = {"--version": [*torchfix, "--version"], "check <one file>": [*torchfix, "check", "--no-cache", str(one_file)]}
    return {
        label: statistics.median(measure(command, cwd, sample=False)[0] for _ in range(5))
        for label, command in runs.items()
    }


def _median_run(samples: list[tuple[float, float, int, int]]) -> tuple[float, float, int, int]:
    """The median wall and CPU seconds of several runs of one measurement, their largest peak
    RSS and the last exit code."""
    return (
        statistics.median(s[0] for s in samples),
        statistics.median(s[1] for s in samples),
        max(s[2] for s in samples),
        samples[-1][3],
    )


def bench_tree(
    tree: Path, work: Path, torchfix07: str | None, repeat: int = 1
) -> dict[str, tuple[float, float, int, int]]:
    files = _python_files(tree)
    lines = sum(p.read_bytes().count(b"\n") for p in files)
    print(f"\n== {tree}: {len(files)} files, {lines} lines")
    listing = work / "files.txt"
    listing.write_text("\n".join(str(p.resolve()) for p in files), encoding="utf-8")
    torchfix = [sys.executable, "-m", "torchfix"]
    where = str(tree.resolve())
    runs = [
        ("(a)", "libcst.parse_module", [sys.executable, "-c", PARSE.format(module="libcst", call="libcst.parse_module(data)"), str(listing)]),
        ("(b)", "ast.parse", [sys.executable, "-c", PARSE.format(module="ast", call="ast.parse(data)"), str(listing)]),
        ("(c)", "check --no-cache (cold)", [*torchfix, "check", "--no-cache", "--exit-zero", where]),
        ("", "check (fills the cache)", [*torchfix, "check", "--exit-zero", where]),
        ("(d)", "check (warm)", [*torchfix, "check", "--exit-zero", where]),
        ("(e)", "apply --dry-run --no-cache", [*torchfix, "apply", "--dry-run", "--no-cache", where]),
    ]
    if torchfix07:
        runs.append(("(f)", "TorchFix 0.7 (torchfix .)", [torchfix07, "-m", "torchfix", where]))
    samples: dict[str, list[tuple[float, float, int, int]]] = {key or label: [] for key, label, _ in runs}
    for round_ in range(repeat):  # the rounds interleave, so a slow spell of the machine touches every measurement
        subprocess.run([*torchfix, "clean", where], cwd=work, stdout=subprocess.DEVNULL, check=True)  # refilled next
        for key, label, command in runs:
            if key != "(f)" or not round_:  # TorchFix 0.7 once: two minutes a run
                samples[key or label].append(measure(command, work))
    results = {}
    print(f"{'measurement':34} {'wall s':>8} {'CPU s':>8} {'files/s':>8} {'peak RSS MB':>12} {'exit':>5}")
    for key, label, _ in runs:
        wall, cpu, peak, code = results[key or label] = _median_run(samples[key or label])
        print(f"{key:3} {label:30} {wall:8.2f} {cpu:8.2f} {len(files) / wall:8.0f} {peak / 2**20:12.0f} {code:5d}")
    if repeat > 1:
        for key in ("(a)", "(c)"):
            cpus = [cpu for _, cpu, _, _ in samples[key]]
            print(f"{key} CPU s of the {repeat} rounds: {' '.join(f'{cpu:.2f}' for cpu in cpus)}")
    (wall_a, cpu_a, *_), (wall_c, cpu_c, *_) = results["(a)"], results["(c)"]
    print(f"ratio CPU (c)/(a): {cpu_c / cpu_a:.3f}   (goal <= 0.35)")
    print(f"ratio wall (c)/(a): {wall_c / wall_a:.3f}")
    print(f"ratio wall (e)/(c): {results['(e)'][0] / wall_c:.3f}   (goal <= 1.5)")
    print(f"warm check (d): {results['(d)'][0]:.2f} s   (goal <= 0.5 on pytorch-image-models)")
    if "(f)" in results:
        print(f"ratio wall (f)/(c): {results['(f)'][0] / wall_c:.1f}   (goal >= 25 on pytorch-image-models)")
    return results


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--torchfix07", help="the python of a venv with TorchFix 0.7 (timed on the first tree)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of measurements (a)-(e) per tree; each figure is their median"
    )
    args = parser.parse_args(argv)
    print(f"cpus: {os.cpu_count()}  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    # `pip install` compiles a package to bytecode; an editable install run with
    # PYTHONDONTWRITEBYTECODE set would compile every torchfix module on every start instead
    package = _installed("torchfix")
    if package is not None and compileall.compile_dir(package, quiet=1):
        print(f"torchfix's bytecode compiled first, as pip install does ({package})")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        trees = [stage(tree, work) for tree in (args.paths or default_paths())]
        for index, tree in enumerate(trees):
            bench_tree(tree, work, args.torchfix07 if index == 0 else None, args.repeat)
        one_file = ROOT / "corpus" / "metric_learning" / "model.py"
        print(f"\n== startup (median of 5 runs; `check` of {one_file.relative_to(ROOT)}, which has a finding)")
        for label, seconds in _startup([sys.executable, "-m", "torchfix"], one_file, work).items():
            goal = 0.15 if label == "--version" else 0.35
            print(f"{label:24} {seconds:6.3f} s   (goal <= {goal})")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main(sys.argv[1:])
