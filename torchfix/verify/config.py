"""``[tool.torchfix.verify]``: which models to build, with which inputs, how strictly.

The table is validated here (no torch): an unknown key or a wrong type is a
``ValueError`` naming it, so a typo never silently verifies nothing.

    [tool.torchfix.verify]
    models = [
        { factory = "pkg.models:build", inputs = "pkg.models:example_inputs" },
        { class = "pkg.models:Net" },
    ]
    timeout = 300     # seconds per subprocess
    device = "auto"   # auto | cpu | cuda | mps
    rtol = 1e-5       # overrides every floating dtype's default tolerance
    atol = 1e-6
    modes = ["eval float32", "train float32", "eval bfloat16"]   # the default
    optimizer = "pkg.train:make_optimizer"   # for --resume-steps; default AdamW(lr=1e-3)

Module paths (``pkg.models``) are imported with the folder holding the
pyproject.toml (the project root) first on ``sys.path``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from torchfix.verify.modes import DEFAULT_MODES, Mode, parse_modes

DEVICES = ("auto", "cpu", "cuda", "mps")
DEFAULT_TIMEOUT = 300.0

_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_MODEL_KEYS = ("factory", "class", "inputs")
_KEYS = ("models", "timeout", "device", "rtol", "atol", "modes", "optimizer")


@dataclass(frozen=True)
class ModelSpec:
    """One model to verify: built by ``factory()`` or ``cls()``; ``inputs()`` gives its arguments.

    Each is a ``"module:attribute"`` target. Without ``inputs`` they are inferred
    from the model's first layer or its ``example_input(s)`` attribute.
    """

    factory: str | None = None
    cls: str | None = None
    inputs: str | None = None

    @property
    def target(self) -> str:
        return self.factory or self.cls or ""

    def as_dict(self) -> dict[str, str]:
        keys = (("factory", self.factory), ("class", self.cls), ("inputs", self.inputs))
        return {key: value for key, value in keys if value is not None}


@dataclass(frozen=True)
class VerifyConfig:
    models: tuple[ModelSpec, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    device: str = "auto"
    rtol: float | None = None
    atol: float | None = None
    modes: tuple[Mode, ...] = DEFAULT_MODES
    #: builds the ``--resume-steps`` optimizer from the model; None: AdamW
    optimizer: str | None = None


def target(value: object, where: str) -> str:
    """A validated ``"module:attribute"`` string."""
    if not isinstance(value, str) or not _TARGET.match(value):
        raise ValueError(f"{where} must be a \"package.module:name\" string, got {value!r}")
    return value


def _number(value: object, where: str, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where} must be a number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{where} must be {'positive' if positive else 'zero or positive'}, got {value!r}")
    return float(value)


def _model(entry: object, where: str) -> ModelSpec:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where} must be a table such as {{ factory = \"pkg.models:build\" }}")
    unknown = sorted(key for key in entry if key not in _MODEL_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(_MODEL_KEYS)})")
    values = {key: target(entry[key], f"{where}.{key}") for key in _MODEL_KEYS if key in entry}
    if "factory" in values and "class" in values:
        raise ValueError(f"{where}: give `factory` or `class`, not both")
    if "factory" not in values and "class" not in values:
        raise ValueError(f"{where}: needs `factory` (a function returning the model) or `class`")
    return ModelSpec(values.get("factory"), values.get("class"), values.get("inputs"))


def device(value: object, where: str = "device") -> str:
    if value not in DEVICES:
        raise ValueError(f"{where} must be one of {', '.join(DEVICES)}, got {value!r}")
    return str(value)


def parse_verify_config(
    table: Mapping[str, object] | VerifyConfig | None, where: str = "[tool.torchfix.verify]"
) -> VerifyConfig:
    """Validate the raw ``verify`` table; raise ``ValueError`` with a clear message."""
    if isinstance(table, VerifyConfig):
        return table
    if not table:
        return VerifyConfig()
    if not isinstance(table, Mapping):
        raise ValueError(f"{where} must be a table")
    unknown = sorted(key for key in table if key not in _KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(_KEYS)})")
    models = table.get("models", [])
    if not isinstance(models, list):
        raise ValueError(f"{where}: `models` must be a list of tables")
    return VerifyConfig(
        models=tuple(_model(entry, f"{where} models[{i}]") for i, entry in enumerate(models)),
        timeout=_number(table["timeout"], f"{where}: `timeout`", True) if "timeout" in table else DEFAULT_TIMEOUT,
        device=device(table.get("device", "auto"), f"{where}: `device`"),
        rtol=_number(table["rtol"], f"{where}: `rtol`", False) if "rtol" in table else None,
        atol=_number(table["atol"], f"{where}: `atol`", False) if "atol" in table else None,
        modes=parse_modes(table["modes"], f"{where}: `modes`") if "modes" in table else DEFAULT_MODES,
        optimizer=target(table["optimizer"], f"{where}: `optimizer`") if "optimizer" in table else None,
    )
