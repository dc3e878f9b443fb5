"""Running a model in each mode on both sides: one step, its noise floor, its timing.

One step is a forward (in train or eval mode, cast or under autocast) and the
backward of a fixed random projection of the outputs; it yields the outputs, the
gradients of the parameters and floating inputs, and, in train mode, the buffers
after the step (BatchNorm running statistics). Each side runs the step twice from
the same state and seed: what differs between the two runs is the noise floor.
The before side saves its first run, floor and timing per mode; the after side
runs the same and compares (:func:`compare_mode`).
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Callable, Iterator

import torch
from torch import nn

from torchfix.verify.modes import Mode
from torchfix.verify.worker.compare import (
    Comparison,
    Tolerance,
    compare_gradients,
    compare_tensor,
    compare_values,
    flatten,
    gradient_leaves,
    noise,
)
from torchfix.verify.worker.timing import measure


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 matmuls and convolutions allowed (CUDA only) for the block, then as before."""
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (matmul.allow_tf32, cudnn.allow_tf32, torch.get_float32_matmul_precision())
    matmul.allow_tf32 = cudnn.allow_tf32 = enabled
    torch.set_float32_matmul_precision("high" if enabled else "highest")
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved[:2]
        torch.set_float32_matmul_precision(saved[2])


def autocast(mode: Mode, device: torch.device) -> contextlib.AbstractContextManager:
    if mode.autocast is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=getattr(torch, mode.autocast))


