"""Suppression comments: ``# torchfix: ignore[TF008]`` and ``# noqa: TF008`` on a line."""

from __future__ import annotations

import io
import re
import tokenize

_IGNORE = re.compile(r"#\s*torchfix:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)


def _codes(text: str | None) -> frozenset[str]:
    if not text:
        return frozenset()
    return frozenset(c.upper() for c in re.split(r"[\s,]+", text) if c)


def suppressed_codes(source: str) -> dict[int, frozenset[str]]:
    """Line number -> the codes suppressed on it; an empty set suppresses every code.

    A bare ``# noqa`` suppresses everything, as in Ruff and flake8. A ``noqa`` that
    names only other tools' codes (``# noqa: E501``) suppresses nothing of ours.
    Only real comments count (found with ``tokenize``), never text in strings.
    """
    if "#" not in source:
        return {}
    result: dict[int, frozenset[str]] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return result
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        line = token.start[0]
        match = _IGNORE.search(token.string)
        if match:
            result[line] = _codes(match.group("codes"))
            continue
        match = _NOQA.search(token.string)
        if match:
            codes = _codes(match.group("codes"))
            ours = frozenset(c for c in codes if c.startswith("TF"))
            if not codes or ours:
                result[line] = ours
    return result
