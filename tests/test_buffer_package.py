"""TF003 on multi-file projects: the evidence that a tensor must stay off the module's device,
or must not follow its dtype, lives in another file or is spelled another way."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write_tree
from torchfix.config import Settings
from torchfix.engine import RunOptions, fix_text
from torchfix.rules.tf003_register_buffer import RegisterBuffer
from torchfix.runner import Job, Mode, run

TOKENS = '''\
import torch
from torch import nn


class Tokens(nn.Module):
    def __init__(self, pad_id):
        super().__init__()
        self.pad = torch.tensor([pad_id], dtype=torch.long)

    def merge(self, items):
        width = max(len(i) for i in items)
        return torch.stack([torch.cat([i, self.pad.repeat(width - len(i))]) for i in items])

    def forward(self, x):
        return x
'''


def _findings(root: Path) -> list:
    reports = run([root], Job(Mode.CHECK, Settings(root=root, select=("TF003",), unsafe_fixes=True), jobs=1))
    return [f for report in reports for f in report.findings if f.code == "TF003"]


def _project(root: Path, files: dict[str, str]) -> Path:
    (root / ".git").mkdir()
    return write_tree(root, {"pkg/__init__.py": "", **files})


def test_integer_constant_alone_is_a_safe_fix(tmp_path):
    findings = _findings(_project(tmp_path, {"pkg/tokens.py": TOKENS}))
    assert [(f.fixable, f.applicability.value) for f in findings] == [(True, "safe")]


@pytest.mark.parametrize(
    "script",
    [
        "from torch.utils.data import DataLoader as Loader\n\n\ndef batches(model, data):\n"
        "    return Loader(data, batch_size=8, collate_fn=model.merge)\n",
        "import torch.utils.data as tud\n\n\ndef make(tok, ds):\n    kwargs = dict(collate_fn=tok.merge, shuffle=True)\n"
        "    return tud.DataLoader(ds, **kwargs)\n",
    ],
    ids=["aliased-loader", "kwargs-dict"],
)
def test_collate_fn_in_another_file_keeps_it_on_the_cpu(tmp_path, script):
    findings = _findings(_project(tmp_path, {"pkg/tokens.py": TOKENS, "train.py": script}))
    assert len(findings) == 1 and not findings[0].fixable
    assert "used from `merge`, a DataLoader collate_fn on CPU batches" in findings[0].message


@pytest.mark.parametrize(
    "value, safe",
    [
        ("torch.tensor([0.5, 2.0])", False),
        ("torch.linspace(0, 1, 5)", False),
        ("torch.tensor([1, 2, 3])", True),
        ("torch.arange(7)", True),
        ("(torch.rand(4) > 0.5)", True),
        ("torch.ones(3, 3).triu().bool()", True),
        ("torch.zeros(3).to(torch.int64)", True),
        ("torch.full((2,), 7)", True),
    ],
)
def test_floating_point_constants_are_unsafe_with_the_dtype_assumption(value, safe):
    source = f"import torch\nfrom torch import nn\n\n\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.c = {value}\n\n    def forward(self, x):\n        return x\n"
    outcome = fix_text(source, RunOptions((RegisterBuffer,), frozenset({"TF003"}), {}))
    [finding] = outcome.findings
    assert finding.applicability.value == ("safe" if safe else "unsafe"), finding.message
    if not safe:
        assert "the module is never cast" in finding.message and "follows the module's dtype" in finding.message


def test_frozen_parameters_convert_all_or_none_and_name_both_effects():
    frozen = (
        "import torch\nimport torch.nn as nn\n\n\nclass Stats(nn.Module):\n    def __init__(self, d):\n        super().__init__()\n"
        "        self.mu = nn.Parameter(torch.zeros(d), requires_grad=False)\n"
        "        self.sigma = nn.Parameter(torch.ones(d), requires_grad=False)\n\n"
        "    def forward(self, x):\n        return (x - self.mu) / self.sigma\n"
    )
    outcome = fix_text(frozen, RunOptions((RegisterBuffer,), frozenset({"TF003"}), {}))
    assert [f.fixable for f in outcome.findings] == [True, True]
    for finding in outcome.findings:
        assert "optimizer" in finding.message and "accelerate" in finding.message
    # one of them is filled later through an alias-free helper: neither converts
    filled = frozen.replace("    def forward", "    def load(self, stats):\n        torch.nn.init.zeros_(self.mu)\n        self.sigma.data.copy_(stats)\n\n    def forward")
    outcome = fix_text(filled, RunOptions((RegisterBuffer,), frozenset({"TF003"}), {}))
    assert [f.fixable for f in outcome.findings] == [False, False]


WALKS = '''\
import torch
import torch.nn as nn


class RandomWalks(nn.Module):
    def __init__(self, starts, length):
        super().__init__()
        self.offsets = torch.tensor(starts * length)
        self.table = nn.Embedding(100, 8)

    def batch_walks(self, nodes):
        return self._jump(torch.as_tensor(nodes))

    def _jump(self, nodes):
        return nodes[:, None] + self.offsets[None]

    def forward(self, nodes):
        return self.table(nodes)
'''


def test_helper_of_a_collate_fn_in_another_file_keeps_it_on_the_cpu(tmp_path):
    """torch_geometric's MetaPath2Vec: the collate_fn draws its walks with helper methods that read
    the constant; as a buffer it would follow model.to("cuda") while the walks stay on the CPU."""
    script = (
        "from torch.utils import data\n\nfrom pkg.walks import RandomWalks\n\n\ndef loader(model: RandomWalks):\n"
        "    return data.DataLoader(range(100), batch_size=16, collate_fn=model.batch_walks)\n"
    )
    findings = _findings(_project(tmp_path, {"pkg/walks.py": WALKS, "scripts/train.py": script}))
    assert [f.fixable for f in findings] == [False]
    assert "used from `_jump`, which the DataLoader collate_fn `batch_walks` calls on CPU batches" in findings[0].message


ROTARY = '''\
import torch
from torch import nn


class Rotary(nn.Module):
    def __init__(self, dim, base=10000):
        super().__init__()
        self.inv_freq = 1.0 / base ** (torch.arange(0, dim, 2).float() / dim)
        self.positions = torch.arange(4096)

    def forward(self, x):
        return x * self.inv_freq[: x.shape[-1]]
'''


def test_a_module_that_a_pretrained_model_builds_in_another_file_is_not_fixed(tmp_path):
    """transformers >= 5 builds the model on the meta device and refills every non-persistent
    buffer with torch.empty_like: a new buffer holds garbage unless _init_weights sets it."""
    files = {
        "pkg/rotary.py": ROTARY,
        "pkg/base.py": "import transformers as hf\n\n\nclass DemoPreTrained(hf.PreTrainedModel):\n    config_class = None\n",
        "pkg/model.py": (
            "from pkg import rotary\nfrom pkg.base import DemoPreTrained\n\n\nclass DemoModel(DemoPreTrained):\n"
            "    def __init__(self, config):\n        super().__init__(config)\n"
            "        self.rope = rotary.Rotary(config.head_dim)\n"
        ),
    }
    findings = _findings(_project(tmp_path, files))
    assert [f.fixable for f in findings] == [False, False]
    for finding in findings:
        assert "part of `pkg/model.py`'s `DemoModel`, a `PreTrainedModel`" in finding.message, finding.message
        assert "uninitialized memory (`torch.empty_like`)" in finding.message
    # the same module without a transformers model around it is fixed
    del files["pkg/model.py"], files["pkg/base.py"]
    (tmp_path / "pkg/model.py").unlink()
    (tmp_path / "pkg/base.py").unlink()
    assert [f.fixable for f in _findings(tmp_path)] == [True, True]


QUANTIZED = '''\
import torch
from torch.nn.parameter import Parameter as P
from torch import nn


class PackedLinear(nn.Module):
    def __init__(self, n_in, n_out, bias=True):
        super().__init__()
        self.scales = P(torch.ones(n_out), requires_grad=False)
        self.bias = P(torch.zeros(n_out), requires_grad=False) if bias else None

    def forward(self, x):
        y = x * self.scales
        return y if self.bias is None else y + self.bias
'''


def test_frozen_parameters_in_a_form_the_fix_does_not_read_keep_the_others():
    """All or none: the conditional `bias` stays a Parameter, so `scales` does too."""
    outcome = fix_text(QUANTIZED, RunOptions((RegisterBuffer,), frozenset({"TF003"}), {}))
    assert outcome.text == QUANTIZED
    [finding] = outcome.findings
    assert "frozen nn.Parameter `self.bias` is written in a form the fix does not convert" in finding.message


def test_an_uninitialized_frozen_parameter_is_a_weight_slot():
    source = QUANTIZED.replace(
        "self.bias = P(torch.zeros(n_out), requires_grad=False) if bias else None",
        "self.packed = P(torch.empty(n_out, n_in // 2, dtype=torch.int8), requires_grad=False)\n"
        "        self.bias = None",
    )
    outcome = fix_text(source, RunOptions((RegisterBuffer,), frozenset({"TF003"}), {}))
    assert outcome.text == source
    packed = next(f for f in outcome.findings if "self.packed" in f.message)
    assert "created uninitialized (`torch.empty(" in packed.message and "weight slot" in packed.message
    scales = next(f for f in outcome.findings if "self.scales" in f.message)
    assert "convert all or none" in scales.message


def test_a_tensor_built_from_a_plain_sibling_stays_plain():
    """diffusers' BoundingBoxVolume: `bbox` stacks `bbox_min`/`bbox_max`, which stay attributes."""
    source = (
        "import torch\nfrom torch import nn\n\n\nclass Box(nn.Module):\n    def __init__(self, lo, hi):\n"
        "        super().__init__()\n        self.lo = torch.tensor(lo)\n        self.hi = torch.tensor(hi)\n"
        "        self.box = torch.cat([self.lo[None], self.hi[None]])\n\n"
        "    def corners(self):\n        return self.lo.numpy(), self.hi.numpy()\n\n"
        "    def forward(self, x):\n        return x.clamp(self.box[0], self.box[1])\n"
    )
    outcome = fix_text(source, RunOptions((RegisterBuffer,), frozenset({"TF003"}), {}))
    assert outcome.text == source
    box = next(f for f in outcome.findings if "self.box" in f.message)
    assert "built from `self.hi`, which stays a plain attribute" in box.message, box.message


