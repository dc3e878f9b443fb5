"""Evidence before assumption: the rank and dtype facts read before an unsafe expression fix.

The classes of wrong fixes seen on real code (issue 12), each in several spellings:
a whole-tensor norm of a 2-D operand, ``*_like`` of an integer tensor, ``*_like``
where the original had no ``dtype=``, squared distances through ``cdist ** 2``.
"""

from __future__ import annotations

import libcst as cst
import pytest

from torchfix.engine import RunOptions, fix_text
from torchfix.names import NameTable
from torchfix.rules import rule_by_key
from torchfix.rules._evidence import Evidence
from torchfix.rules._rewrite import Parents
from torchfix.walk import walk


def _last_return(source: str):
    """The evidence of a module and the value of its last ``return``."""
    module = cst.parse_module(source)
    found = []

    class Returns(cst.CSTVisitor):
        def visit_Return(self, node: cst.Return) -> None:
            found.append(node.value)

    walk(module, [Returns()])
    return Evidence(NameTable(module), Parents(module)), found[-1]


@pytest.mark.parametrize(
    "body, rank",
    [
        ("v = x.flatten()\n    return v", 1),
        ("v = x.view(-1)\n    return v", 1),
        ("v = torch.tensor([1.0, 2.0])\n    return v", 1),
        ("v = torch.tensor([[1, 2], [3, 4]])\n    return v", 2),
        ("v = torch.eye(3)\n    return v", 2),
        ("v = torch.zeros(3, 4)\n    return v", 2),
        ("v = torch.zeros((3, 4, 5))\n    return v", 3),
        ("v = torch.full((2, 2), 1.0)\n    return v", 2),
        ("v = torch.randn(n)\n    return v", 1),
        ("m = torch.randn(4, 8)\n    v = m.sum(dim=1)\n    return v", 1),
        ("m = torch.randn(4, 8)\n    return m[0]", 1),
        ("m = torch.randn(4, 8)\n    return m[:, None]", 3),
        ("m = torch.randn(4, 8)\n    return m @ torch.randn(8)", 1),
        ("v = x.flatten()\n    v = v / v.norm()\n    return v", 1),
        ("v = x.flatten()\n    v = v.unsqueeze(0)\n    return v", None),  # two ranks: not one
        ("return x", None),  # a parameter
        ("v = model(x)\n    return v", None),
        ("v = x[0]\n    return v", None),
        ("v = torch.randn(size)\n    return v", None),  # size may be a tuple
    ],
)
def test_rank(body, rank):
    evidence, value = _last_return(f"import torch\n\n\ndef f(x, model, size, n: int):\n    {body}\n")
    assert evidence.rank(value, value) == rank


@pytest.mark.parametrize(
    "body, shows",
    [
        ("v = torch.searchsorted(a, b)", "searchsorted"),
        ("v = scores.argmax(dim=-1)", "argmax"),
        ("v = torch.nonzero(m)", "nonzero"),
        ("v = torch.randint(0, 5, (3,))", "randint"),
        ("v = torch.zeros(3, dtype=torch.long)", "torch.long"),
        ("v = x.long().clone()", "long"),
        ("v = x > 0", ">"),
        ("v = torch.arange(10)", "arange"),
        ("v = x.topk(3).indices", "indices"),
    ],
)
def test_integer_origin(body, shows):
    evidence, value = _last_return(f"import torch\n\n\ndef f(x, a, b, m, scores):\n    {body}\n    return v\n")
    assert shows in evidence.integer_origin(value, value)


@pytest.mark.parametrize(
    "body",
    [
        "v = torch.randn(3)",
        "v = x.float()",
        "v = torch.arange(0.0, 1.0, 0.1)",
        "v = x",
        "v = torch.zeros(3, dtype=torch.float16)",
    ],
)
def test_no_integer_origin(body):
    evidence, value = _last_return(f"import torch\n\n\ndef f(x):\n    {body}\n    return v\n")
    assert evidence.integer_origin(value, value) == ""


def _run(code: str, source: str):
    rule = rule_by_key(code)
    return fix_text(source, RunOptions((rule,), frozenset({code})))


# -- TF007: the whole-tensor norm -------------------------------------------------------------

