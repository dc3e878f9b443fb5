"""The module check's two sides: build each model, run it, save (before) or compare (after).

The before side builds every requested model from the original sources, saves
its ``state_dict()``, inputs, outputs and gradients, and says how it built the
model (the recipe). The after side rebuilds each model the same way from the
rewritten sources, loads the saved ``state_dict()`` with ``strict=True``, runs
the saved inputs and compares.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from torchfix.verify.mapping import map_parameters
from torchfix.verify.modes import Mode
from torchfix.verify.worker.compare import Tolerance, mapped, shapes
from torchfix.verify.worker.resume import resume_before, resume_row
from torchfix.verify.worker.train import mode_row, original_modes, run_modes

_LINE = 300


class Skip(Exception):
    """A model that cannot be checked: the reason, and the config that would make it work."""

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


def one_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip().splitlines()[0] if str(error) else type(error).__name__
    return text if len(text) <= _LINE else text[: _LINE - 3] + "..."


def resolve(target: str) -> Any:
    """The object a ``"package.module:attribute.path"`` target names."""
    module, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


def qualified(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def hint(entry: dict, needs: str) -> str:
    """The ``[tool.torchfix.verify]`` entry that would let the check build (``needs="factory"``)
    or run (``needs="inputs"``) this model."""
    name = entry["name"]
    module, _, attribute = name.partition(":")
    snake = _snake(attribute.split(".")[-1])
    inputs = f'inputs = "{module}:{snake}_inputs"'
    if needs == "factory":
        return (
            f'models = [{{ factory = "{module}:make_{snake}", {inputs} }}]  '
            f"(make_{snake}() returns the model, {snake}_inputs() its forward arguments)"
        )
    key = "factory" if "factory" in entry else "class"
    return f'models = [{{ {key} = "{name}", {inputs} }}]  ({snake}_inputs() returns its forward arguments)'


# --- building --------------------------------------------------------------------------------


def _config_class(annotation: Any) -> type | None:
    """A class the argument can be built from with defaults (a dataclass or similar config)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = options[0] if len(options) == 1 else None
    if not isinstance(annotation, type) or annotation.__module__ == "builtins" or annotation is inspect.Parameter.empty:
        return None
    if issubclass(annotation, (nn.Module, torch.Tensor)) or annotation.__module__.startswith("torch"):
        return None
    if dataclasses.is_dataclass(annotation):
        return annotation
    try:
        parameters = inspect.signature(annotation).parameters.values()
    except (TypeError, ValueError):
        return None
    free = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return annotation if all(p.default is not p.empty or p.kind in free for p in parameters) else None


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:  # unresolvable annotations: fall back to the raw ones
        return {}


def auto_config(cls: type, entry: dict) -> dict[str, str]:
    """How to call ``cls``: argument name -> config class target; raises Skip when impossible."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return {}
    hints = _hints(cls)
    config: dict[str, str] = {}
    missing = []
    for parameter in signature.parameters.values():
        if parameter.default is not parameter.empty or parameter.kind in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
        ):
            continue
        found = _config_class(hints.get(parameter.name, parameter.annotation))
        if found is None or parameter.kind is parameter.POSITIONAL_ONLY:
            missing.append(parameter.name)
        else:
            config[parameter.name] = qualified(found)
    if missing:
        raise Skip(
            f"{cls.__name__}() needs {', '.join(missing)}: no default and no config-class annotation",
            hint(entry, "factory"),
        )
    return config


def build(recipe: dict) -> nn.Module:
    """The model a recipe describes: ``factory()``, or ``class(**{arg: Config()})``."""
    if "factory" in recipe:
        model = resolve(recipe["factory"])()
    else:
        cls = resolve(recipe["class"])
        model = cls(**{arg: resolve(target)() for arg, target in recipe.get("config", {}).items()})
    if not isinstance(model, nn.Module):
        raise Skip(f"{recipe.get('factory') or recipe['class']} returned {type(model).__name__}, not an nn.Module")
    return model


# --- inputs ----------------------------------------------------------------------------------


def _call(value: Any) -> Any:
    return value() if callable(value) else value


def normalize_inputs(value: Any) -> tuple[tuple, dict]:
    """A tensor, a tuple/list of positional arguments, or a dict of keyword arguments."""
    if isinstance(value, dict):
        return (), dict(value)
    if isinstance(value, (tuple, list)):
        return tuple(value), {}
    return (value,), {}


class _SelfUses(ast.NodeVisitor):
    """``self.<name>`` in evaluation order: a call's arguments before the call itself."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def visit_Call(self, node: ast.Call) -> None:
        for child in (*node.args, *node.keywords):
            self.visit(child)
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            self.names.append(func.attr)
        else:
            self.visit(func)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == "self":
            self.names.append(node.attr)
        self.generic_visit(node)


