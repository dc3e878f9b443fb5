"""What the rest of a project shows about a file's classes: a per-run index of names -> files.

A fix that renames things (TF008 fuses ``q``, ``k``, ``v`` into ``qkv``) is only
right when no other code reads the old names, and when the weights really pass
through ``load_state_dict``. That evidence often lives in another file of the
package: a conversion map, a LoRA key map, a tensor-parallel plan, a training
script that pickles the whole model. :func:`package_of` finds the project
around a file; the index keeps only small sets of names per Python file of it
(:class:`FileFacts`, read off Python's own ``ast``: no LibCST, no imports of
user code).

The runner builds each index once per run (:func:`build_index`) from the facts
its prefilter already read off every file it checks, the facts cache for the
files it does not, and registers it for its workers; a single file checked
outside a run gets its project read here once per process (:func:`index_of`).
The runner also puts a :class:`PackageRef` into the rule settings of each file
that needs its project, so the findings cache is keyed on what the project shows.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from torchfix import prefilter

if TYPE_CHECKING:
    from torchfix.rule import FileContext

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
#: the names of a checkpoint's dict (``sd``, ``state_dict``, ``ckpt``, ``pretrained_dict``, ``model_dict``)
_CHECKPOINT_WORD = re.compile(r"(^|_)(state_dict|sd|ckpt|checkpoint|pretrained|weights?|model_dict|own_state)($|_)", re.I)
#: calls that load a state dict into a model (a key filter in such a file filters a checkpoint)
STATE_LOADERS = frozenset({"load_state_dict", "load_checkpoint", "load_file", "load_model"})
#: the names of a dict of arguments or settings (``kwargs``, ``config_dict``, ``cfg``, ``export_args``)
_OPTIONS_WORD = re.compile(r"(^|_)(kwargs|config|cfg|args|opts|options|settings|hparams|defaults)($|_)", re.I)
#: the last name of what ``torch.save`` pickles when it is a whole model (``model``, ``self.net``)
_MODEL_WORD = re.compile(r"(^|_)(model|net|network|module|encoder|decoder|generator|discriminator)s?($|_)", re.I)


@dataclass(frozen=True)
class PackageRef:
    """Which project a file belongs to, and a digest of what the project shows about it.

    Its ``repr`` is part of the findings cache key (the rule settings), so it holds
    ``evidence``: a digest of only the facts that can change this file's findings (the
    other files naming its classes' attributes, subclasses of its classes, the
    project-wide loading and saving facts). Editing an unrelated file leaves it alone."""

    root: str
    #: the file itself, relative to ``root``
    file: str
    #: whether the project is a distributable library (``pyproject.toml``/``setup.py``/``setup.cfg``)
    distributable: bool
    evidence: str = ""


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

    def to_json(self) -> dict:
        """Plain JSON values (sorted lists for sets), for the facts cache."""
        return {name: _plain(value) for name, value in vars(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> FileFacts:
        facts = cls()
        for name, value in data.items():
            default = getattr(facts, name)  # an unknown name raises: the entry is not used
            if isinstance(default, set):
                value = set(value)
            elif name in ("classes", "self_attributes"):
                value = {k: set(v) for k, v in value.items()}
            setattr(facts, name, value)
        return facts


def _plain(value):
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in sorted(value.items())}
    return value


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


def project_root(path: Path, real: bool = False) -> tuple[Path, bool]:
    """The folder to search around ``path``, and whether it is a distributable library.

    The nearest folder above the file with a project file (``pyproject.toml``,
    ``setup.py``, ``setup.cfg``; a library when it builds a package), else the git root, else the top-level
    package folder (the highest folder of the chain of ``__init__.py``), else the
    file's own folder. ``real``: ``path`` is resolved already (resolving costs a system
    call per folder of the path)."""
    return _project_root_of((path if real else path.resolve()).parent)


@lru_cache(maxsize=1024)
def _project_root_of(folder: Path) -> tuple[Path, bool]:
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


#: indexes a run built up front (see :func:`build_index`), by root
_registered: dict[str, PackageIndex] = {}


def forget() -> None:
    """Start a new run: fingerprints and indexes are read again (for runs made in one process)."""
    _fingerprint.cache_clear()
    index_of.cache_clear()
    _project_root_of.cache_clear()
    _registered.clear()


def register(indexes: Mapping[str, PackageIndex]) -> None:
    """Use these indexes (built by the runner from facts it already had) instead of reading the projects."""
    _registered.update(indexes)


def registered() -> dict[str, PackageIndex]:
    """The registered indexes (the runner hands them to its workers)."""
    return dict(_registered)


def is_indexed(path: Path) -> bool:
    """Whether the project of ``path`` has a registered index (a file that needs one can be checked now)."""
    return bool(_registered) and str(project_root(path)[0]) in _registered  # no index: no path to resolve


def package_of(path: Path) -> PackageRef:
    """The :class:`PackageRef` of a file (the project is indexed once per process)."""
    root, distributable = project_root(path)
    try:
        relative = path.resolve().relative_to(root).as_posix()
    except ValueError:
        relative = path.name
    index = _index(str(root))
    return PackageRef(str(root), relative, distributable, index.evidence_digest(relative))


def _index(root: str) -> PackageIndex:
    """The registered index of the project at ``root``, else one read now (once per process)."""
    index = _registered.get(root)
    return index if index is not None else index_of(root, _fingerprint(root))


@lru_cache(maxsize=4)
def index_of(root: str, fingerprint: str) -> PackageIndex:
    """Every Python file under ``root`` read once (per process and fingerprint)."""
    return build_index(Path(root), {})[0]


def build_index(
    root: Path, known: Mapping[str, FileFacts], stored: Mapping[str, tuple[int, int, FileFacts]] | None = None
) -> tuple[PackageIndex, dict[str, tuple[int, int, FileFacts]]]:
    """The index of ``root``, and every file's (size, time, facts) for the facts cache.

    ``known``: facts already read this run, by path relative to ``root`` (the runner's
    prefilter parsed those files). ``stored``: facts a previous run cached, used when
    the file's size and time still match. Every other file is read and parsed here.
    """
    files, truncated = _python_files(root)
    index = PackageIndex(root, truncated=truncated)
    learned: dict[str, tuple[int, int, FileFacts]] = {}
    for file in files:
        relative = file.relative_to(root).as_posix()
        try:
            info = file.stat()
        except OSError:
            continue
        size_and_time = (info.st_size, info.st_mtime_ns)
        if info.st_size > _MAX_FILE_BYTES:
            continue
        facts = known.get(relative)
        cached = stored.get(relative) if stored else None
        if facts is None and cached is not None and cached[:2] == size_and_time:
            facts = cached[2]
        if facts is None:
            try:
                facts = facts_of_file(ast.parse(file.read_bytes(), str(file)))
            except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
                continue
        index.files[relative] = facts
        learned[relative] = (*size_and_time, facts)
    index.link_classes()
    return index, learned


def index_for(context: FileContext) -> tuple[PackageIndex, str]:
    """The project's index and the file's key in it; without a project (stdin, the engine API),
    an index of the file alone, keyed :data:`THIS_FILE` (built once per file visit)."""
    ref = context.settings.get("package")
    if isinstance(ref, PackageRef):
        return _index(ref.root), ref.file
    index = context.shared.get("package_index")
    if not isinstance(index, PackageIndex):
        index = PackageIndex(Path("."), {THIS_FILE: facts_of_file(ast.parse(context.module.code))})
        index.link_classes()
        context.shared["package_index"] = index
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


def _filters_keys(node: ast.expr, loads: bool) -> bool:
    """A comprehension over ``something.items()`` that keeps only some keys (``if k in own``),
    filtering a checkpoint: a checkpoint's name on either side (``sd``, ``model.state_dict()``,
    ``ckpt``, ``pretrained``), or a file that loads state dicts (``loads``) filtering a dict that
    is not plainly options. ``{k: v for k, v in kwargs.items() if k in allowed}``,
    ``config_dict`` or a graph's attributes in a file that loads nothing are not checkpoints."""
    for generator in getattr(node, "generators", ()):
        iterated = generator.iter
        if not (isinstance(iterated, ast.Call) and _last_name(iterated.func) == "items"):
            continue
        tests = [
            compare for test in generator.ifs for compare in ast.walk(test)
            if isinstance(compare, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in compare.ops)
        ]
        if not tests:
            continue
        source = iterated.func.value if isinstance(iterated.func, ast.Attribute) else iterated.func
        sides = [source, *(side for compare in tests for side in compare.comparators)]
        if any(_names_match(side, _CHECKPOINT_WORD, strings=False) for side in sides):
            return True
        if loads and not _names_match(source, _OPTIONS_WORD, strings=True):
            return True
    return False


