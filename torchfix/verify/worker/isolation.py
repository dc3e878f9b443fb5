"""What user code sees in the worker, and how its failures read.

Each model is imported and run with its own ``sys.argv`` (the module's file
only: a script's argparse never sees the worker's arguments), the project root
as the current folder, and a time limit. An error from user code becomes a
message the user can act on: a missing third-party package names the package
and where to install it; CUDA-only code on a machine without CUDA says so.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

#: one model's import, build, forward and backward may take this long (seconds)
MODEL_TIME_LIMIT = 60.0
_CUDA_MARKERS = ("Torch not compiled with CUDA", "NVIDIA driver", "CUDA driver", "no CUDA GPUs", "CUDA error")


class TimeLimit(BaseException):
    """Raised inside user code when its time is up (a BaseException: ``except Exception`` in
    the user's code does not swallow it)."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` (main thread only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def expire(signum, frame):
        raise TimeLimit()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def own_argv(path: str | None) -> Iterator[None]:
    """``sys.argv`` is the module's file alone while the block runs."""
    saved = sys.argv
    sys.argv = [path or "torchfix-verify"]
    try:
        yield
    finally:
        sys.argv = saved


def explain(error: BaseException, root: Path) -> str | None:
    """A message for a user-code error that says what to do, or None to quote the error."""
    if isinstance(error, ModuleNotFoundError) and error.name:
        top = error.name.split(".")[0]
        if not ((root / top).is_dir() or (root / f"{top}.py").is_file()):
            return (
                f"needs the third-party module `{error.name}`, which is not installed: install it "
                f"(e.g. `pip install {top}`) in the environment torchfix runs in ({sys.executable})"
            )
    text = str(error)
    if isinstance(error, (RuntimeError, AssertionError, AttributeError)) and any(m in text for m in _CUDA_MARKERS):
        return "needs CUDA, which this machine does not have: run `torchfix verify --device cuda` on a GPU machine"
    return None
