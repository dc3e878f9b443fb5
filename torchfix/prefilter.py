"""The prefilter: which rules could report anything in a file, read from its Python AST.

Python's own syntax check already builds each file's ``ast`` tree (in C, about
ten times faster than LibCST). One walk over it indexes the nodes the rules
start from (:class:`Facts`), and each rule's matcher here looks for the
*structure* its LibCST matcher needs: TF002 a constructor call that is the
receiver of ``.to()``, TF008 two ``self.<a> = nn.Linear(IN, ...)`` in one
``__init__`` with the same ``IN``, and so on. A file no matcher keeps never gets
a LibCST tree, and a check runs only the rules whose matchers kept it. The
expression rules' matchers also yield the nodes they matched (:data:`ANCHORS`):
LibCST then parses only the definitions that hold one (:mod:`torchfix.narrowing`).

Each matcher is an over-approximation of its rule, never sharper: it may keep a
file the rule then finds nothing in, but a file (or a rule) it turns away would
have produced no finding. ``tests/test_prefilter.py`` holds the corpus to that,
``tests/test_rule_examples.py`` every rule example, ``tests/test_fuzz.py``
generated programs, and ``benchmarks/prefilter.py`` real libraries. Names are
compared by their last part (``torch.nn.Linear`` and ``nn.Linear`` are both
``Linear``), through ``from ... import x as y`` renames, which is coarser than
the rules' import-resolved names.

The matchers live here, not in the rule modules, so that the runner can rule a
file out without importing any rule (or LibCST).
"""

from __future__ import annotations

import ast
from bisect import bisect_left, bisect_right
from functools import partial
from typing import Callable, Iterable, Iterator, Sequence

from torchfix.crashes import RuleCrash, RuleCrashed

#: every torch tensor constructor a rule knows (TF002 rewrites a subset); TF003's matcher reads
#: these three lists itself, so its prefilter cannot fall behind it
CONSTRUCTORS = frozenset(
    {
        "tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "arange", "linspace", "logspace",
        "eye", "empty", "rand", "randn", "randint", "randperm", "normal", "zeros_like", "ones_like",
        "full_like", "empty_like", "rand_like", "randn_like", "randint_like", "tril_indices", "triu_indices",
        "Tensor", "FloatTensor", "DoubleTensor", "HalfTensor", "BFloat16Tensor", "LongTensor", "IntTensor",
        "ShortTensor", "CharTensor", "ByteTensor", "BoolTensor",
        "hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window",
    }
)
#: torch functions that return a tensor when given one (TF003)
TENSOR_FUNCTIONS = frozenset(
    {
        "tril", "triu", "exp", "log", "sin", "cos", "sqrt", "rsqrt", "pow", "outer", "cat", "stack", "where",
        "cumsum", "cumprod", "flip", "diag", "einsum", "matmul", "mm", "abs", "clamp", "sigmoid", "softmax",
        "log_softmax", "polar", "complex", "view_as_real", "view_as_complex", "reshape", "unsqueeze",
        "transpose", "repeat_interleave", "maximum", "minimum", "floor", "ceil", "round",
    }
)
#: tensor methods that return a tensor (TF003)
TENSOR_METHODS = frozenset(
    {
        "float", "double", "half", "bfloat16", "long", "int", "bool", "byte", "view", "reshape", "unsqueeze",
        "squeeze", "transpose", "permute", "t", "contiguous", "expand", "repeat", "flip", "clone", "detach",
        "exp", "log", "sin", "cos", "sqrt", "rsqrt", "pow", "mul", "div", "add", "sub", "cumsum", "cumprod",
        "sum", "mean", "masked_fill", "tril", "triu", "abs", "neg", "reciprocal", "flatten", "unflatten",
        "narrow", "roll", "to", "type", "type_as", "clamp", "sigmoid", "softmax", "outer", "matmul", "diag",
        "repeat_interleave", "fill_", "zero_", "uniform_", "normal_", "mul_", "add_", "div_", "sub_",
        "clamp_", "masked_fill_", "floor", "ceil", "round", "cuda",
    }
)
_BUILDERS = CONSTRUCTORS | {"Parameter"}
#: constructors with a ``*_like`` twin (TF002's ``torch.zeros(x.shape, device=x.device)``)
_WITH_LIKE = frozenset({"zeros", "ones", "empty", "full", "rand", "randn", "randint"})
#: the constructors TF002 rewrites
_CREATED = frozenset(
    {"zeros", "ones", "empty", "full", "arange", "eye", "tensor", "as_tensor", "linspace", "logspace"}
    | {"zeros_like", "ones_like", "empty_like", "full_like", "rand", "randn", "randint", "randperm", "normal"}
    | {"rand_like", "randn_like", "randint_like"}
)
#: shape-only calls and casts TF002 sees through between a constructor and its move
_BETWEEN = frozenset(
    {"view", "reshape", "unsqueeze", "squeeze", "flatten", "permute", "transpose", "t", "contiguous", "expand"}
    | {"float", "double", "half", "bfloat16", "int", "long", "short", "byte", "char", "bool"}
)
#: random constructors (TF002: another device draws from another random stream)
RANDOM_CONSTRUCTORS = frozenset(
    {"rand", "randn", "randint", "randperm", "normal", "rand_like", "randn_like", "randint_like"}
)
#: constructors whose values are the same in every dtype (0 and 1): TF002 may move a cast into them
EXACT_CONSTRUCTORS = frozenset({"zeros", "ones", "empty", "eye", "zeros_like", "ones_like", "empty_like"})
#: integer torch dtypes by their last name (TF002 moves a cast to one into integer data)
INTEGER_DTYPE_NAMES = frozenset({"int8", "int16", "short", "int32", "int", "int64", "long", "uint8"})
#: keywords a constructor may carry and still be rewritten (TF002)
_CONSTRUCTOR_KEYWORDS = frozenset(
    {"dtype", "device", "requires_grad", "size", "fill_value", "low", "high", "start", "end", "step"}
    | {"steps", "base", "n", "m", "data", "mean", "std", "input"}
)
#: identifier words that name a device (TF002: ``device``, ``self.dev``, ``local_rank``, ``gpu_id``)
_DEVICE_WORDS = frozenset({"device", "dev", "rank", "gpu", "cuda"})
#: torch dtypes by their last name
_DTYPES = frozenset(
    {
        "bool", "uint8", "int8", "int16", "short", "int32", "int", "int64", "long", "float16", "half",
        "bfloat16", "float32", "float", "float64", "double", "complex64", "cfloat", "complex128", "cdouble",
    }
)
#: functions and methods whose result is boolean (TF010's masks)
_BOOLEAN = frozenset(
    {
        "logical_and", "logical_or", "logical_xor", "logical_not", "isnan", "isinf", "isfinite",
        "isposinf", "isneginf", "isreal", "isclose", "signbit", "isin", "eq", "ne", "lt", "le",
        "gt", "ge", "greater", "greater_equal", "less", "less_equal", "not_equal", "bool",
    }
)
#: ``nn.Module`` subclasses of common frameworks (mmengine ``BaseModule``, Lightning, transformers, diffusers)
FRAMEWORK_MODULES = frozenset({"BaseModule", "BaseModel", "LightningModule", "PreTrainedModel", "ModelMixin"})
#: the last names of the classes a module class derives from
_MODULE_BASES = FRAMEWORK_MODULES | {"Module"}
#: methods whose result holds the values of their receiver (casts, moves, rearrangements)
_KEEPS_VALUES = frozenset(
    {
        "unsqueeze", "squeeze", "reshape", "reshape_as", "flatten", "unflatten", "permute",
        "transpose", "t", "expand", "expand_as", "contiguous", "clone", "detach", "cpu", "cuda",
        "repeat", "flip", "roll", "narrow", "select", "view_as", "movedim", "any", "all", "view",
        "float", "double", "half", "bfloat16", "int", "long", "short", "byte", "char", "to", "type", "type_as",
    }
)
#: methods that grow a container (TF004: an empty Sequential grown later is no identity)
_MUTATORS = frozenset({"append", "extend", "insert", "add_module", "register_module"})
#: methods that flatten a tensor (TF009's ``x.flatten()[m.flatten()]``)
_FLATTENING = frozenset({"flatten", "view", "reshape"})
_NORMS = ("norm", "vector_norm")
#: dtype casts TF010 sees through (``tests/test_prefilter.py``: a superset of the rule's)
_CASTS = frozenset({"float", "double", "half", "bfloat16", "int", "long", "short", "byte", "char", "bool"}) | {
    "to", "type", "type_as"
}


