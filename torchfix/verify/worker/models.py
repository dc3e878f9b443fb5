"""The module check's two sides: build each model, run it, save (before) or compare (after).

The before side builds every requested model from the original sources, saves
its ``state_dict()``, inputs, outputs and gradients, and says how it built the
model (the recipe). The after side rebuilds each model the same way from the
rewritten sources, loads the saved ``state_dict()`` with ``strict=True``, runs
the saved inputs and compares.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import traceback
import types
import typing
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from torchfix.verify.mapping import map_parameters
from torchfix.verify.modes import Mode
from torchfix.verify.worker import record, synth
from torchfix.verify.worker.common import Skip, hint, one_line, qualified, resolve
from torchfix.verify.worker.compare import Tolerance, mapped, shapes
from torchfix.verify.worker.inputs import call_inputs, input_candidates
from torchfix.verify.worker.isolation import MODEL_TIME_LIMIT, TimeLimit, explain, own_argv, time_limit
from torchfix.verify.worker.resume import resume_before, resume_row
from torchfix.verify.worker.trace import Ran
from torchfix.verify.worker.train import map_tensors, mode_row, original_modes, run_modes, step

#: how much of a torchfix bug's traceback the report quotes
_TRACEBACK = 1500


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


def auto_recipes(cls: type, entry: dict) -> list[dict]:
    """How to call ``cls``: recipes to try, smallest first (config classes built with defaults,
    other required arguments synthesized by :mod:`synth`); raises Skip when nothing fits."""
    recipe = {"class": entry["class"], "config": {}, "kwargs": {}}
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return [recipe]
    hints = _hints(cls)
    required = []
    for parameter in signature.parameters.values():
        if parameter.default is not parameter.empty or parameter.kind in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
        ):
            continue
        found = _config_class(hints.get(parameter.name, parameter.annotation))
        if found is None or parameter.kind is parameter.POSITIONAL_ONLY:
            required.append(parameter)
        else:
            recipe["config"][parameter.name] = qualified(found)
    if not required:
        return [recipe]
    if any(p.kind is p.POSITIONAL_ONLY for p in required):
        raise Skip(f"{cls.__name__}() needs positional-only arguments", hint(entry, "factory"))
    options, unknown = synth.candidates(cls, required, hints)
    if unknown:
        raise Skip(
            f"{cls.__name__}() needs {', '.join(unknown)}: no default, and neither its annotation, its name "
            "nor its use in __init__ says what to pass",
            hint(entry, "factory"),
        )
    return [{**recipe, "kwargs": kwargs} for kwargs in options]


def build(recipe: dict) -> nn.Module:
    """The model a recipe describes: ``factory()``, the recorded call, or
    ``class(**{arg: Config()}, **synthesized)``."""
    if "factory" in recipe:
        model = resolve(recipe["factory"])()
    elif "recorded" in recipe:
        args, kwargs, _, _ = torch.load(recipe["recorded"], weights_only=False)
        model = resolve(recipe["class"])(*args, **kwargs)
    else:
        cls = resolve(recipe["class"])
        arguments = {arg: resolve(target)() for arg, target in recipe.get("config", {}).items()}
        arguments.update({name: synth.decode(value) for name, value in recipe.get("kwargs", {}).items()})
        model = cls(**arguments)
    if not isinstance(model, nn.Module):
        raise Skip(f"{recipe.get('factory') or recipe['class']} returned {type(model).__name__}, not an nn.Module")
    return model


# --- running ---------------------------------------------------------------------------------


def to_device(value: Any, device: torch.device) -> Any:
    return map_tensors(value, lambda tensor: tensor.to(device))


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
    #: the changed files (real paths) whose code each check records as run
    watch: tuple[str, ...] = ()
    #: project modules with a ``__main__`` block to record from (name -> path)
    examples: dict[str, str] = dataclasses.field(default_factory=dict)

    def artifact(self, entry_id: str) -> Path:
        return self.workdir / f"{entry_id}.pt"


def _user(what: str, action: Callable[[], Any], advice: str = "") -> Any:
    """Run user code (an import, a constructor, a factory, forward): its error means the model
    cannot be checked. torchfix's own code runs outside this, so its bugs are never a skip."""
    try:
        return action()
    except Skip:
        raise
    except Exception as error:
        reason = explain(error, Path.cwd())
        raise Skip(f"{what}: {reason}" if reason else f"{what} raised {one_line(error)}", advice) from None


