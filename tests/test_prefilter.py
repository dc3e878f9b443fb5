"""The prefilter: the facts one AST walk collects, and that no rule loses a finding to it.

Every rule example is held to it in test_rule_examples, generated programs in
test_fuzz (benchmarks/fuzz.py ``check``), and the corpus here.
"""

from __future__ import annotations

import ast

import pytest

from conftest import CORPUS
from torchfix.engine import RunOptions, check_text
from torchfix import prefilter
from torchfix.prefilter import facts_of
from torchfix.rules import all_rules, rule_by_key

RULES = all_rules()


def _facts(source: str):
    return facts_of(ast.parse(source))


def _may_match(code: str, source: str) -> bool:
    return rule_by_key(code).may_match(_facts(source))


def test_calls_are_seen_by_their_last_name_and_through_renaming_imports():
    facts = _facts("import torch\nfrom torch import zeros as z\ny = torch.nn.functional.normalize(x)\nz(3)\n")
    assert facts.calls_any("normalize") and facts.calls_any("zeros") and not facts.calls_any("ones")


_LAYERS = "import torch.nn as nn\nclass A(nn.Module):\n    def __init__(self, d):\n        super().__init__()\n"
_QK = "        self.q = nn.Linear(d, d)\n        self.k = nn.Linear(2 * d, d)\n"
_HEADS = "        self.heads = nn.ModuleList([nn.Linear(d, 1) for _ in range(3)])\n"
_BUFFER = "        self.register_buffer('pe', torch.zeros(9))\n"
_FOLDERS = """\
import os
from os import listdir as entries
from torch.utils.data import Dataset as D
class F(D):
    def __init__(self, root):
        self.classes = sorted(os.listdir(root))
        self.samples = [(os.path.join(root, c, f), i) for i, c in enumerate(self.classes) for f in os.listdir(os.path.join(root, c))]
    def __getitem__(self, i):
        return self.samples[i]
"""