#: expressions with a scope of their own
_EXPRESSION_SCOPES = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Lambda)
#: pushed under a class's children: the walk leaves the class when it pops this
_LEAVE_CLASS = object()


#: fields that never hold a node a matcher looks for: contexts (``Load``), operators (``Add``), names
_LEAF_FIELDS = frozenset({"ctx", "op", "ops", "id", "attr", "name", "arg", "module", "level", "kind", "type_comment"})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _children_reversed(node: ast.AST) -> list[ast.AST]:
    """The child nodes of ``node``, last first (for a stack), without contexts and operators."""
    fields = _CHILD_FIELDS.get(type(node))
    if fields is None:
        fields = _CHILD_FIELDS[type(node)] = tuple(f for f in node._fields if f not in _LEAF_FIELDS)
    children = []
    for name in fields:
        value = getattr(node, name, None)
        if type(value) is list:
            children += [item for item in value if isinstance(item, ast.AST)]
        elif isinstance(value, ast.AST):
            children.append(value)
    children.reverse()
    return children


def walk(root: ast.AST) -> list[ast.AST]:
    """``root`` and every node under it in source order; ``ast.walk`` without its generators
    and ``ctx`` nodes, at a third of its cost."""
    found = []
    stack = [root]
    while stack:
        node = stack.pop()
        found.append(node)
        stack += _children_reversed(node)
    return found


def last_name(node: ast.AST) -> str | None:
    """``Linear`` for ``nn.Linear`` and ``Linear``; None for anything else."""
    if type(node) is ast.Name:
        return node.id
    if type(node) is ast.Attribute:
        return node.attr
    return None