def _recipes(entry: dict) -> list[dict] | None:
    """The ways to build a requested model; None for an automatic candidate that is not an nn.Module."""
    if "factory" in entry:
        return [{"factory": entry["factory"]}]
    cls = _user(f"importing {entry['class']}", lambda: resolve(entry["class"]))
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        if entry.get("auto"):
            return None
        raise Skip(f"{entry['class']} is not an nn.Module subclass")
    if inspect.isabstract(cls):
        raise Skip(f"{cls.__name__} is abstract")
    if entry.get("recorded"):  # the second pass: synthesized recipes already failed
        return [{"class": entry["class"], **entry["recorded"]}]
    return auto_recipes(cls, entry)


def _describe(recipe: dict) -> str:
    if "factory" in recipe:
        return f"{recipe['factory']}()"
    if "recorded" in recipe:
        return f"{recipe['class'].partition(':')[2]}(...) as called in {recipe['source']}"
    cls = resolve(recipe["class"])
    config = {name: f"{target.partition(':')[2]}()" for name, target in recipe.get("config", {}).items()}
    call = synth.call_text(cls, recipe.get("kwargs", {}))
    return call if not config else call[:-1] + (", " if call[-2] != "(" else "") + ", ".join(
        f"{k}={v}" for k, v in config.items()) + ")"


def _first_run(entry: dict, recipe: dict, side: Side) -> tuple[nn.Module, tuple, dict, str]:
    """Build ``recipe`` and find inputs its forward accepts (configured, else inferred or searched)."""
    call = _describe(recipe)
    advice = hint(entry, "factory") if entry.get("auto") else ""
    torch.manual_seed(side.seed)
    model = _user(f"building {call}", lambda: build(recipe), advice).to(side.device).eval()
    if entry.get("inputs"):
        args, kwargs = _user(entry["inputs"], lambda: call_inputs(entry["inputs"]))
        return model, *to_device((args, kwargs), side.device), entry["inputs"]
    tried = []
    candidates = input_candidates(model, recipe.get("kwargs", {}))
    if "recorded" in recipe:
        _, _, args, kwargs = torch.load(recipe["recorded"], weights_only=False)
        candidates.insert(0, (args, kwargs, f"recorded in {recipe['source']}"))
    for args, kwargs, source in candidates:
        args, kwargs = to_device((args, kwargs), side.device)
        try:
            with torch.no_grad():
                torch.manual_seed(side.seed)
                model(*copy.deepcopy(args), **copy.deepcopy(kwargs))
            return model, args, kwargs, source
        except Exception as error:  # user code: the next candidate inputs
            tried.append(f"{source} raised {one_line(error)}")
    raise Skip(f"{call} built, but no inputs ran its forward: " + "; ".join(tried[:3]), hint(entry, "inputs"))


def _built(entry: dict, side: Side) -> tuple[nn.Module, dict, tuple, dict, str] | None:
    """The first recipe that builds and runs forward; a Skip with the closest attempt if none does."""
    recipes = _recipes(entry)
    if recipes is None:
        return None
    failures: list[Skip] = []
    for recipe in recipes:
        try:
            model, args, kwargs, source = _first_run(entry, recipe, side)
        except Skip as skip:
            failures.append(skip)
            continue
        if recipe.get("kwargs"):
            source = f"{source}; built as {_describe(recipe)} (synthesized arguments)"
        elif "recorded" in recipe:
            source = f"{source}; built as called there (recorded)"
        return model, recipe, args, kwargs, source
    # the closest: one that built (its forward failed) over one that did not build at all
    raise max(failures, key=lambda skip: " built, but " in skip.reason)


def _check_before(entry: dict, side: Side) -> tuple[dict, str, set[str]] | None:
    """Build, run and save one model; its result line, its class and its submodules' classes.

    The build, and one forward and backward apart from the timed modes, run under
    :class:`~torchfix.verify.worker.trace.Ran`, which records the changed code they ran.
    """
    ran = Ran(side.watch)
    with ran.recording():
        made = _built(entry, side)
    if made is None:
        return None
    model, recipe, args, kwargs, source = made
    ran.add_classes(model)
    with ran.recording():
        _user("the original's backward", lambda: step(model, args, kwargs, Mode(), side.seed, side.device))
    modes = _user(
        f"the original's forward on inputs {source}",
        lambda: original_modes(model, args, kwargs, side.modes, side.seed, side.device),
    )
    saved = {"state": model.state_dict(), "inputs": (args, kwargs), "modes": modes}
    if side.resume_steps:
        saved["resume"] = original_resume(model, args, kwargs, side)
    torch.save(saved, side.artifact(entry["id"]))
    line = {"id": entry["id"], "status": "built", "recipe": recipe, "inputs": source, "ran": ran.as_dict()}
    return line, qualified(type(model)), {qualified(type(m)) for m in model.modules()}


