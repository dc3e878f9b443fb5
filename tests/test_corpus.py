"""The bundled corpus: torchfix finds its idioms, fixes all of them, and the fixed projects compute the same numbers.

Every test works on copies of ``corpus/`` (with its ``pyproject.toml``, which opts into
unsafe fixes) in a temporary folder; the real corpus is never modified. User code runs
in subprocesses (one imports the original tree, the other the rewritten one), so the two
versions of each package never share ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
PACKAGES = sorted(p.name for p in CORPUS.iterdir() if (p / "__init__.py").is_file())
#: the expression idioms (issue 3): none may remain after `apply --unsafe-fixes`
EXPRESSION_CODES = ("TF002", "TF005", "TF006", "TF007", "TF009", "TF010")
#: one corpus evaluation; several optimiser steps compound rounding, hence the looser bound
TOLERANCE = {"rtol": 1.3e-6, "atol": 1e-5}
TRAINING_TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}

# Runs inside a subprocess with a corpus tree first on sys.path:
#   python -c RUNNER <tree> <mode> <out.pt> [<before.pt>]
# mode "inventory": import every module, list its nn.Module classes and every configured model's class;
# mode "before": build every configured model, save its state_dict, inputs, outputs and input gradients,
#   and run every probe; mode "after": build every model, load the before state_dict with strict=True,
#   run it on the before inputs, and run every probe.
RUNNER = textwrap.dedent(
    '''
    import importlib, os, pkgutil, sys, tomllib
    from pathlib import Path

    tree, mode, out = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    sys.path.insert(0, str(tree))
    import torch
    import torch.nn.functional as F
    from torchvision.transforms.functional import pil_to_tensor

    torch.use_deterministic_algorithms(True)
    PACKAGES = sorted(p.name for p in tree.iterdir() if (p / "__init__.py").is_file())
    MODELS = tomllib.loads((tree / "pyproject.toml").read_text())["tool"]["torchfix"]["verify"]["models"]


    def resolve(spec):
        module, _, attribute = spec.partition(":")
        value = importlib.import_module(module)
        for part in attribute.split("."):
            value = getattr(value, part)
        return value


    def modules():
        for package in PACKAGES:
            yield importlib.import_module(package)
            for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
                yield importlib.import_module(info.name)


    def tensors(value):
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from tensors(item)
        elif isinstance(value, dict):
            for item in value.values():
                yield from tensors(item)


    def detach(value):
        if isinstance(value, torch.Tensor):
            return value.detach()
        if isinstance(value, (list, tuple)):
            return type(value)(detach(item) for item in value)
        if isinstance(value, dict):
            return {key: detach(item) for key, item in value.items()}
        return value


    def run_model(model, inputs):
        """Outputs in eval mode, and the gradients of a fixed random projection of them w.r.t. the float inputs."""
        model.eval()
        inputs = tuple(
            x.detach().clone().requires_grad_(True) if isinstance(x, torch.Tensor) and x.is_floating_point() else x
            for x in inputs
        )
        outputs = model(*inputs)
        generator = torch.Generator().manual_seed(0)
        loss = sum((t * torch.randn(t.shape, generator=generator)).sum() for t in tensors(outputs) if t.is_floating_point())
        wanted = [x for x in inputs if isinstance(x, torch.Tensor) and x.requires_grad]
        grads = torch.autograd.grad(loss, wanted) if wanted and isinstance(loss, torch.Tensor) and loss.requires_grad else ()
        finite = all(torch.isfinite(t).all() for t in tensors(outputs) if t.is_floating_point())
        return {"outputs": detach(outputs), "input_grads": grads, "finite": finite}


    def probe_metric_losses():
        from metric_learning import losses
        embeddings, labels = losses.example_inputs()
        prototypes = losses.class_prototypes(embeddings, labels, 4)
        return {
            "distances": losses.prototype_distances(embeddings, prototypes),
            "prototypical": losses.prototypical_loss(embeddings[::2], labels[::2], embeddings[1::2], labels[1::2], 4),
            "triplet": losses.center_triplet_loss(embeddings, labels, F.normalize(prototypes, dim=-1)),
            "info_nce": losses.info_nce_loss(embeddings[:6], embeddings[6:]),
        }


    def probe_metric_evaluate():
        from metric_learning import evaluate, losses
        embeddings, labels = losses.example_inputs()
        directions = evaluate.class_directions(embeddings, labels, 4)
        return {
            "verification": evaluate.verification_scores(embeddings[:6], embeddings[6:]),
            "margin": evaluate.margin_scores(embeddings[:6], embeddings[6:]),
            "directions": directions,
            "nearest_class_mean": evaluate.nearest_class_mean_scores(embeddings, directions),
        }


    def probe_metric_train():
        from metric_learning import train
        model, head, history = train.run(steps=3)
        return {"training": {"history": history, "model": model.state_dict(), "head": head.state_dict()}}


    def probe_masked_losses():
        from masked_training import losses
        logits, labels = losses.example_inputs()
        return {
            "token_loss": losses.masked_token_loss(logits, labels),
            "accuracy": losses.token_accuracy(logits, labels),
            "labelled": losses.labelled_sequences(logits, labels),
            "mean_loss": losses.mean_token_loss(logits, labels),
        }


    def probe_masked_model():
        from masked_training import model
        tagger = model.build_model()
        (tokens,) = model.example_inputs()
        tagger.train()
        torch.manual_seed(1)
        return {"dropped": tagger.drop_words(tokens), "train_mode_logits": tagger(tokens)}


    def probe_masked_train():
        from masked_training import train
        torch.manual_seed(0)
        batches = train.synthetic_batches(num_batches=2, batch_size=4, length=6)
        model, ema, history = train.run(epochs=2)
        return {
            "batches": batches,
            "training": {"history": history, "model": model.state_dict(), "ema": ema.shadow},
        }


    def probe_vision_data():
        from vision_classifier import data
        root = tree.parent / "images"
        data.write_example_tree(str(root))
        dataset = data.FolderImageDataset(str(root), transform=pil_to_tensor, target_transform=lambda t: t * 10)
        images = torch.stack([dataset[i][0] for i in range(len(dataset))]).float() / 255
        one_hot = F.one_hot(torch.tensor([target for _, target in dataset.samples])).float()
        return {
            "len": len(dataset),
            "classes": dataset.classes,
            "class_to_idx": dataset.class_to_idx,
            "samples": [(os.path.relpath(path, root), target) for path, target in dataset.samples],
            "items": [dataset[i] for i in range(len(dataset))],
            "mixup": data.mixup(images, one_hot, 0.3, torch.arange(len(dataset)).flip(0)),
        }


    def probe_vision_losses():
        from vision_classifier import losses
        loss = losses.build_loss()
        logits, targets = losses.example_inputs()
        return {"loss": loss(logits, targets), "smoothed": loss.smoothed_targets(logits, targets)}


    #: module exercised -> probe; every module a fix changes must be covered here or by a model factory
    PROBES = {
        "metric_learning.losses": probe_metric_losses,
        "metric_learning.evaluate": probe_metric_evaluate,
        "metric_learning.train": probe_metric_train,
        "masked_training.losses": probe_masked_losses,
        "masked_training.model": probe_masked_model,
        "masked_training.train": probe_masked_train,
        "vision_classifier.data": probe_vision_data,
        "vision_classifier.losses": probe_vision_losses,
    }


    def probes():
        results = {}
        for name, probe in PROBES.items():
            torch.manual_seed(0)
            results[name] = probe()
        return results


    if mode == "inventory":
        classes = sorted(
            f"{module.__name__}:{value.__qualname__}"
            for module in modules()
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, torch.nn.Module) and value.__module__ == module.__name__
        )
        configured = []
        for entry in MODELS:
            torch.manual_seed(0)
            model = resolve(entry["factory"])()
            configured.append(f"{type(model).__module__}:{type(model).__qualname__}")
        result = {"modules": sorted(m.__name__ for m in modules()), "classes": classes, "configured": configured,
                  "probed": sorted(PROBES)}
    elif mode == "before":
        list(modules())
        models = {}
        for entry in MODELS:
            torch.manual_seed(0)
            model = resolve(entry["factory"])()
            inputs = tuple(resolve(entry["inputs"])())
            models[entry["factory"]] = {"state": model.state_dict(), "inputs": detach(inputs), **run_model(model, inputs)}
        result = {"models": models, "probes": probes()}
    else:
        list(modules())
        before = torch.load(sys.argv[4], weights_only=False)["models"]
        models = {}
        for entry in MODELS:
            torch.manual_seed(0)
            model = resolve(entry["factory"])()
            model.load_state_dict(before[entry["factory"]]["state"], strict=True)
            models[entry["factory"]] = run_model(model, before[entry["factory"]]["inputs"])
        result = {"models": models, "probes": probes()}
    torch.save(result, out)
    '''
)


def _torchfix(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "torchfix", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def _copy_corpus(destination: Path) -> Path:
    shutil.copytree(CORPUS, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".torchfix_cache"))
    return destination


def _snapshot(tree: Path) -> dict[str, bytes]:
    """The project's files (not torchfix's own cache) and their bytes."""
    files = (p for p in sorted(tree.rglob("*")) if p.is_file() and ".torchfix_cache" not in p.parts)
    return {p.relative_to(tree).as_posix(): p.read_bytes() for p in files}


def _module_name(relative: str) -> str:
    return relative.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def _run(tree: Path, mode: str, out: Path, *extra: Path) -> dict:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(tree), mode, str(out), *map(str, extra)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{mode} run of {tree.name} failed:\n{result.stderr[-4000:]}"
    return torch.load(out, weights_only=False)


def _findings(tree: Path, *flags: str) -> list[dict]:
    result = _torchfix("check", "--format", "json", *flags, tree, cwd=tree.parent)
    findings = json.loads(result.stdout)
    assert result.returncode == (1 if findings else 0), result.stderr
    return findings


def _assert_same(before, after, where: str, tolerance: dict) -> None:
    """Equal nested results: tensors close (same dtype and shape), everything else equal."""
    if isinstance(before, torch.Tensor):
        assert isinstance(after, torch.Tensor), where
        torch.testing.assert_close(after, before, **tolerance, msg=lambda m: f"{where}: {m}")
    elif isinstance(before, dict):
        assert isinstance(after, dict) and list(after) == list(before), where
        for key in before:
            _assert_same(before[key], after[key], f"{where}[{key!r}]", tolerance)
    elif isinstance(before, (list, tuple)):
        assert type(after) is type(before) and len(after) == len(before), where
        for index, (b, a) in enumerate(zip(before, after)):
            _assert_same(b, a, f"{where}[{index}]", tolerance)
    elif isinstance(before, float):
        assert after == pytest.approx(before, rel=tolerance["rtol"], abs=tolerance["atol"]), where
    else:
        assert after == before, where


@dataclass(frozen=True)
class Rewrite:
    """A pristine copy of the corpus and a copy rewritten by `torchfix apply --unsafe-fixes`."""

    original: Path
    rewritten: Path
    changed: tuple[str, ...]


@pytest.fixture(scope="module")
def rewrite(tmp_path_factory) -> Rewrite:
    base = tmp_path_factory.mktemp("corpus")
    original = _copy_corpus(base / "original")
    rewritten = _copy_corpus(base / "rewritten")
    result = _torchfix("apply", "--unsafe-fixes", rewritten, cwd=base)
    assert result.returncode == 0, result.stdout + result.stderr
    before, after = _snapshot(original), _snapshot(rewritten)
    assert set(before) == set(after)
    changed = tuple(name for name in before if before[name] != after[name])
    return Rewrite(original, rewritten, changed)


def test_corpus_layout():
    """Four importable projects, a config that opts into unsafe fixes, and no tests or ignored files inside."""
    assert PACKAGES == ["masked_training", "metric_learning", "tiny_transformer", "vision_classifier"]
    config = tomllib.loads((CORPUS / "pyproject.toml").read_text())["tool"]["torchfix"]
    assert config["unsafe-fixes"] is True
    files = [p.relative_to(ROOT).as_posix() for p in [*CORPUS.rglob("*.py"), CORPUS / "pyproject.toml"]]
    assert not [f for f in files if Path(f).name.startswith("test")]
    for package in PACKAGES:
        modules = list((CORPUS / package).glob("*.py"))
        assert 3 <= len(modules) <= 6, package
        assert sum(len(m.read_text().splitlines()) for m in modules) < 400, package
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *files], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    assert ignored == []


def test_corpus_imports_and_every_model_is_configured(tmp_path):
    """Every corpus module imports; every nn.Module class is built by a configured factory and runs on its inputs."""
    tree = _copy_corpus(tmp_path / "corpus")
    inventory = _run(tree, "inventory", tmp_path / "inventory.pt")
    assert inventory["classes"], "no nn.Module found in the corpus"
    assert sorted(set(inventory["configured"])) == inventory["classes"]
    assert set(inventory["probed"]) <= set(inventory["modules"])
    result = _run(tree, "before", tmp_path / "before.pt")
    for factory, model in result["models"].items():
        assert model["finite"], f"{factory} gives non-finite outputs on its example inputs"
    for name, probe in result["probes"].items():
        tensors = list(_tensors(probe))
        assert tensors, f"probe {name} returns no tensor"
        assert all(bool(t.isfinite().all()) for t in tensors if t.is_floating_point()), f"probe {name} is not finite"


def _tensors(value):
    """Every tensor in a nested result (dicts, lists, tuples)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def test_check_apply_check_is_clean_and_apply_is_idempotent(tmp_path):
    """The README's promise: findings before, none after `apply` (the corpus config enables unsafe fixes)."""
    tree = _copy_corpus(tmp_path / "corpus")
    before = _snapshot(tree)
    first = _torchfix("check", tree, cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr
    assert "TF007" in first.stdout
    applied = _torchfix("apply", tree, cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = _snapshot(tree)
    assert after != before
    clean = _torchfix("check", tree, cwd=tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    again = _torchfix("apply", tree, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _snapshot(tree) == after


def test_every_rule_fires_on_the_corpus(tmp_path):
    """The corpus shows every idiom (so the demo, the tests and the benchmarks exercise every rule)."""
    tree = _copy_corpus(tmp_path / "corpus")
    found = {finding["code"] for finding in _findings(tree, "--unsafe-fixes")}
    assert found == {f"TF{n:03d}" for n in range(1, 11)}


def test_no_expression_idiom_survives_unsafe_apply(rewrite: Rewrite):
    """Issue 3: after `apply --unsafe-fixes`, `check --unsafe-fixes` reports none of the six expression rules."""
    remaining = [f for f in _findings(rewrite.rewritten, "--unsafe-fixes") if f["code"] in EXPRESSION_CODES]
    assert remaining == []


def test_unsafe_apply_leaves_nothing_and_is_idempotent(rewrite: Rewrite, tmp_path):
    """No finding of any rule remains (report-only sites carry a suppression comment); a second apply is a no-op."""
    assert _findings(rewrite.rewritten, "--unsafe-fixes") == []
    again = tmp_path / "again"
    shutil.copytree(rewrite.rewritten, again)
    result = _torchfix("apply", "--unsafe-fixes", again, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _snapshot(again) == _snapshot(rewrite.rewritten)


@pytest.fixture(scope="module")
def runs(rewrite: Rewrite, tmp_path_factory) -> tuple[dict, dict]:
    """The probes and models run on the original tree, then on the rewritten one with the original checkpoints."""
    folder = tmp_path_factory.mktemp("runs")
    before = _run(rewrite.original, "before", folder / "before.pt")
    after = _run(rewrite.rewritten, "after", folder / "after.pt", folder / "before.pt")
    return before, after


def test_changed_modules_import_and_compute_the_same(rewrite: Rewrite, runs: tuple[dict, dict], tmp_path):
    """Every rewritten module imports, and each probe of the corpus's functions gives the same results."""
    changed = {_module_name(name) for name in rewrite.changed if name.endswith(".py")}
    assert changed, "apply changed nothing"
    inventory = _run(rewrite.rewritten, "inventory", tmp_path / "inventory.pt")
    assert changed <= set(inventory["modules"])
    factories = {entry.split(":")[0] for entry in _factories()}
    uncovered = changed - set(inventory["probed"]) - factories
    assert not uncovered, f"changed modules no probe or model exercises: {sorted(uncovered)}"
    before, after = runs
    for name, result in before["probes"].items():
        for key, value in result.items():
            tolerance = TRAINING_TOLERANCE if key == "training" else TOLERANCE
            _assert_same(value, after["probes"][name][key], f"{name}:{key}", tolerance)


def test_checkpoints_load_into_rewritten_models(runs: tuple[dict, dict]):
    """A state_dict saved from each original model loads with strict=True; same outputs and input gradients."""
    before, after = runs
    assert list(after["models"]) == list(before["models"]) == _factories()
    for factory, model in before["models"].items():
        _assert_same(model["outputs"], after["models"][factory]["outputs"], f"{factory} outputs", TOLERANCE)
        _assert_same(model["input_grads"], after["models"][factory]["input_grads"], f"{factory} grads", TOLERANCE)


def _factories() -> list[str]:
    models = tomllib.loads((CORPUS / "pyproject.toml").read_text())["tool"]["torchfix"]["verify"]["models"]
    return [entry["factory"] for entry in models]
