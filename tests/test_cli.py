"""The command line end to end: exit codes, dry runs, output lines, rules and explain."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import CLEAN, CORPUS, NORMALIZE, NORMALIZED, ROOT
from torchfix.rules import all_rules


def test_check_exit_codes(cli, project):
    (project / "clean.py").write_text(CLEAN)
    assert cli(project, "check", ".")[0] == 0
    (project / "model.py").write_text(NORMALIZE)
    code, out, _ = cli(project, "check", ".")
    assert code == 1
    assert "model.py:5:12: TF007 [*] Use F.normalize" in out
    assert "Found 1 finding in 1 file: 1 fixable" in out
    assert cli(project, "check", "--exit-zero", ".")[0] == 0
    assert cli(project, "check", "--select", "TF999", ".")[0] == 2
    assert cli(project, "check", "--no-such-flag")[0] == 2


def test_check_reports_unreadable_files_and_goes_on(cli, project):
    (project / "model.py").write_text(NORMALIZE)
    (project / "broken.py").write_text("import torch\ndef f(:\n    return x.norm()\n")
    (project / "blob.py").write_bytes(b"\x89PNG\x00\x01binary")
    code, out, err = cli(project, "check", ".")
    assert code == 2
    assert "model.py:5:12: TF007" in out
    assert err.count("broken.py: cannot parse: line 2") == 1
    assert err.count("blob.py: cannot decode") == 1
    assert "Traceback" not in out + err


def test_apply_fixes_other_files_despite_bad_ones(cli, project):
    (project / "model.py").write_text(NORMALIZE)
    (project / "broken.py").write_text("def f(:\n    pass\n")
    (project / "blob.py").write_bytes(b"\x00\x01")
    code, _, err = cli(project, "apply", ".")
    assert code == 2
    assert (project / "model.py").read_text() == NORMALIZED
    assert (project / "broken.py").read_text() == "def f(:\n    pass\n"
    assert len(err.strip().splitlines()) == 2


def test_dry_run_writes_nothing_and_prints_a_diff(cli, project):
    path = project / "model.py"
    path.write_text(NORMALIZE)
    before = os.stat(path)
    for flag in ("--dry-run", "--diff"):
        code, out, _ = cli(project, "apply", flag, ".")
        assert code == 1
        assert "+import torch.nn.functional as F" in out
        assert "-    return x / x.norm(dim=1, keepdim=True)" in out
        assert "Would fix 1 finding in 1 file." in out
    assert path.read_text() == NORMALIZE
    assert os.stat(path).st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in project.iterdir()) == ["model.py", "pyproject.toml"]


def test_apply_then_check_is_clean_and_idempotent(cli, project):
    (project / "model.py").write_text(NORMALIZE)
    code, out, _ = cli(project, "apply", ".")
    assert (code, "Fixed 1 finding in 1 file." in out) == (0, True)
    assert (project / "model.py").read_text() == NORMALIZED
    assert cli(project, "check", ".")[0] == 0
    assert cli(project, "apply", "--dry-run", ".")[0] == 0
    assert cli(project, "apply", "--exit-non-zero-on-fix", ".")[0] == 0
    (project / "model.py").write_text(NORMALIZE)
    assert cli(project, "apply", "--exit-non-zero-on-fix", ".")[0] == 1


def test_unsafe_fixes_are_counted_and_gated(cli, project):
    source = "import torch\n\n\ndef unit(x):\n    v = x.flatten()\n    return v / v.norm()\n"
    (project / "model.py").write_text(source)
    code, out, _ = cli(project, "check", ".")
    assert code == 1 and "TF007 " in out and "[*]" not in out
    assert "0 fixable with `torchfix apply`; 1 more with `--unsafe-fixes`" in out
    assert cli(project, "apply", ".")[0] == 1
    assert (project / "model.py").read_text() == source
    assert cli(project, "apply", "--unsafe-fixes", ".")[0] == 0
    assert "F.normalize(v, dim=0)" in (project / "model.py").read_text()


def test_json_format_fields(cli, project):
    (project / "model.py").write_text(NORMALIZE)
    code, out, _ = cli(project, "check", "--format", "json", ".")
    assert code == 1
    [item] = json.loads(out)
    assert item["path"] == "model.py"
    assert (item["line"], item["column"], item["end_line"]) == (5, 12, 5)
    assert item["code"] == "TF007" and item["slug"] == "f-normalize"
    assert item["fixable"] is True and item["applicability"] == "safe"


def test_statistics_and_quiet(cli, project):
    (project / "a.py").write_text(NORMALIZE)
    (project / "b.py").write_text(NORMALIZE)
    _, out, _ = cli(project, "check", "--statistics", ".")
    assert any(line.split()[:3] == ["2", "TF007", "f-normalize"] for line in out.splitlines())
    _, out, _ = cli(project, "check", "--quiet", ".")
    assert "Found" not in out and out.count("TF007") == 2


def test_rules_and_explain(cli, project):
    code, out, _ = cli(project, "rules")
    assert code == 0
    for rule in all_rules():
        assert rule.CODE in out
    code, out, _ = cli(project, "rules", "--format", "markdown")
    assert out.startswith("| Code | Slug |")
    for rule in all_rules():
        code, out, _ = cli(project, "explain", rule.CODE)
        assert code == 0 and rule.SLUG in out and "Before" in out and "After" in out
    assert cli(project, "explain", "f-normalize")[0] == 0
    assert cli(project, "explain", "TF999")[0] == 2


def test_version_and_module_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "torchfix", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("torchfix ")


def test_check_imports_no_torch():
    """A CI gate must start fast: check never imports torch (nor torchvision)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "torchfix", "check", str(CORPUS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 1, result.stderr[-2000:]  # the corpus has findings
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line]
    assert "torchfix.cli" in imported
    assert not [name for name in imported if name.split(".")[0] in ("torch", "torchvision")]


@pytest.mark.parametrize("command", ["check", "apply"])
def test_file_named_on_the_command_line_is_always_checked(cli, project, command):
    (project / ".gitignore").write_text("generated.py\n")
    (project / "generated.py").write_text(NORMALIZE)
    assert cli(project, "check", ".")[0] == 0
    assert cli(project, command, "generated.py")[0] == (1 if command == "check" else 0)
    if command == "check":
        assert cli(project, "check", "generated.py")[0] == 1
    else:
        assert (project / "generated.py").read_text() == NORMALIZED