def _forward_order(module: nn.Module) -> list[str] | None:
    """The ``self.<name>`` attributes ``forward`` uses, first used first (None: no source)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(type(module).forward)))
    except (OSError, TypeError, SyntaxError):
        return None
    visitor = _SelfUses()
    visitor.visit(tree)
    return list(dict.fromkeys(visitor.names))


_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_LAYERS = (nn.Linear, nn.Embedding, nn.EmbeddingBag, nn.LayerNorm, nn.RNNBase, *_CONV)


def first_layer(module: nn.Module, depth: int = 0) -> nn.Module | None:
    """The first layer with a known input shape that ``forward`` reaches."""
    if isinstance(module, _LAYERS):
        return module
    if depth > 20:
        return None
    children = dict(module.named_children())
    order = None if isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)) else _forward_order(module)
    names = [name for name in order if name in children] if order is not None else list(children)
    for name in names:
        found = first_layer(children[name], depth + 1)
        if found is not None:
            return found
    return None


def layer_input(layer: nn.Module) -> torch.Tensor:
    weight = getattr(layer, "weight", None)
    dtype = weight.dtype if isinstance(weight, torch.Tensor) and weight.is_floating_point() else torch.float32
    if isinstance(layer, nn.Linear):
        return torch.randn(2, layer.in_features, dtype=dtype)
    if isinstance(layer, (nn.Embedding, nn.EmbeddingBag)):
        return torch.randint(0, layer.num_embeddings, (2, 8))
    if isinstance(layer, nn.LayerNorm):
        return torch.randn(2, *layer.normalized_shape, dtype=dtype)
    if isinstance(layer, nn.RNNBase):
        shape = (2, 8, layer.input_size) if layer.batch_first else (8, 2, layer.input_size)
        return torch.randn(*shape, dtype=dtype)
    dims = len(layer.kernel_size)
    return torch.randn(2, layer.in_channels, *([16, 16, 8][dims - 1],) * dims, dtype=dtype)


def _required_inputs(model: nn.Module) -> int | None:
    try:
        parameters = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in parameters if p.kind in kinds and p.default is p.empty)


def infer_inputs(model: nn.Module, entry: dict) -> tuple[tuple, dict, str]:
    """The model's ``example_input(s)``, else a batch of 2 for its first layer; and how they were found."""
    for attribute in ("example_inputs", "example_input"):
        value = getattr(model, attribute, None)
        if value is not None and not isinstance(value, nn.Module):
            return (*normalize_inputs(_call(value)), f"{attribute} attribute")
    needs = _required_inputs(model)
    if needs != 1:
        raise Skip(
            f"cannot infer inputs: forward takes {needs if needs is not None else 'unknown'} required arguments",
            hint(entry, "inputs"),
        )
    layer = first_layer(model)
    if layer is None:
        raise Skip(
            "cannot infer inputs: forward's first layer is not a Linear, ConvNd, Embedding, LayerNorm or RNN",
            hint(entry, "inputs"),
        )
    tensor = layer_input(layer)
    return (tensor,), {}, f"inferred from {type(layer).__name__}: {tuple(tensor.shape)} {tensor.dtype}"


# --- running ---------------------------------------------------------------------------------


