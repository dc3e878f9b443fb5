"""Reading a hand-written folder dataset (TF001): what it lists, filters, labels and loads.

:func:`analyze` evaluates a ``Dataset`` subclass symbolically. ``__init__`` may
only list the class folders of one root, number them, and build ``(path, label)``
samples from the files of each class folder; ``__getitem__`` may only load the
sample's path, apply ``transform``/``target_transform`` and return the pair. The
result is a :class:`Plan` when torchvision's ``DatasetFolder`` rules rebuild the
same dataset, or a reason when they can differ (report only).

Expressions move from the original into the new ``__init__`` (the root, the file
filter as ``is_valid_file``, the loader, the transforms), so every moved
expression is checked to mean the same there: its free names are ``__init__``
parameters, module-level names or builtins, never locals the fix drops.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Callable, Sequence

import libcst as cst
import libcst.matchers as m

from torchfix.names import NameTable
from torchfix.patterns import (
    code,
    parenthesized,
    same_code,
    self_attribute_name,
    substitute,
)
from torchfix.rules._suites import assignment_targets, statements
from torchfix.walk import walk

#: torchvision.datasets.folder.IMG_EXTENSIONS (0.29)
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: attributes DatasetFolder/ImageFolder set; the original may not give them another meaning
TORCHVISION_ATTRIBUTES = frozenset(
    {"root", "loader", "extensions", "classes", "class_to_idx", "samples", "targets", "transform",
     "target_transform", "transforms", "imgs"}
)
_DATASET = ("torch.utils.data.Dataset", "torch.utils.data.dataset.Dataset")
_LISTINGS = {
    "os.listdir": "listdir", "os.scandir": "scandir", "os.walk": "walk", "glob.glob": "glob", "glob.iglob": "glob"
}
_PATH_METHODS = {"iterdir": "iterdir", "glob": "pathglob", "rglob": "rglob"}
_BACKEND_METHODS = frozenset({"listdir", "scandir", "walk", "ls", "list_dir", "list_dir_or_file", "list_files"})
#: file listings that raise when a "class" is a plain file (so a class list of every entry is safe)
_RAISE_ON_FILES = frozenset({"listdir", "iterdir", "walk-next"})
#: loaders that accept a str path as well as a pathlib.Path
_PATH_AGNOSTIC = frozenset({"builtins.open", "numpy.load", "PIL.Image.open", "torch.load", "pathlib.Path"})
_BUILTINS = frozenset(dir(builtins))
_GLOB_MAGIC = frozenset("*?[")

ONE_LEVEL = (
    "assumes the class folders hold no sub-folders and the root holds at least one class folder "
    "(torchvision also loads files in sub-folders and raises on an empty root)."
)
GLOB = (
    "assumes the class folders hold no sub-folders, no class folder name contains a glob character (*?[) "
    "and the root holds at least one class folder (torchvision also loads files in sub-folders, "
    "does not expand folder names and raises on an empty root)."
)
WALK = (
    "assumes no symbolic links to folders inside the class folders and at least one class folder "
    "(torchvision follows links and raises on an empty root)."
)
WALK_LINKS = "assumes the root holds at least one class folder (torchvision raises on an empty root)."

#: qualified name -> an expression in the file's spelling (raises Decline when there is none)
Referencer = Callable[[str], cst.BaseExpression]


class Decline(Exception):
    """The class walks class folders, but DatasetFolder could build another dataset."""


def _keyed_sort(what: str) -> str:
    return f"the {what} are sorted with a key (natural sort?) or reversed; torchvision sorts names plainly"


@dataclass(frozen=True)
class Plan:
    """What the thin DatasetFolder/ImageFolder subclass passes and keeps."""

    root: cst.BaseExpression
    #: None: ImageFolder's default loader (PIL, RGB)
    loader: cst.BaseExpression | None
    #: ``lambda <path_name>: ...`` body; None when ``extensions`` (or ImageFolder's default) filters
    is_valid_file: cst.BaseExpression | None
    #: the original's suffixes (a tuple or a module-level tuple constant) when the filter is torchvision's test
    extensions: cst.BaseExpression | None
    path_name: str
    transform: cst.BaseExpression | None
    target_transform: cst.BaseExpression | None
    #: ``self.<name> = <expression>`` statements after ``super().__init__``
    assignments: tuple[tuple[str, cst.BaseExpression], ...]
    assumption: str

    @property
    def image(self) -> bool:
        return self.loader is None


# -- symbols: what an __init__ name holds ------------------------------------------


@dataclass(eq=False)
class _Classes:
    """The class-folder names of ``root``."""

    root: cst.BaseExpression
    sorted: bool
    dirs_only: bool


@dataclass(frozen=True)
class _ClassIndex:
    classes: _Classes
    #: whether the classes were sorted when the index was built
    sorted: bool


@dataclass(frozen=True)
class _Fill:
    """How the samples list is filled."""

    classes: _Classes
    path_kind: str
    listing: str
    follows_links: bool
    #: filter terms over is_valid_file's path parameter
    terms: tuple[cst.BaseExpression, ...]


@dataclass(eq=False)
class _Samples:
    fill: _Fill | None = None


@dataclass(frozen=True)
class _Targets:
    """``[label for _, label in samples]``: torchvision's ``targets``."""

    samples: _Samples


@dataclass(frozen=True)
class _Value:
    """A pure expression of ``__init__`` parameters and module-level names."""

    expr: cst.BaseExpression


# -- symbols: what a sample-loop name holds ----------------------------------------


@dataclass(frozen=True)
class _Root:
    pass


@dataclass(frozen=True)
class _ClassName:
    pass


@dataclass(frozen=True)
class _Label:
    pass


@dataclass(frozen=True)
class _ClassDir:
    pass


@dataclass(frozen=True)
class _WalkDir:
    pass


@dataclass(frozen=True)
class _WalkFiles:
    pass


@dataclass(frozen=True)
class _FileName:
    """A file's name in a class folder (or in an os.walk folder)."""


@dataclass(frozen=True)
class _FilePath:
    kind: str  # "str" or "path"


@dataclass(frozen=True)
class _Local:
    """Any other loop-local expression (inlined into the file filter)."""

    expr: cst.BaseExpression


# -- small helpers ---------------------------------------------------------------


def snippet(node: cst.CSTNode) -> str:
    text = code(node).strip().splitlines()[0]
    return text if len(text) <= 60 else text[:57] + "..."