class Facts:
    """One walk over a module's AST: the nodes the matchers start from, by kind."""

    def __init__(self, tree: ast.AST) -> None:
        #: ``from m import name as alias``: alias -> name
        self.renamed: dict[str, str] = {}
        #: calls by the last name of their target, as written
        self._calls: dict[str, list[ast.Call]] = {}
        #: ``.attr`` nodes by attribute name (TF004 asks how each is used)
        self.attributes: dict[str, list[ast.Attribute]] = {}
        self.binops: list[ast.BinOp] = []
        self.subscripts: list[ast.Subscript] = []
        self.classes: list[ast.ClassDef] = []
        self.functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        self.assigns: list[ast.Assign | ast.AnnAssign] = []
        self.augassigns: list[ast.AugAssign] = []
        #: calls with a lambda among their arguments
        self.lambda_calls: list[ast.Call] = []
        self.strings: set[str] = set()
        #: names bound by ``import m`` / ``import m as n`` of a module other than torch, at module
        #: level (the rules' name table reads imports there and in top-level blocks, never deeper)
        self.modules: set[str] = set()
        #: every binding of each name (assigned, a loop or ``with`` target, ``:=``)
        self.stores: dict[str, list[ast.Name]] = {}
        #: class name -> the ``self.<name>`` attributes read or set inside it (the package index)
        self.self_attributes: dict[str, set[str]] = {}
        self.dict_comprehensions: list[ast.DictComp] = []
        #: comprehensions and lambdas: scopes of their own (TF010 reads names by scope)
        self.expression_scopes: list[ast.expr] = []
        self.imports: list[ast.Import | ast.ImportFrom] = []
        #: calls of anything but a name or an attribute (``self.blocks[i](x)``, ``f()()``)
        self.other_calls: list[ast.Call] = []
        #: every call
        self.all_calls: list[ast.Call] = []
        #: ``name=obj.attr`` keyword arguments (the package index: DataLoader callables)
        self.attribute_keywords: list[ast.keyword] = []
        self.tree = tree
        self._scopes: list[tuple[tuple[int, int], tuple[int, int], ast.AST]] | None = None
        self._scope_parents: list[int] = []
        self._scope_starts: list[tuple[int, int]] = []
        self._bindings: dict[str, dict[int, tuple[int, list[ast.AST] | None]]] = {}
        self._assigned: dict[str, list[tuple[ast.Name, ast.Assign | ast.AnnAssign | ast.AugAssign]]] | None = None
        #: id of a node list -> (the start of each node, the nodes), in source order
        self._by_start: dict[int, tuple[list[tuple[int, int]], list]] = {}
        self._index(tree)

    def _index(self, tree: ast.AST) -> None:
        """A pre-order walk in source order (a stack, not ``ast.walk``: a third of its cost)."""
        calls, attributes, stores = self._calls, self.attributes, self.stores
        stack: list = [tree]
        pop, push = stack.pop, stack.append
        classes: list[str | None] = []  # the enclosing class names, outermost first
        cls: str | None = None
        module_level = [node for node in getattr(tree, "body", ()) if type(node) is ast.Import]
        while stack:
            node = pop()
            if node is _LEAVE_CLASS:
                cls = classes.pop()
                continue
            kind = type(node)
            if kind is ast.Name:
                if type(node.ctx) is ast.Store:
                    stores.setdefault(node.id, []).append(node)
                continue
            if kind is ast.Constant:
                if type(node.value) is str:
                    self.strings.add(node.value)
                continue
            if kind is ast.Attribute:
                attributes.setdefault(node.attr, []).append(node)
                value = node.value
                if cls is not None and type(value) is ast.Name and value.id == "self":
                    self.self_attributes.setdefault(cls, set()).add(node.attr)
                push(value)
                continue
            if kind is ast.Call:
                self.all_calls.append(node)
                name = last_name(node.func)
                if name is not None:
                    calls.setdefault(name, []).append(node)
                else:
                    self.other_calls.append(node)
                if any(type(value) is ast.Lambda for value in _arguments(node)):
                    self.lambda_calls.append(node)
            elif kind is ast.BinOp:
                self.binops.append(node)
            elif kind is ast.Subscript:
                self.subscripts.append(node)
            elif kind is ast.Assign or kind is ast.AnnAssign:
                self.assigns.append(node)
            elif kind is ast.AugAssign:
                self.augassigns.append(node)
            elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                self.functions.append(node)
            elif kind is ast.ClassDef:
                self.classes.append(node)
                push(_LEAVE_CLASS)
                classes.append(cls)
                cls = node.name
            elif kind is ast.DictComp:
                self.dict_comprehensions.append(node)
                self.expression_scopes.append(node)
            elif kind is ast.ListComp or kind is ast.SetComp or kind is ast.GeneratorExp or kind is ast.Lambda:
                self.expression_scopes.append(node)
            elif kind is ast.keyword:
                if type(node.value) is ast.Attribute:
                    self.attribute_keywords.append(node)
            elif kind is ast.Import:
                self.imports.append(node)
                if node in module_level:
                    self.modules.update(
                        alias.asname or alias.name.partition(".")[0]
                        for alias in node.names if alias.name.partition(".")[0] != "torch"
                    )
                continue
            elif kind is ast.ImportFrom:
                self.imports.append(node)
                self.renamed.update((alias.asname, alias.name) for alias in node.names if alias.asname)
                continue
            stack += _children_reversed(node)

    def _scopes_around(self, node: ast.AST) -> list[ast.AST | None]:
        """The scopes holding ``node``, innermost first, ending with None (the module): functions and
        classes by their bodies, comprehensions and lambdas whole (scopes nest, so a bisection and
        the parent links find them)."""
        if self._scopes is None:
            spans = sorted(
                [
                    ((scope.body[0].lineno, scope.body[0].col_offset), (scope.end_lineno, scope.end_col_offset), scope)
                    for scope in [*self.functions, *self.classes]
                ]
                + [
                    ((scope.lineno, scope.col_offset), (scope.end_lineno, scope.end_col_offset), scope)
                    for scope in self.expression_scopes
                ],
                key=lambda span: (span[0], (-span[1][0], -span[1][1])),  # outer before inner at one start
            )
            parents: list[int] = []
            open_spans: list[int] = []
            for index, (start, _, _) in enumerate(spans):
                while open_spans and not start < spans[open_spans[-1]][1]:
                    open_spans.pop()
                parents.append(open_spans[-1] if open_spans else -1)
                open_spans.append(index)
            self._scopes = spans
            self._scope_parents = parents
            self._scope_starts = [start for start, _, _ in spans]
        where = (node.lineno, node.col_offset)
        index = bisect_right(self._scope_starts, where) - 1
        found: list[ast.AST | None] = []
        while index >= 0:  # the scope starting last before ``node``, then its enclosing ones
            _, end, scope = self._scopes[index]
            if where < end:
                found.append(scope)
            index = self._scope_parents[index]
        return found + [None]

    def under(self, nodes: list, node: ast.AST) -> list:
        """Those of ``nodes`` (one of the lists above) that lie within ``node``, by position:
        cheaper than walking ``node`` again."""
        found = self._by_start.get(id(nodes))
        if found is None:
            ordered = sorted(nodes, key=lambda n: (n.lineno, n.col_offset))
            found = self._by_start[id(nodes)] = ([(n.lineno, n.col_offset) for n in ordered], ordered)
        starts, ordered = found
        first = bisect_left(starts, (node.lineno, node.col_offset))
        return ordered[first : bisect_right(starts, (node.end_lineno, node.end_col_offset))]

    def in_function(self, node: ast.AST) -> bool:
        """Whether ``node`` lies in the body of a function (at any depth)."""
        return any(type(scope) in (ast.FunctionDef, ast.AsyncFunctionDef) for scope in self._scopes_around(node))

    def scope_of(self, node: ast.AST) -> ast.AST | None:
        """The innermost scope whose body holds ``node``; None: the module."""
        return self._scopes_around(node)[0]

    def scope_values(self, name: ast.Name) -> list[ast.AST] | None:
        """The values bound to ``name`` in its own scope when every binding there is a plain
        assignment (or ``&=``, ``|=``, ``^=``, ``*=``); None when it has none there (a parameter,
        a name of an enclosing scope) or another kind (a loop target, unpacking): the cases
        TF010's proof (``rules/_masks.py``) never proves."""
        bindings = self._bindings.get(name.id)
        if bindings is None:
            bindings = self._bindings[name.id] = self._bindings_by_scope(name.id)
        scope = next(  # a comprehension or a lambda that does not bind the name reads it from outside
            (s for s in self._scopes_around(name) if id(s) in bindings or type(s) not in _EXPRESSION_SCOPES),
            None,
        )
        stores, values = bindings.get(id(scope), (0, None))
        return values if stores and values is not None and len(values) == stores else None

    def _bindings_by_scope(self, name: str) -> dict[int, tuple[int, list[ast.AST] | None]]:
        """id of each scope binding ``name`` -> (how many bindings, the plainly assigned values;
        None once one is an augmented assignment TF010 never proves)."""
        found: dict[int, tuple[int, list[ast.AST] | None]] = {}
        for store in self.stores.get(name, ()):
            count, values = found.get(id(self.scope_of(store)), (0, []))
            found[id(self.scope_of(store))] = (count + 1, values)
        if self._assigned is None:
            self._assigned = {}
            for node in self.assigns + self.augassigns:
                for target in node.targets if type(node) is ast.Assign else [node.target]:
                    if type(target) is ast.Name and node.value is not None:
                        self._assigned.setdefault(target.id, []).append((target, node))
        for target, node in self._assigned.get(name, ()):
            count, values = found[id(self.scope_of(target))]
            proved = type(node) is not ast.AugAssign or type(node.op) in (ast.BitAnd, ast.BitOr, ast.BitXor, ast.Mult)
            found[id(self.scope_of(target))] = (count, values + [node.value] if proved and values is not None else None)
        return found

    def foreign(self, func: ast.AST) -> bool:
        """Whether ``func`` is reached through an imported module other than torch (``math.sqrt``)."""
        while type(func) is ast.Attribute:
            func = func.value
        return type(func) is ast.Name and func.id in self.modules

    def name(self, func: ast.AST) -> str | None:
        """The last name of a call target, seen through renaming imports."""
        name = last_name(func)
        return self.renamed.get(name, name) if name is not None else None

    def calls_by_name(self) -> Iterable[tuple[str, list[ast.Call]]]:
        """(last name of the target as written, the calls) for every call with a named target."""
        return self._calls.items()

    def calls(self, *names: str) -> Iterator[ast.Call]:
        """Every call of something named one of ``names`` (under a renamed import too)."""
        wanted = set(names)
        for written, calls in self._calls.items():
            if written in wanted or self.renamed.get(written) in wanted:
                yield from calls

    def calls_any(self, *names: str) -> bool:
        return next(self.calls(*names), None) is not None

    def is_call(self, node: ast.AST, *names: str) -> bool:
        return type(node) is ast.Call and self.name(node.func) in names

    def contains_call(self, nodes: Iterable[ast.AST], *names: str) -> bool:
        """Whether a call of one of ``names`` appears anywhere in ``nodes``."""
        return any(self.is_call(inner, *names) for node in nodes for inner in walk(node))


