"""Fuzzing the fixer: every rule, every unsafe fix, on programs nobody wrote by hand.

The checks (benchmarks/fuzz.py ``check``): no exception escapes, no fix is thrown
away as broken, the output parses wherever the input did, and a second run
changes nothing. The short profile is part of the suite; ``-m slow`` runs the
long one, and ``python benchmarks/fuzz.py -n N`` counts any number of programs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hypothesis.strategies as st
import hypothesmith
import libcst as cst
import pytest
from hypothesis import HealthCheck, given, settings

from torchfix.engine import RunOptions
from torchfix.rule import Applicability, Fix, Rule

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import fuzz  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")

#: the same programs on every run, so CI never turns red by chance
SHORT = settings(
    max_examples=40, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
LONG = settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))


def _survives(program: str, options: RunOptions = fuzz.OPTIONS[0]) -> None:
    failure, _ = fuzz.check(program, options)
    assert failure is None, f"{failure}\n--- program:\n{program}"


@settings(SHORT, max_examples=150)
@given(fuzz.spliced(), st.sampled_from(fuzz.OPTIONS))
def test_rule_examples_spliced_into_generated_code(program, options):
    _survives(program, options)


@SHORT
@given(hypothesmith.from_grammar())
def test_programs_from_the_grammar(program):
    _survives(program)


@SHORT
@given(hypothesmith.from_node())
def test_programs_from_libcst_nodes(program):
    _survives(program)


@pytest.mark.parametrize("options", fuzz.OPTIONS, ids=["default", "buffer_persistent"])
def test_every_snippet_with_every_rule_at_once(options):
    """The examples pass rule by rule elsewhere; here all ten rules see each one together."""
    failures = {}
    for snippet in fuzz.SNIPPETS:
        failure, _ = fuzz.check(snippet, options)
        if failure is not None:
            failures[snippet] = failure
    assert not failures, "\n\n".join(f"{failure}\n--- program:\n{program}" for program, failure in failures.items())


@pytest.mark.slow
@LONG
@given(fuzz.programs(), st.sampled_from(fuzz.OPTIONS))
def test_long_profile(program, options):
    _survives(program, options)


# -- the checks catch what they claim to catch ------------------------------------


class _Broken(Rule):
    """Rewrites the target of ``boom = ...`` into a literal: ``1 = ...`` is no Python."""

    CODE, SLUG = "TF901", "broken"

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == "boom":
            self.report(node, "boom", Fix(Applicability.SAFE, edits={node: cst.Integer("1")}))


class _Restless(Rule):
    """Wraps ``again`` in one more call on every run: never a fixed point."""

    CODE, SLUG = "TF902", "restless"

    def visit_Name(self, node: cst.Name) -> None:
        if node.value == "again":
            call = cst.Call(cst.Name("f"), [cst.Arg(node)])
            self.report(node, "again", Fix(Applicability.SAFE, edits={node: call}))


@pytest.mark.parametrize(
    "rule, program, expected",
    [
        (_Broken, "boom = 2\n", "bug: fix produced invalid code: TF901"),
        (_Restless, "x = again\n", "not idempotent: a second run changes the output"),
    ],
)
def test_the_checks_catch_broken_fixes(rule, program, expected):
    failure, _ = fuzz.check(program, RunOptions((rule,), frozenset({rule.CODE})))
    assert failure is not None and failure.startswith(expected), failure
