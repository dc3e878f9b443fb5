"""Checkpoints survive the structural rewrites (TF003, TF008).

For every before/after example: build each nn.Module class of the example
before and after the rewrite, save the before ``state_dict()``, load it into the
after module with ``strict=True``, and compare outputs and gradients on random
input; the after module's own ``state_dict()`` must round-trip.

Constructor and forward arguments come from the example's ``inputs``: each key
is a parameter name of ``__init__`` or ``forward`` (``"int:16"`` for a width,
``"float(2, 5, 16)"`` for a tensor). A parameter missing from ``inputs`` must
have a default, else the test fails and names it.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import io
import sys
import types

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from torchfix.rules.tf003_register_buffer import RegisterBuffer  # noqa: E402
from torchfix.rules.tf008_fused_linear import FusedLinear  # noqa: E402
from torchfix.verify.specs import Variant, parse_spec  # noqa: E402
from torchfix.verify.worker.sites import make_inputs  # noqa: E402


def _cases():
    for rule in (FusedLinear, RegisterBuffer):
        for index, example in enumerate(rule.EXAMPLES):
            if example.after is not None:
                yield pytest.param(rule, example, id=f"{rule.CODE}-examples-{index}")


def _inputs(example) -> dict:
    """The example's inputs as the verifier builds them (its spec parser, the plain random variant)."""
    specs = {name: parse_spec(text) for name, text in example.inputs.items()}
    return make_inputs(specs, Variant("float32", "random", "random"), torch.device("cpu"))


def _module_classes(source: str, label: str) -> dict[str, type]:
    module = types.ModuleType(f"example_{label}")
    exec(compile(source, module.__name__, "exec"), module.__dict__)
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, nn.Module) and value.__module__ == module.__name__
    }


def _arguments(function, values: dict) -> dict:
    """The keyword arguments for ``function`` taken from ``values`` by parameter name."""
    chosen = {}
    for name, parameter in list(inspect.signature(function).parameters.items())[1:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name in values:
            chosen[name] = values[name]
        else:
            assert parameter.default is not parameter.empty, f"the example's inputs lack `{name}`"
    return chosen


def _tensors(output) -> list:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, dict):
        return [t for key in sorted(output) for t in _tensors(output[key])]
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _tensors(item)]
    return []


def _run(model, arguments: dict):
    """Outputs, and the gradients of a fixed random projection of them (inputs and parameters)."""
    arguments = {
        k: v.clone().requires_grad_(True) if isinstance(v, torch.Tensor) and v.is_floating_point() else v
        for k, v in arguments.items()
    }
    model.zero_grad(set_to_none=True)
    outputs = _tensors(model(**arguments))
    generator = torch.Generator().manual_seed(7)
    loss = sum((t * torch.randn(t.shape, generator=generator)).sum() for t in outputs if t.requires_grad)
    if isinstance(loss, torch.Tensor):
        loss.backward()
    inputs = {k: v.grad for k, v in arguments.items() if isinstance(v, torch.Tensor) and v.grad is not None}
    params = {name: p.grad for name, p in model.named_parameters()}
    return [t.detach() for t in outputs], inputs, params


def _mapped_grads(before, grads: dict, after, strict: bool) -> dict:
    """The before gradients carried over to the after module's parameters the way a checkpoint is:
    a fused weight's gradient is the concatenation of the old layers' gradients."""
    state = before.state_dict()
    for name, grad in grads.items():
        state[name] = torch.zeros_like(state[name]) if grad is None else grad
    carrier = copy.deepcopy(after)
    carrier.load_state_dict(state, strict=strict)
    return {name: p.detach() for name, p in carrier.named_parameters()}


def _build(cls, arguments: dict, seed: int):
    torch.manual_seed(seed)
    return cls(**_arguments(cls.__init__, arguments)).eval()


def _assert_same(left: list, right: list) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("rule, example", list(_cases()))
def test_checkpoint_loads_into_the_rewritten_module(rule, example, monkeypatch):
    if ".cuda()" in example.before and not torch.cuda.is_available():
        # The `.cuda()` removal assumes module and input share a device: on a CPU-only
        # machine, that device is the CPU.
        monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *args, **kwargs: self)
    before_classes = _module_classes(example.before, "before")
    after_classes = _module_classes(example.after, "after")
    assert before_classes and set(before_classes) == set(after_classes)
    values = _inputs(example)
    for name, before_cls in before_classes.items():
        before = _build(before_cls, values, seed=0)
        after = _build(after_classes[name], values, seed=0)
        state = before.state_dict()
        if example.settings.get("buffer_persistent"):
            # Persistent buffers are new keys that an old checkpoint lacks: that is the
            # documented cost of the setting, so load strictly only what the old one has.
            new_keys = sorted(set(after.state_dict()) - set(state))
            result = after.load_state_dict(state, strict=False)
            assert sorted(result.missing_keys) == new_keys and not result.unexpected_keys
            assert all(dict(after.named_buffers())[key] is not None for key in new_keys)
        else:
            after.load_state_dict(state, strict=True)
        arguments = _arguments(before_cls.forward, values)
        outputs, input_grads, grads = _run(before, arguments)
        after_outputs, after_input_grads, after_grads = _run(after, arguments)
        _assert_same(outputs, after_outputs)
        assert sorted(input_grads) == sorted(after_input_grads)
        _assert_same([input_grads[k] for k in sorted(input_grads)], [after_input_grads[k] for k in sorted(input_grads)])
        expected = _mapped_grads(before, grads, after, strict=not example.settings.get("buffer_persistent"))
        assert sorted(expected) == sorted(after_grads)
        for param, grad in after_grads.items():
            got = torch.zeros_like(expected[param]) if grad is None else grad
            torch.testing.assert_close(got, expected[param], msg=lambda m: f"{param}: {m}")
        # The rewritten module's own checkpoint round-trips, also into a copy.
        again = _build(after_classes[name], values, seed=1)
        again.load_state_dict(after.state_dict(), strict=True)
        _assert_same(_run(again, arguments)[0], after_outputs)
        _assert_same(_run(copy.deepcopy(after), arguments)[0], after_outputs)


def test_every_module_example_declares_its_inputs():
    for rule in (FusedLinear, RegisterBuffer):
        for example in rule.EXAMPLES:
            if example.after is not None:
                assert example.inputs, f"{rule.CODE}: a before/after example without inputs"


def test_the_rewritten_module_pickles_with_its_hook(tmp_path, monkeypatch):
    """``torch.save(model)`` pickles the hook (a static method, no closure) and it still converts."""
    example = FusedLinear.EXAMPLES[0]
    (tmp_path / "fused_attention_example.py").write_text(example.after)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        module = importlib.import_module("fused_attention_example")
        buffer = io.BytesIO()
        torch.save(module.Attention(16), buffer)
        buffer.seek(0)
        loaded = torch.load(buffer, weights_only=False)
    finally:
        sys.modules.pop("fused_attention_example", None)
    old = _module_classes(example.before, "before")["Attention"](16)
    loaded.load_state_dict(old.state_dict(), strict=True)
    torch.testing.assert_close(loaded.qkv.weight, torch.cat([old.q.weight, old.k.weight, old.v.weight]))
