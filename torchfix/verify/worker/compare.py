"""Comparing nested outputs, gradients and buffers with dtype-aware, calibrated tolerances.

A value passes when ``|after - before| <= atol + rtol * |before| + NOISE_MULTIPLE * floor``:
the dtype's (or the mode's lower precision's) tolerance, plus a small multiple of
the noise floor, the largest difference between two runs of the same model on
the same side. A changed dtype or shape always differs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch

from torchfix.verify.mapping import map_parameters

#: (rtol, atol) per floating dtype: a few units of rounding after a fused or reordered reduction
DEFAULT_TOLERANCES = {
    torch.float64: (1e-7, 1e-7),
    torch.float32: (1e-5, 1e-5),
    torch.float16: (1e-3, 1e-3),
    torch.bfloat16: (1.6e-2, 1e-2),
}
#: how many times the noise floor a difference may exceed the dtype tolerance by
NOISE_MULTIPLE = 4.0
_COMPLEX = {torch.complex128: torch.float64, torch.complex64: torch.float32, torch.complex32: torch.float16}


@dataclass(frozen=True)
class Tolerance:
    """``--rtol``/``--atol`` override every floating dtype's default; ``precision`` (a mode's
    reduced precision: ``"bfloat16"``) loosens every floating dtype to at least its tolerance."""

    rtol: float | None = None
    atol: float | None = None
    precision: str | None = None

    def of(self, dtype: torch.dtype) -> tuple[float, float]:
        rtol, atol = DEFAULT_TOLERANCES.get(_COMPLEX.get(dtype, dtype), (0.0, 0.0))
        if self.precision is not None and (dtype.is_floating_point or dtype.is_complex):
            low_rtol, low_atol = DEFAULT_TOLERANCES[getattr(torch, self.precision)]
            rtol, atol = max(rtol, low_rtol), max(atol, low_atol)
        return (rtol if self.rtol is None else self.rtol, atol if self.atol is None else self.atol)


@dataclass
class Comparison:
    """The worst errors seen and the first mismatch, over any number of leaves."""

    max_abs: float = 0.0
    max_rel: float = 0.0
    problems: list[str] = field(default_factory=list)
    #: the largest noise floor among the values compared
    floor: float = 0.0

    @property
    def equal(self) -> bool:
        return not self.problems

    def merge(self, other: "Comparison") -> None:
        self.max_abs = max(self.max_abs, other.max_abs)
        self.max_rel = max(self.max_rel, other.max_rel)
        self.floor = max(self.floor, other.floor)
        self.problems.extend(other.problems)

    def as_dict(self) -> dict:
        return {"max_abs": self.max_abs, "max_rel": self.max_rel, "floor": self.floor, "problems": self.problems[:5]}


def flatten(value: Any, path: str = "out") -> list[tuple[str, Any]]:
    """Leaves of nested tuples, lists, dicts, named tuples and dataclasses, with their paths."""
    if isinstance(value, torch.Tensor):
        return [(path, value)]
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return [leaf for name in value._fields for leaf in flatten(getattr(value, name), f"{path}.{name}")]
    if isinstance(value, (tuple, list)):
        return [leaf for i, item in enumerate(value) for leaf in flatten(item, f"{path}[{i}]")]
    if isinstance(value, Mapping):
        return [leaf for key, item in value.items() for leaf in flatten(item, f"{path}[{key!r}]")]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [
            leaf for f in dataclasses.fields(value) for leaf in flatten(getattr(value, f.name), f"{path}.{f.name}")
        ]
    if value is None or isinstance(value, (bool, int, float, complex, str, torch.dtype, torch.device)):
        return [(path, value)]
    return [(path, f"<{type(value).__qualname__}>")]


def compare_tensor(
    name: str,
    before: torch.Tensor,
    after: torch.Tensor,
    tolerance: Tolerance,
    precision: torch.dtype | None = None,
    floor: float = 0.0,
) -> Comparison:
    """Elementwise ``|after - before| <= atol + rtol * |before|`` where ``before`` is finite.

    Where the original produced NaN or inf the rewrite may differ (the catalogue's
    definition of safe). The reported relative error is ``max|after - before| /
    max|before|`` over the finite values: element-wise ratios blow up near zero
    and say nothing there. ``precision`` picks the tolerance instead of the dtype;
    ``floor`` is the value's noise floor.
    """
    result = Comparison(floor=floor)
    if before.shape != after.shape:
        result.problems.append(f"{name}: shape {tuple(after.shape)} instead of {tuple(before.shape)}")
        return result
    if before.device != after.device:
        result.problems.append(f"{name}: on {after.device} instead of {before.device}")
        return result
    if before.dtype != after.dtype:
        # always differs; the values are still compared, for the report
        result.problems.append(f"{name}: dtype {after.dtype} instead of {before.dtype}")
    rtol, atol = tolerance.of(precision or before.dtype)
    atol += NOISE_MULTIPLE * floor
    b = before.detach().cpu()
    a = after.detach().cpu()
    if not (b.is_floating_point() or b.is_complex() or a.is_floating_point() or a.is_complex()):
        b, a = b.to(torch.float64), a.to(torch.float64)
        finite = torch.ones_like(b, dtype=torch.bool)
    else:
        wide = torch.complex128 if b.is_complex() or a.is_complex() else torch.float64
        b, a = b.to(wide), a.to(wide)
        finite = torch.isfinite(b)
    if b.numel() == 0:
        return result
    lost = finite & ~torch.isfinite(a)
    if bool(lost.any()):
        result.problems.append(f"{name}: {int(lost.sum())} non-finite value(s) where the original is finite")
    zero = torch.zeros((), dtype=torch.float64)
    diff = torch.where(finite & ~lost, (a - b).abs(), zero)
    scale = float(torch.where(finite, b.abs(), zero).max())
    result.max_abs = float(diff.max())
    result.max_rel = result.max_abs / scale if scale > 0 else (0.0 if result.max_abs == 0 else float("inf"))
    bad = diff > atol + rtol * b.abs()
    if bool(bad.any()):
        result.problems.append(
            f"{name}: {int(bad.sum())} of {b.numel()} value(s) differ beyond rtol={rtol:g}, atol={atol:g} "
            f"(max abs err {result.max_abs:.3g}{f', noise floor {floor:.3g}' if floor else ''})"
        )
    return result


def compare_values(
    before: list[tuple[str, Any]],
    after: list[tuple[str, Any]],
    tolerance: Tolerance,
    floor: Mapping[str, float] | None = None,
) -> Comparison:
    """Compare two flattened structures leaf by leaf (``floor``: each leaf's noise floor)."""
    floor = floor or {}
    result = Comparison()
    before_paths = [path for path, _ in before]
    after_paths = [path for path, _ in after]
    if before_paths != after_paths:
        missing = [p for p in before_paths if p not in after_paths]
        extra = [p for p in after_paths if p not in before_paths]
        detail = "; ".join(
            f"{label} {', '.join(paths[:3])}" for label, paths in (("missing", missing), ("new", extra)) if paths
        )
        result.problems.append(f"output structure differs: {detail or 'order changed'}")
        return result
    for (path, b), (_, a) in zip(before, after):
        if isinstance(b, torch.Tensor) and isinstance(a, torch.Tensor):
            result.merge(compare_tensor(path, b, a, tolerance, floor=floor.get(path, 0.0)))
        elif type(a) is not type(b):
            result.problems.append(f"{path}: {type(a).__name__} instead of {type(b).__name__}")
        elif isinstance(b, (float, complex)):
            # Python numbers mostly come from float32 tensors (``.item()``): float32's tolerance
            dtype = torch.complex128 if isinstance(b, complex) else torch.float64
            b, a = torch.tensor(b, dtype=dtype), torch.tensor(a, dtype=dtype)
            result.merge(compare_tensor(path, b, a, tolerance, torch.float32, floor.get(path, 0.0)))
        elif b != a:
            result.problems.append(f"{path}: {a!r} instead of {b!r}")
    return result


def noise(first: list[tuple[str, Any]], second: list[tuple[str, Any]]) -> dict[str, float]:
    """Each leaf's largest difference between two runs of the same model (its noise floor)."""
    floors = {}
    for (path, a), (other, b) in zip(first, second):
        if path != other:
            continue
        if isinstance(a, (float, complex)) and isinstance(b, (float, complex)):
            a, b = torch.tensor(a), torch.tensor(b)
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape:
            continue
        if not (a.is_floating_point() or a.is_complex()) or a.numel() == 0:
            continue
        a, b = a.detach().cpu().to(torch.complex128 if a.is_complex() else torch.float64), b.detach().cpu().to(
            torch.complex128 if a.is_complex() else torch.float64
        )
        both = torch.isfinite(a) & torch.isfinite(b)
        difference = torch.where(both, (a - b).abs(), torch.zeros((), dtype=torch.float64))
        floors[path] = float(difference.max())
    return floors


# --- gradients ---------------------------------------------------------------------------------


def shapes(values: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in values.items()}


def mapped(values: Mapping[str, torch.Tensor], parts: Mapping[str, list[str]]) -> dict[str, torch.Tensor]:
    """The original's tensors under the rewrite's keys (fused keys concatenated along dim 0;
    a key of its own is taken as it is, which a zero-dimensional tensor needs)."""
    return {key: values[keys[0]] if len(keys) == 1 else torch.cat([values[k] for k in keys]) for key, keys in parts.items()}


def compare_gradients(
    before: dict | None, after: dict | None, tolerance: Tolerance, floor: Mapping[str, float] | None = None
) -> Comparison:
    """Parameter gradients through the fused-parameter mapping, then input gradients.

    ``floor`` holds noise floors under the original's names (``grad fc.weight``);
    a fused parameter takes its parts' largest.
    """
    floor = floor or {}
    result = Comparison()
    if before is None or after is None:
        if (before is None) != (after is None):
            result.problems.append("only one side's outputs carry gradients")
        return result
    mapping = map_parameters(shapes(before["parameters"]), shapes(after["parameters"]))
    for key, expected in mapped(before["parameters"], mapping.parts).items():
        slack = max(floor.get(f"grad {name}", 0.0) for name in [key, *mapping.parts[key]])
        result.merge(compare_tensor(f"grad {key}", expected, after["parameters"][key], tolerance, floor=slack))
    for key in mapping.unmatched_after:
        result.problems.append(f"grad {key}: a trainable parameter without counterpart in the original")
    for key in mapping.unmatched_before:
        result.problems.append(f"grad {key}: the original's trainable parameter has no counterpart")
    for i, (b, a) in enumerate(zip(before["inputs"], after["inputs"])):
        name = f"grad input[{i}]"
        result.merge(compare_tensor(name, b, a, tolerance, floor=floor.get(name, 0.0)))
    return result


def gradient_leaves(grads: dict | None) -> list[tuple[str, torch.Tensor]]:
    """Gradients as named leaves (``grad fc.weight``, ``grad input[0]``), for the noise floor."""
    if grads is None:
        return []
    named = [(f"grad {key}", value) for key, value in grads["parameters"].items()]
    return named + [(f"grad input[{i}]", value) for i, value in enumerate(grads["inputs"])]
