"""What a rule can prove about a tensor expression without running it (TF002, TF009, TF010).

A mask is *boolean* when its dtype is ``torch.bool`` (a comparison, ``~``/``&``/``|``
of booleans, ``logical_*``, ``isnan``...), *zero-one* when its values are 0 and 1
(a boolean, or ``.float()``/``.to(...)``/``.type_as(...)`` of one), and *torch*
when it is visibly a torch tensor rather than a numpy array or a list (a result
of a torch function or of a method numpy arrays do not have). A local variable
has a property when every binding of it in its own scope (function, class body
or module) is a plain assignment of an expression with that property; a
parameter, a loop target, an augmented assignment other than ``&=``/``|=``/``^=``/``*=``,
a ``global``/``nonlocal`` name or a name bound in an enclosing function is never
proved. The scope is found by :class:`ScopeTracker`, a mixin for rules.
"""

from __future__ import annotations

from typing import Callable

import libcst as cst

from torchfix.names import NameTable
from torchfix.patterns import PURE_METHODS, int_value, number_value
from torchfix.walk import walk

#: torch functions whose result is a ``torch.bool`` tensor
BOOL_FUNCTIONS = frozenset(
    f"torch.{name}"
    for name in (
        "logical_and", "logical_or", "logical_xor", "logical_not", "isnan", "isinf", "isfinite",
        "isposinf", "isneginf", "isreal", "isclose", "signbit", "isin", "eq", "ne", "lt", "le",
        "gt", "ge", "greater", "greater_equal", "less", "less_equal", "not_equal",
    )
)
#: tensor methods whose result is a ``torch.bool`` tensor whatever the receiver
BOOL_METHODS = frozenset(name.rpartition(".")[2] for name in BOOL_FUNCTIONS if name != "torch.isin") | {"bool"}
#: methods that keep dtype and values, only moving, copying or rearranging elements
#: (``view`` is left out: ``view(dtype)`` reinterprets the bits)
SHAPE_METHODS = frozenset(
    {
        "unsqueeze", "squeeze", "reshape", "reshape_as", "flatten", "unflatten", "permute",
        "transpose", "t", "expand", "expand_as", "contiguous", "clone", "detach", "cpu", "cuda",
        "repeat", "flip", "roll", "narrow", "select", "view_as", "movedim",
    }
)
#: dtype conversions: keep 0 and 1 as 0 and 1
DTYPE_CASTS = frozenset({"float", "double", "half", "bfloat16", "int", "long", "short", "byte", "char", "bool"})
#: methods numpy arrays and lists do not have: their receiver is a torch tensor
TORCH_ONLY_METHODS = (
    BOOL_METHODS
    | DTYPE_CASTS
    | {"cuda", "cpu", "to", "type_as", "unsqueeze", "expand", "expand_as", "contiguous", "clone", "detach"}
    | {"permute", "view_as", "reshape_as", "unflatten", "masked_fill", "softmax", "log_softmax", "sigmoid"}
    | {"new_zeros", "new_ones", "new_full", "new_empty", "new_tensor", "narrow"}
)
#: methods whose result is a tensor when the receiver is one
TENSOR_METHODS = (
    TORCH_ONLY_METHODS
    | SHAPE_METHODS
    | {"reshape", "flatten", "squeeze", "transpose", "sum", "mean", "abs", "any", "all", "argmax", "argmin"}
    | {"clamp", "clip", "exp", "log", "sqrt", "pow", "relu", "cumsum", "round", "view"}
)
#: torch functions that return something other than a tensor
NOT_TENSOR_FUNCTIONS = frozenset(
    {"torch.device", "torch.load", "torch.is_tensor", "torch.numel", "torch.get_default_dtype", "torch.compile"}
)
TORCH_DTYPES = frozenset(
    f"torch.{name}"
    for name in (
        "bool", "uint8", "int8", "int16", "short", "int32", "int", "int64", "long", "float16", "half",
        "bfloat16", "float32", "float", "float64", "double", "complex64", "cfloat", "complex128", "cdouble",
    )
)
_COMPARISONS = (cst.LessThan, cst.GreaterThan, cst.LessThanEqual, cst.GreaterThanEqual, cst.Equal, cst.NotEqual)
#: augmented assignments whose result keeps a boolean (or zero-one) operand so
_AUGMENTED = {
    cst.BitAndAssign: cst.BitAnd,
    cst.BitOrAssign: cst.BitOr,
    cst.BitXorAssign: cst.BitXor,
    cst.MultiplyAssign: cst.Multiply,
}


# -- scopes ------------------------------------------------------------------


