"""TF010's before/after examples and valid near misses (checked by tests/test_rule_examples.py)."""

from __future__ import annotations

from torchfix.rule import Applicability, Example, Valid

UNSAFE = Applicability.UNSAFE


def _example(body: str, after: str | None, row: str, inputs=None, **kw) -> Example:
    """A module importing torch; ``after`` is the fixed body (None: report only)."""
    before = f"import torch\n\n{body}"
    return Example(before, None if after is None else f"import torch\n\n{after}", row=row, inputs=inputs or {}, **kw)


_ABM = {"a": "float(4, 8)", "b": "float(4, 8)"}
_XAB = {"x": "float(4, 8)", **_ABM}


EXAMPLES = (
    _example(
        "y = (x > 0).float() * a + (1 - (x > 0).float()) * b\n",
        "y = torch.where(x > 0, a, b)\n",
        "provable",
        _XAB,
        applicability=UNSAFE,
    ),
    _example(
        "m = (x > 0).float()\ny = m * a + (1 - m) * b\n",
        "m = (x > 0).float()\ny = torch.where(m.bool(), a, b)\n",
        "provable",
        _XAB,
        applicability=UNSAFE,
    ),
    _example(
        "def blend(x, a, b):\n    keep = torch.isfinite(x) & (x < 1)\n"
        "    return keep.float() * a + (1.0 - keep.float()) * b\n\n\ny = blend(x, a, b)\n",
        "def blend(x, a, b):\n    keep = torch.isfinite(x) & (x < 1)\n    return torch.where(keep, a, b)\n\n\n"
        "y = blend(x, a, b)\n",
        "provable",
        _XAB,
        applicability=UNSAFE,
    ),
    _example(
        "y = x.isnan().to(a.dtype) * a + (1 - x.isnan().to(a.dtype)) * b\n",
        "y = torch.where(x.isnan(), a, b)\n",
        "provable",
        _XAB,
    ),
    _example(
        "c = x > 0\nsizes = [c.sum() for c in (x > 1, x > 2)]\ny = c * a + (~c) * b\n",
        "c = x > 0\nsizes = [c.sum() for c in (x > 1, x > 2)]\ny = torch.where(c, a, b)\n",
        "complement",
        _XAB,
    ),
    _example(
        "c = x > 0.5\nc &= x < 2\ny = c * a + (~c) * b\n",
        "c = x > 0.5\nc &= x < 2\ny = torch.where(c, a, b)\n",
        "complement",
        _XAB,
    ),
    _example(
        "c = x > 0\ny = a * c + b * c.logical_not()\n",
        "c = x > 0\ny = torch.where(c, a, b)\n",
        "complement",
        _XAB,
    ),
    _example(
        "c = x > 0\ny = torch.mul(c, a) + torch.mul(torch.logical_not(c), b)\n",
        "c = x > 0\ny = torch.where(c, a, b)\n",
        "complement",
        _XAB,
    ),
    _example(
        "c = x < 0\ny = (~c) * b + (c * a)\n",
        "c = x < 0\ny = torch.where(c, a, b)\n",
        "complement",
        _XAB,
    ),
    _example(
        "c = x != 0\ny = c * x + (~c) * 0.0\n",
        "c = x != 0\ny = torch.where(c, x, 0.0)\n",
        "complement",
        {"x": "float(4, 8)"},
    ),
    _example(
        "c = x > 0\ny = (c.mul(a)) + b.mul(1 - c.float())\n",
        "c = x > 0\ny = torch.where(c, a, b)\n",
        "complement",
        _XAB,
    ),
    Example(
        "import torch as th\n\nvalid = th.isfinite(x)\ny = valid * x + th.logical_not(valid) * b\n",
        "import torch as th\n\nvalid = th.isfinite(x)\ny = th.where(valid, x, b)\n",
        row="complement",
        inputs={"x": "float(4, 8)", "b": "float(4, 8)"},
    ),
    _example(
        "y = x.clone()\ny[x < 0] = 0.0\n",
        "y = torch.where(x < 0, 0.0, x)\n",
        "clone-assign",
        {"x": "float(4, 8)"},
        applicability=UNSAFE,
    ),
    _example(
        "def clip(x, limit):\n    y = x.clone(); y[y > limit] = limit\n    return y\n\n\nz = clip(x, 0.5)\n",
        "def clip(x, limit):\n    y = torch.where(x > limit, limit, x)\n    return y\n\n\nz = clip(x, 0.5)\n",
        "clone-assign",
        {"x": "float(4, 8)"},
        applicability=UNSAFE,
    ),
    # The mask is drawn twice: the original is not a selection at all.
    _example(
        "y = (torch.rand(4) < p).float() * a + (1 - (torch.rand(4) < p).float()) * b\n",
        None,
        "provable",
        message="side effects",
    ),
    # Two literals: torch.where(c, 1, 0) is int64 where the float mask made float32.
    _example("m = (x > 0).float()\ny = m * 1 + (1 - m) * 0\n", None, "provable", message="dtype would change"),
    # The implicit one: `a * m + (1 - m)` keeps `a` where m holds and 1 elsewhere.
    _example(
        "m = (x > 0).float()\ny = a * m + (1 - m)\n",
        "m = (x > 0).float()\ny = torch.where(m.bool(), a, 1)\n",
        "implicit-one",
        _XAB,
        applicability=UNSAFE,
    ),
    _example(
        "keep = torch.isfinite(x)\ny = (1 - keep.float()) + keep.float() * a\n",
        "keep = torch.isfinite(x)\ny = torch.where(keep, a, 1)\n",
        "implicit-one",
        _XAB,
        applicability=UNSAFE,
    ),
    _example(
        "y = torch.mul(a, (x < 1).float()) + (1 - (x < 1).float())\n",
        "y = torch.where(x < 1, a, 1)\n",
        "implicit-one",
        _XAB,
        applicability=UNSAFE,
    ),
)
VALID = (
    Valid("import torch\n\ny = a * m + (1 - m)\n", "m is not provably 0/1: a soft blend toward 1"),
    Valid("import torch\n\nm = torch.sigmoid(x)\ny = a * m + (1 - m)\n", "a sigmoid is a soft mask"),
    Valid("import torch\n\ndef mix(m, a, b):\n    return m * a + (1 - m) * b\n", "a parameter mask may be soft"),
    Valid(
        "import torch\nimport torch.nn.functional as F\n\n"
        "def up(mask, a, b):\n    m = F.interpolate(mask, scale_factor=2)\n    return m * a + (1 - m) * b\n",
        "an interpolated mask takes values between 0 and 1",
    ),
    Valid("import torch\n\nema = decay * ema + (1 - decay) * value\n", "an EMA is a blend, not a selection"),
    Valid(
        "import torch\n\nlam = torch.distributions.Beta(0.4, 0.4).sample()\nx = lam * a + (1 - lam) * b\n",
        "mixup weights are soft",
    ),
    Valid(
        "import torch\n\nm = (x > 0).float()\nm = m * 0.9\ny = m * a + (1 - m) * b\n",
        "a local assigned once from a scaled mask is no longer 0/1",
    ),
    Valid("import torch\n\nc = x > 0\ny = c * a + (~d) * b\n", "different masks in the two terms"),
    Valid("import torch\n\ny = x.clone()\ny[idx] = 0.0\n", "an integer index is not a mask"),
    Valid("import torch\n\nfor c in masks:\n    y = c * a + (~c) * b\n", "a loop target is not provably boolean"),
    Valid(
        "import torch\n\ndef f(x):\n    c = x > 0\n    return c\n\n\nc = torch.rand(3)\ny = c * a + (1 - c) * b\n",
        "the function's boolean c is not the module's",
    ),
    Valid(
        "import torch\n\ndef outer(x, a, b):\n    c = x > 0\n\n    def inner():\n        return c * a + (~c) * b\n",
        "only the function's own assignments are seen",
    ),
    Valid("import torch\n\nc = x > 0\ny = c * a - (~c) * b\n", "a difference is not a selection"),
)
