"""The findings cache: a warm run on an unchanged tree parses nothing.

One JSON file under ``.torchfix_cache/`` at the project root maps a key to a
file's findings (or its syntax error). The key hashes the file's bytes, the
effective per-file options and torchfix's own source files (not just its
version: an editable install or a patched CI image changes the code without
changing the version), so any change to the file, the tool or the settings
misses. JSON, not pickle: a cache directory committed to a repository must
never be able to run code. This module imports nothing heavy: a warm run
never loads LibCST.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import torchfix
from torchfix import __version__
from torchfix.config import Settings
from torchfix.discovery import git_root
from torchfix.findings import Applicability, Finding
from torchfix.package_index import FileFacts

CACHE_DIR = ".torchfix_cache"
_FILE = "findings-v1.json"
#: what each file of a project shows the others (``package_index.FileFacts``), by size and time
_FACTS_FILE = "facts-v1.json"
#: above this many entries, only the current run's entries are kept
_MAX_ENTRIES = 50_000


def cache_root(config_file: Path | None, paths) -> Path:
    """The project root: the config file's folder, else the git root, else the cwd."""
    if config_file is not None:
        return config_file.parent.resolve()
    start = Path(os.path.realpath(paths[0])) if paths else Path.cwd()
    return git_root(start) or Path.cwd().resolve()


@lru_cache(maxsize=None)
def package_digest(folder: Path = Path(torchfix.__file__).parent) -> str:
    """A hash of every ``.py`` file of the torchfix package: its code, whatever its version says.

    Computed once per process (about 1 MB of sources, a few milliseconds).
    """
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def key(data: bytes, codes: Sequence[str], settings: Settings) -> str:
    """The cache key of a file's bytes checked with the rules ``codes`` under ``settings``."""
    digest = hashlib.sha256(package_digest().encode())
    digest.update(repr((settings.max_file_size, settings.max_file_tokens)).encode())
    digest.update(repr((tuple(codes), sorted(settings.unsafe_codes), sorted(settings.rule_settings.items()))).encode())
    digest.update(data)
    return digest.hexdigest()


def _encode(findings: list[Finding], error: str | None) -> dict:
    return {
        "error": error,
        "findings": [
            [f.code, f.slug, f.message, f.line, f.column, f.end_line, f.end_column, f.applicability.value, f.fixable]
            for f in findings
        ],
    }


def _decode(entry: dict) -> tuple[list[Finding], str | None]:
    findings = [
        Finding(code, slug, message, line, column, end_line, end_column, Applicability(applicability), fixable)
        for code, slug, message, line, column, end_line, end_column, applicability, fixable in entry["findings"]
    ]
    return findings, entry["error"]


class Cache:
    """Findings by key, and package facts by file; loaded once (the facts only when a run
    needs a project's index), saved once at the end of a run (atomically)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / CACHE_DIR
        self.old: dict[str, dict] = {}
        self.new: dict[str, dict] = {}
        self._facts: dict[str, dict] | None = None
        self._facts_changed = False
        try:
            data = json.loads((self.folder / _FILE).read_text(encoding="utf-8"))
            if data.get("version") == __version__ and isinstance(data.get("entries"), dict):
                self.old = data["entries"]
        except (OSError, ValueError, AttributeError):
            pass

    def _entry(self, cache_key: str) -> dict | None:
        entry = self.new.get(cache_key) or self.old.get(cache_key)
        return entry if isinstance(entry, dict) else None

    def needs_project(self, cache_key: str) -> bool:
        """Whether the file's findings are cached under a key that also holds its project
        (``put(key, None, None)`` marked it): those rules read other files."""
        entry = self._entry(cache_key)
        if entry is None or not entry.get("project"):
            return False
        self.new[cache_key] = entry
        return True

    def get(self, cache_key: str) -> tuple[list[Finding], str | None] | None:
        entry = self._entry(cache_key)
        if entry is None or entry.get("project"):
            return None
        try:
            result = _decode(entry)
        except (KeyError, TypeError, ValueError):
            return None
        self.new[cache_key] = entry
        return result

    def put(self, cache_key: str, findings: list[Finding] | None, error: str | None) -> None:
        """Findings None: see :meth:`needs_project`."""
        self.new[cache_key] = {"project": True} if findings is None else _encode(findings, error)

    def _project(self, root: Path) -> str:
        try:
            return root.relative_to(self.root).as_posix()
        except ValueError:
            return root.as_posix()

    def stored_facts(self, root: Path) -> dict[str, tuple[int, int, FileFacts]]:
        """The package facts a previous run stored for the project at ``root``: relative
        path -> (size, modification time in ns, facts)."""
        if self._facts is None:
            self._facts = {}
            try:
                data = json.loads((self.folder / _FACTS_FILE).read_text(encoding="utf-8"))
                if data.get("digest") == package_digest() and isinstance(data.get("projects"), dict):
                    self._facts = data["projects"]
            except (OSError, ValueError, AttributeError):
                pass
        stored = {}
        for relative, entry in self._facts.get(self._project(root), {}).items():
            try:
                size, mtime, facts = entry
                stored[relative] = (size, mtime, FileFacts.from_json(facts))
            except (AttributeError, TypeError, ValueError):
                continue  # unreadable: that file is read again
        return stored

    def store_facts(self, root: Path, facts: dict[str, tuple[int, int, FileFacts]]) -> None:
        """Replace the project's stored facts (saved by :meth:`save`)."""
        if self._facts is None:
            self.stored_facts(root)
        assert self._facts is not None
        self._facts[self._project(root)] = {
            relative: [size, mtime, file_facts.to_json()]
            for relative, (size, mtime, file_facts) in sorted(facts.items())
        }
        self._facts_changed = True

    def save(self) -> None:
        entries = {**self.old, **self.new}
        if len(entries) > _MAX_ENTRIES:
            entries = self.new
        try:
            self.folder.mkdir(exist_ok=True)
            ignore = self.folder / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# Created by torchfix.\n*\n")
            _write_json(self.folder / _FILE, {"version": __version__, "entries": entries})
            if self._facts_changed:
                _write_json(self.folder / _FACTS_FILE, {"digest": package_digest(), "projects": self._facts})
        except OSError:
            pass  # a read-only checkout still gets its findings, just no cache


def _write_json(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file, then a rename)."""
    handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, separators=(",", ":"))
        os.replace(temp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def clean(root: Path) -> bool:
    """Remove the cache folder; whether there was one."""
    folder = root / CACHE_DIR
    if not folder.is_dir():
        return False
    shutil.rmtree(folder)
    return True
