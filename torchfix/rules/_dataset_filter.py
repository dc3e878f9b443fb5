"""TF001: the file filter a folder dataset applies, as torchvision's ``extensions=`` or ``is_valid_file=``."""

from __future__ import annotations

from typing import Callable

import libcst as cst
import libcst.matchers as m

from torchfix.names import NameTable
from torchfix.patterns import code, parenthesized, substitute
from torchfix.rules._dataset_symbols import (
    GLOB_MAGIC,
    IMG_EXTENSIONS,
    ClassDir,
    Decline,
    FileName,
    FilePath,
    Fill,
    Local,
    Loop,
    free_names,
    snippet,
    string_value,
    string_values,
)


class FileFilter:
    """The file-filter part of :class:`~torchfix.rules._datasets.FolderDataset`."""

    def _glob(self, loop: Loop, target: cst.BaseExpression, args: list | None) -> None:
        parts = self._join_parts(args[0]) if args and len(args) == 1 else None
        pattern = string_value(parts[-1]) if parts and len(parts) >= 2 else None
        if pattern is None or not isinstance(self._path_steps(loop, parts[:-1], "str"), ClassDir):
            raise Decline("the glob pattern is not os.path.join(<class folder>, '<pattern>')")
        loop.terms.extend(self._pattern_terms(pattern, hidden=True))
        self._bind_files(loop, target, FilePath("str"), "glob")

    def _pattern_terms(self, pattern: str, hidden: bool) -> list[cst.BaseExpression]:
        """``*`` or ``*<suffix>`` as filter terms (POSIX: case-sensitive; glob.glob skips hidden names)."""
        suffix = pattern[1:]
        if not pattern.startswith("*") or any(c in GLOB_MAGIC or c in "/\\" for c in suffix):
            raise Decline(f"the glob pattern {pattern!r} has no exact is_valid_file form in torchfix")
        path = cst.Name(self.path_name)
        terms: list[cst.BaseExpression] = []
        if hidden:
            starts = cst.Call(
                cst.Attribute(self._basename(path), cst.Name("startswith")), [cst.Arg(cst.SimpleString('"."'))]
            )
            terms.append(cst.UnaryOperation(cst.Not(), starts))
        if suffix:
            literal = cst.SimpleString('"' + suffix.replace("\\", "\\\\").replace('"', '\\"') + '"')
            terms.append(cst.Call(cst.Attribute(path, cst.Name("endswith")), [cst.Arg(literal)]))
        return terms

    def _basename(self, argument: cst.BaseExpression) -> cst.Call:
        func = self._reference("os.path.basename")
        self.basename_code = code(func)
        return cst.Call(func, [cst.Arg(argument)])

    def _path_call(self, argument: cst.BaseExpression) -> cst.Call:
        return cst.Call(self._reference("pathlib.Path"), [cst.Arg(argument)])

    def _term(self, loop: Loop, test: cst.BaseExpression) -> cst.BaseExpression:
        """An ``if`` over the file, rewritten over is_valid_file's path parameter."""
        path = cst.Name(self.path_name)
        mapping: dict[str, cst.BaseExpression] = {}
        for name in free_names(test):
            symbol = loop.vars.get(name)
            if symbol is None or name in mapping:
                continue
            if isinstance(symbol, FileName):
                mapping[name] = self._basename(path)
            elif isinstance(symbol, FilePath):
                mapping[name] = path if symbol.kind == "str" else self._path_call(path)
            elif isinstance(symbol, Local):
                mapping[name] = self._term(loop, symbol.expr)
            else:
                raise Decline(f"the file filter depends on the class folder: `{snippet(test)}`")
        checked = self._value(test, "the file filter", allowed=frozenset(mapping))
        simplify = _SimplifyBasename(self.path_name, self.basename_code, self.names, self._suffixes)
        return substitute(checked, mapping).visit(simplify)

    def _suffixes(self, node: cst.BaseExpression) -> tuple[str, ...] | None:
        """String literals, or a module-level tuple constant the class does not shadow."""
        if isinstance(node, cst.Name) and node.value not in self.params and node.value not in self.env:
            return self.constants.get(node.value)
        return string_values(node)

    def _filter(self, fill: Fill, image: bool) -> tuple[cst.BaseExpression | None, cst.BaseExpression | None]:
        """(is_valid_file body, extensions): extensions for torchvision's own suffix test."""
        terms = list(fill.terms)
        suffixes = _lower_suffix_test(terms[0], self.path_name, self._suffixes) if len(terms) == 1 else None
        if suffixes is not None and image and set(suffixes) == set(IMG_EXTENSIONS):
            return None, None
        if suffixes is not None and not image:
            return None, terms[0].args[0].value
        if not terms:
            return cst.Name("True"), None
        if len(terms) == 1:
            return terms[0], None

        def operand(term: cst.BaseExpression) -> cst.BaseExpression:
            loose = isinstance(term, (cst.IfExp, cst.Lambda, cst.NamedExpr)) or m.matches(
                term, m.BooleanOperation(operator=m.Or())
            )
            return parenthesized(term) if loose else term

        combined = operand(terms[0])
        for term in terms[1:]:
            combined = cst.BooleanOperation(combined, cst.And(), operand(term))
        return combined, None


