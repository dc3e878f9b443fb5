"""The prefilter: the facts one AST walk collects, and that no rule loses a finding to it.

Every rule example is held to it in test_rule_examples, generated programs in
test_fuzz (benchmarks/fuzz.py ``check``), and the corpus here.
"""

from __future__ import annotations

import ast

import pytest

from conftest import CORPUS
from torchfix.engine import RunOptions, check_text
from torchfix.prefilter import facts_of
from torchfix.rules import all_rules, rule_by_key

RULES = all_rules()


def _facts(source: str):
    return facts_of(ast.parse(source))


def _may_match(code: str, source: str) -> bool:
    return rule_by_key(code).may_match(_facts(source))


def test_calls_are_seen_by_their_last_name_and_through_renaming_imports():
    facts = _facts("import torch\nfrom torch import zeros as z\ny = torch.nn.functional.normalize(x)\nz(3)\n")
    assert facts.calls("normalize") and facts.calls("zeros") and not facts.calls("ones")


@pytest.mark.parametrize(
    "source, code, expected",
    [
        ("import torch\ny = torch.zeros(3).to(device)\n", "TF002", True),
        ("import torch\ny = torch.zeros(3)\nz = y.to(device)\n", "TF002", True),  # file-level facts over-approximate
        ("import torch\ny = torch.zeros(3)\n", "TF002", False),
        ("import torch.nn as nn\nclass I(nn.Module):\n    def forward(self, x):\n        'doc'\n        return x\n", "TF004", True),
        ("import torch.nn as nn\nclass I(nn.Module):\n    def forward(self, x):\n        return x + 1\n", "TF004", False),
        ("import torch.nn as nn\nlayer = nn.Sequential()\n", "TF004", True),
        ("import torch.nn as nn\nlayer = nn.Sequential(nn.ReLU())\n", "TF004", False),
        ("f = lambda x: x\n", "TF004", True),
        ("import torch\nd = ((a[:, None] - b) ** 2).sum(-1)\n", "TF005", True),
        ("import torch\nd = ((a - b) ** 2).sum(-1)\n", "TF005", False),
        ("import torch\nx /= x.norm()\n", "TF007", True),
        ("import torch\nx = x * x.norm()\n", "TF007", False),
        ("import torch\ny = x.flatten()[m.flatten()]\n", "TF009", True),
        ("import torch\ny = x.flatten()[m]\n", "TF009", False),
        ("import torch\ny = c * a + (1 - c) * b\n", "TF010", True),
        ("import torch\ny = c * a + (c - 1) * b\n", "TF010", False),
        ("import torch\ny = x.clone()\ny[m] = 0\n", "TF010", True),
        ("from torch.utils.data import Dataset as D\nclass F(D):\n    def __getitem__(self, i): ...\n", "TF001", True),
        ("class F:\n    def __getitem__(self, i): ...\n", "TF001", False),
    ],
)
def test_rule_prefilters(source, code, expected):
    assert _may_match(code, source) is expected


def _corpus_files():
    return sorted(CORPUS.rglob("*.py"))


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_no_corpus_finding_is_lost(path):
    text = path.read_text(encoding="utf-8")
    options = RunOptions(RULES, frozenset(rule.CODE for rule in RULES), {})
    reporting = {finding.code for finding in check_text(text, options)}
    facts = _facts(text)
    assert [code for code in sorted(reporting) if not rule_by_key(code).may_match(facts)] == []
