"""``python -m torchfix.verify.worker REQUEST.json RESULT.jsonl``: one batch of checks.

Tasks: ``probe`` (which device), ``before`` (the site checks, then the original
side of the module check), ``after`` (the rewritten side).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


NO_TORCH = (
    "verify needs torch, which {python} cannot import: install the verify extra there "
    '(pip install "torchfix-idioms[verify]")'
)


def _emitter(path: str):
    stream = open(path, "a", encoding="utf-8")

    def emit(line: dict) -> None:
        stream.write(json.dumps(line) + "\n")
        stream.flush()

    return emit


def available(torch) -> tuple[bool, bool]:
    """CUDA and MPS availability; the fake-devices variable stands in for torch's answer."""
    from torchfix.verify.device import FAKE_DEVICES_ENV

    fake = os.environ.get(FAKE_DEVICES_ENV)
    if fake is not None:
        names = {part.strip() for part in fake.split(",")}
        return "cuda" in names, "mps" in names
    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available(), bool(mps is not None and mps.is_available())


def deterministic(torch) -> None:
    """TF32 off and deterministic algorithms on: both sides compute in full precision.

    One intra-op thread: on a busy machine a parallel region waits for every
    thread to be scheduled, which made small models' timings vary a thousandfold.
    """
    torch.set_num_threads(1)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.set_float32_matmul_precision("highest")
    torch.use_deterministic_algorithms(True, warn_only=True)


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    emit = _emitter(argv[2])
    sys.dont_write_bytecode = True
    try:
        import torch
    except ImportError:
        emit({"error": NO_TORCH.format(python=sys.executable)})
        return 3

    from torchfix.verify.device import DeviceError, select_device

    cuda, mps = available(torch)
    try:
        device = select_device(request["device"], cuda, mps)
    except DeviceError as error:
        emit({"error": str(error)})
        return 3
    emit({"device": device, "torch": torch.__version__, "cuda": cuda, "mps": mps})
    if request["task"] == "probe":
        return 0
    deterministic(torch)
    from torchfix.verify.worker.compare import Tolerance

    tolerance = Tolerance(request.get("rtol"), request.get("atol"))
    seed = request.get("seed", 0)
    if request.get("sites"):
        from torchfix.verify.worker.sites import run_sites

        run_sites(request["sites"], torch.device(device), tolerance, seed, emit)
    from torchfix.verify import overlay
    from torchfix.verify.worker.models import Side, run_after, run_before

    sys.path.insert(0, request["root"])
    sys.argv = [request["root"]]  # never the worker's own arguments: a script's argparse would read them
    overlay.install(request["overlay"])
    from torchfix.verify.modes import parse_mode

    modes = tuple(parse_mode(name) for name in request.get("modes", ["eval float32"]))
    side = Side(
        torch.device(device),
        seed,
        Path(request["workdir"]),
        tolerance,
        emit,
        modes,
        request.get("resume_steps", 0),
        request.get("optimizer"),
        tuple(request.get("watch", ())),
        dict(request.get("examples", {})),
    )
    (run_before if request["task"] == "before" else run_after)(request["entries"], side)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
