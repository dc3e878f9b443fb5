"""Recording: the repository's own calls say how its classes are built and what they are fed.

The worker runs the repository's example code (Python code blocks of its
README, and the ``if __name__ == "__main__":`` blocks of its modules) with each
changed class's ``__init__`` and ``forward`` wrapped. The first instance of a
class whose constructor arguments can be saved (no module instances among them)
and whose ``forward`` is then called gives a recipe: those arguments and those
inputs. Submodules count: an ``Attention`` built inside a ``ViT`` of the README
is recorded with the arguments and inputs it really received.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import os
import re
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from torchfix.verify.worker.common import qualified
from torchfix.verify.worker.isolation import TimeLimit, own_argv, time_limit

#: one example snippet may run this long (seconds), and all of them together
SNIPPET_TIME_LIMIT = 20.0
RECORDING_BUDGET = 60.0
_FENCE = re.compile(r"^```(?:python|py)\s*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _has_module(value: Any, depth: int = 0) -> bool:
    if isinstance(value, nn.Module):
        return True
    if depth > 4:
        return False
    if isinstance(value, (list, tuple, set)):
        return any(_has_module(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_has_module(v, depth + 1) for v in value.values())
    return False


def _detached(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    return copy.deepcopy(value)


class Recorder:
    """Wraps the changed classes; keeps, per class, one saved constructor call and its inputs."""

    def __init__(self, classes: list[type]) -> None:
        self.classes = classes
        self.pending: dict[int, tuple[type, tuple, dict]] = {}
        self.found: dict[str, tuple[tuple, dict, tuple, dict]] = {}
        self.source = ""
        self._saved: list[tuple[type, str, Any]] = []

    def _wrap_init(self, cls: type, original: Callable) -> Callable:
        def __init__(module, *args, **kwargs):
            if type(module) is cls and qualified(cls) not in self.found and not _has_module((args, kwargs)):
                try:
                    self.pending[id(module)] = (cls, _detached(args), _detached(kwargs))
                except Exception:  # user objects that cannot be copied: not recordable
                    pass
            original(module, *args, **kwargs)

        return __init__

    def _wrap_forward(self, cls: type, original: Callable) -> Callable:
        def forward(module, *args, **kwargs):
            made = self.pending.pop(id(module), None)
            if made is not None and qualified(cls) not in self.found:
                try:
                    inputs = (_detached(args), _detached(kwargs))
                    self.found[qualified(cls)] = (made[1], made[2], *inputs, self.source)
                except Exception:  # inputs that cannot be copied: not recordable
                    pass
            return original(module, *args, **kwargs)

        return forward

    def __enter__(self) -> "Recorder":
        for cls in self.classes:
            for name, wrap in (("__init__", self._wrap_init), ("forward", self._wrap_forward)):
                self._saved.append((cls, name, cls.__dict__.get(name)))
                setattr(cls, name, wrap(cls, getattr(cls, name)))
        return self

    def __exit__(self, *exc) -> None:
        for cls, name, original in reversed(self._saved):
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)
        self._saved.clear()


def snippets(root: Path, modules: dict[str, str]) -> list[tuple[str, str, str | None]]:
    """(label, code, module file for ``sys.argv``) of every example the repository carries:
    README code blocks, then ``if __name__ == "__main__":`` blocks (run in their module)."""
    found = []
    for readme in sorted(root.glob("README*.md")):
        text = readme.read_text(encoding="utf-8", errors="replace")
        for index, match in enumerate(_FENCE.finditer(text), 1):
            found.append((f"{readme.name} code block {index}", match.group(1), None))
    for name, path in sorted(modules.items()):
        try:
            tree = ast.parse(Path(path).read_text(encoding="utf-8", errors="replace"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
                body = "\n".join(ast.unparse(statement) for statement in node.body)
                found.append((f"{Path(path).relative_to(root).as_posix()} __main__ block", f"from {name} import *\n{body}", path))
    return found


def record(recorder: Recorder, root: Path, modules: dict[str, str]) -> None:
    """Run the snippets under ``recorder`` until every class is recorded or the budget is spent
    (each with its own argv and time limit; output discarded)."""
    deadline = time.monotonic() + RECORDING_BUDGET
    for label, code, path in snippets(root, modules):
        left = deadline - time.monotonic()
        if len(recorder.found) == len(recorder.classes) or left <= 0:
            return
        recorder.source = label
        namespace = {"__name__": "__main__", "__file__": path or str(root / "README.md")}
        sink = io.StringIO()
        try:
            with own_argv(path), time_limit(min(SNIPPET_TIME_LIMIT, left)), contextlib.redirect_stdout(sink), \
                    contextlib.redirect_stderr(sink), torch.no_grad():
                exec(compile(code, label, "exec"), namespace)
        except (Exception, TimeLimit, SystemExit):  # the example's own failure: what ran is recorded
            pass
        finally:
            os.chdir(root)


def save(found: tuple, path: Path) -> None:
    torch.save(found[:4], path)
