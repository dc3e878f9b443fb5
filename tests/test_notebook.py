"""Jupyter notebooks: discovered, checked and fixed cell by cell, every other byte kept.

The two notebooks in tests/data/notebooks are written as public tutorials are:
``embeddings_tour.ipynb`` as Jupyter saves it (nbformat, one-space indent, sources
as lists of lines) with magics, a ``%%time`` and a ``%%bash`` cell, outputs with a
PNG, a cell with a syntax error and a suppression comment; ``colab_demo.ipynb`` as
Colab and VS Code save it (two-space indent, unsorted keys, single-string sources,
``\\u`` escapes).
"""

from __future__ import annotations

import difflib
import json
import shutil
import subprocess

import nbformat
import pytest
from conftest import NORMALIZE, ROOT

from torchfix.notebook import Notebook, mask

NOTEBOOKS = ROOT / "tests" / "data" / "notebooks"


@pytest.fixture
def notebooks(project):
    for path in NOTEBOOKS.glob("*.ipynb"):
        shutil.copy(path, project / path.name)
    return project


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source_lines(cell) -> set[str]:
    source = cell["source"]
    return {source} if isinstance(source, str) else set(source)


def test_apply_changes_only_the_code_of_fixed_cells(cli, notebooks):
    before = {p.name: p.read_text(encoding="utf-8") for p in notebooks.glob("*.ipynb")}
    code, out, err = cli(notebooks, "apply", ".")
    assert code == 2  # the tutorial's broken cell is reported; the other cells are fixed
    assert "embeddings_tour.ipynb: cell 9: cannot parse: line 2:12" in err
    assert "Fixed 4 findings in 2 files; 1 file could not be fixed." in out
    for name, original in before.items():
        path = notebooks / name
        fixed = path.read_text(encoding="utf-8")
        nbformat.validate(nbformat.reads(fixed, as_version=4))
        old_cells, new_cells = json.loads(original)["cells"], _cells(path)
        changed = [i for i, (a, b) in enumerate(zip(old_cells, new_cells)) if a != b]
        assert changed and len(old_cells) == len(new_cells)
        for i, (old, new) in enumerate(zip(old_cells, new_cells)):
            assert {**old, "source": None} == {**new, "source": None}
            if i not in changed:
                assert old == new
        # byte level: every line that differs is a string of a changed cell's source
        allowed = set()
        for i in changed:
            allowed |= _source_lines(old_cells[i]) | _source_lines(new_cells[i])
        matcher = difflib.SequenceMatcher(None, original.splitlines(), fixed.splitlines(), autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                continue
            for line in original.splitlines()[i1:i2] + fixed.splitlines()[j1:j2]:
                value = line.strip().removeprefix('"source": ').rstrip(",")
                assert json.loads(value) in allowed
    tour = _cells(notebooks / "embeddings_tour.ipynb")
    assert "import torch.nn.functional as F\n" in tour[2]["source"]  # the imports cell
    assert tour[4]["source"][1] == "emb = F.normalize(x, dim=1)  # unit rows\n"
    assert tour[5]["source"] == ["%%time\n", "sims = emb @ emb.T\n", "normed = F.normalize(sims, dim=-1)"]
    colab = _cells(notebooks / "colab_demo.ipynb")
    assert colab[1]["source"].endswith('feats = F.normalize(feats, dim=-1)\nprint("caf\u00e9")')
    assert "caf\\u00e9" in (notebooks / "colab_demo.ipynb").read_text()  # the file's escapes kept
    assert cli(notebooks, "apply", ".")[1].count("Fixed 0 findings") == 1  # idempotent


def test_magics_and_foreign_cell_magics_are_left_alone(cli, notebooks):
    original = _cells(notebooks / "embeddings_tour.ipynb")
    cli(notebooks, "apply", ".")
    tour = _cells(notebooks / "embeddings_tour.ipynb")
    for index in (1, 6, 10):  # !pip/%matplotlib; `x = !ls`, an indented %time, `obj?`; %%bash
        assert tour[index]["source"] == original[index]["source"]
    assert "    %time y = emb / emb.norm(dim=1, keepdim=True)\n" in tour[6]["source"]


def test_check_reports_cells_and_suppressions(cli, notebooks):
    code, out, err = cli(notebooks, "check", ".")
    assert code == 2
    assert "colab_demo.ipynb:cell 2:3:9: TF007 [*]" in out
    assert "embeddings_tour.ipynb:cell 5:2:7: TF007" in out
    assert "embeddings_tour.ipynb:cell 6:3:10: TF007" in out
    assert "embeddings_tour.ipynb:cell 10:3:8: TF007" in out
    assert "cell 10:2:" not in out  # `# torchfix: ignore[TF007]` in the cell
    assert "Found 4 findings in 2 files" in out
    assert err.count("cell 9: cannot parse") == 1


def _raw_line(path, line):
    return path.read_text(encoding="utf-8").splitlines()[line - 1]


def test_github_and_sarif_point_into_the_notebook_file(cli, notebooks):
    _, out, _ = cli(notebooks, "check", "--format", "github", ".")
    lines = [line for line in out.splitlines() if "cell 5:2:7" in line]
    assert len(lines) == 1
    fields = dict(part.split("=", 1) for part in lines[0].split("::")[1].split(" ", 1)[1].split(","))
    raw = _raw_line(notebooks / "embeddings_tour.ipynb", int(fields["line"]))
    assert raw[int(fields["col"]) - 1 : int(fields["endColumn"]) - 1] == "x / x.norm(dim=1, keepdim=True)"
    assert "::error file=embeddings_tour.ipynb,title=torchfix::cell 9: cannot parse" in out

    _, out, _ = cli(notebooks, "check", "--format", "sarif", ".")
    run = json.loads(out)["runs"][0]
    assert not run["invocations"][0]["executionSuccessful"]
    for result in run["results"]:
        location = result["locations"][0]["physicalLocation"]
        region = location["region"]
        raw = _raw_line(notebooks / location["artifactLocation"]["uri"], region["startLine"])
        assert "norm(dim=" in raw[region["startColumn"] - 1 : region["endColumn"] - 1]
        assert result["properties"]["notebookCell"]["cell"] >= 2
        assert result["fixes"]  # replacements in the JSON text
    _, out, _ = cli(notebooks, "check", "--format", "json", ".")
    cells = {(f["path"], f["cell"], f["line"]) for f in json.loads(out) if "error" not in f}
    assert ("colab_demo.ipynb", 2, 3) in cells


def test_dry_run_shows_cell_diffs_and_writes_nothing(cli, notebooks):
    before = (notebooks / "colab_demo.ipynb").read_bytes()
    code, out, _ = cli(notebooks, "apply", "--dry-run", "colab_demo.ipynb")
    assert code == 1
    assert "--- a/colab_demo.ipynb:cell 2" in out
    assert "+feats = F.normalize(feats, dim=-1)" in out
    assert (notebooks / "colab_demo.ipynb").read_bytes() == before


def test_python_files_and_notebooks_together_and_a_broken_notebook(cli, project):
    (project / "model.py").write_text(NORMALIZE)
    (project / "half.ipynb").write_text('{"cells": [')
    markdown_only = {"cells": [{"cell_type": "markdown", "source": "# Hi"}]}
    (project / "markdown_only.ipynb").write_text(json.dumps(markdown_only))
    code, out, err = cli(project, "check", ".")
    assert code == 2
    assert "model.py:5:12: TF007" in out
    assert "half.ipynb: cannot read notebook" in err
    assert "markdown_only" not in out + err


@pytest.mark.parametrize(
    "cell",
    [
        "!pip install torch \\\n    torchvision\nx = 1\n",
        "out = !nvidia-smi\nrows, cols = %sx wc -l\n",
        "torch.nn.Linear?\n??torch.cdist\n",
        "%%timeit -n 10\nfor _ in range(3):\n    y = 1\n",
        "if True:\n    %load_ext autoreload\n",
    ],
)
def test_masked_cells_parse_and_restore_byte_for_byte(cell):
    masked = mask(cell, [0])
    assert masked is not None and masked.originals
    compile(masked.text, "<cell>", "exec")
    notebook = Notebook.read(json.dumps({"cells": [{"cell_type": "code", "source": cell}]}))
    assert notebook.split(notebook.module) == {0: cell}


def test_a_string_that_looks_like_a_magic_is_code():
    cell = 'doc = """\n%(name)s\n!important\n"""\n'
    assert mask(cell, [0]).originals == {}
    assert mask("%%writefile model.py\nx / x.norm()\n", [0]) is None


def test_verify_leaves_notebooks_out(notebooks):
    from torchfix.config import load_settings
    from torchfix.discovery import discover
    from torchfix.notebook import skipped_notebooks_note

    assert discover([notebooks]).files == [] and discover([notebooks / "colab_demo.ipynb"]).files == []
    note = skipped_notebooks_note([notebooks], load_settings([notebooks]))
    assert note == "torchfix: 2 notebooks skipped: verification imports Python modules, not .ipynb files"


@pytest.mark.parametrize("command", [("verify", "--base", "HEAD", "."), ("apply", "--verify", ".")])
def test_verify_commands_say_that_they_skip_notebooks(cli, notebooks, command):
    """Nothing to verify but notebooks: the run says it left them out and changes none of them."""
    pytest.importorskip("torch")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "notebooks"]):
        subprocess.run([*git, *args], cwd=notebooks, check=True)
    before = {path.name: path.read_bytes() for path in notebooks.glob("*.ipynb")}
    code, out, err = cli(notebooks, *command)
    assert "torchfix: 2 notebooks skipped: verification imports Python modules, not .ipynb files" in err
    assert code == 0, (out, err)
    assert {path.name: path.read_bytes() for path in notebooks.glob("*.ipynb")} == before
