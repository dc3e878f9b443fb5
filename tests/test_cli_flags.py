"""The flags a Ruff user reaches for: stdin, --fix, selection prefixes, output files, quiet
outcomes, unused suppressions, rules as JSON, explain without lost words."""

from __future__ import annotations

import json
import re

import pytest
from conftest import CLEAN, NORMALIZE, NORMALIZED
from typer.testing import CliRunner

from torchfix.cli import app
from torchfix.rules import all_rules

#: a TF002 finding (unsafe fix) and a TF007 (safe) in other spellings than conftest's
TWO = (
    "import torch as th\nimport torch.nn.functional as Fn\n\n\n"
    "def pool(feats):\n    noise = th.rand(3, 4).cuda()\n    return feats / feats.norm(dim=-1, keepdim=True), noise\n"
)


def invoke(cwd, *args, stdin: bytes | None = None, monkeypatch=None):
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(app, list(args), input=stdin, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def run(monkeypatch):
    return lambda cwd, *args, stdin=None: invoke(cwd, *args, stdin=stdin, monkeypatch=monkeypatch)


@pytest.fixture
def configured(tmp_path):
    """A project with excludes and per-file ignores, checked from a folder below it."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.torchfix]\nexclude = ["generated/"]\n[tool.torchfix.per-file-ignores]\n"tests/*" = ["f-normalize"]\n'
    )
    (tmp_path / "src").mkdir()
    return tmp_path


def test_check_stdin_reports_under_the_given_name_with_its_settings(run, configured):
    code, out, _ = run(configured / "src", "check", "--stdin-filename", "pkg/pool.py", "-", stdin=TWO.encode())
    assert code == 1
    assert "pkg/pool.py:6:13: TF002" in out and "pkg/pool.py:7:12: TF007 [*]" in out
    # the per-file ignore of tests/* applies to the name stdin stands for (relative to the config's folder)
    code, out, _ = run(configured, "check", "--stdin-filename", "tests/test_pool.py", "-", stdin=TWO.encode())
    assert "TF007" not in out and "tests/test_pool.py:6:13: TF002" in out
    code, out, _ = run(configured, "check", "--stdin-filename", "generated/pool.py", "-", stdin=TWO.encode())
    assert (code, out) == (0, "No findings.\n")
    assert not (configured / ".torchfix_cache").exists()  # stdin never touches the cache


def test_apply_stdin_prints_the_fixed_source_and_writes_nothing(run, configured):
    code, out, err = run(configured, "apply", "--stdin-filename", "src/pool.py", "-", stdin=NORMALIZE.encode())
    assert (code, out) == (0, NORMALIZED)
    assert list((configured / "src").iterdir()) == []
    code, out, err = run(configured, "apply", "--stdin-filename", "src/pool.py", "-", stdin=TWO.encode())
    assert code == 1  # TF002's unsafe fix remains
    assert "Fn.normalize(feats, dim=-1)" in out and "th.rand(3, 4).cuda()" in out
    assert "src/pool.py:6:13: TF002" in err
    code, out, _ = run(configured, "apply", "-", stdin=b"x = 1 +\n")
    assert (code, out) == (2, "x = 1 +\n")  # unparsable: echoed unchanged, exit 2
    latin = "# -*- coding: latin-1 -*-\nimport torch\ns = 'caf\xe9'\ny = x / x.norm(dim=1, keepdim=True)\n"
    result = CliRunner().invoke(app, ["apply", "-"], input=latin.encode("latin-1"))
    assert result.exit_code == 0  # written back in the source's own encoding
    assert result.stdout_bytes == latin.replace("torch\n", "torch\nimport torch.nn.functional as F\n", 1).replace(
        "x / x.norm(dim=1, keepdim=True)", "F.normalize(x, dim=1)"
    ).encode("latin-1")


def test_check_fix_applies_and_unsafe_fixes_go_with_it(run, project):
    (project / "pool.py").write_text(TWO)
    code, out, _ = run(project, "check", "--fix", "--show-fixes", ".")
    assert code == 1  # TF002 remains
    assert "Fixes applied:\n  pool.py:\n    1 × TF007 (f-normalize)\n" in out
    code, out, _ = run(project, "check", "--fix", "--unsafe-fixes", ".")
    assert code == 0 and 'th.rand(3, 4, device="cuda")' in (project / "pool.py").read_text()


def test_selection_prefixes_and_extend_flags(run, project):
    (project / "pool.py").write_text(TWO)
    def codes(*flags):
        return re.findall(r"TF\d{3}", run(project, "check", *flags, ".")[1])

    assert codes("--select", "TF00") == ["TF002", "TF007"]
    assert codes("--select", "TF") == codes("--select", "ALL") == ["TF002", "TF007"]
    assert codes("--select", "TF01") == []
    assert codes("--select", "TF002", "--extend-select", "f-normalize") == ["TF002", "TF007"]
    assert codes("--extend-ignore", "TF002") == ["TF007"]
    assert run(project, "check", "--select", "TF0x", ".")[0] == 2
    assert run(project, "check", "--extend-select", "TF999", ".")[0] == 2


def test_output_format_alias_and_output_file(run, project):
    (project / "pool.py").write_text(TWO)
    code, out, _ = run(project, "check", "--output-format", "json", "--output-file", "reports/torchfix.json", ".")
    assert (code, out) == (1, "")
    data = json.loads((project / "reports" / "torchfix.json").read_text())
    assert [item["code"] for item in data] == ["TF002", "TF007"]
    run(project, "check", "-o", "out.txt", ".")
    assert "Found 2 findings in 1 file" in (project / "out.txt").read_text()


def test_show_files_settings_and_verbose(run, configured):
    (configured / "src" / "a.py").write_text(CLEAN)
    (configured / "src" / "b.ipynb").write_text(json.dumps({"cells": []}))
    (configured / "generated").mkdir()
    (configured / "generated" / "c.py").write_text(CLEAN)
    code, out, _ = run(configured, "check", "--show-files")
    assert (code, out) == (0, "src/a.py\nsrc/b.ipynb\n")
    code, out, _ = run(configured, "check", "--show-settings", "--select", "TF00", "--ignore", "TF001")
    settings = json.loads(out)
    assert settings["rules"] == [f"TF00{i}" for i in range(2, 10)]
    assert settings["per_file_ignores"] == {"tests/*": ["TF007"]} and settings["exclude"] == ["generated/"]
    code, _, err = run(configured, "check", "-v", "src")
    assert f"torchfix: config: {configured / 'pyproject.toml'}" in err and "torchfix: files: 2 in " in err


def test_quiet_outcomes(run, tmp_path):
    (tmp_path / "empty").mkdir()
    code, out, err = run(tmp_path, "check", "empty")
    assert code == 0 and out == "" and "no Python files or notebooks found under empty" in err
    assert not (tmp_path / ".torchfix_cache").exists() and not (tmp_path / "empty" / ".torchfix_cache").exists()
    code, out, err = run(tmp_path, "check", "emtpy")
    assert code == 2 and "emtpy: cannot read: no such file or directory" in err
    assert out == "No findings; 1 file could not be checked.\n"
    assert run(tmp_path, "apply", "empty")[0] == 0


def test_statistics_quiet_prints_only_the_table(run, project):
    (project / "pool.py").write_text(TWO)
    _, out, _ = run(project, "check", "--statistics", "-q", ".")
    assert out.split("\n")[0].split() == ["count", "code", "rule", "fixable"]
    assert "pool.py" not in out and "Found" not in out
    assert len(out.strip().splitlines()) == 3


def test_failures_in_every_output(run, project):
    (project / "pool.py").write_text(TWO)
    (project / "broken.py").write_text("def f(:\n")
    (project / "blob.py").write_bytes(b"\x00\x01")
    code, out, _ = run(project, "check", ".")
    assert code == 2 and "; 2 files could not be checked." in out
    errors = [item for item in json.loads(run(project, "check", "--format", "json", ".")[1]) if "error" in item]
    assert [item["path"] for item in errors] == ["blob.py", "broken.py"]
    assert errors[1]["error"].startswith("cannot parse: line 1")
    github = run(project, "check", "--format", "github", ".")[1]
    assert github.count("::error file=") == 2
    sarif = json.loads(run(project, "check", "--format", "sarif", ".")[1])
    assert len(sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]) == 2


def test_dry_run_json_lists_the_pending_edits(run, project):
    (project / "pool.py").write_text(TWO)
    code, out, _ = run(project, "apply", "--dry-run", "--format", "json", ".")
    (edit,) = json.loads(out)
    assert code == 1 and edit["path"] == "pool.py"
    assert "+    return Fn.normalize(feats, dim=-1), noise\n" in edit["diff"]
    assert [fix["code"] for fix in edit["fixes"]] == ["TF007"]
    assert (project / "pool.py").read_text() == TWO


def test_unused_suppressions_are_reported_on_request(run, project):
    (project / "pool.py").write_text(TWO.replace("noise = th.rand(3, 4).cuda()", "noise = 1  # torchfix: ignore[TF002]"))
    (project / "clean.py").write_text("x = 1  # noqa: TF007\ny = 2  # noqa\n")  # ruled out by the prefilter
    assert "TF100" not in run(project, "check", ".")[1]
    code, out, _ = run(project, "check", "--show-unused-noqa", ".")
    assert code == 1
    assert "clean.py:1:8: TF100 Unused suppression: `# noqa: TF007`: TF007 suppressed nothing." in out
    assert "pool.py:6:16: TF100" in out and "clean.py:2" not in out
    sarif = json.loads(run(project, "check", "--show-unused-noqa", "--format", "sarif", ".")[1])
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {"TF007", "TF100"}


def test_rules_as_json(run, tmp_path):
    rules = json.loads(run(tmp_path, "rules", "--format", "json")[1])
    assert [rule["code"] for rule in rules] == [rule.CODE for rule in all_rules()]
    assert all(rule["docs"] and rule["fix_safety"] and rule["slug"] for rule in rules)


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9_]{2,}", text)


@pytest.mark.parametrize("rule", all_rules(), ids=lambda rule: rule.CODE)
def test_explain_piped_wraps_without_losing_a_word(run, tmp_path, monkeypatch, rule):
    monkeypatch.delenv("COLUMNS", raising=False)
    _, out, _ = run(tmp_path, "explain", rule.CODE)
    assert max(len(line) for line in out.splitlines()) <= 102
    shown = " ".join(_words(out))
    for text in (rule.DOCS, *rule.ROWS.values()):
        for word in _words(text):
            assert re.search(rf"\b{re.escape(word)}\b", shown), (rule.CODE, word)


def test_help_metavars(run, tmp_path):
    help_text = run(tmp_path, "check", "--help")[1]
    assert "--select CODES" in help_text and "--config PATH" in help_text and "--output-file PATH" in help_text
    assert "<list[" not in help_text and "  PATHS  Files and folders" in help_text
    assert "  CODE  A rule code (TF007) or slug" in run(tmp_path, "explain", "--help")[1]


@pytest.mark.parametrize("command", ["check", "apply"])
def test_the_readme_documents_every_flag(command):
    import typer.main

    from conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    click_command = typer.main.get_command(app).commands[command]
    flags = {opt for param in click_command.params for opt in (*param.opts, *param.secondary_opts)}
    documented = set(re.findall(r"--[a-z][a-z-]*", readme))
    assert sorted(flag for flag in flags if flag.startswith("--") and flag not in documented) == []
