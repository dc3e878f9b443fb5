"""What a function shows about a tensor's rank and dtype, read before an unsafe fix assumes either.

An unsafe fix that assumes ``v`` is 1-D (TF007's whole-tensor norm), 2-D or 3-D
(TF005, TF006 pairwise) or floating point (TF002's ``rand_like``) is written only
where nothing in the function that holds the expression contradicts it: the
operand's assignments (``torch.eye(k)``, a module's output, ``t[0]``, a
``searchsorted`` result, ``dtype=torch.long``) and its uses (``v.size(1)``,
``v[:, i]``, ``v.t()``, ``v @ w``). A rank is *proved* only by what fixes it
whatever the inputs: ``flatten()``, ``view(-1)``, a constructor with a literal
number of sizes, a reduction of a tensor of known rank; a name is proved when
every assignment to it in its function is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import libcst as cst

from torchfix.names import NameTable
from torchfix.patterns import arg, code, int_value, number_value
from torchfix.rules._masks import (
    BOOL_FUNCTIONS,
    BOOL_METHODS,
    Scope,
    method_name,
    receiver,
)
from torchfix.rules._rewrite import Parents
from torchfix.rules._tensor_dtype import INTEGRAL_DTYPES
from torchfix.walk import walk

#: constructors whose result is 1-D whatever their arguments
_ONE_D = frozenset({"arange", "linspace", "logspace", "randperm", "bincount", "hann_window", "hamming_window"})
#: constructors whose sizes are their positional arguments (or one tuple)
_SIZED = frozenset({"zeros", "ones", "empty", "rand", "randn"})
#: reductions over ``dim`` (every element without it); ``max``/``min``/``median`` return tuples with dim
_REDUCTIONS = frozenset(
    {
        "sum",
        "mean",
        "norm",
        "amax",
        "amin",
        "prod",
        "std",
        "var",
        "logsumexp",
        "argmax",
        "argmin",
        "all",
        "any",
        "count_nonzero",
        "nansum",
        "nanmean",
    }
)
#: methods and functions that keep their (first) operand's shape
_ELEMENTWISE = frozenset(
    {
        "float",
        "double",
        "half",
        "bfloat16",
        "int",
        "long",
        "bool",
        "to",
        "type_as",
        "clone",
        "detach",
        "contiguous",
        "cpu",
        "cuda",
        "abs",
        "neg",
        "exp",
        "log",
        "sqrt",
        "rsqrt",
        "sigmoid",
        "tanh",
        "relu",
        "softmax",
        "log_softmax",
        "clamp",
        "clamp_min",
        "clamp_max",
        "clip",
        "pow",
        "square",
        "sign",
        "round",
        "floor",
        "ceil",
        "requires_grad_",
        "flip",
        "roll",
        "masked_fill",
        "nan_to_num",
        "transpose",
        "permute",
        "cumsum",
        "cumprod",
        "sin",
        "cos",
    }
)
#: torch functions and methods whose result holds integers (indices, counts, integer draws)
#: tensor methods whose result's rank the rules model (anything else may be a module's call)
_RANK_METHODS = frozenset({"flatten", "ravel", "view", "reshape", "unsqueeze", "t", "squeeze", "expand", "repeat"})
_INTEGER_RESULTS = frozenset(
    {
        "searchsorted",
        "bucketize",
        "argmax",
        "argmin",
        "argsort",
        "nonzero",
        "randint",
        "randperm",
        "multinomial",
        "bincount",
        "argwhere",
        "long",
        "int",
        "short",
        "byte",
        "char",
        "count_nonzero",
    }
)


def _brief(node: cst.CSTNode) -> str:
    """``node``'s code for a message, cut at 60 characters."""
    text = " ".join(code(node).split())
    return text if len(text) <= 60 else text[:57] + "..."


_NOTHING: Mapping[str, int | None] = {}


def _is_int_like(node: cst.BaseExpression) -> bool:
    """An expression that is visibly one integer: a literal, ``len(...)``, ``x.size(k)``, ``x.shape[k]``, arithmetic."""
    if int_value(node) is not None:
        return True
    if isinstance(node, cst.BinaryOperation) and isinstance(
        node.operator, (cst.Add, cst.Subtract, cst.Multiply, cst.FloorDivide)
    ):
        return _is_int_like(node.left) and _is_int_like(node.right)
    if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Attribute):
        return node.value.attr.value == "shape" and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index)
    if isinstance(node, cst.Call):
        if isinstance(node.func, cst.Name) and node.func.value in ("len", "int"):
            return True
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in ("size", "numel", "dim"):
            return node.func.attr.value != "size" or len(node.args) == 1
    return False


