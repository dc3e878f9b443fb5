"""Every rule's own examples: before gives after, after is a fixed point, VALID finds nothing."""

from __future__ import annotations

import ast

import pytest

from torchfix.engine import RunOptions, check_text, fix_text
from torchfix.prefilter import MATCHERS, facts_of
from torchfix.rule import Applicability, Example
from torchfix.rules import all_rules

RULES = all_rules()


def _options(rule, example: Example | None = None, unsafe: bool = True) -> RunOptions:
    settings = dict(example.settings) if example is not None else {}
    return RunOptions((rule,), frozenset({rule.CODE}) if unsafe else frozenset(), settings)


def _cases(kind):
    for rule in RULES:
        items = rule.EXAMPLES if kind == "examples" else rule.VALID
        for index, item in enumerate(items):
            yield pytest.param(rule, item, id=f"{rule.CODE}-{kind}-{index}")


@pytest.mark.parametrize("rule, example", list(_cases("examples")))
def test_example(rule, example: Example):
    unsafe = example.applicability is Applicability.UNSAFE
    outcome = fix_text(example.before, _options(rule, example, unsafe=unsafe))
    assert outcome.bug is None
    own = [f for f in outcome.findings if f.code == rule.CODE]
    assert len(own) == example.findings, [f.message for f in own]
    for finding in own:
        assert example.message in finding.message
    if example.after is None:
        assert example.message, "a report-only example names the reason it expects (message=...)"
        assert outcome.text == example.before, "a report-only example was changed"
        assert all(not f.fixable for f in own)
        assert all("; no fix: " in f.message for f in own), "a report-only finding states why it has no fix"
        return
    assert outcome.text == example.after
    again = fix_text(example.after, _options(rule, example, unsafe=unsafe))
    assert again.text == example.after, "the fixed code is not a fixed point"
    if unsafe:
        safe_only = fix_text(example.before, _options(rule, example, unsafe=False))
        assert safe_only.text != example.after, "an unsafe fix was applied without --unsafe-fixes"


@pytest.mark.parametrize("rule, valid", list(_cases("valid")))
def test_valid(rule, valid):
    findings = check_text(valid.code, _options(rule))
    assert [f for f in findings if f.code == rule.CODE] == [], valid.why


@pytest.mark.parametrize("rule", RULES, ids=[r.CODE for r in RULES])
def test_every_row_has_an_example(rule):
    shown = {example.row for example in rule.EXAMPLES}
    assert set(rule.ROWS) <= shown, f"rows without an example: {sorted(set(rule.ROWS) - shown)}"
    assert shown <= set(rule.ROWS), f"examples naming unknown rows: {sorted(shown - set(rule.ROWS))}"


@pytest.mark.parametrize("rule", RULES, ids=[r.CODE for r in RULES])
def test_rule_metadata(rule):
    assert rule.CODE.startswith("TF") and rule.SLUG and rule.SUMMARY and rule.DOCS and rule.IDIOM
    assert rule.FIX_SAFETY in {"safe", "unsafe", "none", "safe/unsafe"}
    assert rule.CODE in MATCHERS, "a rule declares what its matches need (the prefilter)"
    fixing = [e for e in rule.EXAMPLES if e.after is not None]
    near_misses = [e for e in rule.EXAMPLES if e.after is None] + list(rule.VALID)
    assert len(fixing) >= 10, "at least 10 before/after examples"
    assert len(near_misses) >= 6, "at least 6 VALID or report-only examples"


@pytest.mark.parametrize("rule, example", list(_cases("examples")))
def test_prefilter_keeps_example(rule, example):
    assert rule.may_match(facts_of(ast.parse(example.before))), "the prefilter would skip this example"
