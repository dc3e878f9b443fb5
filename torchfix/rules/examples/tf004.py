"""TF004's before/after examples and valid near misses (checked by tests/test_rule_examples.py)."""

from __future__ import annotations

from torchfix.rule import Example, Valid

_NN = "from torch import nn\n"

EXAMPLES = (
    Example(
        _NN + "\n\nclass Identity(nn.Module):\n    def __init__(self, *args, **kwargs):\n        super().__init__()\n\n"
        "    def forward(self, x):\n        return x\n",
        _NN + "\n\nIdentity = nn.Identity\n",
        row="class",
    ),
    Example(
        "import torch\nimport torch.nn as nn\n\n\n# pass-through used when a stage is disabled\n"
        "class NoOp(nn.Module):\n    \"\"\"Does nothing.\"\"\"\n\n    def __init__(self, dim: int = 0):\n"
        "        super(NoOp, self).__init__()\n\n    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
        "        return x\n\n\nlayer = NoOp(64)\n",
        "import torch\nimport torch.nn as nn\n\n\n# pass-through used when a stage is disabled\n"
        "NoOp = nn.Identity\n\n\nlayer = NoOp(64)\n",
        row="class",
    ),
    Example(
        "import torch\n\n\nclass Passthrough(torch.nn.Module):\n    def forward(self, x):\n        return x\n",
        "import torch\n\n\nPassthrough = torch.nn.Identity\n",
        row="class",
    ),
    Example(
        "import torch\nfrom torch.nn import Module\n\n\nclass Identity(Module):\n    def __init__(self):\n"
        "        Module.__init__(self)\n\n    def forward(self, inputs):\n        \"\"\"Return the input.\"\"\"\n"
        "        return inputs\n",
        "import torch\nfrom torch.nn import Module\n\n\nIdentity = torch.nn.Identity\n",
        row="class",
    ),
    Example(
        _NN + "\n\nclass Block(nn.Module):\n    def __init__(self, dim):\n        super().__init__()\n"
        "        self.fc = nn.Linear(dim, dim)\n        self.drop = nn.Sequential()\n\n"
        "    def forward(self, x):\n        return self.drop(self.fc(x))\n",
        _NN + "\n\nclass Block(nn.Module):\n    def __init__(self, dim):\n        super().__init__()\n"
        "        self.fc = nn.Linear(dim, dim)\n        self.drop = nn.Identity()\n\n"
        "    def forward(self, x):\n        return self.drop(self.fc(x))\n",
        row="sequential",
    ),
    Example(
        "import torch.nn as nn\n\n\nclass Residual(nn.Module):\n    def __init__(self, cin, cout):\n"
        "        super().__init__()\n        self.body = nn.Linear(cin, cout)\n"
        "        self.skip = nn.Linear(cin, cout) if cin != cout else nn.Sequential()\n\n"
        "    def forward(self, x):\n        return self.body(x) + self.skip(x)\n",
        "import torch.nn as nn\n\n\nclass Residual(nn.Module):\n    def __init__(self, cin, cout):\n"
        "        super().__init__()\n        self.body = nn.Linear(cin, cout)\n"
        "        self.skip = nn.Linear(cin, cout) if cin != cout else nn.Identity()\n\n"
        "    def forward(self, x):\n        return self.body(x) + self.skip(x)\n",
        row="sequential",
    ),
    Example(
        "import torch\n\nmodel = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Sequential(), torch.nn.ReLU())\n",
        "import torch\n\nmodel = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Identity(), torch.nn.ReLU())\n",
        row="sequential",
    ),
    Example(
        _NN + "\n\nclass MLP(nn.Module):\n    def __init__(self, dim, act=True):\n        super().__init__()\n"
        "        self.fc = nn.Linear(dim, dim)\n        self.act = nn.GELU() if act else lambda x: x\n\n"
        "    def forward(self, x):\n        return self.act(self.fc(x))\n",
        _NN + "\n\nclass MLP(nn.Module):\n    def __init__(self, dim, act=True):\n        super().__init__()\n"
        "        self.fc = nn.Linear(dim, dim)\n        self.act = nn.GELU() if act else nn.Identity()\n\n"
        "    def forward(self, x):\n        return self.act(self.fc(x))\n",
        row="lambda",
    ),
    Example(
        "import torch\nimport torch.nn as nn\n\n\nclass Head(nn.Module):\n    def __init__(self, dim):\n"
        "        super().__init__()\n        self.norm = lambda t: t\n        self.proj = nn.Linear(dim, 2)\n\n"
        "    def forward(self, x):\n        return self.proj(self.norm(x))\n",
        "import torch\nimport torch.nn as nn\n\n\nclass Head(nn.Module):\n    def __init__(self, dim):\n"
        "        super().__init__()\n        self.norm = nn.Identity()\n        self.proj = nn.Linear(dim, 2)\n\n"
        "    def forward(self, x):\n        return self.proj(self.norm(x))\n",
        row="lambda",
    ),
    Example(
        _NN + "\n\nclass Layer(nn.Module):\n    def __init__(self, dim, act=None):\n        super().__init__()\n"
        "        self.fc = nn.Linear(dim, dim)\n        self.act = act\n\n    def forward(self, x):\n"
        "        return self.act(self.fc(x))\n\n\nblock = Layer(8, act=lambda x: x)\n",
        _NN + "\n\nclass Layer(nn.Module):\n    def __init__(self, dim, act=None):\n        super().__init__()\n"
        "        self.fc = nn.Linear(dim, dim)\n        self.act = act\n\n    def forward(self, x):\n"
        "        return self.act(self.fc(x))\n\n\nblock = Layer(8, act=nn.Identity())\n",
        row="lambda",
    ),
    Example(
        "import torch\n\n\nclass Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.pre = lambda x: x\n        self.body = torch.nn.Sequential()\n\n"
        "    def forward(self, x):\n        return self.body(self.pre(x))\n",
        "import torch\n\n\nclass Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.pre = torch.nn.Identity()\n        self.body = torch.nn.Identity()\n\n"
        "    def forward(self, x):\n        return self.body(self.pre(x))\n",
        row="lambda",
        findings=2,
    ),
    # a subclass in the file relies on the class
    Example(
        _NN + "\n\nclass Identity(nn.Module):\n    def forward(self, x):\n        return x\n\n\n"
        "class Tagged(Identity):\n    tag = 'skip'\n",
        None,
        row="skip",
        message="`Tagged` in this file subclasses it",
    ),
    # isinstance(m, Skip) would also match every nn.Identity after the alias
    Example(
        _NN + "\n\nclass Skip(nn.Module):\n    def forward(self, x):\n        return x\n\n\n"
        "def prune(model):\n    return [m for m in model.modules() if not isinstance(m, Skip)]\n",
        None,
        row="skip",
        message="which would then match every nn.Identity",
    ),
    # conditional reassignment to a real block
    Example(
        _NN + "\n\nclass BasicBlock(nn.Module):\n    def __init__(self, cin, cout):\n        super().__init__()\n"
        "        self.shortcut = nn.Sequential()\n        if cin != cout:\n"
        "            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout))\n\n"
        "    def forward(self, x):\n        return x + self.shortcut(x)\n",
        None,
        row="skip",
        message="assigns `.shortcut` another value",
    ),
    # the attribute is reassigned to a function later
    Example(
        _NN + "\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.post = lambda x: x\n\n    def set_post(self, fn):\n        self.post = fn\n",
        None,
        row="skip",
        message="assigns `.post` another value",
    ),
)
VALID = (
    Valid(
        _NN + "\n\nclass Identity(nn.Module):\n    def forward(self, x, mask):\n        return x\n",
        "forward takes a second input",
    ),
    Valid(
        _NN + "\n\nclass Identity(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.scale = 1.0\n\n    def forward(self, x):\n        return x\n",
        "__init__ sets an attribute",
    ),
    Valid(
        _NN + "\n\nclass Identity(nn.Module):\n    def forward(self, x):\n        return x\n\n"
        "    def extra_repr(self):\n        return 'id'\n",
        "another method",
    ),
    Valid(
        _NN + "\n\nclass Net(nn.Module):\n    def __init__(self, layers):\n        super().__init__()\n"
        "        self.blocks = nn.Sequential()\n        for i, layer in enumerate(layers):\n"
        "            self.blocks.add_module(f'b{i}', layer)\n\n    def forward(self, x):\n        return self.blocks(x)\n",
        "the Sequential is a placeholder grown with add_module",
    ),
    Valid(
        _NN + "\n\nclass Net(nn.Module):\n    def __init__(self, deep):\n        super().__init__()\n"
        "        self.extra = nn.Sequential()\n        if deep:\n            self.extra.append(nn.ReLU())\n\n"
        "    def forward(self, x):\n        return self.extra(x)\n",
        "the Sequential is appended to",
    ),
    Valid(
        _NN + "\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.layers = nn.Sequential()\n        self.layers += [nn.ReLU()]\n\n"
        "    def forward(self, x):\n        return self.layers(x)\n",
        "the Sequential is extended with +=",
    ),
    Valid(
        _NN + "\n\ndef identity(t, *args, **kwargs):\n    return t\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self, f=identity):\n        super().__init__()\n        self.f = f\n",
        "an identity function used as a callable is not a layer",
    ),
    Valid(
        "import torch\n\nfns = {'id': lambda x: x, 'sq': lambda x: x * x}\nsorted(xs, key=lambda x: x)\n",
        "lambdas used as plain callables",
    ),
    Valid(
        "import torch\n\n\nclass Config:\n    def __init__(self):\n        self.post = lambda x: x\n",
        "not an nn.Module",
    ),
    Valid(
        _NN + "\n\nclass Net(nn.Module):\n    def __init__(self, blocks):\n        super().__init__()\n"
        "        self.stages = nn.Sequential()\n        self.stages = nn.Sequential(*blocks)\n\n"
        "    def forward(self, x):\n        return self.stages(x)\n",
        "a placeholder the same block always replaces is no layer (timm's ConvNeXt stages)",
    ),
)
