"""How the module check runs a model: train or eval, dtype, autocast, TF32 (no torch here).

A mode is written as a short string, which is also its name in the report:
``"eval float32"``, ``"train float32"``, ``"eval bfloat16"`` (the model cast with
``.to(torch.bfloat16)`` and its floating inputs with it), ``"train float32
autocast=bfloat16 tf32"`` (the forward under ``torch.autocast``, TF32 allowed on
CUDA). The default modes are the combinations users hit most: eval and train in
float32, and the model cast to bfloat16 (which runs on CPU too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

DTYPES = ("float32", "bfloat16", "float16")
AUTOCAST_DTYPES = ("bfloat16", "float16")


@dataclass(frozen=True)
class Mode:
    train: bool = False
    #: what the model and its floating inputs are cast to
    dtype: str = "float32"
    #: the dtype ``torch.autocast`` runs the forward in, or None
    autocast: str | None = None
    tf32: bool = False

    @property
    def name(self) -> str:
        parts = ["train" if self.train else "eval", self.dtype]
        if self.autocast:
            parts.append(f"autocast={self.autocast}")
        if self.tf32:
            parts.append("tf32")
        return " ".join(parts)

    @property
    def precision(self) -> str | None:
        """The lowest precision the mode computes in, whose tolerance applies to every floating value."""
        if self.dtype != "float32":
            return self.dtype
        if self.autocast:
            return self.autocast
        # TF32 keeps float16's 10 mantissa bits
        return "float16" if self.tf32 else None


DEFAULT_MODES = (Mode(), Mode(train=True), Mode(dtype="bfloat16"))


def _choice(value: object, choices: Sequence[str], where: str) -> str:
    if value not in choices:
        raise ValueError(f"{where} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def parse_mode(text: object, where: str = "mode") -> Mode:
    """A mode from its name; ValueError naming the token it does not understand."""
    if not isinstance(text, str) or not text.split():
        raise ValueError(f'{where} must be a string such as "train bfloat16", got {text!r}')
    train, dtype, autocast, tf32 = False, "float32", None, False
    for token in text.split():
        if token in ("eval", "train"):
            train = token == "train"
        elif token in DTYPES:
            dtype = token
        elif token.startswith("autocast="):
            autocast = _choice(token.partition("=")[2], AUTOCAST_DTYPES, f"{where}: autocast")
        elif token == "tf32":
            tf32 = True
        else:
            raise ValueError(
                f"{where}: unknown word {token!r} in {text!r} "
                f"(eval | train, {' | '.join(DTYPES)}, autocast={'|'.join(AUTOCAST_DTYPES)}, tf32)"
            )
    return Mode(train, dtype, autocast, tf32)


def parse_modes(value: object, where: str) -> tuple[Mode, ...]:
    """``modes = [...]`` of ``[tool.torchfix.verify]``: distinct modes, in order."""
    if not isinstance(value, list) or not value:
        raise ValueError(f'{where} must be a non-empty list such as ["eval float32", "train bfloat16"]')
    return tuple(dict.fromkeys(parse_mode(item, f"{where}[{i}]") for i, item in enumerate(value)))


def flag_mode(train: bool, dtype: str | None, autocast: str | None, tf32: bool) -> Mode | None:
    """The one mode ``--train``/``--dtype``/``--autocast``/``--tf32`` ask for; None without any of them."""
    if not (train or dtype or autocast or tf32):
        return None
    return Mode(
        train,
        _choice(dtype, DTYPES, "--dtype") if dtype else "float32",
        _choice(autocast, AUTOCAST_DTYPES, "--autocast") if autocast else None,
        tf32,
    )


# --- speed -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Repeated timings of one side (milliseconds): their median and range, and the peak memory."""

    median_ms: float
    low_ms: float
    high_ms: float
    repeats: int
    #: bytes: ``max_memory_allocated`` on CUDA, the process's peak resident set on CPU
    peak_bytes: int | None = None

    @classmethod
    def from_dict(cls, value: dict | None) -> "Timing | None":
        return cls(**value) if value else None

    def as_dict(self) -> dict:
        return {
            "median_ms": self.median_ms,
            "low_ms": self.low_ms,
            "high_ms": self.high_ms,
            "repeats": self.repeats,
            "peak_bytes": self.peak_bytes,
        }

    def __str__(self) -> str:
        return f"{_ms(self.median_ms)} ({_ms(self.low_ms)}-{_ms(self.high_ms)})"


def _ms(value: float) -> str:
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def speedup(before: Timing | None, after: Timing | None) -> float | None:
    """Before's median over after's, only when the two ranges do not overlap (else None)."""
    if before is None or after is None or after.median_ms <= 0:
        return None
    if after.high_ms < before.low_ms or before.high_ms < after.low_ms:
        return before.median_ms / after.median_ms
    return None


def speedup_text(before: Timing | None, after: Timing | None) -> str:
    """``"3.10x"`` for a speedup whose ranges do not overlap, ``"~1x"`` otherwise."""
    if before is None or after is None:
        return "-"
    factor = speedup(before, after)
    return "~1x" if factor is None else f"{factor:.2f}x"


# --- one report row --------------------------------------------------------------------------


@dataclass
class ModeRow:
    """One model in one mode: the verdict, the worst difference, the noise floor, both sides' timings."""

    mode: str
    status: str
    max_abs: float | None = None
    max_rel: float | None = None
    floor: float | None = None
    before: Timing | None = None
    after: Timing | None = None
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_line(cls, line: dict) -> "ModeRow":
        """A row from the worker's dict (timings as dicts)."""
        return cls(
            mode=line["mode"],
            status=line["status"],
            max_abs=line.get("max_abs"),
            max_rel=line.get("max_rel"),
            floor=line.get("floor"),
            before=Timing.from_dict(line.get("before")),
            after=Timing.from_dict(line.get("after")),
            problems=list(line.get("problems", [])),
        )

    @property
    def speedup(self) -> float | None:
        return speedup(self.before, self.after)

    def as_dict(self) -> dict:
        return {
            "mode": self.mode,
            "status": self.status,
            "max_abs_err": self.max_abs,
            "max_rel_err": self.max_rel,
            "noise_floor": self.floor,
            "before": self.before.as_dict() if self.before else None,
            "after": self.after.as_dict() if self.after else None,
            "speedup": self.speedup,
            "speedup_text": speedup_text(self.before, self.after),
            "problems": self.problems,
        }
