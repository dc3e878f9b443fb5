"""What a run reports, in a module that imports nothing heavy.

A warm ``check`` builds its findings from the cache and prints them; it must
not pay for importing LibCST (a third of a second), so the finding and its
applicability live here, not beside the engine and the rule API that use them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Applicability(str, enum.Enum):
    """How sure a fix is; Ruff's safe/unsafe split."""

    SAFE = "safe"
    UNSAFE = "unsafe"
    #: the finding has no fix (report only)
    NONE = "none"


@dataclass(frozen=True)
class Finding:
    """One reported site, positioned (line 1-based, column 1-based).

    In a notebook, ``cell`` is the 1-based cell and the position is inside it.
    """

    code: str
    slug: str
    message: str
    line: int
    column: int
    end_line: int
    end_column: int
    applicability: Applicability
    fixable: bool
    cell: int | None = None

    @property
    def sort_key(self) -> tuple:
        return (self.cell or 0, self.line, self.column, self.code, self.end_line, self.end_column, self.message)
