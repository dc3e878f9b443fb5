"""Apply fixes to real libraries and show that their own linters see nothing new.

Usage: python benchmarks/lint_sweep.py --out DIR [--select CODES] LIBRARY_ROOT ...

Each library root (an extracted sdist, with its own ``pyproject.toml``/``setup.cfg``/...)
is copied whole to ``DIR/<name>``, and there, as the command line (no cache):

  1. ``check --unsafe-fixes --format json``   findings per rule: fixable (safe, unsafe) or report only
  2. ``apply --unsafe-fixes``                  files changed (compared byte for byte)
  3. ``check --format json`` again             findings left per rule
  4. ``ruff check --select E501,I001``         on every changed file, before and after, in the
                                               library's configuration (ruff's own, else the line
                                               length torchfix read from black/flake8/isort)

A line is *new* when it is too long after the fix and its text is nowhere in the
original file; an import block is new when the file has more I001 findings than
before. The unified diff of every changed file is written to ``DIR/<name>.diff``
for review. Prints one Markdown table of rule counts and one of linter findings;
exits 1 when anything new is found.
"""

from __future__ import annotations

import argparse
import difflib
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from torchfix.layout import style_for

_RULES = "TF002,TF005,TF006,TF007,TF009,TF010"


def _torchfix(tree: Path, *args: str) -> str:
    command = [sys.executable, "-m", "torchfix", *args, "--no-cache", "."]
    return subprocess.run(command, cwd=tree, capture_output=True, text=True).stdout


def _findings(tree: Path, select: str, unsafe: bool) -> list[dict]:
    flags = ["--unsafe-fixes"] if unsafe else []
    out = _torchfix(tree, "check", "--select", select, "--format", "json", *flags)
    return json.loads(out) if out.strip().startswith("[") else []


def _has_ruff_config(root: Path) -> bool:
    if (root / "ruff.toml").is_file() or (root / ".ruff.toml").is_file():
        return True
    pyproject = root / "pyproject.toml"
    return pyproject.is_file() and "[tool.ruff" in pyproject.read_text(encoding="utf-8", errors="replace")


def _ruff(root: Path, relative: str, own_config: bool) -> tuple[list[int], int]:
    """(rows of E501 findings, number of I001 findings) for one file of a library."""
    command = [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "E501,I001", "--output-format", "json"]
    if not own_config:
        command += ["--line-length", str(style_for((root / relative).parent).line_length)]
    result = subprocess.run([*command, relative], cwd=root, capture_output=True, text=True)
    findings = json.loads(result.stdout or "[]")
    rows = [f["location"]["row"] for f in findings if f["code"] == "E501"]
    return rows, sum(1 for f in findings if f["code"] == "I001")


def sweep(source: Path, out: Path, select: str) -> tuple[dict[str, Counter], dict[str, int]]:
    tree = out / source.name
    if tree.exists():
        shutil.rmtree(tree)
    shutil.copytree(source, tree, ignore=shutil.ignore_patterns(".git", "__pycache__"))
    for path in tree.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)  # the sources may be read-only
    counts: dict[str, Counter] = {}
    for finding in _findings(tree, select, unsafe=True):
        kind = "report only" if not finding.get("fixable") else finding.get("applicability", "safe")
        counts.setdefault(finding["code"], Counter())[kind] += 1
        counts[finding["code"]]["findings"] += 1
    _torchfix(tree, "apply", "--unsafe-fixes", "--select", select)
    for finding in _findings(tree, select, unsafe=True):
        counts.setdefault(finding["code"], Counter())["left after apply"] += 1
    own_config = _has_ruff_config(source)
    lint = Counter()
    diff = []
    for fixed in sorted(tree.rglob("*.py")):
        relative = fixed.relative_to(tree).as_posix()
        original = source / relative
        if not original.is_file() or original.read_bytes() == fixed.read_bytes():
            continue
        lint["files changed"] += 1
        before_text, after_text = original.read_text(encoding="utf-8"), fixed.read_text(encoding="utf-8")
        diff.extend(difflib.unified_diff(before_text.splitlines(True), after_text.splitlines(True), relative, relative))
        rows_before, unsorted_before = _ruff(source, relative, own_config)
        rows_after, unsorted_after = _ruff(tree, relative, own_config)
        old_lines = set(before_text.splitlines())
        after_lines = after_text.splitlines()
        new_long = [row for row in rows_after if after_lines[row - 1] not in old_lines]
        lint["E501 before"] += len(rows_before)
        lint["E501 after"] += len(rows_after)
        lint["new E501"] += len(new_long)
        lint["new I001"] += max(0, unsorted_after - unsorted_before)
        for row in new_long:
            print(f"  new E501: {source.name}/{relative}:{row}: {after_lines[row - 1].strip()[:100]}")
    (out / f"{source.name}.diff").write_text("".join(diff), encoding="utf-8")
    return counts, dict(lint)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--select", default=_RULES)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    totals: dict[str, Counter] = {}
    lint_rows = []
    for root in args.roots:
        counts, lint = sweep(root.resolve(), args.out, args.select)
        for code, counter in counts.items():
            totals.setdefault(code, Counter()).update(counter)
        lint_rows.append((root.name, lint))
        print(f"{root.name}: {dict(sorted((c, dict(v)) for c, v in counts.items()))} {lint}", flush=True)
    columns = ["findings", "safe", "unsafe", "report only", "left after apply"]
    print("\n| rule | " + " | ".join(columns) + " |\n|---|" + "---:|" * len(columns))
    for code in sorted(totals):
        print(f"| {code} | " + " | ".join(str(totals[code][c]) for c in columns) + " |")
    lint_columns = ["files changed", "E501 before", "E501 after", "new E501", "new I001"]
    print("\n| library | " + " | ".join(lint_columns) + " |\n|---|" + "---:|" * len(lint_columns))
    for name, lint in lint_rows:
        print(f"| {name} | " + " | ".join(str(lint.get(c, 0)) for c in lint_columns) + " |")
    return 1 if any(lint.get("new E501", 0) or lint.get("new I001", 0) for _, lint in lint_rows) else 0


if __name__ == "__main__":
    sys.exit(main())
