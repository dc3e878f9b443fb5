"""Numerical property test: every rule example that declares ``inputs`` keeps the numbers.

Each example's ``before`` and ``after`` modules are executed with torch on inputs
built from the example's tensor specs, the same ``torch.manual_seed`` before each
side, in every variant of those specs; every name both modules bind (other than
the inputs, modules and functions) must then agree under the catalogue's contract:

- same type; tensors have the same shape, dtype and device;
- floating-point values are equal (``torch.testing.assert_close``) wherever the
  *before* value is finite; other values are exactly equal.

The inputs come from the product's spec language (:mod:`torchfix.verify.specs`,
built by :func:`torchfix.verify.worker.sites.make_inputs`): ``"float(4, 8)"`` runs
as float32 and float64 with the value variants random, zero rows, zeros,
negatives, large magnitudes and infinities; ``"bool(4, 8)"`` as a random mask,
all-False, single-True and all-True. Pinned dtypes (``"float64(4, 8)"``) and
``"<spec> except <variant>, ..."`` narrow the contract, so only unsafe examples
may use them: their assumption is what the narrowing encodes.

The eps guards of the contract (norms below 1e-12 for ``F.normalize``, 1e-8 for
``F.cosine_similarity``) need no exclusion of their own: the variants put exact
zeros where a vector vanishes, so an unguarded original divides 0 by 0 (NaN, not
compared) and a guarded one has the replacement's own formula; no variant makes
a norm that is tiny but not zero. Unsafe examples are checked under their
assumption, which their declared shapes (and pinned dtypes) encode.

Every fix that carries a :class:`~torchfix.rule.Site` is checked the same way,
evaluating the site's two expressions with the file's import aliases.

Examples whose modules bind no value at the top level but define ``nn.Module``
classes (the module idioms, TF003/TF004/TF008) are compared by the verifier's
module check (build both, load the ``state_dict``, run ``forward``), not here; a
test below makes sure nothing else is left out that way.
"""

from __future__ import annotations

import ast
import math
import types
from dataclasses import replace
from functools import lru_cache
from typing import Mapping

import pytest

torch = pytest.importorskip("torch")

from torchfix.engine import RunOptions, fix_text  # noqa: E402
from torchfix.rule import Applicability, Example, Site  # noqa: E402
from torchfix.rules import all_rules  # noqa: E402
from torchfix.verify.specs import Spec, Variant, parse_spec, variants  # noqa: E402
from torchfix.verify.worker.sites import _import, make_inputs  # noqa: E402

SEED = 1234
CPU = torch.device("cpu")


def _is_base(variant: Variant) -> bool:
    """The plain random variant: it must compare real numbers, not only NaN."""
    return variant.values == "random" and variant.mask == "random" and variant.dtype in (None, "float32")


def _fresh(inputs: Mapping[str, object]) -> dict[str, object]:
    """Copies, so that an in-place example cannot change the other side's inputs."""
    return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}


def _comparable(value) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_comparable(v) for v in value)
    return isinstance(value, (torch.Tensor, bool, int, float, complex, str, type(None), torch.dtype, torch.device))


def assert_same(before, after, where: str) -> int:
    """Assert the contract between two values; returns how many finite numbers were compared."""
    assert type(after) is type(before), f"{where}: {type(before).__name__} became {type(after).__name__}"
    if isinstance(before, (list, tuple)):
        assert len(after) == len(before), f"{where}: length {len(before)} became {len(after)}"
        return sum(assert_same(b, a, f"{where}[{i}]") for i, (b, a) in enumerate(zip(before, after)))
    if not isinstance(before, torch.Tensor):
        if isinstance(before, float) and not math.isfinite(before):
            return 0
        if isinstance(before, (float, complex)):
            torch.testing.assert_close(after, before, msg=lambda m: f"{where}: {m}")
        else:
            assert after == before, f"{where}: {before!r} became {after!r}"
        return 1
    assert after.shape == before.shape, f"{where}: shape {tuple(before.shape)} became {tuple(after.shape)}"
    assert after.dtype == before.dtype, f"{where}: dtype {before.dtype} became {after.dtype}"
    assert after.device == before.device, f"{where}: device {before.device} became {after.device}"
    if not (before.is_floating_point() or before.is_complex()):
        assert torch.equal(after, before), f"{where}: values differ"
        return before.numel()
    finite = torch.isfinite(before)
    torch.testing.assert_close(after[finite], before[finite], msg=lambda m: f"{where} (where finite): {m}")
    return int(finite.sum())


