"""A rule that raises is a torchfix bug on that file, never the end of the run.

The crash is one line naming the rule, the file and the exception; the other
rules still report on that file, the other files are processed, and the exit
code is 2 (an error, not "findings"). A crashing rule is injected into TF002's
``visit_Call`` (every file here has calls), raising only on a call to ``explode``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import libcst as cst
import pytest
from conftest import NORMALIZE, NORMALIZED, ROOT

from torchfix.config import Settings
from torchfix.crashes import RuleCrashed
from torchfix.engine import RunOptions, check_text, fix_text
from torchfix.prefilter import MATCHERS
from torchfix.rules import all_rules
from torchfix.rules.tf002_device_at_creation import DeviceAtCreation
from torchfix.runner import Job, Mode, run

#: TF007 reports line 5; the call to explode() makes the injected TF002 crash (the last
#: line is there so that TF002's prefilter keeps the file, and TF002 runs on it)
CRASHING = NORMALIZE + "\n\nexplode()\ny = torch.zeros(3).to(device)\n"
_INJECTION = """
import libcst as cst
from torchfix.rules.tf002_device_at_creation import DeviceAtCreation

_original = DeviceAtCreation.visit_Call


def visit_Call(self, node):
    if isinstance(node.func, cst.Name) and node.func.value == "explode":
        raise AttributeError("injected crash")
    return _original(self, node)


