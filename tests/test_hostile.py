"""Hostile input: whatever a tree holds, torchfix reports it in one line and goes on.

Each case puts one hostile file (or folder, or event) next to ``good.py``, which
has one safe fix, and asserts: the exact one-line ``path: reason`` message on
stderr, the exit code (2 when a file could not be read, parsed or written), no
traceback, the hostile file's bytes untouched unless a fix was due, and that
``good.py`` was still checked and fixed.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import torchfix.engine
import torchfix.runner
from conftest import NORMALIZE, NORMALIZED
from torchfix.sourcefile import TEMP_SUFFIX

GOOD_FINDING = "good.py:5:12: TF007 [*] Use F.normalize instead of dividing by the norm."
#: NORMALIZE's fix, as bytes: the old span, the new span, the added import line
OLD, NEW, IMPORT = "x / x.norm(dim=1, keepdim=True)", "F.normalize(x, dim=1)", "import torch.nn.functional as F"


def _write(folder: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)


def _fixed(raw: bytes, newline: bytes = b"\n") -> bytes:
    """NORMALIZE-like bytes with exactly the fix span and the import line changed."""
    with_import = raw.replace(b"import torch" + newline, b"import torch" + newline + IMPORT.encode() + newline, 1)
    return with_import.replace(OLD.encode(), NEW.encode())


def _no_traceback(*outputs: str) -> None:
    for output in outputs:
        assert "Traceback" not in output, output


def _stderr_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def _check_and_apply(cli, project: Path, errors: list[str], *flags: str, hostile: list[str] | None = None) -> None:
    """``check`` then ``apply``: exactly ``errors`` (regexes) on stderr, exit 2, good.py fixed, hostile files kept."""
    hostile = hostile if hostile is not None else [p for p in _all_files(project) if p.name != "good.py"]
    before = {path: path.read_bytes() for path in hostile}
    for command in ("check", "apply"):
        code, out, err = cli(project, command, *flags, ".")
        _no_traceback(out, err)
        lines = _stderr_lines(err)
        assert len(lines) == len(errors), err
        for line, pattern in zip(lines, errors):
            assert re.fullmatch(pattern, line), f"{line!r} does not match {pattern!r}"
        assert code == 2, (out, err)
        if command == "check":
            assert GOOD_FINDING in out
    assert (project / "good.py").read_text() == NORMALIZED
    for path, raw in before.items():
        assert path.read_bytes() == raw, f"{path.name} was changed"


def _all_files(project: Path) -> list[Path]:
    return sorted(p for p in project.rglob("*.py") if p.is_file() and not p.is_symlink())


def _subprocess(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "torchfix", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def good(project):
    (project / "good.py").write_text(NORMALIZE)
    return project


# -- unparsable and undecodable files ------------------------------------------------


def test_syntax_error(cli, good):
    _write(good, {
        # Python's own parser reports both, before any prefilter or LibCST parse:
        # plain code, and code with a rule's call in it
        "plain.py": "import torch\n\ndef f(:\n    pass\n",
        "tensor.py": "import torch\n\ny = x.norm(dim=1\nz = 2\n",
    })
    _check_and_apply(cli, good, [
        r"plain\.py: cannot parse: line 3:\d+: invalid syntax",
        r"tensor\.py: cannot parse: line 3:\d+: .*'\(' was never closed.*",
    ])


def test_python2_print_statement(cli, good):
    _write(good, {"py2.py": "import torch\nprint \"norm\", x.norm(dim=1)\n"})
    _check_and_apply(cli, good, [r"py2\.py: cannot parse: line 2:1: Missing parentheses in call to 'print'.*"])


def test_null_bytes(cli, good):
    _write(good, {"nul.py": b"import torch\nx = x.norm()\x00\n"})
    _check_and_apply(cli, good, [re.escape("nul.py: cannot decode: the file contains null bytes (binary?)")])


def test_invalid_utf8(cli, good):
    _write(good, {"bad.py": b"import torch\n# caf\xe9\ny = x / x.norm(dim=1, keepdim=True)\n"})
    _check_and_apply(cli, good, [re.escape("bad.py: cannot decode: invalid utf-8 at byte 18")])


def test_utf16_with_bom(cli, good):
    _write(good, {"wide.py": NORMALIZE.encode("utf-16")})
    _check_and_apply(cli, good, [re.escape("wide.py: cannot decode: UTF-16 and UTF-32 are not Python source encodings")])


def test_encoding_that_does_not_round_trip_is_not_written(cli, good):
    # unicode_escape decodes b"\\n" and b"\n" alike: writing back would rewrite the whole file.
    raw = ("# -*- coding: unicode_escape -*-\n" + NORMALIZE).encode()
    _write(good, {"escaped.py": raw})
    code, out, err = cli(good, "apply", ".")
    _no_traceback(out, err)
    assert _stderr_lines(err) == [
        "escaped.py: not written: re-encoding with unicode_escape would change bytes outside the fix"
    ]
    assert code == 2
    assert (good / "escaped.py").read_bytes() == raw
    assert (good / "good.py").read_text() == NORMALIZED


# -- files that are fine, however odd --------------------------------------------------


def _apply_clean(cli, project: Path) -> tuple[str, str]:
    code, out, err = cli(project, "apply", ".")
    _no_traceback(out, err)
    assert err == "" and code == 0, (out, err)
    assert (project / "good.py").read_text() == NORMALIZED
    return out, err


def test_latin1_with_coding_cookie(cli, good):
    raw = ("# -*- coding: latin-1 -*-\n# Autor: José Müller, © 2019\n" + NORMALIZE).encode("latin-1")
    _write(good, {"latin.py": raw})
    _apply_clean(cli, good)
    assert (good / "latin.py").read_bytes() == _fixed(raw)


def test_crlf_and_mixed_newlines(cli, good):
    crlf = NORMALIZE.replace("\n", "\r\n").encode()
    mixed = b"import torch\r\n\n# a comment\r\n\ndef embed(x):\n    return x / x.norm(dim=1, keepdim=True)\r\n# end\n"
    _write(good, {"crlf.py": crlf, "mixed.py": mixed})
    _apply_clean(cli, good)
    assert (good / "crlf.py").read_bytes() == _fixed(crlf, b"\r\n")
    assert (good / "mixed.py").read_bytes() == _fixed(mixed, b"\r\n")


def test_tabs_and_form_feeds(cli, good):
    raw = (
        b"import torch\n\x0c\n\n"
        b"class Embed:\n\tdef forward(self, x):\n\t\tif x is not None:\n"
        b"\t\t        return x / x.norm(dim=1, keepdim=True)\n\x0c\n# page two\n"
    )
    _write(good, {"tabs.py": raw})
    _apply_clean(cli, good)
    assert (good / "tabs.py").read_bytes() == _fixed(raw)


def test_whitespace_libcst_does_not_round_trip_is_kept_or_left_alone(cli, good):
    """A form feed right before a statement and a lone-CR last line: LibCST's output drops them.

    Whatever the engine does about it, those bytes must not vanish silently:
    the file ends either fully fixed with them kept, or untouched.
    """
    form_feed = NORMALIZE.replace("\ndef embed", "\n\x0cdef embed").encode()
    lone_cr = NORMALIZE.replace("\n", "\r").encode()
    _write(good, {"ff.py": form_feed, "cr.py": lone_cr})
    code, out, err = cli(good, "apply", ".")
    _no_traceback(out, err)
    assert (good / "ff.py").read_bytes() in (form_feed, _fixed(form_feed))
    assert (good / "cr.py").read_bytes() in (lone_cr, _fixed(lone_cr, b"\r"))
    assert (good / "good.py").read_text() == NORMALIZED
    for line in _stderr_lines(err):
        assert re.fullmatch(r"(ff|cr)\.py: .+", line), line


def test_file_over_the_size_limit(cli, good):
    (good / "pyproject.toml").write_text("[tool.torchfix]\nmax-file-size = 1000\n")
    big = NORMALIZE + "# padding\n" * 100
    _write(good, {"big.py": big})
    size = len(big.encode())
    _check_and_apply(cli, good, [re.escape(f"big.py: skipped: {size} bytes is over the 1000-byte limit (max-file-size)")])


def test_deeply_nested_expression(cli, good):
    _write(good, {
        # deeper than Python's parser allows
        "parens.py": "import torch\ny = " + "(" * 300 + "x.norm()" + ")" * 300 + "\n",
        # Python accepts it; LibCST's visitors run out of recursion (TF007's prefilter keeps it)
        "chain.py": "import torch\ny = x" + " + x / x.norm()" * 1500 + "\n",
    })
    _check_and_apply(cli, good, [
        r"chain\.py: cannot parse: the code is nested too deeply",
        r"parens\.py: cannot parse: line 2:\d+: too many nested parentheses",
    ])


def test_long_boolean_chain_does_not_crash_the_run(good):
    """Python accepts 10 000 chained ``and``s; LibCST's native parser overflows the C stack on them.

    Run in a subprocess: until the runner refuses such files, the process dies of SIGSEGV.
    """
    _write(good, {"chain.py": "import torch\ny = x / x.norm() > 0" + " and x" * 10_000 + "\n"})
    before = (good / "chain.py").read_bytes()
    result = _subprocess(good, "apply", "--no-cache", ".")
    _no_traceback(result.stdout, result.stderr)
    assert result.returncode == 2, result
    assert _stderr_lines(result.stderr) == ["chain.py: cannot parse: the code is nested too deeply"]
    assert (good / "chain.py").read_bytes() == before
    assert (good / "good.py").read_text() == NORMALIZED


def test_empty_file(cli, good):
    _write(good, {"__init__.py": b""})
    _apply_clean(cli, good)
    assert (good / "__init__.py").read_bytes() == b""


def test_file_of_only_comments(cli, good):
    comments = "# x / x.norm(dim=1, keepdim=True)\n# import torch\n#\n# torch.nn.Linear\n"
    _write(good, {"notes.py": comments, "no_newline.py": "# x.norm() only"})
    _apply_clean(cli, good)
    assert (good / "notes.py").read_text() == comments
    assert (good / "no_newline.py").read_text() == "# x.norm() only"


# -- the file system gets in the way -----------------------------------------------------


def test_read_only_file_during_apply(cli, good):
    _write(good, {"locked.py": NORMALIZE})
    os.chmod(good / "locked.py", 0o444)
    code, out, err = cli(good, "apply", ".")
    _no_traceback(out, err)
    assert _stderr_lines(err) == ["locked.py: not written: the file is read-only"]
    assert code == 2
    assert (good / "locked.py").read_text() == NORMALIZE
    assert (good / "good.py").read_text() == NORMALIZED


def test_folder_without_read_permission(cli, good, monkeypatch):
    _write(good, {"secret/model.py": NORMALIZE})
    secret = good / "secret"
    os.chmod(secret, 0)
    try:
        code, out, err = cli(good, "check", "--no-cache", ".")
        _no_traceback(out, err)
        if os.access(secret, os.R_OK | os.X_OK):
            # root: permission bits do not stop reads, so the folder is simply checked
            assert "secret/model.py:5:12: TF007" in out and err == ""
        else:
            assert _stderr_lines(err) == ["secret: cannot read: Permission denied"] and code == 2
        assert GOOD_FINDING in out
    finally:
        os.chmod(secret, 0o755)

    # The same refusal as the kernel gives a normal user, for root too.
    real_scandir = os.scandir

    def refuse(path=".", *args):
        if Path(os.fsdecode(path)).name == "secret":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))
        return real_scandir(path, *args)

    monkeypatch.setattr(os, "scandir", refuse)
    _check_and_apply(cli, good, [re.escape("secret: cannot read: Permission denied")], "--no-cache")


def test_symlink_loops_and_dangling_links(cli, good):
    (good / "pyproject.toml").write_text('[tool.torchfix]\nexclude = ["generated/"]\n')
    _write(good, {"pkg/model.py": NORMALIZE})
    os.symlink("..", good / "pkg" / "loop")  # a folder loop: never entered
    os.symlink("self.py", good / "self.py")  # a file loop
    os.symlink("missing.py", good / "dangling.py")
    code, out, err = cli(good, "check", ".")
    _no_traceback(out, err)
    assert _stderr_lines(err) == [
        "dangling.py: cannot read: No such file or directory",
        "self.py: cannot read: Too many levels of symbolic links",
    ]
    assert code == 2
    assert GOOD_FINDING in out and "pkg/model.py:5:12: TF007" in out
    assert out.count("TF007") == 2, "the loop made a file count twice"


def test_symlink_loop_named_with_force_exclude(cli, good):
    (good / "pyproject.toml").write_text('[tool.torchfix]\nexclude = ["generated/"]\n')
    os.symlink("self.py", good / "self.py")
    code, out, err = cli(good, "check", "--force-exclude", "self.py", "good.py")
    _no_traceback(out, err)
    assert _stderr_lines(err) == ["self.py: cannot read: Too many levels of symbolic links"]
    assert code == 2 and GOOD_FINDING in out


def test_fifo_named_like_a_source_file(good):
    """Opening a FIFO waits for a writer: the run must neither hang nor stop."""
    os.mkfifo(good / "pipe.py")
    os.mkfifo(good / ".gitignore")
    result = _subprocess(good, "check", ".", timeout=20)
    _no_traceback(result.stdout, result.stderr)
    assert _stderr_lines(result.stderr) == ["pipe.py: cannot read: not a regular file"]
    assert result.returncode == 2 and GOOD_FINDING in result.stdout


def test_file_deleted_during_the_run(cli, good, monkeypatch):
    _write(good, {"a_gone.py": NORMALIZE, "b_gone.py": NORMALIZE})
    real_discover, real_fix_text = torchfix.runner.discover, torchfix.engine.fix_text

    def discover_then_delete(*args, **kwargs):
        found = real_discover(*args, **kwargs)
        (good / "a_gone.py").unlink()  # gone before it is read
        return found

    def fix_then_delete(text, *args, **kwargs):
        outcome = real_fix_text(text, *args, **kwargs)
        if (good / "b_gone.py").exists():
            (good / "b_gone.py").unlink()  # gone between read and write
        return outcome

    monkeypatch.setattr(torchfix.runner, "discover", discover_then_delete)
    monkeypatch.setattr(torchfix.engine, "fix_text", fix_then_delete)
    code, out, err = cli(good, "apply", "--no-cache", "-j", "1", ".")
    _no_traceback(out, err)
    assert _stderr_lines(err) == [
        "a_gone.py: cannot read: No such file or directory",
        "b_gone.py: not written: No such file or directory",
    ]
    assert code == 2
    assert not (good / "a_gone.py").exists() and not (good / "b_gone.py").exists(), "a deleted file came back"
    assert (good / "good.py").read_text() == NORMALIZED


@pytest.mark.parametrize("failing", ["mkstemp", "write", "fsync", "chmod", "replace"])
def test_disk_full_or_failing_write(cli, good, monkeypatch, failing):
    import tempfile

    _write(good, {"a_full.py": NORMALIZE})
    calls = []

    def fail_once(real):
        def wrapper(*args, **kwargs):
            if not calls:  # only the first write (a_full.py, processed first with -j 1)
                calls.append(failing)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(*args, **kwargs)

        return wrapper

    if failing == "write":
        real_fdopen = os.fdopen

        class FullStream:
            def __init__(self, stream):
                self.stream = stream

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.stream.close()

            def __getattr__(self, name):
                return getattr(self.stream, name)

            write = property(lambda self: fail_once(self.stream.write))

        def fdopen(fd, mode="r", *args, **kwargs):
            stream = real_fdopen(fd, mode, *args, **kwargs)
            return FullStream(stream) if mode == "wb" else stream

        monkeypatch.setattr(os, "fdopen", fdopen)
    elif failing == "mkstemp":
        monkeypatch.setattr(tempfile, "mkstemp", fail_once(tempfile.mkstemp))
    else:
        monkeypatch.setattr(os, failing, fail_once(getattr(os, failing)))

    code, out, err = cli(good, "apply", "--no-cache", "-j", "1", ".")
    _no_traceback(out, err)
    assert calls == [failing]
    assert _stderr_lines(err) == ["a_full.py: not written: No space left on device"]
    assert code == 2
    assert (good / "a_full.py").read_text() == NORMALIZE
    assert sorted(p.name for p in good.iterdir() if p.is_file()) == ["a_full.py", "good.py", "pyproject.toml"]
    assert (good / "good.py").read_text() == NORMALIZED


def test_owner_is_kept(cli, good):
    target = good / "owned.py"
    _write(good, {"owned.py": NORMALIZE})
    if os.geteuid() == 0:
        os.chown(target, 4321, 4322)  # a root run in a container, on a user's checkout
    before = os.stat(target)
    _apply_clean(cli, good)
    after = os.stat(target)
    assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid)
    assert target.read_bytes() == _fixed(NORMALIZE.encode())


# -- interrupted and concurrent runs ---------------------------------------------------------


#: lines that make each file take a few milliseconds to check, so a run lasts long enough to interrupt
_BULK = "".join(f"w{i} = FILE * {i} + {i}\n" for i in range(200))


def _many(project: Path, count: int, bulk: str = "") -> dict[Path, tuple[bytes, bytes]]:
    """``count`` files with one fix each, plus ``bulk``: path -> (original bytes, fully fixed bytes)."""
    files = {}
    for index in range(count):
        path = project / f"pkg{index % 10}" / f"m{index:04d}.py"
        raw = (NORMALIZE + f"\n\nFILE = {index}\n" + bulk).encode()
        files[path] = (raw, _fixed(raw))
    _write(project, {str(path.relative_to(project)): raw for path, (raw, _) in files.items()})
    return files


def _assert_whole(project: Path, files: dict[Path, tuple[bytes, bytes]]) -> tuple[int, int]:
    """Every file is its original or its fully fixed bytes; no temporary file is left."""
    untouched = fixed = 0
    for path, (raw, done) in files.items():
        now = path.read_bytes()
        assert now in (raw, done), f"{path} is half-written: {now!r}"
        untouched += now == raw
        fixed += now == done
    assert list(project.rglob(f"*{TEMP_SUFFIX}")) == []
    return untouched, fixed


def _interrupted_apply(project: Path, files, jobs: str, sigint) -> subprocess.Popen:
    """``apply`` on ``files`` with SIGINT set to ``sigint`` at the start, Ctrl-C'd once a file is written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "torchfix", "apply", "--no-cache", "-j", jobs, "."],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group: Ctrl-C reaches the workers too
        # whatever this test run inherited (a background job ignores SIGINT)
        preexec_fn=lambda: signal.signal(signal.SIGINT, sigint),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if any(path.read_bytes() != raw for path, (raw, _) in files.items()):
            break
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGINT)
    return process


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigint_in_the_middle_of_apply(good, jobs):
    files = _many(good, 600, _BULK)
    process = _interrupted_apply(good, files, jobs, signal.SIG_DFL)
    out, err = process.communicate(timeout=120)
    _no_traceback(out, err)
    assert process.returncode == 130, (out, err)
    assert "torchfix: interrupted; every file is either untouched or fully written." in err
    untouched, fixed = _assert_whole(good, files)
    assert fixed > 0 and untouched > 0, "the run was not interrupted in the middle"


