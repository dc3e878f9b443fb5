"""TF001 dataset-folder: a hand-written root/<class>/<file> Dataset -> a thin DatasetFolder subclass."""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from torchfix.names import ImportRequest, Reference
from torchfix.patterns import code, nodes_of
from torchfix.rule import Applicability, Fix, Rule
from torchfix.rules._suites import is_docstring
from torchfix.rules._torch import TORCH_CONVENTIONS
from torchfix.rules.examples import tf001

if TYPE_CHECKING:
    from torchfix.rules._dataset_symbols import ModuleFacts, Plan

UNSAFE = Applicability.UNSAFE



class DatasetFolderRule(Rule):
    CODE = "TF001"
    SLUG = "dataset-folder"
    IDIOM = "torchvision DatasetFolder / ImageFolder"
    SUMMARY = "Use torchvision's DatasetFolder or ImageFolder instead of a hand-written `root/<class>/<file>` dataset."
    FIX_SAFETY = "unsafe"
    IMPORT_CONVENTIONS = TORCH_CONVENTIONS
    DOCS = """\
## Why
torchvision's `DatasetFolder` (and `ImageFolder` for RGB images) already does what
a hand-written `root/<class>/<file>` dataset does: list the class folders, number
them, collect `(path, class index)` samples, and load, transform and return one
file per item. The subclass keeps the class name and constructor, so callers do
not change, and gains `classes`, `class_to_idx`, `samples` and `targets`.

## Fix safety
Unsafe. Audit against the contract: a dataset is not an `nn.Module`, so
`state_dict()`, `.to(dtype)`, `.to(device)`, `.train()` and `.eval()` do not
apply; what must be equal is `len`, `classes`, `class_to_idx` and every item, and
those follow torchvision's listing rules, which the code can only be checked
against symbolically (the assumption below is about the data on disk). Before
writing the fix, torchfix reads the original symbolically and compares it with
torchvision 0.29's rules; where they can differ it reports without a fix and
says why (unsorted `os.walk`, two-level labels, natural sort, ...):

- class folders: torchvision lists every folder of the root (hidden ones too),
  sorted by name, numbered 0..n-1. An original that sorts with a key (natural
  sort), does not sort, skips hidden folders, parses labels (`int(name)`) or
  lists two folder levels (`alphabet/character`) is reported without a fix.
- files: torchvision walks each class folder recursively, sorted, and keeps the
  files that pass `extensions` (matched case-insensitively) or `is_valid_file`.
  The original's filter moves into `is_valid_file` unchanged, with what the
  listing itself filters: `glob.glob("*.jpg")` is case-sensitive and skips
  hidden names, `Path.glob` keeps hidden names, `os.listdir` filters nothing.
  Only a test that is exactly `name.lower().endswith(<lower-case suffixes>)`
  (literals or a module-level tuple of them) becomes `extensions=`.
  Unsorted listings, `rglob`/recursive globs and an unsorted `os.walk` are
  reported without a fix.
- an empty class folder is a class with no samples in the original; torchvision
  raises `FileNotFoundError` unless `allow_empty=True`, which the fix passes
  (torchvision >= 0.17).
- items: the loader is the original's load expression (`with open(p) as f:
  f.read()` becomes `Path(p).read_text()`), `ImageFolder`'s default loader when it
  is `Image.open(p).convert("RGB")`; `transform` and `target_transform` are the
  same objects, applied the same way. Instance state in the loader (a storage
  client), eager loading in `__init__`, extra methods or attributes torchvision
  would not set are reported without a fix.

The assumption that remains is about the data: a one-level listing assumes the
class folders hold no sub-folders (torchvision would load their files too), a
`glob.glob(os.path.join(root, c, ...))` listing also assumes no class name holds
a glob character (glob would expand it), `os.walk` without `followlinks=True`
assumes no linked sub-folders, and every fix assumes the root holds at least one
class folder (torchvision raises on an empty root; the original built an empty
dataset).

## What could go wrong
`samples` holds `str` paths where a pathlib original held `Path` objects (the
loader gets `Path(path)` where it used path methods). Glob patterns are read with
POSIX matching (case-sensitive). A dataset that callers mutate (`ds.samples =
...`) after construction keeps working, but `targets` is not updated by it.

## Verify
Build the original and the rewritten dataset on a tree with nested folders, a
non-matching extension, a hidden file and an empty class folder, and compare
`len`, `classes`, `class_to_idx` and every item (tests/test_dataset_folder.py).
"""
    ROWS = {
        "os": "`os.listdir` / `os.scandir` / `next(os.walk(...))` class and file listings -> `DatasetFolder(loader=, extensions= or is_valid_file=)`",
        "glob": "`glob.glob(os.path.join(root, c, '*.ext'))` per class -> `is_valid_file` with glob's case and hidden-name rules",
        "pathlib": "pathlib `iterdir()` / `glob()` per class -> `DatasetFolder`, the loader given `Path(path)`",
        "walk": "`sorted(os.walk(class_folder))` with sorted files -> `DatasetFolder`/`ImageFolder` (recursive like torchvision)",
        "image": "a `PIL.Image.open(path).convert('RGB')` loader -> `ImageFolder`",
        "declined": "natural or no sort, `int(name)` labels, two-level labels, storage backends, eager loading: report only",
    }
    EXAMPLES = tf001.EXAMPLES
    VALID = tf001.VALID

    def __init__(self, context) -> None:
        super().__init__(context)
        self._facts: ModuleFacts | None = None

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        # The dataset analysis is written with libcst.matchers (0.18 s to import): it loads
        # only in a file the prefilter kept for this rule, not whenever the rules load.
        from torchfix.rules._dataset_symbols import Decline, module_facts
        from torchfix.rules._datasets import analyze, is_dataset_class

        if not is_dataset_class(node, self.names):
            return
        if self._facts is None:
            self._facts = module_facts(self.context.module, self.names)
        imports: list[ImportRequest] = []

        def reference(qualified: str) -> cst.BaseExpression:
            ref = self._reference(qualified)
            if ref is None:
                raise Decline(f"no free name to spell {qualified}")
            imports.extend(i for i in ref.imports if i not in imports)
            return ref.expr

        result = analyze(node, self.names, self._facts, reference)
        if result is None:
            return
        if isinstance(result, str):
            message = f"Hand-written folder dataset: torchvision's DatasetFolder does this; no fix: {result}."
            self.report(node.name, message)
            return
        base_name = "torchvision.datasets.ImageFolder" if result.image else "torchvision.datasets.DatasetFolder"
        base = self._reference(base_name)
        if base is None:
            short = base_name.rsplit(".", 1)[1]
            message = (
                f"Hand-written folder dataset: torchvision's {short} does this; no fix: no free name to "
                f"spell {base_name} in this file."
            )
            self.report(node.name, message)
            return
        imports.extend(i for i in base.imports if i not in imports)
        replacement = self._write(node, result, base.expr)
        # a reference the filter simplified away (os.path.basename) must not leave an unused import
        used = {n.value for n in nodes_of(replacement, cst.Name)}
        imports = [i for i in imports if i.bound_name in used]
        short = base_name.rsplit(".", 1)[1]
        self.report(
            node.name,
            f"Use torchvision's {short} instead of a hand-written folder dataset.",
            Fix(UNSAFE, {node: replacement}, imports=tuple(imports), assumption=result.assumption),
        )

    def _reference(self, qualified: str) -> Reference | None:
        """The file's own spelling; else ``from module import Name`` when that name is free."""
        ref = self.names.reference(qualified)
        if ref is not None and not ref.imports:
            return ref
        module, name = qualified.rsplit(".", 1)
        if self.names.is_free(name):
            return Reference(cst.Name(name), (ImportRequest(module, name=name),))
        return ref

    def _write(self, cls: cst.ClassDef, plan: Plan, base: cst.BaseExpression) -> cst.ClassDef:
        """The thin subclass: same name, docstring and __init__ signature; super().__init__ does the work."""
        config = self.context.module.config_for_parsing
        indent = self.context.module.default_indent
        arguments = [code(plan.root)]
        if plan.loader is not None:
            arguments.append(f"loader={code(plan.loader)}")
        if plan.extensions is not None:
            arguments.append(f"extensions={_extensions(plan.extensions)}")
        if plan.is_valid_file is not None:
            arguments.append(f"is_valid_file=lambda {plan.path_name}: {code(plan.is_valid_file)}")
        if plan.transform is not None:
            arguments.append(f"transform={code(plan.transform)}")
        if plan.target_transform is not None:
            arguments.append(f"target_transform={code(plan.target_transform)}")
        arguments.append("allow_empty=True")
        # continuation lines inside the parentheses are relative to the statement's own indentation
        call = "super().__init__(\n" + "".join(f"{indent}{a},\n" for a in arguments) + ")\n"
        body = [cst.parse_statement(call, config)]
        body += [cst.parse_statement(f"self.{name} = {code(value)}\n", config) for name, value in plan.assignments]
        init = next(s for s in cls.body.body if isinstance(s, cst.FunctionDef) and s.name.value == "__init__")
        new_init = init.with_changes(body=cst.IndentedBlock(body=body))
        members: list[cst.BaseStatement] = [s for s in cls.body.body[:1] if is_docstring(s)]
        if not members:
            new_init = new_init.with_changes(leading_lines=[])
        return cls.with_changes(
            bases=[cst.Arg(base)],
            lpar=cls.lpar if cls.lpar else cst.LeftParen(),
            rpar=cls.rpar if cls.rpar else cst.RightParen(),
            body=cls.body.with_changes(body=[*members, new_init]),
        )


def _extensions(node: cst.BaseExpression) -> str:
    """The original's suffixes as torchvision's ``extensions``: a name or a tuple (a bare string gets its comma)."""
    return f"({code(node)},)" if isinstance(node, cst.SimpleString) else code(node)