def _is_name(node: cst.CSTNode | None, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


def _key(node: cst.CSTNode) -> str | None:
    """The environment key of a Name or ``self.X``."""
    if isinstance(node, cst.Name):
        return node.value
    attr = self_attribute_name(node)
    return None if attr is None else f"self.{attr}"


def _positional(call: cst.Call) -> list[cst.BaseExpression] | None:
    """The positional arguments, or None when the call has keywords or star-args."""
    if any(a.keyword is not None or a.star for a in call.args):
        return None
    return [a.value for a in call.args]


def _string(node: cst.CSTNode | None) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _strings(node: cst.CSTNode) -> tuple[str, ...] | None:
    """A string literal or a tuple of string literals."""
    single = _string(node)
    if single is not None:
        return (single,)
    if isinstance(node, cst.Tuple) and node.elements:
        values = tuple(_string(e.value) for e in node.elements)
        if all(v is not None for v in values):
            return values  # type: ignore[return-value]
    return None


def _is_self_read(name: str) -> bool:
    return name == "self" or name.startswith("self.")


class _FreeNames(cst.CSTVisitor):
    """Name reads and ``self.X`` reads; attribute names, keywords and names bound inside excluded."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []
        self.bound: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.reads.append(node.value)

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        attr = self_attribute_name(node)
        if attr is not None:
            self.reads.append(f"self.{attr}")
        else:
            walk(node.value, [self])
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        walk(node.value, [self])
        return False

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self.bound.update(n.value for n in m.findall(node.target, m.Name()))

    def visit_Param(self, node: cst.Param) -> bool:
        self.bound.add(node.name.value)
        return False


def free_names(node: cst.CSTNode) -> list[str]:
    visitor = _FreeNames()
    walk(node, [visitor])
    return [n for n in visitor.reads if n not in visitor.bound]


@dataclass(frozen=True)
class ModuleFacts:
    """What a moved expression may refer to at module level."""

    #: names bound at module level: imports, defs, classes and assignment targets
    names: frozenset[str]
    #: names bound once, to a tuple of string literals, and never rebound (suffix lists)
    constants: dict[str, tuple[str, ...]]


def module_facts(module: cst.Module, names: NameTable) -> ModuleFacts:
    found = set(names.bindings)
    found.update(stmt.name.value for stmt in module.body if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)))
    bindings: dict[str, list[cst.BaseExpression | None]] = {}
    for small, target in assignment_targets(module.body):
        for name in m.findall(target, m.Name()):
            found.add(name.value)
            simple = isinstance(small, cst.Assign) and len(small.targets) == 1 and target is name
            bindings.setdefault(name.value, []).append(small.value if simple else None)
    rebound = {n.value for g in m.findall(module, m.Global()) for n in g.names for n in [n.name]}
    constants = {}
    for name, values in bindings.items():
        strings = _strings(values[0]) if len(values) == 1 and values[0] is not None else None
        if strings is not None and isinstance(values[0], cst.Tuple) and name not in rebound:
            constants[name] = strings
    return ModuleFacts(frozenset(found), constants)


def listing_kind(node: cst.CSTNode, names: NameTable) -> str | None:
    """Which directory listing a call is: listdir, scandir, walk, glob, iterdir, pathglob, rglob, backend."""
    if not isinstance(node, cst.Call):
        return None
    qualified = names.qualified(node.func)
    if qualified in _LISTINGS:
        return _LISTINGS[qualified]
    if not isinstance(node.func, cst.Attribute):
        return None
    attr = node.func.attr.value
    if qualified is not None:
        if qualified.startswith(("os.", "glob.", "pathlib.")):
            return None
        return "backend" if attr in _PATH_METHODS or attr in _BACKEND_METHODS else None
    if attr in _PATH_METHODS:
        return _PATH_METHODS[attr]
    return "backend" if attr in _BACKEND_METHODS else None


def _unwrap_sorted(node: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(node, cst.Call) and _is_name(node.func, "sorted") and node.args:
        return node.args[0].value
    return node


# -- is it a class-folder dataset at all? --------------------------------------------


class _Nesting(cst.CSTVisitor):
    """How deep directory listings nest: a listing of a listed entry is level 2.

    Also notes the two single-listing shapes of root/<class>/<file>: one glob over
    ``root/*/...`` and an ``os.walk`` of the root whose labels come from folder names.
    """

    def __init__(self, names: NameTable) -> None:
        super().__init__()
        self.names = names
        self.level: dict[str, int] = {}
        self.deepest = 0
        self.flat_glob = False
        self.walk_labels = False

    def depth(self, node: cst.CSTNode) -> int:
        best = max((self.level.get(n, 0) for n in free_names(node)), default=0)
        for call in m.findall(node, m.Call()):
            kind = listing_kind(call, self.names)
            if kind is not None:
                operands = [a.value for a in call.args]
                if isinstance(call.func, cst.Attribute):
                    operands.append(call.func.value)
                inner = max((self.depth(o) for o in operands), default=0)
                best = max(best, inner + 1)
                self.flat_glob = self.flat_glob or (kind == "glob" and _wildcard_folder(call))
        self.deepest = max(self.deepest, best)
        return best

    def bind(self, target: cst.CSTNode, level: int) -> None:
        nodes = [e.value for e in target.elements] if isinstance(target, (cst.Tuple, cst.List)) else [target]
        for node in nodes:
            key = _key(node)
            if key is not None:
                self.level[key] = max(self.level.get(key, 0), level)

    def visit_Assign(self, node: cst.Assign) -> None:
        level = self.depth(node.value)
        for target in node.targets:
            self.bind(target.target, level)

    def visit_For(self, node: cst.For) -> None:
        self.bind(node.target, self.depth(node.iter))
        if listing_kind(_unwrap_sorted(node.iter), self.names) == "walk" and isinstance(node.target, cst.Tuple):
            dirpath = node.target.elements[0].value
            self.walk_labels = self.walk_labels or (
                isinstance(dirpath, cst.Name) and self._names_folder(node.body, dirpath.value)
            )

    def _names_folder(self, body: cst.CSTNode, dirpath: str) -> bool:
        """Whether the loop body takes a folder name from ``dirpath`` (basename, split, relpath)."""
        for call in m.findall(body, m.Call()):
            if not any(_is_name(a.value, dirpath) for a in call.args) and not m.matches(
                call.func, m.Attribute(value=m.Name(dirpath))
            ):
                continue
            if self.names.qualified(call.func) in ("os.path.basename", "os.path.relpath", "os.path.split"):
                return True
            if m.matches(call.func, m.Attribute(value=m.Name(dirpath), attr=m.Name("split") | m.Name("rsplit"))):
                return True
        return False

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self.bind(node.target, self.depth(node.iter))

    def visit_Call(self, node: cst.Call) -> None:
        self.depth(node)


def _wildcard_folder(call: cst.Call) -> bool:
    """``glob(os.path.join(root, "*", "*.jpg"))`` or ``glob(root + "/*/*.jpg")``: one glob over every class."""
    literals = [_string(s) for s in m.findall(call, m.SimpleString())]
    if any(s is not None and ("*/" in s or "*\\" in s) for s in literals):
        return True
    pattern = call.args[0].value if call.args else None
    if isinstance(pattern, cst.Call) and pattern.args:
        return any("*" in (_string(a.value) or "") for a in pattern.args[:-1])
    return False


# -- the analysis ------------------------------------------------------------------


@dataclass
class _Loop:
    """State while walking the clauses of the sample loop."""

    vars: dict[str, object] = field(default_factory=dict)
    classes: _Classes | None = None
    in_files: bool = False
    listing: str = ""
    follows_links: bool = False
    terms: list[cst.BaseExpression] = field(default_factory=list)


class FolderDataset:
    """One Dataset subclass; :meth:`plan` returns a Plan or raises Decline."""

    def __init__(self, cls: cst.ClassDef, names: NameTable, facts: ModuleFacts, reference: Referencer) -> None:
        self.cls = cls
        self.names = names
        self.globals = facts.names
        self.constants = facts.constants
        self.path_name = "path"
        self.reference = reference
        self.env: dict[str, object] = {}
        #: ``self.X`` assignments of __init__, in order: (attribute, symbol)
        self.attributes: list[tuple[str, object]] = []
        self.params: set[str] = set()
        #: "transform"/"target_transform" -> the attribute __getitem__ applies
        self.transform_attributes: dict[str, str] = {}
        #: names the fix's own references bind (``Path``, ``os``)
        self.introduced: set[str] = set()
        self.basename_code: str | None = None

    def plan(self) -> Plan:
        methods = self._methods()
        init = methods["__init__"]
        self._parameters(init)
        for stmt in statements(init.body):
            self._init_statement(stmt)
        filled = [s for s in self.env.values() if isinstance(s, _Samples) and s.fill is not None]
        if len(filled) != 1:
            raise Decline("no single list of (path, class index) samples is built from the class folders")
        samples = filled[0]
        attribute = next((a for a, s in self.attributes if s is samples), None)
        if attribute is None:
            raise Decline("the samples are not stored on the instance")
        fill = samples.fill
        loader, transform, target_transform = self._getitem(methods["__getitem__"], attribute, fill)
        self._len(methods["__len__"], attribute)
        is_valid_file, extensions = self._filter(fill, image=loader is None)
        if fill.listing == "walk":
            assumption = WALK_LINKS if fill.follows_links else WALK
        else:
            assumption = GLOB if fill.listing == "glob" else ONE_LEVEL
        return Plan(
            root=fill.classes.root,
            loader=loader,
            is_valid_file=is_valid_file,
            extensions=extensions,
            path_name=self.path_name,
            transform=transform,
            target_transform=target_transform,
            assignments=self._assignments(fill, image=loader is None),
            assumption=assumption,
        )

    def _methods(self) -> dict[str, cst.FunctionDef]:
        found: dict[str, cst.FunctionDef] = {}
        for stmt in statements(self.cls.body):
            if not isinstance(stmt, cst.FunctionDef) or stmt.decorators or stmt.name.value in found:
                raise Decline(f"the class has other members (`{snippet(stmt)}`) a thin subclass would lose")
            found[stmt.name.value] = stmt
        extra = sorted(set(found) - {"__init__", "__getitem__", "__len__"})
        if extra:
            raise Decline(f"the class defines {', '.join(extra)}, which a thin subclass would lose")
        if "__len__" not in found:
            raise Decline("the class has no __len__")
        return found

    def _parameters(self, init: cst.FunctionDef) -> None:
        params = init.params
        every = [*params.posonly_params, *params.params, *params.kwonly_params]
        every += [p for p in (params.star_arg, params.star_kwarg) if isinstance(p, cst.Param)]
        if not every or every[0].name.value != "self":
            raise Decline("__init__ does not take self first")
        self.params = {p.name.value for p in every[1:]}
        # is_valid_file's parameter must not hide a name the moved filter reads
        taken = self.params | self.globals
        free = [n for n in ("path", "file_path", "sample_path") if n not in taken]
        if not free:
            raise Decline("no free name for is_valid_file's parameter")
        self.path_name = free[0]

    # -- __init__ -------------------------------------------------------------------

    def _init_statement(self, stmt: cst.CSTNode) -> None:
        if isinstance(stmt, cst.Expr) and self._is_super_init(stmt.value):
            return
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
            self._assign(stmt.targets[0].target, stmt.value)
        elif isinstance(stmt, cst.AnnAssign) and stmt.value is not None:
            self._assign(stmt.target, stmt.value)
        elif isinstance(stmt, cst.Expr) and m.matches(stmt.value, m.Call(func=m.Attribute(attr=m.Name("sort")))):
            self._sort(stmt.value)
        elif isinstance(stmt, cst.For):
            self._fill(*self._for_clauses(stmt, []))
        else:
            raise Decline(f"__init__ does more than list the class folders: `{snippet(stmt)}`")

    def _is_super_init(self, node: cst.BaseExpression) -> bool:
        plain = m.Call(args=[], func=m.Attribute(value=m.Call(func=m.Name("super")), attr=m.Name("__init__")))
        if m.matches(node, plain):
            return True
        explicit = tuple(f"{base}.__init__" for base in _DATASET)
        return (
            isinstance(node, cst.Call)
            and self.names.qualified(node.func) in explicit
            and len(node.args) == 1
            and _is_name(node.args[0].value, "self")
        )

    def _assign(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        key = _key(target)
        if key is None:
            raise Decline(f"__init__ assigns `{snippet(target)}`")
        symbol = self._eval(value)
        self.env[key] = symbol
        if key.startswith("self."):
            attribute = key[len("self."):]
            self.attributes = [(a, s) for a, s in self.attributes if a != attribute]
            self.attributes.append((attribute, symbol))

    def _sort(self, call: cst.Call) -> None:
        symbol = self.env.get(_key(call.func.value) or "")
        if not isinstance(symbol, _Classes):
            raise Decline(f"__init__ sorts something other than the class folders: `{snippet(call)}`")
        if call.args:
            raise Decline(_keyed_sort("class folders"))
        symbol.sorted = True

    def _eval(self, node: cst.BaseExpression) -> object:
        key = _key(node)
        if key is not None and key in self.env:
            return self.env[key]
        if m.matches(node, m.List(elements=[]) | m.Call(func=m.Name("list"), args=[])):
            return _Samples()
        classes = self._classes(node)
        if classes is not None:
            return classes
        if isinstance(node, cst.DictComp) or m.matches(node, m.Call(func=m.Name("dict"))):
            index = self._index(node)
            if index is not None:
                return index
        targets = self._targets(node)
        if targets is not None:
            return targets
        if isinstance(node, (cst.ListComp, cst.GeneratorExp)) and isinstance(node.elt, cst.Tuple):
            samples = _Samples()
            self._fill(samples, self._comp_clauses(node.for_in), node.elt)
            return samples
        if any(listing_kind(c, self.names) is not None for c in m.findall(node, m.Call())):
            raise Decline(f"__init__ lists folders in a way torchfix does not follow: `{snippet(node)}`")
        return _Value(self._value(node))

    def _targets(self, node: cst.BaseExpression) -> _Targets | None:
        """``[s[1] for s in samples]`` or ``[y for _, y in samples]``."""
        if not isinstance(node, cst.ListComp) or node.for_in.ifs or node.for_in.inner_for_in is not None:
            return None
        samples = self.env.get(_key(node.for_in.iter) or "")
        target = node.for_in.target
        if not isinstance(samples, _Samples):
            return None
        second = m.Subscript(
            value=m.Name(target.value if isinstance(target, cst.Name) else ""),
            slice=[m.SubscriptElement(slice=m.Index(value=m.Integer("1")))],
        )
        if m.matches(node.elt, second) or (
            m.matches(target, m.Tuple([m.Element(m.Name()), m.Element(m.Name())]))
            and _is_name(node.elt, target.elements[1].value.value)
            and target.elements[0].value.value != target.elements[1].value.value
        ):
            return _Targets(samples)
        return None

    def _value(
        self, node: cst.BaseExpression, where: str = "__init__", allowed: frozenset[str] = frozenset()
    ) -> cst.BaseExpression:
        """``node`` in terms of parameters and module names, or Decline."""
        mapping: dict[str, cst.BaseExpression] = {}
        for name in free_names(node):
            if name in allowed or name in self.introduced:
                continue
            symbol = self.env.get(name)
            if isinstance(symbol, _Value):
                mapping[name] = symbol.expr
            elif symbol is None and (name in self.params or name in self.globals or name in _BUILTINS):
                continue
            else:
                raise Decline(f"`{snippet(node)}` in {where} depends on `{name}`, which the fix drops")
        return substitute(node, mapping)

    # -- the class list and its index -------------------------------------------------

    def _classes(self, node: cst.BaseExpression) -> _Classes | None:
        """A listing of the root's class folders, None when ``node`` is none."""
        is_sorted, node = self._peel_sorted(node, "class folders")
        if m.matches(node, m.Call(func=m.Name("list"), args=[m.Arg()])):
            node = node.args[0].value
        kind = listing_kind(node, self.names)
        if kind == "backend":
            raise Decline(f"the folders are listed through a storage backend (`{snippet(node)}`), not os or pathlib")
        args = _positional(node) if isinstance(node, cst.Call) else None
        if kind == "listdir" and args and len(args) == 1:
            return _Classes(self._value(args[0]), is_sorted, dirs_only=False)
        walked = self._walk_next(node, 1)
        if walked is not None:
            return _Classes(self._value(walked), is_sorted, dirs_only=True)
        if isinstance(node, (cst.ListComp, cst.GeneratorExp)) and node.for_in.inner_for_in is None:
            return self._class_comprehension(node, is_sorted)
        return None

    def _peel_sorted(self, node: cst.BaseExpression, what: str) -> tuple[bool, cst.BaseExpression]:
        if isinstance(node, cst.Call) and _is_name(node.func, "sorted") and node.args:
            if len(node.args) != 1 or node.args[0].keyword is not None or node.args[0].star:
                raise Decline(_keyed_sort(what))
            return True, node.args[0].value
        return False, node

    def _walk_next(self, node: cst.BaseExpression, index: int) -> cst.BaseExpression | None:
        """``next(os.walk(D))[index]`` -> D."""
        pattern = m.Subscript(
            value=m.Call(func=m.Name("next"), args=[m.Arg(value=m.Call())]),
            slice=[m.SubscriptElement(slice=m.Index(value=m.Integer(str(index))))],
        )
        if not m.matches(node, pattern):
            return None
        walk = node.value.args[0].value
        args = _positional(walk)
        if listing_kind(walk, self.names) != "walk" or not args or len(args) != 1:
            return None
        return args[0]

    def _class_comprehension(self, node: cst.ListComp | cst.GeneratorExp, is_sorted: bool) -> _Classes | None:
        inner_sorted, listing = self._peel_sorted(node.for_in.iter, "class folders")
        kind = listing_kind(listing, self.names)
        target = node.for_in.target
        if kind is None or not isinstance(target, cst.Name):
            return None
        if kind == "backend":
            raise Decline(f"the folders are listed through a storage backend (`{snippet(listing)}`), not os or pathlib")
        if kind in ("glob", "pathglob"):
            raise Decline("glob skips hidden class folders, which torchvision lists as classes")
        var = target.value
        args = _positional(listing)
        if kind == "listdir" and _is_name(node.elt, var) and args and len(args) == 1:
            root = args[0]
        elif kind == "scandir" and args and len(args) == 1 and self._is_entry_name(node.elt, var):
            root = args[0]
        elif kind == "iterdir" and self._is_entry_name(node.elt, var):
            root = self._path_receiver(listing)
        else:
            return None
        if root is None:
            return None
        dirs_only = False
        for condition in node.for_in.ifs:
            if not self._is_dir_test(condition.test, var, kind, root):
                if m.findall(condition.test, m.Attribute(attr=m.Name("startswith"))):
                    raise Decline("hidden class folders are skipped; torchvision lists them as classes")
                where = snippet(condition.test)
                raise Decline(f"the class folders are filtered (`{where}`); torchvision keeps every folder")
            dirs_only = True
        return _Classes(self._value(root), is_sorted or inner_sorted, dirs_only)

    @staticmethod
    def _is_entry_name(node: cst.BaseExpression, var: str) -> bool:
        return m.matches(node, m.Attribute(value=m.Name(var), attr=m.Name("name")))

    def _path_receiver(self, call: cst.Call) -> cst.BaseExpression | None:
        """``Path(R).method()`` -> R; ``R.method()`` -> R."""
        receiver = call.func.value
        if isinstance(receiver, cst.Call) and self.names.qualified(receiver.func) == "pathlib.Path":
            args = _positional(receiver)
            return args[0] if args and len(args) == 1 else None
        return receiver

    def _is_dir_test(self, test: cst.BaseExpression, var: str, kind: str, root: cst.BaseExpression) -> bool:
        if m.matches(test, m.Call(func=m.Attribute(value=m.Name(var), attr=m.Name("is_dir")), args=[])):
            return kind in ("scandir", "iterdir")
        if not isinstance(test, cst.Call) or self.names.qualified(test.func) != "os.path.isdir":
            return False
        args = _positional(test)
        if not args or len(args) != 1:
            return False
        if kind == "iterdir":
            return _is_name(args[0], var)
        parts = self._join_parts(args[0])
        return parts is not None and len(parts) == 2 and same_code(parts[0], root) and _is_name(parts[1], var)

    def _join_parts(self, node: cst.BaseExpression) -> list[cst.BaseExpression] | None:
        """``os.path.join(a, b, c)`` -> [a, b, c], nested joins flattened."""
        if not isinstance(node, cst.Call) or self.names.qualified(node.func) != "os.path.join":
            return None
        args = _positional(node)
        if not args:
            return None
        head = self._join_parts(args[0])
        return (head if head is not None else [args[0]]) + args[1:]

    def _index(self, node: cst.BaseExpression) -> _ClassIndex | None:
        """``{c: i for i, c in enumerate(classes)}`` or ``dict(zip(classes, range(len(classes))))``."""
        if isinstance(node, cst.DictComp):
            return self._index_comprehension(node)
        args = _positional(node)
        zips = args is not None and len(args) == 1 and m.matches(args[0], m.Call(func=m.Name("zip")))
        zipped = _positional(args[0]) if zips else None
        counted = m.Call(func=m.Name("range"), args=[m.Arg(value=m.Call(func=m.Name("len"), args=[m.Arg()]))])
        if zipped and len(zipped) == 2 and m.matches(zipped[1], counted):
            classes = self._eval(zipped[0])
            if isinstance(classes, _Classes) and self._eval(zipped[1].args[0].value.args[0].value) is classes:
                return _ClassIndex(classes, classes.sorted)
        return None

    def _index_comprehension(self, node: cst.DictComp) -> _ClassIndex | None:
        for_in = node.for_in
        if for_in.inner_for_in is not None or for_in.ifs:
            return None
        target, source = for_in.target, for_in.iter
        index = None
        pair = m.Tuple([m.Element(), m.Element()])
        if m.matches(source, m.Call(func=m.Name("enumerate"))) and m.matches(target, pair):
            args = _positional(source)
            if args is None or len(args) != 1:
                raise Decline("the class indices do not start at 0; torchvision numbers the sorted folders 0..n-1")
            classes = self._eval(args[0])
            index, name = (e.value for e in target.elements)
        else:
            classes, name = (self._eval(source) if _key(source) else None), target
        if not isinstance(classes, _Classes) or not isinstance(name, cst.Name):
            return None
        if m.matches(node.value, m.Call(func=m.Name("int"), args=[m.Arg(value=m.Name(name.value))])):
            raise Decline("labels are parsed from the folder names (int(name)); torchvision numbers the sorted folders")
        if _is_name(node.key, name.value) and isinstance(index, cst.Name) and _is_name(node.value, index.value):
            return _ClassIndex(classes, classes.sorted)
        raise Decline(f"the class index is not the position in the sorted folder list: `{snippet(node)}`")

    # -- the sample loop as clauses ---------------------------------------------------

    def _for_clauses(self, node: cst.For, clauses: list) -> tuple[_Samples, list, cst.BaseExpression]:
        if node.orelse is not None or node.asynchronous is not None:
            raise Decline(f"unexpected loop form: `{snippet(node)}`")
        return self._block_clauses(statements(node.body), [*clauses, ("for", node.target, node.iter)])

    def _block_clauses(self, stmts: Sequence[cst.CSTNode], clauses: list) -> tuple[_Samples, list, cst.BaseExpression]:
        """Flatten a loop body (lets, filters, inner loops, one append) into comprehension clauses."""
        for position, stmt in enumerate(stmts):
            last = position == len(stmts) - 1
            if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0].target, cst.Name):
                clauses.append(("let", stmt.targets[0].target.value, stmt.value))
                continue
            if isinstance(stmt, cst.If) and stmt.orelse is None:
                body = statements(stmt.body)
                if len(body) == 1 and isinstance(body[0], cst.Continue):
                    clauses.append(("if", _negate(stmt.test)))
                    continue
                if last:
                    return self._block_clauses(body, [*clauses, ("if", stmt.test)])
            if last and isinstance(stmt, cst.For):
                return self._for_clauses(stmt, clauses)
            found = self._emit(stmt, clauses) if last else None
            if found is not None:
                return found
            raise Decline(f"the sample loop does more than list, filter and append: `{snippet(stmt)}`")
        raise Decline("the sample loop appends nothing")

    def _emit(self, stmt: cst.CSTNode, clauses: list):
        """``samples.append(x)``, ``samples.extend(<comprehension>)``, ``samples += [x]``."""
        if m.matches(stmt, m.Expr(value=m.Call(func=m.Attribute()))):
            call = stmt.value
            samples = self.env.get(_key(call.func.value) or "")
            args = _positional(call)
            if isinstance(samples, _Samples) and args and len(args) == 1:
                if call.func.attr.value == "append":
                    return samples, clauses, args[0]
                if call.func.attr.value == "extend" and isinstance(args[0], (cst.ListComp, cst.GeneratorExp)):
                    return samples, clauses + self._comp_clauses(args[0].for_in), args[0].elt
        if isinstance(stmt, cst.AugAssign) and isinstance(stmt.operator, cst.AddAssign):
            samples = self.env.get(_key(stmt.target) or "")
            if isinstance(samples, _Samples) and m.matches(stmt.value, m.List([m.Element()])):
                return samples, clauses, stmt.value.elements[0].value
        return None

    @staticmethod
    def _comp_clauses(for_in: cst.CompFor | None) -> list:
        clauses: list = []
        while for_in is not None:
            if for_in.asynchronous is not None:
                raise Decline("async comprehension")
            clauses.append(("for", for_in.target, for_in.iter))
            clauses.extend(("if", c.test) for c in for_in.ifs)
            for_in = for_in.inner_for_in
        return clauses

    # -- the sample loop's meaning ------------------------------------------------------

    def _fill(self, samples: _Samples, clauses: list, element: cst.BaseExpression) -> None:
        if samples.fill is not None:
            raise Decline("the samples list is filled twice")
        loop = _Loop()
        for clause in clauses:
            if clause[0] == "for":
                self._loop_for(loop, clause[1], clause[2])
            elif clause[0] == "let":
                if clause[1] in loop.vars:
                    raise Decline(f"the sample loop rebinds `{clause[1]}`")
                loop.vars[clause[1]] = self._loop_value(loop, clause[2])
            elif not loop.in_files:
                raise Decline(f"the class folders are filtered inside the loop (`{snippet(clause[1])}`)")
            else:
                loop.terms.append(self._term(loop, clause[1]))
        if not loop.in_files:
            raise Decline("no files are listed inside the class folders")
        if not m.matches(element, m.Tuple([m.Element(), m.Element()])):
            raise Decline(f"the samples are not (path, class index) pairs: `{snippet(element)}`")
        path, label = (e.value for e in element.elements)
        self._check_label(loop, label)
        path_symbol = self._loop_value(loop, path)
        if not isinstance(path_symbol, _FilePath):
            if m.findall(path, m.Call()) and any(n in loop.vars for n in free_names(path)):
                raise Decline("samples are loaded eagerly in __init__; DatasetFolder loads each file in __getitem__")
            raise Decline(f"the sample is not the listed file's path: `{snippet(path)}`")
        if not loop.classes.dirs_only and loop.listing not in _RAISE_ON_FILES:
            raise Decline("plain files at the root become empty classes; torchvision lists folders only")
        samples.fill = _Fill(loop.classes, path_symbol.kind, loop.listing, loop.follows_links, tuple(loop.terms))

    def _check_label(self, loop: _Loop, label: cst.BaseExpression) -> None:
        symbol = self._loop_value(loop, label)
        if isinstance(symbol, _Label):
            return
        if isinstance(symbol, _ClassName):
            raise Decline("the targets are the folder names, not class indices")
        if m.matches(label, m.Call(func=m.Name("int"))):
            raise Decline("labels are parsed from the folder names (int(name)); torchvision numbers the sorted folders")
        raise Decline(f"the target is not the class index: `{snippet(label)}`")

    def _loop_for(self, loop: _Loop, target: cst.BaseExpression, source: cst.BaseExpression) -> None:
        if loop.classes is None:
            self._class_loop(loop, target, source)
            return
        is_sorted, listing = self._peel_sorted(source, "files")
        if isinstance(listing, cst.Name) and isinstance(loop.vars.get(listing.value), _WalkFiles):
            if not is_sorted:
                raise Decline("os.walk's file names are not sorted; torchvision sorts them")
            self._bind(loop, target, _FileName())
            loop.in_files = True
            return
        walked = self._walk_next(listing, 2)
        kind = "walk-next" if walked is not None else listing_kind(listing, self.names)
        if loop.in_files:
            if kind is not None:
                raise Decline("two-level labels (root/<group>/<class>/<file>); DatasetFolder reads one class level")
            raise Decline(f"the files are not listed with os, glob or pathlib: `{snippet(source)}`")
        if kind is None:
            raise Decline(f"the files are not listed with os, glob or pathlib: `{snippet(source)}`")
        if kind == "backend":
            raise Decline(f"the files are listed through a storage backend (`{snippet(listing)}`), not os or pathlib")
        if kind == "rglob" or (kind == "glob" and any(a.keyword is not None for a in listing.args)):
            raise Decline("a recursive listing sorted by full path orders nested files differently from torchvision")
        if kind == "walk":
            self._walk(loop, target, listing, is_sorted)
            return
        if not is_sorted:
            raise Decline("the files are listed in file-system order; torchvision sorts them")
        args = _positional(listing) if isinstance(listing, cst.Call) else None
        if kind in ("walk-next", "listdir"):
            folder = walked if walked is not None else (args[0] if args and len(args) == 1 else None)
            self._expect_class_dir(loop, folder)
            self._bind_files(loop, target, _FileName(), kind)
        elif kind == "glob":
            self._glob(loop, target, args)
        elif kind in ("pathglob", "iterdir"):
            self._expect_class_dir(loop, self._path_receiver(listing))
            if kind == "pathglob":
                pattern = _string(args[0]) if args and len(args) == 1 else None
                if pattern is None:
                    raise Decline(f"the glob pattern is not a literal: `{snippet(listing)}`")
                loop.terms.extend(self._pattern_terms(pattern, hidden=False))
            elif args:
                raise Decline(f"unexpected iterdir arguments: `{snippet(listing)}`")
            self._bind_files(loop, target, _FilePath("path"), kind)
        else:
            raise Decline(f"the files are listed with {kind}; torchfix does not follow it")

    def _class_loop(self, loop: _Loop, target: cst.BaseExpression, source: cst.BaseExpression) -> None:
        """``for c in classes`` / ``enumerate(classes)`` / ``class_to_idx.items()`` and the like."""
        enumerated = m.matches(source, m.Call(func=m.Name("enumerate")))
        method = source.func.attr.value if m.matches(source, m.Call(func=m.Attribute(), args=[])) else None
        if enumerated:
            args = _positional(source)
            if args is None or len(args) != 1:
                raise Decline("the class indices do not start at 0; torchvision numbers the sorted folders 0..n-1")
            inner = args[0]
        elif method in ("items", "keys"):
            inner = source.func.value
        else:
            inner = source
        symbol = self._eval(inner) if _key(inner) is not None else self._classes(inner)
        if isinstance(symbol, _ClassIndex) and not enumerated:
            classes, is_sorted = symbol.classes, symbol.sorted
        elif isinstance(symbol, _Classes) and method is None:
            classes, is_sorted = symbol, symbol.sorted
        else:
            raise Decline(f"the loop does not go over the class folders: `{snippet(source)}`")
        if not is_sorted:
            raise Decline("the class folders are listed in file-system order; torchvision sorts them by name")
        loop.classes = classes
        if enumerated or method == "items":
            if not m.matches(target, m.Tuple([m.Element(), m.Element()])):
                raise Decline(f"unexpected loop target `{snippet(target)}`")
            first, second = (e.value for e in target.elements)
            label, name = (first, second) if enumerated else (second, first)
            self._bind(loop, label, _Label())
            self._bind(loop, name, _ClassName())
        else:
            self._bind(loop, target, _ClassName())

    @staticmethod
    def _bind(loop: _Loop, target: cst.BaseExpression, symbol: object) -> None:
        if not isinstance(target, cst.Name) or target.value in loop.vars:
            raise Decline(f"unexpected loop target `{snippet(target)}`")
        loop.vars[target.value] = symbol

    def _bind_files(self, loop: _Loop, target: cst.BaseExpression, symbol: object, listing: str) -> None:
        self._bind(loop, target, symbol)
        loop.in_files = True
        loop.listing = listing

    def _expect_class_dir(self, loop: _Loop, node: cst.BaseExpression | None) -> None:
        if node is None or not isinstance(self._loop_value(loop, node), _ClassDir):
            where = snippet(node) if node is not None else "?"
            raise Decline(f"the listed folder is not root/<class>: `{where}`")

    def _glob(self, loop: _Loop, target: cst.BaseExpression, args: list | None) -> None:
        parts = self._join_parts(args[0]) if args and len(args) == 1 else None
        pattern = _string(parts[-1]) if parts and len(parts) >= 2 else None
        if pattern is None or not isinstance(self._path_steps(loop, parts[:-1], "str"), _ClassDir):
            raise Decline("the glob pattern is not os.path.join(<class folder>, '<pattern>')")
        loop.terms.extend(self._pattern_terms(pattern, hidden=True))
        self._bind_files(loop, target, _FilePath("str"), "glob")

    def _pattern_terms(self, pattern: str, hidden: bool) -> list[cst.BaseExpression]:
        """``*`` or ``*<suffix>`` as filter terms (POSIX: case-sensitive; glob.glob skips hidden names)."""
        suffix = pattern[1:]
        if not pattern.startswith("*") or any(c in _GLOB_MAGIC or c in "/\\" for c in suffix):
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

    def _reference(self, qualified: str) -> cst.BaseExpression:
        expr = self.reference(qualified)
        root = free_names(expr)[0]
        if root in self.params:
            raise Decline(f"the parameter `{root}` hides {qualified}")
        self.introduced.add(root)
        return expr

    def _walk(self, loop: _Loop, target: cst.BaseExpression, listing: cst.Call, is_sorted: bool) -> None:
        if not is_sorted:
            raise Decline("os.walk yields folders in file-system order; torchvision sorts them")
        positional = [a for a in listing.args if a.keyword is None]
        keywords = [a for a in listing.args if a.keyword is not None]
        unexpected = any(a.star for a in listing.args) or any(a.keyword.value != "followlinks" for a in keywords)
        if len(positional) != 1 or unexpected:
            raise Decline(f"unexpected os.walk arguments: `{snippet(listing)}`")
        follows = bool(keywords) and _is_name(keywords[0].value, "True")
        if keywords and not follows and not _is_name(keywords[0].value, "False"):
            raise Decline("os.walk's followlinks is not a literal")
        self._expect_class_dir(loop, positional[0].value)
        if not m.matches(target, m.Tuple([m.Element(), m.Element(), m.Element()])):
            raise Decline(f"unexpected os.walk target `{snippet(target)}`")
        dirpath, _, files = (e.value for e in target.elements)
        self._bind(loop, dirpath, _WalkDir())
        self._bind(loop, files, _WalkFiles())
        loop.listing, loop.follows_links = "walk", follows

    def _loop_value(self, loop: _Loop, node: cst.BaseExpression) -> object:
        """The symbol of a loop-local expression (path algebra, labels), else a _Local."""
        if isinstance(node, cst.Name) and node.value in loop.vars:
            return loop.vars[node.value]
        parts = self._join_parts(node)
        if parts is not None:
            return self._path_steps(loop, parts, "str", node)
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide):
            return self._path_steps(loop, [node.left, node.right], "path", node)
        if isinstance(node, cst.Call):
            args = _positional(node)
            if args and len(args) == 1:
                inner = self._loop_value(loop, args[0])
                if self.names.qualified(node.func) == "pathlib.Path":
                    if isinstance(inner, _FilePath):
                        return _FilePath("path")
                    if isinstance(inner, (_ClassDir, _Root)):
                        return inner
                if _is_name(node.func, "str") and "str" not in self.globals and isinstance(inner, _FilePath):
                    return _FilePath("str")
        if m.matches(node, m.Subscript(slice=[m.SubscriptElement(slice=m.Index())])):
            index = self._eval(node.value) if _key(node.value) in self.env else None
            key = self._loop_value(loop, node.slice[0].slice.value)
            if isinstance(index, _ClassIndex) and isinstance(key, _ClassName):
                if index.classes is not loop.classes or not index.sorted:
                    raise Decline("the class index was built from another (or unsorted) class list")
                return _Label()
        if self._is_root(loop, node):
            return _Root()
        return _Local(node)

    def _is_root(self, loop: _Loop, node: cst.BaseExpression) -> bool:
        if any(n in loop.vars for n in free_names(node)):
            return False
        try:
            value = self._value(node)
        except Decline:
            return False
        return same_code(self._strip_path(value), self._strip_path(loop.classes.root))

    def _strip_path(self, node: cst.BaseExpression) -> cst.BaseExpression:
        if isinstance(node, cst.Call) and self.names.qualified(node.func) == "pathlib.Path":
            args = _positional(node)
            if args and len(args) == 1:
                return args[0]
        return node

    def _path_steps(self, loop: _Loop, parts: list, kind: str, whole: cst.BaseExpression | None = None) -> object:
        """Fold ``join``/``/``: root + class -> class folder; folder + its file name -> file path."""
        current = self._loop_value(loop, parts[0])
        for part in parts[1:]:
            symbol = self._loop_value(loop, part)
            walked = isinstance(current, _WalkDir) and loop.listing == "walk"
            listed = isinstance(current, _ClassDir) and loop.listing in ("listdir", "walk-next")
            if isinstance(current, _Root) and isinstance(symbol, _ClassName):
                current = _ClassDir()
            elif isinstance(symbol, _FileName) and (walked or listed):
                current = _FilePath(kind)
            else:
                return _Local(whole if whole is not None else parts[0])
        return current

    # -- the file filter ---------------------------------------------------------------

    def _term(self, loop: _Loop, test: cst.BaseExpression) -> cst.BaseExpression:
        """An ``if`` over the file, rewritten over is_valid_file's path parameter."""
        path = cst.Name(self.path_name)
        mapping: dict[str, cst.BaseExpression] = {}
        for name in free_names(test):
            symbol = loop.vars.get(name)
            if symbol is None or name in mapping:
                continue
            if isinstance(symbol, _FileName):
                mapping[name] = self._basename(path)
            elif isinstance(symbol, _FilePath):
                mapping[name] = path if symbol.kind == "str" else self._path_call(path)
            elif isinstance(symbol, _Local):
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
        return _strings(node)

    def _filter(self, fill: _Fill, image: bool) -> tuple[cst.BaseExpression | None, cst.BaseExpression | None]:
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

    # -- __getitem__ and __len__ ---------------------------------------------------------

    def _getitem(self, method: cst.FunctionDef, samples: str, fill: _Fill):
        params = method.params
        if (
            len(params.params) != 2 or params.star_arg is not cst.MaybeSentinel.DEFAULT
            or params.kwonly_params or params.star_kwarg or params.posonly_params
            or params.params[0].name.value != "self"
        ):
            raise Decline("__getitem__ takes more than an index")
        index = params.params[1].name.value
        path, target, rest = self._sample_lookup(statements(method.body), samples, index)
        inline = m.Return(value=m.Tuple([m.Element(), m.Element(m.Name(target))]))
        if len(rest) == 1 and m.matches(rest[0], inline) and path in free_names(rest[0].value.elements[0].value):
            # return load(path), target
            loaded = rest[0].value.elements[0].value
            self._check_loader(loaded, path, {target, index})
            return self._loader_argument(loaded, path, fill), None, None
        sample, loaded, rest = self._loader(rest, path, {target, index})
        transform, rest = self._transform(rest, sample, "transform")
        target_transform, rest = self._transform(rest, target, "target_transform")
        expected = m.Return(value=m.Tuple([m.Element(m.Name(sample)), m.Element(m.Name(target))]))
        if len(rest) != 1 or not m.matches(rest[0], expected):
            where = snippet(rest[0]) if rest else "no return"
            raise Decline(f"__getitem__ does more than load, transform and return (sample, target): `{where}`")
        return self._loader_argument(loaded, path, fill), transform, target_transform

    def _sample_lookup(self, body: list, samples: str, index: str):
        """``path, target = self.samples[i]`` (or ``[i][0]`` and ``[i][1]``) -> (path, target, rest)."""
        item = m.Subscript(
            value=m.Attribute(value=m.Name("self"), attr=m.Name(samples)),
            slice=[m.SubscriptElement(slice=m.Index(value=m.Name(index)))],
        )
        pair = m.Tuple([m.Element(m.Name()), m.Element(m.Name())])
        unpack = m.Assign(targets=[m.AssignTarget(target=pair)], value=item)
        if body and m.matches(body[0], unpack):
            first, second = (e.value.value for e in body[0].targets[0].target.elements)
            return first, second, body[1:]

        def part(position: int):
            element = m.SubscriptElement(slice=m.Index(value=m.Integer(str(position))))
            return m.Assign(targets=[m.AssignTarget(target=m.Name())], value=m.Subscript(value=item, slice=[element]))

        if len(body) >= 2 and m.matches(body[0], part(0)) and m.matches(body[1], part(1)):
            return body[0].targets[0].target.value, body[1].targets[0].target.value, body[2:]
        raise Decline(f"__getitem__ does not start by reading (path, target) from self.{samples}[{index}]")

    def _loader(self, body: list, path: str, forbidden: set[str]):
        """The statements that load the sample from ``path``, folded into one expression."""
        loaded: cst.BaseExpression | None = None
        sample = None
        rest = list(body)
        while rest:
            stmt = rest[0]
            if isinstance(stmt, cst.With) and loaded is None:
                sample, loaded = self._with_open(stmt, path)
            elif m.matches(stmt, m.Assign(targets=[m.AssignTarget(target=m.Name())])):
                name, value = stmt.targets[0].target.value, stmt.value
                reads = free_names(value)
                if name in forbidden or name == path or any(_is_self_read(n) for n in reads):
                    break
                if loaded is None:
                    if path not in reads:
                        break
                elif name != sample or reads.count(name) != 1:
                    break
                else:
                    value = substitute(value, {name: loaded})
                sample, loaded = name, value
            else:
                break
            rest = rest[1:]
        if loaded is None:
            raise Decline("__getitem__ does not load the sample from its path")
        self._check_loader(loaded, path, forbidden)
        return sample, loaded, rest

    def _check_loader(self, loaded: cst.BaseExpression, path: str, forbidden: set[str]) -> None:
        """The loader moves into __init__ as a function of the path alone."""
        for name in free_names(loaded):
            if name == path or name in self.introduced:
                continue
            if _is_self_read(name) or name in forbidden:
                raise Decline(
                    f"the loader reads `{name}` (instance state, a storage backend?); "
                    "DatasetFolder's loader gets only the path"
                )
            if name in self.params or (name not in self.globals and name not in _BUILTINS):
                raise Decline(f"the loader depends on `{name}`, which the new __init__ would shadow or drop")

    def _with_open(self, stmt: cst.With, path: str) -> tuple[str, cst.BaseExpression]:
        """``with open(path[, mode], encoding=...) as f: x = f.read()`` -> (x, ``Path(path).read_text(...)``)."""
        body = statements(stmt.body)
        item = stmt.items[0] if len(stmt.items) == 1 and stmt.asynchronous is None else None
        handle = item.asname.name if item is not None and item.asname is not None else None
        one_read = (
            isinstance(handle, cst.Name)
            and m.matches(item.item, m.Call(func=m.Name("open")))
            and "open" not in self.globals
            and len(body) == 1
            and m.matches(body[0], m.Assign(targets=[m.AssignTarget(target=m.Name())]))
            and free_names(body[0].value).count(handle.value) == 1
        )
        read = m.Call(func=m.Attribute(value=m.Name(handle.value), attr=m.Name("read")), args=[]) if one_read else None
        reads = m.findall(body[0].value, read) if one_read else []
        if len(reads) != 1:
            raise Decline(f"the loader is not one expression: `{snippet(stmt)}`")
        method, keywords = self._open_mode(item.item, path)
        reading = cst.Call(cst.Attribute(self._path_call(cst.Name(path)), cst.Name(method)), keywords)
        return body[0].targets[0].target.value, body[0].value.visit(_ReplaceNode(reads[0], reading))

    @staticmethod
    def _open_mode(opened: cst.Call, path: str) -> tuple[str, list[cst.Arg]]:
        """open()'s arguments as a pathlib read method and its keywords."""
        args = list(opened.args)
        if not args or args[0].keyword is not None or args[0].star or not _is_name(args[0].value, path):
            raise Decline("the loader does not open the sample's path")
        mode = "r"
        keywords = []
        for position, argument in enumerate(args[1:], start=1):
            name = argument.keyword.value if argument.keyword is not None else ("mode" if position == 1 else "")
            if argument.star:
                name = ""
            if name == "mode" and _string(argument.value) is not None:
                mode = _string(argument.value)
            elif name in ("encoding", "errors"):
                equal = cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))
                keywords.append(cst.Arg(argument.value, keyword=cst.Name(name), equal=equal))
            else:
                raise Decline(f"open() argument `{snippet(argument)}` has no pathlib read form")
        if mode in ("r", "rt", "tr"):
            method = "read_text"
        elif mode in ("rb", "br") and not keywords:
            method = "read_bytes"
        else:
            raise Decline(f"open() mode {mode!r} has no pathlib read form")
        comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        return method, [k.with_changes(comma=comma) for k in keywords[:-1]] + keywords[-1:]

    def _transform(self, body: list, variable: str, kind: str):
        """``if self.T [is not None]: v = self.T(v)`` (or unconditional) -> (transform expression, rest)."""
        if not body:
            return None, body
        stmt, test = body[0], None
        if isinstance(stmt, cst.If) and stmt.orelse is None and len(statements(stmt.body)) == 1:
            test, stmt = stmt.test, statements(stmt.body)[0]
        apply = m.Assign(
            targets=[m.AssignTarget(target=m.Name(variable))],
            value=m.Call(
                func=m.Attribute(value=m.Name("self")), args=[m.Arg(value=m.Name(variable), keyword=None, star="")]
            ),
        )
        if not m.matches(stmt, apply):
            return None, body
        attribute = stmt.value.func.attr.value
        attr = m.Attribute(value=m.Name("self"), attr=m.Name(attribute))
        is_not_none = m.Comparison(
            left=attr, comparisons=[m.ComparisonTarget(operator=m.IsNot(), comparator=m.Name("None"))]
        )
        if test is not None and not m.matches(test, attr | is_not_none):
            return None, body
        symbol = self.env.get(f"self.{attribute}")
        if not isinstance(symbol, _Value):
            raise Decline(f"self.{attribute} is not set from the constructor's arguments")
        self.transform_attributes[kind] = attribute
        return symbol.expr, body[1:]

    @staticmethod
    def _len(method: cst.FunctionDef, samples: str) -> None:
        expected = m.Return(
            value=m.Call(
                func=m.Name("len"), args=[m.Arg(value=m.Attribute(value=m.Name("self"), attr=m.Name(samples)))]
            )
        )
        body = statements(method.body)
        params = method.params
        only_self = (
            [p.name.value for p in params.params] == ["self"]
            and not (params.posonly_params or params.kwonly_params or params.star_kwarg)
            and params.star_arg is cst.MaybeSentinel.DEFAULT
        )
        if not only_self or len(body) != 1 or not m.matches(body[0], expected):
            raise Decline("__len__ is not len(self.<samples>)")

    def _loader_argument(self, loaded: cst.BaseExpression, path: str, fill: _Fill) -> cst.BaseExpression | None:
        """None for ImageFolder's default loader (PIL, RGB), else the ``loader=`` value."""
        rgb = m.Call(
            func=m.Attribute(
                value=m.Call(args=[m.Arg(value=m.Name(path), keyword=None, star="")]), attr=m.Name("convert")
            ),
            args=[m.Arg(value=m.SimpleString(), keyword=None)],
        )
        if m.matches(loaded, rgb) and self.names.qualified(loaded.func.value.func) == "PIL.Image.open":
            if _string(loaded.args[0].value) == "RGB":
                return None
        if fill.path_kind == "path":
            loaded = loaded.visit(_PathArguments(path, self))
        single = m.Call(args=[m.Arg(value=m.Name(path), keyword=None, star="")])
        if m.matches(loaded, single) and path not in free_names(loaded.func):
            return loaded.func
        return cst.Lambda(cst.Parameters([cst.Param(cst.Name(path))]), loaded)

    def _qualified_call(self, node: cst.Call) -> str | None:
        if isinstance(node.func, cst.Name) and node.func.value in _BUILTINS and node.func.value not in self.globals:
            return f"builtins.{node.func.value}"
        return self.names.qualified(node.func)

    # -- attributes -----------------------------------------------------------------

    def _assignments(self, fill: _Fill, image: bool) -> tuple[tuple[str, cst.BaseExpression], ...]:
        """Aliases and kept attributes after ``super().__init__``; Decline on a clash with torchvision's."""
        applied = {attribute: kind for kind, attribute in self.transform_attributes.items()}
        written = []
        for attribute, symbol in self.attributes:
            if isinstance(symbol, _Classes) and symbol is fill.classes:
                source = "classes"
            elif isinstance(symbol, _ClassIndex) and symbol.classes is fill.classes and symbol.sorted:
                source = "class_to_idx"
            elif isinstance(symbol, _Samples) and symbol.fill is fill:
                source = "samples"
            elif isinstance(symbol, _Targets) and symbol.samples.fill is fill:
                source = "targets"
            elif not isinstance(symbol, _Value):
                raise Decline(f"self.{attribute} holds a list the fix would not rebuild")
            elif attribute in applied:
                source = applied[attribute]
            elif attribute == "root" and same_code(symbol.expr, fill.classes.root):
                continue
            elif attribute in ("transform", "target_transform"):
                raise Decline(f"self.{attribute} is set but never applied in __getitem__; DatasetFolder would apply it")
            elif attribute in TORCHVISION_ATTRIBUTES - {"root"}:
                raise Decline(f"self.{attribute} means something else in DatasetFolder")
            else:
                written.append((attribute, symbol.expr))
                continue
            if attribute == source or (image and attribute == "imgs" and source == "samples"):
                continue
            if attribute in TORCHVISION_ATTRIBUTES:
                raise Decline(f"self.{attribute} means something else in DatasetFolder")
            written.append((attribute, cst.Attribute(cst.Name("self"), cst.Name(source))))
        return tuple(written)