def facts_of(tree: ast.AST) -> Facts:
    return Facts(tree)


# -- shared shapes ---------------------------------------------------------------


def _arguments(call: ast.Call) -> list[ast.AST]:
    return list(call.args) + [keyword.value for keyword in call.keywords]


def _operands(call: ast.Call) -> list[ast.AST]:
    """The receiver of a method call (``x`` of ``x.f(a)``) and every argument."""
    receiver = [call.func.value] if type(call.func) is ast.Attribute else []
    return receiver + _arguments(call)


def _divisions(facts: Facts) -> Iterator[tuple[ast.AST, list[ast.AST], list[ast.AST]]]:
    """(the division, its numerator side, its denominator side) of ``a / b``, ``a /= b``,
    ``a.div(b)``, ``torch.div(a, b)``."""
    for node in facts.binops:
        if type(node.op) is ast.Div:
            yield node, [node.left], [node.right]
    for node in facts.augassigns:
        if type(node.op) is ast.Div:
            yield node, [node.target], [node.value]
    for call in facts.calls("div", "true_divide"):
        operands = _operands(call)
        yield call, operands, operands


def _half(node: ast.AST) -> bool:
    return type(node) is ast.Constant and node.value == 0.5


def _two_norm(facts: Facts, nodes: Iterable[ast.AST]) -> bool:
    """A 2-norm somewhere in ``nodes``: a tensor norm call, or a root (``sqrt``, ``** 0.5``,
    ``.pow(0.5)``) of something with a sum in it. ``math.sqrt`` and ``np.linalg.norm`` are not."""
    for node in nodes:
        for inner in walk(node):
            kind = type(inner)
            if kind is ast.Call and not facts.foreign(inner.func):
                name = facts.name(inner.func)
                if name in _NORMS:
                    return True
                rooted = name == "sqrt" or (name == "pow" and any(_half(a) for a in _arguments(inner)))
                if rooted and facts.contains_call([inner], "sum"):
                    return True
            elif kind is ast.BinOp and type(inner.op) is ast.Pow and _half(inner.right):
                if facts.contains_call([inner.left], "sum"):
                    return True
    return False


def _unsqueezed(facts: Facts, node: ast.AST) -> bool:
    """``a[:, None]``, ``a.unsqueeze(1)``, ``torch.unsqueeze(a, 1)`` (under ``.expand(...)`` too)."""
    if facts.is_call(node, "expand", "expand_as") and type(node.func) is ast.Attribute:
        node = node.func.value
    if type(node) is ast.Subscript:
        items = node.slice.elts if type(node.slice) is ast.Tuple else [node.slice]
        return any(type(item) is ast.Constant and item.value is None for item in items)
    return facts.is_call(node, "unsqueeze")


