"""TF003 on multi-file projects: the evidence that a tensor must stay off the module's device,
or must not follow its dtype, lives in another file or is spelled another way."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchfix.config import Settings
from torchfix.engine import RunOptions, fix_text
from torchfix.rules.tf003_register_buffer import RegisterBuffer
from torchfix.runner import Job, Mode, run

TOKENS = '''\
import torch
from torch import nn


class Tokens(nn.Module):
    def __init__(self, pad_id):
        super().__init__()
        self.pad = torch.tensor([pad_id], dtype=torch.long)

    def merge(self, items):
        width = max(len(i) for i in items)
        return torch.stack([torch.cat([i, self.pad.repeat(width - len(i))]) for i in items])

    def forward(self, x):
        return x
'''


def _findings(root: Path) -> list:
    reports = run([root], Job(Mode.CHECK, Settings(root=root, select=("TF003",), unsafe_fixes=True), jobs=1))
    return [f for report in reports for f in report.findings if f.code == "TF003"]


def _project(root: Path, files: dict[str, str]) -> Path:
    (root / ".git").mkdir()
    for name, text in {"pkg/__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_integer_constant_alone_is_a_safe_fix(tmp_path):
    findings = _findings(_project(tmp_path, {"pkg/tokens.py": TOKENS}))
    assert [(f.fixable, f.applicability.value) for f in findings] == [(True, "safe")]


@pytest.mark.parametrize(
    "script",
    [
        "from torch.utils.data import DataLoader as Loader\n\n\ndef batches(model, data):\n"
        "    return Loader(data, batch_size=8, collate_fn=model.merge)\n",
        "import torch.utils.data as tud\n\n\ndef make(tok, ds):\n    kwargs = dict(collate_fn=tok.merge, shuffle=True)\n"
        "    return tud.DataLoader(ds, **kwargs)\n",
    ],
    ids=["aliased-loader", "kwargs-dict"],
)
def test_collate_fn_in_another_file_keeps_it_on_the_cpu(tmp_path, script):
    findings = _findings(_project(tmp_path, {"pkg/tokens.py": TOKENS, "train.py": script}))
    assert len(findings) == 1 and not findings[0].fixable
    assert "used from `merge`, a DataLoader collate_fn on CPU batches" in findings[0].message


@pytest.mark.parametrize(
    "value, safe",
    [
        ("torch.tensor([0.5, 2.0])", False),
        ("torch.linspace(0, 1, 5)", False),
        ("torch.tensor([1, 2, 3])", True),
        ("torch.arange(7)", True),
        ("(torch.rand(4) > 0.5)", True),
        ("torch.ones(3, 3).triu().bool()", True),
        ("torch.zeros(3).to(torch.int64)", True),
        ("torch.full((2,), 7)", True),
    ],
)
def test_floating_point_constants_are_unsafe_with_the_dtype_assumption(value, safe):
    source = f"import torch\nfrom torch import nn\n\n\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.c = {value}\n\n    def forward(self, x):\n        return x\n"
    outcome = fix_text(source, RunOptions((RegisterBuffer,), frozenset({"TF003"}), {}))
    [finding] = outcome.findings
    assert finding.applicability.value == ("safe" if safe else "unsafe"), finding.message
    if not safe:
        assert "the module is never cast" in finding.message and "follows the module's dtype" in finding.message


def test_frozen_parameters_convert_all_or_none_and_name_both_effects():
    frozen = (
        "import torch\nimport torch.nn as nn\n\n\nclass Stats(nn.Module):\n    def __init__(self, d):\n        super().__init__()\n"
        "        self.mu = nn.Parameter(torch.zeros(d), requires_grad=False)\n"
        "        self.sigma = nn.Parameter(torch.ones(d), requires_grad=False)\n\n"
        "    def forward(self, x):\n        return (x - self.mu) / self.sigma\n"
    )
    outcome = fix_text(frozen, RunOptions((RegisterBuffer,), frozenset({"TF003"}), {}))
    assert [f.fixable for f in outcome.findings] == [True, True]
    for finding in outcome.findings:
        assert "optimizer" in finding.message and "accelerate" in finding.message
    # one of them is filled later through an alias-free helper: neither converts
    filled = frozen.replace("    def forward", "    def load(self, stats):\n        torch.nn.init.zeros_(self.mu)\n        self.sigma.data.copy_(stats)\n\n    def forward")
    outcome = fix_text(filled, RunOptions((RegisterBuffer,), frozenset({"TF003"}), {}))
    assert [f.fixable for f in outcome.findings] == [False, False]
