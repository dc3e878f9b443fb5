"""torchfix verify, in-process parts: config, device choice, parameter mapping, comparison,
the import overlay, the project scan, model construction and the site check.

The subprocess plumbing and the end-to-end runs are in test_verify_runs.py.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from torchfix.verify.checks import ModelCheck, ModuleReport
from torchfix.verify.config import ModelSpec, VerifyConfig, parse_verify_config
from torchfix.verify.device import DeviceError, select_device
from torchfix.verify.mapping import map_parameters
from torchfix.verify.overlay import OverlayFinder, OverlayLoader, install
from torchfix.verify.project import Project, module_name
from torchfix.verify.report import Round, VerifyReport, render_json
from torchfix.verify.modes import Mode
from torchfix.verify.specs import FLOAT_VALUES, MASKS, Spec, Variant, parse_spec, variants
from torchfix.verify.worker.compare import Tolerance, compare_gradients, compare_tensor, compare_values, flatten
from torchfix.verify.worker.inputs import input_candidates
from torchfix.verify.worker.models import Skip, auto_recipes, build, load_state
from torchfix.verify.worker.train import step
from torchfix.verify.worker.sites import check_site, make_inputs

ROOT = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


# --- config ----------------------------------------------------------------------------------


def test_config_reads_every_key():
    config = parse_verify_config(
        {
            "models": [
                {"factory": "pkg.models:build", "inputs": "pkg.models:example_inputs"},
                {"class": "pkg.models:Net"},
            ],
            "timeout": 30,
            "device": "cpu",
            "rtol": 1e-4,
            "atol": 0,
        }
    )
    assert config == VerifyConfig(
        models=(ModelSpec("pkg.models:build", None, "pkg.models:example_inputs"), ModelSpec(None, "pkg.models:Net")),
        timeout=30.0,
        device="cpu",
        rtol=1e-4,
        atol=0.0,
    )
    assert parse_verify_config({}) == VerifyConfig()
    assert parse_verify_config(None) == VerifyConfig()


@pytest.mark.parametrize(
    "table, message",
    [
        ({"modles": []}, "unknown key(s) modles"),
        ({"models": {"factory": "a:b"}}, "`models` must be a list"),
        ({"models": ["a:b"]}, "must be a table"),
        ({"models": [{"factory": "a:b", "input": "a:c"}]}, "models[0]: unknown key(s) input"),
        ({"models": [{"factory": "a.b"}]}, 'models[0].factory must be a "package.module:name"'),
        ({"models": [{"factory": "a:b", "class": "a:C"}]}, "not both"),
        ({"models": [{"inputs": "a:b"}]}, "needs `factory`"),
        ({"timeout": "10"}, "`timeout` must be a number"),
        ({"timeout": 0}, "`timeout` must be positive"),
        ({"rtol": -1}, "`rtol` must be zero or positive"),
        ({"atol": True}, "`atol` must be a number"),
        ({"device": "tpu"}, "`device` must be one of auto, cpu, cuda, mps"),
    ],
)
def test_config_errors_name_the_problem(table, message):
    with pytest.raises(ValueError) as error:
        parse_verify_config(table)
    assert message in str(error.value)


# --- device ----------------------------------------------------------------------------------


def test_device_selection():
    assert select_device("auto", cuda=True, mps=True) == "cuda"
    assert select_device("auto", cuda=False, mps=True) == "mps"
    assert select_device("auto", cuda=False, mps=False) == "cpu"
    assert select_device("cpu", cuda=True, mps=True) == "cpu"
    assert select_device("cuda", cuda=True, mps=False) == "cuda"
    assert select_device("mps", cuda=False, mps=True) == "mps"
    with pytest.raises(DeviceError, match="CUDA is not available"):
        select_device("cuda", cuda=False, mps=True)
    with pytest.raises(DeviceError, match="MPS is not available"):
        select_device("mps", cuda=True, mps=False)


# --- parameter mapping -----------------------------------------------------------------------


def test_fused_parameters_map_by_name_in_the_fused_order():
    before = {
        "attn.v.weight": (4, 8),
        "attn.q.weight": (4, 8),
        "attn.k.weight": (4, 8),
        "attn.q.bias": (4,),
        "attn.k.bias": (4,),
        "attn.v.bias": (4,),
        "out.weight": (2, 4),
    }
    after = {"attn.qkv.weight": (12, 8), "attn.qkv.bias": (12,), "out.weight": (2, 4)}
    mapping = map_parameters(before, after)
    assert mapping.complete
    assert mapping.parts == {
        "attn.qkv.weight": ["attn.q.weight", "attn.k.weight", "attn.v.weight"],
        "attn.qkv.bias": ["attn.q.bias", "attn.k.bias", "attn.v.bias"],
        "out.weight": ["out.weight"],
    }
    assert "attn.q.weight + attn.k.weight + attn.v.weight -> attn.qkv.weight" in mapping.describe()


def test_fused_parameters_with_underscored_names_uneven_widths_and_shape_fallback():
    named = map_parameters(
        {"query.weight": (8, 8), "key.weight": (2, 8), "value.weight": (2, 8)}, {"query_key_value.weight": (12, 8)}
    )
    assert named.parts["query_key_value.weight"] == ["query.weight", "key.weight", "value.weight"]
    # a shared suffix or prefix, with another free sibling that must not be taken
    free = {"q_proj.weight": (4, 4), "k_proj.weight": (4, 4), "v_proj.weight": (4, 4), "o_proj.weight": (4, 4)}
    suffixed = map_parameters(free, {"qkv_proj.weight": (12, 4), "out.weight": (4, 4)})
    assert suffixed.parts["qkv_proj.weight"] == ["q_proj.weight", "k_proj.weight", "v_proj.weight"]
    prefixed = map_parameters({"to_k.weight": (4, 4), "to_v.weight": (4, 4)}, {"to_kv.weight": (8, 4)})
    assert prefixed.parts["to_kv.weight"] == ["to_k.weight", "to_v.weight"]
    # a fused name that spells nothing: every sibling fits by shape, in registration order
    by_shape = map_parameters({"mu.weight": (3, 5), "logvar.weight": (3, 5)}, {"heads.weight": (6, 5)})
    assert by_shape.parts["heads.weight"] == ["mu.weight", "logvar.weight"]
    # only k and v fused (cross-attention): q keeps its own parameter
    partial = map_parameters(
        {"q.weight": (4, 4), "k.weight": (4, 4), "v.weight": (4, 4)}, {"q.weight": (4, 4), "kv.weight": (8, 4)}
    )
    assert partial.complete and partial.parts["kv.weight"] == ["k.weight", "v.weight"]


def test_unmatched_parameters_are_listed():
    mapping = map_parameters({"a.weight": (3, 5), "b.weight": (3, 5)}, {"ab.weight": (7, 5), "c.bias": (2,)})
    assert not mapping.complete
    assert mapping.unmatched_after == ["ab.weight", "c.bias"]
    assert mapping.unmatched_before == ["a.weight", "b.weight"]


# --- comparison ------------------------------------------------------------------------------


def test_comparison_tolerances_follow_the_dtype():
    base = torch.ones(4, dtype=torch.float32)
    assert compare_tensor("x", base, base + 5e-6, Tolerance()).equal
    assert not compare_tensor("x", base, base + 1e-3, Tolerance()).equal
    assert compare_tensor("x", base, base + 1e-3, Tolerance(rtol=1e-2)).equal
    half = torch.ones(4, dtype=torch.float16)
    assert compare_tensor("x", half, half + 1e-3, Tolerance()).equal
    double = torch.ones(4, dtype=torch.float64)
    assert not compare_tensor("x", double, double + 5e-6, Tolerance()).equal
    ints = torch.arange(4)
    assert not compare_tensor("x", ints, ints + 1, Tolerance()).equal


def test_comparison_reports_errors_and_ignores_non_finite_originals():
    before = torch.tensor([1.0, float("nan"), float("inf"), 4.0])
    after = torch.tensor([1.0, 0.0, 2.0, 4.0 + 2e-6])
    result = compare_tensor("out", before, after, Tolerance())
    assert result.equal
    assert result.max_abs == pytest.approx(2e-6, rel=0.1)
    assert result.max_rel == pytest.approx(2e-6 / 4, rel=0.1)
    lost = compare_tensor("out", torch.tensor([1.0, 2.0]), torch.tensor([1.0, float("nan")]), Tolerance())
    assert lost.problems == ["out: 1 non-finite value(s) where the original is finite"]
    assert "shape (3,) instead of (2,)" in compare_tensor("out", torch.ones(2), torch.ones(3), Tolerance()).problems[0]
    dtype = compare_tensor("out", torch.ones(2), torch.ones(2, dtype=torch.float64), Tolerance())
    assert dtype.problems == ["out: dtype torch.float64 instead of torch.float32"]


def test_nested_outputs_are_compared_leaf_by_leaf():
    @dataclass
    class Output:
        logits: torch.Tensor
        extra: dict

    before = flatten(Output(torch.ones(2), {"n": 3, "h": (torch.zeros(1), None)}))
    assert [path for path, _ in before] == ["out.logits", "out.extra['n']", "out.extra['h'][0]", "out.extra['h'][1]"]
    same = flatten(Output(torch.ones(2), {"n": 3, "h": (torch.zeros(1), None)}))
    assert compare_values(before, same, Tolerance()).equal
    changed = flatten(Output(torch.ones(2), {"n": 4, "h": (torch.ones(1), None)}))
    problems = compare_values(before, changed, Tolerance()).problems
    assert problems[0] == "out.extra['n']: 4 instead of 3"
    assert problems[1].startswith("out.extra['h'][0]: 1 of 1 value(s) differ")
    fewer = flatten(Output(torch.ones(2), {"n": 3}))
    assert compare_values(before, fewer, Tolerance()).problems == [
        "output structure differs: missing out.extra['h'][0], out.extra['h'][1]"
    ]


def test_json_report_is_strict_json():
    model = ModelCheck("pkg:Net", "pkg", status="differs", max_abs=float("inf"), max_rel=float("nan"))
    report = VerifyReport(rounds=[Round("check", ModuleReport(device="cpu", models=[model]))])
    parsed = json.loads(render_json(report))
    assert parsed["status"] == "differs" and report.exit_code == 1
    assert parsed["rounds"][0]["models"][0]["max_abs_err"] == "inf"
    assert parsed["rounds"][0]["models"][0]["max_rel_err"] == "nan"


# --- overlay ---------------------------------------------------------------------------------


def test_overlay_serves_rewritten_siblings_with_relative_imports(tmp_path, monkeypatch):
    write(
        tmp_path,
        {
            "ovpkg/__init__.py": "from .api import answer\n",
            "ovpkg/api.py": """\
                from .core import base
                from . import extra

                def answer():
                    return base() + extra.more()
                """,
            "ovpkg/core.py": "def base():\n    return 1\n",
            "ovpkg/extra.py": "def more():\n    return 10\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    finder = install(
        {
            tmp_path / "ovpkg/core.py": "def base():\n    return 2\n",
            tmp_path / "ovpkg/extra.py": "def more():\n    return 20\n",
        }
    )
    try:
        import ovpkg

        assert ovpkg.answer() == 22
        assert isinstance(ovpkg.core.__loader__, OverlayLoader)
        assert not isinstance(ovpkg.api.__loader__, OverlayLoader)
        assert ovpkg.core.__file__ == str(tmp_path / "ovpkg/core.py")
        assert "return 2" in inspect.getsource(ovpkg.core.base)
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules if n == "ovpkg" or n.startswith("ovpkg.")]:
            del sys.modules[name]
    assert (tmp_path / "ovpkg/core.py").read_text() == "def base():\n    return 1\n"
    assert not list(tmp_path.rglob("__pycache__/core*"))


def test_overlay_finder_leaves_other_modules_alone(tmp_path):
    (tmp_path / "plain.py").write_text("X = 1\n")
    finder = OverlayFinder({tmp_path / "other.py": "X = 2\n"})
    assert finder.find_spec("plain", [str(tmp_path)]) is None
    assert finder.find_spec("json") is None


# --- project scan ----------------------------------------------------------------------------

PROJECT = {
    "shop/__init__.py": "from .blocks import Block\n",
    "shop/blocks.py": """\
        from torch import nn

        class Block(nn.Module):
            pass

        class Other(nn.Module):
            pass
        """,
    "shop/heads.py": """\
        from torch import nn
        from .blocks import Block

        class Head(nn.Module):
            def __init__(self):
                self.b = Block()
        """,
    # uses Block through the package's re-export, Head through a module attribute
    "shop/tower.py": """\
        from torch import nn
        import shop
        from . import heads

        class Tower(nn.Module):
            body = shop.Block

        class Top(nn.Module):
            h = heads.Head

        class Alone(nn.Module):
            pass
        """,
    "shop/util.py": "import math\n",
}


def test_project_candidates_are_changed_classes_and_their_users(tmp_path):
    write(tmp_path, PROJECT)
    project = Project(tmp_path)
    assert module_name(tmp_path / "shop/__init__.py", tmp_path) == "shop"
    assert project.candidates([tmp_path / "shop/blocks.py"]) == [
        "shop.blocks:Block",
        "shop.blocks:Other",
        "shop.heads:Head",
        "shop.tower:Tower",
        "shop.tower:Top",
    ]
    assert project.candidates([tmp_path / "shop/util.py"]) == []
    assert project.closure("shop.tower") == {"shop", "shop.blocks", "shop.heads", "shop.tower"}


# --- building models and inputs --------------------------------------------------------------


class NoArgs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        return self.fc(x)


class Defaults(nn.Module):
    def __init__(self, channels: int = 3, width=4):
        super().__init__()
        self.act = nn.ReLU()
        self.conv = nn.Conv2d(channels, width, 3)

    def forward(self, image):
        return self.act(self.conv(image))


@dataclass
class TowerConfig:
    vocab: int = 11
    dim: int = 5


class Configured(nn.Module):
    def __init__(self, config: TowerConfig, scale: float = 1.0):
        super().__init__()
        self.head = nn.Linear(config.dim, 2)
        self.embed = nn.Embedding(config.vocab, config.dim)

    def forward(self, tokens):
        return self.head(self.embed(tokens))


class NeedsSize(nn.Module):
    def __init__(self, size):
        super().__init__()

    def forward(self, x):
        return x


class TwoInputs(nn.Module):
    def forward(self, a, b):
        return a + b


class WithExample(nn.Module):
    example_inputs = (torch.ones(3), torch.zeros(3))

    def forward(self, a, b):
        return a - b


def _entry(cls: type, **extra) -> dict:
    return {"name": f"{cls.__module__}:{cls.__qualname__}", "class": f"{cls.__module__}:{cls.__qualname__}", **extra}


def test_automatic_construction_no_args_defaults_and_config_class():
    plain = {"class": f"{__name__}:NoArgs", "config": {}, "kwargs": {}}
    assert auto_recipes(NoArgs, _entry(NoArgs)) == [plain]
    assert auto_recipes(Defaults, _entry(Defaults))[0]["kwargs"] == {}
    (recipe,) = auto_recipes(Configured, _entry(Configured))
    assert recipe["config"] == {"config": f"{__name__}:TowerConfig"}
    model = build(recipe)
    assert model.embed.num_embeddings == 11


class Unknowable(nn.Module):
    def __init__(self, thing):
        super().__init__()
        self.thing = thing


def test_automatic_construction_synthesizes_or_skips_with_reason_and_config_line():
    sizes = [recipe["kwargs"] for recipe in auto_recipes(NeedsSize, _entry(NeedsSize))]
    assert sizes == [{"size": 16}, {"size": 32}, {"size": 64}]
    with pytest.raises(Skip) as skip:
        auto_recipes(Unknowable, _entry(Unknowable))
    assert skip.value.reason == (
        "Unknowable() needs thing: no default, and neither its annotation, its name nor its use in __init__ "
        "says what to pass"
    )
    assert skip.value.hint.startswith(
        f'models = [{{ factory = "{__name__}:make_unknowable", inputs = "{__name__}:unknowable_inputs" }}]'
    )


def test_inputs_inferred_from_the_first_layer_forward_uses_then_searched():
    (x,), _, how = input_candidates(NoArgs(), {})[0]
    assert x.shape == (2, 6) and how == "inferred from Linear: (2, 6) torch.float32"
    # forward reaches the Conv2d first, though ReLU is registered before it
    (image,), _, how = input_candidates(Defaults(), {})[0]
    assert image.shape == (2, 3, 16, 16) and how.startswith("inferred from Conv2d")
    # embed is called first although head is registered first
    (tokens,), _, _ = input_candidates(Configured(TowerConfig()), {})[0]
    assert tokens.dtype == torch.int64 and int(tokens.max()) < 11
    ((args, kwargs, how),) = input_candidates(WithExample(), {})
    assert len(args) == 2 and kwargs == {} and how == "example_inputs attribute"
    # two required tensors: a search over shapes sized by the constructor's arguments
    searched = input_candidates(TwoInputs(), {"dim": 24})
    assert searched[0][2] == "searched: a=(2, 16, 24) torch.float32, b=(2, 16, 24) torch.float32"
    assert [tuple(t.shape) for t in searched[2][0]] == [(2, 3, 32, 32)] * 2


class Separate(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        q, k, v = self.q(x), self.k(x), self.v(x)
        return torch.softmax(q @ k.T, dim=-1) @ v


class Fused(nn.Module):
    def __init__(self, order=(0, 1, 2)):
        super().__init__()
        self.qkv = nn.Linear(4, 12)
        self.order = order

    def forward(self, x):
        parts = self.qkv(x).chunk(3, dim=-1)
        q, k, v = (parts[i] for i in self.order)
        return torch.softmax(q @ k.T, dim=-1) @ v


def _fused_check(order) -> tuple[object, object, str | None]:
    torch.manual_seed(0)
    before = Separate()
    after = Fused(order)
    note = load_state(after, before.state_dict())
    x = torch.randn(3, 4)
    grads = compare_gradients(
        step(before, (x,), {}, Mode(), 0, CPU)["grads"], step(after, (x,), {}, Mode(), 0, CPU)["grads"], Tolerance()
    )
    outputs = compare_values(flatten(before(x)), flatten(after(x)), Tolerance())
    return outputs, grads, note


def test_gradients_map_through_a_fused_linear():
    outputs, grads, note = _fused_check((0, 1, 2))
    assert outputs.equal and grads.equal, grads.problems
    assert grads.max_abs < 1e-5
    assert note.startswith("the original's state_dict loads only through key mapping (q.weight + k.weight + v.weight")


def test_swapped_chunks_are_caught_in_outputs_and_gradients():
    outputs, grads, _ = _fused_check((1, 0, 2))
    assert not outputs.equal
    assert any(p.startswith("grad qkv.weight") for p in grads.problems)


# --- site check ------------------------------------------------------------------------------

NAMES = {"torch": "torch", "F": "torch.nn.functional"}


def _site(before: str, after: str, **extra) -> dict:
    return {"before": before, "after": after, "inputs": {"x": "float(4, 8)"}, "names": NAMES, **extra}


def test_site_check_passes_a_correct_fix_on_every_variant():
    result = check_site(_site("x / x.norm(dim=1, keepdim=True)", "F.normalize(x, dim=1)"), CPU, Tolerance(), 0)
    assert result["status"] == "passed", result
    assert result["variants"] == 12  # float32 and float64, each random, zero-rows, zeros, negative, large, inf
    assert result["max_abs"] == 0.0


def test_site_check_catches_a_dropped_keepdim_and_a_wrong_value():
    dropped = check_site(_site("x / x.norm(dim=1, keepdim=True)", "x / x.norm(dim=1)"), CPU, Tolerance(), 0)
    assert dropped["status"] == "failed"
    assert "the replacement raised RuntimeError" in dropped["problems"][0]
    square = _site("x / x.norm(dim=1, keepdim=True)", "x / x.norm(dim=1)", inputs={"x": "float(4, 4)"})
    wrong = check_site(square, CPU, Tolerance(), 0)
    assert wrong["status"] == "failed" and "value(s) differ" in wrong["problems"][0]


def test_site_check_bool_edges_and_skips():
    masked = {
        "before": "m * a + (1 - m) * b",
        "after": "torch.where(m, a, b)",
        "inputs": {"m": "bool(3, 2)", "a": "float(3, 2)", "b": "float(3, 2)"},
        "names": NAMES,
    }
    result = check_site({**masked, "before": "m.float() * a + (1 - m.float()) * b"}, CPU, Tolerance(), 0)
    assert result["status"] == "passed" and result["variants"] == 2 * 6 * 4
    not_torch = check_site({**_site("np.abs(x)", "abs(x)"), "names": {"np": "numpy"}}, CPU, Tolerance(), 0)
    assert not_torch == {"status": "skipped", "reason": "`np` is numpy, not torch"}
    assert "not bound" in check_site(_site("y + x", "x + y"), CPU, Tolerance(), 0)["reason"]


def test_spec_language():
    assert parse_spec("float(4, 8)") == Spec("float", (4, 8))
    assert parse_spec("float32(2, 3)") == Spec("float32", (2, 3)) and parse_spec("float32(2, 3)").narrowed
    assert parse_spec("bool(4,)") == Spec("bool", (4,))
    assert parse_spec("int:-1") == Spec("int", value=-1)
    assert parse_spec("float:1e-6") == Spec("number", value=1e-6)
    assert parse_spec("bool(6) except single-True, all-False").excluded == {"single-True", "all-False"}
    for bad in ("tensor(4)", "bool(6) except random", "float(3) except sometimes", "int:3 except zeros"):
        with pytest.raises(ValueError):
            parse_spec(bad)
    narrowed = {"m": parse_spec("bool(6) except single-True")}
    assert [v.mask for v in variants(narrowed)] == ["random", "all-False", "all-True"]
    assert [str(v) for v in variants({"x": parse_spec("float(3)")}, edge_values=False)] == [
        "float32/random/random",
        "float64/random/random",
    ]
    pinned = make_inputs({"x": parse_spec("float64(3)")}, Variant("float32", "zero-rows", "random"), CPU)
    assert pinned["x"].dtype == torch.float64 and pinned["x"][0] == 0
    large = make_inputs({"x": parse_spec("float(3)")}, Variant("float32", "large", "random"), CPU)["x"]
    assert large.abs().max() > 1e13 and torch.isfinite(large).all()
    masks = {m: make_inputs({"m": parse_spec("bool(4, 8)")}, Variant(None, "random", m), CPU)["m"] for m in MASKS}
    assert [int(masks[m].sum()) for m in ("all-False", "single-True", "all-True")] == [0, 1, 32]
    assert parse_spec("float(8)") == Spec("float", (8,))
    specs = {"x": parse_spec("float(4, 8)"), "m": parse_spec("bool(4, 8)")}
    assert len(variants(specs)) == 2 * len(FLOAT_VALUES) * len(MASKS)
    again = make_inputs(specs, Variant("float32", "random", "random"), CPU)
    assert torch.equal(again["x"], make_inputs(specs, Variant("float32", "random", "random"), CPU)["x"])


def test_unknown_spec_skips_the_site():
    site = {**_site("x + 1", "1 + x"), "inputs": {"x": "tensor(3)"}}
    assert check_site(site, CPU, Tolerance(), 0) == {"status": "skipped", "reason": "unknown input spec 'tensor(3)'"}


# --- no torch in the main process ------------------------------------------------------------


def test_verify_modules_and_apply_without_verify_import_no_torch(tmp_path):
    code = (
        "import sys\n"
        "import torchfix.cli, torchfix.verify.commands, torchfix.verify.checks, torchfix.verify.report\n"
        "from torchfix.cli import app\n"
        "from typer.testing import CliRunner\n"
        f"CliRunner().invoke(app, ['apply', '--diff', {str(tmp_path)!r}])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))\n"
    )
    (tmp_path / "m.py").write_text("import torch\ny = x / x.norm(dim=1, keepdim=True)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"
