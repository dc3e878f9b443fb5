"""Tensor-expression spellings shared by TF005-TF007: sums, squares, roots, products, divisions.

Each parser accepts the method and the function form (``x.sum(-1)``,
``torch.sum(x, dim=-1)``), keyword or positional arguments, and returns None for
any argument whose meaning it does not model (``dtype=``, ``out=``, star-args).
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from torchfix.names import NameTable
from torchfix.patterns import arg, has_star_args, is_false, is_true, number_value
from torchfix.walk import walk


@dataclass(frozen=True)
class Receiver:
    """The tensor a method or torch function is applied to, and where its other arguments start."""

    call: cst.Call
    operand: cst.BaseExpression
    #: positional index of the first argument after the tensor
    shift: int

    def arg(self, keyword: str, position: int, *aliases: str) -> cst.Arg | None:
        for name in (keyword, *aliases):
            found = arg(self.call, name)
            if found is not None:
                return found
        return arg(self.call, keyword, position + self.shift)


def parse_receiver(
    node: cst.CSTNode,
    names: NameTable,
    methods: tuple[str, ...],
    functions: tuple[str, ...],
    keywords: frozenset[str],
    positional: int,
) -> Receiver | None:
    """``x.method(...)`` or ``torch.function(x, ...)`` with only ``keywords`` and at most ``positional`` more arguments.

    The method form is a call of an attribute that is not an imported name
    (``x.sum`` but not ``np.sum``).
    """
    if not isinstance(node, cst.Call) or has_star_args(node):
        return None
    func = node.func
    qualified = names.qualified(func)
    if isinstance(func, cst.Attribute) and func.attr.value in methods and qualified is None:
        operand, shift = func.value, 0
    elif qualified in functions:
        first = arg(node, "input", 0)
        if first is None:
            return None
        operand, shift = first.value, 1 if first.keyword is None else 0
    else:
        return None
    used = {a.keyword.value for a in node.args if a.keyword is not None} - {"input"}
    if used - keywords or sum(1 for a in node.args if a.keyword is None) > positional + shift:
        return None
    return Receiver(node, operand, shift)


def keepdim_flag(node: cst.Arg | None) -> bool | None:
    """True/False for a literal keepdim (absent is False), None for anything else."""
    if node is None or is_false(node.value):
        return False
    return True if is_true(node.value) else None


def dim_value(node: cst.Arg | None) -> cst.BaseExpression | None:
    """The dim argument's expression; None when absent or ``None`` (every element)."""
    if node is None or (isinstance(node.value, cst.Name) and node.value.value == "None"):
        return None
    return node.value


@dataclass(frozen=True)
class Reduction:
    """``operand.sum(dim, keepdim)``; ``dim`` None sums every element."""

    node: cst.BaseExpression
    operand: cst.BaseExpression
    dim: cst.BaseExpression | None
    keepdim: bool


_SUM_KEYWORDS = frozenset({"dim", "axis", "keepdim", "keepdims"})


def parse_sum(node: cst.CSTNode, names: NameTable) -> Reduction | None:
    """``x.sum(d, keepdim)``, ``torch.sum(x, dim=d)`` (numpy-style ``axis=``/``keepdims=`` too)."""
    found = parse_receiver(node, names, ("sum",), ("torch.sum",), _SUM_KEYWORDS, 2)
    if found is None:
        return None
    keepdim = keepdim_flag(found.arg("keepdim", 1, "keepdims"))
    if keepdim is None:
        return None
    return Reduction(node, found.operand, dim_value(found.arg("dim", 0, "axis")), keepdim)


def _is_exponent(node: cst.BaseExpression, exponent: float) -> bool:
    """A literal ``exponent``; a square root must be spelled with ``.5`` (the prefilters look for it)."""
    if exponent == 0.5 and not (isinstance(node, cst.Float) and ".5" in node.value):
        return False
    return number_value(node) == exponent


