"""Does `torchfix verify` invent speedups? Two runs, printed for the README (no assertions).

1. The bundled corpus, committed to a scratch git repository, rewritten with
   ``apply --unsafe-fixes`` and verified with ``verify --base HEAD`` in the default
   modes: no rewrite there changes speed, so every row should say "~1x".
2. A rewrite that really is faster on CPU: pairwise distances of large inputs by a
   broadcast difference, replaced by ``torch.cdist`` (TF005's fix, here with the
   direct rather than the matrix-product algorithm, which rounds differently).

    python benchmarks/verify_speed.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BROADCAST = textwrap.dedent(
    """\
    import torch
    from torch import nn


    class Distances(nn.Module):
        def __init__(self, dim: int = 64):
            super().__init__()
            self.embed = nn.Linear(dim, dim)

        def forward(self, x, y):
            x = self.embed(x)  # queries only: embedding both sides would leave the bias no gradient but noise
            return (x[:, None, :] - y[None, :, :]).pow(2).sum(-1).sqrt()


    def make_distances():
        # float64: float32 gradients summed over a million pairs round apart beyond its 1e-5
        return Distances().double()


    def distance_inputs():
        return torch.randn(1024, 64, dtype=torch.float64), torch.randn(1024, 64, dtype=torch.float64)
    """
)

CDIST = BROADCAST.replace(
    "(x[:, None, :] - y[None, :, :]).pow(2).sum(-1).sqrt()",
    'torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")',
)


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "220"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)


def _git(root: Path, *args: str) -> None:
    _run(["git", "-c", "user.email=b@example.com", "-c", "user.name=b", *args], root).check_returncode()


def _commit(root: Path) -> None:
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "original")


def _torchfix(*args: str, cwd: Path) -> str:
    done = _run([sys.executable, "-m", "torchfix", *args], cwd)
    return f"$ torchfix {' '.join(args)}   (exit {done.returncode})\n{done.stdout}{done.stderr}"


def corpus(scratch: Path) -> str:
    tree = scratch / "corpus"
    shutil.copytree(ROOT / "corpus", tree, ignore=shutil.ignore_patterns("__pycache__"))
    _commit(tree)
    _run([sys.executable, "-m", "torchfix", "apply", "--unsafe-fixes", "."], tree).check_returncode()
    return _torchfix("verify", "--base", "HEAD", cwd=tree)


def cdist(scratch: Path) -> str:
    tree = scratch / "distances"
    (tree / "pairs").mkdir(parents=True)
    (tree / "pairs/__init__.py").write_text("")
    (tree / "pairs/model.py").write_text(BROADCAST)
    (tree / "pyproject.toml").write_text(
        '[tool.torchfix.verify]\nmodels = [{ factory = "pairs.model:make_distances", '
        'inputs = "pairs.model:distance_inputs" }]\nmodes = ["eval float32", "train float32"]\n'
    )
    _commit(tree)
    (tree / "pairs/model.py").write_text(CDIST)
    return _torchfix("verify", "--base", "HEAD", cwd=tree)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build the scratch repositories here and keep them")
    options = parser.parse_args()
    scratch = options.keep or Path(tempfile.mkdtemp(prefix="torchfix-verify-speed-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        print(corpus(scratch))
        print(cdist(scratch))
    finally:
        if options.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
