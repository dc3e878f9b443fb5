"""What a run produces per file, the common input of every reporter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from torchfix.findings import Finding

if TYPE_CHECKING:
    from torchfix.engine import AppliedFix


@dataclass
class FileReport:
    """One file's outcome.

    ``findings`` are the findings reported for the file: in ``check`` those of the
    file as it is; in ``apply`` those that remain after the fixes (``fixed`` lists
    what was fixed). ``error`` is the one-line reason a file could not be read,
    parsed or written (the run goes on). ``source`` is the text the findings refer
    to; ``previews`` pairs each fixable finding with the text after that fix alone
    (filled only for reporters that show fixes, such as SARIF). ``bug`` is set
    when a fix produced invalid code (a torchfix bug naming the rule); the file is
    then left untouched.
    """

    path: str
    findings: list[Finding] = field(default_factory=list)
    fixed: list[AppliedFix] = field(default_factory=list)
    error: str | None = None
    bug: str | None = None
    source: str | None = None
    previews: list[tuple[Finding, str]] | None = None
    #: in apply and dry-run, the text before the fixes (``source`` is the fixed text)
    original: str | None = None
    #: whether fixes changed the text (written, or would be in a dry run)
    changed: bool = False
    #: a notebook's findings positioned in its JSON text (SARIF regions, GitHub annotations)
    raw_spans: dict[Finding, RawSpan] | None = None
    #: a notebook's changed cells: (cell number, code before, code after), for diffs
    changed_cells: list[tuple[int, str, str]] | None = None


@dataclass(frozen=True)
class RawSpan:
    """Where a finding lies in the file's raw text: offsets, 1-based lines and character columns."""

    start: int
    end: int
    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def of(cls, text: str, start: int, end: int) -> RawSpan:
        def position(offset: int) -> tuple[int, int]:
            return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)

        return cls(start, end, *position(start), *position(end))
