"""Honest outcomes, in-process: each fix and file ends verified, differs or unverified,
and the exit code says which (0 / 1 / 3); torchfix's own bugs are never a pass or a skip."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from torchfix.verify import commands
from torchfix.verify.checks import CheckOptions, VerifyError, call_worker
from torchfix.verify.outcomes import (
    DIFFERS,
    EXIT_UNVERIFIED,
    UNVERIFIED,
    VERIFIED,
    FileOutcome,
    ModelRun,
    Unit,
    changed_lines,
    counts,
    exit_code,
    judge,
    scope_at,
    scope_table,
)
from torchfix.verify.report import VerifyReport
from torchfix.verify.worker import models
from torchfix.verify.modes import Mode
from torchfix.verify.worker.compare import Tolerance, compare_gradients
from torchfix.verify.worker.train import step

SOURCE = textwrap.dedent(
    """\
    import torch

    SCALE = 2


    class Attention(torch.nn.Module):
        heads = 2

        def __init__(self, dim):
            super().__init__()

            def helper():
                return dim

        def forward(self, x):
            return x


    def unit(x):
        return x
    """
)


def test_scopes_are_spelled_as_code_qualnames():
    table = scope_table(SOURCE)
    assert scope_at(table, 3) == "<module>"
    assert scope_at(table, 7) == "Attention"  # the class body
    assert scope_at(table, 10) == "Attention.__init__"
    assert scope_at(table, 13) == "Attention.__init__.<locals>.helper"
    assert scope_at(table, 16) == "Attention.forward"
    assert scope_at(table, 20) == "unit"
    assert changed_lines("a\nb\nc\n", "a\nB\nc\n") == [2]


def _files(*units: Unit) -> list[FileOutcome]:
    return [FileOutcome("pkg/a.py", list(units))]


def _unit(scope: str, site: str | None = None, unsafe: bool = True) -> Unit:
    return Unit("pkg/a.py", f"TF008 in {scope}", unsafe, (scope,), site, code="TF008")


PATH = str(Path("pkg/a.py").resolve())


def test_a_fix_is_verified_only_by_a_check_that_ran_it():
    files = _files(
        _unit("Attention.__init__"),  # run by an equal model
        _unit("unit", site="passed"),  # its site check passed
        _unit("Other.forward"),  # nothing ran it
    )
    runs = [ModelRun("pkg.a:Attention", "equal", {PATH: ["Attention", "Attention.__init__"]})]
    judge(files, runs, skipped=["pkg.a:Other"])
    states = [(u.state, u.reason) for u in files[0].units]
    assert states == [
        (VERIFIED, "pkg.a:Attention ran Attention.__init__ and is equal"),
        (VERIFIED, "site check passed"),
        (UNVERIFIED, "no checked model ran Other.forward; not checked: pkg.a:Other"),
    ]
    assert files[0].state == UNVERIFIED
    assert counts(files)["fixes"] == {VERIFIED: 2, DIFFERS: 0, UNVERIFIED: 1}
    assert exit_code(files, allow_unverified=False) == EXIT_UNVERIFIED == 3
    assert exit_code(files, allow_unverified=True) == 0


def test_a_differing_model_blames_the_fixes_it_ran_and_a_failed_site_differs():
    files = _files(_unit("Attention.__init__"), _unit("unit", site="failed"))
    judge(files, [ModelRun("pkg.a:Net", "differs", {PATH: ["Attention.__init__"]})])
    assert [u.state for u in files[0].units] == [DIFFERS, DIFFERS]
    assert files[0].units[0].reason == "pkg.a:Net differs and runs Attention.__init__"
    assert exit_code(files, allow_unverified=True) == 1


def test_module_level_fixes_need_a_model_importing_the_file():
    files = _files(_unit("<module>"))
    judge(files, [ModelRun("pkg.b:Net", "equal", {}, imported=[])])
    assert files[0].units[0].state == UNVERIFIED
    judge(files, [ModelRun("pkg.b:Net", "equal", {}, imported=["pkg/a.py"])])
    assert files[0].units[0].state == VERIFIED
    assert exit_code(files, allow_unverified=False) == 0


def test_report_exit_codes_and_summary_states():
    verified = _files(_unit("unit", site="passed"))
    judge(verified, [])
    assert VerifyReport(files=verified).exit_code == 0
    unverified = _files(_unit("unit"))
    judge(unverified, [])
    report = VerifyReport(files=unverified)
    assert (report.status, report.exit_code) == (UNVERIFIED, 3)
    assert VerifyReport(files=unverified, allow_unverified=True).exit_code == 0
    assert VerifyReport(files=verified, withheld=["pkg/a.py: TF008 at line 3"]).exit_code == 3
    assert report.as_dict()["counts"]["files"] == {VERIFIED: 0, DIFFERS: 0, UNVERIFIED: 1}


# --- issue 15: the verifier's catch-alls -----------------------------------------------------


class Fine(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)


class Raises(nn.Module):
    def __init__(self):
        super().__init__()
        raise RuntimeError("user code is broken")


def _run_before(tmp_path: Path, cls: type) -> dict:
    lines: list[dict] = []
    side = models.Side(torch.device("cpu"), 0, tmp_path, Tolerance(), lines.append)
    target = f"{__name__}:{cls.__qualname__}"
    models.run_before([{"id": "c0", "name": target, "class": target, "auto": True}], side)
    (line,) = lines
    return line


def test_a_torchfix_bug_while_building_is_reported_as_a_bug_not_a_skip(tmp_path, monkeypatch):
    def broken(cls, entry):
        raise KeyError("torchfix internal")

    monkeypatch.setattr(models, "auto_recipes", broken)
    line = _run_before(tmp_path, Fine)
    assert line["status"] == "bug"
    assert "Traceback" in line["reason"] and "KeyError: 'torchfix internal'" in line["reason"]


def test_an_error_in_user_code_is_a_skip_naming_it(tmp_path):
    line = _run_before(tmp_path, Raises)
    assert line["status"] == "skipped"
    assert line["reason"] == "building Raises() raised RuntimeError: user code is broken"


def test_verify_lets_an_internal_value_error_through_but_reports_config_errors(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[tool.torchfix.verify]\ntimeout = -1\n")
    assert commands.run_verify([tmp_path]) == 2  # a configuration error: one line, exit 2

    (tmp_path / "pyproject.toml").write_text("[tool.torchfix]\n")

    def broken(*args, **kwargs):
        raise ValueError("an internal bug")

    monkeypatch.setattr(commands, "revision_sources", broken)
    with pytest.raises(ValueError, match="an internal bug"):
        commands.run_verify([tmp_path])


def test_verify_without_torch_says_in_one_line_to_install_the_extra(tmp_path, monkeypatch):
    """A `torch` that cannot be imported (shadowed on PYTHONPATH) stands in for a missing one."""
    fake = tmp_path / "shadow" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "shadow"))
    with pytest.raises(VerifyError) as error:
        call_worker({"task": "probe"}, CheckOptions(), tmp_path, tmp_path, "probe")
    message = str(error.value)
    assert message.startswith("verify needs torch, which ") and "\n" not in message
    assert message.endswith('install the verify extra there (pip install "torchfix-idioms[verify]")')


class Gain(nn.Module):
    """A zero-dimensional parameter (the Karras U-Net's gain): its gradient compares as it is."""

    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(0.5))

    def forward(self, x):
        return x * self.gain


def test_gradients_of_a_zero_dimensional_parameter_compare_equal():
    model, x = Gain(), torch.randn(3, 4)
    before = step(model, (x,), {}, Mode(), 0, torch.device("cpu"))["grads"]
    after = step(model, (x,), {}, Mode(), 0, torch.device("cpu"))["grads"]
    result = compare_gradients(before, after, Tolerance())
    assert result.equal and not result.problems
    assert before["parameters"]["gain"].dim() == 0