def _self_name(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    positional = function.args.posonlyargs + function.args.args
    return positional[0].arg if positional else None


def _module_classes(facts: Facts) -> list[ast.ClassDef]:
    """The classes that may derive from ``nn.Module``: a base named ``Module`` or a framework's module
    class (:data:`FRAMEWORK_MODULES`), directly or through classes of the file (TF003 and TF008
    ask the same of the file, through its imports)."""
    derived = {
        cls.name
        for cls in facts.classes
        if any(last_name(base) in _MODULE_BASES or facts.name(base) in _MODULE_BASES for base in cls.bases)
    }
    while True:  # through the file's classes, one level more each round
        more = {
            cls.name
            for cls in facts.classes
            if cls.name not in derived and any(type(base) is ast.Name and base.id in derived for base in cls.bases)
        }
        if not more:
            return [cls for cls in facts.classes if cls.name in derived]
        derived |= more


def _inits(facts: Facts) -> Iterator[tuple[ast.ClassDef, ast.FunctionDef | ast.AsyncFunctionDef, str]]:
    """Each class that may be an ``nn.Module``, its ``__init__`` and the name of its ``self``."""
    for cls in _module_classes(facts):
        for statement in cls.body:
            if type(statement) in (ast.FunctionDef, ast.AsyncFunctionDef) and statement.name == "__init__":
                self_ = _self_name(statement)
                if self_ is not None:
                    yield cls, statement, self_


def _self_assignments(facts: Facts, function: ast.AST, self_: str) -> Iterator[tuple[str, ast.AST]]:
    """(attribute, value) of every ``self.<attribute> = value`` (or annotated) under ``function``."""
    for node in facts.under(facts.assigns, function):
        if type(node) is ast.Assign:
            targets, value = node.targets, node.value
        elif type(node) is ast.AnnAssign and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if type(target) is ast.Attribute and type(target.value) is ast.Name and target.value.id == self_:
                yield target.attr, value


def _branches(value: ast.AST) -> list[ast.AST]:
    """``a if c else b`` -> both branches (nested too); anything else -> itself."""
    if type(value) is ast.IfExp:
        return _branches(value.body) + _branches(value.orelse)
    return [value]


# -- the rules -------------------------------------------------------------------


#: calls that list a directory (TF001 reads a dataset's ``__init__`` for them: os, glob, pathlib, backends)
_LISTINGS = frozenset(
    {"listdir", "scandir", "walk", "glob", "iglob", "iterdir", "rglob", "ls", "list_dir", "list_dir_or_file", "list_files"}
)


def _dataset_folder(facts: Facts) -> bool:
    """TF001: a class with the one base ``Dataset``, a ``__getitem__`` and an ``__init__`` that lists
    a directory."""
    for cls in facts.classes:
        if cls.decorator_list or cls.keywords or len(cls.bases) != 1:
            continue
        if "Dataset" not in (last_name(cls.bases[0]), facts.name(cls.bases[0])):
            continue
        methods = {s.name: s for s in cls.body if type(s) in (ast.FunctionDef, ast.AsyncFunctionDef)}
        init = methods.get("__init__")
        if "__getitem__" in methods and init is not None:
            calls = [node.func for node in facts.under(facts.all_calls, init)]
            if any(last_name(func) in _LISTINGS or facts.name(func) in _LISTINGS for func in calls):
                return True
    return False


def _creates(facts: Facts, call: ast.AST) -> bool:
    """A constructor call TF002 would rewrite: known keywords only, no ``**``, no ``requires_grad=True``."""
    if type(call) is not ast.Call or facts.name(call.func) not in _CREATED:
        return False
    keywords = {k.arg: k.value for k in call.keywords}
    if None in keywords or not keywords.keys() <= _CONSTRUCTOR_KEYWORDS:
        return False
    grad = keywords.get("requires_grad")
    if grad is not None and not (type(grad) is ast.Constant and grad.value is False):
        return False
    name = facts.name(call.func)
    if name in ("tensor", "as_tensor") and len(call.args) > 1:
        return False
    return not (name == "normal" and len(call.args) < 3 and "size" not in keywords)


def _device_like(facts: Facts, node: ast.AST) -> bool:
    """A ``.to()`` argument that is visibly a device (TF002's words: ``device``, ``dev``, ``rank``, ...)."""
    if type(node) in (ast.Constant, ast.JoinedStr):
        return True
    if type(node) is ast.Call:
        return facts.name(node.func) in ("device", "current_device")
    name = last_name(node)
    return name is not None and bool(_DEVICE_WORDS & set(name.lower().split("_")))


def _moves_plainly(facts: Facts, move: ast.Call, made: ast.Call) -> bool:
    """Whether ``made.<move>(...)`` is a plain device move (or a move to a tensor ``made`` copies)."""
    if any(type(a) is ast.Starred for a in move.args) or any(k.arg is None for k in move.keywords):
        return False
    method, keywords = move.func.attr, {k.arg: k.value for k in move.keywords}
    if method == "type_as":
        return len(move.args) == 1 and not keywords
    if method == "cuda":
        return keywords.keys() <= {"device", "non_blocking"} and len(move.args) <= 2
    if not keywords.keys() <= {"device", "dtype", "non_blocking"} or len(move.args) > 3:
        return False
    if "device" in keywords:
        return True
    if not move.args or last_name(move.args[0]) in _DTYPES:
        return False  # a cast, not a move
    copies = facts.name(made.func).endswith("_like") or bool(_shape_sources(made))
    return copies or _device_like(facts, move.args[0])


def _cast_moves_in(facts: Facts, move: ast.Call, made: ast.Call, between: bool) -> bool:
    """Whether TF002 may move ``move``'s dtype (``.to(device, dtype)``) into the constructor: only
    where creating in it gives the values the cast did, and never past calls between the two."""
    keywords = {k.arg: k.value for k in move.keywords}
    dtype = keywords.get("dtype", move.args[1] if len(move.args) > 1 else None)
    if move.func.attr != "to" or dtype is None or (type(dtype) is ast.Constant and dtype.value is None):
        return True
    name = facts.name(made.func)
    if between:
        return False
    if name in EXACT_CONSTRUCTORS or name in RANDOM_CONSTRUCTORS:
        return True
    made_keywords = {k.arg: k.value for k in made.keywords}
    if name in ("full", "full_like"):
        fill = made_keywords.get("fill_value", made.args[1] if len(made.args) > 1 else None)
        fill = fill.operand if type(fill) is ast.UnaryOp else fill
        return type(fill) is ast.Constant and type(fill.value) in (int, bool)
    if name not in ("tensor", "as_tensor", "arange") or last_name(dtype) not in INTEGER_DTYPE_NAMES:
        return False
    data = made_keywords.get("data", made.args[0] if made.args else None)
    return name == "arange" or type(data) in (ast.List, ast.Tuple, ast.BinOp, ast.Constant, ast.UnaryOp)


def _shape_sources(call: ast.Call) -> list[ast.AST]:
    """The ``x`` of each argument that is ``<x>.shape`` or ``<x>.size()`` (or starred)."""
    sources = []
    for value in [*call.args, *(k.value for k in call.keywords if k.arg == "size")]:
        value = value.value if type(value) is ast.Starred else value
        if type(value) is ast.Attribute and value.attr == "shape":
            sources.append(value.value)
        elif type(value) is ast.Call and type(value.func) is ast.Attribute and value.func.attr == "size":
            if not value.args:
                sources.append(value.func.value)
    return sources


def _device_at_creation(facts: Facts) -> Iterator[ast.AST]:
    """TF002: ``<constructor>(...)[.view(...) or a cast]*.to(<device>)`` (``.cuda()``, ``.type_as(x)``), or
    ``<constructor>(<x>.shape or <x>.size(), ..., dtype=..., device=<x>.device)``."""
    for move in facts.calls("to", "cuda", "type_as"):
        made = move.func.value if type(move.func) is ast.Attribute else None
        between = False
        while type(made) is ast.Call and type(made.func) is ast.Attribute and made.func.attr in _BETWEEN:
            made, between = made.func.value, True
        if _creates(facts, made) and _moves_plainly(facts, move, made) and _cast_moves_in(facts, move, made, between):
            yield move
    for call in facts.calls(*_WITH_LIKE):
        keywords = {k.arg: k.value for k in call.keywords}
        device = keywords.get("device")
        if "dtype" not in keywords or type(device) is not ast.Attribute or device.attr != "device":
            continue
        if _creates(facts, call) and ast.dump(device.value) in map(ast.dump, _shape_sources(call)):
            yield call


class _TensorValues:
    """TF003's test of what ``__init__`` assigns a tensor, widened: no shadowing, no branches."""

    def __init__(self, facts: Facts, init: ast.AST, self_: str) -> None:
        self.facts, self.self_ = facts, self_
        self.locals: set[str] = set()
        self.attributes: set[str] = set()
        assigned = [
            (node.targets[0].id, node.value)
            for node in facts.under(facts.assigns, init)
            if type(node) is ast.Assign and len(node.targets) == 1 and type(node.targets[0]) is ast.Name
        ]
        own = list(_self_assignments(facts, init, self_))
        changed = True
        while changed:
            before = len(self.locals) + len(self.attributes)
            self.locals.update(name for name, value in assigned if self.tensor(value))
            self.attributes.update(name for name, value in own if self.tensor(value) or self.frozen(value))
            changed = len(self.locals) + len(self.attributes) != before

    def frozen(self, value: ast.AST) -> bool:
        """``nn.Parameter(t, requires_grad=False)``."""
        if not self.facts.is_call(value, "Parameter") or len(value.args) + len(value.keywords) != 2:
            return False
        flag = value.args[1] if len(value.args) == 2 else value.keywords[-1].value
        return type(flag) is ast.Constant and flag.value is False

    def tensor(self, node: ast.AST) -> bool:
        kind = type(node)
        if kind is ast.Name:
            return node.id in self.locals
        if kind is ast.Attribute:
            if type(node.value) is ast.Name and node.value.id == self.self_ and node.attr in self.attributes:
                return True
            return node.attr in ("T", "mT", "data") and self.tensor(node.value)
        if kind is ast.Subscript:
            return self.tensor(node.value)
        if kind is ast.UnaryOp:
            return type(node.op) is not ast.Not and self.tensor(node.operand)
        if kind is ast.BinOp:
            return self.tensor(node.left) or self.tensor(node.right)
        if kind is ast.Compare:
            return self.tensor(node.left)
        if kind is ast.IfExp:
            return self.tensor(node.body) or self.tensor(node.orelse)
        if kind is ast.Call:
            name = self.facts.name(node.func)
            if name in CONSTRUCTORS:
                return True
            if name in TENSOR_FUNCTIONS:
                values = [a.value if type(a) is ast.Starred else a for a in node.args]
                items = [e for v in values if type(v) in (ast.List, ast.Tuple) for e in v.elts]
                if any(self.tensor(v) for v in values + items):
                    return True
            return type(node.func) is ast.Attribute and name in TENSOR_METHODS and self.tensor(node.func.value)
        return False


def _device_move(call: ast.Call) -> bool:
    """``.cuda()``, ``.to(x.device)``, ``.to(device)``, ``.to(device=...)``: a pure device move (TF003's)."""
    if call.func.attr == "cuda":
        return not call.args and not call.keywords
    if len(call.args) + len(call.keywords) != 1 or (call.args and type(call.args[0]) is ast.Starred):
        return False
    if call.keywords:
        return call.keywords[0].arg == "device"
    value = call.args[0]
    return (type(value) is ast.Attribute and value.attr == "device") or (
        type(value) is ast.Name and value.id.endswith("device")
    )


def _moves_a_buffer(facts: Facts, cls: ast.ClassDef) -> bool:
    """``self.<buffer>[...].to(<device>)`` or ``.cuda()`` in the class, for a buffer the file registers."""
    registered = set()
    for call in facts.calls("register_buffer"):
        first = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "name"), None)
        registered.add(first.value if type(first) is ast.Constant else None)
    for node in walk(cls):
        if type(node) is ast.Call and type(node.func) is ast.Attribute and node.func.attr in ("to", "cuda"):
            if not _device_move(node):
                continue
            moved = node.func.value
            while type(moved) is ast.Subscript:
                moved = moved.value
            if type(moved) is ast.Attribute and (moved.attr in registered or None in registered):
                return True
    return False


