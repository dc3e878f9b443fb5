"""The site check: evaluate a fix's expression before and after on synthesized inputs.

Inputs follow the site's specs (:mod:`torchfix.verify.specs`), in every variant
the specs call for. A variant on which the original raises is skipped (the
contract allows any result there); values the original computes as NaN or inf
may differ; everything else must match in type, shape, dtype, device and value.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import math
from typing import Any, Callable, Mapping

import torch

from torchfix.verify.specs import FLOAT_KINDS, Spec, Variant, parse_spec, variants
from torchfix.verify.worker.common import one_line
from torchfix.verify.worker.compare import (
    Comparison,
    Tolerance,
    compare_values,
    flatten,
)

#: modules whose names a site may use (a site never imports user code)
_ALLOWED_ROOTS = ("torch", "math")
_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_LARGE = {torch.float32: 1e15, torch.float64: 1e150}


class SiteSkip(Exception):
    """A site that cannot be evaluated (a name outside torch, a spec not understood)."""


def _float_tensor(spec: Spec, variant: Variant, generator: torch.Generator) -> torch.Tensor:
    dtype = _DTYPES[spec.kind if spec.kind != "float" else variant.dtype]
    t = torch.randn(spec.shape, generator=generator, dtype=torch.float64).to(dtype)
    if variant.values == "zero-rows" and t.dim() > 0 and t.numel():
        t[0] = 0
        if t.dim() > 1:
            t[..., 0] = 0
    elif variant.values == "zeros":
        t = torch.zeros_like(t)
    elif variant.values == "negative":
        t = -t.abs()
    elif variant.values == "large":
        t = t * _LARGE[dtype]
    elif variant.values == "inf" and t.numel():
        flat = t.view(-1)
        flat[0] = math.inf
        flat[-1] = -math.inf
    return t


def _mask(spec: Spec, variant: Variant, generator: torch.Generator) -> torch.Tensor:
    if variant.mask in ("all-False", "all-True"):
        return torch.full(spec.shape, variant.mask == "all-True")
    if variant.mask == "single-True":
        mask = torch.zeros(spec.shape, dtype=torch.bool)
        if mask.numel():
            mask.view(-1)[mask.numel() // 2] = True
        return mask
    return torch.rand(spec.shape, generator=generator) < 0.5


def make_inputs(specs: Mapping[str, Spec], variant: Variant, device: torch.device) -> dict[str, Any]:
    """The inputs of one variant, the same on every call (a fixed generator seed)."""
    generator = torch.Generator().manual_seed(0)
    inputs: dict[str, Any] = {}
    for name, spec in specs.items():
        if spec.kind in FLOAT_KINDS:
            inputs[name] = _float_tensor(spec, variant, generator).to(device)
        elif spec.kind == "bool":
            inputs[name] = _mask(spec, variant, generator).to(device)
        elif spec.kind == "long":
            inputs[name] = torch.randint(0, 5, spec.shape, generator=generator).to(device)
        elif spec.kind == "device":
            inputs[name] = device
        else:
            inputs[name] = spec.value
    return inputs


def namespace(before: str, after: str, names: dict[str, str], inputs: Mapping[str, object]) -> dict[str, Any]:
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


def _evaluate(code, names: dict, values: dict, seed: int) -> Any:
    """One side on fresh copies of the inputs (an in-place expression cannot touch the other's)."""
    fresh = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in values.items()}
    torch.manual_seed(seed)
    return eval(code, {**names, **fresh})


def check_site(site: dict, device: torch.device, tolerance: Tolerance, seed: int) -> dict:
    """Evaluate one site on every variant; passed, failed (with the first problems) or skipped."""
    try:
        specs = {name: parse_spec(text) for name, text in site["inputs"].items()}
        names = namespace(site["before"], site["after"], site["names"], specs)
        before = compile(site["before"], "<site before>", "eval")
        after = compile(site["after"], "<site after>", "eval")
    except (SiteSkip, SyntaxError, ValueError) as error:
        return {"status": "skipped", "reason": str(error)}
    total = Comparison()
    checked = 0
    original_errors = []
    for variant in variants(specs, site.get("edge_values", True)):
        values = make_inputs(specs, variant, device)
        try:
            expected = _evaluate(before, names, values, seed)
        except Exception as error:
            original_errors.append(f"{variant}: {one_line(error)}")
            continue
        checked += 1
        try:
            actual = _evaluate(after, names, values, seed)
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
