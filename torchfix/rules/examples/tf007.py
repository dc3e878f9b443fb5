"""TF007's before/after examples and valid near misses (checked by tests/test_rule_examples.py)."""

from __future__ import annotations

from torchfix.rule import Applicability, Example, Valid

UNSAFE = Applicability.UNSAFE
_F = "import torch.nn.functional as F\n"


def _example(before: str, after: str | None, row: str, imports: str = "import torch\n", added: str = _F, **kw):
    """A module importing torch whose body is ``before``; the fix adds ``added`` to the imports."""
    body = before if "\n" in before else f"y = {before}\n"
    if after is None:
        return Example(f"{imports}\n{body}", None, row=row, **kw)
    fixed = after if "\n" in after else f"y = {after}\n"
    return Example(f"{imports}\n{body}", f"{imports}{added}\n{fixed}", row=row, **kw)


def _unsafe(before: str, after: str, row: str, **kw):
    return _example(before, after, row, applicability=UNSAFE, **kw)


X = {"x": "float(4, 8)"}
EXAMPLES = (
    _example("x / x.norm(dim=1, keepdim=True)", "F.normalize(x, dim=1)", "keepdim", inputs=X),
    _example("x / x.norm(p=2, dim=-1, keepdim=True)", "F.normalize(x, dim=-1)", "keepdim", inputs=X),
    _example("x / torch.norm(x, p=2, dim=1, keepdim=True)", "F.normalize(x, dim=1)", "keepdim", inputs=X),
    _example("x / torch.linalg.vector_norm(x, dim=0, keepdim=True)", "F.normalize(x, dim=0)", "keepdim", inputs=X),
    _example("x / x.norm(1, 1, True)", "F.normalize(x, p=1, dim=1)", "keepdim", inputs=X),
    _example("x / x.norm(2, 1, keepdim=True)", "F.normalize(x, dim=1)", "keepdim", inputs=X),
    _example(
        "emb / emb.norm(dim=-1, keepdim=True)",
        "F.normalize(emb, dim=-1)",
        "keepdim",
        imports="import torch\nimport torch.nn.functional as F\n",
        added="",
        inputs={"emb": "float(4, 8)"},
    ),
    _example(
        "x / t.linalg.norm(x, dim=1, keepdim=True)",
        "functional.normalize(x, dim=1)",
        "keepdim",
        imports="import torch as t\nfrom torch.nn import functional\n",
        added="",
        inputs=X,
    ),
    # isort's place for the new import: with the plain imports, before `from torch import nn`
    Example(
        "import torch\nfrom torch import nn\n\ny = x / x.norm(dim=2, keepdim=True)\n",
        "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\ny = F.normalize(x, dim=2)\n",
        row="keepdim",
        inputs={"x": "float(3, 4, 5)"},
    ),
    _example("(h) / (h.norm(dim=1, keepdim=True))", "F.normalize(h, dim=1)", "keepdim", inputs={"h": "float(4, 8)"}),
    _example("x / x.norm(dim=1).unsqueeze(1)", "F.normalize(x, dim=1)", "keepdim", inputs=X),
    _example("x / x.norm(dim=-1)[..., None]", "F.normalize(x, dim=-1)", "keepdim", inputs=X),
    _example("x / torch.norm(x, dim=1)[:, None]", "F.normalize(x, dim=1)", "keepdim", inputs=X),
    _example(
        "x / x.norm(dim=d).unsqueeze(d)",
        "F.normalize(x, dim=d)",
        "keepdim",
        inputs={"x": "float(4, 8)", "d": "int:-1"},
    ),
    _example("x.div(x.norm(dim=-1, keepdim=True))", "F.normalize(x, dim=-1)", "keepdim", inputs=X),
    _example("torch.div(x, torch.linalg.norm(x, dim=1, keepdim=True))", "F.normalize(x, dim=1)", "keepdim", inputs=X),
    _example("x / torch.sqrt(x.pow(2).sum(-1, keepdim=True))", "F.normalize(x, dim=-1)", "keepdim", inputs=X),
    # Valid numpy too: unsafe, assuming x is a tensor.
    _unsafe("x / (x ** 2).sum(dim=1, keepdims=True) ** 0.5", "F.normalize(x, dim=1)", "keepdim", inputs=X),
    _example(
        "x / torch.sum(torch.square(x), dim=0, keepdim=True).sqrt()", "F.normalize(x, dim=0)", "keepdim", inputs=X
    ),
    # The operand is evaluated twice in the original and once by F.normalize.
    _example("f(x) / f(x).norm(dim=1, keepdim=True)", None, "keepdim", message="side effects"),
    # The catalogue leaves masked in-place writes alone.
    _example("v[m] = v[m] / v[m].norm(dim=1, keepdim=True)\n", None, "keepdim", message="masked write"),
    _example("x / x.norm(dim=1, keepdim=True).clamp(min=1e-6)", "F.normalize(x, dim=1, eps=1e-6)", "clamp", inputs=X),
    _example("x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)", "F.normalize(x, dim=1, eps=1e-8)", "clamp", inputs=X),
    _example(
        "x / torch.clamp(x.norm(dim=-1, keepdim=True), min=1e-12)",
        "F.normalize(x, dim=-1, eps=1e-12)",
        "clamp",
        inputs=X,
    ),
    _example(
        "x / x.norm(dim=1, keepdim=True).clamp(min=eps)",
        "F.normalize(x, dim=1, eps=eps)",
        "clamp",
        inputs={"x": "float(4, 8)", "eps": "float:1e-6"},
    ),
    _unsafe("x / (x.norm(dim=-1, keepdim=True) + 1e-8)", "F.normalize(x, dim=-1, eps=1e-8)", "eps", inputs=X),
    _unsafe("x / (1e-8 + torch.norm(x, dim=1, keepdim=True))", "F.normalize(x, dim=1, eps=1e-8)", "eps", inputs=X),
    # The whole-tensor norm is F.normalize(v, dim=0) only for a 1-D v: fixed where the code proves it.
    _unsafe("v = x.flatten()\ny = v / v.norm()\n", "v = x.flatten()\ny = F.normalize(v, dim=0)\n", "whole", inputs=X),
    _unsafe("x.reshape(-1) / x.reshape(-1).norm()", "F.normalize(x.reshape(-1), dim=0)", "whole", inputs=X),
    _unsafe(
        "v = torch.tensor([3.0, 4.0])\ny = v / torch.norm(v, p=2.0)\n",
        "v = torch.tensor([3.0, 4.0])\ny = F.normalize(v, dim=0)\n",
        "whole",
    ),
    _unsafe(
        "v = torch.randn(8)\ny = v / (v.norm() + 1e-8)\n",
        "v = torch.randn(8)\ny = F.normalize(v, dim=0, eps=1e-8)\n",
        "whole",
        inputs=X,
    ),
    _unsafe(
        "v = x.mean(0).flatten()\nv = v / v.norm()\n",
        "v = x.mean(0).flatten()\nv = F.normalize(v, dim=0)\n",
        "whole",
        inputs=X,
    ),
    _unsafe(
        "m = torch.randn(4, 8)\nv = m.mean(dim=0)\ny = v / v.norm()\n",
        "m = torch.randn(4, 8)\nv = m.mean(dim=0)\ny = F.normalize(v, dim=0)\n",
        "whole",
    ),
    _unsafe(
        "def unit(n: int):\n    v = t.arange(1.0, n + 1.0)\n    return v / t.linalg.vector_norm(v)\n",
        "def unit(n: int):\n    v = t.arange(1.0, n + 1.0)\n    return functional.normalize(v, dim=0)\n",
        "whole",
        imports="import torch as t\nfrom torch.nn import functional\n",
        added="",
    ),
    # Where the code does not show a 1-D operand, or shows more axes, the finding says why and has no fix.
    _example("v = torch.eye(3)\ny = v / v.norm()\n", None, "whole", message="makes it 2-D"),
    _example(
        "feats = model(img)\nfeats = feats / feats.norm()\n", None, "whole", message="module's or function's output"
    ),
    _example("v = t[0]\nv /= v.norm()\n", None, "whole", message="does not show"),
    _example(
        "def score(v):\n    n = v.size(1)\n    return v / torch.norm(v)\n", None, "whole", message="`v.size(1)` shows"
    ),
    _example("def score(v):\n    w = v[:, 0]\n    return v.div(v.norm())\n", None, "whole", message="`v[:, 0]` shows"),
    _example("def score(v):\n    return v / v.norm()\n", None, "whole", message="does not show that v is 1-D"),
    _example(
        "class Head:\n    def forward(self, x):\n        e = self.proj(x)\n        return e / e.norm()\n",
        None,
        "whole",
        message="module's or function's output",
    ),
    _example("v = torch.zeros(3, 4)\nv = v / v.norm(p=2)\n", None, "whole", message="makes it 2-D"),
    _unsafe(
        "y = x.clone()\ny /= y.norm(dim=1, keepdim=True)\n",
        "y = x.clone()\ny = F.normalize(y, dim=1)\n",
        "inplace",
        inputs=X,
    ),
    # Assigning a new tensor to an attribute could replace an nn.Parameter.
    _example("self.w /= self.w.norm(dim=1, keepdim=True)\n", None, "inplace", message="nn.Parameter"),
)
VALID = (
    Valid("import torch\ny = x / z.norm(dim=1, keepdim=True)\n", "different tensors on the two sides"),
    Valid("import torch\ny = x / x.norm(dim=1)\n", "keepdim=False without an unsqueeze does not broadcast per row"),
    Valid("import torch\ny = x / x.norm(dim=1).unsqueeze(0)\n", "the unsqueezed axis is not the reduced one"),
    Valid("import torch\ny = x / x.norm(dim=1)[..., None]\n", "axis 1 is the last axis only for 2-D x"),
    Valid("import torch\ny = x / x.norm(dim=(-1, -2), keepdim=True)\n", "F.normalize takes one int dim"),
    Valid(
        "import torch\ny = x / x.norm(dim=1, keepdim=True, dtype=torch.float64)\n", "dtype= changes the result dtype"
    ),
    Valid("import numpy as np\ny = x / np.linalg.norm(x, axis=1, keepdims=True)\n", "numpy, not torch"),
    Valid("import torch\ny = x / x.norm(p='nuc', dim=(0, 1), keepdim=True)\n", "a matrix norm"),
    Valid(
        "import torch\ny = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)\n",
        "RMSNorm scales by the root mean square: not a unit vector",
    ),
    Valid("import torch\ny = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True))\n", "a mean of squares, not a norm"),
    Valid("import torch\ny = x / x.norm(dim=1, keepdim=True).clamp(max=1.0)\n", "an upper clamp is not an eps guard"),
    Valid("import torch\ny = x / x.abs().sum(dim=1, keepdim=True) ** 2\n", "not a root of a sum of squares"),
)
