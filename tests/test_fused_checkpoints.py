"""TF008 keeps the checkpoint format both ways.

For every fused example: a checkpoint saved by the new code loads into the old
code with ``strict=True`` (and the outputs match), one saved by the old code
loads into the new code with ``strict=True``, and ``torch.distributed.checkpoint``
saves and loads it on CPU (gloo, one process). With ``fused-linear-keys =
"fused"`` the new code saves the fused keys and still loads old checkpoints.
"""

from __future__ import annotations

import inspect
import re
import types

import pytest

torch = pytest.importorskip("torch")

from torchfix.engine import RunOptions, fix_text  # noqa: E402
from torchfix.rules.tf008_fused_linear import FusedLinear  # noqa: E402

_TENSOR = re.compile(r"float\(([\d,\s]*)\)")


def _fused_examples():
    for index, example in enumerate(FusedLinear.EXAMPLES):
        if example.after is not None:
            yield pytest.param(example, id=f"TF008-examples-{index}")


def _classes(source: str, label: str) -> dict[str, type]:
    module = types.ModuleType(f"fused_{label}")
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, torch.nn.Module) and value.__module__ == module.__name__
    }


def _values(inputs: dict) -> dict:
    generator = torch.Generator().manual_seed(0)
    values = {}
    for name, spec in inputs.items():
        match = _TENSOR.fullmatch(spec)
        if spec.startswith("int:"):
            values[name] = int(spec[4:])
        elif match:
            values[name] = torch.randn([int(s) for s in match.group(1).split(",") if s.strip()], generator=generator)
        else:
            values[name] = torch.device("cpu") if spec == "device" else pytest.fail(f"unknown spec {spec}")
    return values


def _call(function, values: dict):
    names = list(inspect.signature(function).parameters)[1:]
    return {n: values[n] for n in names if n in values}


def _pair(example):
    """(before class, after class, constructor values) for each module class of the example."""
    before, after = _classes(example.before, "before"), _classes(example.after, "after")
    values = _values(example.inputs)
    for name in sorted(before):
        yield before[name], after[name], values


def _build(cls, values, seed):
    torch.manual_seed(seed)
    return cls(**_call(cls.__init__, values)).eval()


def _same_outputs(a, b, values):
    left, right = a(**_call(type(a).forward, values)), b(**_call(type(b).forward, values))
    left = left if isinstance(left, tuple) else (left,)
    right = right if isinstance(right, tuple) else (right,)
    for x, y in zip(left, right):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("example", list(_fused_examples()))
def test_new_code_saves_what_old_code_loads_and_back(example):
    for before_cls, after_cls, values in _pair(example):
        old, new = _build(before_cls, values, 0), _build(after_cls, values, 1)
        assert set(new.state_dict()) == set(old.state_dict()), "the new code saves other keys"
        # old saves, new loads
        new.load_state_dict(old.state_dict(), strict=True)
        _same_outputs(old, new, values)
        # new saves, old loads
        other_old = _build(before_cls, values, 2)
        other_old.load_state_dict(new.state_dict(), strict=True)
        _same_outputs(other_old, new, values)
        # new saves, new loads
        other_new = _build(after_cls, values, 3)
        other_new.load_state_dict(new.state_dict(), strict=True)
        _same_outputs(other_new, new, values)


@pytest.mark.parametrize("example", list(_fused_examples())[:3])
def test_fused_keys_option_saves_the_fused_layer(example):
    options = RunOptions((FusedLinear,), frozenset({"TF008"}), {"fused_linear_keys": "fused"})
    after = fix_text(example.before, options).text
    assert "register_state_dict_post_hook" not in after and "register_load_state_dict_pre_hook" in after
    fused = _classes(after, "fused_keys")
    for before_cls, _, values in _pair(example):
        old, new = _build(before_cls, values, 0), _build(fused[before_cls.__name__], values, 1)
        new.load_state_dict(old.state_dict(), strict=True)
        _same_outputs(old, new, values)
        assert set(new.state_dict()) != set(old.state_dict())


def test_distributed_checkpoint_round_trip_on_cpu(tmp_path):
    dist = pytest.importorskip("torch.distributed")
    dcp = pytest.importorskip("torch.distributed.checkpoint")
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("this torch build has no gloo backend")
    example = FusedLinear.EXAMPLES[0]
    (before_cls, after_cls, values), *_ = list(_pair(example))
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        new = _build(after_cls, values, 0)
        dcp.save(new.state_dict(), checkpoint_id=str(tmp_path / "new"))
        old = _build(before_cls, values, 1)
        state = old.state_dict()
        dcp.load(state, checkpoint_id=str(tmp_path / "new"))
        old.load_state_dict(state, strict=True)
        _same_outputs(old, new, values)
        # and the old code's distributed checkpoint loads into the new code
        dcp.save(old.state_dict(), checkpoint_id=str(tmp_path / "old"))
        again = _build(after_cls, values, 2)
        state = again.state_dict()
        dcp.load(state, checkpoint_id=str(tmp_path / "old"))
        again.load_state_dict(state, strict=True)
        _same_outputs(old, again, values)
    finally:
        dist.destroy_process_group()