DeviceAtCreation.visit_Call = visit_Call
"""


@pytest.fixture
def crashing_tf002(monkeypatch):
    namespace: dict = {}
    exec(_INJECTION, namespace)
    monkeypatch.setattr(DeviceAtCreation, "visit_Call", namespace["visit_Call"])


def _files(project, crashing=("a.py",), clean=("b.py", "c.py")):
    for name in crashing:
        (project / name).write_text(CRASHING)
    for name in clean:
        (project / name).write_text(NORMALIZE)


def _bug_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "torchfix bug" in line]


def test_check_reports_the_crash_and_everything_else_in_process(cli, project, crashing_tf002):
    _files(project)
    code, out, err = cli(project, "check", "--no-cache", "--jobs", "1", ".")
    assert code == 2
    [bug] = _bug_lines(err)
    assert bug.startswith("a.py: torchfix bug") and "rule TF002 raised AttributeError: injected crash (at " in bug
    reported = sorted(line.split(":")[0] for line in out.splitlines() if "TF007" in line)
    assert reported == ["a.py", "b.py", "c.py"], "the other rules still report on the crashing file"


def test_apply_leaves_the_crashing_file_and_fixes_the_others_in_process(cli, project, crashing_tf002):
    _files(project)
    code, _, err = cli(project, "apply", "--no-cache", "--jobs", "1", ".")
    assert code == 2
    assert len(_bug_lines(err)) == 1 and "rule TF002 raised AttributeError" in err
    assert (project / "a.py").read_text() == CRASHING
    assert (project / "b.py").read_text() == NORMALIZED == (project / "c.py").read_text()


def test_a_crash_in_a_worker_process_is_reported_the_same_way(project):
    """The pool: the injection is loaded by every process (sitecustomize), whatever the start method."""
    _files(project, crashing=("a.py", "d.py"), clean=("b.py", "c.py", "e.py"))
    inject = project / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(textwrap.dedent(_INJECTION))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(inject), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-m", "torchfix", "check", "--no-cache", "--jobs", "2", "."],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2, result.stderr
    bugs = _bug_lines(result.stderr)
    assert [line.split(":")[0] for line in bugs] == ["a.py", "d.py"], result.stderr
    assert all("rule TF002 raised AttributeError: injected crash" in line for line in bugs)
    assert "Traceback" not in result.stderr
    reported = sorted(line.split(":")[0] for line in result.stdout.splitlines() if "TF007" in line)
    assert reported == ["a.py", "b.py", "c.py", "d.py", "e.py"]


def test_the_engine_drops_only_the_crashing_rule(crashing_tf002):
    with pytest.raises(RuleCrashed) as raised:
        check_text(CRASHING, RunOptions(all_rules()))
    assert [f.code for f in raised.value.findings] == ["TF007"]
    [crash] = raised.value.crashes
    assert crash.code == "TF002" and crash.error == "AttributeError: injected crash"
    outcome = fix_text(CRASHING, RunOptions(all_rules()))
    assert outcome.text == CRASHING and not outcome.applied
    assert [f.code for f in outcome.findings] == ["TF007"] and [c.code for c in outcome.crashes] == ["TF002"]
    assert outcome.bug == str(crash)


def test_a_crash_in_a_later_pass_leaves_the_text_unchanged(monkeypatch):
    """Once TF007's fix is written, the second pass's text makes TF002 raise: nothing is written."""
    original = DeviceAtCreation.visit_Call

    def visit_call(self, node):
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "normalize":
            raise KeyError("second pass")
        return original(self, node)

    monkeypatch.setattr(DeviceAtCreation, "visit_Call", visit_call)
    outcome = fix_text(NORMALIZE, RunOptions(all_rules()))
    assert outcome.text == NORMALIZE and not outcome.applied
    assert outcome.bug is not None and outcome.bug.startswith("rule TF002 raised KeyError: 'second pass'")


def test_a_rule_that_cannot_be_built_is_a_crash(monkeypatch):
    def broken_init(self, context):
        raise ValueError("no context")

    monkeypatch.setattr(DeviceAtCreation, "__init__", broken_init)
    with pytest.raises(RuleCrashed) as raised:
        check_text(NORMALIZE, RunOptions(all_rules()))
    assert [f.code for f in raised.value.findings] == ["TF007"]
    assert str(raised.value).startswith("rule TF002 raised ValueError: no context")


def test_a_crash_in_a_rules_prefilter_names_the_rule_and_the_run_goes_on(project, monkeypatch):
    """The prefilter runs before the engine; the runner reports its crash per file."""

    def may_match(facts):
        raise RuntimeError("prefilter bug")

    monkeypatch.setitem(MATCHERS, "TF007", may_match)
    (project / "b.py").write_text(NORMALIZE)
    (project / "c.py").write_text("import torch\n")
    reports = run([project], Job(Mode.CHECK, Settings(root=project), jobs=1))
    assert [(r.path.rsplit("/", 1)[-1], r.bug and r.bug.split(" (at ")[0]) for r in reports] == [
        ("b.py", "rule TF007 raised RuntimeError: prefilter bug"),
        ("c.py", "rule TF007 raised RuntimeError: prefilter bug"),
    ]


def test_any_other_exception_is_a_bug_line_for_that_file_only(project, monkeypatch):
    import torchfix.engine as engine

    def broken_check(text, *rest):
        if "explode" in text:
            raise TypeError("engine bug")
        return check_text(text, *rest)

    monkeypatch.setattr(engine, "check_text", broken_check)
    _files(project, crashing=("a.py",), clean=("b.py",))
    reports = {r.path.rsplit("/", 1)[-1]: r for r in run([project], Job(Mode.CHECK, Settings(root=project), jobs=1))}
    assert reports["a.py"].bug is not None and reports["a.py"].bug.startswith("TypeError: engine bug (at ")
    assert reports["b.py"].bug is None and [f.code for f in reports["b.py"].findings] == ["TF007"]


@pytest.mark.parametrize("first", ["check", "apply"])
def test_the_cache_never_hides_a_crash(cli, project, crashing_tf002, first):
    _files(project)
    assert cli(project, first, "--jobs", "1", ".")[0] == 2
    for _ in range(2):
        code, _, err = cli(project, "check", "--jobs", "1", ".")
        assert code == 2 and len(_bug_lines(err)) == 1, "a file a rule crashed on is never served from the cache"


def test_a_crash_after_the_last_pass_leaves_the_text_unchanged():
    """The findings left after MAX_PASSES come from one more analysis, which a rule may crash."""
    from test_engine import Increment

    class CrashAtTen(Increment):
        CODE = "TX5"

        def visit_Integer(self, node: cst.Integer) -> None:
            if node.value == "10":
                raise ZeroDivisionError("ten")

    outcome = fix_text("x = 0\n", RunOptions((Increment, CrashAtTen)))
    assert outcome.text == "x = 0\n" and outcome.applied == []
    assert outcome.bug is not None and outcome.bug.startswith("rule TX5 raised ZeroDivisionError: ten")


def test_what_a_rule_reported_before_it_crashed_is_dropped():
    """Its state is unknown once it raised: a half-analysed file must not look clean or fixed."""
    from test_engine import Increment, _Test

    class ReportsThenCrashes(_Test):
        CODE = "TX6"

        def visit_Name(self, node: cst.Name) -> None:
            if node.value == "b":
                raise IndexError("b")
            self.report(node, "seen")

    with pytest.raises(RuleCrashed) as raised:
        check_text("y = a + b + 1\n", RunOptions((ReportsThenCrashes, Increment)))
    assert [f.code for f in raised.value.findings] == ["TX3"]
