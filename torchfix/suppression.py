"""Suppression comments: on a line, ``# torchfix: ignore[TF008]`` and ``# noqa: TF008``; for
the whole file, ``# torchfix: noqa`` (or ``# torchfix: noqa: TF007``) in its header comments.

:class:`Suppressions` also remembers which comments suppressed something, so that
``check --show-unused-noqa`` can report those that no longer do (as Ruff's RUF100).
A bare ``# noqa``, or one naming only other tools' codes, is never reported: it
may be there for another linter.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field

from torchfix.findings import Applicability, Finding

_IGNORE = re.compile(r"#\s*torchfix:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_FILE_NOQA = re.compile(r"#\s*torchfix:\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?\s*$", re.IGNORECASE)
#: what every suppression comment holds
_MAYBE = re.compile(r"#\s*(noqa|torchfix:)", re.IGNORECASE)

#: the code and slug under which unused suppression comments are reported
UNUSED_CODE, UNUSED_SLUG = "TF100", "unused-noqa"


def _codes(text: str | None) -> frozenset[str]:
    if not text:
        return frozenset()
    return frozenset(c.upper() for c in re.split(r"[\s,]+", text) if c)


@dataclass
class Comment:
    """One suppression comment: where it is, what it names (empty: every code), what it suppressed."""

    line: int
    column: int
    text: str
    codes: frozenset[str]
    #: a bare `# noqa` (or a `noqa` naming other tools' codes too) may be another linter's
    shared: bool = False
    used: set[str] = field(default_factory=set)

    def covers(self, code: str) -> bool:
        return not self.codes or code in self.codes

    def unused(self) -> str | None:
        """What to say about this comment if it suppresses something that is no longer there."""
        if not self.codes:
            return None if self.used or self.shared else f"`{self.text}` suppresses nothing"
        unused = sorted(self.codes - self.used)
        if not unused:
            return None
        return f"`{self.text}`: {', '.join(unused)} suppressed nothing"


def _tokens(source: str) -> list[tokenize.TokenInfo]:
    """The comments and the code tokens of ``source`` (only real comments, never text in strings);
    none when no text could be a suppression comment (tokenizing costs as much as a parse)."""
    if _MAYBE.search(source) is None:
        return []
    tokens = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type not in (tokenize.NL, tokenize.NEWLINE):
                tokens.append(token)
    except (tokenize.TokenError, SyntaxError):
        pass
    return tokens


class Suppressions:
    """The suppression comments of one source text."""

    def __init__(self, source: str) -> None:
        self.lines: dict[int, Comment] = {}
        self.file: Comment | None = None
        header = True
        for token in _tokens(source):
            if token.type != tokenize.COMMENT:
                header = False
                continue
            line, column = token.start[0], token.start[1] + 1
            match = _FILE_NOQA.search(token.string)
            if match and header:
                self.file = Comment(line, column, token.string.strip(), _codes(match.group("codes")))
                continue
            match = _IGNORE.search(token.string)
            if match:
                self.lines[line] = Comment(line, column, match.group(0), _codes(match.group("codes")))
                continue
            match = _NOQA.search(token.string)
            if match:
                codes = _codes(match.group("codes"))
                ours = frozenset(c for c in codes if c.startswith("TF"))
                if not codes or ours:
                    self.lines[line] = Comment(line, column, match.group(0), ours, shared=not ours or ours != codes)

    def suppresses(self, line: int, code: str) -> bool:
        """Whether a finding of ``code`` on ``line`` is suppressed (and the comment that does it used)."""
        for comment in (self.file, self.lines.get(line)):
            if comment is not None and comment.covers(code):
                comment.used.add(code)
                return True
        return False

    def unused(self) -> list[tuple[Comment, str]]:
        """Each comment that suppressed nothing (or not each code it names), with what to say."""
        comments = [c for c in (self.file, *self.lines.values()) if c is not None]
        return [(c, message) for c in sorted(comments, key=lambda c: c.line) if (message := c.unused())]


def suppressed_codes(source: str) -> dict[int, frozenset[str]]:
    """Line number -> the codes suppressed on it; an empty set suppresses every code.

    A bare ``# noqa`` suppresses everything, as in Ruff and flake8. A ``noqa`` that
    names only other tools' codes (``# noqa: E501``) suppresses nothing of ours.
    Only real comments count (found with ``tokenize``), never text in strings.
    """
    return {line: comment.codes for line, comment in Suppressions(source).lines.items()}


def unused_findings(suppressions: Suppressions) -> list[Finding]:
    """The ``TF100 unused-noqa`` findings of the comments that suppressed nothing (report-only)."""
    return [
        Finding(
            UNUSED_CODE, UNUSED_SLUG, f"Unused suppression: {message}.", comment.line, comment.column,
            comment.line, comment.column + len(comment.text), Applicability.NONE, False,
        )
        for comment, message in suppressions.unused()
    ]
