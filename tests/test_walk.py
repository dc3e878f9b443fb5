"""The read-only walker: no visitor outlives its walk."""

from __future__ import annotations

import gc
import weakref

import libcst as cst

from torchfix.walk import walk


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
