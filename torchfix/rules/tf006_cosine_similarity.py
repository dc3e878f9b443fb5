"""TF006 cosine-similarity: ``(a * b).sum(d) / (a.norm(dim=d) * b.norm(dim=d))`` -> ``F.cosine_similarity``."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from torchfix.patterns import (
    arg,
    has_star_args,
    int_value,
    is_pure,
    make_call,
    same_code,
)
from torchfix.rule import Applicability, Fix, Rule
from torchfix.rules._axes import Broadcast, pair, parse_broadcast, same_axis
from torchfix.rules._evidence import Evidence
from torchfix.rules._exprs import is_visibly_torch, parse_division, parse_product, parse_receiver, parse_sum
from torchfix.rules._norms import EpsGuard, parse_eps_guard, parse_vector_norm
from torchfix.rules._rewrite import (
    Parents,
    assumption,
    fit,
    float_spec,
    make_site,
    short,
)
from torchfix.rules._torch import TORCH_CONVENTIONS
from torchfix.rules.examples import tf006
from torchfix.walk import holds

SAFE, UNSAFE = Applicability.SAFE, Applicability.UNSAFE
_COSINE = ("torch.nn.functional.cosine_similarity", "torch.cosine_similarity")


@dataclass(frozen=True)
class _Dot:
    """A dot product of ``a`` and ``b`` over ``dim`` (None: ``torch.dot``, which pins 1-D)."""

    a: cst.BaseExpression
    b: cst.BaseExpression
    dim: cst.BaseExpression | None


class CosineSimilarity(Rule):
    CODE = "TF006"
    SLUG = "cosine-similarity"
    IDIOM = "F.cosine_similarity"
    SUMMARY = "Use F.cosine_similarity instead of dividing a dot product by the norms; pairwise, normalise then matmul."
    FIX_SAFETY = "safe/unsafe"
    # Row 1 sums a product, row 2 calls dot, row 4 calls cosine_similarity.
    DOCS = """\
## Why
`F.cosine_similarity(a, b, dim=d)` names the computation, guards zero vectors
(each norm is clamped at `eps=1e-8` instead of producing NaN) and is one call.
Pairwise similarities through broadcasting (`a[:, None]`, `b[None]`) build an
(N, M, D) tensor; normalising once and multiplying, `F.normalize(a) @
F.normalize(b).T`, needs O(N*M) memory, by the identity
`cosine_similarity(a, b, dim, eps) == (F.normalize(a, dim=dim, eps=eps) * F.normalize(b, dim=dim, eps=eps)).sum(dim)`.

