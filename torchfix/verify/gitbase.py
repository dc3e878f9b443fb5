"""The original sources of code already rewritten and committed: files as of a git revision."""

from __future__ import annotations

import io
import subprocess
import tokenize
from pathlib import Path
from typing import Sequence

from torchfix.verify.checks import VerifyError


def _git(args: Sequence[str], cwd: Path) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True)
    except FileNotFoundError:
        raise VerifyError("--base needs git, which is not installed") from None
    except subprocess.CalledProcessError as error:
        message = error.stderr.decode("utf-8", "replace").strip().splitlines()
        raise VerifyError(f"git {' '.join(args[:2])}: {message[-1] if message else 'failed'}") from None
    return done.stdout


def _decode(raw: bytes) -> str:
    encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    text = raw.decode(encoding)
    return text[1:] if text.startswith("\ufeff") else text


def revision_sources(paths: Sequence[Path], revision: str) -> dict[Path, str]:
    """Each Python file under ``paths`` that differs from ``revision``, with its text there.

    Files added since the revision have no original and are left out (both sides
    import them from disk).
    """
    start = paths[0] if paths else Path(".")
    folder = (start if start.is_dir() else start.parent).resolve()
    top = Path(_git(["rev-parse", "--show-toplevel"], folder).decode().strip())
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], top)
    except VerifyError:
        raise VerifyError(f"--base {revision}: not a commit of the repository at {top}") from None
    listed = _git(["diff", "--name-only", "-z", revision, "--", *(str(p.resolve()) for p in paths)], top)
    result: dict[Path, str] = {}
    for name in sorted(filter(None, listed.decode("utf-8", "surrogateescape").split("\0"))):
        path = top / name
        if not name.endswith(".py") or not path.is_file():
            continue
        try:
            raw = _git(["show", f"{revision}:{name}"], top)
        except VerifyError:
            continue  # added after the revision
        result[path] = _decode(raw)
    return result
