"""The read-only walker: LibCST's visiting order, and no visitor outlives its walk."""

from __future__ import annotations

import dataclasses
import gc
import inspect
import weakref

import libcst as cst
import pytest

from conftest import CORPUS
from torchfix.rules import all_rules
from torchfix.walk import _FORMATTING_TYPES, child_fields, walk


class _Recorder(cst.CSTVisitor):
    """Visits and leaves of code nodes (the walker leaves whitespace and punctuation out)."""

    CODE = (cst.Module, cst.BaseStatement, cst.BaseSmallStatement, cst.BaseSuite, cst.BaseExpression,
            cst.Arg, cst.Param, cst.Parameters, cst.BaseSlice, cst.SubscriptElement, cst.Decorator)

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, int]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, self.CODE):
            self.events.append(("visit", id(node)))
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, self.CODE):
            self.events.append(("leave", id(original_node)))


def _sources() -> list[str]:
    examples = [example.before for rule in all_rules() for example in rule.EXAMPLES]
    return [path.read_text(encoding="utf-8") for path in sorted(CORPUS.rglob("*.py"))] + examples


@pytest.mark.parametrize("source", _sources(), ids=lambda source: f"{len(source)}-chars")
def test_code_nodes_come_in_libcst_order(source):
    module = cst.parse_module(source)
    theirs, mine = _Recorder(), _Recorder()
    module.visit(theirs)
    walk(module, [mine])
    assert mine.events and mine.events == theirs.events


def test_a_visitor_class_made_inside_a_function_is_not_kept_alive():
    """Rules define visitor classes in functions; a cache holding them held every file's tree."""
    module = cst.parse_module("x = y + 1\n")

    def scan() -> weakref.ref:
        class Local(cst.CSTVisitor):
            def visit_Name(self, node: cst.Name) -> None:
                self.seen = node.value

        walk(module, [Local()])
        return weakref.ref(Local)

    local = scan()
    gc.collect()
    assert local() is None


class _Broken(_Recorder):
    """Records like _Recorder, and raises on the first Name it visits."""

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Name):
            raise LookupError(node.value)
        return super().on_visit(node)


def test_a_visitor_that_raises_is_dropped_and_the_others_walk_on():
    module = cst.parse_module("f(g(x), y)\nz = 1\n")
    alone, beside, broken = _Recorder(), _Recorder(), _Broken()
    walk(module, [alone])
    failures: list = []
    walk(module, [broken, beside], failures)
    assert beside.events == alone.events
    assert [(visitor, str(error)) for visitor, error in failures] == [(broken, "f")]
    assert ("visit", id(module)) in broken.events
    assert all(kind == "visit" for kind, _ in broken.events), "no call to a dropped visitor, leaves included"


def test_without_a_failures_list_the_exception_propagates():
    with pytest.raises(LookupError):
        walk(cst.parse_module("f(x)\n"), [_Broken(), _Recorder()])