def _register_buffer(facts: Facts) -> bool:
    """TF003: a module's ``__init__`` assigns ``self.<a>`` a tensor it builds (or a frozen Parameter),
    or registers a buffer the class moves by hand."""
    for cls, init, self_ in _inits(facts):
        called = {facts.name(node.func) for node in facts.under(facts.all_calls, init)}
        if "register_buffer" in called and _moves_a_buffer(facts, cls):
            return True
        if called & _BUILDERS and _TensorValues(facts, init, self_).attributes:
            return True
    return False


def _identity_forward(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = function.body
    if body and type(body[0]) is ast.Expr and type(body[0].value) is ast.Constant:
        body = body[1:]  # a docstring
    arguments = {a.arg for a in function.args.posonlyargs + function.args.args}
    return (
        len(body) == 1 and type(body[0]) is ast.Return
        and type(body[0].value) is ast.Name and body[0].value.id in arguments
    )


def _identity_lambda(node: ast.AST) -> bool:
    if type(node) is not ast.Lambda:
        return False
    arguments = node.args
    if arguments.posonlyargs or arguments.kwonlyargs or arguments.vararg or arguments.kwarg:
        return False
    if len(arguments.args) != 1 or arguments.defaults:
        return False
    return type(node.body) is ast.Name and node.body.id == arguments.args[0].arg


def _grown(facts: Facts, attribute: str) -> bool:
    """``x.<attribute>.append(...)``, ``.add_module(...)``: an empty Sequential filled later is a container."""
    return any(
        type(node.value) is ast.Attribute and node.value.attr == attribute
        for name in _MUTATORS
        for node in facts.attributes.get(name, ())
    )


def _builtin_identity(facts: Facts) -> bool:
    """TF004: ``forward`` returning its input; an empty ``Sequential()`` or ``lambda x: x`` used as a layer."""
    if any(function.name == "forward" and _identity_forward(function) for function in facts.functions):
        return True
    for node in facts.assigns:
        targets = node.targets if type(node) is ast.Assign else [node.target]
        if len(targets) != 1 or type(targets[0]) is not ast.Attribute or node.value is None:
            continue
        for branch in _branches(node.value):
            layer = _identity_lambda(branch) or (
                facts.is_call(branch, "Sequential") and not branch.args and not branch.keywords
            )
            if layer and not _grown(facts, targets[0].attr):  # fixed, or reported with the reason
                return True
    mutated = any(
        type(node.value) in (ast.Subscript, ast.Call) for name in _MUTATORS for node in facts.attributes.get(name, ())
    )
    for call in facts.calls("Sequential"):
        for value in call.args:
            for branch in _branches(value):
                if not mutated and facts.is_call(branch, "Sequential") and not branch.args and not branch.keywords:
                    return True
    return any(_identity_lambda(value) for call in facts.lambda_calls for value in _arguments(call))


def _squared(facts: Facts, node: ast.AST) -> list[ast.AST]:
    """What ``node`` may square: the base of ``b ** 2``; every operand of a ``pow``/``square`` call."""
    if type(node) is ast.BinOp and type(node.op) is ast.Pow:
        return [node.left]
    return _operands(node) if facts.is_call(node, "pow", "square") else []


def _twice_einsum(facts: Facts, node: ast.AST) -> bool:
    """``2 * torch.einsum(...)`` (either order): the cross term of ``a2 + b2 - 2ab``."""
    return type(node) is ast.BinOp and type(node.op) is ast.Mult and (
        facts.is_call(node.left, "einsum") or facts.is_call(node.right, "einsum")
    )


def _pairwise_cdist(facts: Facts) -> Iterator[ast.AST]:
    """TF005: a difference with an unsqueezed side, the operand of a norm or squared under a sum;
    ``addmm(..., alpha=-2)``; ``a2 + b2 - 2 * einsum(...)``."""
    yield from (node for node in facts.binops if type(node.op) is ast.Sub and _twice_einsum(facts, node.right))
    for call in facts.calls("addmm", "addmm_"):
        if any(k.arg == "alpha" for k in call.keywords) or (len(call.args) == 4 and type(call.func) is ast.Attribute):
            yield call

    def pairwise_difference(node: ast.AST) -> bool:
        return (
            type(node) is ast.BinOp and type(node.op) is ast.Sub
            and (_unsqueezed(facts, node.left) or _unsqueezed(facts, node.right))
        )

    for call in facts.calls(*_NORMS):
        if any(pairwise_difference(operand) for operand in _operands(call)):
            yield call
    for call in facts.calls("sum"):
        if any(pairwise_difference(base) for operand in _operands(call) for base in _squared(facts, operand)):
            yield call


def _cosine_similarity(facts: Facts) -> Iterator[ast.AST]:
    """TF006: a sum or dot over a norm; ``cosine_similarity`` of unsqueezed operands."""
    for division, numerator, denominator in _divisions(facts):
        if facts.contains_call(numerator, "sum", "dot") and _two_norm(facts, denominator):
            yield division
    for call in facts.calls("cosine_similarity"):
        if any(_unsqueezed(facts, inner) for inner in walk(call)):
            yield call


def _f_normalize(facts: Facts) -> Iterator[ast.AST]:
    """TF007: a division by a norm (or by a root of a sum of squares)."""
    return (division for division, _, denominator in _divisions(facts) if _two_norm(facts, denominator))


def _linear_list(facts: Facts, value: ast.AST) -> bool:
    """``nn.ModuleList([nn.Linear(...) for ...])`` or a list of two or more ``nn.Linear``."""
    if not facts.is_call(value, "ModuleList") or len(value.args) != 1:
        return False
    inner = value.args[0]
    if type(inner) in (ast.ListComp, ast.GeneratorExp):
        return facts.is_call(inner.elt, "Linear")
    return type(inner) in (ast.List, ast.Tuple) and sum(facts.is_call(e, "Linear") for e in inner.elts) >= 2


def _iterated(cls: ast.ClassDef, attribute: str) -> bool:
    """Whether ``self.<attribute>`` is iterated in the class (``for h in self.heads``, a comprehension)."""
    for node in walk(cls):
        if type(node) in (ast.For, ast.AsyncFor, ast.comprehension):
            if type(node.iter) is ast.Attribute and node.iter.attr == attribute:
                return True
    return False


_COMPOUND = (
    ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try, ast.FunctionDef,
    ast.AsyncFunctionDef, ast.ClassDef, ast.Match,
) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())


