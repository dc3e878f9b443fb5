"""The site check: evaluate a fix's expression before and after on synthesized inputs.

Inputs follow the site's tensor specs; every site runs random normal values in
float32 and float64, and, where the fix's contract allows edge values, zeros,
negatives, large magnitudes and an inf, and for boolean inputs all-False, a
single True and all-True. A variant on which the original raises is skipped;
values the original computes as NaN or inf may differ.
"""

from __future__ import annotations

import ast
import builtins
import copy
import importlib
import re
from typing import Any, Callable

import torch

from torchfix.verify.worker.compare import Comparison, Tolerance, compare_values, flatten
from torchfix.verify.worker.models import one_line

_TENSOR = re.compile(r"^\s*(float|double|half|bool|long|int)\s*\(([\d,\s]*)\)\s*$")
_DTYPES = {
    "float": torch.float32,
    "double": torch.float64,
    "half": torch.float16,
    "long": torch.int64,
    "int": torch.int32,
}
#: modules whose names a site may use (a site never imports user code)
_ALLOWED_ROOTS = ("torch", "math")

_FLOAT_VARIANTS = ("random", "float64")
_FLOAT_EDGES = ("zeros", "negative", "large", "inf")
_BOOL_EDGES = ("all_false", "single_true", "all_true")


class SiteSkip(Exception):
    """A site that cannot be evaluated (a name outside torch, a spec not understood)."""


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.replace(" ", "").split(",") if part)


def make_input(spec: str, variant: str, device: torch.device, generator: torch.Generator) -> Any:
    """One input for a spec such as ``"float(4, 8)"``, ``"bool(4)"``, ``"int:3"`` or ``"device"``."""
    if spec.strip() == "device":
        return device
    if spec.startswith(("int:", "float:")):
        kind, _, value = spec.partition(":")
        return int(value) if kind == "int" else float(value)
    match = _TENSOR.match(spec)
    if match is None:
        raise SiteSkip(f"unknown input spec {spec!r}")
    kind, shape = match.group(1), _shape(match.group(2))
    if kind == "bool":
        value = torch.rand(shape, generator=generator) < 0.5
        if variant in _BOOL_EDGES:
            value = torch.full(shape, variant == "all_true")
            if variant == "single_true" and value.numel():
                value.view(-1)[0] = True
    elif kind in ("long", "int"):
        value = torch.randint(0, 5, shape, generator=generator, dtype=_DTYPES[kind])
    else:
        dtype = torch.float64 if variant == "float64" else _DTYPES[kind]
        value = torch.randn(shape, generator=generator, dtype=torch.float64)
        if variant == "zeros":
            value = torch.zeros_like(value)
        elif variant == "negative":
            value = -value.abs()
        elif variant == "large":
            value = value * 1e6
        elif variant == "inf" and value.numel():
            value.view(-1)[0] = float("inf")
        value = value.to(dtype)
    return value.to(device)


def variants(inputs: dict[str, str], edge_values: bool) -> list[str]:
    kinds = {(_TENSOR.match(spec) or [None, None])[1] for spec in inputs.values()}
    result = list(_FLOAT_VARIANTS)
    if edge_values:
        if kinds & {"float", "double", "half"}:
            result += _FLOAT_EDGES
        if "bool" in kinds:
            result += _BOOL_EDGES
    return result


def namespace(before: str, after: str, names: dict[str, str], inputs: dict[str, str]) -> dict[str, Any]:
    """The torch names the two expressions use, imported as the file binds them."""
    used = set()
    for text in (before, after):
        used |= {node.id for node in ast.walk(ast.parse(text, mode="eval")) if isinstance(node, ast.Name)}
    result: dict[str, Any] = {"__builtins__": builtins}
    for name in sorted(used - set(inputs)):
        qualified = names.get(name)
        if qualified is None:
            if hasattr(builtins, name):
                continue
            raise SiteSkip(f"`{name}` is not bound by an import")
        if qualified.split(".")[0] not in _ALLOWED_ROOTS:
            raise SiteSkip(f"`{name}` is {qualified}, not torch")
        result[name] = _import(qualified)
    return result


def _import(qualified: str) -> Any:
    try:
        return importlib.import_module(qualified)
    except ImportError:
        module, _, attribute = qualified.rpartition(".")
        return getattr(importlib.import_module(module), attribute)


def _evaluate(code, names: dict, values: dict) -> Any:
    return eval(code, {**names, **copy.deepcopy(values)})


def check_site(site: dict, device: torch.device, tolerance: Tolerance, seed: int) -> dict:
    """Evaluate one site on every variant; passed, failed (with the first problem) or skipped."""
    try:
        names = namespace(site["before"], site["after"], site["names"], site["inputs"])
        before = compile(site["before"], "<site before>", "eval")
        after = compile(site["after"], "<site after>", "eval")
    except (SiteSkip, SyntaxError) as error:
        return {"status": "skipped", "reason": str(error)}
    total = Comparison()
    checked = 0
    original_errors = []
    for index, variant in enumerate(variants(site["inputs"], site.get("edge_values", True))):
        generator = torch.Generator().manual_seed(seed + index)
        try:
            values = {name: make_input(spec, variant, device, generator) for name, spec in site["inputs"].items()}
        except SiteSkip as error:
            return {"status": "skipped", "reason": str(error)}
        try:
            expected = _evaluate(before, names, values)
        except Exception as error:
            original_errors.append(f"{variant}: {one_line(error)}")
            continue
        checked += 1
        try:
            actual = _evaluate(after, names, values)
        except Exception as error:
            total.problems.append(f"{variant} inputs: the replacement raised {one_line(error)}")
            continue
        result = compare_values(flatten(expected, "result"), flatten(actual, "result"), tolerance)
        total.max_abs = max(total.max_abs, result.max_abs)
        total.max_rel = max(total.max_rel, result.max_rel)
        total.problems.extend(f"{variant} inputs: {problem}" for problem in result.problems)
    if not checked:
        return {"status": "skipped", "reason": "the original raised on every input: " + original_errors[0]}
    status = "passed" if total.equal else "failed"
    return {"status": status, "variants": checked, **total.as_dict()}


def run_sites(sites: list[dict], device: torch.device, tolerance: Tolerance, seed: int, emit: Callable) -> None:
    for site in sites:
        emit({"id": site["id"], **check_site(site, device, tolerance, seed)})
