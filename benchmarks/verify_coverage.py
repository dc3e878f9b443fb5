"""Zero-configuration `verify` coverage on real libraries.

For each library: copy its package and README into a fresh git repository, commit it,
``torchfix apply --unsafe-fixes``, then plain ``torchfix verify --format json``
(no configuration). Prints one row per library: the model classes in changed
files, how many were checked (built and compared: equal or differs, alone or
inside a checked model), the unverified ones grouped by reason, and the wall
time of ``verify``.

    python benchmarks/verify_coverage.py                      # the default libraries
    python benchmarks/verify_coverage.py --device cuda x_transformers

The libraries' own runtime dependencies (einops, ...) must be installed in the
environment torchfix runs in; a missing one shows up as a skip reason.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

SOURCES = Path("/work/libs/src")
LIBRARIES = ("x_transformers", "vit_pytorch", "denoising_diffusion_pytorch", "timm")


def _package(name: str, sources: Path) -> Path:
    matches = sorted(sources.glob(f"{name}-*/{name}"))
    if not matches:
        raise SystemExit(f"no {name}-*/{name} under {sources}")
    return matches[-1]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True)


def _repository(name: str, sources: Path, work: Path) -> Path:
    root = work / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    shutil.copytree(_package(name, sources), root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [root / name, *(root / name).rglob("*")]:  # the sources may be read-only
        path.chmod(path.stat().st_mode | 0o200)
    for readme in _package(name, sources).parent.glob("README*.md"):  # its examples, for recording
        shutil.copyfile(readme, root / readme.name)
    (root / "pyproject.toml").write_text("[tool.torchfix]\n")
    git = ["git", "-c", "user.email=bench@example.com", "-c", "user.name=bench"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "original"]):
        _run([*git, *args], root).check_returncode()
    return root


def _module(path: str) -> str:
    return re.sub(r"(/__init__)?\.py$", "", path).replace("/", ".")


def _reason(text: str) -> str:
    """A skip reason with the class-specific parts folded, for grouping."""
    text = re.sub(r"`[^`]*`", "`...`", text)
    text = re.sub(r"\b[A-Z]\w*\(.*?\)", "X(...)", text)
    return text[:110]


def measure(name: str, sources: Path, work: Path, device: str) -> dict:
    root = _repository(name, sources, work)
    applied = _run([sys.executable, "-m", "torchfix", "apply", "--unsafe-fixes", "."], root)
    start = time.perf_counter()
    verified = _run([sys.executable, "-m", "torchfix", "verify", "--format", "json", "--device", device, "."], root)
    wall = time.perf_counter() - start
    try:
        report = json.loads(verified.stdout)
    except json.JSONDecodeError:
        return {"library": name, "error": (verified.stderr or applied.stderr).strip()[-300:], "wall": wall}
    changed = {_module(f["path"]) for f in report["files"]}
    models = [m for r in report["rounds"][-1:] for m in r["models"] if m["module"].partition(":")[0] in changed]
    covered = [c for r in report["rounds"][-1:] for c in r["covered"] if c.partition(":")[0] in changed]
    checked = [m for m in models if m["status"] in ("equal", "differs")]
    skipped = [m for m in models if m["status"] not in ("equal", "differs")]
    return {
        "library": name,
        "files": len(report["files"]),
        "classes": len(models) + len(covered),
        "equal": sum(m["status"] == "equal" for m in checked),
        "differs": sum(m["status"] == "differs" for m in checked),
        "covered": len(covered),
        "skipped": len(skipped),
        "reasons": Counter(_reason(m["reason"]) for m in skipped),
        "fixes": report["counts"]["fixes"],
        "exit": verified.returncode,
        "wall": wall,
        "differing": [m["module"] + ": " + m["reason"][:200] for m in checked if m["status"] == "differs"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("libraries", nargs="*", default=list(LIBRARIES))
    parser.add_argument("--sources", type=Path, default=SOURCES, help="folder of extracted sdists")
    parser.add_argument("--work", type=Path, default=Path("/tmp/torchfix-verify-coverage"))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    rows = [measure(name, args.sources, args.work, args.device) for name in args.libraries]
    print(f"| library | changed classes | checked (equal / differs) | unverified | % checked | fixes verified / differ / unverified | exit | verify wall time ({args.device}) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        if "error" in row:
            print(f"| {row['library']} | error: {row['error']} | | | | | | {row['wall']:.0f} s |")
            continue
        checked = row["equal"] + row["differs"] + row["covered"]
        share = 100 * checked / row["classes"] if row["classes"] else 100.0
        fixes = row["fixes"]
        inside = f" + {row['covered']} inside others" if row["covered"] else ""
        print(
            f"| {row['library']} | {row['classes']} | {checked} ({row['equal']} / {row['differs']}{inside})"
            f" | {row['skipped']} | {share:.0f}% | "
            f"{fixes['verified']} / {fixes['differs']} / {fixes['unverified']} | {row['exit']} | {row['wall']:.0f} s |"
        )
    for row in rows:
        for reason, count in row.get("reasons", Counter()).most_common():
            print(f"  {row['library']}: {count} x {reason}")
        for line in row.get("differing", []):
            print(f"  {row['library']} DIFFERS {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
