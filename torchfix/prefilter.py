"""The prefilter: what a file's Python AST shows, so most files never get a LibCST parse.

Python's own syntax check already builds each file's ``ast`` tree (in C, about
ten times faster than LibCST). One walk over it collects a few :class:`Facts`
(the names the file calls, its operators, some shapes of code) and each rule's
matcher here (``MATCHERS[code](facts)``, also ``Rule.may_match``) says whether
the rule could report anything in such a file. A matcher is an
over-approximation of its rule, never sharper: a file it turns away would have
produced no finding. ``tests/test_prefilter.py`` holds the corpus to that,
``tests/test_rule_examples.py`` every rule example, ``tests/test_fuzz.py``
generated programs, and ``benchmarks/prefilter.py`` real libraries.

The matchers live here, not in the rule modules, so that the runner can rule a
file out without importing any rule (or LibCST).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Callable, Sequence

from torchfix.crashes import RuleCrash, RuleCrashed

#: method names that flatten a tensor (TF009's ``x.flatten()[m.flatten()]``)
_FLATTENING = frozenset({"flatten", "view", "reshape"})


@dataclass
class Facts:
    """What one walk over a module's AST found."""

    #: the last name of every call's target (``sum`` for ``x.sum()`` and ``torch.sum(x)``)
    called: set[str] = field(default_factory=set)
    #: the same for calls without arguments (``nn.Sequential()``)
    called_bare: set[str] = field(default_factory=set)
    #: names bound under another name (``from torch import zeros as z``): a call of them hides behind the alias
    renamed: set[str] = field(default_factory=set)
    #: every ``.attr`` read or written
    attributes: set[str] = field(default_factory=set)
    #: binary and augmented-assignment operator classes (``ast.Div``)
    operators: set[type] = field(default_factory=set)
    augmented: set[type] = field(default_factory=set)
    unary: set[type] = field(default_factory=set)
    #: the last name of every class base
    bases: set[str] = field(default_factory=set)
    #: names of every function defined
    functions: set[str] = field(default_factory=set)
    #: ``number - e`` (a complement, ``1 - m``)
    number_minus: bool = False
    #: a subscript with ``None`` among its indices (``a[:, None]``)
    none_index: bool = False
    #: a subscript assigned to (``y[m] = v``)
    subscript_store: bool = False
    #: ``x.flatten()[m.flatten()]`` (or view/reshape)
    flat_subscript: bool = False
    #: ``lambda x: x``
    identity_lambda: bool = False
    #: ``def forward(self, x): return x`` (after any docstring)
    identity_forward: bool = False

    def calls(self, *names: str) -> bool:
        """Whether the file may call something named one of ``names`` (under an alias too)."""
        return any(name in self.called or name in self.renamed for name in names)

    def calls_bare(self, name: str) -> bool:
        return name in self.called_bare or name in self.renamed

    def subclasses(self, name: str) -> bool:
        """Whether a class may derive from something named ``name`` (under an alias too)."""
        return name in self.bases or name in self.renamed

    @property
    def divides(self) -> bool:
        """``a / b``, ``a /= b``, ``a.div(b)``, ``torch.true_divide(a, b)``."""
        return ast.Div in self.operators or ast.Div in self.augmented or self.calls("div", "true_divide")

    @property
    def unsqueezes(self) -> bool:
        """``a[:, None]`` or ``a.unsqueeze(1)``."""
        return self.none_index or self.calls("unsqueeze")


def _last_name(node: ast.expr) -> str | None:
    if type(node) is ast.Name:
        return node.id
    if type(node) is ast.Attribute:
        return node.attr
    return None


def _holds_none(index: ast.expr) -> bool:
    items = index.elts if type(index) is ast.Tuple else [index]
    return any(type(item) is ast.Constant and item.value is None for item in items)


def _flattening(node: ast.expr) -> bool:
    return type(node) is ast.Call and type(node.func) is ast.Attribute and node.func.attr in _FLATTENING


