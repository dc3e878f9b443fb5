"""TF001 at runtime: the original dataset and its DatasetFolder rewrite give the same data.

Every before/after example is built on synthetic trees and compared on ``len``,
``classes``, ``class_to_idx`` and every item. The adversarial tree has nested
folders, a non-matching extension, hidden files, an upper-case extension, an
empty class folder and a hidden class folder; where the two datasets differ
there, the difference must be exactly the one the fix's assumption names.
Report-only examples are shown to differ from the naive rewrite they declined.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")
torchvision = pytest.importorskip("torchvision")
from PIL import Image  # noqa: E402
from torchvision.datasets import DatasetFolder, ImageFolder  # noqa: E402

from torchfix.engine import RunOptions, fix_text  # noqa: E402
from torchfix.rules.tf001_dataset_folder import DatasetFolderRule  # noqa: E402

OPTIONS = RunOptions((DatasetFolderRule,), frozenset({"TF001"}))
FIXED = [e for e in DatasetFolderRule.EXAMPLES if e.after is not None]


def _class_name(source: str) -> str:
    return source.split("\nclass ")[1].split("(")[0]


def _build(source: str):
    namespace: dict = {"__name__": "tf001_example"}
    exec(compile(source, "<example>", "exec"), namespace)
    return namespace[_class_name(source)]


# -- trees ---------------------------------------------------------------------------


def _kind(source: str) -> str:
    if "np.load" in source:
        return "npy"
    if "torch.load" in source:
        return "pt"
    return "image" if "Image" in source else "text"


def _write(path: Path, kind: str, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if kind == "npy":
        with open(path, "wb") as f:
            np.save(f, rng.normal(size=(2, 3)).astype(np.float64))
    elif kind == "pt":
        torch.save(torch.from_numpy(rng.normal(size=(2, 3))), path)
    elif kind == "image":
        pixels = rng.integers(0, 255, size=(3, 4, 3), dtype=np.uint8)
        fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}.get(path.suffix.lower(), "PNG")
        Image.fromarray(pixels).save(path, format=fmt)
    else:
        path.write_text(f"sample {seed}\nline two of {path.name}\n")


#: per kind: the matching file names of a class folder (the examples' extensions)
NAMES = {
    "text": ("a.txt", "b.md", "c.txt"),
    "image": ("a.png", "b.jpg", "c.png"),
    "npy": ("a.npy", "b.npy", "c.npy"),
    "pt": ("a.pt", "b.pt", "c.pt"),
}
UPPER = {"text": "UPPER.TXT", "image": "UPPER.PNG", "npy": "UPPER.NPY", "pt": "UPPER.PT"}
HIDDEN = {"text": ".hidden.txt", "image": ".hidden.png", "npy": ".hidden.npy", "pt": ".hidden.pt"}


def make_tree(
    root: Path,
    kind: str,
    adversarial: bool = False,
    nested: bool = True,
    stray: bool = False,
    classes: tuple[str, ...] = ("cat", "dog"),
) -> Path:
    """cat/ and dog/ with matching files; adversarial adds the cases torchvision's rules may treat differently."""
    seed = 0
    for cls in classes:
        for name in NAMES[kind]:
            seed += 1
            _write(root / cls / name, kind, seed)
    if adversarial:
        if nested:
            _write(root / "cat" / "more" / NAMES[kind][0], kind, 100)
        (root / "dog" / "notes.csv").write_text("not a sample\n")
        (root / "dog" / ".DS_Store").write_bytes(bytes(range(1, 20)))
        _write(root / "cat" / HIDDEN[kind], kind, 101)
        _write(root / "dog" / UPPER[kind], kind, 102)
        if kind == "image":  # an image type outside some examples' lists, inside torchvision's
            _write(root / "dog" / "extra.bmp", kind, 104)
        (root / "empty").mkdir()
        _write(root / ".cache" / NAMES[kind][0], kind, 103)
    if stray:
        (root / "README.md").write_text("about this data\n")
    return root


# -- comparison ------------------------------------------------------------------------


