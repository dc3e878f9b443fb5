"""TF002's before/after examples and valid near misses (checked by tests/test_rule_examples.py)."""

from __future__ import annotations

from torchfix.rule import Applicability, Example, Valid

UNSAFE = Applicability.UNSAFE


def _example(line: str, after: str | None, row: str, inputs=None, **kw) -> Example:
    """A module importing torch and assigning ``y``."""
    before = f"import torch\n\ny = {line}\n"
    fixed = None if after is None else f"import torch\n\ny = {after}\n"
    return Example(before, fixed, row=row, inputs=inputs or {}, **kw)


_X = {"x": "float(4, 8)"}
#: the default dtype: the assumption of the fixes that let the result take x's dtype
_X32 = {"x": "float32(4, 8)"}
_DEVICE = {"device": "device"}


EXAMPLES = (
    _example("torch.zeros(x.shape, dtype=x.dtype, device=x.device)", "torch.zeros_like(x)", "like", _X),
    _example("torch.full(x.size(), 3.0, dtype=x.dtype, device=x.device)", "torch.full_like(x, 3.0)", "like", _X),
    _example(
        "torch.ones(*x.shape, device=x.device, dtype=torch.float64)",
        "torch.ones_like(x, dtype=torch.float64)",
        "like",
        _X,
    ),
    _example(
        "torch.randint(0, 10, x.shape, dtype=x.dtype, device=x.device)", "torch.randint_like(x, 0, 10)", "like", _X
    ),
    _example("torch.randn(x.shape, dtype=x.dtype, device=x.device)", "torch.randn_like(x)", "like", _X),
    # No dtype= in the original: device= keeps the default dtype, where *_like would take x's.
    _example("torch.zeros(x.size()).to(x.device)", "torch.zeros(x.size(), device=x.device)", "like-no-dtype", _X),
    _example(
        "torch.randn(x.shape).to(x.device)",
        "torch.randn(x.shape, device=x.device)",
        "like-no-dtype",
        _X,
        applicability=UNSAFE,
    ),
    _example(
        "torch.ones(*h.shape).to(h.device)",
        "torch.ones(*h.shape, device=h.device)",
        "like-no-dtype",
        {"h": "float(4, 8)"},
    ),
    Example(
        "import torch\n\ny = torch.ones(x.shape, dtype=torch.bool, device=x.device).to_sparse()\n",
        "import torch\n\ny = torch.ones_like(x, dtype=torch.bool).to_sparse()\n",
        row="like",
        applicability=UNSAFE,
    ),
    _example("torch.zeros(x.shape).to(x)", "torch.zeros_like(x)", "like-move", _X),
    _example("torch.ones(x.size()).type_as(x)", "torch.ones_like(x)", "like-move", _X),
    _example("torch.randn(x.shape).to(x)", "torch.randn_like(x)", "like-move", _X32, applicability=UNSAFE),
    # rand_like/randn_like raise on an integer or boolean tensor: no fix where the code shows one.
    Example(
        "import torch\n\nidx = torch.searchsorted(edges, values)\nnoise = torch.rand(idx.shape).to(idx)\n",
        None,
        row="like-move",
        message="holds integers or booleans",
    ),
    Example(
        "import torch as t\n\n\ndef jitter(labels):\n    labels = labels.long()\n    return t.randn(labels.size()).type_as(labels)\n",
        None,
        row="like-move",
        message="holds integers or booleans",
    ),
    Example(
        "import torch\n\nmask = x > 0\ny = torch.rand(mask.shape).to(mask)\n",
        None,
        row="like-move",
        message="holds integers or booleans",
    ),
    _example("torch.zeros(3, 4).to(device)", "torch.zeros(3, 4, device=device)", "device", _DEVICE),
    # a multi-line call keeps its layout: the new keyword goes on its own line
    _example(
        "torch.tensor(\n    [\n        1.0,\n        2.0,\n    ]\n).to(device)",
        "torch.tensor(\n    [\n        1.0,\n        2.0,\n    ],\n    device=device\n)",
        "device",
        _DEVICE,
    ),
    _example("torch.tensor([1.0, 2.0]).cuda()", 'torch.tensor([1.0, 2.0], device="cuda")', "device"),
    _example("torch.arange(10).to(device=device)", "torch.arange(10, device=device)", "device", _DEVICE),
    _example(
        "torch.zeros(x.shape[0], 5).to(x.device, torch.float64)",
        "torch.zeros(x.shape[0], 5, device=x.device, dtype=torch.float64)",
        "device",
        _X,
    ),
    # Shape-only calls and casts between the constructor and the move run on the device instead.
    _example(
        "torch.arange(n).view(-1, 1).to(dev)",
        "torch.arange(n, device=dev).view(-1, 1)",
        "device",
        {"n": "int:5", "dev": "device"},
    ),
    _example(
        "torch.tensor(v).float().to(device)",
        "torch.tensor(v, device=device).float()",
        "device",
        {"v": "long(4)", **_DEVICE},
    ),
    _example(
        "torch.ones(3).unsqueeze(0).expand(2, 3).contiguous().cuda()",
        'torch.ones(3, device="cuda").unsqueeze(0).expand(2, 3).contiguous()',
        "device",
    ),
    Example(
        "from torch import arange\n\ny = arange(6).reshape(2, 3).t().to(device=dev)\n",
        "from torch import arange\n\ny = arange(6, device=dev).reshape(2, 3).t()\n",
        row="device",
        inputs={"dev": "device"},
    ),
    # Integer data cast to an integer dtype is created in it exactly.
    _example(
        "torch.tensor([0] * n).to(device=d, dtype=torch.long)",
        "torch.tensor([0] * n, device=d, dtype=torch.long)",
        "device",
        {"n": "int:5", "d": "device"},
    ),
    _example(
        "torch.arange(n).to(device, torch.int32)",
        "torch.arange(n, device=device, dtype=torch.int32)",
        "device",
        {"n": "int:5", **_DEVICE},
    ),
    _example("torch.eye(3).to(rank, non_blocking=True)", "torch.eye(3, device=rank)", "device", {"rank": "device"}),
    _example("(torch.ones(2, 2)).cuda(0)", "torch.ones(2, 2, device=0)", "device"),
    Example(
        "from torch import zeros\n\ny = zeros(4).to(device)\n",
        "from torch import zeros\n\ny = zeros(4, device=device)\n",
        row="device",
        inputs=_DEVICE,
    ),
    Example(
        "import torch as t\n\ny = t.zeros(x.size(), dtype=x.dtype, device=x.device)\n",
        "import torch as t\n\ny = t.zeros_like(x)\n",
        row="like",
        inputs=_X,
    ),
    _example(
        "torch.randn(4, 8).to(device)", "torch.randn(4, 8, device=device)", "device", _DEVICE, applicability=UNSAFE
    ),
    _example(
        "torch.linspace(0, 1, 5).to(device)",
        "torch.linspace(0, 1, 5, device=device)",
        "device",
        _DEVICE,
        applicability=UNSAFE,
    ),
    _example("torch.zeros_like(x).to(x.device)", "torch.zeros_like(x)", "like-redundant", _X),
    _example("torch.ones_like(x).type_as(x)", "torch.ones_like(x)", "like-redundant", _X),
    # The shape, dtype and device come from a call: torch.zeros_like would call it once.
    _example("torch.zeros(f(x).shape, dtype=f(x).dtype, device=f(x).device)", None, "like", message="has side effects"),
)
VALID = (
    Valid("import torch\n\ny = torch.zeros(3, requires_grad=True).to(device)\n", "the moved tensor is not a leaf"),
    Valid("import torch\n\ny = torch.randn(3, generator=g).to(device)\n", "a generator fixes the device"),
    Valid("import torch\n\ny = torch.from_numpy(a).to(device)\n", "from_numpy takes no device="),
    Valid("import torch\n\ny = torch.FloatTensor(3, 4).cuda()\n", "legacy constructor"),
    Valid("import torch\n\ny = torch.zeros(3).to(t)\n", "t may be a tensor: .to(t) would change the dtype too"),
    Valid("import torch\n\ny = torch.zeros(3).to(torch.float16)\n", "a dtype-only cast"),
    Valid("import torch\n\ny = torch.zeros(3).to(device, copy=True)\n", ".to() with other arguments"),
    Valid("import torch\n\ny = torch.zeros(x.shape[0], device=x.device)\n", "a partial shape is not a *_like"),
    Valid("import torch\n\ny = torch.zeros(x.shape, device=x.device)\n", "no dtype=: *_like would take x's dtype"),
    Valid(
        "import torch\n\nidx = torch.searchsorted(a, b)\ny = torch.rand(idx.shape, device=idx.device)\n",
        "no dtype=, and rand_like raises on an integer tensor",
    ),
    Valid(
        "import torch\n\ny = torch.arange(n).view(-1, 1).to(t)\n",
        "t may be a tensor: the chain's move is not visibly a device",
    ),
    Valid(
        "import torch\n\ny = torch.arange(n).float().to(device, torch.float64)\n",
        "a cast after the chain: not moved into it",
    ),
    Valid(
        "import torch\n\ny = torch.tensor([0.5] * n).to(device=d, dtype=torch.long)\n",
        "fractional data cast to an integer dtype",
    ),
    Valid("import torch\n\ny = torch.tensor([0.1]).to(device, torch.float64)\n", "a cast after creation rounds twice"),
    Valid(
        "import torch\n\ny = torch.randn(x.shape, generator=g, dtype=x.dtype, device=x.device)\n",
        "randn_like takes no generator",
    ),
)
