"""What both sides of the module check share: skips, messages, targets and config hints."""

from __future__ import annotations

import importlib
import re
from typing import Any

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


def snake(name: str) -> str:
    """Readable snake_case for a class name: ``LookViT`` -> ``look_vit``, ``MLPMixer`` ->
    ``mlp_mixer``, ``GPT2Model`` -> ``gpt2_model`` (a lone capital or digits join the word before)."""
    words: list[str] = []
    for token in re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|_+", name):
        if token.startswith("_"):
            continue
        if words and (token.isdigit() or (len(token) == 1 and token.isupper())):
            words[-1] += token
        else:
            words.append(token)
    return "_".join(word.lower() for word in words) or name.lower()


def hint(entry: dict, needs: str) -> str:
    """The ``[tool.torchfix.verify]`` entry that would let the check build (``needs="factory"``)
    or run (``needs="inputs"``) this model."""
    name = entry["name"]
    module, _, attribute = name.partition(":")
    snake_name = snake(attribute.split(".")[-1])
    inputs = f'inputs = "{module}:{snake_name}_inputs"'
    if needs == "factory":
        return (
            f'models = [{{ factory = "{module}:make_{snake_name}", {inputs} }}]  '
            f"(make_{snake_name}() returns the model, {snake_name}_inputs() its forward arguments)"
        )
    key = "factory" if "factory" in entry else "class"
    return f'models = [{{ {key} = "{name}", {inputs} }}]  ({snake_name}_inputs() returns its forward arguments)'