@dataclass
class _Uses:
    """How one function uses its names: the calls, subscripts and operators each name takes part in."""

    #: name -> (what the use shows, rank at least)
    shows: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def add(self, name: str, what: str, rank: int) -> None:
        self.shows.setdefault(name, []).append((what, rank))


class _UseCollector(cst.CSTVisitor):
    """Uses of plain names that reveal a second (or later) axis."""

    def __init__(self) -> None:
        super().__init__()
        self.uses = _Uses()

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name)):
            return
        name, method = func.value.value, func.attr.value
        if method == "size" and len(node.args) == 1:
            axis = int_value(node.args[0].value)
            if axis is not None:
                self.uses.add(name, f"{code(node)}", axis + 1 if axis >= 0 else -axis)
        elif method in ("t", "mm", "matmul") or (method == "transpose" and len(node.args) == 2):
            self.uses.add(name, f"{code(node)}", 2)

    def visit_Subscript(self, node: cst.Subscript) -> None:
        value = node.value
        if isinstance(value, cst.Attribute) and value.attr.value == "shape" and isinstance(value.value, cst.Name):
            axis = int_value(node.slice[0].slice.value) if isinstance(node.slice[0].slice, cst.Index) else None
            if axis is not None and len(node.slice) == 1:
                self.uses.add(value.value.value, code(node), axis + 1 if axis >= 0 else -axis)
        elif isinstance(value, cst.Name):
            values = [e.slice.value for e in node.slice if isinstance(e.slice, cst.Index)]
            if any(isinstance(v, cst.Ellipsis) for v in values):
                return
            axes = len(node.slice) - sum(1 for v in values if isinstance(v, cst.Name) and v.value == "None")
            if axes >= 2:
                self.uses.add(value.value, code(node), axes)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if isinstance(node.value, cst.Name) and node.attr.value in ("T", "mT"):
            self.uses.add(node.value.value, code(node), 2)

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if isinstance(node.operator, cst.MatrixMultiply):
            for side in (node.left, node.right):
                if isinstance(side, cst.Name):
                    self.uses.add(side.value, f"{_brief(node)} (a matrix product)", 2)


@dataclass(frozen=True)
class RankFact:
    """The rank an expression provably has (None: not proved), and the code that shows otherwise."""

    rank: int | None
    #: a clause naming what contradicts the assumed rank ('' when nothing does)
    conflict: str = ""


