"""The read-only walker: LibCST's visiting order, and no visitor outlives its walk."""

from __future__ import annotations

import gc
import weakref

import libcst as cst
import pytest

from conftest import CORPUS
from torchfix.rules import all_rules
from torchfix.walk import walk


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
