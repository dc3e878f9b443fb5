"""Whether a narrowed parse (``torchfix.narrowing``) changes what torchfix reports or writes for a
file: ``benchmarks/prefilter.py`` asks it of real trees, ``benchmarks/fuzz.py`` of generated programs."""

from __future__ import annotations

from dataclasses import replace
from typing import Collection

from torchfix.engine import FixOutcome, RunOptions, check_text, fix_text
from torchfix.narrowing import Narrowed


def narrowing_changes(text: str, narrowed: Narrowed, kept: Collection[str], options: RunOptions) -> str | None:
    """``"findings"`` or ``"fixes"`` when ``narrowed`` (``text`` narrowed for the rules ``kept``)
    changes them against the whole file, the rules of ``options`` restricted to ``kept`` as the
    runner does; None when it changes nothing."""
    kept = frozenset(kept)
    checking, fixing = options.restricted(kept), replace(options, kept=kept)
    if check_text(text, checking, narrowed=narrowed) != check_text(text, checking):
        return "findings"
    if _written(fix_text(text, fixing, narrowed=narrowed)) != _written(fix_text(text, fixing)):
        return "fixes"
    return None


def _written(outcome: FixOutcome) -> tuple:
    return outcome.text, outcome.remaining, outcome.bug, outcome.refused
