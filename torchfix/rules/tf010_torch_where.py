"""TF010 torch-where: ``m * a + (1 - m) * b`` with a 0/1 mask -> ``torch.where(c, a, b)``."""

from __future__ import annotations

from typing import Sequence

import libcst as cst

from torchfix.patterns import arg, code, make_call, names_read, number_value, same_code, substitute
from torchfix.rule import Applicability, Fix, Rule
from torchfix.rules._masks import (
    DTYPE_CASTS,
    TORCH_DTYPES,
    Provenance,
    ScopeTracker,
    atom,
    is_one_minus,
    method_name,
    pure,
    receiver,
    uses_numpy,
    with_method,
)
from torchfix.rules._rewrite import make_site
from torchfix.rules._torch import TORCH_CONVENTIONS
from torchfix.rules.examples import tf010

SAFE, UNSAFE = Applicability.SAFE, Applicability.UNSAFE
_NOT = ("torch.logical_not",)


class TorchWhere(ScopeTracker, Rule):
    CODE = "TF010"
    SLUG = "torch-where"
    IDIOM = "torch.where"
    SUMMARY = "Use torch.where instead of blending two tensors with a 0/1 mask."
    FIX_SAFETY = "safe/unsafe"
    DOCS = """\
## Why
`m * a + (1 - m) * b` with a mask of zeros and ones selects `a` where `m` is 1
and `b` elsewhere: that is `torch.where(c, a, b)`. The `where` form says so, does
one pass instead of four, and does not turn an inf in the branch it does not
select into NaN (`0 * inf`).

## Fix safety
Audit against the contract (same values, dtype, device and `state_dict()` for every input,
under `.to(dtype)`, `.to(device)`, `.train()`, `.eval()`): the rewrite touches no module
state, and `torch.where` selects the values the blend computes; but a blend with a mask
cast to a dtype (`.float()`, a 0/1 local of another dtype) promotes its result to the
mask's dtype, which `torch.where` does not (half-precision operands give a float32 blend
and a half-precision `where`). So the fix is safe with a boolean mask (`c * a + (~c) * b`)
or a mask cast to an operand's dtype (`.to(a.dtype)`, `.type_as(a)`), and unsafe with any
other cast, its message saying so.

Either way the mask must be provably 0/1: a comparison, `~`, `&`, `|`, `^` of booleans,
`logical_*`, `isnan`/`isinf`/`isfinite`, `.bool()`, any `.float()`/`.int()`/
`.to(...)`/`.type_as(...)` or reshaping of one, or a local variable assigned only
from such in its function. The complement may be `1 - m`, `~c`, `c.logical_not()`
or `torch.logical_not(c)`; products may be `*`, `torch.mul` or `.mul`, in either
order, and the two terms in either order. The condition written is the boolean
itself (`.float()` and other dtype casts are dropped), or `m.bool()` for a 0/1
local of another dtype. Scalars stay scalars: `torch.where(c, x, 0.0)`.

A mask that is a parameter, an attribute, `F.interpolate(...)`, an EMA or mixup
weight is a soft blend, not a selection: nothing is reported.

The mask is written twice, so it must be free of side effects; otherwise the
finding has no fix. When the terms are swapped (`(1 - m) * b + m * a`) and `a`
or `b` has side effects, the fix is unsafe: `torch.where` evaluates `a` first.
In a file that imports numpy, a mask that is not visibly a torch tensor makes
the fix unsafe (numpy masks blend the same way, and `torch.where` rejects them).

`y = x.clone(); y[c] = v` (on one line or two) becomes `y = torch.where(c, v, x)`
when `c` is provably boolean: unsafe, because `c` must have `x`'s shape and `v`
must broadcast to it in `x`'s dtype (the assignment casts `v`, `where`
promotes), and boolean-index assignment synchronises with the GPU while
`where` does not.

## What could go wrong
Where `a` or `b` holds inf or NaN in the unselected positions, the original gives
NaN and `torch.where` the selected value: the allowed difference of "safe".
Two number literals (`m * 1 + (1 - m) * 0`) are left without a fix unless the
mask is boolean, because `torch.where` would give them an integer or default
dtype instead of the mask's. With a float mask (`.float()`) and half-precision or
integer operands, the original promotes the result to the mask's dtype and
`torch.where` keeps the operands' dtype: same values, different dtype.

## Verify
`torchfix verify` evaluates both forms on random tensors and masks, with inf in
the unselected branch, and compares them where the original is finite.
"""
    ROWS = {
        "provable": "m * a + (1 - m) * b with m provably 0/1 (comparison, ~, &, logical_*, isnan, casts, locals)",
        "complement": "c * a + (~c) * b, c.logical_not(), torch.mul, swapped operands, a * c + b * (1 - c)",
        "clone-assign": "y = x.clone(); y[c] = v -> y = torch.where(c, v, x) (unsafe: v broadcasts to x)",
        "implicit-one": "a * m + (1 - m) with m provably 0/1 -> torch.where(m, a, 1)",
    }
    EXAMPLES = tf010.EXAMPLES
    VALID = tf010.VALID
    IMPORT_CONVENTIONS = TORCH_CONVENTIONS

    def _proof(self) -> Provenance:
        return Provenance(self.names, self.scope())

    # -- m * a + (1 - m) * b -------------------------------------------------

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if not isinstance(node.operator, cst.Add):
            return
        proof = self._proof()
        terms = (node.left, node.right)
        for first in (0, 1):
            for mask, a in self._factors(terms[first]):
                for complement, b in self._factors(terms[1 - first]):
                    if self._complements(complement, mask, proof) and proof.is_zero_one(mask):
                        self._blend(node, mask, a, b, swapped=first == 1, proof=proof)
                        return
        for first in (0, 1):
            # the implicit one: `a * m + (1 - m)` is `torch.where(m, a, 1)`
            for mask, a in self._factors(terms[first]):
                other = terms[1 - first]
                if is_one_minus(other) and self._complements(other, mask, proof) and proof.is_zero_one(mask):
                    self._blend(node, mask, a, cst.Integer("1"), swapped=first == 1, proof=proof)
                    return

    def _factors(self, node: cst.BaseExpression) -> list[tuple[cst.BaseExpression, cst.BaseExpression]]:
        """The two factors of a product, in both orders (``*``, ``torch.mul``, ``.mul``)."""
        pair = None
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply):
            pair = (node.left, node.right)
        elif isinstance(node, cst.Call) and not any(a.star for a in node.args):
            keywords = {a.keyword.value for a in node.args if a.keyword is not None}
            if self.names.qualified(node.func) in ("torch.mul", "torch.multiply") and len(node.args) == 2:
                left, right = arg(node, "input", 0), arg(node, "other", 1)
                if left is not None and right is not None and keywords <= {"input", "other"}:
                    pair = (left.value, right.value)
            elif method_name(node, self.names) in ("mul", "multiply") and len(node.args) == 1:
                other = arg(node, "other", 0)
                if other is not None and keywords <= {"other"}:
                    pair = (receiver(node), other.value)
        return [] if pair is None else [pair, pair[::-1]]

    def _complements(self, node: cst.BaseExpression, mask: cst.BaseExpression, proof: Provenance) -> bool:
        """``node`` is ``1 - mask``, or the negation of mask's boolean (``~c``, ``logical_not``)."""
        core = _strip_casts(mask, self.names, every=True)
        if is_one_minus(node):
            return same_code(_strip_casts(node.right, self.names, every=True), core)  # type: ignore[attr-defined]
        negated = self._negated(_strip_casts(node, self.names, every=True))
        return negated is not None and same_code(negated, core) and proof.is_bool(core)

    def _negated(self, node: cst.BaseExpression) -> cst.BaseExpression | None:
        if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.BitInvert):
            return node.expression
        if isinstance(node, cst.Call) and len(node.args) == 1 and self.names.qualified(node.func) in _NOT:
            return node.args[0].value
        if method_name(node, self.names) == "logical_not" and not node.args:  # type: ignore[union-attr]
            return receiver(node)  # type: ignore[arg-type]
        return None

    def _blend(self, node, mask, a, b, swapped: bool, proof: Provenance) -> None:
        if not pure(mask, self.names):
            self.report(node, _BLEND_NO_FIX + "the mask has side effects and is written twice.")
            return
        if _is_number(a) and _is_number(b) and not proof.is_bool(mask):
            self.report(node, _BLEND_NO_FIX + "with two literals the result dtype would change.")
            return
        ref = self.names.reference("torch.where")
        if ref is None:
            return
        assumptions = []
        if uses_numpy(self.names) and not proof.is_torch(mask):
            assumptions.append("the mask is a torch tensor, not a numpy array")
        if swapped and not (pure(a, self.names) and pure(b, self.names)):
            assumptions.append(f"evaluating `{code(a)}` before `{code(b)}` changes nothing")
        if not proof.is_bool(mask) and not self._cast_to_operand(mask, (a, b)):
            assumptions.append(
                f"`{code(a)}` and `{code(b)}` are of `{code(mask)}`'s dtype or wider (the blend promotes "
                "to the mask's dtype, torch.where keeps the operands': a half-precision model would change dtype)"
            )
        condition = self._condition(mask, proof)
        replacement = make_call(ref.expr, [condition, a, b]).with_changes(lpar=node.lpar, rpar=node.rpar)
        local = [n for n in _unique(names_read(node)) if n not in self.names.bindings]
        operands = [(cst.Name(n), n, self._spec(n, mask, proof)) for n in local]
        checkable = not assumptions and all(spec is not None for _, _, spec in operands)
        fix = Fix(
            UNSAFE if assumptions else SAFE,
            {node: replacement},
            imports=ref.imports,
            assumption=f"assumes {' and '.join(assumptions)}." if assumptions else "",
            site=make_site(node, replacement, operands, self.names) if checkable else None,
        )
        self.report(node, "Use torch.where instead of blending with a 0/1 mask.", fix)

    def _cast_to_operand(self, mask: cst.BaseExpression, operands) -> bool:
        """``c.to(a.dtype)``, ``c.to(a)``, ``c.type_as(a)`` with ``a`` an operand: the blend then
        promotes to the operands' dtype, as torch.where does."""
        method = method_name(mask, self.names)
        if method not in ("to", "type_as") or len(mask.args) != 1 or mask.args[0].keyword or mask.args[0].star:
            return False
        target = mask.args[0].value
        if method == "to" and isinstance(target, cst.Attribute) and target.attr.value == "dtype":
            target = target.value
        return any(same_code(target, operand) for operand in operands)

    def _condition(self, mask: cst.BaseExpression, proof: Provenance) -> cst.BaseExpression:
        """The boolean the mask was cast from, or ``mask.bool()``."""
        if proof.is_bool(mask):
            return mask
        core = _strip_casts(mask, self.names, every=False)
        return core if proof.is_bool(core) else with_method(core, "bool")

    def _spec(self, name: str, mask: cst.BaseExpression, proof: Provenance) -> str | None:
        """The site input for ``name``: a 0/1 local of a non-bool dtype has none."""
        if name in names_read(mask):
            if proof.is_bool(cst.Name(name)):
                return "bool(4, 8)"
            if proof.is_zero_one(cst.Name(name)):
                return None
        return "float(4, 8)"

    # -- y = x.clone(); y[c] = v ---------------------------------------------

    def visit_Module(self, node: cst.Module) -> None:
        self._lines(node.body)

    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        self._lines(node.body)

    def _lines(self, body: Sequence[cst.BaseStatement]) -> None:
        for first, second in zip(body, body[1:]):
            if not (isinstance(first, cst.SimpleStatementLine) and isinstance(second, cst.SimpleStatementLine)):
                continue
            if len(first.body) != 1 or len(second.body) != 1:
                continue
            assign = self._clone_assign(first.body[0], second.body[0])
            if assign is None:
                continue
            new_assign, fix_parts = assign
            if first.trailing_whitespace.comment is not None and second.trailing_whitespace.comment is not None:
                self.report(second, _CLONE_MESSAGE + "; no fix: both lines carry a comment.")
                continue
            trailing = first.trailing_whitespace if first.trailing_whitespace.comment else second.trailing_whitespace
            merged = first.with_changes(
                body=[new_assign.with_changes(semicolon=cst.MaybeSentinel.DEFAULT)],
                leading_lines=[*first.leading_lines, *second.leading_lines],
                trailing_whitespace=trailing,
            )
            self._report_clone(second, {first: merged, second: cst.RemovalSentinel.REMOVE}, *fix_parts)

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        self._smalls(node)

    def visit_SimpleStatementSuite(self, node: cst.SimpleStatementSuite) -> None:
        self._smalls(node)

    def _smalls(self, node) -> None:
        body = list(node.body)
        for i, (first, second) in enumerate(zip(body, body[1:])):
            assign = self._clone_assign(first, second)
            if assign is not None:
                new_assign, fix_parts = assign
                new_body = [*body[:i], new_assign.with_changes(semicolon=second.semicolon), *body[i + 2 :]]
                self._report_clone(second, {node: node.with_changes(body=new_body)}, *fix_parts)

    def _clone_assign(self, first: cst.BaseSmallStatement, second: cst.BaseSmallStatement):
        """``y = x.clone()`` then ``y[c] = v`` with a boolean ``c``: the new assignment and its parts."""
        if not (isinstance(first, cst.Assign) and isinstance(second, cst.Assign)):
            return None
        if len(first.targets) != 1 or len(second.targets) != 1:
            return None
        target, store = first.targets[0].target, second.targets[0].target
        if not (isinstance(target, cst.Name) and isinstance(store, cst.Subscript)):
            return None
        if not (isinstance(store.value, cst.Name) and store.value.value == target.value and len(store.slice) == 1):
            return None
        key = store.slice[0].slice
        source = self._cloned(first.value)
        if source is None or not isinstance(key, cst.Index) or not pure(source, self.names):
            return None
        if not self._proof().is_bool(key.value):
            return None
        ref = self.names.reference("torch.where")
        if ref is None:
            return None
        mask = substitute(key.value, {target.value: atom(source)})
        value = substitute(second.value, {target.value: atom(source)})
        call = make_call(ref.expr, [mask, value, source])
        return first.with_changes(value=call), (ref.imports, mask, value, source)

    def _cloned(self, node: cst.BaseExpression) -> cst.BaseExpression | None:
        if method_name(node, self.names) == "clone" and not node.args:  # type: ignore[union-attr]
            return receiver(node)  # type: ignore[arg-type]
        if isinstance(node, cst.Call) and self.names.qualified(node.func) == "torch.clone" and len(node.args) == 1:
            only = node.args[0]
            return only.value if only.keyword is None and not only.star else None
        return None

    def _report_clone(self, node, edits, imports, mask, value, source) -> None:
        assumption = (
            f"assumes `{code(mask)}` has the shape of `{code(source)}` and `{code(value)}` "
            f"broadcasts to it in its dtype."
        )
        fix = Fix(UNSAFE, edits, imports=imports, assumption=assumption)
        self.report(node, _CLONE_MESSAGE + ".", fix)


