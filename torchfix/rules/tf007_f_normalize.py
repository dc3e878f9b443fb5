"""TF007 f-normalize: ``x / x.norm(dim=d, keepdim=True)`` -> ``F.normalize(x, dim=d)``."""

from __future__ import annotations

import libcst as cst

from torchfix.patterns import int_value, is_pure, make_call, same_code
from torchfix.rule import Applicability, Example, Fix, Rule, Valid
from torchfix.rules._axes import parse_unsqueeze, same_axis
from torchfix.rules._exprs import is_visibly_torch, parse_division
from torchfix.rules._norms import NormCall, parse_eps_guard, parse_vector_norm
from torchfix.rules._rewrite import Parents, assumption, fit, float_spec, make_site, short

SAFE, UNSAFE = Applicability.SAFE, Applicability.UNSAFE
_F = "import torch.nn.functional as F\n"


def _example(before: str, after: str | None, row: str, imports: str = "import torch\n", added: str = _F, **kw):
    """A module importing torch whose body is ``before``; the fix adds ``added`` to the imports."""
    body = before if "\n" in before else f"y = {before}\n"
    if after is None:
        return Example(f"{imports}\n{body}", None, row=row, **kw)
    fixed = after if "\n" in after else f"y = {after}\n"
    return Example(f"{imports}\n{body}", f"{imports}{added}\n{fixed}", row=row, **kw)


