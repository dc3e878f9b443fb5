"""TF003: whether a constant tensor is visibly integer or boolean (a module cast leaves those alone).

``model.half()`` and ``model.to(torch.bfloat16)`` cast floating-point buffers, never
integer or boolean ones. A tensor counts as integral only where the code shows it:
an integer ``dtype=``, an integer constructor (``randint``, ``LongTensor``), a cast
(``.long()``, ``.bool()``, ``.to(torch.int64)``), a comparison, integer literals
(``torch.tensor([0, 1])``, ``torch.arange(10)``), and shape operations of those.
Anything else is taken as floating point.
"""

from __future__ import annotations

import libcst as cst

from torchfix.names import NameTable
from torchfix.patterns import arg

INTEGRAL_DTYPES = frozenset(
    f"torch.{name}"
    for name in (
        "long", "int", "int64", "int32", "int16", "int8", "uint8", "uint16", "uint32", "uint64",
        "short", "bool",
    )
)
#: torch functions whose result is integral whatever their arguments
_INTEGRAL_FUNCTIONS = frozenset(
    {"LongTensor", "IntTensor", "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor", "randint", "randperm",
     "tril_indices", "triu_indices", "argsort", "nonzero", "bucketize", "searchsorted"}
)
#: casts to an integral dtype
_INTEGRAL_CASTS = frozenset({"long", "int", "bool", "byte", "short", "char"})
#: methods and torch functions whose result keeps the dtype of their (first) tensor
_SAME_DTYPE = frozenset(
    {"view", "reshape", "unsqueeze", "squeeze", "transpose", "permute", "t", "contiguous", "expand", "repeat",
     "flip", "clone", "detach", "tril", "triu", "flatten", "unflatten", "narrow", "roll", "repeat_interleave",
     "cumsum", "diag", "cat", "stack", "masked_fill", "sum", "abs", "neg", "maximum", "minimum"}
)
#: logical operators: integral when both sides are
_INTEGER_OPERATORS = (cst.Add, cst.Subtract, cst.Multiply, cst.FloorDivide, cst.Modulo, cst.BitAnd, cst.BitOr,
                      cst.BitXor, cst.LeftShift, cst.RightShift)


def is_integral(node: cst.BaseExpression, names: NameTable) -> bool:
    """Whether the tensor ``node`` builds is visibly of an integer or boolean dtype."""
    if isinstance(node, cst.Comparison):
        return True
    if isinstance(node, cst.UnaryOperation):
        return isinstance(node.operator, (cst.BitInvert, cst.Minus)) and is_integral(node.expression, names)
    if isinstance(node, cst.BinaryOperation):
        return (
            isinstance(node.operator, _INTEGER_OPERATORS)
            and _integral_operand(node.left, names)
            and _integral_operand(node.right, names)
        )
    if isinstance(node, cst.Subscript):
        return is_integral(node.value, names)
    if isinstance(node, cst.IfExp):
        branches = [b for b in (node.body, node.orelse) if not (isinstance(b, cst.Name) and b.value == "None")]
        return all(is_integral(b, names) for b in branches)
    if isinstance(node, cst.Call):
        return _integral_call(node, names)
    return False


def _integral_operand(node: cst.BaseExpression, names: NameTable) -> bool:
    return isinstance(node, cst.Integer) or is_integral(node, names)


def _integral_call(node: cst.Call, names: NameTable) -> bool:
    dtype = arg(node, "dtype")
    if dtype is not None:
        return names.qualified(dtype.value) in INTEGRAL_DTYPES
    qualified = names.qualified(node.func) or ""
    if qualified.startswith("torch."):
        name = qualified[len("torch."):]
        if name in _INTEGRAL_FUNCTIONS:
            return True
        positional = [a.value for a in node.args if a.keyword is None and not a.star]
        if name in ("tensor", "as_tensor"):
            return bool(positional) and _integral_literal(positional[0])
        if name == "arange":
            return bool(positional) and all(_integral_literal(p) for p in positional)
        if name == "full":
            return len(positional) >= 2 and _integral_literal(positional[1])
        if name in _SAME_DTYPE and positional:
            first = positional[0]
            items = [e.value for e in first.elements] if isinstance(first, (cst.List, cst.Tuple)) else [first]
            return all(is_integral(item, names) for item in items)
        return False
    func = node.func
    if not isinstance(func, cst.Attribute) or qualified:
        return False
    method = func.attr.value
    if method in _INTEGRAL_CASTS:
        return not node.args
    if method in ("to", "type"):
        target = arg(node, "dtype", 0)
        return target is not None and names.qualified(target.value) in INTEGRAL_DTYPES
    return method in _SAME_DTYPE and is_integral(func.value, names)


def _integral_literal(node: cst.BaseExpression) -> bool:
    """``3``, ``-1``, ``True``, ``[0, 1, 2]``, ``((1, 0), (0, 1))``: data torch reads as integers or bools."""
    if isinstance(node, cst.Integer):
        return True
    if isinstance(node, cst.Name):
        return node.value in ("True", "False")
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        return isinstance(node.expression, cst.Integer)
    if isinstance(node, (cst.List, cst.Tuple)):
        return bool(node.elements) and all(_integral_literal(e.value) for e in node.elements)
    return False
