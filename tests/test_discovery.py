"""File discovery: recursion, .gitignore, skipped folders, symlink loops, order."""

from __future__ import annotations

import os

from conftest import NORMALIZE
from torchfix.discovery import discover


def _names(project, found):
    return [p.relative_to(project).as_posix() for p in found.files]


def test_recursive_sorted_and_skips_tool_folders(project):
    for relative in ["b.py", "a/z.py", "a/b.py", ".venv/lib/x.py", "build/x.py", "pkg/__pycache__/x.py",
                     "env/pyvenv.cfg", "env/lib/y.py", "notes.txt", "pkg.egg-info/x.py"]:
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
    assert _names(project, discover([project])) == ["a/b.py", "a/z.py", "b.py"]


def test_gitignore_at_root_nested_and_negated(project):
    (project / ".git").mkdir()
    (project / ".gitignore").write_text("generated/\n*_pb2.py\n!keep_pb2.py\n")
    (project / "src").mkdir()
    (project / "src" / ".gitignore").write_text("local.py\n")
    for relative in ["generated/x.py", "src/msg_pb2.py", "src/keep_pb2.py", "src/local.py", "src/model.py"]:
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(NORMALIZE)
    assert _names(project, discover([project])) == ["src/keep_pb2.py", "src/model.py"]
    assert _names(project, discover([project / "src"])) == ["src/keep_pb2.py", "src/model.py"]


def test_symlink_loop_and_duplicate_links(project):
    (project / "pkg").mkdir()
    (project / "pkg" / "m.py").write_text(NORMALIZE)
    os.symlink(project, project / "pkg" / "loop")
    os.symlink(project / "pkg" / "m.py", project / "alias.py")
    found = discover([project])
    assert _names(project, found) == ["alias.py"] or _names(project, found) == ["pkg/m.py"]
    assert not found.errors


def test_missing_and_unreadable_paths_are_errors(project):
    found = discover([project / "nope.py"])
    assert found.files == [] and "no such file" in found.errors[0][1]
