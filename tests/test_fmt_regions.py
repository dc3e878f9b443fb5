"""``# fmt: off`` regions and ``# fmt: skip`` lines: every rule reports there, no fix edits them."""

from __future__ import annotations

import ast
import textwrap

import pytest

from torchfix.engine import RunOptions, check_text, fix_text
from torchfix.fmt_regions import FormatRegions
from torchfix.rules import all_rules, rule_by_key

_NORM = "x / x.norm(dim=1, keepdim=True)"
_FIXED = "F.normalize(x, dim=1)"


def _fix(source: str, *codes: str):
    options = RunOptions(tuple(rule_by_key(c) for c in codes), frozenset(codes))
    return fix_text(textwrap.dedent(source), options)


def _embed(body: str) -> str:
    return "import torch\n\n\ndef embed(x):\n" + textwrap.indent(textwrap.dedent(body), "    ")


@pytest.mark.parametrize(
    "body, protected",
    [
        (f"# fmt: off\na = {_NORM}\n# fmt: on\nb = {_NORM}\nreturn a, b\n", "a"),
        (f"# fmt:off\na = {_NORM}\n# fmt:on\nb = {_NORM}\nreturn a, b\n", "a"),
        (f"# yapf: disable\na = {_NORM}\n# yapf: enable\nb = {_NORM}\nreturn a, b\n", "a"),
        (f"b = {_NORM}\n# fmt: off\na = {_NORM}\nreturn a, b\n", "a"),  # no `# fmt: on`: to the end
        (f"a = {_NORM}  # fmt: skip\nb = {_NORM}\nreturn a, b\n", "a"),
        (f"a = {_NORM}  # noqa: E501  # fmt: skip\nb = {_NORM}\nreturn a, b\n", "a"),
        (f"a = {_NORM}  # fmt: skip; noqa: E501\nb = {_NORM}\nreturn a, b\n", "a"),
        (f"a = (\n    {_NORM}\n)  # fmt: skip\nb = {_NORM}\nreturn a, b\n", "a"),  # the whole statement
    ],
    ids=["off-on", "no-space", "yapf", "unterminated", "skip", "skip-after-noqa", "skip-then-noqa", "skip-multiline"],
)
def test_protected_code_is_reported_without_a_fix(body, protected):
    outcome = _fix(_embed(body), "TF007")
    assert outcome.text.count(_FIXED) == 1 and outcome.text.count(_NORM) == 1
    assert f"b = {_FIXED}" in outcome.text, outcome.text
    (left,) = outcome.remaining
    assert "no fix: line" in left.message and ("`# fmt: off` region" in left.message or "`# fmt: skip` line" in left.message)
    (finding,) = [f for f in check_text(_embed(body), RunOptions((rule_by_key("TF007"),))) if "no fix" in f.message]
    assert not finding.fixable


@pytest.mark.parametrize(
    "body",
    [
        f"# fmt: skip\na = {_NORM}\nreturn a\n",  # a skip comment on its own line skips nothing
        f"a = {_NORM}\ns = '# fmt: off'\nreturn a, s\n",  # nor does the text in a string
        f"# fmt: on\na = {_NORM}\nreturn a\n",  # nor a `# fmt: on` without a `# fmt: off`
        f"# fmt: off\n# fmt: on\na = {_NORM}\nreturn a\n",
    ],
    ids=["standalone-skip", "in-a-string", "lone-on", "empty-region"],
)
def test_code_outside_regions_is_fixed(body):
    outcome = _fix(_embed(body), "TF007")
    assert _FIXED in outcome.text and outcome.remaining == [], outcome.text


def test_regions_are_read_as_black_reads_them():
    source = textwrap.dedent(
        """\
        # fmt: off
        A = [1,   2]
        # fmt: off
        B = [3,   4]
        # fmt: on
        def f(x):  # fmt: skip
            return (x +
                    1)  # fmt: skip
        """
    )
    assert FormatRegions(source).spans == [
        (1, 5, "inside a `# fmt: off` region"),
        (6, 6, "on a `# fmt: skip` line"),
        (7, 8, "on a `# fmt: skip` line"),
    ]
    assert not FormatRegions("x = 1  # fmt is off\n")


_ATTENTION = """\
import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
{layers}

    def forward(self, x):
{calls}
"""
_QKV = "self.q = nn.Linear(dim, dim)\nself.k = nn.Linear(dim, dim)\nself.v = nn.Linear(dim, dim)\n"
_CALLS = "q, k, v = self.q(x), self.k(x), self.v(x)\nreturn q @ k.transpose(-2, -1) @ v\n"


def _attention(layers: str, calls: str = _CALLS) -> str:
    return _ATTENTION.format(layers=textwrap.indent(layers, " " * 8).rstrip("\n"), calls=textwrap.indent(calls, " " * 8))