def test_every_reason_is_given():
    source = (
        "import torch\nfrom torch import nn\n\n\nclass Noise(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.table = torch.randn(8, device='cpu')\n\n"
        "    def reseed(self):\n        self.table = torch.randn(8)\n\n"
        "    def forward(self, x):\n        return x + self.table.numpy().sum()\n"
    )
    [finding] = fix_text(source, RunOptions((RegisterBuffer,), frozenset({"TF003"}), {})).findings
    assert "no fix: (1) it is reassigned in `reseed`; (2) it is kept on the CPU on purpose" in finding.message
    assert "(3) it is used on the CPU on purpose (`self.table.numpy()`)" in finding.message


ROUTER = '''\
import torch
import torch.nn as nn


class Router(nn.Module):
    def __init__(self, n_experts):
        super().__init__()
        self.correction = nn.Parameter(torch.zeros(n_experts), requires_grad=False)

    def forward(self, scores):
        return scores + self.correction
'''


def test_a_frozen_parameter_of_a_pretrained_model_trains_after_loading(tmp_path):
    """transformers 5 loads each floating-point parameter as a new nn.Parameter with
    requires_grad=True: after from_pretrained the "frozen" bias trains, a buffer would not."""
    model = (
        "from transformers.modeling_utils import PreTrainedModel as Base\n\nfrom pkg.router import Router\n\n\n"
        "class MoePreTrained(Base):\n    pass\n\n\nclass MoeModel(MoePreTrained):\n"
        "    def __init__(self, config):\n        super().__init__(config)\n        self.router = Router(config.n)\n"
    )
    findings = _findings(_project(tmp_path, {"pkg/router.py": ROUTER, "pkg/modeling.py": model}))
    assert [f.fixable for f in findings] == [False]
    assert "`MoeModel`, a `PreTrainedModel`" in findings[0].message
    assert "re-creates each loaded floating-point parameter with `requires_grad=True`" in findings[0].message