def test_recursion_errors_always_propagate():
    class Deep(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            raise RecursionError

    with pytest.raises(RecursionError):
        walk(cst.parse_module("x\n"), [Deep(), _Recorder()], [])


#: a module with every LibCST node class that has two or more fields (the order test below)
ZOO = '''\
"""Every node class with two or more code fields, for the walker's order test."""
from __future__ import annotations
import os.path as p, sys
from . import a as b
from .. import c
x: int = 1
y = z = f(a, *b, k=1, **kw)
y += 1
assert x, "m"
del x
r = a.b[c:d:e, ::2, 1:]
s = -a + b * c ** d and not e or f
t = a < b <= c is not d in e
u = "a" "b" f"{x!r:>{w}}"
v = [i for i in range(3) if i async for j in k]
w = {k: v for k, v in d.items()}
w3 = {a for a in b}
w4 = (a for a in b)
w5 = {"k": 1, **m}
w6 = a if b else c
w7 = lambda q, /, r=1, *s, t, u=2, **v: q
w8 = (n := 10)
type Alias[T: int, *Ts, **P] = list[T]
@decorator(1)
class C[T](Base, metaclass=Meta):
    def method[U](self, a: int = 1, /, b=2, *args, c, d: str = "", **kwargs) -> int:
        return a
    @staticmethod
    async def run(x):
        async with a as b, c:
            pass
        async for i in it:
            await x
        else:
            pass
if a:
    pass
elif b:
    raise E from F
else:
    pass
while x:
    break
else:
    pass
for i, j in pairs:
    continue
try:
    pass
except E as e:
    pass
else:
    pass
finally:
    pass
try:
    pass
except* E as e:
    pass
with open(f) as g: pass
match command:
    case Point(x=0, y=yy) if yy > 0:
        pass
    case {"k": v, **rest}:
        pass
    case [1, *others] | (2 as two):
        pass
    case str() as s:
        pass
def g(*, a): yield a; return
global gg
'''
#: syntax of newer LibCST versions, by the node class it needs (the minimum LibCST lacks them)
NEWER = {
    "LazyImportFrom": "lazy from d import e\n",
    "TemplatedString": 'u2 = t"{y!s:<3}"\n',
    "StarredDictComp": "w2 = {**d for d in ds}\n",
}


def _zoo() -> cst.Module:
    return cst.parse_module(ZOO + "".join(source for name, source in NEWER.items() if hasattr(cst, name)))


def _node_classes_with_fields() -> list[type]:
    """LibCST's concrete node classes (not formatting) with two or more fields, whose order matters."""
    return [
        cls
        for cls in vars(cst).values()
        if isinstance(cls, type) and issubclass(cls, cst.CSTNode) and not inspect.isabstract(cls)
        and dataclasses.is_dataclass(cls) and not issubclass(cls, _FORMATTING_TYPES)
        and len(child_fields(cls)) >= 2
    ]


def test_the_zoo_holds_every_node_class():
    """A LibCST upgrade that adds a node class fails here: add it to ZOO, then check the order test."""
    seen: set[type] = set()

    class Types(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            seen.add(type(node))
            return True

    _zoo().visit(Types())
    missing = sorted(cls.__name__ for cls in _node_classes_with_fields() if cls not in seen)
    assert missing == [], f"node classes the walker's order is not tested on: {missing}"


def test_the_walker_follows_libcst_on_every_node_class():
    """The child order comes from public dataclass fields and walk._SOURCE_ORDER; LibCST's own visit is the judge."""
    module = _zoo()
    theirs, mine = _Recorder(), _Recorder()
    module.visit(theirs)
    walk(module, [mine])
    assert mine.events and mine.events == theirs.events


class _Statements(cst.CSTVisitor):
    """Hooks on compound statements only: the walker need not enter expressions for it."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, int]] = []

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.events.append(("class", id(node)))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.events.append(("left def", id(original_node)))

    def visit_If(self, node: cst.If) -> None:
        self.events.append(("if", id(node)))

    def visit_Module(self, node: cst.Module) -> None:
        self.events.append(("module", id(node)))


@pytest.mark.parametrize("source", _sources()[:40], ids=lambda source: f"{len(source)}-chars")
def test_a_walk_for_compound_statements_only_calls_the_same_hooks_in_the_same_order(source):
    module = cst.parse_module(source)
    theirs, mine = _Statements(), _Statements()
    module.visit(theirs)
    walk(module, [mine])
    assert mine.events == theirs.events


def test_the_zoo_walked_for_compound_statements_only_calls_the_same_hooks():
    module = _zoo()
    theirs, mine = _Statements(), _Statements()
    module.visit(theirs)
    walk(module, [mine])
    assert ("class", id(next(n for n in module.body if isinstance(n, cst.ClassDef)))) in mine.events
    assert mine.events == theirs.events


def test_expressions_are_entered_only_for_a_visitor_that_looks_at_them(monkeypatch):
    import torchfix.walk as walker

    entered: list[type] = []
    fields = walker.statement_fields

    def recording(cls):
        entered.append(cls)
        return fields(cls)

    monkeypatch.setattr(walker, "statement_fields", recording)
    module = cst.parse_module("class A:\n    def f(self, x):\n        return [y + 1 for y in x]\n")
    walk(module, [_Statements()])
    assert cst.SimpleStatementLine in entered and cst.Parameters in entered
    assert cst.Return not in entered and cst.ListComp not in entered, "a small statement's inside is skipped"
    entered.clear()

    class Names(_Statements):
        def visit_Name(self, node: cst.Name) -> None:
            self.events.append(("name", id(node)))

    walk(module, [Names()])
    assert entered == [], "a visitor of names walks every node"


def test_the_class_rules_walk_statements_only_and_the_expression_rules_everything():
    from torchfix.walk import _statements_only

    assert {rule.CODE for rule in all_rules() if _statements_only(rule)} == {"TF001", "TF003", "TF008"}
