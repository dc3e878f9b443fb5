"""Name resolution: torchfix's import-alias table against LibCST's QualifiedNameProvider.

Usage: python benchmarks/names.py [PATH ...]   (default: torch, torchvision, corpus/)

On every file the prefilter keeps (the files the rules see), it times, after
one shared parse: (1) building the alias table and resolving every call
target, (2) LibCST's scope analysis (QualifiedNameProvider) and the same
lookups. It prints both times and how many call targets each resolves to a
``torch.`` name, with the first few where they disagree.
"""

from __future__ import annotations

import ast
import sys
import time
from pathlib import Path

import libcst as cst
from libcst._metadata_dependent import LazyValue
from libcst.metadata import MetadataWrapper, QualifiedNameProvider

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench import default_paths  # noqa: E402
from torchfix.discovery import discover  # noqa: E402
from torchfix.engine import RunOptions  # noqa: E402
from torchfix.names import NameTable  # noqa: E402
from torchfix.rules import all_rules  # noqa: E402
from torchfix.prefilter import facts_of, matching  # noqa: E402
from torchfix.walk import walk  # noqa: E402

_MAX_BYTES = 128 * 1024  # LibCST's scope analysis on torch's largest files takes minutes
_EVERY_RULE = RunOptions(all_rules(), frozenset(), {})


class _Calls(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[cst.BaseExpression] = []

    def visit_Call(self, node: cst.Call) -> None:
        self.targets.append(node.func)


def _kept(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (OSError, UnicodeDecodeError, SyntaxError, RecursionError, ValueError):
        return None
    return text if matching(facts_of(tree), [rule.CODE for rule in _EVERY_RULE.rules]) else None


def _value(value):
    """A metadata value; LibCST computes QualifiedNameProvider's lazily."""
    return value() if isinstance(value, LazyValue) else value


def _torch(name: str | None) -> bool:
    return name is not None and (name == "torch" or name.startswith("torch."))


def main(argv: list[str]) -> None:
    paths = [Path(p) for p in argv] or default_paths()
    files = [p for p in discover(paths).files if p.stat().st_size <= _MAX_BYTES]
    texts = [(p, t) for p in files if (t := _kept(p)) is not None]
    table_s = provider_s = 0.0
    table_torch = provider_torch = 0
    disagreements: list[str] = []
    for path, text in texts:
        try:
            module = cst.parse_module(text)
        except cst.ParserSyntaxError:
            continue
        calls = _Calls()
        walk(module, [calls])
        start = time.perf_counter()
        table = NameTable(module)
        by_table = [table.qualified(target) for target in calls.targets]
        table_s += time.perf_counter() - start
        start = time.perf_counter()
        wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
        names = wrapper.resolve(QualifiedNameProvider)
        by_provider = [sorted(q.name for q in _value(names.get(target, ()))) for target in calls.targets]
        provider_s += time.perf_counter() - start
        for target, mine, theirs in zip(calls.targets, by_table, by_provider):
            table_torch += _torch(mine)
            provider_torch += any(_torch(name) for name in theirs)
            if _torch(mine) != any(_torch(name) for name in theirs) and len(disagreements) < 8:
                disagreements.append(f"{path.name}: {module.code_for_node(target)}: table {mine}, provider {theirs}")
    print(f"files: {len(texts)} (prefilter-kept, up to {_MAX_BYTES // 1024} KiB)")
    print(f"{'mechanism':24} {'seconds':>8} {'torch call targets':>19}")
    print(f"{'alias table':24} {table_s:8.2f} {table_torch:19d}")
    print(f"{'QualifiedNameProvider':24} {provider_s:8.2f} {provider_torch:19d}")
    print(f"ratio provider/table: {provider_s / table_s:.1f}")
    for line in disagreements:
        print("DIFFERS", line)


if __name__ == "__main__":
    main(sys.argv[1:])
