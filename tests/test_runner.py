"""The runner: prefilter, cache, parallel workers, and deterministic output."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import libcst as cst
import pytest

from conftest import CLEAN, CORPUS, NORMALIZE, ROOT
import torchfix.engine as engine
import torchfix.runner as runner
from torchfix.cache import CACHE_DIR
from torchfix.config import Settings
from torchfix.rules import rule_by_key
from torchfix.runner import Job, Mode, run


@pytest.fixture
def parses(monkeypatch):
    """Counts LibCST parses and Python syntax checks made in this process."""
    calls = []
    for module, name in ((engine, "check_text"), (engine, "fix_text"), (runner, "python_tree")):
        original = getattr(module, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    return calls


def _tree(project, count=6):
    for i in range(count):
        (project / f"m{i}.py").write_text(NORMALIZE if i % 2 else CLEAN.replace("x * 2", f"x * {i}"))
    return project


def _job(project, mode=Mode.CHECK, cache=True, jobs=1):
    return Job(mode, Settings(root=project), cache_root=project if cache else None, jobs=jobs)


def test_prefilter_skips_parsing_files_no_rule_can_match(project, parses):
    (project / "plain.py").write_text("def add(a, b):\n    return a + b\n")
    [report] = run([project], _job(project, cache=False))
    assert report.findings == [] and report.error is None
    assert parses == ["python_tree"]


def test_warm_run_parses_nothing_and_agrees(project, parses):
    _tree(project)
    cold = run([project], _job(project))
    assert "check_text" in parses
    assert (project / CACHE_DIR / ".gitignore").read_text().strip().endswith("*")
    parses.clear()
    warm = run([project], _job(project))
    assert parses == []
    assert [(r.path, r.findings, r.error) for r in warm] == [(r.path, r.findings, r.error) for r in cold]


def test_cache_misses_on_changed_file_and_settings(project, parses):
    _tree(project, 2)
    run([project], _job(project))
    (project / "m0.py").write_text(NORMALIZE + "# edited\n")
    parses.clear()
    reports = run([project], _job(project))
    assert parses.count("check_text") == 1 and all(r.findings for r in reports)
    parses.clear()
    job = Job(Mode.CHECK, Settings(root=project, ignore=("TF007",)), cache_root=project, jobs=1)
    assert [r.findings for r in run([project], job)] == [[], []]
    assert parses.count("python_tree") == 2, "new settings miss the cache for both files"


def test_apply_fills_the_cache_for_the_next_check(project, parses):
    _tree(project, 2)
    run([project], _job(project, Mode.APPLY))
    parses.clear()
    assert [r.findings for r in run([project], _job(project))] == [[], []]
    assert parses == []


def test_dry_run_and_no_cache_write_no_cache(project):
    _tree(project, 2)
    run([project], _job(project, Mode.DIFF))
    run([project], _job(project, cache=False))
    assert not (project / CACHE_DIR).exists()


def test_clean_removes_the_cache(cli, project):
    _tree(project, 2)
    assert cli(project, "check", ".")[0] == 1
    assert (project / CACHE_DIR).is_dir()
    code, out, _ = cli(project, "clean")
    assert code == 0 and "Removed" in out and not (project / CACHE_DIR).exists()


def test_corrupt_cache_is_ignored(project):
    _tree(project, 2)
    run([project], _job(project))
    (project / CACHE_DIR / "findings-v1.json").write_text("{not json")
    assert [bool(r.findings) for r in run([project], _job(project))] == [False, True]


def test_workers_give_the_same_reports_as_one_process(project):
    _tree(project, 40)
    (project / "broken.py").write_text("def f(:\n")
    single = run([project], _job(project, cache=False, jobs=1))
    pooled = run([project], _job(project, Mode.DIFF, cache=False, jobs=2))
    assert [r.path for r in single] == [r.path for r in pooled]
    assert [r.error for r in single] == [r.error for r in pooled]
    assert sum(len(r.fixed) for r in pooled) == 20


@pytest.mark.parametrize("args", [["--jobs", "1", "--no-cache"], ["--jobs", "2", "--no-cache"], ["--jobs", "2"]])
def test_output_is_deterministic_across_hash_seeds_and_workers(tmp_path, args):
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-m", "torchfix", "check", "--format", "json", *args, str(CORPUS)],
            capture_output=True, text=True, env=env, cwd=tmp_path,
        )
        assert result.returncode == 1, result.stderr  # the corpus has findings
        outputs.add(result.stdout)
    assert len(outputs) == 1
    reference = subprocess.run(
        [sys.executable, "-m", "torchfix", "check", "--format", "json", "--jobs", "1", "--no-cache", str(CORPUS)],
        capture_output=True, text=True, cwd=ROOT,
    ).stdout
    assert outputs == {reference}


def test_cyclic_gc_is_paused_per_file_and_restored(project, monkeypatch):
    """The collector would re-scan every LibCST tree while it is built; it runs once per file instead."""
    (project / "m.py").write_text(NORMALIZE)
    seen = []
    original = engine.check_text

    def check(*args, **kwargs):
        seen.append(gc.isenabled())
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "check_text", check)
    [report] = run([project], _job(project, cache=False))
    assert report.findings and seen == [False] and gc.isenabled()


def test_no_tree_outlives_its_file(project):
    """A worker holds one file's trees at a time: nothing a rule builds keeps one alive."""
    for rule in ("TF003", "TF008"):
        (project / f"{rule}.py").write_text(rule_by_key(rule).EXAMPLES[0].before)

    def trees() -> int:
        gc.collect()
        return sum(1 for item in gc.get_objects() if type(item) is cst.Module)

    before = trees()
    reports = run([project], _job(project, cache=False))
    assert all(report.findings for report in reports) and trees() == before
