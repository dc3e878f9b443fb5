"""Timing one side's step honestly: warm-up, at least ten repeats, median and range, peak memory.

A single timing says nothing on a shared machine; the report compares ranges
(:func:`torchfix.verify.modes.speedup`). On CUDA each repeat is timed with events
after a synchronisation; elsewhere with ``perf_counter``. Peak memory is
``max_memory_allocated`` on CUDA and the process's peak resident set elsewhere
(reset before timing where Linux allows it, so an earlier, larger model does not
count).
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch

from torchfix.verify.modes import Timing

WARMUP = 2
MIN_REPEATS = 10
MAX_REPEATS = 50
#: seconds of repeats beyond the minimum
TIME_BUDGET = 0.1

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        _CLEAR_REFS.write_text("5")  # resets VmHWM, the peak resident set
    except OSError:
        pass


def _peak(device: torch.device) -> int | None:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _once(step: Callable[[], object], device: torch.device) -> float:
    """One call's milliseconds: CUDA events between synchronisations, else the wall clock."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        _sync(device)
        start.record()
        step()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end))
    _sync(device)
    begin = time.perf_counter()
    step()
    _sync(device)
    return 1000 * (time.perf_counter() - begin)


def measure(step: Callable[[], object], device: torch.device) -> Timing:
    """Warm up, then time at least ``MIN_REPEATS`` calls (more while within the time budget)."""
    for _ in range(WARMUP):
        step()
    _reset_peak(device)
    times: list[float] = []
    while len(times) < MIN_REPEATS or (len(times) < MAX_REPEATS and sum(times) < 1000 * TIME_BUDGET):
        times.append(_once(step, device))
    return Timing(
        median_ms=statistics.median(times),
        low_ms=min(times),
        high_ms=max(times),
        repeats=len(times),
        peak_bytes=_peak(device),
    )
