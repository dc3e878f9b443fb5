"""The runner builds each project's index once per run, from what its prefilter already read.

TF003 and TF008 read the rest of the project (``torchfix.package_index``). A run
reads each file once: the prefilter's walk gives the file's package facts too,
files that need the index wait until every file was read, and a file the run does
not check is read only for the index (or taken from the facts cache, keyed on its
size and time). These tests count the reads and check that the findings are the
same whichever way the index was built.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import write_tree
import torchfix.engine as engine
import torchfix.package_index as package_index
from torchfix.config import Settings
from torchfix.runner import Job, Mode, process_file, run

ATTENTION = '''\
import torch
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.to_q = nn.Linear(width, width)
        self.to_k = nn.Linear(width, width)
        self.to_v = nn.Linear(width, width)

    def forward(self, tokens):
        q, k, v = self.to_q(tokens), self.to_k(tokens), self.to_v(tokens)
        return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
'''
#: an unrelated module of the same project
UTILS = "def clamp(value, low, high):\n    return max(low, min(value, high))\n"
#: evidence that the old layer names are read elsewhere (a LoRA target list)
LORA = 'TARGETS = ["to_q", "to_v"]\n'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    return write_tree(tmp_path, {"net/__init__.py": "", "net/attention.py": ATTENTION, "net/utils.py": UTILS})


@pytest.fixture
def reads(monkeypatch) -> dict[str, int]:
    """How often the index read a file itself, and how often LibCST checked one (this process)."""
    counts = {"index read": 0, "checked": 0}

    def counting(name, original):
        def counted(*args, **kwargs):
            counts[name] += 1
            return original(*args, **kwargs)

        return counted

    monkeypatch.setattr(package_index, "facts_of_file", counting("index read", package_index.facts_of_file))
    monkeypatch.setattr(engine, "check_text", counting("checked", engine.check_text))
    return counts


def _job(root: Path, cache: bool = False, jobs: int = 1) -> Job:
    settings = Settings(root=root, select=("TF008",), unsafe_fixes=True)
    return Job(Mode.CHECK, settings, cache_root=root if cache else None, jobs=jobs)


def _fixable(reports) -> list[bool]:
    return [finding.fixable for report in reports for finding in report.findings]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_run_reads_each_file_once_and_agrees_with_a_file_checked_alone(project, reads, jobs):
    assert _fixable(run([project], _job(project, jobs=jobs))) == [True]
    assert reads["index read"] == 0, "the index took every file's facts from the run's own reads"
    (project / "net/lora.py").write_text(LORA)
    assert _fixable(run([project], _job(project, jobs=jobs))) == [False]
    package_index.forget()
    alone = process_file(project / "net/attention.py", _job(project))
    assert [f.fixable for f in alone.findings] == [False]


def test_files_outside_the_run_are_read_for_the_index(project, reads):
    (project / "net/lora.py").write_text(LORA)
    assert _fixable(run([project / "net/attention.py"], _job(project))) == [False]
    assert reads["index read"] == 3, "__init__.py, utils.py and lora.py; attention.py came from the run"


def test_warm_and_partial_runs_take_facts_from_the_cache(project, reads):
    run([project], _job(project, cache=True))
    reads.update({"index read": 0, "checked": 0})
    assert _fixable(run([project], _job(project, cache=True))) == [True]
    assert reads == {"index read": 0, "checked": 0}, "a warm run reads and checks nothing"
    (project / "net/attention.py").write_text(ATTENTION + "\n# edited\n")
    assert _fixable(run([project / "net/attention.py"], _job(project, cache=True))) == [True]
    assert reads == {"index read": 0, "checked": 1}, "the other files' facts came from the facts cache"


def test_an_unrelated_edit_keeps_the_cached_findings_and_evidence_does_not(project, reads):
    run([project], _job(project, cache=True))
    reads["checked"] = 0
    (project / "net/utils.py").write_text(UTILS + "\n\ndef lerp(a, b, t):\n    return a + (b - a) * t\n")
    assert _fixable(run([project], _job(project, cache=True))) == [True]
    assert reads["checked"] == 0, "the evidence about SelfAttention did not change"
    (project / "net/utils.py").write_text(UTILS + LORA)
    assert _fixable(run([project], _job(project, cache=True))) == [False]
    assert reads["checked"] == 1


@pytest.mark.parametrize(
    "stored",
    [
        "not json",
        '{"digest": "old", "projects": {".": {}}}',
        '{"digest": "%s", "projects": {".": {"net/lora.py": [1, 2], "net/utils.py": [0, 0, {"bogus": 1}]}}}',
        '{"digest": "%s", "projects": []}',
    ],
    ids=["garbage", "other-torchfix", "bad-entries", "bad-shape"],
)
def test_a_damaged_facts_cache_is_read_around(project, stored):
    from torchfix.cache import CACHE_DIR, package_digest

    run([project], _job(project, cache=True))
    (project / "net/lora.py").write_text(LORA)
    facts_file = project / CACHE_DIR / "facts-v1.json"
    facts_file.write_text(stored.replace("%s", package_digest()))
    assert _fixable(run([project], _job(project, cache=True))) == [False]


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """The files the runner parsed with Python's ``ast``, in order (this process)."""
    import torchfix.runner as runner

    parsed: list[str] = []

    def counted(text, path):
        parsed.append(Path(path).name)
        return original(text, path)

    original = runner.python_tree
    monkeypatch.setattr(runner, "python_tree", counted)
    return parsed


def test_the_second_round_trusts_the_first_rounds_prefilter_for_unchanged_bytes(project, parses):
    assert _fixable(run([project], _job(project))) == [True]
    assert sorted(parses) == ["__init__.py", "attention.py", "utils.py"], "attention.py was parsed once"


def test_a_file_changed_between_the_rounds_is_prefiltered_again(project, parses, monkeypatch):
    import torchfix.runner as runner

    index_projects = runner._index_projects

    def edit_then_index(*args):  # the user saves attention.py while the index is built
        (project / "net/attention.py").write_text(ATTENTION.replace("self.to_k(tokens)", "self.to_k(tokens + 1)"))
        return index_projects(*args)

    monkeypatch.setattr(runner, "_index_projects", edit_then_index)
    reports = run([project], _job(project))
    assert parses.count("attention.py") == 2
    assert _fixable(reports) == [True] and "into one `self.to_qv`" in reports[1].findings[0].message