def test_a_frozen_parameter_found_by_name_in_another_file_stays(tmp_path):
    """mxfp4: the loader deletes `module._parameters[proj]` to attach a kernel tensor; as a buffer
    the name would stay registered and the attach would raise."""
    loader = (
        "def attach(module, kernel_tensor):\n    proj = 'correction'\n    if proj in module._parameters:\n"
        "        del module._parameters[proj]\n    setattr(module, proj, kernel_tensor)\n"
    )
    findings = _findings(_project(tmp_path, {"pkg/router.py": ROUTER, "pkg/kernels/attach.py": loader}))
    assert [f.fixable for f in findings] == [False]
    assert "the name 'correction' appears in a string in `pkg/kernels/attach.py`" in findings[0].message
    (tmp_path / "pkg/kernels/attach.py").unlink()
    assert [f.fixable for f in _findings(tmp_path)] == [True]


def test_an_uninitialized_frozen_parameter_through_a_local_is_a_weight_slot():
    """gemma_quant: the packed table is allocated in a branch, then wrapped."""
    source = (
        "import torch\nfrom torch import nn\n\n\nclass PackedEmbedding(nn.Module):\n"
        "    def __init__(self, n, d, four_bit):\n        super().__init__()\n        if four_bit:\n"
        "            storage = torch.empty(n, d // 2, dtype=torch.uint8)\n        else:\n"
        "            storage = torch.empty(n, d, dtype=torch.int8)\n"
        "        self.table = nn.Parameter(storage, requires_grad=False)\n\n"
        "    def forward(self, ids):\n        return self.table[ids]\n"
    )
    [finding] = fix_text(source, RunOptions((RegisterBuffer,), frozenset({"TF003"}), {})).findings
    assert not finding.fixable
    assert "created uninitialized (`torch.empty(n, d // 2, dtype=torch.uint8)`)" in finding.message