def _blocks(node: ast.AST) -> Iterator[list[ast.stmt]]:
    """Every statement list under ``node`` (bodies, ``else``, ``finally``, handlers, cases)."""
    for inner in walk(node):
        for name in ("body", "orelse", "finalbody"):
            value = getattr(inner, name, None)
            if type(value) is list and value and isinstance(value[0], ast.stmt):
                yield value


def _layer_call(node: ast.AST, layers: set[str]) -> bool:
    """``<x>.<layer>(<one argument>)`` for one of ``layers``: a call TF008 may fuse."""
    return (
        type(node) is ast.Call and type(node.func) is ast.Attribute and node.func.attr in layers
        and len(node.args) == 1 and not node.keywords
    )


def _two_called(facts: Facts, cls: ast.ClassDef, layers: set[str]) -> bool:
    """Whether two of ``layers`` are called on one argument somewhere in the class: what
    :func:`_called_alike` needs before it walks the class's blocks to compare the inputs."""
    called = {call.func.attr for call in facts.under(facts.all_calls, cls) if _layer_call(call, layers)}
    return len(called) >= 2


def _called_alike(cls: ast.ClassDef, layers: set[str]) -> bool:
    """Whether two of ``layers`` are called (``self.<a>(x)``) in one block on the same value of one input.

    TF008's clusters, widened: a statement changes an input only by binding a name it reads.
    """
    for block in _blocks(cls):
        seen: dict[tuple[str, int], str] = {}
        binds: list[set[str]] = []
        for statement in block:
            if not isinstance(statement, _COMPOUND):  # a call in a compound header never fuses
                for call in walk(statement):
                    if not _layer_call(call, layers):
                        continue
                    given = call.args[0]
                    reads = {n.id for n in walk(given) if type(n) is ast.Name}
                    version = max((i for i, bound in enumerate(binds) if bound & reads), default=-1)
                    if seen.setdefault((ast.dump(given), version), call.func.attr) != call.func.attr:
                        return True
            binds.append({n.id for n in walk(statement) if type(n) is ast.Name and type(n.ctx) is ast.Store})
    return False


def _plain_linear(facts: Facts, value: ast.AST) -> bool:
    """``nn.Linear(...)`` with no ``*args`` (TF008 cannot compare those)."""
    return facts.is_call(value, "Linear") and not any(type(a) is ast.Starred for a in value.args)


def _fused_linear(facts: Facts) -> bool:
    """TF008: one method calls two ``nn.Linear`` layers of a module on the same input (or iterates
    a ``ModuleList`` of them)."""
    for cls, init, self_ in _inits(facts):
        layers = set()
        for attribute, value in _self_assignments(facts, init, self_):
            if _linear_list(facts, value) and _iterated(cls, attribute):
                return True
            if _plain_linear(facts, value):
                layers.add(attribute)
        if len(layers) >= 2 and _two_called(facts, cls, layers) and _called_alike(cls, layers):
            return True
    return False


def _masked_select(facts: Facts) -> Iterator[ast.AST]:
    """TF009: ``x[<nonzero or where>]``, ``index_select`` of a nonzero, ``x.flatten()[m.flatten()]``,
    ``torch.stack([v for v, m in zip(x, mask) if m])``."""
    for node in facts.subscripts:
        key = node.slice
        if facts.is_call(key, *_FLATTENING, "squeeze") and type(key.func) is ast.Attribute:
            if facts.is_call(node.value, *_FLATTENING) or facts.is_call(key.func.value, "nonzero"):
                yield node
                continue
        if facts.is_call(key, "nonzero", "where"):
            yield node
    yield from (call for call in facts.calls("index_select") if facts.contains_call(_operands(call), "nonzero"))
    for call in facts.calls("stack"):
        if any(
            type(value) in (ast.ListComp, ast.GeneratorExp)
            and any(facts.is_call(generator.iter, "zip") for generator in value.generators)
            for value in call.args
        ):
            yield call


def _factors(facts: Facts, node: ast.AST) -> list[ast.AST] | None:
    """The factors of ``a * b``, ``torch.mul(a, b)``, ``a.mul(b)``; None for anything else."""
    if type(node) is ast.BinOp and type(node.op) is ast.Mult:
        return [node.left, node.right]
    if facts.is_call(node, "mul", "multiply"):
        return _operands(node)
    return None


