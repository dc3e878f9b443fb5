"""What the rest of a project shows about a file's classes: a per-run index of names -> files.

A fix that renames things (TF008 fuses ``q``, ``k``, ``v`` into ``qkv``) is only
right when no other code reads the old names, and when the weights really pass
through ``load_state_dict``. That evidence often lives in another file of the
package: a conversion map, a LoRA key map, a tensor-parallel plan, a training
script that pickles the whole model. :func:`package_of` finds the project
around a file; :func:`index_of` reads every Python file under it once per
process with Python's own ``ast`` (no LibCST, no imports of user code) and keeps
only small sets of names per file.

The runner puts a :class:`PackageRef` (the root and a fingerprint of every file's
size and modification time) into the rule settings of each file, so the findings
cache is keyed on it: a change anywhere in the project re-checks its files.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Mapping

#: the rules that read other files of the project (the runner passes them the project)
PACKAGE_RULES = ("TF003", "TF008")
#: calls whose presence anywhere in the project matters (TF008: weights assigned by key)
WATCHED_CALLS = frozenset({"from_pretrained", "load_model_dict_into_meta", "set_module_tensor_to_device", "init_empty_weights"})
#: the file's key when no project is known
THIS_FILE = "<this file>"
#: DataLoader arguments whose callables run on CPU batches
LOADER_KEYWORDS = ("collate_fn", "sampler", "batch_sampler", "worker_init_fn")
#: the name prefixes of the checkpoint hooks TF008 writes
GENERATED_HOOKS = ("_load_unfused_", "_save_unfused_")
#: the file names that make a folder a distributable project
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
#: folders never searched (virtual environments, build output, caches)
_SKIPPED_DIRS = frozenset({"node_modules", "build", "dist", "site-packages", "__pycache__"})
#: files larger than this are not read (generated tables, vendored blobs)
_MAX_FILE_BYTES = 2_000_000
#: at most this many files (and folders) are indexed; a larger tree is searched in part and says so
MAX_FILES = 20_000
MAX_FOLDERS = 20_000
#: splits a string literal into the names it may hold (``"layers.*.attn.wq"``, ``r".*\.q_proj"``)
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9_]+")
#: the last name of what ``torch.save`` pickles when it is a whole model (``model``, ``self.net``)
_MODEL_WORD = re.compile(r"(^|_)(model|net|network|module|encoder|decoder|generator|discriminator)s?($|_)", re.I)


@dataclass(frozen=True)
class PackageRef:
    """Which project a file belongs to, and a digest of what the project shows about it.

    Its ``repr`` is part of the findings cache key (the rule settings), so it holds
    ``evidence``: a digest of only the facts that can change this file's findings (the
    other files naming its classes' attributes, subclasses of its classes, the
    project-wide loading and saving facts). Editing an unrelated file leaves it alone;
    ``fingerprint`` (every file's size and time: which index to read) stays out of it."""

    root: str
    #: the file itself, relative to ``root``
    file: str
    #: whether the project is a distributable library (``pyproject.toml``/``setup.py``/``setup.cfg``)
    distributable: bool
    evidence: str = ""
    fingerprint: str = field(default="", compare=False, repr=False)


@dataclass
class FileFacts:
    """The names one file shows (all sets of plain identifiers)."""

    #: identifier-like parts of string literals that hold a ``.`` or are one identifier
    string_names: set[str] = field(default_factory=set)
    #: ``x.name`` where ``x`` is not the enclosing method's ``self``
    attribute_names: set[str] = field(default_factory=set)
    #: last names of every call target, and every name imported (``from accelerate import
    #: init_empty_weights as empty`` counts ``init_empty_weights``)
    called: set[str] = field(default_factory=set)
    #: class name -> the last names of its bases
    classes: dict[str, set[str]] = field(default_factory=dict)
    #: class name -> the ``self.<name>`` attributes its methods use
    self_attributes: dict[str, set[str]] = field(default_factory=dict)
    #: ``torch.save(model, ...)`` or ``torch.save({"model": model})``: a whole module pickled
    pickles_module: str | None = None
    #: ``{k: v for k, v in sd.items() if k in model.state_dict()}``: keys filtered before loading
    filters_keys: str | None = None
    #: ``torch.nested`` or ``layout=torch.jagged``
    nested: bool = False
    #: ``collate_fn=x.pad``, ``sampler=self.sample``: method name -> the DataLoader argument
    loader_callables: dict[str, str] = field(default_factory=dict)


@dataclass
class PackageIndex:
    """Every indexed file's facts, and the names -> files maps the rules ask."""

    root: Path
    files: dict[str, FileFacts] = field(default_factory=dict)
    #: whether :data:`MAX_FILES` cut the search short
    truncated: bool = False
    _bases: dict[str, set[str]] = field(default_factory=dict)
    _derived: dict[str, set[str]] = field(default_factory=dict)
    #: name -> the files whose strings / attribute chains hold it
    _strings: dict[str, set[str]] = field(default_factory=dict)
    _attributes: dict[str, set[str]] = field(default_factory=dict)
    #: a digest of the project-wide facts (class bases, loading and saving, DataLoader callables)
    _global: str = ""

    def files_with_string(self, name: str, besides: str) -> list[str]:
        return sorted(f for f in self._strings.get(name, ()) if f != besides)

    def files_with_attribute(self, name: str, besides: str) -> list[str]:
        return sorted(f for f in self._attributes.get(name, ()) if f != besides)

    def files_calling(self, *names: str) -> list[tuple[str, str]]:
        """(file, name) for every file that calls one of ``names``."""
        return sorted((f, n) for f, facts in self.files.items() for n in names if n in facts.called)

    def ancestors(self, class_name: str) -> set[str]:
        """The last names of every base of every class of that name, transitively, across the project."""
        return self._closure(class_name, self._bases)

    def subclasses(self, class_name: str) -> set[str]:
        """Every class of the project that derives (transitively) from a class of that name."""
        return self._closure(class_name, self._derived)

    @staticmethod
    def _closure(start: str, edges: dict[str, set[str]]) -> set[str]:
        found: set[str] = set()
        todo = [start]
        while todo:
            for other in edges.get(todo.pop(), ()):
                if other not in found:
                    found.add(other)
                    todo.append(other)
        return found

    def link_classes(self) -> None:
        """The class -> bases map and its reverse, and the name -> files maps, once the files are read."""
        for file, facts in self.files.items():
            for name in facts.string_names:
                self._strings.setdefault(name, set()).add(file)
            for name in facts.attribute_names:
                self._attributes.setdefault(name, set()).add(file)
            for cls, bases in facts.classes.items():
                self._bases.setdefault(cls, set()).update(bases)
                for base in bases:
                    self._derived.setdefault(base, set()).add(cls)
        every = (
            self.truncated,
            sorted((cls, sorted(bases)) for cls, bases in self._bases.items()),
            [(f, sorted(facts.called & WATCHED_CALLS), facts.pickles_module, facts.filters_keys, facts.nested,
              sorted(facts.loader_callables.items())) for f, facts in sorted(self.files.items())],
        )
        self._global = hashlib.sha256(repr(every).encode()).hexdigest()

    def loader_callables(self) -> dict[str, tuple[str, str]]:
        """Method name -> (the DataLoader argument it is passed as, the file), across the project."""
        found: dict[str, tuple[str, str]] = {}
        for file in sorted(self.files):
            for method, keyword in self.files[file].loader_callables.items():
                found.setdefault(method, (keyword, file))
        return found

    def evidence_digest(self, file: str) -> str:
        """What the rest of the project shows about ``file``'s classes (see :class:`PackageRef`)."""
        own = self.files.get(file, FileFacts())
        names = sorted(set().union(set(own.classes), *own.self_attributes.values()))
        subclasses = {cls: sorted(self.subclasses(cls)) for cls in sorted(own.classes)}
        facts = (
            self._global,
            [(n, self.files_with_string(n, file), self.files_with_attribute(n, file)) for n in names],
            [(c, subs, [sorted(f.self_attributes.get(sub, set()) & set(names)) for f in self.files.values()
                         for sub in subs if sub in f.self_attributes]) for c, subs in subclasses.items()],
        )
        return hashlib.sha256(repr(facts).encode()).hexdigest()[:16]

    def first(self, attribute: str) -> tuple[str, str] | None:
        """(file, what) of the first file whose ``attribute`` fact is set (``pickles_module``, ...)."""
        for name in sorted(self.files):
            value = getattr(self.files[name], attribute)
            if value:
                return name, value if isinstance(value, str) else ""
        return None


def project_root(path: Path) -> tuple[Path, bool]:
    """The folder to search around ``path``, and whether it is a distributable library.

    The nearest folder above the file with a project file (``pyproject.toml``,
    ``setup.py``, ``setup.cfg``; a library when it builds a package), else the git root, else the top-level
    package folder (the highest folder of the chain of ``__init__.py``), else the
    file's own folder."""
    folder = path.resolve().parent
    for candidate in [folder, *folder.parents]:
        if any((candidate / name).is_file() for name in PROJECT_FILES):
            return candidate, _distributable(candidate)
        if (candidate / ".git").exists():
            return candidate, False
    package = folder
    while (package / "__init__.py").is_file() and (package.parent / "__init__.py").is_file():
        package = package.parent
    return package, False


def _distributable(root: Path) -> bool:
    """A ``setup.py``/``setup.cfg``, or a ``pyproject.toml`` that builds a package (``[project]``,
    ``[build-system]``, ``[tool.poetry]``); one holding only tool settings is an application."""
    if (root / "setup.py").is_file() or (root / "setup.cfg").is_file():
        return True
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"^\s*\[(project|build-system|tool\.poetry)\]", text, re.MULTILINE) is not None