def test_ignored_sigint_is_ignored_by_the_workers_too(good):
    """Started with SIGINT ignored (a background job), the run completes: no silent partial run."""
    files = _many(good, 300, _BULK)
    process = _interrupted_apply(good, files, "2", signal.SIG_IGN)
    # the whole run must finish: a generous bound, since a loaded machine runs it slowly
    out, err = process.communicate(timeout=600)
    _no_traceback(out, err)
    assert process.returncode == 0, (out, err)
    assert _assert_whole(good, files) == (0, len(files))


def test_two_applies_on_the_same_tree_at_once(good):
    files = _many(good, 200)
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "torchfix", "apply", "-j", "1", "."],
            cwd=good, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]
    for run in runs:
        out, err = run.communicate(timeout=300)
        _no_traceback(out, err)
        # The slower run may find a file already rewritten under it: it says so and leaves it.
        for line in _stderr_lines(err):
            assert re.fullmatch(r"(good|pkg\d/m\d{4})\.py: not written: the file changed on disk since it was read", line)
        assert run.returncode in (0, 2), (out, err)
    untouched, fixed = _assert_whole(good, files)
    assert (untouched, fixed) == (0, len(files))
    for path, (_, done) in files.items():
        compile(done, str(path), "exec")
    assert (good / "good.py").read_text() == NORMALIZED


def test_check_and_apply_never_run_the_code(cli, good):
    """Reading code is all ``check`` and ``apply`` do: a module that acts on import stays inert."""
    act = "import pathlib\npathlib.Path(__file__).with_name('RAN').write_text(__name__)\n"
    _write(good, {name: act + NORMALIZE for name in ("evil.py", "__init__.py", "setup.py", "conftest.py")})
    for command in ("check", "apply"):
        code, out, err = cli(good, command, ".")
        _no_traceback(out, err)
        assert err == "" and code == (1 if command == "check" else 0)
    assert not (good / "RAN").exists()
    assert all(name not in sys.modules for name in ("evil", "setup"))
    assert (good / "evil.py").read_text() == act + NORMALIZED