def same(a, b) -> bool:
    """Equal values: tensors and arrays by value and dtype, images by mode, size and pixels."""
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, Image.Image):
        return isinstance(b, Image.Image) and (a.mode, a.size) == (b.mode, b.size) and np.array_equal(np.asarray(a), np.asarray(b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    return type(a) is type(b) and a == b


def differences(old, new) -> list[str]:
    found = []
    for attribute in ("classes", "class_to_idx"):
        if hasattr(old, attribute) and getattr(old, attribute) != getattr(new, attribute):
            found.append(f"{attribute} {getattr(old, attribute)} != {getattr(new, attribute)}")
    if len(old) != len(new):
        return [*found, f"len {len(old)} != {len(new)}"]
    for i in range(len(old)):
        try:
            item = old[i]
        except OSError as error:  # e.g. a listed sub-folder the original cannot load
            found.append(f"item {i}: the original raises {error!r}")
            continue
        if not same(item, new[i]):
            found.append(f"item {i}")
    return found


def _arguments(cls) -> dict:
    """A transform and target_transform that mark what they touched, where the constructor takes them."""
    parameters = inspect.signature(cls).parameters
    arguments = {}
    if "transform" in parameters:
        arguments["transform"] = lambda x: ("transformed", x)
    if "target_transform" in parameters:
        arguments["target_transform"] = lambda y: y + 10
    return arguments


def _dataset_root(cls, tree: Path) -> Path:
    """Where the tree goes: under root/train when the constructor takes a split."""
    return tree / "train" if "split" in inspect.signature(cls).parameters else tree


def _pair(example, tmp_path: Path, **tree):
    before, after = _build(example.before), _build(example.after)
    root = tmp_path / "data"
    make_tree(_dataset_root(before, root), _kind(example.before), **tree)
    arguments = _arguments(before)
    try:
        old = before(str(root), **arguments)
    except OSError:  # the original fails on this tree: nothing to keep
        return None, None
    return old, after(str(root), **arguments)


def _assumption(example) -> str:
    finding = next(f for f in fix_text(example.before, OPTIONS).findings if f.code == "TF001")
    return finding.message


@pytest.mark.parametrize("example", FIXED, ids=[_class_name(e.before) for e in FIXED])
def test_rewrite_keeps_class_name_signature_and_base(example):
    before, after = _build(example.before), _build(example.after)
    assert after.__name__ == before.__name__
    assert inspect.signature(after) == inspect.signature(before)
    assert issubclass(after, ImageFolder if "ImageFolder" in example.after else DatasetFolder)


@pytest.mark.parametrize("example", FIXED, ids=[_class_name(e.before) for e in FIXED])
def test_same_dataset_on_a_clean_tree(example, tmp_path):
    old, new = _pair(example, tmp_path)
    assert old is not None, "the original must build on the clean tree"
    assert len(old) > 0
    assert differences(old, new) == []


@pytest.mark.parametrize("example", FIXED, ids=[_class_name(e.before) for e in FIXED])
def test_adversarial_tree_differs_only_where_the_assumption_says(example, tmp_path):
    old, new = _pair(example, tmp_path / "full", adversarial=True)
    assert old is not None
    found = differences(old, new)
    if not found:
        return
    # The only data the fix assumes away is a sub-folder inside a class folder.
    assert "assumes the class folders hold no sub-folders" in _assumption(example), found
    old, new = _pair(example, tmp_path / "flat", adversarial=True, nested=False)
    assert differences(old, new) == []


@pytest.mark.parametrize("example", FIXED, ids=[_class_name(e.before) for e in FIXED])
def test_a_stray_file_at_the_root_breaks_the_original_or_changes_nothing(example, tmp_path):
    old, new = _pair(example, tmp_path, stray=True)
    if old is not None:
        assert differences(old, new) == []


# -- declined examples: the naive rewrite would differ --------------------------------------


def _read(path):
    with open(path) as f:
        return f.read()


def _visible_jpg(path):
    return not Path(path).name.startswith(".") and path.endswith(".jpg")


#: class name -> (tree options, the DatasetFolder a naive rewrite would build)
NAIVE = {
    "Stages": (
        {"kind": "text", "classes": ("stage2", "stage10")},
        lambda root: DatasetFolder(root, loader=_read, is_valid_file=lambda p: True, allow_empty=True),
    ),
    "Digits": (
        {"kind": "image", "classes": ("3", "7")},
        lambda root: ImageFolder(root, is_valid_file=lambda p: True, allow_empty=True),
    ),
    "Letters": (
        {"kind": "text", "adversarial": True, "nested": False},
        lambda root: DatasetFolder(root, loader=_read, is_valid_file=lambda p: True, allow_empty=True),
    ),
    "Embeddings": (
        {"kind": "npy", "stray": True},
        lambda root: DatasetFolder(root, loader=np.load, extensions=(".npy",), allow_empty=True),
    ),
    "Flowers": (
        {"kind": "image", "classes": ("a", "a-b")},
        lambda root: ImageFolder(root, is_valid_file=_visible_jpg, allow_empty=True),
    ),
}
DECLINED = [e for e in DatasetFolderRule.EXAMPLES if e.after is None and _class_name(e.before) in NAIVE]


def test_every_demonstration_names_a_declined_example():
    declined = {_class_name(e.before) for e in DatasetFolderRule.EXAMPLES if e.after is None}
    assert set(NAIVE) <= declined


@pytest.mark.parametrize("example", DECLINED, ids=[_class_name(e.before) for e in DECLINED])
def test_declined_examples_differ_from_the_naive_rewrite(example, tmp_path):
    findings = [f for f in fix_text(example.before, OPTIONS).findings if f.code == "TF001"]
    assert findings and not any(f.fixable for f in findings)
    tree, naive = NAIVE[_class_name(example.before)]
    root = make_tree(tmp_path / "data", **tree)
    old = _build(example.before)(str(root))
    assert differences(old, naive(str(root))) != []