def _returns_input(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> bool:
    arguments = [a.arg for a in node.args.args]
    if type(node) is ast.Lambda:
        return type(node.body) is ast.Name and node.body.id in arguments
    body = node.body
    if body and type(body[0]) is ast.Expr and type(body[0].value) is ast.Constant:
        body = body[1:]  # a docstring
    return len(body) == 1 and type(body[0]) is ast.Return and type(body[0].value) is ast.Name


def facts_of(tree: ast.AST) -> Facts:
    """One walk: every fact a rule's prefilter may ask about."""
    facts = Facts()
    called, attributes, operators = facts.called, facts.attributes, facts.operators
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Attribute:
            attributes.add(node.attr)
        elif kind is ast.Call:
            name = _last_name(node.func)
            if name is not None:
                called.add(name)
                if not node.args and not node.keywords:
                    facts.called_bare.add(name)
        elif kind is ast.BinOp:
            operators.add(type(node.op))
            if type(node.op) is ast.Sub and type(node.left) is ast.Constant:
                facts.number_minus = True
        elif kind is ast.Subscript:
            if _holds_none(node.slice):
                facts.none_index = True
            if type(node.ctx) is ast.Store:
                facts.subscript_store = True
            if _flattening(node.value) and _flattening(node.slice):
                facts.flat_subscript = True
        elif kind is ast.UnaryOp:
            facts.unary.add(type(node.op))
        elif kind is ast.AugAssign:
            facts.augmented.add(type(node.op))
        elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
            facts.functions.add(node.name)
            if node.name == "forward" and _returns_input(node):
                facts.identity_forward = True
        elif kind is ast.Lambda:
            if _returns_input(node):
                facts.identity_lambda = True
        elif kind is ast.ClassDef:
            facts.bases.update(name for name in map(_last_name, node.bases) if name is not None)
        elif kind is ast.ImportFrom:
            facts.renamed.update(alias.name for alias in node.names if alias.asname)
    return facts


#: every tensor constructor TF002 and TF003 rewrite (``tests/test_prefilter.py`` holds
#: this to be a superset of the rules' own lists)
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


def _dataset_folder(facts: Facts) -> bool:
    return facts.subclasses("Dataset") and "__getitem__" in facts.functions


def _device_at_creation(facts: Facts) -> bool:
    moved = facts.calls("to", "cuda", "type_as")
    shaped = "shape" in facts.attributes or facts.calls("size")
    return facts.calls(*CONSTRUCTORS) and (moved or shaped)


def _register_buffer(facts: Facts) -> bool:
    built = "__init__" in facts.functions and facts.calls(*CONSTRUCTORS, "Parameter")
    return bool(facts.bases) and (built or facts.calls("register_buffer"))


def _builtin_identity(facts: Facts) -> bool:
    return facts.identity_forward or facts.identity_lambda or facts.calls_bare("Sequential")


def _pairwise_cdist(facts: Facts) -> bool:
    pairwise = ast.Sub in facts.operators and facts.unsqueezes and facts.calls("norm", "vector_norm", "sum")
    expansion = ast.Sub in facts.operators and facts.calls("einsum")  # a2 + b2 - 2 * einsum(...)
    return pairwise or expansion or facts.calls("addmm", "addmm_")


def _cosine_similarity(facts: Facts) -> bool:
    norm = facts.calls("norm", "vector_norm", "sqrt", "pow") or ast.Pow in facts.operators
    return facts.calls("cosine_similarity") or (facts.divides and facts.calls("sum", "dot") and norm)


def _f_normalize(facts: Facts) -> bool:
    root = facts.calls("sqrt", "pow") or ast.Pow in facts.operators
    return facts.divides and (facts.calls("norm", "vector_norm") or (facts.calls("sum") and root))


def _fused_linear(facts: Facts) -> bool:
    return bool(facts.bases) and facts.calls("Linear")


def _masked_select(facts: Facts) -> bool:
    stacked = facts.calls("stack") and facts.calls("zip")
    return facts.calls("nonzero", "where") or stacked or facts.flat_subscript


def _torch_where(facts: Facts) -> bool:
    product = ast.Mult in facts.operators or facts.calls("mul", "multiply")
    complement = facts.number_minus or ast.Invert in facts.unary or facts.calls("logical_not")
    blend = ast.Add in facts.operators and product and complement
    return blend or (facts.calls("clone") and facts.subscript_store)


#: each rule's matcher by its code; a rule without one is never ruled out
MATCHERS: dict[str, Callable[[Facts], bool]] = {
    "TF001": _dataset_folder,
    "TF002": _device_at_creation,
    "TF003": _register_buffer,
    "TF004": _builtin_identity,
    "TF005": _pairwise_cdist,
    "TF006": _cosine_similarity,
    "TF007": _f_normalize,
    "TF008": _fused_linear,
    "TF009": _masked_select,
    "TF010": _torch_where,
}


def rule_may_match(code: str, facts: Facts) -> bool:
    """Whether the rule ``code`` could report anything in a file with these facts."""
    matcher = MATCHERS.get(code)
    return matcher is None or matcher(facts)


def may_match(tree: ast.Module, codes: Sequence[str]) -> bool:
    """Whether any of the rules ``codes`` could report anything in the module ``tree``.

    A matcher that raises is a bug in its rule: :class:`~torchfix.crashes.RuleCrashed`.
    """
    facts = facts_of(tree)
    return any(_asked(code, facts) for code in codes)


def _asked(code: str, facts: Facts) -> bool:
    try:
        return rule_may_match(code, facts)
    except RecursionError:
        raise
    except Exception as error:
        raise RuleCrashed([], [RuleCrash.of(code, error)]) from error
