"""How sharp and how sound each rule's prefilter is, on real code; print the figures.

Usage: python benchmarks/prefilter.py [PATH ...]   (default: timm, diffusers, torch; see bench.py)

Every file is checked by every rule *without* the prefilter (a LibCST parse
each), and each rule's ``may_match`` is asked about the same file. Per rule it
prints how many files the prefilter keeps, how many have findings, and how many
findings the prefilter would have lost ("missed", which must be 0: a rule's
prefilter is an over-approximation of its matcher), and the issue's sharpness
goal: files sent to LibCST at most twice the files with findings plus 5% of all
files. Each file the runner would parse narrowed (:mod:`torchfix.narrowing`) is
checked and fixed (unsafe fixes too) that way as well, by the rules the prefilter
keeps, and compared with the whole file's check and fix by the same rules
("narrowing differs", which must be 0).
Exits 1 if any finding would be lost or changed.
"""

from __future__ import annotations

import ast
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench import default_paths, stage  # noqa: E402
from narrowed_parse import narrowing_changes  # noqa: E402
from torchfix.discovery import discover  # noqa: E402
from torchfix.engine import RunOptions, check_text  # noqa: E402
from torchfix.narrowing import narrowed  # noqa: E402
from torchfix.prefilter import facts_of  # noqa: E402
from torchfix.rules import all_rules  # noqa: E402
from torchfix.runner import too_many_tokens  # noqa: E402
from torchfix.sourcefile import DEFAULT_MAX_FILE_SIZE  # noqa: E402

_TOKEN_LIMIT = 100_000


def _one(path: Path) -> tuple[str, list[str], list[str], bool | None] | None:
    """(path, codes whose prefilter keeps the file, codes of the findings, whether a narrowed parse
    changed the kept rules' findings: None when the file is not narrowed), or None if unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (OSError, UnicodeDecodeError, SyntaxError, RecursionError, ValueError):
        return None
    rules = all_rules()
    facts = facts_of(tree)
    kept = [rule.CODE for rule in rules if rule.may_match(facts)]
    if too_many_tokens(text, _TOKEN_LIMIT):
        return None  # the runner skips it
    options = RunOptions(rules, frozenset(rule.CODE for rule in rules), {})
    try:
        found = [finding.code for finding in check_text(text, options)]
    except Exception:  # LibCST rejects it: nothing to lose
        return None
    narrow = narrowed(text, facts, kept)
    if narrow is None:
        return str(path), kept, found, None
    return str(path), kept, found, narrowing_changes(text, narrow, kept, options) is not None


def check_tree(tree: Path) -> int:
    """Print one tree's figures; the number of findings the prefilter would lose."""
    files = [p for p in discover([tree]).files if p.stat().st_size <= DEFAULT_MAX_FILE_SIZE]
    start = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        results = [r for r in pool.map(_one, files, chunksize=16) if r is not None]
    kept, with_findings, findings, missed = Counter(), Counter(), Counter(), Counter()
    lost = []
    narrowed_files = [(path, differs) for path, _, _, differs in results if differs is not None]
    for path, differs in narrowed_files:
        if differs:
            lost.append(f"{path}: the narrowed parse changes the findings")
    for path, keeps, found, _ in results:
        kept.update(keeps)
        with_findings.update(set(found))
        findings.update(found)
        for code in found:
            if code not in keeps:
                missed[code] += 1
                lost.append(f"{path}: {code}")
    print(f"\n== {tree}: files checked {len(results)} of {len(files)} in {time.perf_counter() - start:.0f} s")
    print(f"{'rule':6} {'kept':>6} {'with findings':>14} {'findings':>9} {'missed':>7}")
    for rule in all_rules():
        code = rule.CODE
        print(f"{code:6} {kept[code]:6d} {with_findings[code]:14d} {findings[code]:9d} {missed[code]:7d}")
    any_kept = sum(1 for _, keeps, _, _ in results if keeps)
    any_found = sum(1 for _, _, found, _ in results if found)
    goal = 2 * any_found + 0.05 * len(results)
    print(f"files any rule keeps (LibCST parses): {any_kept} of {len(results)}"
          f" (goal: at most 2 x {any_found} files with findings + 5% of files = {goal:.0f})")
    print(f"findings: {sum(findings.values())} in {any_found} files; missed: {sum(missed.values())}")
    differing = sum(differs for _, differs in narrowed_files)
    print(f"files parsed narrowed: {len(narrowed_files)} of {any_kept}; narrowing differs: {differing}")
    for line in lost:
        print("MISSED", line)
    return sum(missed.values()) + differing


def main(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        trees = [stage(Path(p), Path(scratch)) for p in argv] or [stage(p, Path(scratch)) for p in default_paths()]
        lost = sum(check_tree(tree) for tree in trees)
    print(f"\nfindings the prefilter would lose or narrowing change, all trees: {lost}")
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
