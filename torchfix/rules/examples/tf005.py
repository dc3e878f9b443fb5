"""TF005's before/after examples and valid near misses (checked by tests/test_rule_examples.py)."""

from __future__ import annotations

from torchfix.rule import Applicability, Example, Valid

UNSAFE = Applicability.UNSAFE


def _example(before: str, after: str | None, row: str, imports: str = "import torch\n", **kw):
    """A module that assigns ``before`` to ``y``; a fix is unsafe (every TF005 fix assumes a rank)."""
    if after is None:
        return Example(f"{imports}\ny = {before}\n", None, row=row, **kw)
    return Example(f"{imports}\ny = {before}\n", f"{imports}\ny = {after}\n", UNSAFE, row=row, **kw)


AB = {"a": "float(5, 3)", "b": "float(6, 3)"}
BATCH = {"a": "float(2, 5, 3)", "b": "float(2, 6, 3)"}
EXAMPLES = (
    _example("((a[:, None] - b[None]) ** 2).sum(-1).sqrt()", "torch.cdist(a, b)", "sqrt", inputs=AB),
    _example("torch.sqrt(((a.unsqueeze(1) - b.unsqueeze(0)) ** 2).sum(dim=2))", "torch.cdist(a, b)", "sqrt", inputs=AB),
    _example("(a.unsqueeze(1) - b).pow(2).sum(-1).sqrt()", "torch.cdist(a, b)", "sqrt", inputs=AB),
    _example("torch.sum((b[None, :, :] - a[:, None, :]).square(), -1) ** 0.5", "torch.cdist(a, b)", "sqrt", inputs=AB),
    _example(
        "t.sqrt(t.sum(t.square(a.unsqueeze(-2) - b.unsqueeze(-3)), dim=-1))",
        "t.cdist(a, b)",
        "sqrt",
        imports="import torch as t\n",
        inputs=AB,
    ),
    _example("(a.unsqueeze(1) - b.unsqueeze(0)).norm(dim=-1)", "torch.cdist(a, b)", "norm", inputs=AB),
    _example("torch.norm(a[:, None] - b, dim=2)", "torch.cdist(a, b)", "norm", inputs=AB),
    _example("torch.linalg.norm(a[:, None] - b[None], dim=-1)", "torch.cdist(a, b)", "norm", inputs=AB),
    _example("(a[:, None] - b[None]).norm(p=1, dim=-1)", "torch.cdist(a, b, p=1)", "norm", inputs=AB),
    _example("torch.linalg.vector_norm(a[:, None] - b, 3, -1)", "torch.cdist(a, b, p=3)", "norm", inputs=AB),
    _example(
        "torch.linalg.norm(a.unsqueeze(1) - b.unsqueeze(0), dim=-1).pow(2)",
        "torch.cdist(a, b).pow(2)",
        "norm",
        inputs=AB,
    ),
    _example(
        "(x.unsqueeze(1).expand(n, m, -1) - x.unsqueeze(0).expand(n, m, -1)).norm(dim=2)",
        "torch.cdist(x, x)",
        "norm",
        inputs={"x": "float(5, 3)", "n": "int:5", "m": "int:5"},
    ),
    # torch.cdist needs p >= 0; a name could hold anything.
    _example("(a[:, None] - b[None]).norm(p=p, dim=-1)", None, "norm", message="literal p >= 0"),
    _example("((a.unsqueeze(2) - b.unsqueeze(1)) ** 2).sum(-1).sqrt()", "torch.cdist(a, b)", "batched", inputs=BATCH),
    _example("(a[:, :, None] - b[:, None]).norm(dim=3)", "torch.cdist(a, b)", "batched", inputs=BATCH),
    _example("((a[:, None] - b[None]) ** 2).sum(-1)", None, "squared", message="2.0000000000000004"),
    _example(
        "torch.sum((a.unsqueeze(1) - b.unsqueeze(0)).pow(2), dim=2)", None, "squared", message="2.0000000000000004"
    ),
    _example("-((a[:, None] - b) ** 2).sum(-1) / 2", None, "squared", message="2.0000000000000004"),
    _example("((a[:, None] - b) ** 2).sum(-1).mean(1)", None, "squared", message="2.0000000000000004"),
    # torch.cdist(a, b) would evaluate a before b: the subtraction names b first.
    _example("((g()[None] - f()[:, None]) ** 2).sum(-1)", None, "squared", message="order of evaluation"),
    _example("dist.addmm_(1, -2, a, b.t())", None, "squared", message="spans statements"),
    # a2 + b2 - 2ab through einsum: report only.
    _example(
        '(a ** 2).sum(-1)[:, None] + (b ** 2).sum(-1)[None] - 2 * torch.einsum("nd,md->nm", a, b)',
        None,
        "squared",
        message="expansion rounds differently",
    ),
    Example(
        "import torch as th\n\n"
        'd = x.pow(2).sum(2, keepdim=True) + y.pow(2).sum(2).unsqueeze(1) - th.einsum("bid, bjd -> bij", x, y) * 2.0\n',
        None,
        row="squared",
        message="expansion rounds differently",
    ),
    # The code shows another rank than the fix assumes: no fix, and the finding says what.
    Example(
        "import torch\n\na = torch.randn(5)\ny = ((a[:, None] - b[None]) ** 2).sum(-1).sqrt()\n",
        None,
        row="sqrt",
        message="makes it 1-D",
    ),
    Example(
        "import torch\n\n\ndef dist(a, b):\n    k = a.size(2)\n    return (a[:, None] - b[None]).norm(dim=-1)\n",
        None,
        row="norm",
        message="at least 3 axes",
    ),
    Example(
        "import torch as T\n\n\ndef dist(p, q):\n    p = p[:, :, 0]\n    return T.linalg.norm(p.unsqueeze(2) - q.unsqueeze(1), dim=-1)\n",
        None,
        row="batched",
        message="does not show",
    ),
    _example("torch.addmm(dist, a, b.T, beta=1, alpha=-2)", None, "squared", message="spans statements"),
)
VALID = (
    Valid(
        'import torch\ny = (a ** 2).sum(-1) - 2 * torch.einsum("nd,nd->n", a, b)\n',
        "an elementwise einsum, not pairwise",
    ),
    Valid('import torch\ny = x - 2 * torch.einsum("nd,md->nm", a, b)\n', "no squares: not the distance expansion"),
    Valid("import torch\ny = coords[:, :, None] - coords[:, None, :]\n", "relative positions, not a distance"),
    Valid(
        "import torch\nrel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)\n",
        "relative positions are reshaped, not reduced",
    ),
    Valid("import torch\ny = ((a.unsqueeze(1) - b.unsqueeze(0)) ** 2).sum(1)\n", "reduces the M axis, not D"),
    Valid("import torch\ny = ((a.unsqueeze(0) - b.unsqueeze(0)) ** 2).sum(-1)\n", "both operands get the same axis"),
    Valid("import torch\ny = (a.unsqueeze(1) - b.unsqueeze(0)).norm(dim=-1, keepdim=True)\n", "keepdim=True"),
    Valid("import torch\ny = ((a[:, None] - b[None]) ** 3).sum(-1)\n", "cubes, not squares"),
    Valid("import torch\ny = (a[:, None] - b[None]).abs().max(-1).values\n", "a max, not a sum of squares"),
    Valid("import torch\ny = ((a - b) ** 2).sum(-1).sqrt()\n", "an elementwise distance, not pairwise"),
    Valid(
        "import torch\ny = ((a[:, None] - b.view(1, m, d)) ** 2).sum(-1)\n", "the reshaped operand's rank is unknown"
    ),
    Valid("import torch\ndist.addmm_(a, b.t(), beta=1, alpha=1)\n", "a plain addmm, not the distance expansion"),
)