def _names_match(node: ast.expr, pattern: re.Pattern[str], strings: bool) -> bool:
    """Whether a name or attribute in ``node`` (or, with ``strings``, a string: ``getattr(model,
    "_model_args")``) matches ``pattern``. Strings do not name a checkpoint: the keys a filter
    drops (``k not in ("pretrained_cfg", ...)``) are not the dict it filters."""
    for part in ast.walk(node):
        if isinstance(part, ast.Name):
            name = part.id
        elif isinstance(part, ast.Attribute):
            name = part.attr
        elif strings and isinstance(part, ast.Constant) and isinstance(part.value, str):
            name = part.value
        else:
            continue
        if pattern.search(name):
            return True
    return False


class _WithoutGeneratedHooks(ast.NodeTransformer):
    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST | None:
        return None if node.name.startswith(GENERATED_HOOKS) else self.generic_visit(node)


def facts_of_file(tree: ast.Module) -> FileFacts:
    return file_facts(prefilter.facts_of(tree), tree)


def file_facts(seen: prefilter.Facts, tree: ast.Module) -> FileFacts:
    """What a file shows the rest of its project, read off the prefilter's walk of it (no
    second walk); names bound by ``import ... as`` are read as the names they bind.

    Hooks an earlier TF008 fix wrote are left out: their strings name layers that no
    longer exist (such a file is walked again without them).
    """
    if any(function.name.startswith(GENERATED_HOOKS) for function in seen.functions):
        tree = _WithoutGeneratedHooks().visit(copy.deepcopy(tree))
        seen = prefilter.facts_of(tree)
    facts = FileFacts()
    for value in seen.strings:
        facts.string_names |= _string_names(value)
    for name, nodes in seen.attributes.items():
        if any(not (type(node.value) is ast.Name and node.value.id in ("self", "cls")) for node in nodes):
            facts.attribute_names.add(name)
    aliases: dict[str, str] = {}
    torch_names = {"torch"}
    for node in seen.imports:
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
    for node in seen.classes:
        facts.classes.setdefault(node.name, set()).update(
            aliases.get(base, base) for base in map(_last_name, node.bases) if base is not None
        )
        facts.self_attributes.setdefault(node.name, set())
    for cls, names in seen.self_attributes.items():
        facts.self_attributes[cls] |= names
    other_calls: dict[str, list[ast.Call]] = {}
    for call in seen.other_calls:  # ``self.blocks[i](x)`` calls ``blocks``
        name = _last_name(call.func)
        if name is not None:
            other_calls.setdefault(name, []).append(call)
    for written, calls in [*seen.calls_by_name(), *other_calls.items()]:
        name = aliases.get(written, written)
        facts.called.add(name)
        if name == "save" and facts.pickles_module is None:
            facts.pickles_module = next(filter(None, map(_pickled_module, calls)), None)
    # ``dict((k, v) for k, v in sd.items() if k in own)``, then ``{k: v for ...}``
    loads = bool(facts.called & STATE_LOADERS)
    candidates = [*(arg for call in seen.calls("dict") for arg in call.args), *seen.dict_comprehensions]
    facts.filters_keys = next((ast.unparse(c)[:80] for c in candidates if _filters_keys(c, loads)), None)
    for keyword in seen.attribute_keywords:
        if keyword.arg in LOADER_KEYWORDS:
            facts.loader_callables.setdefault(keyword.value.attr, keyword.arg)
    nested_roots = {_last_name(node.value) for node in seen.attributes.get("nested", ())}
    facts.nested = facts.nested or "jagged" in seen.attributes or bool(nested_roots & torch_names)
    return facts
