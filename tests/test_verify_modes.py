"""verify's modes (train, dtype, autocast, TF32), calibrated tolerances and honest speedups.

Most tests run the worker's functions in-process on small models; the git
acceptance test runs the `torchfix verify` command (two subprocesses each time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from torchfix.verify.config import parse_verify_config
from torchfix.verify.modes import DEFAULT_MODES, Mode, ModeRow, Timing, flag_mode, parse_mode, speedup_text
from torchfix.verify.worker.compare import Tolerance
from torchfix.verify.worker.train import mode_row, run_mode, run_modes

CPU = torch.device("cpu")


# --- naming and configuring modes ------------------------------------------------------------


def test_modes_parse_from_names_flags_and_config():
    assert [mode.name for mode in DEFAULT_MODES] == ["eval float32", "train float32", "eval bfloat16"]
    mode = parse_mode("train float16 autocast=bfloat16 tf32")
    assert mode == Mode(train=True, dtype="float16", autocast="bfloat16", tf32=True)
    assert parse_mode(mode.name) == mode
    assert flag_mode(False, None, None, False) is None
    assert flag_mode(True, "bfloat16", None, False) == Mode(train=True, dtype="bfloat16")
    assert flag_mode(False, None, "float16", True).name == "eval float32 autocast=float16 tf32"
    config = parse_verify_config({"modes": ["eval float32", "train bfloat16", "eval float32"]})
    assert [mode.name for mode in config.modes] == ["eval float32", "train bfloat16"]
    assert parse_verify_config({}).modes == DEFAULT_MODES


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: parse_mode("train float64"), "unknown word 'float64'"),
        (lambda: parse_mode("eval autocast=float32"), "autocast must be one of bfloat16, float16"),
        (lambda: flag_mode(False, "int8", None, False), "--dtype must be one of float32, bfloat16, float16"),
        (lambda: parse_verify_config({"modes": []}), "`modes` must be a non-empty list"),
        (lambda: parse_verify_config({"modes": ["eval", 3]}), "`modes`[1] must be a string"),
    ],
)
def test_mode_errors_name_the_problem(call, message):
    with pytest.raises(ValueError, match=None) as error:
        call()
    assert message in str(error.value)


def test_reduced_precision_modes_loosen_the_tolerance_to_their_precision():
    assert Mode().precision is None
    assert Mode(dtype="bfloat16").precision == "bfloat16"
    assert Mode(autocast="float16").precision == "float16"
    assert Mode(tf32=True).precision == "float16"  # TF32 keeps float16's mantissa


# --- speedups only where the ranges do not overlap ---------------------------------------------


def test_speedup_only_when_the_ranges_do_not_overlap():
    slow = Timing(median_ms=9.0, low_ms=8.5, high_ms=12.0, repeats=10)
    fast = Timing(median_ms=3.0, low_ms=2.9, high_ms=3.4, repeats=10)
    noisy = Timing(median_ms=4.0, low_ms=2.0, high_ms=9.0, repeats=10)
    assert speedup_text(slow, fast) == "3.00x"
    assert speedup_text(fast, slow) == "0.33x"
    assert speedup_text(slow, noisy) == "~1x"  # 2.25x by the medians, but the ranges overlap
    assert speedup_text(None, fast) == "-"
    row = ModeRow("eval float32", "equal", before=slow, after=noisy)
    assert row.speedup is None and row.as_dict()["speedup_text"] == "~1x"


# --- calibrated tolerances: a deliberately nondeterministic op --------------------------------


class ShuffledSum(nn.Module):
    """Sums large cancelling terms in a fresh random order each call (like atomics on a GPU):
    the result's rounding changes from run to run, far beyond float32's default tolerance."""

    def __init__(self, offset: float = 0.0):
        super().__init__()
        self.proj = nn.Linear(256, 256)
        self.offset = offset

    def forward(self, x):
        y = self.proj(x)
        terms = torch.cat([y * 1e4, -(y * 1e4), y], dim=1)
        order = torch.randperm(terms.shape[1], generator=torch.Generator().manual_seed(int.from_bytes(os.urandom(4))))
        return terms[:, order].sum(dim=1) + self.offset


def _shuffled(offset: float = 0.0) -> nn.Module:
    torch.manual_seed(0)
    return ShuffledSum(offset)


def test_the_noise_floor_accepts_nondeterminism_and_still_catches_a_real_change():
    x = torch.randn(64, 256)
    before = run_mode(_shuffled(), (x,), {}, Mode(), 0, CPU)
    after = run_mode(_shuffled(), (x,), {}, Mode(), 0, CPU)
    floor = max(before["floor"].values())
    assert floor > 1e-3  # far above float32's atol of 1e-5
    same = mode_row(Mode(), before, after, Tolerance())
    assert same["status"] == "equal", same["problems"]
    assert same["floor"] >= floor and same["max_abs"] > 1e-5
    # without the floor, the noise alone would differ
    uncalibrated = mode_row(Mode(), {**before, "floor": {}}, {**after, "floor": {}}, Tolerance())
    assert uncalibrated["status"] == "differs"
    shifted = mode_row(Mode(), before, run_mode(_shuffled(50 * floor), (x,), {}, Mode(), 0, CPU), Tolerance())
    assert shifted["status"] == "differs"
    assert "noise floor" in shifted["problems"][0]


# --- train mode: buffers after one step ---------------------------------------------------------


class Normed(nn.Module):
    def __init__(self, momentum: float = 0.1):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.bn = nn.BatchNorm1d(8, momentum=momentum)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.bn(self.fc(x)))


def _rows(before: nn.Module, after: nn.Module, modes) -> dict[str, dict]:
    x = torch.randn(16, 8)
    after.load_state_dict(before.state_dict())
    saved = run_modes(before, (x,), {}, modes, 0, CPU)
    current = run_modes(after, (x,), {}, modes, 0, CPU)
    return {mode.name: mode_row(mode, saved[mode.name], current[mode.name], Tolerance()) for mode in modes}


def test_train_mode_compares_buffers_after_the_step_with_the_same_dropout():
    modes = (Mode(), Mode(train=True))
    torch.manual_seed(0)
    rows = _rows(Normed(), Normed(), modes)
    assert [row["status"] for row in rows.values()] == ["equal", "equal"]
    assert rows["train float32"]["before"]["repeats"] >= 10
    rows = _rows(Normed(), Normed(momentum=0.2), modes)
    assert rows["eval float32"]["status"] == "equal"  # eval mode cannot see the momentum
    assert rows["train float32"]["status"] == "differs"
    assert rows["train float32"]["problems"][0].startswith("buffer bn.running_mean: ")


# --- reduced precision: a float constant that became a buffer ----------------------------------


class Scaled(nn.Module):
    def __init__(self, as_buffer: bool = False):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        scale = torch.linspace(0.5, 1.5, 8)
        if as_buffer:
            self.register_buffer("scale", scale, persistent=False)
        else:
            self.scale = scale

    def forward(self, x):
        return self.proj(x) * self.scale


def test_a_buffer_follows_the_cast_and_changes_the_output_dtype():
    modes = (Mode(), Mode(dtype="bfloat16"), Mode(autocast="bfloat16"))
    torch.manual_seed(0)
    rows = _rows(Scaled(), Scaled(as_buffer=True), modes)
    assert rows["eval float32"]["status"] == "equal"
    assert rows["eval float32 autocast=bfloat16"]["status"] == "equal"
    assert rows["eval bfloat16"]["status"] == "differs"
    assert rows["eval bfloat16"]["problems"][0] == "out: dtype torch.bfloat16 instead of torch.float32"
    assert rows["eval bfloat16"]["max_abs"] > 0  # the values are still compared, for the report


# --- acceptance: `torchfix verify --base HEAD` on a TF003 rewrite, text and JSON ---------------

SCALED = '''\
import torch
from torch import nn


class Scaled(nn.Module):
    def __init__(self, dim: int = 8):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.scale = torch.linspace(0.5, 1.5, dim)

    def forward(self, x):
        return self.proj(x) * self.scale
'''


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=root, check=True, capture_output=True
    )


def _verify(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    command = [sys.executable, "-m", "torchfix", "verify", "--base", "HEAD", *args]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, env=env)


def test_verify_base_catches_the_dtype_change_only_in_bfloat16(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/__init__.py").write_text("")
    (tmp_path / "pkg/scaled.py").write_text(SCALED)
    (tmp_path / "pyproject.toml").write_text('[tool.torchfix.verify]\nmodes = ["eval float32"]\n')
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "original")
    rewritten = SCALED.replace(
        "self.scale = torch.linspace(0.5, 1.5, dim)",
        'self.register_buffer("scale", torch.linspace(0.5, 1.5, dim), persistent=False)',
    )
    assert rewritten != SCALED
    (tmp_path / "pkg/scaled.py").write_text(rewritten)

    plain = _verify(tmp_path)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "pkg.scaled:Scaled   eval float32   equal" in plain.stdout

    cast = _verify(tmp_path, "--dtype", "bfloat16", "--format", "json")
    assert cast.returncode == 1, cast.stdout + cast.stderr
    report = json.loads(cast.stdout)
    (model,) = report["rounds"][0]["models"]
    (row,) = model["modes"]
    assert (model["status"], row["mode"], row["status"]) == ("differs", "eval bfloat16", "differs")
    assert row["problems"][0] == "out: dtype torch.bfloat16 instead of torch.float32"
    assert row["before"]["repeats"] >= 10 and row["after"]["peak_bytes"] > 0
    assert model["reason"].startswith("eval bfloat16: out: dtype torch.bfloat16 instead of torch.float32")
    assert (tmp_path / "pkg/scaled.py").read_text() == rewritten  # verify writes nothing