CODEBOOK = '''\
import torch
from torch import nn


class Codebook(nn.Module):
    def __init__(self, levels):
        super().__init__()
        self.register_buffer("levels", torch.tensor(levels), persistent=False)

    def codes(self, indices):
        return indices % self.levels.to(indices.device)

    def _scale(self, z):
        return z * self.levels.to(z.device)

    def forward(self, z):
        return self._scale(z).round()
'''


def test_a_move_in_a_method_other_code_calls_directly_stays_when_the_project_offloads(tmp_path):
    """diffusers' ACE-Step pipeline calls `quantizer.get_output_from_indices(...)` itself: offload
    hooks bring the module's tensors to the GPU only around forward, so that `.to()` is needed."""
    runner = (
        "from accelerate import cpu_offload as offload\n\n\ndef decode(model, indices, device):\n"
        "    offload(model, execution_device=device)\n    return model.codebook.codes(indices.to(device))\n"
    )
    findings = _findings(_project(tmp_path, {"pkg/codebook.py": CODEBOOK, "pkg/runner.py": runner}))
    by_line = {f.line: f for f in findings}
    assert not by_line[11].fixable
    assert "`codes` is not reached from `forward`, and the project offloads models (`cpu_offload` in `pkg/runner.py`)" in by_line[11].message
    assert by_line[14].fixable  # `_scale` runs inside forward, where the hooks have moved the buffer
    (tmp_path / "pkg/runner.py").unlink()
    assert [f.fixable for f in _findings(tmp_path)] == [True, True]


def test_a_frozen_parameter_stays_when_the_project_resumes_its_optimizer(tmp_path):
    """denoising-diffusion-pytorch's Trainer saves {'opt': opt.state_dict()} and loads it back:
    with one parameter fewer, `opt.load_state_dict` raises on every checkpoint saved before."""
    trainer = (
        "import torch\n\n\nclass Trainer:\n    def resume(self, path):\n        state = torch.load(path)\n"
        "        self.net.load_state_dict(state['weights'])\n        self.optim.load_state_dict(state['optimizer_state'])\n"
    )
    findings = _findings(_project(tmp_path, {"pkg/router.py": ROUTER, "pkg/training/loop.py": trainer}))
    assert [f.fixable for f in findings] == [False]
    assert "`pkg/training/loop.py` loads optimizer state back from checkpoints ('optimizer_state')" in findings[0].message