_TWO_D = [
    ("a = torch.eye(k)\n    a = a / a.norm()", "torch.eye(k)"),
    ("feat = self.backbone(img)\n    feat /= feat.norm()", "module"),
    ("c = t[0]\n    return c / torch.linalg.norm(c)", "t[0]"),
    ("n = v.size(1)\n    return v.div(v.norm())", "v.size(1)"),
    ("w = v[:, 0]\n    return v / torch.norm(v, p=2)", "v[:, 0]"),
    ("m = v.t()\n    return v / v.norm()", "v.t()"),
    ("s = v @ w\n    return v / v.norm()", "matrix product"),
    ("g = F.embedding(i, w)\n    return g / g.norm()", "does not show that g is 1-D"),
    ("g = encode(v)\n    return g / g.norm()", "encode(v)"),
]


@pytest.mark.parametrize("body, reason", _TWO_D)
def test_whole_norm_not_fixed_where_the_code_shows_more_axes(body, reason):
    source = (
        f"import torch\nimport torch.nn.functional as F\n\n\ndef f(self, img, t, v, w, i, k, encode):\n    {body}\n"
    )
    outcome = _run("TF007", source)
    assert outcome.text == source
    [finding] = outcome.findings
    assert not finding.fixable and "no fix" in finding.message and reason in finding.message


def test_whole_norm_of_an_unknown_operand_says_so():
    outcome = _run("TF007", "import torch as th\n\n\ndef f(v):\n    return v / th.norm(v)\n")
    [finding] = outcome.findings
    assert not finding.fixable and "does not show that v is 1-D" in finding.message


def test_whole_norm_fixed_where_1d_is_proved_and_numbers_kept():
    torch = pytest.importorskip("torch")
    source = "import torch\n\n\ndef f(x):\n    v = x.reshape(-1)\n    v = v / v.norm()\n    return v\n"
    outcome = _run("TF007", source)
    assert "F.normalize(v, dim=0)" in outcome.text
    before, after = {}, {}
    exec(compile(source, "before", "exec"), before)
    exec(compile(outcome.text, "after", "exec"), after)
    x = torch.randn(3, 4, dtype=torch.float64)
    torch.testing.assert_close(after["f"](x), before["f"](x))


# -- TF002: *_like only where the dtype is the original's, never on integers ---------------------


@pytest.mark.parametrize(
    "line, fixed",
    [
        ("torch.randn(x.shape).to(x.device)", "torch.randn(x.shape, device=x.device)"),
        ("torch.rand(x.size()).cuda(x.device)", "torch.rand(x.size(), device=x.device)"),
        ("torch.zeros(*x.shape).to(device=x.device)", "torch.zeros(*x.shape, device=x.device)"),
    ],
)
def test_no_dtype_keeps_the_default_dtype(line, fixed):
    outcome = _run("TF002", f"import torch\n\n\ndef f(x):\n    return {line}\n")
    assert f"return {fixed}\n" in outcome.text and "_like" not in outcome.text


@pytest.mark.parametrize(
    "assign, constructor",
    [
        ("idx = torch.searchsorted(edges, values)", "torch.rand(idx.shape).to(idx)"),
        ("idx = scores.argmax(-1)", "torch.randn(idx.size()).type_as(idx)"),
        ("idx = torch.randint(0, 9, (4,))", "torch.rand(idx.shape).to(idx)"),
        ("idx = labels.to(torch.long)", "torch.randn(idx.shape).to(idx)"),
        ("idx = mask.nonzero()", "torch.rand(idx.shape).to(idx)"),
    ],
)
def test_no_random_like_of_an_integer_tensor(assign, constructor):
    source = f"import torch\n\n\ndef f(edges, values, scores, labels, mask):\n    {assign}\n    return {constructor}\n"
    outcome = _run("TF002", source)
    assert outcome.text == source
    assert any("no fix" in f.message and "integers" in f.message for f in outcome.findings)


def test_no_dtype_randn_keeps_half_precision_noise_dtype():
    torch = pytest.importorskip("torch")
    source = "import torch\n\n\ndef noise(x):\n    return torch.randn(x.shape).to(x.device)\n"
    fixed = _run("TF002", source).text
    scope: dict = {}
    exec(compile(fixed, "after", "exec"), scope)
    assert scope["noise"](torch.zeros(2, 3, dtype=torch.float16)).dtype == torch.get_default_dtype()


# -- TF005: squared distances -------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "((a[:, None] - b[None]) ** 2).sum(-1)",
        "(a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(dim=2)",
        "t.sum(t.square(a[:, None, :] - b[None, :, :]), -1)",
    ],
)
def test_squared_distances_are_reported_without_a_fix(expr):
    source = f"import torch as t\n\ny = {expr}\n"
    outcome = _run("TF005", source)
    assert outcome.text == source
    [finding] = outcome.findings
    assert not finding.fixable and "2.0000000000000004" in finding.message