_BLEND_NO_FIX = "This 0/1-mask blend is torch.where; no fix: "
_CLONE_MESSAGE = "Use torch.where instead of cloning and assigning through a boolean mask"


def _strip_casts(node: cst.BaseExpression, names, every: bool) -> cst.BaseExpression:
    """``node`` without outer dtype casts (``every``: also ``.to(...)``/``.type_as(...)``)."""
    while isinstance(node, cst.Call):
        method = method_name(node, names)
        if method in DTYPE_CASTS and not node.args:
            pass
        elif method in ("to", "type", "type_as") and node.args and (every or _dtype_only(node, names)):
            pass
        else:
            break
        node = receiver(node)
    return node


def _dtype_only(call: cst.Call, names) -> bool:
    """``.to(torch.float32)``, ``.to(dtype=...)``, ``.type(torch.float)``: only a dtype."""
    if len(call.args) != 1:
        return False
    only = call.args[0]
    if only.keyword is not None:
        return only.keyword.value == "dtype"
    value = only.value
    is_attribute = isinstance(value, cst.Attribute) and value.attr.value == "dtype"
    return not only.star and (is_attribute or names.qualified(value) in TORCH_DTYPES)


def _is_number(node: cst.BaseExpression) -> bool:
    return number_value(node) is not None


def _unique(items):
    return list(dict.fromkeys(items))