def _negate(test: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return test.expression.with_changes(lpar=[], rpar=[]) if test.expression.lpar else test.expression
    return cst.UnaryOperation(cst.Not(), parenthesized(test))


class _ReplaceNode(cst.CSTTransformer):
    def __init__(self, old: cst.CSTNode, new: cst.CSTNode) -> None:
        super().__init__()
        self.old, self.new = old, new

    def on_leave(self, original_node, updated_node):
        return self.new if original_node is self.old else updated_node


class _PathArguments(cst.CSTTransformer):
    """``p`` -> ``Path(p)`` in a loader, except as the path argument of a loader that takes str too."""

    def __init__(self, path: str, analysis: FolderDataset) -> None:
        super().__init__()
        self.path, self.analysis = path, analysis
        self.keep: set[cst.CSTNode] = set()

    def visit_Call(self, node: cst.Call) -> None:
        agnostic = self.analysis._qualified_call(node) in _PATH_AGNOSTIC
        if agnostic and node.args and _is_name(node.args[0].value, self.path):
            self.keep.add(node.args[0].value)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.keep.add(node.attr)

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.keep.add(node.keyword)

    def leave_Name(self, original_node, updated_node):
        if original_node.value == self.path and original_node not in self.keep:
            return self.analysis._path_call(cst.Name(self.path))
        return updated_node


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


def is_dataset_class(cls: cst.ClassDef, names: NameTable) -> bool:
    """A plain ``class X(torch.utils.data.Dataset)``: one base, no decorators or metaclass."""
    return not (cls.decorators or cls.keywords or len(cls.bases) != 1) and names.qualified(cls.bases[0].value) in _DATASET


def analyze(cls: cst.ClassDef, names: NameTable, facts: ModuleFacts, reference: Referencer) -> Plan | str | None:
    """A Plan, a reason to report without a fix, or None when the class is no class-folder dataset."""
    if not is_dataset_class(cls, names):
        return None
    methods = {s.name.value: s for s in statements(cls.body) if isinstance(s, cst.FunctionDef)}
    if "__init__" not in methods or "__getitem__" not in methods:
        return None
    nesting = _Nesting(names)
    walk(methods["__init__"].body, [nesting])
    if not (nesting.flat_glob or nesting.walk_labels or nesting.deepest >= 2):
        return None
    try:
        return FolderDataset(cls, names, facts, reference).plan()
    except Decline as reason:
        declined = str(reason)
    if not _names_classes(cls):
        return None  # nested listings, but nothing says the folders are classes
    if nesting.flat_glob:
        return (
            "one glob over root/*/<files> sorted by full path orders classes differently from torchvision "
            "when folder names share a prefix"
        )
    if nesting.walk_labels and nesting.deepest < 2:
        return "labels come from os.walk's folder names; torchvision numbers the sorted class folders of the root"
    if nesting.deepest > 2:
        return (
            "the files sit two folders below the root (root/<group>/<class>/<file>); "
            "DatasetFolder reads one class level"
        )
    return declined


#: identifier fragments that say a folder is a class (for report-only findings)
_CLASS_WORDS = ("class", "label", "target", "cls", "categor")


def _names_classes(cls: cst.ClassDef) -> bool:
    """Whether some identifier of the class speaks of classes, labels or targets."""
    return any(
        any(word in name.value.lower() for word in _CLASS_WORDS)
        for name in m.findall(cls.body, m.Name())
    )
