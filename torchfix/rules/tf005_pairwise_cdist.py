"""TF005 pairwise-cdist: distances through a broadcast (N, M, D) difference -> ``torch.cdist``."""

from __future__ import annotations

import re

import libcst as cst

from torchfix.patterns import arg, is_pure, make_call, number_value, same_code
from torchfix.rule import Applicability, Fix, Rule
from torchfix.rules._axes import Pairwise, pair, parse_broadcast
from torchfix.rules._evidence import Evidence
from torchfix.rules._exprs import is_visibly_torch, parse_square, parse_sum_of_squares
from torchfix.rules._norms import parse_vector_norm
from torchfix.rules._rewrite import Parents, assumption, fit, make_site, short
from torchfix.rules._torch import TORCH_CONVENTIONS
from torchfix.rules.examples import tf005
from torchfix.walk import holds

UNSAFE = Applicability.UNSAFE
_ROUNDING = (
    "squaring torch.cdist's root rounds the last bit of an exact squared sum "
    "(2.0 becomes 2.0000000000000004), which breaks exact comparisons"
)
_SHAPES = {2: ("float(5, 3)", "float(6, 3)"), 3: ("float(2, 5, 3)", "float(2, 6, 3)")}


def _alpha(call: cst.Call) -> float | None:
    """The ``alpha`` of ``addmm``/``addmm_`` (keyword, or the legacy ``addmm_(beta, alpha, a, b)``)."""
    keyword = arg(call, "alpha")
    if keyword is not None:
        return number_value(keyword.value)
    positional = [a for a in call.args if a.keyword is None]
    if len(positional) == 4 and isinstance(call.func, cst.Attribute):
        return number_value(positional[1].value)
    return None


#: an einsum of every row of one operand with every row of the other: "nd,md->nm", "bnd,bmd->bnm"
_PAIRWISE_EINSUM = re.compile(r"(\w?)(\w)(\w),\1(\w)\3->\1\2\4")


def _has_square(node: cst.CSTNode, names) -> bool:
    """Whether ``node`` holds a square (``a ** 2``, ``a.pow(2)``, ``torch.square(a)``)."""
    return holds(node, lambda inner: parse_square(inner, names) is not None)


