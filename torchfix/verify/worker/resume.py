"""``--resume-steps N``: can a run resume from a checkpoint saved before the rewrite?

The before side trains the original N steps (AdamW, or the configured
``optimizer = "pkg.mod:make_optimizer"``, called with the model) on the check's
inputs with a scalar loss, and saves model and optimizer ``state_dict()``s as
training scripts do. It then loads them into a fresh copy and trains N more
steps, twice (the noise floor). The after side loads the checkpoint into the
rewritten model, maps the optimizer state through the same parameter mapping the
gradient comparison uses (fused parameters' state concatenated like their
weights), trains N more steps twice, and compares the losses and the parameters.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import torch
from torch import nn

from torchfix.verify.mapping import map_parameters
from torchfix.verify.worker.compare import Comparison, Tolerance, compare_tensor, mapped, noise, shapes
from torchfix.verify.worker.train import projection_loss, tf32

#: AdamW's learning rate: large enough that N steps move the parameters visibly
LEARNING_RATE = 1e-3


class NotMappable(Exception):
    """The checkpoint's optimizer state has no faithful counterpart in the rewritten model."""


def make_optimizer(model: nn.Module, factory: Callable[[nn.Module], Any] | None) -> torch.optim.Optimizer:
    if factory is None:
        return torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    optimizer = factory(model)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"the optimizer factory returned {type(optimizer).__name__}, not a torch.optim.Optimizer")
    return optimizer


def train(model: nn.Module, optimizer, args: tuple, kwargs: dict, steps: int, seed: int) -> list[torch.Tensor]:
    """``steps`` optimizer steps in train mode, each from its own seed; the losses."""
    model.train()
    losses = []
    with tf32(False):
        for index in range(steps):
            optimizer.zero_grad(set_to_none=True)
            call_args, call_kwargs = copy.deepcopy((args, kwargs))
            torch.manual_seed(seed + index)
            loss = projection_loss(model(*call_args, **call_kwargs), seed)
            if loss is None:
                raise ValueError("no output carries a gradient: nothing to train")
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
    return losses


def _names(model: nn.Module, optimizer) -> list[list[str]]:
    """Each parameter group's parameters by name, in the order ``state_dict()`` numbers them."""
    by_id = {id(p): name for name, p in model.named_parameters()}
    groups = optimizer.param_groups
    return [[by_id.get(id(p), f"<unnamed {i}>") for i, p in enumerate(group["params"])] for group in groups]


def _resumed(model: nn.Module, optimizer, args, kwargs, steps: int, seed: int) -> list[tuple[str, Any]]:
    """N more steps; the losses and the parameters afterwards, as named leaves."""
    losses = train(model, optimizer, args, kwargs, steps, seed + steps)
    leaves = [(f"loss[{i}]", loss) for i, loss in enumerate(losses)]
    return leaves + [(name, p.detach().clone()) for name, p in model.named_parameters()]


def _nudged(state: dict, seed: int) -> dict:
    """A copy of a ``state_dict`` whose floating tensors moved by one relative epsilon, up or down."""
    generator = torch.Generator().manual_seed(seed)
    nudged = {}
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            sign = torch.randint(0, 2, value.shape, generator=generator).to(value) * 2 - 1
            value = value + value * sign * torch.finfo(value.dtype).eps
        nudged[key] = value
    return nudged


def _saved_optimizer(checkpoint: dict, model: nn.Module, optimizer) -> dict:
    return checkpoint["optimizer"]


def resumed_twice(
    model: nn.Module, load, optimizer_state, checkpoint: dict, args, kwargs, steps: int, seed: int, factory
) -> list[list[tuple[str, Any]]]:
    """Resume from the checkpoint, then from it nudged by a rounding step (for the noise floor).

    ``load(model, state)`` loads the model's state, ``optimizer_state(checkpoint, model, optimizer)``
    gives the optimizer's."""
    runs = []
    for state in (checkpoint["model"], _nudged(checkpoint["model"], seed)):
        fresh = copy.deepcopy(model)
        load(fresh, state)
        optimizer = make_optimizer(fresh, factory)
        # a copy: load_state_dict keeps the tensors it is given, and the steps update them in place
        optimizer.load_state_dict(copy.deepcopy(optimizer_state(checkpoint, fresh, optimizer)))
        runs.append(_resumed(fresh, optimizer, args, kwargs, steps, seed))
    return runs


def resume_before(model: nn.Module, args: tuple, kwargs: dict, steps: int, seed: int, factory) -> dict:
    """Train the original N steps, save the checkpoint, resume from it twice."""
    model = copy.deepcopy(model)
    optimizer = make_optimizer(model, factory)
    train(model, optimizer, args, kwargs, steps, seed)
    checkpoint = {
        "model": copy.deepcopy(model.state_dict()),
        "optimizer": copy.deepcopy(optimizer.state_dict()),
        "names": _names(model, optimizer),
        "shapes": shapes(dict(model.named_parameters())),
    }
    load = nn.Module.load_state_dict
    runs = resumed_twice(model, load, _saved_optimizer, checkpoint, args, kwargs, steps, seed, factory)
    return {"checkpoint": checkpoint, "run": runs[0], "floor": noise(runs[0], runs[1]), "steps": steps}


