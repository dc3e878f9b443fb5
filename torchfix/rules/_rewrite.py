"""Putting a replacement expression in place: parentheses for its context, and the verifier's Site."""

from __future__ import annotations

from typing import Mapping, Sequence

import libcst as cst

from torchfix.layout import Parents
from torchfix.names import ImportRequest, NameTable
from torchfix.patterns import code, int_value, names_read, replace_same_code, same_code
from torchfix.rule import Site

_ATOM = 100
_POWER = 14
_UNARY = 13
_PRECEDENCE = {
    cst.Power: _POWER,
    cst.Multiply: 12,
    cst.MatrixMultiply: 12,
    cst.Divide: 12,
    cst.FloorDivide: 12,
    cst.Modulo: 12,
    cst.Add: 11,
    cst.Subtract: 11,
    cst.LeftShift: 10,
    cst.RightShift: 10,
    cst.BitAnd: 9,
    cst.BitXor: 8,
    cst.BitOr: 7,
}


def _precedence(node: cst.CSTNode) -> int:
    if isinstance(node, cst.BinaryOperation):
        return _PRECEDENCE[type(node.operator)]
    if isinstance(node, cst.UnaryOperation):
        return 5 if isinstance(node.operator, cst.Not) else _UNARY
    return _ATOM


def _needs_parens(inner: int, original: cst.CSTNode, parent: cst.CSTNode | None) -> bool:
    if isinstance(parent, cst.Attribute) and parent.value is original:
        return True
    if isinstance(parent, cst.Subscript) and parent.value is original:
        return True
    if isinstance(parent, cst.Call) and parent.func is original:
        return True
    if isinstance(parent, cst.Await):
        return True
    if isinstance(parent, cst.UnaryOperation):
        return inner < _precedence(parent)
    if isinstance(parent, cst.BinaryOperation):
        outer = _precedence(parent)
        if parent.left is original:
            return inner < outer or inner == outer == _POWER
        return inner < outer or (inner == outer and outer != _POWER)
    return False


def fit(replacement: cst.BaseExpression, original: cst.BaseExpression, parents: Parents) -> cst.BaseExpression:
    """``replacement`` for ``original``'s place: its parentheses kept (dropped around a call or a name
    written on one line), new ones added where precedence needs them."""
    if original.lpar:
        if isinstance(replacement, (cst.Call, cst.Name, cst.Attribute, cst.Subscript)) and all(
            isinstance(p.whitespace_after, cst.SimpleWhitespace) for p in original.lpar
        ) and all(isinstance(p.whitespace_before, cst.SimpleWhitespace) for p in original.rpar):
            return replacement  # `(x / x.norm())` -> `F.normalize(x)`: the parentheses say nothing any more
        return replacement.with_changes(lpar=original.lpar, rpar=original.rpar)
    inner = _precedence(replacement)
    if inner != _ATOM and _needs_parens(inner, original, parents.of(original)):
        return replacement.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return replacement


def make_site(
    before: cst.CSTNode,
    after: cst.CSTNode,
    operands: Sequence[tuple[cst.BaseExpression, str, str]],
    names: NameTable,
    imports: Sequence[ImportRequest] = (),
) -> Site | None:
    """The site check's expressions with each ``(operand, placeholder, spec)`` replaced by its placeholder.

    Operands that are the same code share the first placeholder. None when an
    expression still needs a name the verifier cannot bind (``n`` in ``expand(n, m, d)``):
    the site check covers fixes whose other arguments are literals.
    """
    unique: list[tuple[cst.BaseExpression, str, str]] = []
    for operand, placeholder, spec in operands:
        if not any(same_code(operand, seen) for seen, _, _ in unique):
            unique.append((operand, placeholder, spec))
    # The verifier binds only torch's modules: any other free name (a user's variable, numpy)
    # makes the expression unevaluable there, and a placeholder must not capture an import.
    torch_aliases = {local for local, qualified in names.bindings.items() if qualified.split(".")[0] == "torch"}
    known = torch_aliases | {r.bound_name for r in imports} | {"True", "False", "None", "__operand__"}
    hidden = {operand: cst.Name("__operand__") for operand, _, _ in unique}
    if any(name not in known for n in (before, after) for name in names_read(replace_same_code(n, hidden))):
        return None
    mapping: Mapping[cst.CSTNode, cst.BaseExpression] = {operand: cst.Name(name) for operand, name, _ in unique}
    return Site(
        before=code(replace_same_code(before, mapping)).strip(),
        after=code(replace_same_code(after, mapping)).strip(),
        inputs={name: spec for _, name, spec in unique},
    )


def float_spec(dim: cst.BaseExpression | None, sizes: Sequence[int] = (4, 8, 6, 5)) -> str:
    """A float tensor spec whose rank fits a literal ``dim`` (at least 2-D; 1-D when ``dim`` is None)."""
    if dim is None:
        return f"float({sizes[1]})"
    value = int_value(dim)
    rank = 2 if value is None else max(2, value + 1 if value >= 0 else -value)
    return f"float({', '.join(str(n) for n in sizes[:rank])})"


def short(node: cst.CSTNode) -> str:
    """``node``'s code for a message, or "the tensor" when it is long."""
    text = code(node).strip()
    return text if len(text) <= 30 else "the tensor"


def assumption(clauses: Sequence[str]) -> str:
    """One sentence: "assumes A, B and C."."""
    text = ", ".join(clauses[:-1]) + (" and " if len(clauses) > 1 else "") + clauses[-1]
    return f"assumes {text}."
