"""Shared fixtures: a CLI runner and small PyTorch sources with known findings.

A test file that needs torch (imported, or in the processes it starts) says so one
way: ``pytest.importorskip("torch")`` at the top, so that without torch it is one
clean skip with the reason, and every other file still runs (checked by hiding
torch from the import system: 8 files skip, the rest pass).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from torchfix.cli import app

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """``files`` (path under ``root`` -> text) written, their folders made; ``root`` returned."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root

#: one safe TF007 finding on line 5
NORMALIZE = "import torch\n\n\ndef embed(x):\n    return x / x.norm(dim=1, keepdim=True)\n"
NORMALIZED = (
    "import torch\nimport torch.nn.functional as F\n\n\ndef embed(x):\n    return F.normalize(x, dim=1)\n"
)
CLEAN = "import torch\n\n\ndef embed(x):\n    return x * 2\n"


@pytest.fixture
def cli(monkeypatch):
    """Invoke the CLI in-process: ``cli(tmp_path, "check", ".")`` -> (exit code, stdout, stderr)."""

    def invoke(cwd: Path, *args: str):
        monkeypatch.chdir(cwd)
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return invoke


@pytest.fixture
def project(tmp_path):
    """A project folder with a pyproject.toml (so no outer config leaks in)."""
    (tmp_path / "pyproject.toml").write_text("[tool.torchfix]\n")
    return tmp_path