class PairwiseCdist(Rule):
    CODE = "TF005"
    SLUG = "pairwise-cdist"
    IDIOM = "torch.cdist"
    SUMMARY = "Use torch.cdist instead of a broadcast (N, M, D) difference for pairwise distances."
    FIX_SAFETY = "unsafe"
    # Squared distances sum (also under sqrt); p-norms call a norm; the expansion calls addmm.
    DOCS = """\
## Why
`((a[:, None] - b[None]) ** 2).sum(-1).sqrt()` builds an (N, M, D) tensor to
return an (N, M) one; `torch.cdist(a, b)` computes the same distances in O(N*M)
memory.

## Fix safety
Audit against the contract (same values, dtype, device and `state_dict()` for every input,
under `.to(dtype)`, `.to(device)`, `.train()`, `.eval()`): `torch.cdist` keeps the dtype
and device and touches no module state, but it is equal only for the rank the broadcast
implies, and for large inputs it computes through a matrix product that rounds
differently, so no fix can be safe.

Every fix is unsafe: the rewrite is only equal for the rank the broadcast
implies, which is not visible statically.
- `sqrt(sum((a.unsqueeze(1) - b.unsqueeze(0)) ** 2, -1))` in any spelling
  (`[:, None]`/`[None]`/plain `b`, `.pow(2)`/`.square()`/`torch.square`,
  `.sqrt()`/`torch.sqrt`/`** 0.5`, `.sum(-1)`/`torch.sum(..., dim=2)`) and the
  norm of the difference (`.norm(dim=-1)`, `torch.norm`, `torch.linalg.norm`,
  `torch.linalg.vector_norm`, `p=` kept) become `torch.cdist(a, b[, p=p])`,
  assuming a and b are 2-D: (N, D) and (M, D).
- The batched broadcast `a.unsqueeze(2) - b.unsqueeze(1)` reduced over the last
  axis becomes `torch.cdist(a, b)`, assuming (B, N, D) and (B, M, D).
- The squared forms without a root are reported without a fix: `torch.cdist(a, b) ** 2`
  squares a rounded root, so an exact squared sum changes in the last bit
  (2.0 becomes 2.0000000000000004), which broke a repository's exact-equality test.

Before assuming the rank, the rule reads the operands' function: where an
assignment or a use shows another rank (`a = torch.randn(n)`, `a.size(2)`,
`a[:, :, 0]` for the 2-D form) the finding has no fix and names it.

The unsqueezed axes, the reduced axis and the pinned rank must agree: one operand
gets a new axis just before the reduced last axis (it gives the rows), the other
one axis earlier (or, 2-D, none), and `keepdim` is False. The subtraction may come
in either order (distance is symmetric); when the row operand comes second and an
operand may have side effects, the finding has no fix, since `torch.cdist(a, b)`
evaluates `a` first. `.expand(...)` after an unsqueeze is accepted, with its
assumption added to the message. Code that is valid numpy as well (no torch call
and no tensor-only method such as `.unsqueeze`, `.pow`, `.sqrt`, `.norm`) adds
the assumption that the operands are torch tensors.

## What could go wrong
`torch.cdist` requires both operands in the same floating-point dtype (float32 or
float64 on CPU) and `p >= 0`: a `p` that is not a non-negative literal gets no
fix; mixed or half-precision operands make the rewritten code raise. For `p=2` with more than 25 rows on either side
`torch.cdist` uses the matrix-product expansion, which rounds differently: the
distance between nearly equal points (the diagonal of `cdist(x, x)`) can be about
`1e-3` instead of `0` in float32; pass `compute_mode="donot_use_mm_for_euclid_dist"`
where that matters. The expansion `a2 + b2 - 2ab` through `addmm_` is reported
without a fix (it spans statements). Relative-position code
(`coords[:, :, None] - coords[:, None, :]` without a reduction over the last axis)
is not a distance and is left alone.

## Verify
`torchfix verify` evaluates both expressions on random, zero, negative and large
inputs of the assumed shapes and compares them.
"""
    ROWS = {
        "sqrt": "((a[:, None] - b[None]) ** 2).sum(-1).sqrt() and torch.sqrt/.pow(2) forms -> torch.cdist(a, b)",
        "norm": "(a.unsqueeze(1) - b.unsqueeze(0)).norm(dim=-1), torch.norm, torch.linalg.norm, p= -> torch.cdist(a, b, p=p)",
        "batched": "a.unsqueeze(2) - b.unsqueeze(1) over (B, N, D), (B, M, D) -> torch.cdist(a, b) (assumes 3-D)",
        "squared": "the squared forms without sqrt: report only (torch.cdist(a, b) ** 2 rounds the last bit)",
    }
    EXAMPLES = tf005.EXAMPLES
    VALID = tf005.VALID
    IMPORT_CONVENTIONS = TORCH_CONVENTIONS

    def __init__(self, context) -> None:
        super().__init__(context)
        self.parents = Parents(context.module)
        self.evidence: Evidence | None = None
        #: sums of squares already reported under their root
        self.claimed: set[cst.CSTNode] = set()

    def visit_Call(self, node: cst.Call) -> None:
        if self.names.qualified(node.func) == "torch.addmm" or (
            isinstance(node.func, cst.Attribute) and node.func.attr.value in ("addmm", "addmm_")
        ):
            if _alpha(node) == -2.0:
                why = "the expansion spans statements and rounds differently"
                self.report(node, f"a2 + b2 - 2ab is a pairwise squared distance, torch.cdist(a, b) ** 2; no fix: {why}.")
            return
        self._check(node)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, cst.Power):
            self._check(node)
        elif isinstance(node.operator, cst.Subtract) and self._cross_term(node.right) and _has_square(node.left, self.names):
            why = "the expansion rounds differently (it can even go negative) and squaring torch.cdist rounds the last bit"
            self.report(node, f"a2 + b2 - 2ab is a pairwise squared distance, torch.cdist(a, b) ** 2; no fix: {why}.")

    def _cross_term(self, node: cst.BaseExpression) -> bool:
        """``2 * torch.einsum("nd,md->nm", a, b)`` (also batched, either factor order, ``2.0``)."""
        if not (isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply)):
            return False
        for two, product in ((node.left, node.right), (node.right, node.left)):
            if number_value(two) != 2.0 or not isinstance(product, cst.Call):
                continue
            spec = arg(product, "equation", 0)
            if self.names.qualified(product.func) == "torch.einsum" and spec is not None:
                text = spec.value.evaluated_value if isinstance(spec.value, cst.SimpleString) else None
                return isinstance(text, str) and _PAIRWISE_EINSUM.fullmatch(text.replace(" ", "")) is not None
        return False

    def _check(self, node: cst.BaseExpression) -> None:
        if node in self.claimed:
            return
        norm = parse_vector_norm(node, self.names)
        if norm is not None:
            difference, dim, keepdim, p, squared = norm.operand, norm.dim, norm.keepdim, norm.p, False
            if norm.radicand is not None:
                self.claimed.add(norm.radicand)
        else:
            total = parse_sum_of_squares(node, self.names)
            if total is None:
                return
            difference, dim, keepdim, p, squared = total.operand, total.dim, total.keepdim, None, True
        if keepdim or not (isinstance(difference, cst.BinaryOperation) and isinstance(difference.operator, cst.Subtract)):
            return
        first, second = parse_broadcast(difference.left, self.names), parse_broadcast(difference.right, self.names)
        pairing = pair(first, second, dim) if first is not None and second is not None else None
        if pairing is not None:
            self._fix(node, pairing, p, squared)

    def _fix(self, node: cst.BaseExpression, pairing: Pairwise, p, squared: bool) -> None:
        row, col = pairing.row.operand, pairing.col.operand
        message = "Pairwise distance through a broadcast difference: use torch.cdist"
        if p is not None and not (number_value(p) is not None and number_value(p) >= 0):
            self.report(node, f"{message}; no fix: torch.cdist needs a literal p >= 0.")
            return
        if pairing.swapped and not (is_pure(row) and is_pure(col)):
            self.report(node, f"{message}; no fix: torch.cdist({short(row)}, ...) would change the order of evaluation.")
            return
        if squared:
            self.report(node, f"{message}(...) ** 2; no fix: {_ROUNDING}.")
            return
        if self.evidence is None:
            self.evidence = Evidence(self.names, self.parents)
        for operand in (row,) if same_code(row, col) else (row, col):
            conflict = self.evidence.rank_fact(operand, node, assumed=pairing.rank).conflict
            if conflict:
                self.report(node, f"{message}; no fix: torch.cdist needs {pairing.rank}-D operands here, and {conflict}.")
                return
        ref = self.names.reference("torch.cdist")
        if ref is None:
            return
        keywords = [] if p is None or number_value(p) == 2.0 else [("p", p)]
        replacement: cst.BaseExpression = make_call(ref.expr, [row, col], keywords)
        if squared:
            replacement = cst.BinaryOperation(replacement, cst.Power(), cst.Integer("2"))
        if same_code(row, col):
            clauses = [f"{short(row)} is {('2-D: (N, D)', '3-D: (B, N, D)')[pairing.rank - 2]}"]
        else:
            shape = ("2-D: (N, D) and (M, D)", "3-D: (B, N, D) and (B, M, D)")[pairing.rank - 2]
            clauses = [f"{short(row)} and {short(col)} are {shape}"]
        if not is_visibly_torch(node, self.names):
            clauses.append("they are torch tensors, not numpy arrays")
        site = None
        if pairing.row.expanded or pairing.col.expanded:
            clauses.append("the .expand only repeats them to the pairwise shape")
        else:
            specs = _SHAPES[pairing.rank]
            site = make_site(node, replacement, [(row, "a", specs[0]), (col, "b", specs[1])], self.names, ref.imports)
        fix = Fix(UNSAFE, {node: fit(replacement, node, self.parents)}, ref.imports, assumption(clauses), site=site)
        self.report(node, f"{message}({short(row)}, {short(col)}){' ** 2' if squared else ''}.", fix)