class _SimplifyBasename(cst.CSTTransformer):
    """Tests of a path's suffix need no basename: ``os.path.basename(p).endswith(s)`` -> ``p.endswith(s)``
    (suffixes without a separator), ``os.path.splitext(os.path.basename(p))[1]`` -> ``os.path.splitext(p)[1]``.
    """

    def __init__(
        self,
        path_name: str,
        basename: str | None,
        names: NameTable,
        suffixes: Callable[[cst.BaseExpression], tuple[str, ...] | None],
    ) -> None:
        super().__init__()
        self.path_name = path_name
        #: the code of the fix's own os.path.basename reference
        self.basename = basename
        self.names = names
        self.suffixes = suffixes

    def _is_basename(self, node: cst.BaseExpression) -> bool:
        return m.matches(node, m.Call(args=[m.Arg(value=m.Name(self.path_name), keyword=None, star="")])) and (
            code(node.func) == self.basename
        )

    def leave_Subscript(self, original_node, updated_node):
        extension = m.Subscript(
            value=m.Call(args=[m.Arg(keyword=None, star="")]),
            slice=[
                m.SubscriptElement(slice=m.Index(value=m.Integer("1") | m.UnaryOperation(m.Minus(), m.Integer("1"))))
            ],
        )
        splitext = m.matches(updated_node, extension) and (
            self.names.qualified(updated_node.value.func) == "os.path.splitext"
        )
        if not splitext:
            return updated_node
        argument = updated_node.value.args[0]
        if not self._is_basename(argument.value):
            return updated_node
        call = updated_node.value.with_changes(args=[argument.with_changes(value=cst.Name(self.path_name))])
        return updated_node.with_changes(value=call)

    def leave_Call(self, original_node, updated_node):
        func = updated_node.func
        if not m.matches(func, m.Attribute(attr=m.Name("endswith"))) or len(updated_node.args) != 1:
            return updated_node
        suffixes = self.suffixes(updated_node.args[0].value)
        if suffixes is None or not all("/" not in s and "\\" not in s for s in suffixes):
            return updated_node
        receiver = func.value
        path = cst.Name(self.path_name)
        if self._is_basename(receiver):
            receiver = path
        elif m.matches(receiver, m.Call(func=m.Attribute(attr=m.Name("lower")), args=[])) and self._is_basename(
            receiver.func.value
        ):
            receiver = receiver.with_changes(func=receiver.func.with_changes(value=path))
        return updated_node.with_changes(func=func.with_changes(value=receiver))


def _lower_suffix_test(
    term: cst.BaseExpression, path_name: str, resolve: Callable[[cst.BaseExpression], tuple[str, ...] | None]
) -> tuple[str, ...] | None:
    """``path.lower().endswith(<lowercase suffixes>)`` -> the suffixes (torchvision's extension test)."""
    pattern = m.Call(
        func=m.Attribute(
            value=m.Call(func=m.Attribute(value=m.Name(path_name), attr=m.Name("lower")), args=[]),
            attr=m.Name("endswith"),
        ),
        args=[m.Arg(keyword=None, star="")],
    )
    if not m.matches(term, pattern):
        return None
    suffixes = resolve(term.args[0].value)
    if suffixes is None or not all(s and s == s.lower() and "/" not in s for s in suffixes):
        return None
    return suffixes
