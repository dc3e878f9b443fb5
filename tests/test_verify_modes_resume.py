"""``verify --resume-steps``: a checkpoint saved before a fused-Linear rewrite, optimizer state included.

The in-process tests use small modules; the acceptance test runs `torchfix verify`
on a git repository (two subprocesses per run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from torchfix.verify.worker import resume
from torchfix.verify.worker.compare import Tolerance
from torchfix.verify.worker.resume import map_optimizer_state, resume_before, resume_row

SEPARATE = '''\
import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim: int = 8):
        super().__init__()
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        q = self.to_q(x)
        k = self.to_k(x)
        v = self.to_v(x)
        return self.proj(torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v)
'''

#: TF008's rewrite, with its hook that loads checkpoints saved with the separate layers
FUSED = '''\
import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim: int = 8):
        super().__init__()
        self.to_qkv = nn.Linear(dim, 3 * dim)
        self.register_load_state_dict_pre_hook(self._load_unfused_qkv)
        self.proj = nn.Linear(dim, dim)

    @staticmethod
    def _load_unfused_qkv(module, state_dict, prefix, *args):
        for suffix in ("weight", "bias"):
            keys = [f"{prefix}{name}.{suffix}" for name in ("to_q", "to_k", "to_v")]
            if all(key in state_dict for key in keys):
                state_dict[f"{prefix}to_qkv.{suffix}"] = torch.cat([state_dict.pop(key) for key in keys])

    def forward(self, x):
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        return self.proj(torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v)
'''


def _classes() -> tuple[type, type]:
    separate: dict = {}
    fused: dict = {}
    exec(SEPARATE, separate)
    exec(FUSED, fused)
    return separate["Attention"], fused["Attention"]


def _pair() -> tuple[nn.Module, nn.Module]:
    separate, fused = _classes()
    torch.manual_seed(0)
    before = separate()
    after = fused()
    after.load_state_dict(before.state_dict())  # through TF008's hook
    return before, after


X = (torch.randn(4, 8),)


def test_the_optimizer_state_maps_through_the_fused_layer():
    before, after = _pair()
    saved = resume_before(before, X, {}, 3, 0, None)
    checkpoint = saved["checkpoint"]
    fresh = type(after)()
    fresh.load_state_dict(checkpoint["model"])
    optimizer = torch.optim.AdamW(fresh.parameters())
    state = map_optimizer_state(checkpoint, fresh, optimizer)
    parts = [checkpoint["optimizer"]["state"][i]["exp_avg"] for i in (0, 2, 4)]  # to_q, to_k, to_v weights
    assert torch.equal(state["state"][0]["exp_avg"], torch.cat(parts))
    assert float(state["state"][0]["step"]) == 3.0
    row = resume_row(after, saved, X, {}, 0, None, Tolerance())
    assert (row["mode"], row["status"]) == ("resume 3+3 steps", "equal"), row["problems"]


def test_resuming_without_the_mapped_state_differs(monkeypatch):
    """The comparison sees the optimizer state: a fresh AdamW state in place of the mapped one differs."""
    before, after = _pair()
    saved = resume_before(before, X, {}, 3, 0, None)
    monkeypatch.setattr(resume, "map_optimizer_state", lambda checkpoint, model, optimizer: optimizer.state_dict())
    row = resume_row(after, saved, X, {}, 0, None, Tolerance())
    assert row["status"] == "differs"
    assert any(problem.startswith("after resuming, to_qkv.weight") for problem in row["problems"]), row["problems"]


def _adafactor(model: nn.Module) -> torch.optim.Optimizer:
    """An ``optimizer = "pkg.mod:make_optimizer"`` factory: called with the model."""
    return torch.optim.Adafactor(model.parameters())


def test_factored_optimizer_state_does_not_map_into_a_fused_layer():
    """Adafactor keeps a weight's second moment as row and column factors: the parts' column
    factors cannot be concatenated into the fused weight's."""
    before, after = _pair()
    saved = resume_before(before, X, {}, 2, 0, _adafactor)
    row = resume_row(after, saved, X, {}, 0, _adafactor, Tolerance())
    assert row["status"] == "differs"
    assert row["problems"] == [
        "optimizer state does not map: state 'row_var' of to_q.weight + to_k.weight + to_v.weight "
        "does not concatenate into to_qkv.weight"
    ]


# --- acceptance: `torchfix verify --base HEAD --train --resume-steps 3` ----------------------


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=root, check=True, capture_output=True
    )


def _verify(root: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torchfix", "verify", "--base", "HEAD", "--train", "--resume-steps", "3"]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})


def test_verify_resumes_a_fused_rewrite_and_catches_swapped_chunks(tmp_path):
    (tmp_path / "net").mkdir()
    (tmp_path / "net/__init__.py").write_text("")
    (tmp_path / "net/attention.py").write_text(SEPARATE)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "original")
    (tmp_path / "net/attention.py").write_text(FUSED)

    fused = _verify(tmp_path)
    assert fused.returncode == 0, fused.stdout + fused.stderr
    assert "net.attention:Attention   train float32      equal" in fused.stdout
    assert "net.attention:Attention   resume 3+3 steps   equal" in fused.stdout

    swapped = FUSED.replace("q, k, v = self.to_qkv(x)", "k, q, v = self.to_qkv(x)")
    assert swapped != FUSED
    (tmp_path / "net/attention.py").write_text(swapped)
    broken = _verify(tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "net.attention:Attention   resume 3+3 steps   differs" in broken.stdout
    assert "resume 3+3 steps: loss[0]: 1 of 1 value(s) differ" in broken.stdout