def map_optimizer_state(checkpoint: dict, model: nn.Module, optimizer) -> dict:
    """The checkpoint's optimizer state under the rewritten model's parameter numbering.

    Raises NotMappable naming the first parameter or state entry that has no faithful counterpart.
    """
    names = _names(model, optimizer)
    mapping = map_parameters(checkpoint["shapes"], shapes(dict(model.named_parameters())))
    if mapping.unmatched_after or mapping.unmatched_before:
        missing = [f"{key} (new)" for key in mapping.unmatched_after] + [
            f"{key} (gone)" for key in mapping.unmatched_before
        ]
        raise NotMappable(f"no counterpart for {', '.join(missing[:3])}")
    saved = checkpoint["optimizer"]
    where = {
        name: (group, saved["param_groups"][group]["params"][i])
        for group, group_names in enumerate(checkpoint["names"])
        for i, name in enumerate(group_names)
    }
    target = optimizer.state_dict()
    state: dict[int, dict] = {}
    groups = []
    for group_index, group in enumerate(target["param_groups"]):
        sources = set()
        for number, name in zip(group["params"], names[group_index]):
            parts = mapping.parts.get(name, [])
            if not parts or any(part not in where for part in parts):
                raise NotMappable(f"{name} is not in the checkpoint's optimizer")
            sources.update(where[part][0] for part in parts)
            entries = [saved["state"].get(where[part][1]) for part in parts]
            if all(entry is None for entry in entries):
                continue
            if any(entry is None for entry in entries):
                raise NotMappable(f"only some of {' + '.join(parts)} have state, fused into {name}")
            state[number] = _merge(entries, parts, name, checkpoint["shapes"])
        hyper = [{k: v for k, v in saved["param_groups"][g].items() if k != "params"} for g in sorted(sources)]
        if any(h != hyper[0] for h in hyper[1:]):
            raise NotMappable(f"parameter group {group_index} takes parameters from groups with different settings")
        groups.append({**(hyper[0] if hyper else group), "params": group["params"]})
    return {"state": state, "param_groups": groups}


def _merge(entries: list[dict], parts: list[str], name: str, part_shapes: dict) -> dict:
    """One parameter's state from its parts': per-element tensors concatenated, shared scalars kept."""
    merged = {}
    for key in entries[0]:
        values = [entry.get(key) for entry in entries]
        tensors = all(isinstance(v, torch.Tensor) for v in values)
        if tensors and all(tuple(v.shape) == tuple(part_shapes[p]) for v, p in zip(values, parts)):
            merged[key] = torch.cat(values) if len(values) > 1 else values[0]
        elif all(_same(v, values[0]) for v in values[1:]) and (not tensors or values[0].numel() == 1):
            merged[key] = values[0]
        else:
            raise NotMappable(f"state {key!r} of {' + '.join(parts)} does not concatenate into {name}")
    return merged


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and bool(torch.equal(a, b))
    return a == b


def resume_row(model: nn.Module, saved: dict, args, kwargs, seed: int, factory, tolerance: Tolerance) -> dict:
    """Load the original's checkpoint into a copy of the rewritten model, resume, compare (a report row)."""
    from torchfix.verify.worker.models import load_state, one_line

    steps = saved["steps"]
    row = {"mode": f"resume {steps}+{steps} steps", "before": None, "after": None}
    if "error" in saved:
        return {**row, "status": "skipped", "problems": [f"the original could not train: {saved['error']}"]}
    try:
        checkpoint = saved["checkpoint"]
        runs = resumed_twice(model, load_state, map_optimizer_state, checkpoint, args, kwargs, steps, seed, factory)
    except NotMappable as error:
        return {**row, "status": "differs", "problems": [f"optimizer state does not map: {error}"]}
    except Exception as error:
        return {**row, "status": "differs", "problems": [f"resuming the rewritten model raised {one_line(error)}"]}
    result = _compare(saved, runs, tolerance)
    return {**row, "status": "equal" if result.equal else "differs", **result.as_dict()}


def _compare(saved: dict, runs: list, tolerance: Tolerance) -> Comparison:
    """Losses step by step, then the parameters through the fused mapping, within the larger floor."""
    before = dict(saved["run"])
    after = dict(runs[0])
    floor = {**saved["floor"]}
    for key, value in noise(runs[0], runs[1]).items():
        floor[key] = max(floor.get(key, 0.0), value)
    result = Comparison()
    losses = [key for key in before if key.startswith("loss[")]
    for key in losses:
        result.merge(compare_tensor(key, before[key], after[key], tolerance, floor=floor.get(key, 0.0)))
    before_params = {k: v for k, v in before.items() if k not in losses}
    after_params = {k: v for k, v in after.items() if not k.startswith("loss[")}
    mapping = map_parameters(shapes(before_params), shapes(after_params))
    for key, expected in mapped(before_params, mapping.parts).items():
        slack = max(floor.get(name, 0.0) for name in [key, *mapping.parts[key]])
        result.merge(compare_tensor(f"after resuming, {key}", expected, after_params[key], tolerance, floor=slack))
    result.floor = max(floor.values(), default=0.0)
    return result
