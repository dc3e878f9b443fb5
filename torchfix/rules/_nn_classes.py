"""nn.Module class analysis for the class-level rules TF003 and TF008.

A class rule needs facts no single node carries: whether a class is an
``nn.Module`` (directly or through classes of the same file), its methods and
their ``self`` names, every ``.name`` attribute use in the file with the class
and method it sits in, the parent of each node, and the dotted words of the
file's string literals (a layer named in a string is looked up by name).
:func:`file_index` builds these in one walk, only when a rule has found a
candidate, and shares them between the rules of one file.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterable, Iterator

import libcst as cst

from torchfix.names import NameTable, dotted_name
from torchfix.patterns import code
from torchfix.prefilter import FRAMEWORK_MODULES
from torchfix.rule import FileContext
from torchfix.rules._suites import assignment_targets
from torchfix.walk import walk

MODULE_BASES = ("torch.nn.Module", "torch.nn.modules.module.Module")
#: nn.Module subclasses of common frameworks, by package and class name (any module path between)
FRAMEWORK_PACKAGES = frozenset({"mmengine", "mmcv", "lightning", "pytorch_lightning", "transformers", "diffusers"})
#: compound statements whose body may not run: a definition there is conditional
CONDITIONAL = (cst.If, cst.Else, cst.Try, cst.TryStar, cst.ExceptHandler, cst.ExceptStarHandler, cst.Finally, cst.Match)
LOOPS = (cst.For, cst.While)
NESTED_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
#: the name prefix of the load hooks TF008 writes; their string literals are not user names
HOOK_PREFIX = "_load_unfused_"
SAVE_HOOK_PREFIX = "_save_unfused_"
#: TF008's checkpoint hooks (see also torchfix.package_index.GENERATED_HOOKS)
HOOK_PREFIXES = (HOOK_PREFIX, SAVE_HOOK_PREFIX)


def methods(cls: cst.ClassDef) -> list[cst.FunctionDef]:
    """The functions defined directly in the class body."""
    body = cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ()
    return [stmt for stmt in body if isinstance(stmt, cst.FunctionDef)]


def method(cls: cst.ClassDef, name: str) -> cst.FunctionDef | None:
    return next((m for m in methods(cls) if m.name.value == name), None)


def self_name(function: cst.FunctionDef) -> str | None:
    """The first parameter of an instance method (None for static and class methods)."""
    for decorator in function.decorators:
        if isinstance(decorator.decorator, cst.Name) and decorator.decorator.value in ("staticmethod", "classmethod"):
            return None
    params = function.params.posonly_params or function.params.params
    return params[0].name.value if params else None


def self_attribute(node: cst.CSTNode, self_: str | None) -> str | None:
    """``name`` when ``node`` is ``<self_>.name``."""
    if (
        self_ is not None
        and isinstance(node, cst.Attribute)
        and isinstance(node.value, cst.Name)
        and node.value.value == self_
    ):
        return node.attr.value
    return None


def body_names(statements) -> set[str]:
    """Names a block binds at its own level (functions, classes, plain-name assignments)."""
    bound = {stmt.name.value for stmt in statements if isinstance(stmt, (cst.FunctionDef, cst.ClassDef))}
    bound.update(target.value for _, target in assignment_targets(statements) if isinstance(target, cst.Name))
    return bound


def class_names_in_body(cls: cst.ClassDef) -> set[str]:
    """Names the class body binds itself (methods, class attributes)."""
    return body_names(cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ())


@dataclass(frozen=True)
class AttrUse:
    """One ``<value>.name`` in the file and where it is."""

    node: cst.Attribute
    #: the class whose method (or body) holds it; None at module level
    owner: cst.ClassDef | None
    #: the method of ``owner`` holding it (nested functions count as their method)
    method: cst.FunctionDef | None
    #: whether ``value`` is the method's ``self`` parameter
    is_self: bool


class _Walker(cst.CSTVisitor):
    def __init__(self, index: "FileIndex") -> None:
        super().__init__()
        self.index = index
        self.stack: list[cst.CSTNode] = []
        #: ("class", ClassDef, None) or ("function", FunctionDef, owner ClassDef | None)
        self.scopes: list[tuple[str, cst.CSTNode, cst.ClassDef | None]] = []
        #: depth inside generated load hooks, whose strings name layers that no longer exist
        self.hooks = 0

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self.stack:
            self.index.parent[node] = self.stack[-1]
        self.stack.append(node)
        kind = type(node)  # LibCST's node classes are final: cheaper than isinstance on their ABCs
        if kind is cst.Attribute:
            self._attribute(node)
        elif kind is cst.ClassDef:
            self.index.classes.setdefault(node.name.value, []).append(node)
            self.scopes.append(("class", node, None))
        elif kind is cst.FunctionDef:
            owner = self.scopes[-1][1] if self.scopes and self.scopes[-1][0] == "class" else None
            self.scopes.append(("function", node, owner))
            if node.name.value.startswith(HOOK_PREFIXES):
                self.hooks += 1
        elif kind is cst.SimpleString:
            if not self.hooks:
                self._string(node)
        elif kind is cst.FormattedStringText:
            if not self.hooks:
                self.index.strings.update(node.value.split("."))
        elif kind is cst.Import or kind is cst.ImportFrom:
            return False
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()
        kind = type(original_node)
        if kind is cst.ClassDef:
            self.scopes.pop()
        elif kind is cst.FunctionDef:
            self.scopes.pop()
            if original_node.name.value.startswith(HOOK_PREFIXES):
                self.hooks -= 1

    def _attribute(self, node: cst.Attribute) -> None:
        owner = method_ = None
        for kind, scope, scope_owner in reversed(self.scopes):
            if kind == "class":
                owner = scope
                break
            if scope_owner is not None:
                owner, method_ = scope_owner, scope
                break
        is_self = method_ is not None and self_attribute(node, self_name(method_)) is not None
        use = AttrUse(node, owner, method_, is_self)
        self.index.uses.setdefault(node.attr.value, []).append(use)

    def _string(self, node: cst.SimpleString) -> None:
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, SyntaxError):
            return
        if isinstance(value, str):
            self.index.strings.update(value.split("."))


class FileIndex:
    """Parents, attribute uses, classes and string words of one file."""

    def __init__(self, module: cst.Module, names: NameTable) -> None:
        self.module = module
        self.names = names
        self.parent: dict[cst.CSTNode, cst.CSTNode] = {}
        self.uses: dict[str, list[AttrUse]] = {}
        self.classes: dict[str, list[cst.ClassDef]] = {}
        #: every dotted component of every string literal (``"attn.wq"`` -> attn, wq)
        self.strings: set[str] = set()
        walk(module, [_Walker(self)])

    # -- classes --------------------------------------------------------------

    def is_module_class(self, cls: cst.ClassDef) -> bool:
        return self._derives(cls, set())

    def _derives(self, cls: cst.ClassDef, seen: set[int]) -> bool:
        if id(cls) in seen:
            return False
        seen.add(id(cls))
        for base in cls.bases:
            if base.keyword is not None:
                continue
            local = self.classes.get(base.value.value) if isinstance(base.value, cst.Name) else None
            if local:
                if all(self._derives(c, seen) for c in local):
                    return True
            elif is_module_base(base.value, self.names):
                return True
        return False

    def _ancestors(self, cls: cst.ClassDef) -> list[cst.ClassDef]:
        found: list[cst.ClassDef] = []
        todo = [cls]
        while todo:
            current = todo.pop()
            for base in current.bases:
                if isinstance(base.value, cst.Name):
                    for parent in self.classes.get(base.value.value, ()):
                        if parent not in found and parent is not cls:
                            found.append(parent)
                            todo.append(parent)
        return found

    def related(self, a: cst.ClassDef, b: cst.ClassDef) -> bool:
        """Whether ``a`` and ``b`` share instances: the same class, or one derives from the other."""
        return a is b or b in self._ancestors(a) or a in self._ancestors(b)

    def foreign_uses(self, cls: cst.ClassDef, attr: str) -> list[AttrUse]:
        """Uses of ``.attr`` that may touch instances of ``cls`` from outside its own methods.

        ``self.attr`` in an unrelated class is another object's attribute and
        does not count; anything else (``model.attr``, a subclass's
        ``self.attr``) does.
        """
        result = []
        for use in self.uses.get(attr, ()):
            if use.is_self and use.owner is cls:
                continue
            if use.is_self and use.owner is not None and not self.related(cls, use.owner):
                continue
            result.append(use)
        return result

    def self_uses(self, cls: cst.ClassDef, attr: str) -> list[AttrUse]:
        """``self.attr`` in the methods of ``cls``."""
        return [u for u in self.uses.get(attr, ()) if u.is_self and u.owner is cls]

    # -- tree navigation -------------------------------------------------------

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        current = self.parent.get(node)
        while current is not None:
            yield current
            current = self.parent.get(current)

    def line_of(self, node: cst.CSTNode) -> cst.SimpleStatementLine | None:
        """The statement line holding ``node`` (None when a compound header or suite holds it)."""
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, cst.SimpleStatementLine):
                return ancestor
            if isinstance(ancestor, (cst.BaseCompoundStatement, cst.SimpleStatementSuite)):
                return None
        return None

    def enclosing(self, node: cst.CSTNode, stop: cst.CSTNode) -> str | None:
        """Why a statement inside ``stop`` may not run exactly once: "under a conditional",
        "in a loop" or "in a nested function"; None when it always runs once."""
        for ancestor in self.ancestors(node):
            if ancestor is stop:
                return None
            if isinstance(ancestor, CONDITIONAL):
                return "under a conditional"
            if isinstance(ancestor, LOOPS):
                return "in a loop"
            if isinstance(ancestor, NESTED_SCOPES):
                return "in a nested function"
        return None


def file_index(context: FileContext) -> FileIndex:
    """The index of the file being visited, built once and shared by the rules visiting it."""
    index = context.shared.get("file_index")
    if not isinstance(index, FileIndex):
        index = context.shared["file_index"] = FileIndex(context.module, context.names)
    return index


def may_be_module_class(cls: cst.ClassDef, names: NameTable) -> bool:
    """The cheap test before the index: is a base nn.Module, or a plain name (maybe a local class)?"""
    return any(
        base.keyword is None and (isinstance(base.value, cst.Name) or is_module_base(base.value, names))
        for base in cls.bases
    )


def is_module_base(node: cst.BaseExpression, names: NameTable) -> bool:
    """``nn.Module``, or a framework's module class (mmengine ``BaseModule``, ``LightningModule``,
    ``PreTrainedModel``, ``ModelMixin``), also imported relatively inside the framework itself."""
    qualified = names.qualified(node)
    if qualified in MODULE_BASES:
        return True
    if qualified is None:
        return isinstance(node, cst.Name) and node.value in FRAMEWORK_MODULES
    parts = qualified.split(".")
    return parts[0] in FRAMEWORK_PACKAGES and parts[-1] in FRAMEWORK_MODULES


def paths_in(node: cst.CSTNode) -> set[str]:
    """The names and dotted attribute chains an expression reads (``x``, ``self.h``)."""
    found: set[str] = set()

    class _Paths(cst.CSTVisitor):
        def visit_Attribute(self, attribute: cst.Attribute) -> bool:
            dotted = dotted_name(attribute)
            if dotted is not None:
                found.add(dotted)
            walk(attribute.value, [self])
            return False

        def visit_Arg(self, argument: cst.Arg) -> bool:
            walk(argument.value, [self])
            return False

        def visit_Name(self, name: cst.Name) -> None:
            found.add(name.value)

    walk(node, [_Paths()])
    return found


class _Writes(cst.CSTVisitor):
    """What a run of statements may change: rebound names, stored attributes, tensors changed in place."""

    def __init__(self) -> None:
        super().__init__()
        self.changed: set[str] = set()

    def _target(self, target: cst.CSTNode) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._target(element.value)
        elif isinstance(target, cst.StarredElement):
            self._target(target.value)
        elif isinstance(target, cst.Subscript):
            self._target(target.value)
        else:
            dotted = dotted_name(target)
            if dotted is not None:
                self.changed.add(dotted)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._target(node.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._target(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._target(node.target)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._target(node.target)

    def visit_For(self, node: cst.For) -> None:
        self._target(node.target)

    def visit_AsName(self, node: cst.AsName) -> None:
        self._target(node.name)

    def visit_Del(self, node: cst.Del) -> None:
        self._target(node.target)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.changed.add(node.name.value)
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.changed.add(node.name.value)
        return False

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value.endswith("_") and not func.attr.value.startswith("_"):
            self._target(func.value)
        if any(a.keyword is not None and a.keyword.value == "inplace" and code(a.value) != "False" for a in node.args):
            for argument in node.args:
                if argument.keyword is None:
                    self._target(argument.value)


def changed_in(statements: Iterable[cst.CSTNode]) -> set[str]:
    """Names and dotted chains rebound, stored to or changed in place by ``statements``.

    ``x[i] = v`` and ``x.add_(v)`` change ``x``; ``self.h = v`` changes ``self.h``.
    """
    writes = _Writes()
    for statement in statements:
        walk(statement, [writes])
    return writes.changed
