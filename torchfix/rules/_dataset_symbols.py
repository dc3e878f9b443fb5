"""What TF001's dataset reader works with: the symbols it evaluates ``__init__`` to, the plan it returns, and the small helpers its three parts share."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Callable

import libcst as cst
import libcst.matchers as m

from torchfix.names import NameTable
from torchfix.patterns import code, self_attribute_name
from torchfix.rules._suites import assignment_targets
from torchfix.walk import walk

#: torchvision.datasets.folder.IMG_EXTENSIONS (0.29)
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


#: attributes DatasetFolder/ImageFolder set; the original may not give them another meaning
TORCHVISION_ATTRIBUTES = frozenset(
    {"root", "loader", "extensions", "classes", "class_to_idx", "samples", "targets", "transform",
     "target_transform", "transforms", "imgs"}
)


DATASET = ("torch.utils.data.Dataset", "torch.utils.data.dataset.Dataset")


_LISTINGS = {
    "os.listdir": "listdir", "os.scandir": "scandir", "os.walk": "walk", "glob.glob": "glob", "glob.iglob": "glob"
}


_PATH_METHODS = {"iterdir": "iterdir", "glob": "pathglob", "rglob": "rglob"}


_BACKEND_METHODS = frozenset({"listdir", "scandir", "walk", "ls", "list_dir", "list_dir_or_file", "list_files"})


#: file listings that raise when a "class" is a plain file (so a class list of every entry is safe)
RAISE_ON_FILES = frozenset({"listdir", "iterdir", "walk-next"})


#: loaders that accept a str path as well as a pathlib.Path


BUILTINS = frozenset(dir(builtins))


GLOB_MAGIC = frozenset("*?[")


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


def keyed_sort(what: str) -> str:
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


@dataclass(eq=False)
class Classes:
    """The class-folder names of ``root``."""

    root: cst.BaseExpression
    sorted: bool
    dirs_only: bool


@dataclass(frozen=True)
class ClassIndex:
    classes: Classes
    #: whether the classes were sorted when the index was built
    sorted: bool


@dataclass(frozen=True)
class Fill:
    """How the samples list is filled."""

    classes: Classes
    path_kind: str
    listing: str
    follows_links: bool
    #: filter terms over is_valid_file's path parameter
    terms: tuple[cst.BaseExpression, ...]


@dataclass(eq=False)
class Samples:
    fill: Fill | None = None


@dataclass(frozen=True)
class Targets:
    """``[label for _, label in samples]``: torchvision's ``targets``."""

    samples: Samples


@dataclass(frozen=True)
class Value:
    """A pure expression of ``__init__`` parameters and module-level names."""

    expr: cst.BaseExpression


@dataclass(frozen=True)
class Root:
    pass


@dataclass(frozen=True)
class ClassName:
    pass


@dataclass(frozen=True)
class Label:
    pass


@dataclass(frozen=True)
class ClassDir:
    pass


@dataclass(frozen=True)
class WalkDir:
    pass


@dataclass(frozen=True)
class WalkFiles:
    pass


@dataclass(frozen=True)
class FileName:
    """A file's name in a class folder (or in an os.walk folder)."""


@dataclass(frozen=True)
class FilePath:
    kind: str  # "str" or "path"


@dataclass(frozen=True)
class Local:
    """Any other loop-local expression (inlined into the file filter)."""

    expr: cst.BaseExpression


def snippet(node: cst.CSTNode) -> str:
    text = code(node).strip().splitlines()[0]
    return text if len(text) <= 60 else text[:57] + "..."


def is_name(node: cst.CSTNode | None, name: str) -> bool:
    return isinstance(node, cst.Name) and node.value == name


def attribute_key(node: cst.CSTNode) -> str | None:
    """The environment key of a Name or ``self.X``."""
    if isinstance(node, cst.Name):
        return node.value
    attr = self_attribute_name(node)
    return None if attr is None else f"self.{attr}"


def positional_args(call: cst.Call) -> list[cst.BaseExpression] | None:
    """The positional arguments, or None when the call has keywords or star-args."""
    if any(a.keyword is not None or a.star for a in call.args):
        return None
    return [a.value for a in call.args]


def string_value(node: cst.CSTNode | None) -> str | None:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def string_values(node: cst.CSTNode) -> tuple[str, ...] | None:
    """A string literal or a tuple of string literals."""
    single = string_value(node)
    if single is not None:
        return (single,)
    if isinstance(node, cst.Tuple) and node.elements:
        values = tuple(string_value(e.value) for e in node.elements)
        if all(v is not None for v in values):
            return values  # type: ignore[return-value]
    return None


def is_self_read(name: str) -> bool:
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
        strings = string_values(values[0]) if len(values) == 1 and values[0] is not None else None
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
    if isinstance(node, cst.Call) and is_name(node.func, "sorted") and node.args:
        return node.args[0].value
    return node


class Nesting(cst.CSTVisitor):
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
            key = attribute_key(node)
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
            if not any(is_name(a.value, dirpath) for a in call.args) and not m.matches(
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
    literals = [string_value(s) for s in m.findall(call, m.SimpleString())]
    if any(s is not None and ("*/" in s or "*\\" in s) for s in literals):
        return True
    pattern = call.args[0].value if call.args else None
    if isinstance(pattern, cst.Call) and pattern.args:
        return any("*" in (string_value(a.value) or "") for a in pattern.args[:-1])
    return False


@dataclass
class Loop:
    """State while walking the clauses of the sample loop."""

    vars: dict[str, object] = field(default_factory=dict)
    classes: Classes | None = None
    in_files: bool = False
    listing: str = ""
    follows_links: bool = False
    terms: list[cst.BaseExpression] = field(default_factory=list)