def original_resume(model: nn.Module, args: tuple, kwargs: dict, side: Side) -> dict:
    """The original's training run and checkpoint for ``--resume-steps`` (or why it could not train)."""
    try:
        factory = resolve(side.optimizer) if side.optimizer else None
        return resume_before(model, args, kwargs, side.resume_steps, side.seed, factory)
    except Exception as error:
        return {"error": one_line(error), "steps": side.resume_steps}


def _isolated_check(entry: dict, side: Side) -> tuple[dict, str, set[str]] | None:
    """One model's check with its own ``sys.argv`` and time limit; a module that does work
    when imported is not imported at all."""
    if entry.get("skip"):
        raise Skip(entry["skip"])
    try:
        with own_argv(entry.get("path")), time_limit(MODEL_TIME_LIMIT):
            return _check_before(entry, side)
    except TimeLimit:
        raise Skip(
            f"took longer than {MODEL_TIME_LIMIT:g} s to import, build and run once (the per-model limit)",
            hint(entry, "factory"),
        ) from None


def _record(entries: list[dict], side: Side) -> None:
    """Run the repository's examples with the changed classes wrapped; each entry whose class
    was called there gets ``recorded`` (the saved call and inputs, and where they came from)."""
    classes = {}
    for entry in entries:
        if entry.get("auto") and not entry.get("skip"):
            try:
                with own_argv(entry.get("path")), time_limit(MODEL_TIME_LIMIT):
                    cls = resolve(entry["class"])
            except (Exception, TimeLimit):  # reported when the entry itself is checked
                continue
            if isinstance(cls, type) and issubclass(cls, nn.Module):
                classes[entry["class"]] = cls
    if not classes:
        return
    with record.Recorder(list(classes.values())) as recorder:
        record.record(recorder, Path.cwd(), side.examples)
    for entry in entries:
        found = recorder.found.get(entry["class"]) if entry.get("class") in classes else None
        if found is not None:
            path = side.workdir / f"{entry['id']}.recorded.pt"
            try:
                record.save(found, path)
            except Exception:  # an argument that cannot be pickled: not recordable
                continue
            entry["recorded"] = {"recorded": str(path), "source": found[4]}


def _check_all(entries: list[dict], side: Side, checked: set[str], inside: set[str]) -> list[tuple[dict, Skip]]:
    """Check each entry (an automatic candidate only once per class); the entries skipped."""
    pending = []
    for entry in entries:
        if entry.get("auto") and entry["class"] in checked:
            continue
        try:
            result = _isolated_check(entry, side)
        except Skip as skip:
            pending.append((entry, skip))
            continue
        except Exception:  # not user code (that raises Skip): a torchfix bug, reported as one
            side.emit({"id": entry["id"], "status": "bug", "reason": traceback.format_exc()[-_TRACEBACK:]})
            continue
        if result is not None:
            line, cls, classes = result
            checked.add(cls)
            inside.update(classes)
            side.emit(line)
    return pending


def run_before(entries: list[dict], side: Side) -> None:
    """Check every entry's original. Synthesized (small) models first; the classes that could
    not be built or fed that way are then recorded from the repository's own examples and
    checked again with what those passed them. An automatic candidate still not built alone
    but inside a checked model is reported as covered."""
    checked: set[str] = set()
    inside: set[str] = set()
    skipped = {entry["id"]: (entry, skip) for entry, skip in _check_all(entries, side, checked, inside)}
    retry = [entry for entry, _ in skipped.values() if entry.get("auto")]
    _record(retry, side)
    again = [entry for entry in retry if entry.get("recorded")]
    for entry in again:
        del skipped[entry["id"]]
    for entry, skip in _check_all(again, side, checked, inside):
        skipped[entry["id"]] = (entry, skip)
    for entry, skip in skipped.values():
        if entry.get("auto") and entry["class"] in inside:
            side.emit({"id": entry["id"], "status": "covered"})
        else:
            side.emit({"id": entry["id"], "status": "skipped", "reason": skip.reason, "hint": skip.hint})


def run_after(entries: list[dict], side: Side) -> None:
    """Rebuild each model the before side built, load its state, compare each mode's step."""
    for entry in entries:
        try:
            with time_limit(MODEL_TIME_LIMIT):
                result = _check_after(entry, side)
        except TimeLimit:
            result = {"status": "differs", "problems": [f"the rewritten model took longer than {MODEL_TIME_LIMIT:g} s"]}
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
