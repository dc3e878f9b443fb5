"""A rule that raises, as data: what the runner reports as a "torchfix bug" line.

It imports nothing heavy, so that the runner can catch these without importing
the engine (see :mod:`torchfix.findings`).
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass
from typing import Sequence

from torchfix.findings import Finding


def describe_error(error: BaseException) -> tuple[str, str]:
    """The exception in one line and where it was raised (the innermost torchfix frame).

    ``("AttributeError: 'NoneType' object has no attribute 'value'", "tf003_register_buffer.py:412")``
    """
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if f"{os.sep}torchfix{os.sep}" in f.filename] or frames
    where = f"{os.path.basename(ours[-1].filename)}:{ours[-1].lineno}" if ours else "?"
    text = str(error).splitlines()[0] if str(error) else ""
    return (f"{type(error).__name__}: {text}" if text else type(error).__name__), where


@dataclass(frozen=True)
class RuleCrash:
    """A rule that raised while it ran on a file: a torchfix bug, reported like Ruff's panics."""

    code: str
    #: ``AttributeError: 'NoneType' object has no attribute 'value'``
    error: str
    #: the innermost torchfix frame: ``tf003_register_buffer.py:412``
    where: str

    @classmethod
    def of(cls, code: str, error: BaseException) -> "RuleCrash":
        return cls(code, *describe_error(error))

    def __str__(self) -> str:
        return f"rule {self.code} raised {self.error} (at {self.where})"


class RuleCrashed(Exception):
    """Raised by :func:`torchfix.engine.check_text` after the walk when rules crashed; carries the other rules' findings."""

    def __init__(self, findings: list[Finding], crashes: Sequence[RuleCrash]) -> None:
        super().__init__("; ".join(map(str, crashes)))
        self.findings = findings
        self.crashes = list(crashes)
