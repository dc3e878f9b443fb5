"""TF008 reads the whole project: evidence in another file than the class declines the fix.

Each test writes a small multi-file project (a git root, or a distributable
library with ``pyproject.toml``), puts the hazard in a different file from the
attention class, spelled as real code spells it (aliases, helpers, other
names), and checks that TF008 reports the layers without a fix and says why.
The control project, with no hazard, gets the fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write_tree
from torchfix.config import Settings
from torchfix.runner import Job, Mode, run

ATTENTION = '''\
import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)

    def forward(self, x):
        q = self.q_proj(x)
        k = self.k_proj(x)
        v = self.v_proj(x)
        return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
'''


def _project(root: Path, files: dict[str, str], library: bool = False) -> Path:
    if library:
        (root / "pyproject.toml").write_text('[project]\nname = "demo"\nversion = "0"\n')
    else:
        (root / ".git").mkdir()
    return write_tree(root, {"demo/__init__.py": "", "demo/layers/__init__.py": "", **files})


def _tf008(root: Path, **settings) -> list:
    job = Job(Mode.CHECK, Settings(root=root, select=("TF008",), unsafe_fixes=True, **settings), jobs=1)
    reports = run([root], job)
    return [f for report in reports for f in report.findings if f.code == "TF008"]


def _declined(root: Path, reason: str, **settings) -> None:
    findings = _tf008(root, **settings)
    assert len(findings) == 1, findings
    assert not findings[0].fixable, findings[0].message
    assert "no fix" in findings[0].message and reason in findings[0].message, findings[0].message


def test_control_project_gets_the_fix(tmp_path):
    findings = _tf008(_project(tmp_path, {"demo/layers/attention.py": ATTENTION}))
    assert [f.fixable for f in findings] == [True]
    assert "optimizer state saved before the fix does not map" in findings[0].message


@pytest.mark.parametrize(
    "files, reason",
    [
        # a conversion map in another file names the old keys
        ({"demo/convert.py": 'RENAMES = {"attn.k_proj.weight": "attention.key.weight"}\n'}, "'k_proj' appears in a string"),
        # a LoRA config selects the layers by name, in a training script outside the package
        ({"scripts/finetune.py": "from peft import LoraConfig as Cfg\n\ncfg = Cfg(r=8, target_modules=['v_proj'])\n"},
         "'v_proj' appears in a string"),
        # a tensor-parallel plan keyed by a regex
        ({"demo/parallel.py": 'PLAN = {r"layers\\.\\d+\\.q_proj": "colwise"}\n'}, "'q_proj' appears in a string"),
        # an attribute chain reads the old layer elsewhere
        ({"demo/init.py": "def zero_values(block):\n    block.attention.v_proj.bias.data.zero_()\n"}, "`.v_proj` is read in"),
    ],
    ids=["conversion-map", "lora-target-modules", "tp-plan-regex", "attribute-chain"],
)
def test_old_names_elsewhere_in_the_project(tmp_path, files, reason):
    _declined(_project(tmp_path, {"demo/layers/attention.py": ATTENTION, **files}), reason)


def test_subclass_in_another_file_uses_the_layer(tmp_path):
    sub = "from demo.layers.attention import Attention as Base\n\n\nclass Gated(Base):\n    def gate(self, x):\n        return self.k_proj(x).sigmoid()\n"
    _declined(_project(tmp_path, {"demo/layers/attention.py": ATTENTION, "demo/gated.py": sub}), "subclass `Gated` uses `self.k_proj`")


@pytest.mark.parametrize(
    "files, reason",
    [
        # the project's models derive, through a base in another file, from an aliased PreTrainedModel
        ({"demo/base.py": "from transformers import PreTrainedModel as HFBase\n\n\nclass DemoPreTrained(HFBase):\n    pass\n",
          "demo/model.py": "from demo.base import DemoPreTrained\nfrom demo.layers.attention import Attention\n\n\n"
          "class DemoModel(DemoPreTrained):\n    def __init__(self, config):\n        super().__init__(config)\n"
          "        self.attn = Attention(config.dim)\n"},
         "`DemoModel` derives from `PreTrainedModel`"),
        # a helper loads with accelerate under an alias
        ({"demo/loading.py": "from accelerate import init_empty_weights as empty_init\n\n\ndef build(cls, cfg):\n    with empty_init():\n        return cls(cfg)\n"},
         "`init_empty_weights`"),
        # a script builds the model through from_pretrained
        ({"scripts/infer.py": "from demo.model import DemoModel\n\nmodel = DemoModel.from_pretrained('ckpt')\n"}, "`from_pretrained`"),
    ],
    ids=["pretrained-base", "accelerate-alias", "from-pretrained-script"],
)
def test_weights_assigned_by_key(tmp_path, files, reason):
    _declined(_project(tmp_path, {"demo/layers/attention.py": ATTENTION, **files}), reason)


@pytest.mark.parametrize(
    "script, reason",
    [
        ("import torch as T\n\n\ndef save(net, path):\n    T.save(net, path)\n", "pickles a whole model"),
        ("import torch\n\n\ndef checkpoint(trainer, epoch):\n    torch.save({'epoch': epoch, 'model': trainer.encoder}, 'last.pt')\n",
         "pickles a whole model"),
        ("import torch\n\n\ndef load(model, path):\n    sd = torch.load(path)\n    own = model.state_dict()\n"
         "    model.load_state_dict(dict((k, v) for k, v in sd.items() if k in own), strict=False)\n",
         "keeps only the checkpoint keys"),
        ("def load(model, pretrained):\n    model_dict = model.state_dict()\n"
         "    model_dict.update({k: v for k, v in pretrained.items() if k in model_dict})\n",
         "keeps only the checkpoint keys"),
    ],
    ids=["pickled-alias-helper", "pickled-in-dict", "filtered-dict-call", "filtered-update"],
)
def test_checkpoints_that_bypass_the_hook(tmp_path, script, reason):
    _declined(_project(tmp_path, {"demo/layers/attention.py": ATTENTION, "train.py": script}), reason)


def test_nested_tensors_anywhere_in_the_project(tmp_path):
    batching = "import torch as T\n\n\ndef pack(seqs):\n    return T.nested.nested_tensor(seqs, layout=T.jagged)\n"
    _declined(_project(tmp_path, {"demo/layers/attention.py": ATTENTION, "demo/batching.py": batching}), "nested (jagged) tensors")


def test_public_class_of_a_library_needs_the_opt_in(tmp_path):
    root = _project(tmp_path, {"demo/layers/attention.py": ATTENTION}, library=True)
    _declined(root, "public class of a distributable library")
    assert [f.fixable for f in _tf008(root, fused_linear="public-too")] == [True]
    private = ATTENTION.replace("class Attention", "class _Attention")
    (root / "demo/layers/attention.py").write_text(private)
    assert [f.fixable for f in _tf008(root)] == [True]


def test_evidence_added_later_invalidates_the_cache(tmp_path):
    root = _project(tmp_path, {"demo/layers/attention.py": ATTENTION})
    job = Job(Mode.CHECK, Settings(root=root, select=("TF008",), unsafe_fixes=True), cache_root=root, jobs=1)
    assert [f.fixable for r in run([root], job) for f in r.findings] == [True]
    (root / "demo/convert.py").write_text('MAP = {"blocks.0.q_proj.weight": "q"}\n')
    assert [f.fixable for r in run([root], job) for f in r.findings] == [False]


HEAD = '''\
{imports}
from torch import nn


class GaussianHead({base}):
    def __init__(self, channels, latent):
        super().__init__()
        self.fc_mu = nn.Linear(channels, latent)
        self.fc_logvar = nn.Linear(channels, latent)

    def forward(self, h):
        return self.fc_mu(h), self.fc_logvar(h)
'''


@pytest.mark.parametrize(
    "imports, base, fixable",
    [
        ("from mmengine.model import BaseModule", "BaseModule", True),
        ("from mmengine.model.base_model import BaseModel as MMBase", "MMBase", True),
        ("import lightning.pytorch as pl", "pl.LightningModule", True),
        ("import pytorch_lightning", "pytorch_lightning.LightningModule", True),
        # inside transformers itself the base comes from a relative import; TF008 declines there
        ("from ...modeling_utils import PreTrainedModel", "PreTrainedModel", False),
    ],
    ids=["mmengine-BaseModule", "mmengine-BaseModel-alias", "lightning", "pytorch-lightning", "relative-PreTrainedModel"],
)
def test_framework_module_bases_are_modules(tmp_path, imports, base, fixable):
    root = _project(tmp_path, {"demo/layers/heads.py": HEAD.format(imports=imports, base=base)})
    findings = _tf008(root)
    assert [f.fixable for f in findings] == [fixable], [f.message for f in findings]
    if not fixable:
        assert "derives from `PreTrainedModel`" in findings[0].message


@pytest.mark.parametrize(
    "tail, reason",
    [
        ("\n\ndef export(encoder, path):\n    torch.save(encoder, path)\n", "pickles a whole model"),
        ("\n\ndef pack(seqs):\n    return torch.nested.as_nested_tensor(seqs)\n", "nested (jagged) tensors"),
        ("\n\ndef warm_start(model, sd):\n    return {k: v for k, v in sd.items() if k not in model.skip}\n",
         "keeps only the checkpoint keys"),
    ],
    ids=["pickled", "nested", "filtered"],
)
def test_same_file_evidence_without_a_project(tail, reason):
    """Checked on its own (stdin, the engine's API), the file itself is still searched."""
    from torchfix.engine import RunOptions, fix_text
    from torchfix.rules.tf008_fused_linear import FusedLinear

    outcome = fix_text(ATTENTION + tail, RunOptions((FusedLinear,), frozenset({"TF008"}), {}))
    assert outcome.text == ATTENTION + tail
    [finding] = [f for f in outcome.findings if f.code == "TF008"]
    assert reason in finding.message and "this file" in finding.message, finding.message


def test_fused_linear_settings_come_from_the_config(tmp_path):
    from torchfix.config import ConfigError, load_settings

    (tmp_path / "pyproject.toml").write_text('[tool.torchfix]\nfused-linear = "public-too"\nfused-linear-keys = "fused"\n')
    settings = load_settings([tmp_path])
    assert settings.rule_settings["fused_linear"] == "public-too"
    assert settings.rule_settings["fused_linear_keys"] == "fused"
    (tmp_path / "pyproject.toml").write_text('[tool.torchfix]\nfused-linear = "all"\n')
    with pytest.raises(ConfigError, match="`fused-linear` must be one of 'private-only', 'public-too'"):
        load_settings([tmp_path])


@pytest.mark.parametrize(
    "layers, fused, width",
    [
        ("self.fc21 = nn.Linear(400, 20)  # mu\n        self.fc22 = nn.Linear(400, 20)  # logvar", "self.mu_logvar", "40"),
        ("self.fc21 = nn.Linear(400, 20)\n        self.fc22 = nn.Linear(400, 20)", "self.fc21_fc22", "40"),
        ("self.cls_score = nn.Linear(400, 91)\n        self.bbox_pred = nn.Linear(400, 91 * 4)", "self.cls_score_bbox_pred", "455"),
    ],
    ids=["comment-names", "numbered", "literal-widths"],
)
def test_fused_names_and_widths_read_well(layers, fused, width):
    from torchfix.engine import RunOptions, fix_text
    from torchfix.rules.tf008_fused_linear import FusedLinear

    parts = [line.split("=")[0].strip().split(".")[1] for line in layers.split("\n")]
    source = (
        "import torch\nimport torch.nn as nn\n\n\nclass Head(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        f"        {layers}\n\n    def forward(self, h):\n        return self.{parts[0]}(h), self.{parts[1]}(h)\n"
    )
    text = fix_text(source, RunOptions((FusedLinear,), frozenset({"TF008"}), {})).text
    assert f"{fused} = nn.Linear(400, {width})" in text, text
    assert "fc212" not in text and "  # logvar" not in text.split(f"{fused} =")[1].split("\n")[0]


def test_a_fifo_in_the_project_is_not_read(tmp_path):
    import os

    root = _project(tmp_path, {"demo/layers/attention.py": ATTENTION})
    os.mkfifo(root / "demo" / "pipe.py")
    assert [f.fixable for f in _tf008(root)] == [True]


def test_a_pyproject_with_only_tool_settings_is_an_application(tmp_path):
    root = _project(tmp_path, {"demo/layers/attention.py": ATTENTION})
    (root / "pyproject.toml").write_text("[tool.torchfix]\nunsafe-fixes = true\n")
    assert [f.fixable for f in _tf008(root)] == [True]
    (root / "setup.cfg").write_text("[metadata]\nname = demo\n")
    assert [f.fixable for f in _tf008(root)] == [False]


def test_every_reason_is_given_and_the_public_class_last(tmp_path):
    """The public-class reason no longer hides the evidence that would still rule the fix out
    after opting in; each reason is numbered, the most specific first."""
    files = {
        "demo/layers/attention.py": ATTENTION,
        "tools/convert_original.py": "def rename(sd):\n    return {k.replace('wq', 'q_proj'): v for k, v in sd.items()}\n",
        "demo/hub.py": "import torch\n\n\ndef export(self, folder):\n    torch.save(self, f'{folder}/model.bin')\n",
    }
    root = _project(tmp_path, files, library=True)
    [finding] = _tf008(root)
    message = finding.message
    assert not finding.fixable
    assert "no fix: (1) the name 'q_proj' appears in a string in `tools/convert_original.py`" in message, message
    assert "(2) `demo/hub.py` pickles a whole model (`torch.save(self, ...)`)" in message
    assert message.index("(3) `Attention` is a public class of a distributable library") > message.index("(2)")
    # opting in leaves the other two
    [finding] = _tf008(root, fused_linear="public-too")
    assert "(2) `demo/hub.py` pickles" in finding.message and "public class" not in finding.message


@pytest.mark.parametrize(
    "script, fixable",
    [
        # options filtered by name (timm's tests, diffusers' config loading): no checkpoint involved
        ("def build(cls, **kwargs):\n    return cls(**{k: v for k, v in kwargs.items() if k not in ('grid', 'norm')})\n", True),
        ("def from_config(cls, config_dict, allowed):\n    return cls(**{k: v for k, v in config_dict.items() if k in allowed})\n", True),
        # a checkpoint under any name still declines: through the model's own keys, or a name never seen
        ("def warm(net, loaded):\n    net.load_state_dict({k: v for k, v in loaded.items() if k in net.state_dict()}, strict=False)\n",
         False),
        ("def warm(net, blob, keep):\n    net.load_state_dict({k: v for k, v in blob['net'].items() if k in keep}, strict=False)\n", False),
    ],
    ids=["kwargs", "config-dict", "loaded-into-state-dict", "unknown-names"],
)
def test_key_filters_of_options_are_not_checkpoint_filters(tmp_path, script, fixable):
    findings = _tf008(_project(tmp_path, {"demo/layers/attention.py": ATTENTION, "demo/util.py": script}))
    assert [f.fixable for f in findings] == [fixable], [f.message for f in findings]


def test_a_key_filter_in_a_file_that_loads_nothing_is_not_a_checkpoint_filter(tmp_path):
    """torch_geometric's graph store filters edge attributes; a file that loads state dicts and
    filters a dict of unknown name still declines."""
    graph = "def select(edge_type_attrs, edge_types):\n    return {key: a for key, a in edge_type_attrs.items() if key in edge_types}\n"
    root = _project(tmp_path, {"demo/layers/attention.py": ATTENTION, "demo/graph.py": graph})
    assert [f.fixable for f in _tf008(root)] == [True]
    (root / "demo/graph.py").write_text(graph + "\n\ndef restore(net, blob):\n    net.load_state_dict(select(blob, net.keys()))\n")
    assert [f.fixable for f in _tf008(root)] == [False]


def test_the_keys_a_filter_drops_do_not_make_it_a_checkpoint_filter(tmp_path):
    """timm's model factory drops ('device', 'dtype', 'pretrained_cfg') from its kwargs."""
    factory = (
        "import torch\n\n\ndef create(cls, path, **kwargs):\n"
        "    model = cls(**{k: v for k, v in kwargs.items() if k not in ('device', 'pretrained_cfg')})\n"
        "    model.load_state_dict(torch.load(path))\n    return model\n"
    )
    root = _project(tmp_path, {"demo/layers/attention.py": ATTENTION, "demo/factory.py": factory})
    assert [f.fixable for f in _tf008(root)] == [True]