def _uncast(node: ast.AST) -> ast.AST:
    """``node`` without outer dtype casts (``.float()``, ``.to(...)``, ``.type_as(...)``)."""
    while type(node) is ast.Call and type(node.func) is ast.Attribute and node.func.attr in _CASTS:
        node = node.func.value
    return node


def _complemented(facts: Facts, node: ast.AST) -> ast.AST | None:
    """``m`` of ``1 - m``, ``~m``, ``m.logical_not()``, ``torch.logical_not(m)`` (under casts too)."""
    if type(node) is ast.BinOp and type(node.op) is ast.Sub and type(node.left) is ast.Constant:
        return node.right
    node = _uncast(node)
    if type(node) is ast.UnaryOp and type(node.op) is ast.Invert:
        return node.operand
    if facts.is_call(node, "logical_not"):
        return node.func.value if type(node.func) is ast.Attribute and not node.args else _operands(node)[-1]
    return None


def _zero_one(facts: Facts, node: ast.AST, seen: frozenset[str] = frozenset()) -> bool:
    """Whether ``node`` could be a 0/1 mask: TF010 proves it is; this only rules out what cannot be.

    A local counts when every value bound to it in its scope could be (as the rule asks).
    """
    kind = type(node)
    if kind is ast.Name:
        if node.id in seen:
            return True
        values = facts.scope_values(node)
        return values is not None and all(_zero_one(facts, value, seen | {node.id}) for value in values)
    if kind is ast.Compare:
        return True
    if kind is ast.Subscript:
        return _zero_one(facts, node.value, seen)
    if kind is ast.UnaryOp:
        return type(node.op) is ast.Invert
    if kind is ast.BinOp:
        if type(node.op) in (ast.BitAnd, ast.BitOr, ast.BitXor):
            return True
        if type(node.op) is ast.Mult:
            return _zero_one(facts, node.left, seen) and _zero_one(facts, node.right, seen)
        return type(node.op) is ast.Sub and type(node.left) is ast.Constant and _zero_one(facts, node.right, seen)
    if kind is ast.Call:
        name = facts.name(node.func)
        if name in _BOOLEAN or any(last_name(value) == "bool" for value in _arguments(node)):
            return True  # a boolean function, or a cast (``dtype=torch.bool``, ``.to(torch.bool)``)
        return type(node.func) is ast.Attribute and name in _KEEPS_VALUES and _zero_one(facts, node.func.value, seen)
    return False


def _torch_where(facts: Facts) -> Iterator[ast.AST]:
    """TF010: ``m * a + (1 - m) * b`` or ``m * a + (1 - m)`` (``m`` and its complement, the same code), or
    ``y = x.clone(); y[c] = v``."""
    for node in facts.binops:
        if type(node.op) is not ast.Add:
            continue
        # a term that is no product is its own factor: ``m * a + (1 - m)`` blends with 1
        left, right = _factors(facts, node.left) or [node.left], _factors(facts, node.right) or [node.right]
        for masks, others in ((left, right), (right, left)):
            cores = [ast.dump(_uncast(core)) for core in map(partial(_complemented, facts), others) if core is not None]
            if cores and any(ast.dump(_uncast(mask)) in cores and _zero_one(facts, mask) for mask in masks):
                yield node
                break
    yield from _clone_then_store(facts)


def _clone_then_store(facts: Facts) -> Iterator[ast.AST]:
    """``y = x.clone()`` and, as the next statement, ``y[c] = v`` with one index that is no
    slice and no literal (TF010 proves ``c`` boolean)."""
    if not facts.calls_any("clone"):
        return  # most files: no assignment need be read
    cloned = {
        id(node): node.targets[0].id
        for node in facts.assigns
        if type(node) is ast.Assign and len(node.targets) == 1 and type(node.targets[0]) is ast.Name
        and facts.is_call(node.value, "clone")
    }
    if not set(cloned.values()) & {_stored_name(node) for node in facts.assigns}:
        return  # no store into a clone anywhere
    scopes = {id(scope): scope for scope in map(facts.scope_of, (n for n in facts.assigns if id(n) in cloned))}
    for node in (inner for scope in scopes.values() for inner in walk(scope or facts.tree)):
        for name in ("body", "orelse", "finalbody"):
            statements = getattr(node, name, None)
            if type(statements) is not list:
                continue
            for first, second in zip(statements, statements[1:]):
                if id(first) in cloned and _stored_name(second) == cloned[id(first)]:
                    yield first


def _stored_name(statement: ast.AST) -> str | None:
    """``y`` of ``y[c] = v`` with one index that is no slice and no literal."""
    if type(statement) is not ast.Assign or len(statement.targets) != 1:
        return None
    target = statement.targets[0]
    if type(target) is ast.Subscript and type(target.value) is ast.Name:
        return target.value.id if type(target.slice) not in (ast.Slice, ast.Tuple, ast.Constant) else None
    return None


#: the rules whose findings lie in one expression or statement: each matcher yields the nodes it
#: matched (the anchors), so that the runner can leave the definitions holding none unparsed
#: (:mod:`torchfix.narrowing`)
ANCHORS: dict[str, Callable[[Facts], Iterable[ast.AST]]] = {
    "TF002": _device_at_creation,
    "TF005": _pairwise_cdist,
    "TF006": _cosine_similarity,
    "TF007": _f_normalize,
    "TF009": _masked_select,
    "TF010": _torch_where,
}


def _anchored(anchors: Callable[[Facts], Iterable[ast.AST]]) -> Callable[[Facts], bool]:
    return lambda facts: next(iter(anchors(facts)), None) is not None


#: each rule's matcher by its code; a rule without one is never ruled out
MATCHERS: dict[str, Callable[[Facts], bool]] = {
    "TF001": _dataset_folder,
    "TF003": _register_buffer,
    "TF004": _builtin_identity,
    "TF008": _fused_linear,
    **{code: _anchored(anchors) for code, anchors in ANCHORS.items()},
}


def rule_may_match(code: str, facts: Facts) -> bool:
    """Whether the rule ``code`` could report anything in a file with these facts."""
    matcher = MATCHERS.get(code)
    return matcher is None or matcher(facts)


def matching(facts: Facts, codes: Sequence[str]) -> tuple[str, ...]:
    """Those of the rules ``codes`` that could report anything in the module with these ``facts``.

    A matcher that raises is a bug in its rule: :class:`~torchfix.crashes.RuleCrashed`.
    """
    return tuple(code for code in codes if _asked(code, facts))


def _asked(code: str, facts: Facts) -> bool:
    try:
        return rule_may_match(code, facts)
    except RecursionError:
        raise
    except Exception as error:
        raise RuleCrashed([], [RuleCrash.of(code, error)]) from error
