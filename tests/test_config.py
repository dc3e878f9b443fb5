"""[tool.torchfix]: selection, per-file ignores, unsafe fixes, and loud errors."""

from __future__ import annotations

import pytest

from conftest import NORMALIZE, NORMALIZED
from torchfix.config import ConfigError, load_settings

WHOLE_TENSOR = "import torch\n\n\ndef unit(x):\n    v = x.flatten()\n    return v / v.norm()\n"


def _config(project, body: str) -> None:
    (project / "pyproject.toml").write_text("[tool.torchfix]\n" + body)


def test_select_and_ignore_by_code_or_slug(cli, project):
    (project / "m.py").write_text(NORMALIZE)
    _config(project, 'ignore = ["f-normalize"]\n')
    assert cli(project, "check", ".")[0] == 0
    assert cli(project, "check", "--select", "TF007", ".")[0] == 0, "ignore in config still applies"
    _config(project, 'select = ["TF007"]\n')
    assert cli(project, "check", ".")[0] == 1
    assert cli(project, "check", "--ignore", "TF007", ".")[0] == 0
    _config(project, 'select = ["TF002"]\n')
    assert cli(project, "check", ".")[0] == 0
    assert cli(project, "check", "--select", "tf007", ".")[0] == 1, "flags override the config"


def test_per_file_ignores(cli, project):
    (project / "pkg").mkdir()
    (project / "pkg" / "legacy.py").write_text(NORMALIZE)
    (project / "pkg" / "new.py").write_text(NORMALIZE)
    _config(project, '[tool.torchfix.per-file-ignores]\n"pkg/legacy.py" = ["TF007"]\n')
    code, out, _ = cli(project, "check", ".")
    assert code == 1 and "pkg/new.py" in out and "legacy" not in out


def test_unsafe_fixes_per_rule_from_config(cli, project):
    (project / "m.py").write_text(WHOLE_TENSOR)
    _config(project, 'unsafe-fixes = ["TF002"]\n')
    assert cli(project, "apply", ".")[0] == 1
    assert (project / "m.py").read_text() == WHOLE_TENSOR
    _config(project, 'unsafe-fixes = ["TF007"]\n')
    assert cli(project, "apply", ".")[0] == 0
    assert "F.normalize(v, dim=0)" in (project / "m.py").read_text()


def test_exclude(cli, project):
    (project / "vendored").mkdir()
    (project / "vendored" / "m.py").write_text(NORMALIZE)
    _config(project, 'exclude = ["vendored/"]\n')
    assert cli(project, "check", ".")[0] == 0
    assert cli(project, "apply", "vendored/m.py")[0] == 0, "a file named explicitly is still processed"
    assert (project / "vendored" / "m.py").read_text() == NORMALIZED


@pytest.mark.parametrize(
    "body, message",
    [
        ("selct = ['TF007']\n", "unknown key(s) in [tool.torchfix]: selct"),
        ("select = ['TF999']\n", "unknown rule 'TF999'"),
        ("ignore = 'TF007'\n", "`ignore` must be a list of strings"),
        ("unsafe-fixes = 'yes'\n", "`unsafe-fixes` must be a list of strings"),
        ("buffer-persistent = 1\n", "`buffer-persistent` must be true or false"),
        ("max-file-size = -1\n", "`max-file-size` must be a positive number"),
        ("select = [\n", "cannot read"),
    ],
)
def test_config_errors_are_loud(cli, project, body, message):
    (project / "m.py").write_text(NORMALIZE)
    _config(project, body)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        load_settings([project])
    code, _, err = cli(project, "check", ".")
    assert code == 2 and message in err


def test_nearest_config_above_the_paths_wins(cli, project):
    _config(project, 'ignore = ["TF007"]\n')
    inner = project / "sub"
    inner.mkdir()
    (inner / "m.py").write_text(NORMALIZE)
    assert cli(project, "check", "sub")[0] == 0
    (inner / "pyproject.toml").write_text("[tool.torchfix]\n")
    assert cli(project, "check", "sub")[0] == 1


def test_force_exclude_applies_exclude_to_named_files(cli, project):
    (project / "vendored").mkdir()
    (project / "vendored" / "m.py").write_text(NORMALIZE)
    (project / "m.py").write_text(NORMALIZE)
    _config(project, 'exclude = ["vendored/"]\nforce-exclude = true\n')
    code, out, _ = cli(project, "check", "vendored/m.py", "m.py")
    assert code == 1 and "vendored" not in out and "m.py:5:12" in out
    _config(project, 'exclude = ["vendored/"]\n')
    assert "vendored/m.py" in cli(project, "check", "vendored/m.py")[1]
    assert cli(project, "check", "--force-exclude", "vendored/m.py")[0] == 0


def test_verify_table_is_validated_by_check_too(cli, project):
    (project / "m.py").write_text(NORMALIZE)
    _config(project, '[tool.torchfix.verify]\nmodels = [{ factroy = "pkg:build" }]\n')
    code, _, err = cli(project, "check", ".")
    assert code == 2 and "factroy" in err