class Evidence:
    """Rank and dtype facts about expressions of one module, by the function that holds them."""

    def __init__(self, names: NameTable, parents: Parents) -> None:
        self.names = names
        self.parents = parents
        self._scopes: dict[cst.CSTNode, tuple[Scope, _Uses, dict[str, cst.Param]]] = {}

    # -- scopes ------------------------------------------------------------

    def _scope(self, at: cst.CSTNode) -> tuple[Scope, _Uses, dict[str, cst.Param]]:
        node: cst.CSTNode | None = at
        while node is not None and not isinstance(node, (cst.FunctionDef, cst.Module)):
            node = self.parents.of(node)
        root = node if node is not None else self.parents.module
        if root not in self._scopes:
            collector = _UseCollector()
            walk(root, [collector])
            params = {}
            if isinstance(root, cst.FunctionDef):
                params = {
                    p.name.value: p
                    for p in (*root.params.posonly_params, *root.params.params, *root.params.kwonly_params)
                }
            self._scopes[root] = (Scope(root, None), collector.uses, params)
        return self._scopes[root]

    # -- rank --------------------------------------------------------------

    def rank(self, node: cst.BaseExpression, at: cst.CSTNode, seen: Mapping[str, int | None] = _NOTHING) -> int | None:
        """The rank ``node`` has whatever the inputs, else None.

        ``seen`` holds the ranks assumed for names whose assignments are being
        read: ``v = v / v.norm()`` keeps the rank ``v`` had (induction over the
        assignments as they run, as :class:`~torchfix.rules._masks.Provenance` does).
        """
        if isinstance(node, cst.Name):
            if node.value in seen:
                return seen[node.value]
            values = self._scope(at)[0].lookup(node.value)
            if not values or any(v is None for v in values):
                return None
            unknown = {**seen, node.value: None}
            candidates = {self.rank(v, at, unknown) for v in values} - {None}  # type: ignore[arg-type]
            if len(candidates) != 1:
                return None
            rank = candidates.pop()
            assumed = {**seen, node.value: rank}
            return rank if all(self.rank(v, at, assumed) == rank for v in values) else None  # type: ignore[arg-type]
        if isinstance(node, cst.UnaryOperation):
            return self.rank(node.expression, at, seen)
        if isinstance(node, cst.BinaryOperation):
            return self._binary_rank(node, at, seen)
        if isinstance(node, cst.Attribute) and node.attr.value in ("T", "mT", "data"):
            return self.rank(node.value, at, seen)
        if isinstance(node, cst.Subscript):
            return self._subscript_rank(node, at, seen)
        if isinstance(node, cst.Call):
            return self._call_rank(node, at, seen)
        return None

    def _binary_rank(self, node: cst.BinaryOperation, at, seen) -> int | None:
        left, right = self.rank(node.left, at, seen), self.rank(node.right, at, seen)
        if isinstance(node.operator, cst.MatrixMultiply):
            if left is None or right is None or left > 2 or right > 2:
                return None
            return left + right - 2
        if isinstance(node.operator, (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.Power)):
            scalar = (cst.Integer, cst.Float)
            if isinstance(node.right, scalar):
                return left
            if isinstance(node.left, scalar):
                return right
            return max(left, right) if left is not None and right is not None else None
        return None

    def _subscript_rank(self, node: cst.Subscript, at, seen) -> int | None:
        base = self.rank(node.value, at, seen)
        if base is None:
            return None
        for element in node.slice:
            index = element.slice
            if isinstance(index, cst.Slice):
                continue
            value = index.value
            if isinstance(value, cst.Name) and value.value == "None":
                base += 1
            elif int_value(value) is not None:
                base -= 1
            else:
                return None  # a tensor, a name or an Ellipsis: the result's rank depends on it
        return base if base >= 0 else None

    def _call_rank(self, node: cst.Call, at, seen) -> int | None:
        qualified = self.names.qualified(node.func) or ""
        if qualified.startswith("torch."):
            return self._torch_rank(qualified[len("torch.") :], node, at, seen)
        method = method_name(node, self.names)
        if method is None:
            return None
        base = receiver(node)
        if method in ("flatten", "ravel") and not node.args:
            return 1
        if method in ("view", "reshape"):
            return self._size_rank(node.args, at)
        if method == "unsqueeze":
            rank = self.rank(base, at, seen)
            return None if rank is None else rank + 1
        if method in _REDUCTIONS:
            return self._reduced(node, self.rank(base, at, seen), shift=0)
        if method in _ELEMENTWISE or (method == "t" and not node.args):
            return self.rank(base, at, seen)
        return None

    def _torch_rank(self, name: str, node: cst.Call, at, seen) -> int | None:
        if name in _ONE_D:
            return 1
        if name == "eye":
            return 2
        if name in _SIZED:
            size = arg(node, "size")
            return self._size_rank([size] if size is not None else [a for a in node.args if a.keyword is None], at)
        if name == "full":
            size = arg(node, "size", 0)
            return None if size is None else self._size_rank([size], at)
        if name in ("tensor", "as_tensor") and node.args:
            return _literal_depth(node.args[0].value)
        if name == "flatten" and len(node.args) == 1:
            return 1
        if name in _REDUCTIONS:
            first = arg(node, "input", 0)
            return None if first is None else self._reduced(node, self.rank(first.value, at, seen), shift=1)
        if name in _ELEMENTWISE:
            first = arg(node, "input", 0)
            return None if first is None else self.rank(first.value, at, seen)
        return None

    def _size_rank(self, args: Sequence[cst.Arg], at: cst.CSTNode) -> int | None:
        """The rank a list of size arguments gives (``view(-1)``, ``zeros(3, 4)``, ``zeros((3, 4))``)."""
        values = [a.value for a in args if a.keyword is None or a.keyword.value in ("size", "shape")]
        if not values or any(a.star for a in args):
            return None
        if len(values) == 1:
            only = values[0]
            if isinstance(only, (cst.Tuple, cst.List)):
                return None if any(isinstance(e, cst.StarredElement) for e in only.elements) else len(only.elements)
            return 1 if self._is_int(only, at) else None
        return len(values)

    def _is_int(self, node: cst.BaseExpression, at: cst.CSTNode) -> bool:
        """One integer: an int-like expression, a parameter annotated ``int``, a local assigned only ints."""
        if _is_int_like(node):
            return True
        if not isinstance(node, cst.Name):
            return False
        scope, _, params = self._scope(at)
        param = params.get(node.value)
        if param is not None:
            annotation = param.annotation.annotation if param.annotation is not None else None
            return isinstance(annotation, cst.Name) and annotation.value == "int" and scope.lookup(node.value) == [None]
        values = scope.lookup(node.value)
        return bool(values) and all(v is not None and _is_int_like(v) for v in values)

    @staticmethod
    def _reduced(node: cst.Call, rank: int | None, shift: int) -> int | None:
        """The rank after reducing over one literal axis (0 over every element)."""
        dim = arg(node, "dim")
        positional = [a for a in node.args if a.keyword is None]
        if dim is None and len(positional) > shift:
            dim = positional[shift]
        keepdim = arg(node, "keepdim")
        if dim is None:
            return 0 if keepdim is None and len(node.args) == shift else None
        if keepdim is not None or len(positional) > shift + 1:
            return None
        if rank is None or int_value(dim.value) is None:
            return None
        return rank - 1

    # -- what contradicts an assumed rank -------------------------------------

    def rank_fact(self, node: cst.BaseExpression, at: cst.CSTNode, assumed: int) -> RankFact:
        """The proved rank of ``node`` and the first thing in its function that contradicts ``assumed``."""
        rank = self.rank(node, at)
        if not isinstance(node, cst.Name):
            if rank is not None and rank != assumed:
                return RankFact(rank, f"`{_brief(node)}` is {rank}-D")
            return RankFact(rank, self._unknown_origin(node, at))
        scope, uses, _ = self._scope(at)
        for what, at_least in uses.shows.get(node.value, ()):
            if at_least > assumed:
                return RankFact(rank, f"`{what}` shows {node.value} has at least {at_least} axes")
        for value in scope.lookup(node.value) or ():
            if value is None:
                continue
            own = self.rank(value, at, {node.value: None})
            if own is not None and own != assumed:
                return RankFact(rank, f"`{node.value} = {_brief(value)}` makes it {own}-D")
            origin = self._unknown_origin(value, at)
            if origin:
                return RankFact(rank, f"{node.value} = {origin}")
        return RankFact(rank, "")

    def _unknown_origin(self, node: cst.BaseExpression, at: cst.CSTNode) -> str:
        """A clause for an operand whose rank depends on something the code does not show."""
        if isinstance(node, cst.Call) and self.names.qualified(node.func) is None:
            method = method_name(node, self.names)
            if method not in _ELEMENTWISE | _REDUCTIONS | _RANK_METHODS:
                return f"`{_brief(node)}` is a module's or function's output of unknown rank"
        if isinstance(node, cst.Subscript) and self.rank(node, at) is None:
            return f"`{_brief(node)}` indexes a tensor whose rank the code does not show"
        return ""

    # -- dtype -------------------------------------------------------------

    def integer_origin(self, node: cst.BaseExpression, at: cst.CSTNode, seen: frozenset[str] = frozenset()) -> str:
        """Code showing ``node`` holds integers or booleans ('' when none does)."""
        if isinstance(node, cst.Name):
            if node.value in seen:
                return ""
            for value in self._scope(at)[0].lookup(node.value) or ():
                if value is not None and self.integer_origin(value, at, seen | {node.value}):
                    return f"`{node.value} = {_brief(value)}`"
            return ""
        if isinstance(node, cst.Comparison) or (
            isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.BitInvert)
        ):
            return f"`{_brief(node)}`"
        if isinstance(node, cst.Attribute) and node.attr.value == "indices":
            return f"`{_brief(node)}`"
        if isinstance(node, cst.Subscript):
            return self.integer_origin(node.value, at, seen)
        if not isinstance(node, cst.Call):
            return ""
        qualified = self.names.qualified(node.func) or ""
        name = qualified[len("torch.") :] if qualified.startswith("torch.") else method_name(node, self.names)
        if name is None:
            return ""
        dtype = arg(node, "dtype")
        if dtype is not None:
            return f"`{_brief(node)}`" if self.names.qualified(dtype.value) in INTEGRAL_DTYPES else ""
        integer = name in _INTEGER_RESULTS or qualified in BOOL_FUNCTIONS
        integer = integer or (qualified == "" and name in BOOL_METHODS)
        if name == "to" and node.args:
            integer = self.names.qualified(node.args[0].value) in INTEGRAL_DTYPES
        if name == "arange" and qualified:
            integer = all(int_value(a.value) is not None or _is_int_like(a.value) for a in node.args)
        if integer:
            return f"`{_brief(node)}`"
        if qualified == "" and name in _ELEMENTWISE - {"float", "double", "half", "bfloat16", "to", "type_as"}:
            return self.integer_origin(receiver(node), at, seen)
        return ""


def _literal_depth(node: cst.BaseExpression) -> int | None:
    """The nesting depth of a literal list of numbers (``[[1, 2]]`` is 2), None for anything else."""
    if isinstance(node, (cst.List, cst.Tuple)):
        if not node.elements:
            return 1
        depths = {_literal_depth(e.value) for e in node.elements}
        return None if len(depths) != 1 or None in depths else depths.pop() + 1  # type: ignore[operator]
    if number_value(node) is not None:
        return 0
    return None
