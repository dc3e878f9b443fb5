"""TF006's before/after examples and valid near misses (checked by tests/test_rule_examples.py)."""

from __future__ import annotations

from torchfix.rule import Applicability, Example, Valid

UNSAFE = Applicability.UNSAFE
_F = "import torch.nn.functional as F\n"


def _example(before: str, after: str | None, row: str, imports: str = "import torch\n", added: str = _F, **kw):
    """A module importing torch that assigns ``before`` to ``sim``; the fix adds ``added`` to the imports."""
    if after is None:
        return Example(f"{imports}\nsim = {before}\n", None, row=row, **kw)
    return Example(f"{imports}\nsim = {before}\n", f"{imports}{added}\nsim = {after}\n", row=row, **kw)


def _unsafe(before: str, after: str, row: str, **kw):
    return _example(before, after, row, applicability=UNSAFE, **kw)


def _pairwise(before: str, after: str | None, **kw):
    """A pairwise example in a file that already imports F."""
    applicability = UNSAFE if after is not None else Applicability.NONE
    kw.setdefault("imports", "import torch\n" + _F)
    kw.setdefault("added", "")
    return _example(before, after, "pairwise", applicability=applicability, **kw)


AB = {"a": "float(4, 8)", "b": "float(4, 8)"}
UV = {"a": "float(8)", "b": "float(8)"}
XY = {"x": "float(5, 8)", "y": "float(6, 8)"}
PAIRWISE = "F.normalize(x, dim=-1, eps=1e-8) @ F.normalize(y, dim=-1, eps=1e-8).T"
EXAMPLES = (
    _example(
        "(a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1))", "F.cosine_similarity(a, b, dim=1)", "sum", inputs=AB
    ),
    _example(
        "torch.sum(a * b, dim=-1) / (a.norm(dim=-1) * b.norm(dim=-1))",
        "F.cosine_similarity(a, b, dim=-1)",
        "sum",
        inputs=AB,
    ),
    _example(
        "(b * a).sum(-1) / (a.norm(p=2, dim=-1) * b.norm(p=2, dim=-1))",
        "F.cosine_similarity(b, a, dim=-1)",
        "sum",
        inputs=AB,
    ),
    _example(
        "(a * b).sum(-1) / (torch.norm(b, dim=-1) * torch.linalg.vector_norm(a, dim=-1))",
        "F.cosine_similarity(a, b, dim=-1)",
        "sum",
        inputs=AB,
    ),
    _example(
        "(a * b).sum(d) / (a.norm(dim=d) * b.norm(dim=d))",
        "F.cosine_similarity(a, b, dim=d)",
        "sum",
        inputs={**AB, "d": "int:0"},
    ),
    _example(
        "((a * b)).sum(2) / ((a.norm(dim=2)) * (b.norm(dim=2)))",
        "fn.cosine_similarity(a, b, dim=2)",
        "sum",
        imports="import torch as t\nfrom torch.nn import functional as fn\n",
        added="",
        inputs={"a": "float(2, 3, 8)", "b": "float(2, 3, 8)"},
    ),
    _example(
        "(a * b).sum(-1) / (a.pow(2).sum(-1).sqrt() * torch.sqrt((b ** 2).sum(-1)))",
        "F.cosine_similarity(a, b, dim=-1)",
        "sum",
        inputs=AB,
    ),
    _example(
        "torch.div(a.mul(b).sum(1), torch.linalg.norm(a, dim=1) * torch.linalg.norm(b, dim=1))",
        "F.cosine_similarity(a, b, dim=1)",
        "sum",
        inputs=AB,
    ),
    _example(
        "torch.sum(a * b, -1) / a.norm(dim=-1) / b.norm(dim=-1)",
        "F.cosine_similarity(a, b, dim=-1)",
        "sum",
        inputs=AB,
    ),
    # Clamping each norm at eps is F.cosine_similarity's own formula.
    _example(
        "(a * b).sum(-1) / (a.norm(dim=-1).clamp(min=1e-8) * b.norm(dim=-1).clamp(min=1e-8))",
        "F.cosine_similarity(a, b, dim=-1, eps=1e-8)",
        "sum",
        inputs=AB,
    ),
    # Valid numpy too: unsafe, assuming a and b are tensors.
    _unsafe(
        "(a * b).sum(-1) / ((a ** 2).sum(-1) ** 0.5 * (b ** 2).sum(-1) ** 0.5)",
        "F.cosine_similarity(a, b, dim=-1)",
        "sum",
        inputs=AB,
    ),
    # a and b appear twice in the original and once in the fix.
    _example("(f(a) * b).sum(-1) / (f(a).norm(dim=-1) * b.norm(dim=-1))", None, "sum", message="side effects"),
    _example("torch.dot(a, b) / (a.norm() * b.norm())", "F.cosine_similarity(a, b, dim=0)", "dot", inputs=UV),
    _example(
        "a.dot(b) / (torch.linalg.norm(b) * torch.linalg.norm(a))",
        "F.cosine_similarity(a, b, dim=0)",
        "dot",
        inputs=UV,
    ),
    _example(
        "torch.dot(a, b) / (a.norm(dim=0) * b.norm(p=2, dim=-1))", "F.cosine_similarity(a, b, dim=0)", "dot", inputs=UV
    ),
    _unsafe(
        "(a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1) + 1e-8)",
        "F.cosine_similarity(a, b, dim=-1, eps=1e-8)",
        "eps",
        inputs=AB,
    ),
    _unsafe(
        "torch.dot(a, b) / (a.norm() * b.norm()).clamp(min=1e-8)",
        "F.cosine_similarity(a, b, dim=0, eps=1e-8)",
        "eps",
        inputs=UV,
    ),
    _unsafe(
        "(a * b).sum(1) / torch.clamp(a.norm(dim=1) * b.norm(dim=1), min=eps)",
        "F.cosine_similarity(a, b, dim=1, eps=eps)",
        "eps",
        inputs={**AB, "eps": "float:1e-8"},
    ),
    _pairwise("F.cosine_similarity(x.unsqueeze(1), y.unsqueeze(0), dim=-1)", PAIRWISE, inputs=XY),
    _pairwise("F.cosine_similarity(x[:, None], y[None], dim=2)", PAIRWISE, inputs=XY),
    _unsafe(
        "torch.cosine_similarity(x[:, None, :], y, -1, 1e-6)",
        "F.normalize(x, dim=-1, eps=1e-6) @ F.normalize(y, dim=-1, eps=1e-6).T",
        "pairwise",
        inputs=XY,
    ),
    _pairwise("F.cosine_similarity(y.unsqueeze(0), x.unsqueeze(1), dim=-1)", PAIRWISE, inputs=XY),
    _pairwise(
        "F.cosine_similarity(x.unsqueeze(1).expand(-1, m, -1), y.unsqueeze(0).expand(n, -1, -1), dim=-1)",
        PAIRWISE,
        inputs={**XY, "n": "int:5", "m": "int:6"},
    ),
    _pairwise(
        "F.cosine_similarity(x.unsqueeze(1), y.unsqueeze(0), dim=-1).max(dim=1).values / 0.1",
        f"(\n    {PAIRWISE}\n).max(dim=1).values / 0.1",  # longer than 88 characters: wrapped as black does
        inputs=XY,
    ),
    # isort's place for the new import: with the plain imports, before `from torch import nn`
    Example(
        "import torch\nfrom torch import nn\n\nsim = nn.functional.cosine_similarity(x.unsqueeze(1), y, eps=1e-6, dim=-1)\n",
        "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
        "sim = F.normalize(x, dim=-1, eps=1e-6) @ F.normalize(y, dim=-1, eps=1e-6).T\n",
        UNSAFE,
        row="pairwise",
        inputs=XY,
    ),
    # Swapping the arguments' order would evaluate g() before f().
    _pairwise("F.cosine_similarity(f().unsqueeze(0), g().unsqueeze(1), dim=-1)", None, message="order of evaluation"),
    # Pairwise cosine built by hand with .expand: report only.
    _example(
        "(x.unsqueeze(1).expand(n, m, d) * y.unsqueeze(0).expand(n, m, d)).sum(-1) / "
        "(x.norm(dim=-1)[:, None] * y.norm(dim=-1)[None, :] + 1e-8)",
        None,
        "pairwise",
        message="through .expand",
    ),
    _example(
        "torch.sum(a[:, None, :].expand(-1, k, -1) * b[None].expand(q, -1, -1), dim=2)"
        " / (a.norm(dim=1)[:, None] * b.norm(dim=1)[None]).clamp(min=1e-6)",
        None,
        "pairwise",
        message="through .expand",
    ),
    # The code shows another rank than the matmul form assumes: no fix, and the finding says what.
    Example(
        "import torch\nimport torch.nn.functional as F\n\n\ndef sim(x, y):\n    n = x.size(2)\n"
        "    return F.cosine_similarity(x.unsqueeze(1), y.unsqueeze(0), dim=-1)\n",
        None,
        row="pairwise",
        message="at least 3 axes",
    ),
    Example(
        "import torch\nfrom torch.nn import functional\n\nq = torch.randn(8)\n"
        "s = functional.cosine_similarity(q[:, None], k[None], dim=-1)\n",
        None,
        row="pairwise",
        message="makes it 1-D",
    ),
)
VALID = (
    Valid(
        "import torch\nsim = (x.unsqueeze(1).expand(n, m, d) * y.unsqueeze(0).expand(n, m, d)).sum(-1) / temperature\n",
        "a pairwise dot product over a temperature, not a cosine",
    ),
    Valid(
        "import torch.nn.functional as F\ny = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T\n",
        "already the efficient pairwise form",
    ),
    Valid(
        "import torch.nn.functional as F\ny = F.cosine_similarity(x.unsqueeze(1), y.unsqueeze(0))\n",
        "the default dim=1 reduces the new axis: not a pairwise matrix",
    ),
    Valid(
        "import torch.nn.functional as F\ny = F.cosine_similarity(a.unsqueeze(2), b.unsqueeze(1), dim=-1)\n",
        "batched (3-D) pairwise similarity is not in the catalogue",
    ),
    Valid("import torch\ny = (a * b).sum(1) / (a.norm(dim=0) * b.norm(dim=0))\n", "the norms reduce another axis"),
    Valid("import torch\ny = (a * c).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))\n", "different operands"),
    Valid("import torch\ny = (a * b).sum(-1) / (a.norm(p=1, dim=-1) * b.norm(p=1, dim=-1))\n", "1-norms"),
    Valid(
        "import torch\ny = (a * b).sum(-1, keepdim=True) / (a.norm(dim=-1) * b.norm(dim=-1))\n",
        "keepdim on one side only broadcasts to a matrix",
    ),
    Valid("import torch\ny = (a * b).sum(-1) / (a.norm(dim=-1) + b.norm(dim=-1))\n", "a sum of norms"),
    Valid("import torch\ny = (a * b).sum() / (a.norm() * b.norm())\n", "whole-tensor sums: the rank is unknown"),
    Valid("import numpy as np\ny = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))\n", "numpy, not torch"),
)
