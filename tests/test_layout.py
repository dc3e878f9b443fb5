"""Fixed code in the repository's own style: line length from its config, black's wrapping,
isort's import placement, no redundant parentheses, no doubled blank lines."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import libcst as cst
import pytest

from torchfix.engine import RunOptions, fix_text
from torchfix.imports import add_imports
from torchfix.layout import DEFAULT_LINE_LENGTH, Style, style_for, wrap_long_lines
from torchfix.names import ImportRequest
from torchfix.rules import rule_by_key

# -- the line length, from the linters' configuration -----------------------------------------


@pytest.mark.parametrize(
    "name, text, length",
    [
        ("pyproject.toml", "[tool.ruff]\nline-length = 120\n", 120),
        (
            "pyproject.toml",
            "[tool.ruff]\nline-length = 120\n[tool.ruff.lint.pycodestyle]\nmax-line-length = 130\n",
            130,
        ),
        ("pyproject.toml", "[tool.black]\nline-length = 100\n", 100),
        ("pyproject.toml", "[tool.isort]\nprofile = 'black'\nline_length = 99\n", 99),
        ("ruff.toml", "line-length = 110\n", 110),
        ("setup.cfg", "[flake8]\nmax-line-length = 119\n", 119),
        ("tox.ini", "[flake8]\nmax-line-length = 127\n", 127),
        (".flake8", "[flake8]\nmax-line-length = 79\n", 79),
        ("setup.cfg", "[isort]\nline_length = 101\n", 101),
        ("setup.cfg", "[metadata]\nname = x\n", DEFAULT_LINE_LENGTH),
        ("pyproject.toml", "[tool.ruff\nbroken", DEFAULT_LINE_LENGTH),
    ],
)
def test_line_length_is_read_from_the_linters_config(tmp_path, name, text, length):
    (tmp_path / name).write_text(text)
    (tmp_path / "pkg").mkdir()
    assert style_for(tmp_path / "pkg").line_length == length


def test_the_nearest_config_wins_and_ruff_wins_over_flake8(tmp_path):
    (tmp_path / "setup.cfg").write_text("[flake8]\nmax-line-length = 100\n")
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 90\n")
    inner = tmp_path / "sub"
    inner.mkdir()
    (inner / ".flake8").write_text("[flake8]\nmax-line-length = 70\n")
    assert style_for(tmp_path).line_length == 90
    assert style_for(inner).line_length == 70


def test_isort_force_sort_within_sections_is_read(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.ruff.lint.isort]\nforce-sort-within-sections = true\n")
    assert style_for(tmp_path).force_sort_within_sections
    (tmp_path / "pyproject.toml").write_text("[tool.isort]\nprofile = 'google'\n")
    style_for.cache_clear()
    assert style_for(tmp_path).force_sort_within_sections


# -- wrapping as black does -----------------------------------------------------------------

# Each case: a statement longer than 88 characters, and black 26's output for it.
_BLACK = [
    (
        "        return torch.cdist(query_embeddings_long_name, key_embeddings_long_name_here_too, p=1)\n",
        "        return torch.cdist(\n            query_embeddings_long_name, key_embeddings_long_name_here_too, p=1\n        )\n",
    ),
    (
        '        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)\n',
        '        self.register_buffer(\n            "mean",\n            torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1),\n'
        "            persistent=False,\n        )\n",
    ),
    (
        "        y = F.normalize(some_long_tensor_name_here, dim=-1) @ F.normalize(other_long_tensor_name, dim=-1).T\n",
        "        y = (\n            F.normalize(some_long_tensor_name_here, dim=-1)\n"
        "            @ F.normalize(other_long_tensor_name, dim=-1).T\n        )\n",
    ),
    (
        "        z = torch.zeros(x.size(), device=x.device).view(-1, 1234567890, 1234567890, 1234567890, 99)\n",
        "        z = torch.zeros(x.size(), device=x.device).view(\n            -1, 1234567890, 1234567890, 1234567890, 99\n        )\n",
    ),
    (
        "        self.sizes = [n_heads * self.head_dim, n_kv_heads * self.head_dim, n_kv_heads * self.head_dim + 1]\n",
        "        self.sizes = [\n            n_heads * self.head_dim,\n            n_kv_heads * self.head_dim,\n"
        "            n_kv_heads * self.head_dim + 1,\n        ]\n",
    ),
    (
        "        sim = (F.normalize(x, dim=-1, eps=1e-8) @ F.normalize(y, dim=-1, eps=1e-8).T).max(dim=1).values / 0.1\n",
        "        sim = (\n            F.normalize(x, dim=-1, eps=1e-8) @ F.normalize(y, dim=-1, eps=1e-8).T\n"
        "        ).max(dim=1).values / 0.1\n",
    ),
    (
        "        positions = torch.arange(features_of_the_batch.shape[0], device=device_of_the_model).view(-1, 1)\n",
        "        positions = torch.arange(\n            features_of_the_batch.shape[0], device=device_of_the_model\n"
        "        ).view(-1, 1)\n",
    ),
    (
        "        loc_prompt_mask = torch.ones(loc_prompt.shape[:-1], device=loc_prompt_and_more.device).long()\n",
        "        loc_prompt_mask = torch.ones(\n            loc_prompt.shape[:-1], device=loc_prompt_and_more.device\n"
        "        ).long()\n",
    ),
    (
        "        loss = criterion(F.normalize(x, dim=0), targets_with_a_very_long_name)  # the contrastive part\n",
        "        loss = criterion(\n            F.normalize(x, dim=0), targets_with_a_very_long_name\n        )  # the contrastive part\n",
    ),
]


def _statement_values(module: cst.Module) -> list[cst.CSTNode]:
    values = []

    class Values(cst.CSTVisitor):
        def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
            values.append(getattr(node.body[0], "value", node))

    module.visit(Values())
    return values


@pytest.mark.parametrize("line, black", _BLACK)
def test_a_long_new_line_is_wrapped_as_black_wraps_it(line, black):
    head = "class A:\n    def f(self):\n"
    module = cst.parse_module(head + line)
    assert wrap_long_lines(module, _statement_values(module), 88) == head + black


def test_only_lines_holding_an_edit_are_wrapped_and_split_lines_stay_split():
    source = textwrap.dedent(
        """\
        def f(x):
            untouched = some_function_with_a_long_name(argument_number_one, argument_number_two, three)
            y = dict(
                a=torch.zeros(x.size(), device=x.device, dtype=torch.float64).view(-1, 1234567890, 99999),
            )
        """
    )
    module = cst.parse_module(source)
    call = module.body[0].body.body[1].body[0].value.args[0].value
    wrapped = wrap_long_lines(module, [call], 88)
    assert wrapped.splitlines()[1] == source.splitlines()[1]
    assert wrapped.splitlines()[3] == "        a=torch.zeros(x.size(), device=x.device, dtype=torch.float64).view("
    assert max(len(line) for line in wrapped.splitlines()[2:]) <= 88


def test_an_edit_that_writes_no_long_line_measures_nothing(monkeypatch):
    """With the code before the edits, a module whose long lines were all there before is
    returned as it is, without positions (a long line of the file is no new long line)."""
    before = "x = some_function_with_a_long_name(argument_number_one, argument_number_two, argument_three)\ny = 1\n"
    module = cst.parse_module(before.replace("y = 1", "y = 2"))
    edited = [module.body[1].body[0].value]
    monkeypatch.setattr("torchfix.layout._Wrapper", None)  # measuring would fail
    assert wrap_long_lines(module, edited, 88, before=lambda: before) == module.code
    grown = cst.parse_module(before + "z = " + "w" * 90 + "\n")
    with pytest.raises(TypeError):
        wrap_long_lines(grown, [grown.body[2].body[0].value], 88, before=lambda: before)


def _fix(code: str, source: str, style: Style = Style()) -> str:
    rule = rule_by_key(code)
    return fix_text(source, RunOptions((rule,), frozenset({code}), style=style)).text


def test_fixes_wrap_at_the_configured_length():
    source = "import torch\n\n\ndef f(tensor_with_a_long_name):\n    return tensor_with_a_long_name / tensor_with_a_long_name.norm(dim=-1, keepdim=True)\n"
    assert "F.normalize(tensor_with_a_long_name, dim=-1)\n" in _fix("TF007", source, Style(line_length=100))
    narrow = _fix("TF007", source, Style(line_length=40))
    assert "    return F.normalize(\n        tensor_with_a_long_name, dim=-1\n    )\n" in narrow


# -- imports where isort puts them ------------------------------------------------------------


@pytest.mark.parametrize(
    "before, request_, after",
    [
        (
            "import os\n\nimport torch\nfrom torch import Tensor\n\nx = 1\n",
            ImportRequest("torch.nn.functional", asname="F"),
            "import os\n\nimport torch\nimport torch.nn.functional as F\nfrom torch import Tensor\n\nx = 1\n",
        ),
        (
            "import numpy as np\nimport torch.nn as nn\nimport torchvision\nfrom torch import Tensor\n",
            ImportRequest("torch.nn.functional", asname="F"),
            "import numpy as np\nimport torch.nn as nn\nimport torch.nn.functional as F\nimport torchvision\nfrom torch import Tensor\n",
        ),
        (
            "import torch\nfrom torch import Tensor\n",
            ImportRequest("torch", name="nn"),
            "import torch\nfrom torch import Tensor, nn\n",
        ),
        (
            "from torch.nn import Linear, Module\n",
            ImportRequest("torch"),
            "import torch\nfrom torch.nn import Linear, Module\n",
        ),
        (
            '"""Doc."""\n\n# third party\nfrom torch.utils.data import Dataset\n',
            ImportRequest("torch"),
            '"""Doc."""\n\nimport torch\n# third party\nfrom torch.utils.data import Dataset\n',
        ),
        (
            '"""Doc."""\n\nimport os\n',
            ImportRequest("torch"),
            '"""Doc."""\n\nimport os\nimport torch\n',
        ),
    ],
)
def test_added_imports_go_where_isort_puts_them(before, request_, after):
    assert add_imports(cst.parse_module(before), [request_]).code == after


def test_force_sort_within_sections_orders_by_module():
    before = "import torch\nfrom torch import Tensor\nimport torchvision\n"
    after = add_imports(
        cst.parse_module(before),
        [ImportRequest("torch.nn.functional", asname="F")],
        Style(force_sort_within_sections=True),
    )
    assert after.code == "import torch\nfrom torch import Tensor\nimport torch.nn.functional as F\nimport torchvision\n"


def test_a_joined_from_import_is_wrapped_when_too_long():
    before = "from torch import Tensor, cat, device, dtype, einsum, float32, float64, long, stack, tensor, zeros\n"
    after = add_imports(cst.parse_module(before), [ImportRequest("torch", name="nn")]).code
    assert (
        after.startswith("from torch import (\n    Tensor,\n    cat,\n")
        and "    nn,\n" in after
        and after.endswith(")\n")
    )


# -- leftovers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source", ["y = (x / x.norm(dim=1, keepdim=True))\n", "return (x / torch.norm(x, dim=1, keepdim=True))\n"]
)
def test_no_redundant_parentheses(source):
    body = textwrap.indent(source, "    ")
    fixed = _fix("TF007", f"import torch\n\n\ndef f(x):\n{body}    return y\n")
    assert "(F.normalize" not in fixed and "F.normalize(x, dim=1)" in fixed


def test_no_double_blank_line_after_a_removed_statement():
    source = "import torch\n\n\ndef f(x, c, v):\n    a = 1\n\n    y = x.clone()\n\n    y[c > 0] = v\n    return y\n"
    fixed = _fix("TF010", source)
    assert "    a = 1\n\n    y = torch.where(c > 0, v, x)\n    return y\n" in fixed


# -- the repository's own linters, before and after apply -----------------------------------

_SAMPLE = textwrap.dedent(
    """\
    import os

    import torch
    from torch import Tensor


    def embed(features_of_the_batch: Tensor, device_of_the_model: torch.device):
        normalized_features = features_of_the_batch / features_of_the_batch.norm(dim=-1, keepdim=True)
        positions = torch.arange(features_of_the_batch.shape[0]).view(-1, 1).to(device_of_the_model)
        return normalized_features, positions, os.sep
    """
)
_CONFIGS = {
    "ruff-100": ("pyproject.toml", "[tool.ruff]\nline-length = 100\n[tool.ruff.lint]\nselect = ['E501', 'I001']\n"),
    "ruff-default": ("pyproject.toml", "[tool.ruff.lint]\nselect = ['E501', 'I001']\n"),
    "ruff-72": ("ruff.toml", "line-length = 72\n[lint]\nselect = ['E501', 'I001']\n"),
    "black-120": ("pyproject.toml", "[tool.black]\nline-length = 120\n[tool.ruff]\nline-length = 120\n"),
    "flake8-79": ("setup.cfg", "[flake8]\nmax-line-length = 79\n"),
}


def _ruff(folder: Path, length: int | None) -> tuple[list[str], int]:
    """``ruff check --select E501,I001`` in the package's own configuration (its length for flake8-only ones):
    the text of each line too long, and the number of unsorted import blocks."""
    command = [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "E501,I001", "--output-format", "json"]
    if length is not None:
        command += ["--line-length", str(length)]
    result = subprocess.run([*command, "."], cwd=folder, capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    findings = json.loads(result.stdout)
    lines = (folder / "model.py").read_text().splitlines()
    long_lines = [lines[f["location"]["row"] - 1] for f in findings if f["code"] == "E501"]
    return long_lines, sum(1 for f in findings if f["code"] == "I001")


@pytest.mark.parametrize("name", sorted(_CONFIGS))
def test_apply_adds_nothing_the_packages_own_linters_report(tmp_path, cli, name):
    pytest.importorskip("ruff")
    config, text = _CONFIGS[name]
    (tmp_path / config).write_text(text)
    (tmp_path / "model.py").write_text(_SAMPLE)
    length = style_for(tmp_path).line_length if config == "setup.cfg" else None
    long_before, unsorted_before = _ruff(tmp_path, length)
    code, out, _ = cli(tmp_path, "apply", "--unsafe-fixes", "--select", "TF002,TF007", "--no-cache", ".")
    assert code == 0, out
    fixed = (tmp_path / "model.py").read_text()
    assert fixed != _SAMPLE and "F.normalize" in fixed and "device=device_of_the_model" in fixed
    long_after, unsorted_after = _ruff(tmp_path, length)
    new = [line for line in long_after if line not in _SAMPLE.splitlines()]
    assert new == [] and unsorted_after <= unsorted_before, f"new linter findings: {new}\n{fixed}"


@pytest.mark.parametrize(
    "before, after",
    [
        (  # a new keyword at the end of a call the user split (yapf's aligned style): its own line
            "        target = torch.tensor([i.is_matched\n"
            "                               for i in data_samples]).to(itm_logits.device)\n",
            "        target = torch.tensor([i.is_matched\n"
            "                               for i in data_samples],\n"
            "                              device=itm_logits.device)\n",
        ),
        (  # a call that became one line inside a split statement: the last bracket split, as black does
            "        return lambda a, b: torch.cosine_similarity(\n            a.unsqueeze(1), b.unsqueeze(0), dim=-1)\n",
            "        return lambda a, b: F.normalize(a, dim=-1, eps=1e-8) @ F.normalize(\n"
            "            b, dim=-1, eps=1e-8\n        ).T\n",
        ),
    ],
)
def test_lines_the_user_split_stay_split_and_fit(before, after):
    head = "import torch\nimport torch.nn.functional as F\n\n\nclass A:\n    def f(self, data_samples, itm_logits):\n"
    style = Style(line_length=79)
    fixed = fix_text(
        head + before, RunOptions(tuple(rule_by_key(c) for c in ("TF002", "TF006")), frozenset({"TF006"}), style=style)
    )
    assert fixed.text == head + after
    assert max(len(line) for line in fixed.text.splitlines()) <= 79
