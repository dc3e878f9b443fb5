"""Choosing the device both sides run on (pure: the worker passes what torch reports)."""

from __future__ import annotations

#: comma-separated devices the worker reports as available instead of asking torch ("" for none);
#: lets tests exercise CUDA and MPS selection on machines without them
FAKE_DEVICES_ENV = "TORCHFIX_VERIFY_FAKE_DEVICES"


class DeviceError(Exception):
    """The requested device is not available."""


def select_device(requested: str, cuda: bool, mps: bool) -> str:
    """``auto``: CUDA, else MPS, else CPU; an explicit device must be available."""
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if requested == "cuda" and not cuda:
        raise DeviceError("--device cuda: CUDA is not available to this torch installation")
    if requested == "mps" and not mps:
        raise DeviceError("--device mps: MPS is not available to this torch installation")
    if requested not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unknown device {requested!r} (auto, cpu, cuda or mps)")
    return requested