def _run(code: types.CodeType, namespace: Mapping[str, object]) -> dict[str, object]:
    scope = {"__name__": "torchfix_example", **_fresh(namespace)}
    torch.manual_seed(SEED)
    exec(code, scope)
    return scope


def check(
    before_code, after_code, specs: Mapping[str, Spec], base: Mapping[str, object], edge_values=True, declared=True
) -> int:
    """Run both sides in every variant and assert the contract on the names both bind.

    ``declared`` is false for the resized shapes of :func:`resized`, on which the
    original may raise even in the random variant. Returns how many variants ran.
    """
    ran = 0
    for variant in variants(specs, edge_values):
        inputs = {**base, **make_inputs(specs, variant, CPU)}
        try:
            before = _run(before_code, inputs)
        except Exception:
            assert not (declared and _is_base(variant)), "the original raises on the plain random inputs: a broken example"
            continue  # the contract allows any result where the original raised
        ran += 1
        after = _run(after_code, inputs)
        shared = sorted(
            name
            for name in set(before) & set(after)
            if name not in inputs and not name.startswith("__") and _comparable(before[name])
        )
        assert shared, "the example binds no value to compare"
        for name in shared:
            compared = assert_same(before[name], after[name], f"{name} with {variant}")
            if declared and _is_base(variant) and isinstance(before[name], torch.Tensor) and before[name].numel():
                assert compared, f"{name} with {variant}: nothing finite to compare"
    return ran


def resized(specs: Mapping[str, Spec]):
    """The declared tensor shapes with one dimension length made 0 or 1 wherever it occurs.

    Broadcasting and reductions behave differently on empty and single-element
    dimensions. A length is replaced in every input at once, ``int:`` inputs of
    that value included (they are sizes: ``expand(n, m, -1)``), so that what the
    example declares equal stays equal: ``x: (4, 8), y: (6, 8)`` gives ``8 -> 0``
    as ``x: (4, 0), y: (6, 0)``. A one-element mask is left out where the spec
    excludes ``single-True``: the fix's assumption rules that case out.
    """
    lengths = sorted({n for spec in specs.values() for n in spec.shape if n > 1})
    for length in lengths:
        for size in (0, 1):
            shapes = {name: _resize(spec, length, size) for name, spec in specs.items()}
            if not any(s.kind == "bool" and "single-True" in s.excluded and math.prod(s.shape) == 1 for s in shapes.values()):
                yield f"{length}->{size}", shapes


def _resize(spec: Spec, length: int, size: int) -> Spec:
    if spec.kind == "int":
        return replace(spec, value=size) if spec.value == length else spec
    return replace(spec, shape=tuple(size if n == length else n for n in spec.shape))


def check_resized(before_code, after_code, specs: Mapping[str, Spec], base: Mapping[str, object]) -> None:
    for label, shapes in resized(specs):
        try:
            check(before_code, after_code, shapes, base, edge_values=False, declared=False)
        except AssertionError as error:
            raise AssertionError(f"with dimension {label}: {error}") from error


# -- examples ---------------------------------------------------------------------


def _binds_values(example: Example) -> bool:
    """Whether the module assigns a top-level name other than its inputs."""
    for stmt in ast.parse(example.before).body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
        for target in targets:
            if target is not None and any(
                isinstance(n, ast.Name) and n.id not in example.inputs for n in ast.walk(target)
            ):
                return True
    return False


def _examples_with_inputs():
    for rule in all_rules():
        for index, example in enumerate(rule.EXAMPLES):
            if example.inputs and example.after is not None:
                yield rule, index, example


def _numeric_examples():
    for rule, index, example in _examples_with_inputs():
        if _binds_values(example):
            yield pytest.param(rule, example, id=f"{rule.CODE}-examples-{index}")


