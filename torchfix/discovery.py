"""Finding the Python files to check: recursive, .gitignore-aware, loop-safe, sorted.

Every file-system question goes through ``os.path`` (which answers False) or
``os.walk``'s ``onerror`` (which reports the folder): a folder we may not enter,
a symlink loop or a FIFO never stops the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import pathspec

#: folders never descended into (tools' and environments' own files)
SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "__pycache__", "build", "dist",
        ".eggs", "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".torchfix_cache",
        "site-packages",
    }
)


def is_notebook(path: str | Path) -> bool:
    return str(path).endswith(".ipynb")


@dataclass
class Discovery:
    """The files found (sorted, deduplicated) and the paths that could not be read."""

    files: list[Path] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)


def git_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``.git``."""
    for folder in (start, *start.parents):
        if os.path.exists(folder / ".git"):
            return folder
    return None


def _load_ignore(folder: Path) -> list[pathspec.PathSpec]:
    import pathspec  # only now: a run on named files walks no folder

    specs = []
    for name in (".gitignore", ".git/info/exclude"):
        candidate = folder / name
        if not os.path.isfile(candidate):  # a FIFO would block the read
            continue
        try:
            lines = candidate.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        specs.append(pathspec.GitIgnoreSpec.from_lines(lines))
    return specs


class _Ignores:
    """The .gitignore files that apply below a start folder, each relative to its own folder."""

    def __init__(self, start: Path) -> None:
        root = git_root(start) or start
        self.specs: dict[Path, list[pathspec.PathSpec]] = {}
        chain = [start, *start.parents]
        for folder in reversed(chain[: chain.index(root) + 1] if root in chain else [start]):
            self._add(folder)

    def _add(self, folder: Path) -> None:
        specs = _load_ignore(folder)
        if specs:
            self.specs[folder] = specs

    def enter(self, folder: Path) -> None:
        if folder not in self.specs:
            self._add(folder)

    def ignored(self, path: Path, is_dir: bool) -> bool:
        for base, specs in self.specs.items():
            try:
                relative = path.relative_to(base).as_posix()
            except ValueError:
                continue
            if is_dir:
                relative += "/"
            if any(spec.match_file(relative) for spec in specs):
                return True
        return False


def _is_venv(folder: Path) -> bool:
    return os.path.isfile(folder / "pyvenv.cfg")


def discover(
    paths: Sequence[Path],
    exclude: pathspec.PathSpec | None = None,
    root: Path | None = None,
    notebooks: bool = False,
) -> Discovery:
    """Every ``.py`` file (and ``.ipynb`` with ``notebooks``) under ``paths``; a file named
    explicitly is always included (a notebook only with ``notebooks``).

    ``exclude`` holds gitignore-style patterns relative to ``root``.
    """
    suffixes = (".py", ".ipynb") if notebooks else (".py",)
    result = Discovery()
    seen: set[Path] = set()

    def add(path: Path) -> None:
        real = Path(os.path.realpath(path))
        if real not in seen:
            seen.add(real)
            result.files.append(path)

    def excluded(path: Path, is_dir: bool) -> bool:
        if exclude is None or root is None:
            return False
        try:
            # realpath, not Path.resolve: that raises on a symlink loop
            relative = Path(os.path.realpath(path)).relative_to(os.path.realpath(root)).as_posix()
        except ValueError:
            return False
        return exclude.match_file(relative + "/" if is_dir else relative)

    for given in paths:
        if not os.path.lexists(given):
            result.errors.append((given, "cannot read: no such file or directory"))
        elif os.path.isdir(given):
            _walk(given.absolute(), given, add, excluded, result, suffixes)
        elif notebooks or not given.name.endswith(".ipynb"):
            add(given)
    result.files.sort(key=lambda p: p.as_posix())
    result.errors.sort(key=lambda e: e[0].as_posix())
    return result


def _walk(absolute: Path, shown: Path, add, excluded, result: Discovery, suffixes: tuple[str, ...]) -> None:
    ignores = _Ignores(absolute)

    def on_error(error: OSError) -> None:
        where = Path(error.filename) if error.filename else absolute
        result.errors.append((shown / where.relative_to(absolute), f"cannot read: {error.strerror}"))

    # followlinks=False: a symlinked folder is never entered, so a symlink loop cannot recurse.
    for folder, dirs, files in os.walk(absolute, onerror=on_error, followlinks=False):
        here = Path(folder)
        ignores.enter(here)
        kept = []
        for name in sorted(dirs):
            child = here / name
            if name in SKIP_DIRS or name.endswith(".egg-info") or _is_venv(child):
                continue
            if os.path.islink(child) or ignores.ignored(child, True) or excluded(child, True):
                continue
            kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            child = here / name
            if not name.endswith(suffixes) or ignores.ignored(child, False) or excluded(child, False):
                continue
            add(shown / child.relative_to(absolute))
