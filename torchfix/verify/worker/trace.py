"""Which code of the changed files a model check ran: the evidence a fix was exercised.

A profile hook records the qualified name of every function of a watched file
called while a model is built and run forward and backward; the classes of the
model's submodules (and their bases) from watched files count too, for fixes in
a class body. :mod:`torchfix.verify.outcomes` turns this into each fix's verdict.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterable, Iterator

from torch import nn


class Ran:
    """The scopes run so far, per watched file (real paths)."""

    def __init__(self, watch: Iterable[str]) -> None:
        self.watch = {os.path.realpath(path) for path in watch}
        self.scopes: dict[str, set[str]] = {}
        self._paths: dict[str, str | None] = {}

    def _watched(self, filename: str) -> str | None:
        if filename not in self._paths:
            real = os.path.realpath(filename)
            self._paths[filename] = real if real in self.watch else None
        return self._paths[filename]

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Record every watched function called inside the block (nothing when nothing is watched)."""
        if not self.watch:
            yield
            return

        def profile(frame, event, arg) -> None:
            if event == "call":
                path = self._watched(frame.f_code.co_filename)
                if path is not None:
                    self.scopes.setdefault(path, set()).add(frame.f_code.co_qualname)

        previous = sys.getprofile()
        sys.setprofile(profile)
        try:
            yield
        finally:
            sys.setprofile(previous)

    def add_classes(self, model: nn.Module) -> None:
        """The classes (and base classes) of every submodule that a watched file defines."""
        for cls in {type(module) for module in model.modules()}:
            for base in cls.__mro__:
                module = sys.modules.get(base.__module__)
                path = self._watched(getattr(module, "__file__", None) or "") if module else None
                if path is not None:
                    self.scopes.setdefault(path, set()).add(base.__qualname__)

    def as_dict(self) -> dict[str, list[str]]:
        return {path: sorted(names) for path, names in sorted(self.scopes.items())}