def to_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(to_device(v, device) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(to_device(v, device) for v in value)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    return value


def load_state(model: nn.Module, state: dict) -> str | None:
    """Load with ``strict=True``; if the keys changed, through the fused mapping (returns a note)."""
    try:
        model.load_state_dict(state, strict=True)
        return None
    except RuntimeError as error:
        direct = one_line(error)
    mapping = map_parameters(shapes(state), shapes(model.state_dict()))
    if not mapping.complete:
        raise RuntimeError(f"load_state_dict(strict=True) failed: {direct}")
    model.load_state_dict(mapped(state, mapping.parts), strict=True)
    return (
        "the original's state_dict loads only through key mapping ("
        + "; ".join(mapping.describe())
        + "): checkpoints saved before the rewrite need the same mapping"
    )


# --- the two sides ---------------------------------------------------------------------------


@dataclasses.dataclass
class Side:
    device: torch.device
    seed: int
    workdir: Path
    tolerance: Tolerance
    emit: Callable[[dict], None]
    modes: tuple[Mode, ...] = (Mode(),)
    #: ``--resume-steps``: 0 for none
    resume_steps: int = 0
    #: ``optimizer = "pkg.mod:make_optimizer"`` of ``[tool.torchfix.verify]``, or None for AdamW
    optimizer: str | None = None

    def artifact(self, entry_id: str) -> Path:
        return self.workdir / f"{entry_id}.pt"


def _build_before(entry: dict) -> tuple[nn.Module, dict] | None:
    """Build a requested model; None for an automatic candidate that is not an nn.Module."""
    if "factory" in entry:
        return build({"factory": entry["factory"]}), {"factory": entry["factory"]}
    cls = resolve(entry["class"])
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        if entry.get("auto"):
            return None
        raise Skip(f"{entry['class']} is not an nn.Module subclass")
    if inspect.isabstract(cls):
        raise Skip(f"{cls.__name__} is abstract")
    recipe = {"class": entry["class"], "config": auto_config(cls, entry)}
    return build(recipe), recipe


def _attempt(what: str, action: Callable[[], Any], advice: str = "") -> Any:
    """Run one step of the original's check; an error there means the model cannot be checked."""
    try:
        return action()
    except Skip:
        raise
    except Exception as error:
        raise Skip(f"{what} raised {one_line(error)}", advice) from None


def _check_before(entry: dict, side: Side) -> tuple[dict, str, set[str]] | None:
    """Build, run and save one model; its result line, its class and its modules' classes.

    Only an automatic candidate, or inputs torchfix inferred, get a config hint
    on failure: otherwise the user's own factory or inputs function needs fixing.
    """
    torch.manual_seed(side.seed)
    advice = hint(entry, "factory") if entry.get("auto") else ""
    made = _attempt("building the original", lambda: _build_before(entry), advice)
    if made is None:
        return None
    model, recipe = made
    torch.manual_seed(side.seed)
    if entry.get("inputs"):
        args, kwargs = _attempt(entry["inputs"], lambda: normalize_inputs(_call(resolve(entry["inputs"]))))
        source, advice = entry["inputs"], ""
    else:
        args, kwargs, source = infer_inputs(model, entry)
        advice = hint(entry, "inputs")
    args, kwargs = to_device((args, kwargs), side.device)
    model = model.to(side.device)
    modes = _attempt(
        f"the original's forward on inputs {source}",
        lambda: original_modes(model, args, kwargs, side.modes, side.seed, side.device),
        advice,
    )
    saved = {"state": model.state_dict(), "inputs": (args, kwargs), "modes": modes}
    if side.resume_steps:
        saved["resume"] = original_resume(model, args, kwargs, side)
    torch.save(saved, side.artifact(entry["id"]))
    line = {"id": entry["id"], "status": "built", "recipe": recipe, "inputs": source}
    return line, qualified(type(model)), {qualified(type(m)) for m in model.modules()}


def original_resume(model: nn.Module, args: tuple, kwargs: dict, side: Side) -> dict:
    """The original's training run and checkpoint for ``--resume-steps`` (or why it could not train)."""
    try:
        factory = resolve(side.optimizer) if side.optimizer else None
        return resume_before(model, args, kwargs, side.resume_steps, side.seed, factory)
    except Exception as error:
        return {"error": one_line(error), "steps": side.resume_steps}


def run_before(entries: list[dict], side: Side) -> None:
    """Check every entry's original; an automatic candidate that cannot be built alone but
    sits inside a checked model is reported as covered, not skipped."""
    checked: set[str] = set()
    inside: set[str] = set()
    pending: list[tuple[dict, Skip]] = []
    for entry in entries:
        if entry.get("auto") and entry["class"] in checked:
            continue
        try:
            result = _check_before(entry, side)
        except Skip as skip:
            if entry.get("auto"):
                pending.append((entry, skip))
            else:
                side.emit({"id": entry["id"], "status": "skipped", "reason": skip.reason, "hint": skip.hint})
            continue
        if result is not None:
            line, cls, classes = result
            checked.add(cls)
            inside.update(classes)
            side.emit(line)
    for entry, skip in pending:
        if entry["class"] in inside:
            side.emit({"id": entry["id"], "status": "covered"})
        else:
            side.emit({"id": entry["id"], "status": "skipped", "reason": skip.reason, "hint": skip.hint})


def run_after(entries: list[dict], side: Side) -> None:
    """Rebuild each model the before side built, load its state, compare each mode's step."""
    for entry in entries:
        try:
            result = _check_after(entry, side)
        except Exception as error:
            result = {"status": "differs", "problems": [f"the rewritten model raised {one_line(error)}"]}
        side.emit({"id": entry["id"], **result})


def _check_after(entry: dict, side: Side) -> dict:
    saved = torch.load(side.artifact(entry["id"]), map_location=side.device, weights_only=False)
    torch.manual_seed(side.seed)
    model = build(entry["recipe"]).to(side.device)
    notes = []
    note = load_state(model, saved["state"])
    if note:
        notes.append(note)
    args, kwargs = saved["inputs"]
    current = run_modes(model, args, kwargs, side.modes, side.seed, side.device)
    rows = [mode_row(mode, saved["modes"][mode.name], current[mode.name], side.tolerance) for mode in side.modes]
    if "resume" in saved:
        factory = resolve(side.optimizer) if side.optimizer else None
        rows.append(resume_row(model, saved["resume"], args, kwargs, side.seed, factory, side.tolerance))
    problems = [f"{row['mode']}: {problem}" for row in rows for problem in row["problems"]]
    differs = any(row["status"] == "differs" for row in rows)
    return {"status": "differs" if differs else "equal", "modes": rows, "problems": problems[:5], "notes": notes}
