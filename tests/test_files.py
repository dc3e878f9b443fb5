"""Writes keep everything outside the changed span byte for byte, and never clobber."""

from __future__ import annotations

import codecs
import os
import stat

import pytest

from conftest import NORMALIZE
from torchfix.config import Settings
from torchfix.runner import Job, Mode, process_file
from torchfix.sourcefile import SourceError, read_source, write_source

OLD = b"x / x.norm(dim=1, keepdim=True)"
NEW = b"F.normalize(x, dim=1)"
IMPORT = b"import torch.nn.functional as F"


def _apply(path):
    return process_file(path, Job(Mode.APPLY, Settings(root=path.parent)))


def _expected(raw: bytes, newline: bytes) -> bytes:
    """The original bytes with exactly the fix's span and its import line changed."""
    return raw.replace(OLD, NEW).replace(b"import torch" + newline, b"import torch" + newline + IMPORT + newline, 1)


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
def test_newlines_survive(tmp_path, newline):
    raw = NORMALIZE.encode().replace(b"\n", newline)
    path = tmp_path / "m.py"
    path.write_bytes(raw)
    assert _apply(path).changed
    assert path.read_bytes() == _expected(raw, newline)


def test_mixed_newlines_survive_outside_the_span(tmp_path):
    raw = b"import torch\r\n\n\ndef embed(x):\r\n    return x / x.norm(dim=1, keepdim=True)\n# end\r\n"
    path = tmp_path / "m.py"
    path.write_bytes(raw)
    _apply(path)
    assert path.read_bytes() == _expected(raw, b"\r\n")


def test_bom_survives(tmp_path):
    raw = codecs.BOM_UTF8 + NORMALIZE.encode()
    path = tmp_path / "m.py"
    path.write_bytes(raw)
    _apply(path)
    assert path.read_bytes() == _expected(raw, b"\n")
    assert path.read_bytes().startswith(codecs.BOM_UTF8)


def test_latin1_coding_cookie_survives(tmp_path):
    raw = ("# -*- coding: latin-1 -*-\n# Autor: José Müller\n" + NORMALIZE).encode("latin-1")
    path = tmp_path / "m.py"
    path.write_bytes(raw)
    _apply(path)
    assert path.read_bytes() == _expected(raw, b"\n")
    assert "José".encode("latin-1") in path.read_bytes()


def test_file_mode_survives(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(NORMALIZE)
    os.chmod(path, 0o751)
    _apply(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o751
    assert NEW in path.read_bytes()


def test_file_changed_between_read_and_write_is_not_overwritten(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(NORMALIZE)
    source = read_source(path)
    path.write_text(NORMALIZE + "# edited by the user meanwhile\n")
    with pytest.raises(SourceError, match="changed on disk"):
        write_source(source, "replacement\n")
    assert path.read_text().endswith("# edited by the user meanwhile\n")
    assert [p.name for p in tmp_path.iterdir()] == ["m.py"]


def test_read_only_file_is_reported_not_written(tmp_path):
    path = tmp_path / "m.py"
    path.write_text(NORMALIZE)
    os.chmod(path, 0o444)
    report = _apply(path)
    assert report.error == "not written: the file is read-only"
    assert path.read_text() == NORMALIZE


def test_symlinked_file_is_written_through_the_link(tmp_path):
    real = tmp_path / "real.py"
    real.write_text(NORMALIZE)
    link = tmp_path / "link.py"
    link.symlink_to(real)
    _apply(link)
    assert link.is_symlink()
    assert NEW in real.read_bytes()
