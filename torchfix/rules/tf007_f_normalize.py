"""TF007 f-normalize: ``x / x.norm(dim=d, keepdim=True)`` -> ``F.normalize(x, dim=d)``."""

from __future__ import annotations

import libcst as cst

from torchfix.patterns import (
    arg,
    code,
    int_value,
    is_pure,
    make_call,
    number_value,
    replace_same_code,
    same_code,
)
from torchfix.rule import Applicability, Example, Fix, Rule, Site, Valid
from torchfix.rules._norms import NormCall, parse_norm

SAFE = Applicability.SAFE


def _example(before_line: str, after_line: str, row: str, imports: str = "import torch\n", **kw):
    """An example whose module imports torch and assigns ``y``; F is added by the fix."""
    before = f"{imports}\ny = {before_line}\n"
    after_imports = imports if "functional as F" in imports else imports + "import torch.nn.functional as F\n"
    return Example(before, f"{after_imports}\ny = {after_line}\n", row=row, **kw)


class FNormalize(Rule):
    CODE = "TF007"
    SLUG = "f-normalize"
    IDIOM = "F.normalize"
    SUMMARY = "Use F.normalize instead of dividing a tensor by its own norm."
    FIX_SAFETY = "safe"
    REQUIRES = ("norm",)
    DOCS = """\
## Why
`F.normalize(x, dim=d)` says what the code means, is one fused call, and guards
against division by zero (norms below `eps=1e-12` are clamped instead of producing
NaN/inf).

## Fix safety
Safe: for every input whose norms are at least `1e-12` the result is the same;
below that the original divides by (almost) zero and produces inf/NaN, which the
catalogue allows to differ. A `.clamp(min=eps)` on the norm is exactly
`F.normalize`'s own formula, so it becomes `eps=eps`.

The divided tensor and the normed tensor must be the same code and free of side
effects (names, attributes, constant subscripts, pure tensor methods); otherwise
there is no fix, because `F.normalize` evaluates it once.

## What could go wrong
A tuple `dim=(-1, -2)` has no `F.normalize` form and is left alone.

## Verify
`torchfix verify` evaluates both expressions on random, zero, negative and large
inputs of the example shape and compares them.
"""
    ROWS = {
        "keepdim": "x / x.norm(dim=d, keepdim=True) (method, torch.norm, linalg) -> F.normalize(x, dim=d)",
        "clamp": "x / x.norm(dim=d, keepdim=True).clamp(min=eps) -> F.normalize(x, dim=d, eps=eps)",
    }
    EXAMPLES = (
        _example("x / x.norm(dim=1, keepdim=True)", "F.normalize(x, dim=1)", "keepdim", inputs={"x": "float(4, 8)"}),
        _example("x / x.norm(p=2, dim=-1, keepdim=True)", "F.normalize(x, dim=-1)", "keepdim", inputs={"x": "float(4, 8)"}),
        _example("x / torch.norm(x, p=2, dim=1, keepdim=True)", "F.normalize(x, dim=1)", "keepdim", inputs={"x": "float(4, 8)"}),
        _example("x / torch.linalg.vector_norm(x, dim=0, keepdim=True)", "F.normalize(x, dim=0)", "keepdim", inputs={"x": "float(4, 8)"}),
        _example("x / x.norm(1, 1, True)", "F.normalize(x, p=1, dim=1)", "keepdim", inputs={"x": "float(4, 8)"}),
        _example(
            "emb / emb.norm(dim=-1, keepdim=True)",
            "F.normalize(emb, dim=-1)",
            "keepdim",
            imports="import torch\nimport torch.nn.functional as F\n",
            inputs={"emb": "float(4, 8)"},
        ),
        _example(
            "x / x.norm(dim=1, keepdim=True).clamp(min=1e-6)",
            "F.normalize(x, dim=1, eps=1e-6)",
            "clamp",
            inputs={"x": "float(4, 8)"},
        ),
        _example(
            "x / x.norm(dim=1, keepdim=True).clamp_min(1e-8)",
            "F.normalize(x, dim=1, eps=1e-8)",
            "clamp",
            inputs={"x": "float(4, 8)"},
        ),
        _example(
            "x / torch.clamp(x.norm(dim=-1, keepdim=True), min=1e-12)",
            "F.normalize(x, dim=-1, eps=1e-12)",
            "clamp",
            inputs={"x": "float(4, 8)"},
        ),
        _example(
            "(h) / (h.norm(dim=1, keepdim=True))",
            "F.normalize(h, dim=1)",
            "keepdim",
            inputs={"h": "float(4, 8)"},
        ),
        # The operand is evaluated twice in the original and once by F.normalize.
        Example("import torch\ny = f(x) / f(x).norm(dim=1, keepdim=True)\n", None, row="keepdim"),
    )
    VALID = (
        Valid("import torch\ny = x / z.norm(dim=1, keepdim=True)\n", "different tensors on the two sides"),
        Valid("import torch\ny = x / x.norm(dim=1)\n", "keepdim=False without an unsqueeze does not broadcast per row"),
        Valid("import torch\ny = x / x.norm(dim=(-1, -2), keepdim=True)\n", "F.normalize takes one int dim"),
        Valid("import torch\ny = x / x.norm(dim=1, keepdim=True, dtype=torch.float64)\n", "dtype= changes the result dtype"),
        Valid("import numpy as np\ny = x / np.linalg.norm(x, axis=1, keepdims=True)\n", "numpy, not torch"),
        Valid("import torch\ny = x / x.norm(p='nuc', dim=(0, 1), keepdim=True)\n", "a matrix norm"),
    )

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, cst.Divide):
            self._check(node, node.left, node.right)

    def _check(self, node: cst.BaseExpression, numerator: cst.BaseExpression, denominator: cst.BaseExpression) -> None:
        eps = None
        clamp = self._clamp(denominator)
        if clamp is not None:
            denominator, eps = clamp
        norm = parse_norm(denominator, self.names)
        if norm is None or not norm.keepdim or norm.dim is None or isinstance(norm.dim, cst.Tuple):
            return
        if not same_code(numerator, norm.operand):
            return
        if not is_pure(numerator):
            self.report(node, "Dividing by the norm is F.normalize; no fix: the operand has side effects.")
            return
        ref = self.names.reference("torch.nn.functional.normalize")
        if ref is None:
            return
        replacement = self._normalize(ref.expr, numerator, norm, eps)
        fix = Fix(
            SAFE,
            {node: replacement.with_changes(lpar=node.lpar, rpar=node.rpar)},
            imports=ref.imports,
            site=self._site(node, numerator, norm, eps, ref.expr),
        )
        self.report(node, "Use F.normalize instead of dividing by the norm.", fix)

    def _clamp(self, node: cst.BaseExpression) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
        """``n.clamp(min=eps)``, ``n.clamp_min(eps)``, ``torch.clamp(n, min=eps)`` -> (n, eps)."""
        if not isinstance(node, cst.Call):
            return None
        if isinstance(node.func, cst.Attribute) and self.names.qualified(node.func) is None:
            method = node.func.attr.value
            if method == "clamp" and len(node.args) == 1:
                low = arg(node, "min", 0)
            elif method == "clamp_min" and len(node.args) == 1:
                low = arg(node, "min", 0)
            else:
                return None
            inner = node.func.value
        elif self.names.qualified(node.func) in ("torch.clamp", "torch.clamp_min") and len(node.args) == 2:
            inner = arg(node, "input", 0)
            low = arg(node, "min", 1)
            inner = inner.value if inner is not None else None
        else:
            return None
        if low is None or inner is None or number_value(low.value) is None or number_value(low.value) < 0:
            return None
        return inner, low.value

    @staticmethod
    def _normalize(func: cst.BaseExpression, operand, norm: NormCall, eps) -> cst.Call:
        keywords = [] if norm.is_two_norm else [("p", norm.p)]
        keywords.append(("dim", norm.dim))
        if eps is not None:
            keywords.append(("eps", eps))
        return make_call(func, [operand], keywords)

    def _site(self, node, operand, norm: NormCall, eps, func) -> Site | None:
        """The site check's expressions, with the operand as ``x`` (literal arguments only)."""
        if norm.p is not None and number_value(norm.p) is None:
            return None
        if int_value(norm.dim) is None:
            return None
        placeholder = cst.Name("x")
        before = code(replace_same_code(node, {operand: placeholder}))
        after = code(self._normalize(func, placeholder, norm, eps))
        return Site(before=before, after=after, inputs={"x": "float(4, 8)"})
