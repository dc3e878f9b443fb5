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
parameters, module-level names or builtins, never locals the fix drops."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m

from torchfix.names import NameTable
from torchfix.rules._dataset_filter import FileFilter
from torchfix.rules._dataset_init import InitReader
from torchfix.rules._dataset_items import ItemReader
from torchfix.rules._dataset_symbols import (
    DATASET,
    GLOB,
    ONE_LEVEL,
    WALK,
    WALK_LINKS,
    Decline,
    ModuleFacts,
    Nesting,
    Plan,
    Referencer,
    Samples,
)
from torchfix.rules._suites import statements
from torchfix.walk import walk


class FolderDataset(InitReader, FileFilter, ItemReader):
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
        filled = [s for s in self.env.values() if isinstance(s, Samples) and s.fill is not None]
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


def is_dataset_class(cls: cst.ClassDef, names: NameTable) -> bool:
    """A plain ``class X(torch.utils.data.Dataset)``: one base, no decorators or metaclass."""
    return not (cls.decorators or cls.keywords or len(cls.bases) != 1) and names.qualified(cls.bases[0].value) in DATASET


def analyze(cls: cst.ClassDef, names: NameTable, facts: ModuleFacts, reference: Referencer) -> Plan | str | None:
    """A Plan, a reason to report without a fix, or None when the class is no class-folder dataset."""
    if not is_dataset_class(cls, names):
        return None
    methods = {s.name.value: s for s in statements(cls.body) if isinstance(s, cst.FunctionDef)}
    if "__init__" not in methods or "__getitem__" not in methods:
        return None
    nesting = Nesting(names)
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
    """Whether some identifier of the class speaks of classes, labels or targets, or a sample pairs
    a path with the position of its folder in the listing (``for i, d in enumerate(os.listdir(root))``
    then ``(path, i)``): either way the folders are classes."""
    if any(any(word in name.value.lower() for word in _CLASS_WORDS) for name in m.findall(cls.body, m.Name())):
        return True
    counters = {
        target.elements[0].value.value
        for loop in m.findall(cls.body, m.For() | m.CompFor())
        if m.matches(loop.iter, m.Call(func=m.Name("enumerate")))
        and isinstance(target := loop.target, cst.Tuple)
        and len(target.elements) == 2
        and isinstance(target.elements[0].value, cst.Name)
    }
    return any(
        isinstance(element.value, cst.Name) and element.value.value in counters
        for pair in m.findall(cls.body, m.Tuple())
        for element in pair.elements
    )