def _python_files(root: Path) -> tuple[list[Path], bool]:
    found: list[Path] = []
    for visited, (folder, dirs, files) in enumerate(os.walk(root)):
        if visited >= MAX_FOLDERS:
            return found, True
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS and not d.endswith(".egg-info")
            and not (Path(folder, d) / "pyvenv.cfg").exists()
        )
        for name in sorted(files):
            path = Path(folder, name)
            if name.endswith(".py") and _is_regular(path):  # a FIFO named x.py would block the read
                found.append(path)
                if len(found) >= MAX_FILES:
                    return found, True
    return found, False


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


@lru_cache(maxsize=16)
def _fingerprint(root: str) -> str:
    """Sizes and modification times of every Python file of the project (once per process)."""
    digest = hashlib.sha256()
    files, _ = _python_files(Path(root))
    for file in files:
        try:
            stat = file.stat()
        except OSError:
            continue
        digest.update(f"{file.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def forget() -> None:
    """Start a new run: fingerprints and indexes are read again (for runs made in one process)."""
    _fingerprint.cache_clear()
    index_of.cache_clear()


def package_of(path: Path) -> PackageRef:
    """The :class:`PackageRef` of a file (the project is indexed once per process)."""
    root, distributable = project_root(path)
    try:
        relative = path.resolve().relative_to(root).as_posix()
    except ValueError:
        relative = path.name
    fingerprint = _fingerprint(str(root))
    evidence = index_of(str(root), fingerprint).evidence_digest(relative)
    return PackageRef(str(root), relative, distributable, evidence, fingerprint)


@lru_cache(maxsize=4)
def index_of(root: str, fingerprint: str) -> PackageIndex:
    """Every Python file under ``root`` read once (per process and fingerprint)."""
    files, truncated = _python_files(Path(root))
    index = PackageIndex(Path(root), truncated=truncated)
    for file in files:
        try:
            if file.stat().st_size > _MAX_FILE_BYTES:
                continue
            tree = ast.parse(file.read_bytes(), str(file))
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        index.files[file.relative_to(root).as_posix()] = facts_of_file(tree)
    index.link_classes()
    return index


def index_for(settings: Mapping[str, object], module_code: str) -> tuple[PackageIndex, str]:
    """The project's index and the file's key in it; without a project (stdin, the engine API),
    an index of the file alone, keyed :data:`THIS_FILE`."""
    ref = settings.get("package")
    if isinstance(ref, PackageRef):
        return index_of(ref.root, ref.fingerprint), ref.file
    index = PackageIndex(Path("."), {THIS_FILE: facts_of_file(ast.parse(module_code))})
    index.link_classes()
    return index, THIS_FILE


def _last_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return _last_name(node.func)
    if isinstance(node, ast.Subscript):
        return _last_name(node.value)
    return None


def _string_names(value: str) -> set[str]:
    """The identifiers a string may name a layer by: its parts when it is one dotted key or
    pattern (``"model.layers.0.attn.wq.weight"``, ``r"layers\\.\\d+\\.wq"``), or itself when it is
    one identifier (``"to_q"``)."""
    if value.isidentifier():
        return {value}
    if "." not in value or len(value) > 300 or any(c.isspace() for c in value):
        return set()  # prose (messages, docstrings) rather than a key
    return {word for word in _WORD_SPLIT.split(value) if word.isidentifier()}


def _pickled_module(node: ast.Call) -> str | None:
    """``torch.save(model, f)`` / ``torch.save({"model": model}, f)``: what is pickled whole."""
    if not node.args:
        return None
    saved = node.args[0]
    values = saved.values if isinstance(saved, ast.Dict) else [saved]
    for value in values:
        name = _last_name(value) if isinstance(value, (ast.Name, ast.Attribute)) else None
        if name is not None and (_MODEL_WORD.search(name) or name == "self"):
            return ast.unparse(value)
    if isinstance(saved, ast.Dict):
        for key, value in zip(saved.keys, saved.values):
            if (
                isinstance(key, ast.Constant) and isinstance(key.value, str) and _MODEL_WORD.search(key.value)
                and isinstance(value, (ast.Name, ast.Attribute))
            ):
                return ast.unparse(value)
    return None


def _filters_keys(node: ast.expr) -> bool:
    """A comprehension over ``something.items()`` that keeps only some keys (``if k in own``)."""
    for generator in getattr(node, "generators", ()):
        iterated = generator.iter
        if not (isinstance(iterated, ast.Call) and _last_name(iterated.func) == "items"):
            continue
        for test in generator.ifs:
            if any(
                isinstance(compare, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in compare.ops)
                for compare in ast.walk(test)
            ):
                return True
    return False


def _children(node: ast.AST):
    for name in node._fields:
        value = getattr(node, name, None)
        if isinstance(value, ast.AST):
            yield value
        elif isinstance(value, list):
            yield from (item for item in value if isinstance(item, ast.AST))


def facts_of_file(tree: ast.Module) -> FileFacts:
    """One walk over a file's AST (``ast.walk`` is slow in Python; this is the only walk);
    names bound by ``import ... as`` are read as the names they bind, once the walk is done."""
    facts = FileFacts()
    aliases: dict[str, str] = {}
    torch_names = {"torch"}
    calls: list[tuple[str, ast.Call]] = []
    bases: list[tuple[str, str]] = []
    nested_roots: set[str] = set()
    stack: list[tuple[ast.AST, str | None]] = [(tree, None)]
    while stack:
        node, cls = stack.pop()
        if isinstance(node, ast.FunctionDef) and node.name.startswith(GENERATED_HOOKS):
            continue  # hooks an earlier fix wrote: their strings name layers that no longer exist
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                facts.string_names |= _string_names(node.value)
            continue
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                if node.value.id == "self" and cls is not None:
                    facts.self_attributes.setdefault(cls, set()).add(node.attr)
            else:
                facts.attribute_names.add(node.attr)
            if node.attr == "jagged":
                facts.nested = True
            elif node.attr == "nested" and _last_name(node.value) is not None:
                nested_roots.add(_last_name(node.value))
        elif isinstance(node, ast.Call):
            name = _last_name(node.func)
            if name is not None:
                calls.append((name, node))
            if name == "dict" and facts.filters_keys is None and any(_filters_keys(a) for a in node.args):
                facts.filters_keys = ast.unparse(node)[:80]
        elif isinstance(node, ast.keyword):
            if node.arg in LOADER_KEYWORDS and isinstance(node.value, ast.Attribute):
                facts.loader_callables[node.value.attr] = node.arg
        elif isinstance(node, ast.ClassDef):
            cls = node.name
            facts.classes.setdefault(cls, set())
            facts.self_attributes.setdefault(cls, set())
            bases += [(cls, b) for b in map(_last_name, node.bases) if b is not None]
        elif isinstance(node, ast.DictComp):
            if facts.filters_keys is None and _filters_keys(node):
                facts.filters_keys = ast.unparse(node)[:80]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            module = node.module or "" if isinstance(node, ast.ImportFrom) else ""
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                name = alias.name.split(".")[-1] if module else alias.name
                aliases[bound] = name
                facts.called.add(name)
                if name == "torch":
                    torch_names.add(bound)
                if f"{module}.{alias.name}".lstrip(".").startswith("torch.nested"):
                    facts.nested = True
            continue
        stack.extend((child, cls) for child in _children(node))
    for cls, base in bases:
        facts.classes[cls].add(aliases.get(base, base))
    for name, call in calls:
        name = aliases.get(name, name)
        facts.called.add(name)
        if name == "save" and facts.pickles_module is None:
            facts.pickles_module = _pickled_module(call)
    facts.nested = facts.nested or bool(nested_roots & torch_names)
    return facts