@pytest.mark.parametrize(
    "source, code, expected",
    [
        ("import torch\ny = torch.zeros(3).to(device)\n", "TF002", True),
        ("import torch\ny = torch.arange(3).view(-1, 1).float().cuda()\n", "TF002", True),
        ("import torch\ny = torch.arange(3).sum().cuda()\n", "TF002", False),
        ("from torch import zeros as z\ny = z(3).to(device)\n", "TF002", True),
        ("import torch\ny = torch.zeros(3)\nz = y.to(device)\n", "TF002", False),  # not the receiver
        ("import torch\ny = torch.zeros(3).to(torch.float16)\n", "TF002", False),  # a cast
        ("import torch\ny = torch.zeros(3).to(t)\n", "TF002", False),  # t may be a tensor
        ("import torch\ny = torch.zeros(3, generator=g).to(device)\n", "TF002", False),
        ("import torch\ny = torch.zeros(x.shape, dtype=x.dtype, device=x.device)\n", "TF002", True),
        ("import torch\ny = torch.zeros(x.size(), dtype=torch.half, device=x.device)\n", "TF002", True),
        ("import torch\ny = torch.zeros(x.shape, device=x.device)\n", "TF002", False),  # *_like would take x's dtype
        ("import torch\ny = torch.zeros(x.shape, dtype=x.dtype, device=y.device)\n", "TF002", False),
        # a cast moved into the constructor only where creating in the dtype gives the cast's values
        ("import torch\ny = torch.tensor(cfg.mean).to(x.device, x.dtype)\n", "TF002", False),
        ("import torch\ny = torch.tensor(cfg.mean).view(1, -1).to(x.device, dtype=torch.long)\n", "TF002", False),
        ("import torch\ny = torch.tensor([1, 2]).to(device, dtype=torch.long)\n", "TF002", True),
        ("import torch\ny = torch.tensor(ids).to(device, torch.long)\n", "TF002", False),
        ("import torch\ny = torch.arange(n).to(device, torch.int64)\n", "TF002", True),
        ("import torch\ny = torch.zeros(3).to(device, x.dtype)\n", "TF002", True),
        ("import torch\ny = torch.randn(3).to(device, x.dtype)\n", "TF002", True),
        ("import torch\ny = torch.full((3,), -1).to(device, torch.float16)\n", "TF002", True),
        ("import torch\ny = torch.full((3,), 0.5).to(device, torch.float16)\n", "TF002", False),
        ("import torch\ny = torch.linspace(0, 1, 5).to(device, torch.float16)\n", "TF002", False),
        ("import torch\ny = torch.tensor(cfg.mean).to(device, None)\n", "TF002", True),
        ("import torch\ny = torch.zeros(x.shape, dtype=x.dtype)\n", "TF002", False),
        ("import torch\ny = torch.zeros(3)\n", "TF002", False),
        (_LAYERS + "        self.s = torch.tensor([0.5]).float()\n", "TF003", True),
        (_LAYERS + "        t = torch.ones(3)\n        self.s = t * 2\n", "TF003", True),
        (_LAYERS + "        self.p = nn.Parameter(torch.zeros(3), requires_grad=False)\n", "TF003", True),
        (_LAYERS + "        self.p = nn.Parameter(data, False)\n", "TF003", True),
        (_LAYERS + "        self.p = nn.Parameter(torch.zeros(3))\n", "TF003", False),
        # a registered buffer moved by hand: only a pure device move is redundant
        (_LAYERS + _BUFFER + "    def forward(self, x):\n        return x + self.pe.to(x.device)\n", "TF003", True),
        (_LAYERS + _BUFFER + "    def forward(self, x):\n        return x + self.pe[:3].cuda()\n", "TF003", True),
        (_LAYERS + _BUFFER + "    def forward(self, x, device):\n        return self.pe.to(device=device)\n", "TF003", True),
        (_LAYERS + _BUFFER + "    def forward(self, x):\n        return x + self.pe.to(x)\n", "TF003", False),
        (_LAYERS + _BUFFER + "    def forward(self, x):\n        return self.pe.to(x.device, x.dtype)\n", "TF003", False),
        (_LAYERS + _BUFFER + "    def forward(self, x):\n        return x + self.pe.cuda(0)\n", "TF003", False),
        # only a class that may be an nn.Module (as the rule asks): not a scheduler or a config
        (_LAYERS.replace("nn.Module", "SchedulerMixin, ConfigMixin") + "        self.s = torch.ones(3)\n", "TF003", False),
        (_LAYERS.replace("(nn.Module)", "") + "        self.s = torch.ones(3)\n", "TF003", False),
        (_LAYERS.replace("nn.Module", "ModelMixin") + "        self.s = torch.ones(3)\n", "TF003", True),
        ("from torch.nn import Module as M\n" + _LAYERS.replace("nn.Module", "M") + "        self.s = torch.ones(3)\n",
         "TF003", True),
        ("from .base import Block as BaseModule\n" + _LAYERS.replace("nn.Module", "BaseModule")
         + "        self.s = torch.ones(3)\n", "TF003", True),
        ("class C(B): pass\nclass B(nn.Module): pass\n" + _LAYERS.replace("nn.Module", "C")
         + "        self.s = torch.ones(3)\n", "TF003", True),
        (_LAYERS.replace("nn.Module", "Config") + _QK + "    def forward(self, x):\n        return self.q(x), self.k(x)\n",
         "TF008", False),
        (_LAYERS + "        self.p = nn.Parameter(torch.zeros(3), requires_grad=True)\n", "TF003", False),
        ("import torch\nclass A:\n    def __init__(self):\n        self.s = torch.ones(3)\n", "TF003", False),
        (_LAYERS + _BUFFER + "    def forward(self, x):\n        return x + self.pe[:4].to(x.device)\n", "TF003", True),
        (_LAYERS + _BUFFER + "    def forward(self, x):\n        return x + self.pe[:4]\n", "TF003", False),
        (_LAYERS + "        self.n = len(torch.zeros(3))\n", "TF003", False),
        ("import torch.nn as nn\nclass I(nn.Module):\n    def forward(self, x):\n        'doc'\n        return x\n", "TF004", True),
        ("import torch.nn as nn\nclass I(nn.Module):\n    def forward(self, x):\n        return x + 1\n", "TF004", False),
        (_LAYERS + "        self.layer = nn.Sequential()\n", "TF004", True),
        (_LAYERS + "        self.layer = nn.Sequential()\n        self.layer.add_module('a', x)\n", "TF004", False),
        ("import torch.nn as nn\nlayer = nn.Sequential(nn.ReLU())\n", "TF004", False),
        ("import torch.nn as nn\nlayer = nn.Sequential()\n", "TF004", False),  # not a layer attribute
        ("import torch.nn as nn\nlayer = Block(act=lambda x: x)\n", "TF004", True),
        ("f = lambda x: x\n", "TF004", False),
        ("import torch\nd = ((a[:, None] - b) ** 2).sum(-1)\n", "TF005", True),
        ("import torch\nd = torch.norm(a.unsqueeze(1) - b, dim=2)\n", "TF005", True),
        ("import torch\nd = ((a - b) ** 2).sum(-1)\n", "TF005", False),
        ("import torch\nr = c[:, :, None] - c[:, None, :]\n", "TF005", False),  # no norm of it
        ("import torch\nd = torch.sum(torch.square(a.unsqueeze(1) - b), dim=-1).sqrt()\n", "TF005", True),
        ("import torch\nd = (a[:, None] - b[None]).pow(2).sum(2)\n", "TF005", True),
        ("import torch\nr = (c[:, :, None] - c[:, None, :]).abs()\n", "TF005", False),  # no sum of it
        ("import torch\nr = (c[:, :, None] - c[:, None, :]).abs().sum(-1)\n", "TF005", False),  # not squared
        ("import torch\nd = ((a[:, None] - b) ** 2).mean(-1)\n", "TF005", False),  # not a sum
        ("import torch\nd = aa + bb - 2 * torch.einsum('nd,md->nm', a, b)\n", "TF005", True),
        ("import torch\nd = torch.einsum('nd,md->nm', a, b) - bias\n", "TF005", False),
        ("import torch\ns = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))\n", "TF006", True),
        ("import torch\ns = (a * b).sum(1) / n\n", "TF006", False),
        ("import torch\nx /= x.norm()\n", "TF007", True),
        ("import torch\ny = x.div(torch.linalg.vector_norm(x, dim=1, keepdim=True))\n", "TF007", True),
        ("import torch\nx = x * x.norm()\n", "TF007", False),
        ("import math\ny = x / math.sqrt((x ** 2).sum())\n", "TF007", False),  # not a tensor's norm
        # an import the rules' name table does not read (in a function, a loop) makes no module
        ("import torch\ndef setup():\n    import v\nv = v / v.norm(dim=0)\n", "TF007", True),
        ("import torch\nwhile ready:\n    import v.w\nv = v / v.norm(dim=0)\n", "TF007", True),
        ("import torch\nx = x.norm() / 2\n", "TF007", False),
        ("import torch\ny = x / x.sum(-1, keepdim=True)\n", "TF007", False),
        ("import torch\ny = x / (x ** 2).sum(-1, keepdim=True) ** 0.5\n", "TF007", True),
        (_LAYERS + _QK + "    def forward(self, x):\n        return self.q(x) @ self.k(x)\n", "TF008", True),
        (_LAYERS + _QK + "    def forward(self, x, y):\n        return self.q(x) @ self.k(y)\n", "TF008", False),
        (_LAYERS + _QK + "    def forward(self, x):\n        return self.q(self.k(x))\n", "TF008", False),
        (_LAYERS + _HEADS + "    def forward(self, x):\n        return [h(x) for h in self.heads]\n", "TF008", True),
        (_LAYERS + _HEADS + "    def forward(self, x):\n        return self.heads[0](x)\n", "TF008", False),
        ("import torch\ny = x[mask.nonzero(as_tuple=True)]\n", "TF009", True),
        ("import torch\ny = x[mask.nonzero().squeeze(1)]\n", "TF009", True),
        ("import torch\ny = x.flatten()[m.flatten()]\n", "TF009", True),
        ("import torch\ny = x.flatten()[m]\n", "TF009", False),
        ("import torch\ni = mask.nonzero()\n", "TF009", False),
        ("import torch\nc = x > 0\ny = c * a + (1 - c) * b\n", "TF010", True),
        ("import torch\ny = a * (x > 0).float() + b * (~(x > 0)).float()\n", "TF010", True),
        ("import torch\nm = x.isnan()\ny = torch.mul(m.float(), a) + b * torch.logical_not(m)\n", "TF010", True),
        ("import torch\ny = torch.mul(m.float(), a) + b * torch.logical_not(m)\n", "TF010", False),  # m unknown
        ("import torch\nm = self.alpha\ny = m * a + (1 - m) * b\n", "TF010", False),
        ("import torch\ndef f(c):\n    return c * a + (1 - c) * b\n", "TF010", False),  # a parameter: not a mask
        ("import torch\ny = self.c * a + (1 - self.c) * b\n", "TF010", False),
        ("import torch\nc = x > 0\ny = c * a + (1 - d) * b\n", "TF010", False),
        ("import torch\nc = x > 0\ny = c * a + (c - 1) * b\n", "TF010", False),
        ("import torch\ny = x.clone()\ny[m] = 0\n", "TF010", True),
        # TF010 proves a local by every binding in its own scope (rules/_masks.py): so does its prefilter
        ("import torch\ndef f(x, m):\n    return m * a + (1 - m) * b\n", "TF010", False),  # a parameter
        ("import torch\nm = x > 0\ndef f():\n    return m * a + (1 - m) * b\n", "TF010", False),  # outer scope
        ("import torch\ndef f():\n    m = x > 0\n    return m * a + (1 - m) * b\n", "TF010", True),
        ("import torch\ndef f():\n    m = x > 0\n    m = w\n    return m * a + (1 - m) * b\n", "TF010", False),
        ("import torch\ndef f():\n    m = x > 0\n    m &= y < 1\n    return m * a + (1 - m) * b\n", "TF010", True),
        ("import torch\ndef f():\n    m = x > 0\n    m += 1\n    return m * a + (1 - m) * b\n", "TF010", False),
        ("import torch\ndef f(xs):\n    m = x > 0\n    for m in xs: pass\n    return m * a + (1 - m) * b\n", "TF010", False),
        ("import torch\ndef f():\n    m = x > 0\n    g = lambda a: m * a + (1 - m) * b\n", "TF010", True),
        ("import torch\nm = w\ndef f():\n    m = x > 0\n    return [m * a + (1 - m) * b for a in z]\n", "TF010", True),
        ("import torch\nc = x > 0\nn = [c.sum() for c in (x > 1, w)]\ny = c * a + (~c) * b\n", "TF010", True),
        ("import torch\ndef f(x, m):\n    if m.any():\n        y = x.clone(); y[~m] = 0\n", "TF010", True),
        ("import torch\ny = x.clone()\nn = 1\ny[m] = 0\n", "TF010", False),  # not the next statement
        ("import torch\ny = x.clone()\ny[:, :3] = 0\n", "TF010", False),  # a slice is no mask
        ("import torch\ny = x.clone()\ny[0] = 0\n", "TF010", False),
        ("import torch\ny = x.clone()\ny[m, 1] = 0\n", "TF010", False),
        ("from torch.utils.data import Dataset as D\nclass F(D):\n    def __getitem__(self, i): ...\n", "TF001", False),
        (_FOLDERS, "TF001", True),
        (_FOLDERS.replace("os.listdir", "entries"), "TF001", True),  # through a renaming import
        (_FOLDERS.replace("os.listdir(root)", "self.root.iterdir()"), "TF001", True),
        (_FOLDERS.replace("os.listdir", "sorted"), "TF001", False),  # nothing listed in __init__
        (_FOLDERS.replace("(D)", "(D, Generic)"), "TF001", False),  # not the one base
        (_FOLDERS.replace("def __getitem__", "def get"), "TF001", False),
        ("class F:\n    def __getitem__(self, i): ...\n", "TF001", False),
    ],
)
def test_rule_prefilters(source, code, expected):
    assert _may_match(code, source) is expected
    if not expected:  # what the prefilter turns away, the rule finds nothing in
        rule = rule_by_key(code)
        assert check_text(source, RunOptions((rule,), frozenset({code}), {})) == []


def test_the_prefilters_name_lists_cover_the_rules_own():
    """A rule that learns a new constructor must not be starved by an older list here."""
    from torchfix.rules import tf002_device_at_creation as tf002
    from torchfix.rules._masks import DTYPE_CASTS

    assert tf002._DETERMINISTIC | tf002._ROUNDING | tf002._RANDOM <= prefilter._CREATED
    assert tf002._BETWEEN <= prefilter._BETWEEN
    assert tf002._KEYWORDS <= prefilter._CONSTRUCTOR_KEYWORDS and tf002._DEVICE_WORDS <= prefilter._DEVICE_WORDS
    assert set(tf002._LIKE) <= prefilter._WITH_LIKE
    assert DTYPE_CASTS <= prefilter._CASTS


def _corpus_files():
    return sorted(CORPUS.rglob("*.py"))


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_no_corpus_finding_is_lost(path):
    text = path.read_text(encoding="utf-8")
    options = RunOptions(RULES, frozenset(rule.CODE for rule in RULES), {})
    reporting = {finding.code for finding in check_text(text, options)}
    facts = _facts(text)
    assert [code for code in sorted(reporting) if not rule_by_key(code).may_match(facts)] == []
