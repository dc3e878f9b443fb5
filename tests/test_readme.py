"""The README stays true: its rule table and its test command."""

from __future__ import annotations

from conftest import ROOT
from torchfix.docs import README_BEGIN, with_rules_table

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_rule_table_is_current():
    assert README_BEGIN in README
    assert README == with_rules_table(README), "run: python -m torchfix.docs README.md"


def test_ci_runs_the_readme_test_command_exactly():
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    command = ci_lines[-1]
    assert command.endswith("pytest")
    assert f"```sh\n{command}\n```" in README
