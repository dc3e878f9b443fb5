"""`apply --interactive`: piped answers apply exactly the accepted fixes."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import CORPUS
from torchfix.config import load_settings
from torchfix.discovery import discover
from torchfix.engine import fix_text


def _expected(project, answers):
    """The project's texts after accepting fixes by ``answers``, asked in file then source order."""
    settings = load_settings([project])
    answers = iter(answers)
    result = {}
    for path in discover([project]).files:
        text = path.read_text(encoding="utf-8")
        relative = path.resolve().relative_to(settings.root).as_posix()
        outcome = fix_text(text, settings.options_for(relative), accept=lambda *_: next(answers, False))
        result[path.name] = outcome.text
    return result


def test_yes_no_yes_applies_the_first_and_third_fix(tmp_path):
    shutil.copytree(CORPUS, tmp_path / "corpus")
    project = tmp_path / "corpus" / "metric_learning"
    expected = _expected(project, [True, False, True])
    before = {p.name: p.read_text(encoding="utf-8") for p in project.glob("*.py")}
    result = subprocess.run(
        [sys.executable, "-m", "torchfix", "apply", "--interactive", "--no-cache", str(project)],
        input="y\nn\ny\n", capture_output=True, text=True,
    )
    assert result.returncode == 1, result.stderr  # the declined fix and those never asked remain
    assert result.stdout.count("Apply this fix?") >= 3
    assert "Stopped: the remaining fixes were not applied." in result.stdout
    after = {p.name: p.read_text(encoding="utf-8") for p in project.glob("*.py")}
    assert after == expected
    changed = [name for name in after if after[name] != before[name]]
    assert changed, "two fixes were accepted"
    assert "Fixed 2 findings" in result.stdout


def test_all_and_quit(tmp_path):
    shutil.copytree(CORPUS, tmp_path / "corpus")
    project = tmp_path / "corpus" / "metric_learning"
    expected = _expected(project, [False] + [True] * 1000)
    result = subprocess.run(
        [sys.executable, "-m", "torchfix", "apply", "-i", "--no-cache", str(project)],
        input="n\na\n", capture_output=True, text=True,
    )
    assert result.returncode == 1, result.stderr  # the declined fix remains
    assert {p.name: p.read_text(encoding="utf-8") for p in project.glob("*.py")} == expected
    untouched = {p.name: p.read_bytes() for p in project.glob("*.py")}
    result = subprocess.run(
        [sys.executable, "-m", "torchfix", "apply", "-i", "--no-cache", str(project)],
        input="q\n", capture_output=True, text=True,
    )
    assert result.returncode == 1, result.stderr
    assert "Stopped: the remaining fixes were not applied." in result.stdout
    assert {p.name: p.read_bytes() for p in project.glob("*.py")} == untouched
