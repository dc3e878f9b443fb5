"""Reading and writing user files without ever losing or mangling one.

A file is decoded the way Python decodes it (PEP 263 cookie, UTF-8 BOM) and its
newlines are left alone (LibCST round-trips CRLF and mixed newlines). A write goes
to a temporary file in the same folder, takes the original's mode, and replaces
the original with ``os.replace`` only if the file on disk is still byte-for-byte
what was read: an interrupted or failing write leaves the original intact.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

#: files larger than this are skipped with a message (configurable: max-file-size)
DEFAULT_MAX_FILE_SIZE = 2 * 1024 * 1024


class SourceError(Exception):
    """A per-file problem, reported as one line; the run goes on."""


@dataclass(frozen=True)
class SourceFile:
    path: Path
    raw: bytes
    text: str
    encoding: str
    bom: bool
    mode: int

    def encode(self, text: str) -> bytes:
        data = text.encode(self.encoding)
        return codecs.BOM_UTF8 + data if self.bom else data


def read_source(path: Path, max_size: int = DEFAULT_MAX_FILE_SIZE) -> SourceFile:
    """Read and decode ``path``; raise SourceError with a one-line reason."""
    try:
        info = os.stat(path)
        if info.st_size > max_size:
            raise SourceError(f"skipped: {info.st_size} bytes is over the {max_size}-byte limit (max-file-size)")
        raw = Path(path).read_bytes()
    except OSError as error:
        raise SourceError(f"cannot read: {error.strerror or error}") from None
    if b"\x00" in raw:
        raise SourceError("cannot decode: the file contains null bytes (binary?)")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SourceError("cannot decode: UTF-16 is not a Python source encoding")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
        text = raw.decode(encoding)
    except (SyntaxError, LookupError) as error:
        raise SourceError(f"cannot decode: {error}") from None
    except UnicodeDecodeError as error:
        raise SourceError(f"cannot decode: invalid {error.encoding} at byte {error.start}") from None
    bom = encoding == "utf-8-sig"
    if bom:
        text = text[1:] if text.startswith("\ufeff") else text
        encoding = "utf-8"
    return SourceFile(Path(path), raw, text, encoding, bom, stat.S_IMODE(info.st_mode))


def write_source(source: SourceFile, text: str) -> None:
    """Atomically replace ``source.path`` with ``text`` in the file's own encoding."""
    target = Path(os.path.realpath(source.path))
    if not source.mode & stat.S_IWUSR:
        raise SourceError("not written: the file is read-only")
    try:
        data = source.encode(text)
    except UnicodeEncodeError:
        raise SourceError(f"not written: the fix is not representable in {source.encoding}") from None
    try:
        if target.read_bytes() != source.raw:
            raise SourceError("not written: the file changed on disk since it was read")
    except OSError as error:
        raise SourceError(f"not written: {error.strerror or error}") from None
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".torchfix-tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, source.mode)
        os.replace(temp, target)
    except BaseException as error:
        try:
            os.unlink(temp)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise SourceError(f"not written: {error.strerror or error}") from None
        raise
