"""The pre-commit hooks, run by pre-commit itself against this checkout.

``pre-commit try-repo`` clones the checkout (HEAD plus uncommitted changes to
tracked files) and pip-installs it into a fresh virtualenv, with pip's own
configuration, so each call takes a few seconds: the tests make two calls.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import NORMALIZE, NORMALIZED, ROOT

FINDING = "model.py:5:12: TF007 [*] Use F.normalize instead of dividing by the norm."


#: what would point git at another repository (set while git runs a hook), or Python at another torchfix
_LEAKS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR", "PYTHONPATH")


def _env(tmp_path: Path) -> dict[str, str]:
    """The caller's environment (pip's index settings included), with pre-commit's state in ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if k not in _LEAKS and not k.startswith("PRE_COMMIT")}
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    return env


@pytest.fixture
def repo(tmp_path):
    """A git repository holding one PyTorch file with a safe TF007 finding (staged, as pre-commit reads the index)."""
    path = tmp_path / "repo"
    path.mkdir()
    (path / "pyproject.toml").write_text("[tool.torchfix]\n")
    (path / "model.py").write_text(NORMALIZE)
    env = _env(tmp_path)
    subprocess.run(["git", "init", "-q", "."], cwd=path, env=env, check=True)
    subprocess.run(["git", "add", "pyproject.toml", "model.py"], cwd=path, env=env, check=True)
    return path


def _try_repo(repo: Path, *hook: str) -> subprocess.CompletedProcess:
    """``pre-commit try-repo`` of this checkout in ``repo``: the one hook named, or all of them."""
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), *hook, "--all-files", "--color", "never"],
        cwd=repo,
        env=_env(repo.parent),
        capture_output=True,
        text=True,
        timeout=600,
    )


def _status(output: str, name: str) -> str:
    """``Passed`` or ``Failed``: the result pre-commit printed for the hook named ``name``."""
    match = re.search(rf"^{re.escape(name)}\.+(Passed|Failed)$", output, re.MULTILINE)
    assert match, output
    return match.group(1)


def test_check_hook_fails_and_prints_the_finding(repo):
    result = _try_repo(repo, "torchfix-check")
    assert result.returncode == 1, result.stdout + result.stderr
    assert _status(result.stdout, "torchfix check") == "Failed"
    assert "- exit code: 1" in result.stdout
    assert FINDING in result.stdout
    assert "files were modified" not in result.stdout
    assert (repo / "model.py").read_text() == NORMALIZE


def test_apply_hook_fixes_and_fails_then_check_passes(repo):
    # Every hook of the manifest, in id order: torchfix-apply, then torchfix-check on its result.
    result = _try_repo(repo)
    output = result.stdout
    assert result.returncode == 1, output + result.stderr
    apply_part, check_part = output.split("torchfix check.", 1)
    assert _status(apply_part, "torchfix apply") == "Failed"
    assert "- files were modified by this hook" in apply_part
    assert "- exit code" not in apply_part  # the failure is pre-commit's: the file changed
    assert "Fixed 1 finding in 1 file." in apply_part
    assert _status("torchfix check." + check_part, "torchfix check") == "Passed"
    assert (repo / "model.py").read_text() == NORMALIZED