def map_tensors(value: Any, convert: Callable[[torch.Tensor], Any]) -> Any:
    """``value`` with every tensor inside tuples, named tuples, lists and dicts converted."""
    if isinstance(value, torch.Tensor):
        return convert(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(map_tensors(v, convert) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(map_tensors(v, convert) for v in value)
    if isinstance(value, dict):
        return {k: map_tensors(v, convert) for k, v in value.items()}
    return value


def cast_inputs(value: Any, dtype: torch.dtype) -> Any:
    """Floating tensors cast to ``dtype``, everything else as it is."""
    return map_tensors(value, lambda t: t.to(dtype) if t.is_floating_point() else t)


def _leaf_inputs(value: Any, leaves: list) -> Any:
    """A copy of the inputs whose floating tensors require grad (collected in ``leaves``)."""

    def leaf(tensor: torch.Tensor) -> torch.Tensor:
        if not tensor.is_floating_point():
            return tensor
        leaves.append(tensor.detach().clone().requires_grad_(True))
        return leaves[-1]

    return map_tensors(value, leaf)


def projection_loss(output: Any, seed: int) -> torch.Tensor | None:
    """A scalar: a fixed random projection of every output that carries a gradient (None: none does)."""
    tensors = [t for _, t in flatten(output) if isinstance(t, torch.Tensor) and t.requires_grad]
    if not tensors:
        return None
    total = None
    for index, tensor in enumerate(tensors):
        generator = torch.Generator().manual_seed(seed + 1000 + index)
        real = tensor.real if tensor.is_complex() else tensor
        weight = torch.randn(tensor.shape, generator=generator, dtype=torch.float64)
        dtype = torch.promote_types(real.dtype, torch.float32)  # a half-precision sum would round away the check
        term = (real.to(dtype) * weight.to(device=real.device, dtype=dtype)).sum()
        total = term if total is None else total + term
    return total


class Snapshot:
    """Every parameter and buffer of a model, to put back after a step changed them."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.parameters = [(p, p.detach().clone()) for p in model.parameters()]
        self.buffers = [(name, b.detach().clone()) for name, b in model.named_buffers() if b is not None]

    def restore(self) -> None:
        with torch.no_grad():
            for parameter, value in self.parameters:
                parameter.copy_(value)
        for name, value in self.buffers:
            owner_name, _, leaf = name.rpartition(".")
            owner = self.model.get_submodule(owner_name)
            owner._buffers[leaf] = value.clone()
        self.model.zero_grad(set_to_none=True)


def step(model: nn.Module, args: tuple, kwargs: dict, mode: Mode, seed: int, device: torch.device) -> dict:
    """One forward and backward from ``seed``: outputs, gradients and (train mode) buffers."""
    model.zero_grad(set_to_none=True)
    leaves: list[torch.Tensor] = []
    args, kwargs = _leaf_inputs(copy.deepcopy((args, kwargs)), leaves)
    torch.manual_seed(seed)
    with torch.enable_grad(), tf32(mode.tf32):
        with autocast(mode, device):
            output = model(*args, **kwargs)
        loss = projection_loss(output, seed)
        if loss is not None:
            loss.backward()
    grads = None
    if loss is not None:
        grads = {
            "parameters": {
                name: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
                for name, p in model.named_parameters()
                if p.requires_grad
            },
            "inputs": [leaf.grad if leaf.grad is not None else torch.zeros_like(leaf) for leaf in leaves],
        }
    outputs = [(path, v.detach() if isinstance(v, torch.Tensor) else v) for path, v in flatten(output)]
    buffers = {name: b.detach().clone() for name, b in model.named_buffers() if b is not None} if mode.train else {}
    model.zero_grad(set_to_none=True)
    return {"outputs": outputs, "grads": grads, "buffers": buffers}


def _leaves(run: dict) -> list[tuple[str, Any]]:
    buffers = [(f"buffer {name}", value) for name, value in run["buffers"].items()]
    return run["outputs"] + gradient_leaves(run["grads"]) + buffers


def _timed_step(model: nn.Module, args: tuple, kwargs: dict, mode: Mode, device: torch.device) -> Callable[[], None]:
    """What the timing repeats: the forward (no grad) in eval mode, forward and backward in train mode."""

    def run() -> None:
        with tf32(mode.tf32):
            if not mode.train:
                with torch.no_grad(), autocast(mode, device):
                    model(*args, **kwargs)
                return
            model.zero_grad(set_to_none=True)
            with autocast(mode, device):
                output = model(*args, **kwargs)
            tensors = [t for _, t in flatten(output) if isinstance(t, torch.Tensor) and t.requires_grad]
            if tensors:
                sum(t.float().sum() for t in tensors).backward()

    return run


def prepared(model: nn.Module, mode: Mode) -> nn.Module:
    """The model as the mode runs it: a cast copy for another dtype, train or eval mode."""
    if mode.dtype != "float32":
        model = copy.deepcopy(model).to(getattr(torch, mode.dtype))
    return model.train(mode.train)


def _reference(model: nn.Module, args: tuple, kwargs: dict, mode: Mode, seed: int, device: torch.device) -> dict:
    """The same step in full precision (float32, no autocast, no TF32): what reduced precision rounds."""
    full = Mode(train=mode.train)
    snapshot = Snapshot(model.train(mode.train))
    try:
        return step(model, args, kwargs, full, seed, device)
    finally:
        snapshot.restore()


def run_mode(model: nn.Module, args: tuple, kwargs: dict, mode: Mode, seed: int, device: torch.device) -> dict:
    """The mode's first run, its noise floor and its timing.

    The floor is what differs between two runs from the same state and seed
    (nondeterministic kernels) and, in a reduced-precision mode, between the run
    and the full-precision one: a rewrite that only reorders arithmetic differs
    from the original by rounding errors of that size.
    """
    reference = _reference(model, args, kwargs, mode, seed, device) if mode.precision else None
    model = prepared(model, mode)
    if mode.dtype != "float32":
        args, kwargs = cast_inputs((args, kwargs), getattr(torch, mode.dtype))
    snapshot = Snapshot(model)
    try:
        first = step(model, args, kwargs, mode, seed, device)
        snapshot.restore()
        second = step(model, args, kwargs, mode, seed, device)
        snapshot.restore()
        timing = measure(_timed_step(model, args, kwargs, mode, device), device)
    finally:
        snapshot.restore()
    floor = noise(_leaves(first), _leaves(second))
    if reference is not None:
        floor = _merged(floor, noise(_leaves(first), _leaves(reference)))
    return {"run": first, "floor": floor, "timing": timing.as_dict()}


def _merged(first: dict[str, float], second: dict[str, float]) -> dict[str, float]:
    return {key: max(first.get(key, 0.0), second.get(key, 0.0)) for key in {*first, *second}}


def _compare_buffers(before: dict, after: dict, tolerance: Tolerance, floor: dict[str, float]) -> Comparison:
    """Buffers after the step, by name; a buffer only the rewrite has (a new constant) is not compared."""
    result = Comparison()
    for name, value in before.items():
        if name not in after:
            result.problems.append(f"buffer {name}: the original's buffer has no counterpart")
            continue
        key = f"buffer {name}"
        result.merge(compare_tensor(key, value, after[name], tolerance, floor=floor.get(key, 0.0)))
    return result


def compare_mode(saved: dict, current: dict, mode: Mode, tolerance: Tolerance) -> Comparison:
    """The before side's saved run against the after side's, within the mode's tolerance plus
    a multiple of the larger side's noise floor."""
    tolerance = Tolerance(tolerance.rtol, tolerance.atol, mode.precision)
    floor = _merged(saved["floor"], current["floor"])
    before, after = saved["run"], current["run"]
    result = compare_values(before["outputs"], after["outputs"], tolerance, floor)
    if result.equal:
        result.merge(compare_gradients(before["grads"], after["grads"], tolerance, floor))
        result.merge(_compare_buffers(before["buffers"], after["buffers"], tolerance, floor))
    result.floor = max(floor.values(), default=0.0)
    return result


def run_modes(model: nn.Module, args: tuple, kwargs: dict, modes: list[Mode], seed: int, device: torch.device):
    """Each mode's run (or the error it raised, as a one-line reason), in order."""
    from torchfix.verify.worker.models import one_line

    results: dict[str, dict] = {}
    for mode in modes:
        try:
            results[mode.name] = run_mode(model, args, kwargs, mode, seed, device)
        except Exception as error:
            results[mode.name] = {"error": one_line(error), "exception": error}
    return results


def original_modes(
    model: nn.Module, args: tuple, kwargs: dict, modes: list[Mode], seed: int, device: torch.device
) -> dict[str, dict]:
    """The before side's runs, to save; raises the first mode's error when no mode ran at all."""
    results = run_modes(model, args, kwargs, modes, seed, device)
    failed = [result["exception"] for result in results.values() if "exception" in result]
    if len(failed) == len(results):
        raise failed[0]
    return {name: {k: v for k, v in result.items() if k != "exception"} for name, result in results.items()}


def mode_row(mode: Mode, saved: dict, current: dict, tolerance: Tolerance) -> dict:
    """One report row (see :class:`torchfix.verify.modes.ModeRow`) from both sides' runs of a mode."""
    row = {"mode": mode.name, "before": saved.get("timing"), "after": current.get("timing")}
    if "error" in saved:
        return {**row, "status": "skipped", "problems": [f"not compared: the original raised {saved['error']}"]}
    if "error" in current:
        return {**row, "status": "differs", "problems": [f"the rewritten model raised {current['error']}"]}
    result = compare_mode(saved, current, mode, tolerance)
    return {**row, "status": "equal" if result.equal else "differs", **result.as_dict()}
