"""TF007 f-normalize: ``x / x.norm(dim=d, keepdim=True)`` -> ``F.normalize(x, dim=d)``."""

from __future__ import annotations

import libcst as cst

from torchfix.patterns import int_value, is_pure, make_call, same_code
from torchfix.rule import Applicability, Fix, Rule
from torchfix.rules._axes import parse_unsqueeze, same_axis
from torchfix.rules._evidence import Evidence
from torchfix.rules._exprs import is_visibly_torch, parse_division
from torchfix.rules._norms import NormCall, parse_eps_guard, parse_vector_norm
from torchfix.rules._rewrite import (
    Parents,
    assumption,
    fit,
    float_spec,
    make_site,
    short,
)
from torchfix.rules._torch import TORCH_CONVENTIONS
from torchfix.rules.examples import tf007

SAFE, UNSAFE = Applicability.SAFE, Applicability.UNSAFE


def _masked(target: cst.BaseAssignTargetExpression) -> bool:
    """``v[m]``: a write through an index that is not a literal (a mask or index tensor)."""
    return isinstance(target, cst.Subscript) and any(
        not isinstance(e.slice, cst.Index) or int_value(e.slice.value) is None for e in target.slice
    )


class FNormalize(Rule):
    CODE = "TF007"
    SLUG = "f-normalize"
    IDIOM = "F.normalize"
    SUMMARY = "Use F.normalize instead of dividing a tensor by its own norm."
    FIX_SAFETY = "safe/unsafe"
    # "norm" for norm calls; "sqrt" and ".5" for the spelled-out 2-norm (sqrt / ** 0.5).
    DOCS = """\
## Why
`F.normalize(x, dim=d)` says what the code means, is one fused call, and guards
against division by zero (norms below `eps=1e-12` are clamped instead of producing
NaN/inf).

## Fix safety
Audit against the contract (same values, dtype, device and `state_dict()` for every input,
under `.to(dtype)`, `.to(device)`, `.train()`, `.eval()`): `F.normalize` computes the
same quotient (the norm clamped at `eps`), in the input's dtype and on its device, and
touches no module state.

Safe: for every input whose norms are at least `1e-12` the result is the same;
below that the original divides by (almost) zero and produces inf/NaN, which the
catalogue allows to differ. The norm may be any spelling (`x.norm`, `torch.norm`,
`torch.linalg.norm`/`vector_norm`, `torch.sqrt((x ** 2).sum(d, keepdim=True))`),
with `keepdim=True` or re-expanded by `.unsqueeze(d)` / `[..., None]` at the
reduced axis; the division may be `/`, `.div` or `torch.div`. A `.clamp(min=eps)`
on the norm is exactly `F.normalize`'s own formula, so it becomes `eps=eps` (safe).

Unsafe, with the assumption in the message:
- `x / (x.norm(dim=d, keepdim=True) + eps)`: `F.normalize` clamps the norm at
  `eps` instead of adding it (a relative difference of about `eps / norm`).
- `v / v.norm()` (the norm of every element): equal to `F.normalize(v, dim=0)`
  only when `v` is 1-D, so it is fixed only where the code proves that: `v` is
  `x.flatten()`, `x.view(-1)`, a 1-D constructor (`arange`, `torch.tensor([...])`,
  `randn(n)`) or a reduction of a 2-D tensor, in every assignment of its function.
  Otherwise the finding has no fix and names what the code shows instead
  (`torch.eye(k)`, a module's output, `t[0]`, `v.size(1)`, `v[:, i]`, `v.t()`, `v @ w`)
  or says that nothing shows `v` is 1-D.
- `x /= x.norm(...)` becomes `x = F.normalize(x, ...)`: a new tensor, so other
  references to the old one no longer see the change.

A spelled-out norm that is valid numpy as well (`x / (x ** 2).sum(-1, keepdims=True) ** 0.5`:
no torch call, no tensor-only method) gets an unsafe fix that assumes `x` is a
torch tensor.

The divided tensor and the normed tensor must be the same code and free of side
effects (names, attributes, constant or name subscripts, pure tensor methods);
otherwise the finding has no fix and says why, because `F.normalize` evaluates it
once.

## What could go wrong
Where the catalogue is silent we keep the user's numbers: an unsqueeze whose
axis equals the reduced one only for some ranks (`x.norm(dim=1)[..., None]`) is
not matched; neither is a tuple `dim=(-1, -2)` written as a literal, a norm with
`dtype=`, nor RMSNorm (`x * rsqrt(mean(x ** 2) + eps)`), which is not a unit
vector. An in-place division of an attribute (`self.w /= ...`) has no fix
(assigning a new tensor could replace a Parameter), and a masked write
`v[m] = v[m] / v[m].norm(...)` is reported without a fix, as the catalogue asks.

## Verify
`torchfix verify` evaluates both expressions on random, zero, negative and large
inputs of the example shape and compares them.
"""
    ROWS = {
        "keepdim": "x / x.norm(dim=d, keepdim=True) (method, torch.norm, linalg, .div, .unsqueeze(d), [..., None], "
        "sqrt of a sum of squares) -> F.normalize(x, dim=d)",
        "clamp": "x / x.norm(dim=d, keepdim=True).clamp(min=eps) -> F.normalize(x, dim=d, eps=eps)",
        "eps": "x / (x.norm(dim=d, keepdim=True) + eps) -> F.normalize(x, dim=d, eps=eps) (unsafe)",
        "whole": "v / v.norm() (whole-tensor norm) -> F.normalize(v, dim=0) (unsafe; only where v is provably 1-D, "
        "else report only with the reason)",
        "inplace": "x /= x.norm(dim=d, keepdim=True) -> x = F.normalize(x, dim=d) (unsafe)",
    }
    EXAMPLES = tf007.EXAMPLES
    VALID = tf007.VALID
    IMPORT_CONVENTIONS = TORCH_CONVENTIONS

    def __init__(self, context) -> None:
        super().__init__(context)
        self.parents = Parents(context.module)
        self.evidence: Evidence | None = None
        #: values of ``v[m] = ...`` assignments, by their target
        self.masked_values: dict[cst.CSTNode, cst.BaseExpression] = {}

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) == 1 and _masked(node.targets[0].target):
            self.masked_values[node.value] = node.targets[0].target

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.operator, cst.DivideAssign):
            self._check(node, node.target, node.value, inplace=True)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        self._visit_expression(node)

    def visit_Call(self, node: cst.Call) -> None:
        self._visit_expression(node)

    def _visit_expression(self, node: cst.BaseExpression) -> None:
        division = parse_division(node, self.names)
        if division is not None:
            self._check(node, *division)

    def _norm(self, node: cst.BaseExpression) -> NormCall | None:
        """The norm of a denominator that broadcasts back over the reduced axis (or a whole-tensor norm)."""
        norm = parse_vector_norm(node, self.names)
        if norm is None:
            unsqueeze = parse_unsqueeze(node, self.names)
            norm = parse_vector_norm(unsqueeze.operand, self.names) if unsqueeze is not None else None
            if norm is None or norm.keepdim or norm.dim is None or not same_axis(unsqueeze.axis, norm.dim):
                return None
        elif not norm.keepdim and norm.dim is not None:
            return None
        return None if isinstance(norm.dim, cst.Tuple) else norm

    def _check(self, node, numerator, denominator, inplace: bool = False) -> None:
        guard = parse_eps_guard(denominator, self.names)
        norm = self._norm(guard.inner if guard is not None else denominator)
        if norm is None:
            norm, guard = self._norm(denominator), None
        if norm is None or not same_code(numerator, norm.operand):
            return
        why = self._no_fix(node, numerator, inplace) or (self._not_one_d(numerator, node) if norm.dim is None else "")
        if why:
            self.report(node, f"Dividing by the norm is F.normalize; no fix: {why}.")
            return
        ref = self.names.reference("torch.nn.functional.normalize")
        if ref is None:
            return
        keywords = [] if norm.is_two_norm else [("p", norm.p)]
        keywords.append(("dim", norm.dim if norm.dim is not None else cst.Integer("0")))
        if guard is not None:
            keywords.append(("eps", guard.eps))
        call = make_call(ref.expr, [numerator], keywords)
        assumptions = []
        if not is_visibly_torch(node, self.names):
            assumptions.append(f"{short(numerator)} is a torch tensor, not a numpy array")
        if norm.dim is None:
            assumptions.append(f"{short(numerator)} is 1-D")
        if guard is not None and guard.additive:
            assumptions.append("clamping the norm at eps instead of adding eps does not matter")
        if inplace:
            assumptions.append(f"no other reference to {short(numerator)} needs to see the in-place change")
            replacement = cst.Assign([cst.AssignTarget(numerator)], call, semicolon=node.semicolon)
            before = cst.BinaryOperation(numerator, cst.Divide(), denominator)
        else:
            replacement, before = fit(call, node, self.parents), node
        site = make_site(before, call, [(numerator, "x", float_spec(norm.dim))], self.names, ref.imports)
        if assumptions:
            fix = Fix(UNSAFE, {node: replacement}, ref.imports, assumption=assumption(assumptions), site=site)
        else:
            fix = Fix(SAFE, {node: replacement}, ref.imports, site=site)
        self.report(node, "Use F.normalize instead of dividing by the norm.", fix)

    def _not_one_d(self, operand: cst.BaseExpression, at: cst.CSTNode) -> str:
        """Why the whole-tensor norm cannot become ``dim=0`` ('' when ``operand`` is provably 1-D)."""
        if self.evidence is None:
            self.evidence = Evidence(self.names, self.parents)
        fact = self.evidence.rank_fact(operand, at, assumed=1)
        if fact.rank == 1 and not fact.conflict:
            return ""
        reason = fact.conflict or f"the code does not show that {short(operand)} is 1-D"
        return f"F.normalize(v, dim=0) equals v / v.norm() only for a 1-D v, and {reason}"

    def _no_fix(self, node, operand, inplace: bool) -> str:
        """Why this match cannot be fixed ('' when it can)."""
        target = self.masked_values.get(node)
        if target is not None and same_code(target, operand):
            return "a masked write (v[m] = v[m] / ...) is left for review"
        if not is_pure(operand):
            return f"{short(operand)} may have side effects and F.normalize evaluates it once"
        if inplace and isinstance(operand, cst.Subscript):
            return "an in-place division of part of a tensor is left for review"
        if inplace and not isinstance(operand, cst.Name):
            return "assigning a new tensor to an attribute could replace an nn.Parameter or buffer"
        return ""