## Fix safety
Audit against the contract (same values, dtype, device and `state_dict()` for every input,
under `.to(dtype)`, `.to(device)`, `.train()`, `.eval()`): `F.cosine_similarity` keeps the
inputs' dtype and device and touches no module state; its values equal the spelled-out
quotient up to floating-point rounding wherever both norms are at least `1e-8` (below, the
original divides by almost zero: the catalogue's allowed difference). The rows below that
change more than that (a clamp or `+ eps` on the whole denominator, an assumed rank) are
unsafe.

- `(a * b).sum(dim=d) / (a.norm(dim=d) * b.norm(dim=d))`, in any operand order,
  with `torch.sum`, `.mul`, `p=2`, `torch.norm`/`torch.linalg` norms or the
  spelled-out `sqrt((a ** 2).sum(d))`, or divided by one norm after the other: safe, equal wherever both norms are at
  least `1e-8`. A `.clamp(min=eps)` on *each* norm is `F.cosine_similarity`'s own
  formula: safe with `eps=eps`.
- `torch.dot(a, b) / (a.norm() * b.norm())`: safe, `dim=0` (`dot` only takes 1-D).
- `+ eps` or `.clamp(min=eps)` on the whole denominator: unsafe, because
  `F.cosine_similarity` clamps each norm at `eps` instead.
- `F.cosine_similarity(x.unsqueeze(1), y.unsqueeze(0), dim=-1)` (or `x[:, None]`,
  `y[None]`, plain `y`, `.expand`): unsafe, assumes x and y are 2-D. Either
  argument order is recognised; the operand with the new axis 1 gives the rows.

A spelled-out form that is valid numpy as well (`(a ** 2).sum(-1) ** 0.5`
norms, `a.dot(b)`, no torch call) gets an unsafe fix that assumes torch tensors.

`a` and `b` appear twice in the original and once in the fix, so they must be
the same code on both sides and free of side effects; otherwise the finding has
no fix and says why.

## What could go wrong
`F.cosine_similarity` broadcasts `a` and `b` before it takes the norms: if one of
them has size 1 along `dim` while the other does not, the original computes a
different (not a cosine) value. Shapes are not visible statically; the rewrite
assumes the usual case of equal sizes along `dim`. Batched pairwise code (3-D
operands) is not in the catalogue and is left alone. `F.normalize(a) @
F.normalize(b).T` is already the efficient form and is never rewritten back.

## Verify
`torchfix verify` evaluates both expressions on random, zero, negative and large
inputs of the example shapes and compares them.
"""
    ROWS = {
        "sum": "(a * b).sum(dim=d) / (a.norm(dim=d) * b.norm(dim=d)) -> F.cosine_similarity(a, b, dim=d)",
        "dot": "torch.dot(a, b) / (a.norm() * b.norm()) -> F.cosine_similarity(a, b, dim=0)",
        "eps": "the same with + eps or .clamp(min=eps) on the denominator -> eps=eps (unsafe)",
        "pairwise": "F.cosine_similarity(x.unsqueeze(1), y.unsqueeze(0), dim=-1) -> "
        "F.normalize(x, dim=-1, eps=1e-8) @ F.normalize(y, dim=-1, eps=1e-8).T (unsafe: assumes 2-D)",
    }
    EXAMPLES = tf006.EXAMPLES
    VALID = tf006.VALID
    IMPORT_CONVENTIONS = TORCH_CONVENTIONS

    def __init__(self, context) -> None:
        super().__init__(context)
        self.parents = Parents(context.module)
        self.evidence: Evidence | None = None

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        division = parse_division(node, self.names)
        if division is not None:
            self._check_ratio(node, *division)

    def visit_Call(self, node: cst.Call) -> None:
        division = parse_division(node, self.names)
        if division is not None:
            self._check_ratio(node, *division)
        elif self.names.qualified(node.func) in _COSINE:
            self._check_pairwise(node)

    # -- rows 1-3: a dot product over the product of the norms ------------------

    def _dot(self, node: cst.BaseExpression) -> _Dot | None:
        total = parse_sum(node, self.names)
        if total is not None:
            factors = parse_product(total.operand, self.names)
            if factors is None or total.dim is None or total.keepdim:
                return None
            return _Dot(*factors, total.dim)
        dot = parse_receiver(node, self.names, ("dot",), ("torch.dot",), frozenset({"tensor"}), 1)
        other = dot.arg("tensor", 0) if dot is not None else None
        return None if other is None else _Dot(dot.operand, other.value, None)

    def _norm_of(self, node: cst.BaseExpression, dim: cst.BaseExpression | None):
        """(operand, per-norm eps guard) of a 2-norm over ``dim`` (dim None: a 1-D norm), else None."""
        guard = parse_eps_guard(node, self.names)
        norm = parse_vector_norm(guard.inner if guard is not None else node, self.names)
        if norm is None or not norm.is_two_norm or norm.keepdim:
            return None
        if dim is None:
            ok = norm.dim is None or int_value(norm.dim) in (0, -1)
        else:
            ok = norm.dim is not None and same_axis(dim, norm.dim)
        return (norm.operand, guard) if ok else None

    def _check_ratio(self, node, numerator, denominator) -> None:
        chained = parse_division(numerator, self.names)
        if chained is not None and self._dot(chained[0]) is not None:
            # dot / a.norm(...) / b.norm(...)
            (numerator, first_norm), guard = chained, None
            factors = (first_norm, denominator)
        else:
            guard = parse_eps_guard(denominator, self.names)
            factors = parse_product(guard.inner if guard is not None else denominator, self.names)
        dot = self._dot(numerator)
        if dot is not None and self._expanded_pairwise(dot) and self._has_norm(denominator):
            why = "the operands are repeated with .expand (and normalised by hand), so the rank and the eps are the code's own"
            message = "Pairwise cosine similarity through .expand is F.normalize(a) @ F.normalize(b).T"
            self.report(node, f"{message}; no fix: {why}.")
            return
        if dot is None or factors is None:
            return
        norms = [self._norm_of(f, dot.dim) for f in factors]
        if None in norms:
            return
        (first, first_guard), (second, second_guard) = norms
        if not ((same_code(first, dot.a) and same_code(second, dot.b))
                or (same_code(first, dot.b) and same_code(second, dot.a))):
            return
        eps, additive = self._eps(guard, first_guard, second_guard)
        if eps is False:
            return
        for operand in (dot.a, dot.b):
            if not is_pure(operand):
                message = f"no fix: {short(operand)} may have side effects and F.cosine_similarity evaluates it once"
                self.report(node, f"This is F.cosine_similarity; {message}.")
                return
        ref = self.names.reference("torch.nn.functional.cosine_similarity")
        if ref is None:
            return
        keywords = [("dim", dot.dim if dot.dim is not None else cst.Integer("0"))]
        if eps is not None:
            keywords.append(("eps", eps))
        call = make_call(ref.expr, [dot.a, dot.b], keywords)
        spec = float_spec(dot.dim)
        site = make_site(node, call, [(dot.a, "a", spec), (dot.b, "b", spec)], self.names, ref.imports)
        edits = {node: fit(call, node, self.parents)}
        clauses = []
        if not is_visibly_torch(node, self.names):
            clauses.append(f"{short(dot.a)} and {short(dot.b)} are torch tensors, not numpy arrays")
        if additive:
            clauses.append("clamping each norm at eps instead of the original eps guard does not matter")
        if clauses:
            fix = Fix(UNSAFE, edits, ref.imports, assumption=assumption(clauses), site=site)
        else:
            fix = Fix(SAFE, edits, ref.imports, site=site)
        self.report(node, "Use F.cosine_similarity instead of dividing the dot product by the norms.", fix)

    def _has_norm(self, node: cst.CSTNode) -> bool:
        return holds(node, lambda inner: parse_vector_norm(inner, self.names) is not None)

    def _expanded_pairwise(self, dot: _Dot) -> bool:
        """``(a.unsqueeze(1).expand(n, m, d) * b.unsqueeze(0).expand(n, m, d)).sum(-1)``: a pairwise dot product."""
        first, second = parse_broadcast(dot.a, self.names), parse_broadcast(dot.b, self.names)
        if first is None or second is None or not (first.expanded or second.expanded) or dot.dim is None:
            return False
        return pair(first, second, dot.dim) is not None

    @staticmethod
    def _eps(whole: EpsGuard | None, first: EpsGuard | None, second: EpsGuard | None):
        """(eps or None, unsafe?) for the guards; eps False when they do not fit F.cosine_similarity."""
        if whole is not None:
            return (whole.eps, True) if first is None and second is None else (False, False)
        if first is None and second is None:
            return None, False
        if first is None or second is None or not same_code(first.eps, second.eps):
            return False, False
        return first.eps, first.additive or second.additive

    # -- row 4: pairwise similarity through broadcasting ------------------------

    def _check_pairwise(self, node: cst.Call) -> None:
        if has_star_args(node) or len(node.args) > 4:
            return
        if {a.keyword.value for a in node.args if a.keyword is not None} - {"x1", "x2", "dim", "eps"}:
            return
        x1, x2, dim, eps = arg(node, "x1", 0), arg(node, "x2", 1), arg(node, "dim", 2), arg(node, "eps", 3)
        if x1 is None or x2 is None:
            return
        first, second = parse_broadcast(x1.value, self.names), parse_broadcast(x2.value, self.names)
        if first is None or second is None:
            return
        pairing = pair(first, second, dim.value if dim is not None else cst.Integer("1"))
        if pairing is None or pairing.rank != 2:
            return
        row, col = pairing.row, pairing.col
        if pairing.swapped and not (is_pure(row.operand) and is_pure(col.operand)):
            why = "putting the row operand first would change the order of evaluation"
            self.report(node, f"Pairwise F.cosine_similarity builds an (N, M, D) tensor; no fix: {why}.")
            return
        if self.evidence is None:
            self.evidence = Evidence(self.names, self.parents)
        for operand in (row.operand,) if same_code(row.operand, col.operand) else (row.operand, col.operand):
            conflict = self.evidence.rank_fact(operand, node, assumed=2).conflict
            if conflict:
                why = f"the matmul form needs 2-D operands, and {conflict}"
                self.report(node, f"Pairwise F.cosine_similarity builds an (N, M, D) tensor; no fix: {why}.")
                return
        ref = self.names.reference("torch.nn.functional.normalize")
        if ref is None:
            return
        eps_value = eps.value if eps is not None else cst.Float("1e-8")
        product = cst.BinaryOperation(
            self._normalized(ref.expr, row, eps_value),
            cst.MatrixMultiply(),
            cst.Attribute(self._normalized(ref.expr, col, eps_value), cst.Name("T")),
        )
        clauses = [f"{short(row.operand)} and {short(col.operand)} are 2-D: (N, D) and (M, D)"]
        site = None
        if row.expanded or col.expanded:
            clauses.append("the .expand only repeats them to the (N, M, D) pairwise shape")
        else:
            operands = [(row.operand, "x", "float(5, 8)"), (col.operand, "y", "float(6, 8)")]
            site = make_site(node, product, operands, self.names, ref.imports)
        fix = Fix(UNSAFE, {node: fit(product, node, self.parents)}, ref.imports, assumption(clauses), site=site)
        message = "Pairwise F.cosine_similarity builds an (N, M, D) tensor: normalise, then matmul (F.normalize(x) @ F.normalize(y).T)."
        self.report(node, message, fix)

    @staticmethod
    def _normalized(func: cst.BaseExpression, operand: Broadcast, eps: cst.BaseExpression) -> cst.Call:
        return make_call(func, [operand.operand], [("dim", cst.UnaryOperation(cst.Minus(), cst.Integer("1"))), ("eps", eps)])
