"""Startup: `--version` and a `check` with nothing to parse never import LibCST.

Each run is a fresh interpreter (``python -X importtime``), so what it imports is
exactly what a user's run imports. No timings are asserted: benchmarks/bench.py
prints those.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import torchfix
from conftest import CLEAN, NORMALIZE
from torchfix.rules import all_rules, code_by_key, rule_codes, rule_slugs

PACKAGE = Path(torchfix.__file__).resolve().parent


def _imports(cwd: Path, *args: str, pythonpath: Path | None = None) -> tuple[set[str], subprocess.CompletedProcess]:
    """The modules a ``torchfix`` run imports, and the run."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "torchfix", *args],
        cwd=cwd, capture_output=True, text=True, env=env, check=False,
    )
    modules = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+([\w.]+)$", result.stderr, re.MULTILINE))
    assert "torchfix.cli" in modules, result.stderr[-2000:]  # the probe itself works
    return modules, result


def _loaded(modules: set[str], package: str) -> bool:
    return any(name == package or name.startswith(package + ".") for name in modules)


def test_version_imports_neither_libcst_nor_the_rules_nor_rich(tmp_path):
    modules, result = _imports(tmp_path, "--version")
    assert result.returncode == 0 and result.stdout.strip() == f"torchfix {torchfix.__version__}"
    for heavy in ("libcst", "torchfix.rule", "torchfix.engine", "torchfix.verify", "rich", "torch"):
        assert not _loaded(modules, heavy), heavy


def test_a_check_whose_files_are_cached_or_ruled_out_never_imports_libcst(project):
    (project / "model.py").write_text(NORMALIZE)
    (project / "clean.py").write_text(CLEAN)
    modules, first = _imports(project, "check", ".")
    assert first.returncode == 1 and _loaded(modules, "libcst")  # model.py needed a tree
    modules, warm = _imports(project, "check", ".")
    assert warm.returncode == 1 and warm.stdout == first.stdout and "TF007" in warm.stdout
    assert not _loaded(modules, "libcst") and not _loaded(modules, "torchfix.engine")
    assert not _loaded(modules, "rich.markdown") and not _loaded(modules, "torch")
    assert not _loaded(modules, "torchfix.verify.commands") and not _loaded(modules, "torchfix.verify.worker")


def test_a_file_the_prefilter_rules_out_needs_no_libcst(project):
    (project / "clean.py").write_text(CLEAN)
    modules, result = _imports(project, "check", "--no-cache", "clean.py")
    assert result.returncode == 0, result.stderr
    assert not _loaded(modules, "libcst") and not _loaded(modules, "torchfix.rule")


def test_the_catalogue_read_from_module_names_matches_the_rules():
    rules = all_rules()
    assert rule_codes() == tuple(rule.CODE for rule in rules)
    assert rule_slugs() == {rule.CODE: rule.SLUG for rule in rules}
    for rule in rules:
        assert code_by_key(rule.SLUG) == code_by_key(rule.CODE.lower()) == rule.CODE


@pytest.mark.parametrize("edit", ["message", "unrelated comment"])
def test_a_change_to_a_rules_source_invalidates_the_cache(project, tmp_path_factory, edit):
    """An editable install (or a patched CI image) changes the code, not the version."""
    copy = tmp_path_factory.mktemp("install") / "torchfix"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "model.py").write_text(NORMALIZE)
    _, first = _imports(project, "check", ".", pythonpath=copy.parent)
    assert "Use F.normalize instead of dividing by the norm." in first.stdout
    rule = copy / "rules" / "tf007_f_normalize.py"
    source = rule.read_text(encoding="utf-8")
    if edit == "message":
        changed = source.replace("Use F.normalize instead of dividing by the norm.", "Prefer F.normalize here.")
    else:
        changed = source + "\n# a comment that changes nothing but the file\n"
    assert changed != source
    rule.write_text(changed, encoding="utf-8")
    modules, second = _imports(project, "check", ".", pythonpath=copy.parent)
    assert _loaded(modules, "libcst"), "the cached findings were served after the rule changed"
    expected = "Prefer F.normalize here." if edit == "message" else "Use F.normalize instead of dividing by the norm."
    assert expected in second.stdout


def test_a_check_needing_the_structural_rules_does_not_import_libcst_matchers(project):
    """Importing ``libcst.matchers`` took 0.18 s: only TF001's dataset analysis uses it, and only in
    a file the prefilter kept for TF001."""
    (project / "model.py").write_text(NORMALIZE)
    (project / "layers.py").write_text(
        "import torch\nfrom torch import nn\n\n\nclass Skip(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n\n    def forward(self, x):\n        return x\n\n\n"
        "class Scaled(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.scale = torch.ones(3)\n\n    def forward(self, x):\n        return x * self.scale.to(x.device)\n"
    )
    modules, result = _imports(project, "check", "--jobs", "1", ".")
    assert {"TF003", "TF004", "TF007"} <= set(re.findall(r"TF\d{3}", result.stdout)), result.stdout
    assert _loaded(modules, "libcst") and not _loaded(modules, "libcst.matchers")
    every_rule = "import sys; from torchfix.rules import all_rules; all_rules(); print(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", every_rule], capture_output=True, text=True, check=True).stdout
    assert "'torchfix.rules.tf001_dataset_folder'" in loaded and "'libcst.matchers'" not in loaded


def test_the_console_script_runs_exit_handlers_and_flushes_before_its_quick_exit(project):
    """``main()`` ends with ``os._exit`` (no teardown): the exit code, every line of output
    and the exit handlers must survive it."""
    (project / "model.py").write_text(NORMALIZE)
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('exit handler ran', file=sys.stderr))\n"
        "sys.argv = ['torchfix', *sys.argv[1:]]\n"
        "from torchfix.cli import main\n"
        "main()\n"
        "print('not reached')\n"
    )
    for args, code in ((["check", "model.py"], 1), (["check", "--exit-zero", "model.py"], 0), (["nonsense"], 2)):
        result = subprocess.run([sys.executable, "-c", probe, *args], cwd=project, capture_output=True, text=True)
        assert result.returncode == code, (args, result.stderr)
        assert result.stderr.rstrip().endswith("exit handler ran") and "not reached" not in result.stdout
        if args[0] == "check":
            assert "TF007" in result.stdout and result.stdout.endswith("\n")