class Scope:
    """One scope's bindings, collected on first use: name -> assigned values.

    A value is the assigned expression, or None for a binding that is not a
    plain assignment (parameter, loop target, import...). A *transparent* scope
    (comprehension, lambda) passes the names it does not bind to its parent.
    """

    def __init__(self, node: cst.CSTNode, parent: "Scope | None", transparent: bool = False) -> None:
        self.node = node
        self.parent = parent
        self.transparent = transparent
        self._values: dict[str, list[cst.BaseExpression | None]] | None = None

    def lookup(self, name: str) -> list[cst.BaseExpression | None] | None:
        """The values bound to ``name`` in the scope it resolves to; None when unknown."""
        if self._values is None:
            collector = _Bindings(self.node)
            walk(self.node, [collector])
            self._values = collector.values
        if name in self._values:
            return self._values[name]
        if self.transparent and self.parent is not None:
            return self.parent.lookup(name)
        return None


class _Bindings(cst.CSTVisitor):
    """Collects the bindings of one scope, without entering nested scopes."""

    def __init__(self, root: cst.CSTNode) -> None:
        super().__init__()
        self.root = root
        self.values: dict[str, list[cst.BaseExpression | None]] = {}

    def bind(self, name: str, value: cst.BaseExpression | None) -> None:
        self.values.setdefault(name, []).append(value)

    def bind_target(self, target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
        if isinstance(target, cst.Name):
            self.bind(target.value, value)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                inner = element.value
                self.bind_target(inner.value if isinstance(inner, cst.StarredElement) else inner, None)
        elif isinstance(target, cst.StarredElement):
            self.bind_target(target.value, None)

    def _enter(self, node: cst.CSTNode, name: cst.Name | None = None) -> bool:
        """Descend only into the root; a nested function or class binds its name here."""
        if node is self.root:
            return True
        if name is not None:
            self.bind(name.value, None)
        if isinstance(self.root, cst.Module) and isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            # A function may rebind a module-level name through `global`.
            for name_ in _global_names(node):
                self.bind(name_, None)
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        if node is self.root:
            self._bind_params(node.params)
        return self._enter(node, node.name)

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        if node is self.root:
            self._bind_params(node.params)
        return self._enter(node)

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return self._enter(node, node.name)

    def _comprehension(self, node) -> bool:
        if node is self.root:
            clause = node.for_in
            while clause is not None:
                self.bind_target(clause.target, None)
                clause = clause.inner_for_in
        return self._enter(node)

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def _bind_params(self, params: cst.Parameters) -> None:
        for param in (*params.posonly_params, *params.params, *params.kwonly_params):
            self.bind(param.name.value, None)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                self.bind(star.name.value, None)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self.bind_target(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self.bind_target(node.target, node.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        operator = _AUGMENTED.get(type(node.operator))
        if isinstance(node.target, cst.Name):
            value = None
            if operator is not None:
                value = cst.BinaryOperation(left=node.target, operator=operator(), right=node.value)
            self.bind(node.target.value, value)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.bind_target(node.target, node.value)

    def visit_For(self, node: cst.For) -> None:
        self.bind_target(node.target, None)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self.bind_target(node.asname.name, None)

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None and isinstance(node.name.name, cst.Name):
            self.bind(node.name.name.value, None)

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        bound = node.asname.name if node.asname is not None else node.name
        while isinstance(bound, cst.Attribute):
            bound = bound.value
        if isinstance(bound, cst.Name):
            self.bind(bound.value, None)

    def visit_Global(self, node: cst.Global) -> None:
        for item in node.names:
            self.bind(item.name.value, None)

    visit_Nonlocal = visit_Global  # type: ignore[assignment]

    def visit_MatchAs(self, node: cst.MatchAs) -> None:
        if node.name is not None:
            self.bind(node.name.value, None)

    def visit_MatchStar(self, node: cst.MatchStar) -> None:
        if node.name is not None:
            self.bind(node.name.value, None)


class _GlobalCollector(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def visit_Global(self, node: cst.Global) -> None:
        self.names.extend(item.name.value for item in node.names)


def _global_names(node: cst.CSTNode) -> list[str]:
    collector = _GlobalCollector()
    walk(node, [collector])
    return collector.names


class ScopeTracker:
    """Rule mixin: keeps the scope of the node being visited (see :meth:`scope`)."""

    _scopes: list[Scope]

    def scope(self) -> Scope:
        stack = self.__dict__.setdefault("_scopes", [])
        if not stack:
            stack.append(Scope(self.context.module, None))  # type: ignore[attr-defined]
        return stack[-1]

    def _push(self, node: cst.CSTNode, transparent: bool = False) -> None:
        parent = self.scope()
        self._scopes.append(Scope(node, parent, transparent))

    def _pop(self) -> None:
        self._scopes.pop()

    # The batched visitor finds methods by their own __name__: aliases would not be called.
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._push(node)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._push(node)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._pop()

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._push(node, transparent=True)

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        self._pop()

    def visit_ListComp(self, node: cst.ListComp) -> None:
        self._push(node, transparent=True)

    def leave_ListComp(self, original_node: cst.ListComp) -> None:
        self._pop()

    def visit_SetComp(self, node: cst.SetComp) -> None:
        self._push(node, transparent=True)

    def leave_SetComp(self, original_node: cst.SetComp) -> None:
        self._pop()

    def visit_DictComp(self, node: cst.DictComp) -> None:
        self._push(node, transparent=True)

    def leave_DictComp(self, original_node: cst.DictComp) -> None:
        self._pop()

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self._push(node, transparent=True)

    def leave_GeneratorExp(self, original_node: cst.GeneratorExp) -> None:
        self._pop()


# -- provenance --------------------------------------------------------------


def method_name(call: cst.CSTNode, names: NameTable) -> str | None:
    """``"float"`` for ``e.float()``: a method call (not a module function)."""
    if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and names.qualified(call.func) is None:
        return call.func.attr.value
    return None


def receiver(call: cst.Call) -> cst.BaseExpression:
    return call.func.value  # type: ignore[union-attr]


def _keyword(call: cst.Call, name: str) -> cst.BaseExpression | None:
    return next((a.value for a in call.args if a.keyword is not None and a.keyword.value == name), None)


class Provenance:
    """Proofs about expressions in one scope (see the module docstring)."""

    def __init__(self, names: NameTable, scope: Scope) -> None:
        self.names = names
        self.scope = scope
        self._assuming: set[tuple[str, str]] = set()

    def _local(self, name: str, kind: str, test: Callable[[cst.BaseExpression], bool]) -> bool:
        """Every value bound to the local ``name`` passes ``test``.

        Assignments that read the name itself (``m = m & other``) are proved by
        assuming the property for the name while checking them (induction over
        the assignments as they run).
        """
        if (kind, name) in self._assuming:
            return True
        values = self.scope.lookup(name)
        if not values or any(value is None for value in values):
            return False
        self._assuming.add((kind, name))
        try:
            return all(test(value) for value in values)  # type: ignore[arg-type]
        finally:
            self._assuming.discard((kind, name))

    def is_dtype(self, node: cst.CSTNode | None, dtype: str) -> bool:
        return node is not None and self.names.qualified(node) == dtype

    def is_bool(self, node: cst.BaseExpression) -> bool:
        """``node`` is a ``torch.bool`` tensor (or a numpy bool array)."""
        if isinstance(node, cst.Name):
            return self._local(node.value, "bool", self.is_bool)
        if isinstance(node, cst.Comparison):
            return len(node.comparisons) == 1 and isinstance(node.comparisons[0].operator, _COMPARISONS)
        if isinstance(node, cst.UnaryOperation):
            return isinstance(node.operator, cst.BitInvert) and self.is_bool(node.expression)
        if isinstance(node, cst.BinaryOperation):
            return isinstance(node.operator, (cst.BitAnd, cst.BitOr, cst.BitXor)) and (
                self.is_bool(node.left) and self.is_bool(node.right)
            )
        if isinstance(node, cst.Subscript):
            return self.is_bool(node.value)
        if not isinstance(node, cst.Call):
            return False
        qualified = self.names.qualified(node.func)
        if qualified in BOOL_FUNCTIONS:
            return True
        if qualified is not None:
            return qualified.startswith("torch.") and self.is_dtype(_keyword(node, "dtype"), "torch.bool")
        method = method_name(node, self.names)
        if method in BOOL_METHODS:
            return True
        if method in ("to", "type"):
            target = _keyword(node, "dtype") or (node.args[0].value if len(node.args) == 1 else None)
            return self.is_dtype(target, "torch.bool")
        if method in SHAPE_METHODS or method in ("any", "all") or (method == "view" and _int_args(node)):
            return self.is_bool(receiver(node))
        return False

    def is_zero_one(self, node: cst.BaseExpression) -> bool:
        """Every element of ``node`` is 0 or 1 (a boolean, or a cast or rearrangement of one)."""
        if self.is_bool(node):
            return True
        if isinstance(node, cst.Name):
            return self._local(node.value, "zero-one", self.is_zero_one)
        if isinstance(node, cst.Subscript):
            return self.is_zero_one(node.value)
        if isinstance(node, cst.BinaryOperation):
            if isinstance(node.operator, cst.Multiply):
                return self.is_zero_one(node.left) and self.is_zero_one(node.right)
            return is_one_minus(node) and self.is_zero_one(node.right)
        method = method_name(node, self.names)
        if method in DTYPE_CASTS or method in SHAPE_METHODS or method in ("to", "type_as"):
            return self.is_zero_one(receiver(node))  # type: ignore[arg-type]
        if method == "type" or (method == "view" and _int_args(node)):  # type: ignore[arg-type]
            return bool(node.args) and self.is_zero_one(receiver(node))  # type: ignore[union-attr,arg-type]
        return False

    def is_torch(self, node: cst.BaseExpression) -> bool:
        """``node`` is visibly a torch tensor: not a numpy array, a list or a scalar."""
        if isinstance(node, cst.Name):
            return self._local(node.value, "torch", self.is_torch)
        if isinstance(node, cst.Subscript):
            return self.is_torch(node.value)
        if isinstance(node, cst.UnaryOperation):
            return self.is_torch(node.expression)
        if isinstance(node, cst.BinaryOperation):
            return self.is_torch(node.left) or self.is_torch(node.right)
        if isinstance(node, cst.Comparison):
            return self.is_torch(node.left) or any(self.is_torch(c.comparator) for c in node.comparisons)
        if not isinstance(node, cst.Call):
            return False
        qualified = self.names.qualified(node.func)
        if qualified is not None:
            last = qualified.rpartition(".")[2]
            return (
                qualified.startswith("torch.")
                and qualified not in NOT_TENSOR_FUNCTIONS
                and (last[:1].islower() or last.endswith("Tensor"))
            )
        method = method_name(node, self.names)
        if method in TORCH_ONLY_METHODS:
            return True
        return method in TENSOR_METHODS and self.is_torch(receiver(node))

def pure(node: cst.CSTNode, names: NameTable) -> bool:
    """Evaluating ``node`` twice is the same as once and changes nothing.

    :func:`torchfix.patterns.is_pure` plus comparisons, mask-building
    methods and torch functions that only compute.
    """
    if isinstance(node, (cst.Name, cst.Integer, cst.Float, cst.SimpleString, cst.Ellipsis)):
        return True
    if isinstance(node, cst.Attribute):
        return pure(node.value, names)
    if isinstance(node, cst.UnaryOperation):
        return pure(node.expression, names)
    if isinstance(node, cst.BinaryOperation):
        return pure(node.left, names) and pure(node.right, names)
    if isinstance(node, cst.Comparison):
        return pure(node.left, names) and all(pure(c.comparator, names) for c in node.comparisons)
    if isinstance(node, cst.Tuple):
        return all(pure(e.value, names) for e in node.elements)
    if isinstance(node, cst.Subscript):
        return pure(node.value, names) and all(_pure_slice(e.slice, names) for e in node.slice)
    if not isinstance(node, cst.Call) or any(a.star for a in node.args):
        return False
    method = method_name(node, names)
    if method is not None:
        known = method in PURE_METHODS or method in BOOL_METHODS or method in SHAPE_METHODS
        known = known or method in DTYPE_CASTS or method in ("any", "all", "type_as", "view")
        pure_receiver = pure(receiver(node), names)
    else:
        known, pure_receiver = names.qualified(node.func) in BOOL_FUNCTIONS, True
    return known and pure_receiver and all(pure(a.value, names) for a in node.args)


def _pure_slice(index: cst.BaseSlice, names: NameTable) -> bool:
    if isinstance(index, cst.Slice):
        return all(part is None or pure(part, names) for part in (index.lower, index.upper, index.step))
    return pure(index.value, names)  # type: ignore[attr-defined]


def _int_args(call: cst.Call) -> bool:
    """Every argument is an int literal (``view(-1, 1)``, never ``view(dtype)``)."""
    args = call.args
    return bool(args) and all(a.keyword is None and not a.star and int_value(a.value) is not None for a in args)


def is_one_minus(node: cst.CSTNode) -> bool:
    """``1 - e`` or ``1.0 - e``."""
    return (
        isinstance(node, cst.BinaryOperation)
        and isinstance(node.operator, cst.Subtract)
        and number_value(node.left) == 1.0
    )


def uses_numpy(names: NameTable) -> bool:
    """Whether the file imports numpy (its arrays have comparisons and masks too)."""
    return any(q == "numpy" or q.startswith("numpy.") for q in names.bindings.values())


def with_method(node: cst.BaseExpression, method: str) -> cst.Call:
    """``node.method()``, parenthesizing ``node`` when it is not an atom."""
    return cst.Call(func=cst.Attribute(value=atom(node), attr=cst.Name(method)), args=[])


def atom(node: cst.BaseExpression) -> cst.BaseExpression:
    """``node`` parenthesized unless it is an atom (to be subscripted or called)."""
    if isinstance(node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)) or node.lpar:
        return node
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def index(value: cst.BaseExpression, key: cst.BaseExpression) -> cst.Subscript:
    """``value[key]``."""
    key = key.with_changes(lpar=[], rpar=[]) if key.lpar else key
    return cst.Subscript(value=atom(value), slice=[cst.SubscriptElement(cst.Index(key))])
