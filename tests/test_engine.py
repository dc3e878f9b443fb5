"""The engine's own contract, tested with small rules written here (no torch rule involved).

Overlapping fixes wait for a later pass, the passes stop at ``MAX_PASSES``, a fix the
``accept`` callback vetoes is never applied nor asked about again, and a file LibCST would
not write back byte for byte is refused with one exact message and exit code 2.
"""

from __future__ import annotations

import libcst as cst
import pytest

import torchfix.engine as engine
from torchfix.engine import RunOptions, fix_text
from torchfix.rule import Applicability, Fix, Rule


class _Test(Rule):
    SLUG = IDIOM = SUMMARY = DOCS = "test"
    FIX_SAFETY = "safe"


class RenameF(_Test):
    """``f(...)`` becomes ``g(...)``; the edit keeps the call's (possibly edited) arguments."""

    CODE = "TX1"

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "f":
            edit = {node: lambda updated: updated.with_changes(func=cst.Name("g"))}
            self.report(node, "call g", Fix(Applicability.SAFE, edit))


class ArgumentsOfF(_Test):
    """Each argument of a call to ``f`` becomes ``b``: it overlaps RenameF's fix, and means nothing once f is g."""

    CODE = "TX2"

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "f":
            for argument in node.args:
                self.report(argument.value, "pass b", Fix(Applicability.SAFE, {argument.value: cst.Name("b")}))


class Increment(_Test):
    """``x = N`` becomes ``x = N + 1``, forever: only MAX_PASSES stops it."""

    CODE = "TX3"

    def visit_Integer(self, node: cst.Integer) -> None:
        self.report(node, "increment", Fix(Applicability.SAFE, {node: cst.Integer(str(int(node.value) + 1))}))


def _options(*rules: type[Rule]) -> RunOptions:
    return RunOptions(rules)


def _applied(outcome) -> list[tuple[str, int]]:
    return [(a.finding.code, a.finding.line) for a in outcome.applied]


def test_overlapping_fixes_wait_for_the_next_pass():
    """TX1 starts first and wins pass 1; TX2's fix overlaps it and, in pass 2, no longer applies."""
    outcome = fix_text("y = f(a)\nz = f(c)\n", _options(RenameF, ArgumentsOfF))
    assert [f.code for f in outcome.findings] == ["TX1", "TX2", "TX1", "TX2"]
    assert outcome.text == "y = g(a)\nz = g(c)\n"
    assert _applied(outcome) == [("TX1", 1), ("TX1", 2)]
    assert outcome.remaining == []


def test_a_fix_that_does_not_overlap_applies_in_the_same_pass():
    outcome = fix_text("y = f(a)\nz = h(f)\n", _options(RenameF, ArgumentsOfF))
    assert outcome.text == "y = g(a)\nz = h(f)\n" and _applied(outcome) == [("TX1", 1)]


def test_passes_stop_at_max_passes(monkeypatch):
    outcome = fix_text("x = 0\n", _options(Increment))
    assert engine.MAX_PASSES == 10
    assert outcome.text == "x = 10\n"
    assert len(outcome.applied) == 10
    assert [(f.code, f.message) for f in outcome.remaining] == [("TX3", "increment")]
    monkeypatch.setattr(engine, "MAX_PASSES", 3)
    assert fix_text("x = 0\n", _options(Increment)).text == "x = 3\n"


class Idle(_Test):
    """A fix that writes what is there: the passes stop, nothing counts as applied."""

    CODE = "TX4"

    def visit_Name(self, node: cst.Name) -> None:
        self.report(node, "idle", Fix(Applicability.SAFE, {node: cst.Name(node.value)}))


def test_passes_stop_when_the_text_stops_changing():
    outcome = fix_text("y = a\n", _options(Idle))
    assert outcome.text == "y = a\n" and outcome.applied == []
    assert [f.code for f in outcome.remaining] == ["TX4", "TX4"]


def test_accept_vetoes_a_fix_once_and_for_all():
    asked = []

    def accept(finding, fix, preview):
        before, after = preview()
        asked.append((finding.code, finding.line, before, after))
        return finding.line != 1

    text = "y = f(a)\nz = f(c)\n"
    outcome = fix_text(text, _options(RenameF), accept=accept)
    assert asked == [
        ("TX1", 1, text, "y = g(a)\nz = f(c)\n"),
        ("TX1", 2, text, "y = f(a)\nz = g(c)\n"),
    ], "each fix is asked about once, with a preview of it alone"
    assert outcome.text == "y = f(a)\nz = g(c)\n"
    assert _applied(outcome) == [("TX1", 2)]
    assert [(f.code, f.line) for f in outcome.remaining] == [("TX1", 1)]


def test_a_vetoed_fix_lets_an_overlapping_one_apply():
    """Vetoing TX1 on line 1 frees its arguments for TX2 (asked in the same pass)."""
    outcome = fix_text("y = f(a)\n", _options(RenameF, ArgumentsOfF), accept=lambda f, *_: f.code != "TX1")
    assert outcome.text == "y = f(b)\n" and _applied(outcome) == [("TX2", 1)]


_NO_ROUND_TRIP = (
    "not fixed: LibCST would not write this file back byte for byte "
    "(a form feed or a lone CR line end); left unchanged"
)


@pytest.mark.parametrize("text", ["import os\n\x0cy = f(a)\n", "import os\ry = f(a)\r"], ids=["form-feed", "cr"])
def test_a_file_libcst_cannot_round_trip_is_refused(text):
    outcome = fix_text(text, _options(RenameF))
    assert outcome.refused == _NO_ROUND_TRIP
    assert outcome.text == text and outcome.applied == [] and not outcome.changed
    assert [f.code for f in outcome.remaining] == ["TX1"]


def test_the_refusal_on_the_command_line(cli, project):
    path = project / "feed.py"
    raw = b"import torch\n\x0cdef embed(x):\n    return x / x.norm(dim=1, keepdim=True)\n"
    path.write_bytes(raw)
    code, _, err = cli(project, "apply", "--no-cache", ".")
    assert code == 2
    assert err.strip().splitlines() == [f"feed.py: {_NO_ROUND_TRIP}"]
    assert path.read_bytes() == raw

