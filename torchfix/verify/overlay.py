"""An import overlay: serve some modules' source from memory instead of disk.

The verifier's subprocesses import the user's package normally, except for the
files in the overlay, whose text (rewritten, or read from a git revision) is
compiled in place of the file's: relative imports, packages and sibling modules
work as usual because the module spec (name, origin, search locations) is the
one the normal path finder found. Nothing is copied and nothing is written: the
subprocesses also run with bytecode writing off.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import linecache
import os
import sys
from typing import Mapping


class OverlayLoader(importlib.abc.Loader):
    """Executes a module from a source text held in memory."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        code = compile(self.text, self.path, "exec", dont_inherit=True)
        exec(code, module.__dict__)

    def get_source(self, fullname: str) -> str:
        return self.text


class OverlayFinder(importlib.abc.MetaPathFinder):
    """Finds modules as the path finder does, then swaps in the overlay's text."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = {os.path.realpath(path): text for path, text in sources.items()}

    def find_spec(self, fullname, path=None, target=None):
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not spec.origin or not spec.has_location:
            return None
        text = self.sources.get(os.path.realpath(spec.origin))
        if text is None:
            return None
        return importlib.util.spec_from_file_location(
            fullname,
            spec.origin,
            loader=OverlayLoader(spec.origin, text),
            submodule_search_locations=spec.submodule_search_locations,
        )


def install(sources: Mapping[str, str]) -> OverlayFinder:
    """Put an overlay first on ``sys.meta_path``; tracebacks and ``inspect`` see its text."""
    finder = OverlayFinder(sources)
    for path, text in finder.sources.items():
        # mtime None: linecache never re-reads the (different) file on disk
        linecache.cache[path] = (len(text), None, text.splitlines(keepends=True), path)
    sys.meta_path.insert(0, finder)
    return finder
