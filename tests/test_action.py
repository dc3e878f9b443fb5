"""The composite GitHub Action (action.yml): its flags are real, and its check step behaves.

The check step's script runs here with bash as the runner would run it: each
step ``env`` value ``${{ inputs.NAME }}`` becomes the input's value, and the
installed torchfix stands in for the one the install step puts under RUNNER_TEMP.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
import yaml

from conftest import CLEAN, NORMALIZE, ROOT
from torchfix.cli import app
from torchfix.rules import all_rules

ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
INPUTS = ACTION["inputs"]
STEPS = ACTION["runs"]["steps"]
INSTALL, CHECK = STEPS
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")

#: an unsafe TF007 fix (an eps in the denominator), on line 5
UNSAFE = "import torch\n\n\ndef embed(x):\n    return x / (x.norm(dim=-1, keepdim=True) + 1e-8)\n"


def _check_options() -> set[str]:
    command = typer.main.get_command(app).commands["check"]
    return {flag for param in command.params for flag in (*param.opts, *param.secondary_opts)}


def test_every_flag_the_action_passes_is_a_check_option():
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", CHECK["run"]))
    assert flags == {"--select", "--ignore", "--unsafe-fixes", "--no-unsafe-fixes", "--exit-zero", "--format"}
    assert flags <= _check_options()
    for fmt in re.findall(r"--format (\w+)", CHECK["run"]):
        assert fmt in {"github", "sarif"}


def test_every_input_reaches_a_step_and_nothing_else_is_expanded():
    used = []
    for step in STEPS:
        assert step["shell"] == "bash"
        assert not EXPRESSION.search(step["run"]), "expressions go through env, never into the script"
        for value in step["env"].values():
            (expression,) = EXPRESSION.findall(value)
            assert value == "${{ %s }}" % expression
            if expression != "github.action_path":
                used.append(expression.removeprefix("inputs."))
    assert sorted(used) == sorted(INPUTS)
    assert all(spec["description"] and "default" in spec for spec in INPUTS.values())


def test_scripts_are_valid_bash():
    for step in STEPS:
        subprocess.run(["bash", "-n"], input=step["run"], text=True, check=True)


def test_install_step_installs_the_pinned_version_or_this_revision():
    assert INSTALL["env"] == {
        "TORCHFIX_VERSION": "${{ inputs.version }}",
        "TORCHFIX_SOURCE": "${{ github.action_path }}",
    }
    assert 'requirement="torchfix-idioms==$TORCHFIX_VERSION"' in INSTALL["run"]
    assert "torchfix-venv/bin/python\" -m pip install" in INSTALL["run"]


@pytest.fixture
def workspace(tmp_path):
    """A project with a safe finding (model.py), an unsafe one (unsafe.py) and a clean file, and RUNNER_TEMP."""
    project = tmp_path / "workspace"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.torchfix]\n")
    (project / "model.py").write_text(NORMALIZE)
    (project / "unsafe.py").write_text(UNSAFE)
    (project / "clean.py").write_text(CLEAN)
    torchfix = tmp_path / "runner-temp" / "torchfix-venv" / "bin" / "torchfix"
    torchfix.parent.mkdir(parents=True)
    torchfix.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m torchfix "$@"\n')
    torchfix.chmod(torchfix.stat().st_mode | stat.S_IXUSR)
    return project


def _run_check(workspace: Path, **inputs: str) -> subprocess.CompletedProcess:
    """The check step with these inputs (``sarif_file`` for ``sarif-file``) and the defaults for the rest."""
    values = {name: spec["default"] for name, spec in INPUTS.items()}
    values.update({name.replace("_", "-"): value for name, value in inputs.items()})
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHFIX")}
    env["RUNNER_TEMP"] = str(workspace.parent / "runner-temp")
    for key, value in CHECK["env"].items():
        env[key] = values[EXPRESSION.search(value).group(1).removeprefix("inputs.")]
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", CHECK["run"]],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _annotated(result: subprocess.CompletedProcess) -> list[str]:
    return re.findall(r"^::warning file=([^,]+),line=5,.*title=TF007 f-normalize::", result.stdout, re.MULTILINE)


def _fixable(sarif_file: Path) -> dict[str, bool]:
    (run,) = json.loads(sarif_file.read_text())["runs"]
    return {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r["properties"]["fixable"]
        for r in run["results"]
    }


def test_defaults_annotate_every_finding_and_fail(workspace):
    result = _run_check(workspace)
    assert result.returncode == 1, result.stderr
    assert _annotated(result) == ["model.py", "unsafe.py"]
    assert not any(workspace.parent.glob("**/*.sarif"))


def test_sarif_file_paths_and_unsafe_fixes(workspace):
    result = _run_check(workspace, paths="model.py unsafe.py", sarif_file="out.sarif", unsafe_fixes="true")
    assert result.returncode == 1, result.stderr
    assert _annotated(result) == ["model.py", "unsafe.py"]
    assert _fixable(workspace / "out.sarif") == {"model.py": True, "unsafe.py": True}

    result = _run_check(workspace, paths="unsafe.py clean.py", sarif_file="out.sarif", unsafe_fixes="false")
    assert result.returncode == 1, result.stderr
    assert _annotated(result) == ["unsafe.py"]
    assert _fixable(workspace / "out.sarif") == {"unsafe.py": False}


def test_fail_on_findings_false_still_annotates(workspace):
    result = _run_check(workspace, fail_on_findings="false", sarif_file="out.sarif")
    assert result.returncode == 0, result.stderr
    assert _annotated(result) == ["model.py", "unsafe.py"]
    assert sorted(_fixable(workspace / "out.sarif")) == ["model.py", "unsafe.py"]


OTHER = next(rule.CODE for rule in all_rules() if rule.CODE != "TF007")


@pytest.mark.parametrize("inputs", [{"select": OTHER}, {"ignore": f"f-normalize,{OTHER}"}])
def test_select_and_ignore(workspace, inputs):
    result = _run_check(workspace, **inputs)
    assert (result.returncode, result.stdout) == (0, ""), result.stderr


def test_unreadable_path_fails_even_with_fail_on_findings_false(workspace):
    result = _run_check(workspace, paths="missing.py", fail_on_findings="false")
    assert result.returncode == 2
    assert result.stdout == "::error file=missing.py,title=torchfix::cannot read: no such file or directory\n"


@pytest.mark.parametrize("name", ["unsafe-fixes", "fail-on-findings"])
def test_bad_switch_values_are_refused(workspace, name):
    result = _run_check(workspace, **{name.replace("-", "_"): "yes"})
    assert result.returncode == 2
    assert result.stdout.startswith(f"::error title=torchfix::{name} must be true")
    assert result.stdout.endswith(", not 'yes'\n")