def test_only_module_examples_are_left_to_the_module_check():
    left_out = [
        f"{rule.CODE}-examples-{index}"
        for rule, index, example in _examples_with_inputs()
        if not _binds_values(example)
        and not any(isinstance(stmt, ast.ClassDef) for stmt in ast.parse(example.before).body)
    ]
    assert left_out == [], "examples with inputs that neither bind a value nor define a module"


@pytest.mark.parametrize("rule, example", list(_numeric_examples()))
def test_example_keeps_the_numbers(rule, example: Example):
    specs = {name: parse_spec(text) for name, text in example.inputs.items()}
    if example.applicability is not Applicability.UNSAFE:
        narrowed = sorted(name for name, spec in specs.items() if spec.narrowed)
        assert not narrowed, f"a safe fix holds for every dtype and variant; {narrowed} narrow the contract"
    before = compile(example.before, f"<{rule.CODE} before>", "exec")
    after = compile(example.after, f"<{rule.CODE} after>", "exec")
    check(before, after, specs, {})
    check_resized(before, after, specs, {})


# -- sites --------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _sites() -> tuple:
    """(id, Site, aliases) for every fix with a site that the examples apply."""
    found = []
    for rule in all_rules():
        for index, example in enumerate(rule.EXAMPLES):
            if example.after is None:
                continue
            unsafe = frozenset({rule.CODE}) if example.applicability is Applicability.UNSAFE else frozenset()
            outcome = fix_text(example.before, RunOptions((rule,), unsafe, dict(example.settings)))
            for number, applied in enumerate(a for a in outcome.applied if a.fix.site is not None):
                aliases = dict(applied.aliases)
                for request in applied.fix.imports:
                    target = request.module if request.name is None else f"{request.module}.{request.name}"
                    aliases[request.bound_name] = target
                found.append((f"{rule.CODE}-examples-{index}-site-{number}", applied.fix.site, aliases))
    return tuple(found)


@pytest.mark.parametrize("site, aliases", [pytest.param(s, a, id=i) for i, s, a in _sites()])
def test_site_keeps_the_numbers(site: Site, aliases: Mapping[str, str]):
    specs = {name: parse_spec(text) for name, text in site.inputs.items()}
    base = {}
    for local, qualified in aliases.items():
        try:
            base[local] = _import(qualified)
        except (ImportError, AttributeError):
            continue  # a non-torch import the site does not use
    before = compile(f"site_value = {site.before}", "<site before>", "exec")
    after = compile(f"site_value = {site.after}", "<site after>", "exec")
    check(before, after, specs, base, site.edge_values)
    check_resized(before, after, specs, base)


def test_the_contract_catches_a_wrong_rewrite():
    """A rewrite that changes the shape, the dtype or a value where the original is finite fails."""
    specs = {"x": parse_spec("float(4, 8)")}
    before = compile("y = x / x.norm(dim=1, keepdim=True)", "<before>", "exec")
    shape = compile("y = (x / x.norm(dim=1, keepdim=True)).sum(1)", "<shape>", "exec")
    dtype = compile("y = (x / x.norm(dim=1, keepdim=True)).double()", "<dtype>", "exec")
    values = compile("y = x / x.norm(dim=0, keepdim=True)", "<values>", "exec")
    for wrong in (shape, dtype, values):
        with pytest.raises(AssertionError):
            check(before, wrong, specs, {})


def test_resized_dimensions_catch_a_rewrite_wrong_only_on_size_one():
    """``x.squeeze()`` agrees with the original at (4, 8) and drops the row axis at (1, 8)."""
    specs = {"x": parse_spec("float(4, 8)")}
    before = compile("y = x.mean(dim=1)", "<before>", "exec")
    wrong = compile("y = x.squeeze().mean(dim=-1)", "<wrong>", "exec")
    check(before, wrong, specs, {})
    assert [label for label, _ in resized(specs)] == ["4->0", "4->1", "8->0", "8->1"]
    with pytest.raises(AssertionError, match="with dimension 4->1"):
        check_resized(before, wrong, specs, {})