def _power_of(node: cst.CSTNode, names: NameTable, exponent: float, method: str, function: str):
    """The base of ``b ** e``, ``b.method()``/``b.pow(e)``, ``torch.function(b)``/``torch.pow(b, e)``."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Power):
        return node.left if _is_exponent(node.right, exponent) else None
    named = parse_receiver(node, names, (method,), (function,), frozenset(), 0)
    if named is not None:
        return named.operand
    power = parse_receiver(node, names, ("pow",), ("torch.pow",), frozenset({"exponent"}), 1)
    if power is not None:
        value = power.arg("exponent", 0)
        return power.operand if value is not None and _is_exponent(value.value, exponent) else None
    return None


def parse_square(node: cst.CSTNode, names: NameTable) -> cst.BaseExpression | None:
    """The base of ``b ** 2``, ``b.pow(2)``, ``b.square()``, ``torch.square(b)``, ``torch.pow(b, 2)``."""
    return _power_of(node, names, 2.0, "square", "torch.square")


def parse_sqrt(node: cst.CSTNode, names: NameTable) -> cst.BaseExpression | None:
    """The radicand of ``r.sqrt()``, ``torch.sqrt(r)``, ``r ** 0.5``, ``r.pow(0.5)``, ``torch.pow(r, 0.5)``."""
    return _power_of(node, names, 0.5, "sqrt", "torch.sqrt")


def parse_sum_of_squares(node: cst.CSTNode, names: NameTable) -> Reduction | None:
    """``(d ** 2).sum(dim)`` in any spelling: the reduction, with ``operand`` the squared ``d``."""
    total = parse_sum(node, names)
    if total is None:
        return None
    base = parse_square(total.operand, names)
    return None if base is None else Reduction(node, base, total.dim, total.keepdim)


def parse_product(node: cst.CSTNode, names: NameTable) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
    """The factors of ``a * b``, ``a.mul(b)``, ``torch.mul(a, b)``."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply):
        return node.left, node.right
    found = parse_receiver(node, names, ("mul",), ("torch.mul",), frozenset({"other"}), 1)
    other = found.arg("other", 0) if found is not None else None
    return None if other is None else (found.operand, other.value)


def parse_division(node: cst.CSTNode, names: NameTable) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
    """Numerator and denominator of ``a / b``, ``a.div(b)``, ``torch.div(a, b)``, ``true_divide`` (no rounding)."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide):
        return node.left, node.right
    found = parse_receiver(
        node, names, ("div", "true_divide"), ("torch.div", "torch.true_divide"), frozenset({"other"}), 1
    )
    other = found.arg("other", 0) if found is not None else None
    return None if other is None else (found.operand, other.value)


#: tensor methods numpy arrays do not have: a call of one shows the operand is a torch tensor
TORCH_ONLY_METHODS = frozenset(
    {"norm", "unsqueeze", "pow", "square", "sqrt", "expand", "expand_as", "clamp", "clamp_min", "div", "true_divide",
     "mul", "detach"}
)


class _TorchEvidence(cst.CSTVisitor):
    def __init__(self, names: NameTable) -> None:
        super().__init__()
        self.names = names
        self.found = False

    def visit_Call(self, node: cst.Call) -> bool:
        qualified = self.names.qualified(node.func)
        if qualified is not None:
            self.found = self.found or qualified == "torch" or qualified.startswith("torch.")
        elif isinstance(node.func, cst.Attribute) and node.func.attr.value in TORCH_ONLY_METHODS:
            self.found = True
        return not self.found


def is_visibly_torch(node: cst.CSTNode, names: NameTable) -> bool:
    """Whether ``node`` calls a torch function or a tensor-only method.

    ``((x ** 2).sum(-1, keepdims=True)) ** 0.5`` is valid numpy too; a rewrite to
    a torch function is only safe where the code shows it works on tensors.
    """
    visitor = _TorchEvidence(names)
    walk(node, [visitor])
    return visitor.found
