"""TF009's before/after examples and valid near misses (checked by tests/test_rule_examples.py)."""

from __future__ import annotations

from torchfix.rule import Applicability, Example, Valid

UNSAFE = Applicability.UNSAFE


def _example(body: str, after: str | None, row: str, inputs=None, **kw) -> Example:
    """A module importing torch; ``after`` is the fixed body (None: report only)."""
    before = f"import torch\n\n{body}"
    return Example(before, None if after is None else f"import torch\n\n{after}", row=row, inputs=inputs or {}, **kw)


_XM = {"x": "float(6, 3)", "mask": "bool(6)"}
_XL = {"x": "float(6, 3)", "mask": "long(6)"}
_X = {"x": "float(6, 3)"}


EXAMPLES = (
    _example("y = x[mask.nonzero(as_tuple=True)]\n", "y = x[mask.bool()]\n", "tuple", _XM),
    _example("y = x[torch.nonzero(mask, as_tuple=True)]\n", "y = x[mask.bool()]\n", "tuple", _XL),
    _example("m = x[:, 0] > 0\ny = x[torch.where(m)]\n", "m = x[:, 0] > 0\ny = x[m]\n", "tuple", _X),
    _example("y = x[(x[:, 0] > 0).nonzero(as_tuple=True)]\n", "y = x[x[:, 0] > 0]\n", "tuple", {"x": "float(6, 3)"}),
    _example("y = x[(x > 0).nonzero(as_tuple=True)]\n", "y = x[x > 0]\n", "tuple", {"x": "float(6, 3)"}),
    Example(
        "import torch as t\n\ny = x[t.nonzero(x[:, 0] > 0, as_tuple=True)]\n",
        "import torch as t\n\ny = x[x[:, 0] > 0]\n",
        row="tuple",
        inputs={"x": "float(6, 3)"},
    ),
    _example("y = x[mask.nonzero().squeeze(1)]\n", "y = x[mask.bool()]\n", "pinned", _XM),
    _example("y = x.index_select(0, mask.nonzero().squeeze(-1))\n", "y = x[mask.bool()]\n", "pinned", _XL),
    _example(
        "m = x[:, 1] < 0.5\ny = torch.index_select(x, 0, torch.nonzero(m).view(-1))\n",
        "m = x[:, 1] < 0.5\ny = x[m]\n",
        "pinned",
        {"x": "float(6, 3)"},
    ),
    _example(
        "m = x[:, 1] < 0.5\ny = x.index_select(dim=0, index=m.nonzero().squeeze())\n",
        "m = x[:, 1] < 0.5\ny = x[m]\n",
        "pinned",
        {"x": "float(6, 3)"},
    ),
    _example("y = x[mask.nonzero().flatten()] + 1\n", "y = x[mask.bool()] + 1\n", "pinned", _XM),
    _example(
        "y = x[mask.nonzero().squeeze()]\n",
        "y = x[mask.bool()]\n",
        "squeeze",
        {"x": "float(6, 3)", "mask": "bool(6) except single-True"},
        applicability=UNSAFE,
    ),
    _example(
        "y = x.view(-1)[(x > 0).view(-1)]\n", "y = torch.masked_select(x, x > 0)\n", "flatten", {"x": "float(4, 8)"}
    ),
    _example(
        "y = x.flatten()[torch.isfinite(x).flatten()]\n",
        "y = torch.masked_select(x, torch.isfinite(x))\n",
        "flatten",
        {"x": "float(4, 8)"},
        applicability=UNSAFE,
    ),
    _example(
        "valid = labels != -100\ny = scores.flatten()[valid.flatten()]\n",
        "valid = labels != -100\ny = torch.masked_select(scores, valid)\n",
        "flatten",
        {"labels": "long(4, 8)", "scores": "float(4, 8)"},
        applicability=UNSAFE,
    ),
    _example(
        "x = torch.as_tensor(data)\nkeep = x[:, 0] > 0\ny = torch.stack([row for row, k in zip(x, keep) if k])\n",
        "x = torch.as_tensor(data)\nkeep = x[:, 0] > 0\ny = x[keep]\n",
        "stack",
        {"data": "float(6, 3)"},
    ),
    _example(
        "y = torch.stack([v for m, v in zip(mask, x) if m], dim=0)\n",
        "y = x[mask.bool()]\n",
        "stack",
        _XM,
        applicability=UNSAFE,
    ),
)
VALID = (
    Valid(
        "import torch\n\nidx = mask.nonzero(as_tuple=True)\ny = x[idx]\nn = idx[0].numel()\n",
        "a named index is kept and reused",
    ),
    Valid("import torch\n\ny = x[mask.nonzero()]\n", "nonzero() without squeeze gives (k, 1) indices"),
    Valid("import numpy as np\n\ny = a[np.nonzero(m)]\n", "numpy's nonzero"),
    Valid("import torch\n\ny = x[mask.nonzero()[:, 0]]\n", "the first column of an n-D mask's indices"),
    Valid("import torch\n\ny = x.index_select(1, mask.nonzero().squeeze(1))\n", "selects along dim 1"),
    Valid("import torch\n\ny = x.flatten()[idx.flatten()]\n", "an index of unknown dtype may be an integer gather"),
    Valid(
        "import torch\n\ny = torch.stack([f(v) for v, m in zip(x, mask) if m])\n",
        "the rows are transformed before stacking",
    ),
    Valid("import torch\n\nx.view(-1)[(x > 0).view(-1)] = 0\n", "an assignment target"),
)
