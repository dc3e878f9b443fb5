"""Reading and writing user files without ever losing or mangling one.

A file is decoded the way Python decodes it (PEP 263 cookie, UTF-8 BOM) and its
newlines are left alone (LibCST round-trips CRLF and mixed newlines). A write goes
to a temporary file in the same folder, takes the original's mode and owner, and
replaces the original with ``os.replace`` only if the file on disk is still
byte-for-byte what was read: an interrupted or failing write leaves the original
intact, and Ctrl-C or SIGTERM is held until the write is done or undone.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import os
import signal
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

#: files larger than this are skipped with a message (configurable: max-file-size)
DEFAULT_MAX_FILE_SIZE = 2 * 1024 * 1024

#: the suffix of the temporary file a write goes through
TEMP_SUFFIX = ".torchfix-tmp"

#: signals that must not land between creating the temporary file and removing it
_HELD_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, name)
)


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
        raw, mode = _read_regular_file(path, max_size)
    except OSError as error:
        raise SourceError(f"cannot read: {error.strerror or error}") from None
    return decode_source(path, raw, mode)


def decode_source(path: Path, raw: bytes, mode: int = 0) -> SourceFile:
    """Decode ``raw`` as Python decodes a file (``mode`` 0: never written, as for stdin)."""
    # UTF-16 and UTF-32 text is full of null bytes: name the encoding, not the symptom.
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SourceError("cannot decode: UTF-16 and UTF-32 are not Python source encodings")
    if b"\x00" in raw:
        raise SourceError("cannot decode: the file contains null bytes (binary?)")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
        # utf-8-sig drops exactly one BOM; a second one stays in the text, as in Python.
        text = raw.decode(encoding)
    except (SyntaxError, LookupError) as error:
        raise SourceError(f"cannot decode: {error}") from None
    except UnicodeDecodeError as error:
        raise SourceError(f"cannot decode: invalid {error.encoding} at byte {error.start}") from None
    except UnicodeError as error:
        # codecs such as "undefined" or "punycode" raise the base class
        raise SourceError(f"cannot decode: {error}") from None
    bom = encoding == "utf-8-sig"
    return SourceFile(Path(path), raw, text, "utf-8" if bom else encoding, bom, mode)


def _read_regular_file(path: Path, max_size: int) -> tuple[bytes, int]:
    """The bytes and permission bits of a regular file of at most ``max_size`` bytes."""
    # O_NONBLOCK: opening a FIFO named *.py must not wait forever for a writer.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    with os.fdopen(os.open(path, flags), "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SourceError("cannot read: not a regular file")
        size = info.st_size
        if size <= max_size:
            raw = stream.read(max_size + 1)
            size = len(raw)  # it may have grown since fstat
    if size > max_size:
        raise SourceError(f"skipped: {size} bytes is over the {max_size}-byte limit (max-file-size)")
    return raw, stat.S_IMODE(info.st_mode)


def write_source(source: SourceFile, text: str) -> None:
    """Atomically replace ``source.path`` with ``text`` in the file's own encoding."""
    target = Path(os.path.realpath(source.path))
    if not source.mode & stat.S_IWUSR:
        raise SourceError("not written: the file is read-only")
    # Codecs like unicode_escape or utf-7 decode several byte strings to one text:
    # re-encoding would rewrite bytes far from the fix.
    if source.encode(source.text) != source.raw:
        raise SourceError(f"not written: re-encoding with {source.encoding} would change bytes outside the fix")
    try:
        data = source.encode(text)
    except UnicodeEncodeError:
        raise SourceError(f"not written: the fix is not representable in {source.encoding}") from None
    try:
        with _signals_held():
            _replace(target, source, data)
    except OSError as error:
        raise SourceError(f"not written: {error.strerror or error}") from None


def _replace(target: Path, source: SourceFile, data: bytes) -> None:
    if target.read_bytes() != source.raw:
        raise SourceError("not written: the file changed on disk since it was read")
    owner = os.stat(target)
    # The name is cut so that the temporary name stays under the file system's limit.
    handle, temp = tempfile.mkstemp(prefix=f".{target.name[:100]}.", suffix=TEMP_SUFFIX, dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        _keep_owner(temp, owner)
        os.chmod(temp, source.mode)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _keep_owner(temp: str, owner: os.stat_result) -> None:
    """Give the new file the old one's owner (a root run in a container must not take files over)."""
    current = os.stat(temp)
    if (current.st_uid, current.st_gid) != (owner.st_uid, owner.st_gid) and hasattr(os, "chown"):
        with contextlib.suppress(OSError):  # only root may give a file away; then the old rule stands
            os.chown(temp, owner.st_uid, owner.st_gid)


@contextlib.contextmanager
def _signals_held():
    """Block Ctrl-C and termination signals in this thread; they arrive when the block ends.

    Without this a KeyboardInterrupt could land after the temporary file is created
    but before the ``try`` that removes it, and SIGTERM would skip the clean-up.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