@pytest.mark.parametrize(
    "layers, calls",
    [
        ("self.q = nn.Linear(dim, dim)\n# fmt: off\nself.k = nn.Linear(dim, dim)\n# fmt: on\nself.v = nn.Linear(dim, dim)\n", _CALLS),
        ("self.q = nn.Linear(dim, dim)  # fmt: skip\nself.k = nn.Linear(dim, dim)\nself.v = nn.Linear(dim, dim)\n", _CALLS),
        ("self.dim = dim\n# fmt: off\nself.scale = 1\n# fmt: on\n" + _QKV, _CALLS),  # removing q would move the marker
        (_QKV, "# fmt: off\nq, k, v = self.q(x), self.k(x), self.v(x)\n# fmt: on\nreturn q @ k.transpose(-2, -1) @ v\n"),
        (_QKV, "q, k, v = self.q(x), self.k(x), self.v(x)  # fmt: skip\nreturn q @ k.transpose(-2, -1) @ v\n"),
        (_QKV + "# fmt: off\n", _CALLS),  # the hooks would go into the region that runs to the end
    ],
    ids=["a-layer-in-a-region", "a-layer-skipped", "after-fmt-on", "the-call-in-a-region", "the-call-skipped", "unterminated"],
)
def test_a_fused_fix_is_refused_when_any_edit_is_protected(layers, calls):
    source = _attention(layers, calls)
    outcome = _fix(source, "TF008")
    assert outcome.text == source
    (left,) = outcome.remaining
    assert left.message.startswith("Fuse `self.q`, `self.k` and `self.v`") and "; no fix: line " in left.message


def test_a_region_elsewhere_in_the_class_stays_byte_for_byte():
    region = "# fmt: off\nself.table = [1, 2,\n              3, 4]\n# fmt: on\n"
    outcome = _fix(_attention(_QKV + region), "TF008")
    assert outcome.remaining == [] and "self.qkv = nn.Linear(dim, 3 * dim)" in outcome.text
    assert textwrap.indent(region, " " * 8) in outcome.text


def test_an_import_the_fix_adds_would_go_into_a_region():
    source = f"# fmt: off\nimport torch\n# fmt: on\n\n\ndef embed(x):\n    return {_NORM}\n"
    outcome = _fix(source, "TF007")
    assert outcome.text == source
    assert "its import would go next to line 2, which is inside a `# fmt: off` region" in outcome.remaining[0].message
    after_the_region = source.replace("import torch\n# fmt: on\n", "X = [1,  2]\n# fmt: on\nimport torch\n")
    assert "import torch\nimport torch.nn.functional as F\n" in _fix(after_the_region, "TF007").text


def test_other_rules_and_tf003_follow_the_same_rule():
    source = textwrap.dedent(
        """\
        import torch
        from torch import nn


        class Normalize(nn.Module):
            def __init__(self):
                super().__init__()
                # fmt: off
                self.mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
                # fmt: on
                self.std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

            def forward(self, img):
                return (img - self.mean) / self.std
        """
    )
    outcome = _fix(source, "TF003")
    assert 'self.register_buffer(\n            "std",' in outcome.text and "self.mean = torch.tensor" in outcome.text
    (left,) = outcome.remaining
    assert "`self.mean`" in left.message and "no fix: line 9 is inside a `# fmt: off` region" in left.message


def _fixed_examples():
    for rule in all_rules():
        for index, example in enumerate(rule.EXAMPLES):
            if example.after is not None:
                yield pytest.param(rule, example, id=f"{rule.CODE}-{index}")


@pytest.mark.parametrize("rule, example", list(_fixed_examples()))
def test_every_rule_leaves_a_region_around_its_finding_alone(rule, example):
    """Each fixed example with the top-level definition of its first finding between
    `# fmt: off` and `# fmt: on`: that code comes out byte for byte, its findings say why."""
    options = RunOptions((rule,), frozenset({rule.CODE}), dict(example.settings))
    line = check_text(example.before, options)[0].line
    top = next(n for n in ast.parse(example.before).body if _first_line(n) <= line <= n.end_lineno)
    lines = example.before.splitlines(keepends=True)
    region = ["# fmt: off\n", *lines[_first_line(top) - 1 : top.end_lineno], "# fmt: on\n"]
    source = "".join(lines[: _first_line(top) - 1] + region + lines[top.end_lineno :])
    outcome = fix_text(source, options)
    assert outcome.bug is None
    assert "".join(region) in outcome.text
    inside = [f for f in outcome.findings if _first_line(top) < f.line <= top.end_lineno + 1]
    assert inside and all("`# fmt: off` region" in f.message and not f.fixable for f in inside)


def _first_line(node: ast.stmt) -> int:
    return min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])


def test_blank_lines_in_a_region_of_a_block_the_fix_removes_from_stay():
    region = "# fmt: off\nself.table = [1,\n\n\n              2]\nself.x = 1\n\n\nself.y = 2\n# fmt: on\n"
    outcome = _fix(_attention(_QKV + region), "TF008")
    assert outcome.remaining == [] and "self.qkv = nn.Linear(dim, 3 * dim)" in outcome.text
    assert textwrap.indent(region, " " * 8) in outcome.text


def test_a_file_with_no_region_marker_is_not_tokenized(monkeypatch):
    """``fmt: Format`` parameters and ``"yapf: ..."`` strings are no markers: the file is not read
    with Python's tokenizer (the markers' regions still are, below)."""
    import tokenize

    def refuse(*_args):
        raise AssertionError("tokenized")

    monkeypatch.setattr(tokenize, "generate_tokens", refuse)
    source = 'def f(x, fmt: str = "NCHW"):\n    """fmt: the layout; yapf: unused"""\n    return x  # fmt: keep\n'
    assert not FormatRegions(source)
    with pytest.raises(AssertionError, match="tokenized"):
        FormatRegions(source + "# fmt: off\n")
