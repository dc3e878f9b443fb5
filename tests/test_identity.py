"""TF004 at runtime: the rewritten modules compute the same thing and old imports keep working."""

from __future__ import annotations

import importlib
import sys

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from torchfix.rules.tf004_builtin_identity import BuiltinIdentity  # noqa: E402

#: class name -> (constructor arguments, input shape) for the classes the examples define
CONSTRUCTORS = {
    "Block": [((8,), (3, 8))],
    "Residual": [((4, 4), (3, 4)), ((4, 6), (3, 4))],
    "MLP": [((8, True), (3, 8)), ((8, False), (3, 8))],
    "Head": [((8,), (3, 8))],
    "Net": [((), (3, 5))],
}
#: module-level instance name -> input shape
INSTANCES = {"model": (3, 4), "block": (3, 8)}


def _namespace(source: str) -> dict:
    namespace: dict = {"__name__": "example"}
    exec(compile(source, "<example>", "exec"), namespace)
    return namespace


def _examples(row: str):
    return [
        pytest.param(example, id=f"{row}-{index}")
        for index, example in enumerate(BuiltinIdentity.EXAMPLES)
        if example.row == row and example.after is not None
    ]


def _class_name(source: str) -> str:
    return source.split("class ")[1].split("(")[0]


@pytest.mark.parametrize("example", _examples("class"))
def test_identity_class_alias_returns_its_input_and_accepts_any_arguments(example):
    name = _class_name(example.before)
    before, after = _namespace(example.before)[name], _namespace(example.after)[name]
    assert after is nn.Identity
    x = torch.randn(4, 3)
    assert torch.equal(before()(x), after()(x))
    assert after(64, hidden=3)(x) is x
    assert before().state_dict().keys() == after().state_dict().keys()


@pytest.mark.parametrize("example", _examples("sequential") + _examples("lambda"))
def test_layers_give_the_same_outputs_and_load_old_checkpoints(example):
    before, after = _namespace(example.before), _namespace(example.after)
    pairs = [(before[k], after[k], shape) for k, shape in INSTANCES.items() if isinstance(before.get(k), nn.Module)]
    for name, cases in CONSTRUCTORS.items():
        if isinstance(before.get(name), type) and name in after:
            for args, shape in cases:
                torch.manual_seed(0)
                old = before[name](*args)
                torch.manual_seed(0)
                pairs.append((old, after[name](*args), shape))
    assert pairs, "the example builds no module to compare"
    for old, new, shape in pairs:
        new.load_state_dict(old.state_dict(), strict=True)
        x = torch.randn(*shape)
        torch.testing.assert_close(new(x), old(x), rtol=0, atol=0)
    assert any(isinstance(m, nn.Identity) for _, new, _ in pairs for m in new.modules())


def test_old_import_of_the_identity_class_still_works(tmp_path, monkeypatch):
    example = BuiltinIdentity.EXAMPLES[0]
    (tmp_path / "mymodels.py").write_text(example.after)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("mymodels", None)
    mymodels = importlib.import_module("mymodels")
    from mymodels import Identity  # noqa: E402  (the import callers already have)

    assert Identity is mymodels.Identity is nn.Identity
    layer = Identity(128, dropout=0.1)
    x = torch.randn(2, 128)
    assert layer(x) is x
    assert layer.state_dict() == {}
    sys.modules.pop("mymodels", None)