def _unsafe(before: str, after: str, row: str, **kw):
    return _example(before, after, row, applicability=UNSAFE, **kw)


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
  only when `v` is 1-D.
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
        "whole": "v / v.norm() (whole-tensor norm) -> F.normalize(v, dim=0) (unsafe: assumes 1-D)",
        "inplace": "x /= x.norm(dim=d, keepdim=True) -> x = F.normalize(x, dim=d) (unsafe)",
    }
    X = {"x": "float(4, 8)"}
    EXAMPLES = (
        _example("x / x.norm(dim=1, keepdim=True)", "F.normalize(x, dim=1)", "keepdim", inputs=X),
        _example("x / x.norm(p=2, dim=-1, keepdim=True)", "F.normalize(x, dim=-1)", "keepdim", inputs=X),
        _example("x / torch.norm(x, p=2, dim=1, keepdim=True)", "F.normalize(x, dim=1)", "keepdim", inputs=X),
        _example("x / torch.linalg.vector_norm(x, dim=0, keepdim=True)", "F.normalize(x, dim=0)", "keepdim", inputs=X),
        _example("x / x.norm(1, 1, True)", "F.normalize(x, p=1, dim=1)", "keepdim", inputs=X),
        _example("x / x.norm(2, 1, keepdim=True)", "F.normalize(x, dim=1)", "keepdim", inputs=X),
        _example(
            "emb / emb.norm(dim=-1, keepdim=True)",
            "F.normalize(emb, dim=-1)",
            "keepdim",
            imports="import torch\nimport torch.nn.functional as F\n",
            added="",
            inputs={"emb": "float(4, 8)"},
        ),
        _example(
            "x / t.linalg.norm(x, dim=1, keepdim=True)",
            "functional.normalize(x, dim=1)",
            "keepdim",
            imports="import torch as t\nfrom torch.nn import functional\n",
            added="",
            inputs=X,
        ),
        _example(
            "x / x.norm(dim=2, keepdim=True)",
            "F.normalize(x, dim=2)",
            "keepdim",
            imports="import torch\nfrom torch import nn\n",
            inputs={"x": "float(3, 4, 5)"},
        ),
        _example("(h) / (h.norm(dim=1, keepdim=True))", "F.normalize(h, dim=1)", "keepdim", inputs={"h": "float(4, 8)"}),
        _example("x / x.norm(dim=1).unsqueeze(1)", "F.normalize(x, dim=1)", "keepdim", inputs=X),
        _example("x / x.norm(dim=-1)[..., None]", "F.normalize(x, dim=-1)", "keepdim", inputs=X),
        _example("x / torch.norm(x, dim=1)[:, None]", "F.normalize(x, dim=1)", "keepdim", inputs=X),
        _example(
            "x / x.norm(dim=d).unsqueeze(d)",
            "F.normalize(x, dim=d)",
            "keepdim",
            inputs={"x": "float(4, 8)", "d": "int:-1"},
        ),
        _example("x.div(x.norm(dim=-1, keepdim=True))", "F.normalize(x, dim=-1)", "keepdim", inputs=X),
        _example("torch.div(x, torch.linalg.norm(x, dim=1, keepdim=True))", "F.normalize(x, dim=1)", "keepdim", inputs=X),
        _example("x / torch.sqrt(x.pow(2).sum(-1, keepdim=True))", "F.normalize(x, dim=-1)", "keepdim", inputs=X),
        # Valid numpy too: unsafe, assuming x is a tensor.
        _unsafe("x / (x ** 2).sum(dim=1, keepdims=True) ** 0.5", "F.normalize(x, dim=1)", "keepdim", inputs=X),
        _example(
            "x / torch.sum(torch.square(x), dim=0, keepdim=True).sqrt()", "F.normalize(x, dim=0)", "keepdim", inputs=X
        ),
        # The operand is evaluated twice in the original and once by F.normalize.
        _example("f(x) / f(x).norm(dim=1, keepdim=True)", None, "keepdim"),
        # The catalogue leaves masked in-place writes alone.
        _example("v[m] = v[m] / v[m].norm(dim=1, keepdim=True)\n", None, "keepdim"),
        _example("x / x.norm(dim=1, keepdim=True).clamp(min=1e-6)", "F.normalize(x, dim=1, eps=1e-6)", "clamp", inputs=X),
        _example("x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)", "F.normalize(x, dim=1, eps=1e-8)", "clamp", inputs=X),
        _example(
            "x / torch.clamp(x.norm(dim=-1, keepdim=True), min=1e-12)",
            "F.normalize(x, dim=-1, eps=1e-12)",
            "clamp",
            inputs=X,
        ),
        _example(
            "x / x.norm(dim=1, keepdim=True).clamp(min=eps)",
            "F.normalize(x, dim=1, eps=eps)",
            "clamp",
            inputs={"x": "float(4, 8)", "eps": "float:1e-6"},
        ),
        _unsafe("x / (x.norm(dim=-1, keepdim=True) + 1e-8)", "F.normalize(x, dim=-1, eps=1e-8)", "eps", inputs=X),
        _unsafe(
            "x / (1e-8 + torch.norm(x, dim=1, keepdim=True))", "F.normalize(x, dim=1, eps=1e-8)", "eps", inputs=X
        ),
        _unsafe("v / v.norm()", "F.normalize(v, dim=0)", "whole", inputs={"v": "float(8)"}),
        _unsafe("v / torch.norm(v, p=2.0)", "F.normalize(v, dim=0)", "whole", inputs={"v": "float(8)"}),
        _unsafe("v / (v.norm() + 1e-8)", "F.normalize(v, dim=0, eps=1e-8)", "whole", inputs={"v": "float(8)"}),
        _unsafe(
            "y = x.clone()\ny /= y.norm(dim=1, keepdim=True)\n",
            "y = x.clone()\ny = F.normalize(y, dim=1)\n",
            "inplace",
            inputs=X,
        ),
        # Assigning a new tensor to an attribute could replace an nn.Parameter.
        _example("self.w /= self.w.norm(dim=1, keepdim=True)\n", None, "inplace"),
    )
    VALID = (
        Valid("import torch\ny = x / z.norm(dim=1, keepdim=True)\n", "different tensors on the two sides"),
        Valid("import torch\ny = x / x.norm(dim=1)\n", "keepdim=False without an unsqueeze does not broadcast per row"),
        Valid("import torch\ny = x / x.norm(dim=1).unsqueeze(0)\n", "the unsqueezed axis is not the reduced one"),
        Valid("import torch\ny = x / x.norm(dim=1)[..., None]\n", "axis 1 is the last axis only for 2-D x"),
        Valid("import torch\ny = x / x.norm(dim=(-1, -2), keepdim=True)\n", "F.normalize takes one int dim"),
        Valid("import torch\ny = x / x.norm(dim=1, keepdim=True, dtype=torch.float64)\n", "dtype= changes the result dtype"),
        Valid("import numpy as np\ny = x / np.linalg.norm(x, axis=1, keepdims=True)\n", "numpy, not torch"),
        Valid("import torch\ny = x / x.norm(p='nuc', dim=(0, 1), keepdim=True)\n", "a matrix norm"),
        Valid(
            "import torch\ny = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)\n",
            "RMSNorm scales by the root mean square: not a unit vector",
        ),
        Valid("import torch\ny = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True))\n", "a mean of squares, not a norm"),
        Valid("import torch\ny = x / x.norm(dim=1, keepdim=True).clamp(max=1.0)\n", "an upper clamp is not an eps guard"),
        Valid("import torch\ny = x / x.abs().sum(dim=1, keepdim=True) ** 2\n", "not a root of a sum of squares"),
    )

    def __init__(self, context) -> None:
        super().__init__(context)
        self.parents = Parents(context.module)
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
        why = self._no_fix(node, numerator, inplace)
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
