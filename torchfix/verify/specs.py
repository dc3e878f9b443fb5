"""The input spec language of ``Site.inputs`` and ``Example.inputs`` (no torch here).

- ``"float(4, 8)"``: random normal values, run as float32 and float64, each with
  the value variants random, zero rows (the first row and the first column set
  to 0), all zeros, negatives, large magnitudes (1e15 in float32, 1e150 in
  float64) and infinities (one +inf and one -inf);
- ``"float32(4, 8)"`` / ``"float64(4, 8)"``: the same value variants, one dtype only;
- ``"bool(4, 8)"``: a random mask, then all-False, single-True and all-True;
- ``"long(4, 8)"``: random integers in [0, 5);
- ``"int:3"`` / ``"float:1e-6"``: a Python number; ``"device"``: the device checked on;
- ``"<spec> except <variant>, ..."``: leaves out the named value or mask variants.

Pinned dtypes and ``except`` narrow the contract: only an unsafe fix's assumption
may narrow it. A site whose ``edge_values`` is false runs random values only (every mask).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Mapping

_TENSOR = re.compile(r"^(float|float32|float64|bool|long)\(\s*(\d+(?:\s*,\s*\d+)*)?\s*,?\s*\)$")
FLOAT_KINDS = ("float", "float32", "float64")
FLOAT_VALUES = ("random", "zero-rows", "zeros", "negative", "large", "inf")
MASKS = ("random", "all-False", "single-True", "all-True")


@dataclass(frozen=True)
class Spec:
    kind: str
    shape: tuple[int, ...] = ()
    value: object = None
    #: value or mask variants this input leaves out
    excluded: frozenset[str] = frozenset()

    @property
    def narrowed(self) -> bool:
        """Whether the spec narrows the contract (allowed only under an unsafe fix's assumption)."""
        return bool(self.excluded) or self.kind in ("float32", "float64")


@dataclass(frozen=True)
class Variant:
    """One run: the dtype of ``float`` inputs (None: no such input), the values, the masks."""

    dtype: str | None
    values: str
    mask: str

    def __str__(self) -> str:
        return "/".join(part for part in (self.dtype, self.values, self.mask) if part)


def parse_spec(text: str) -> Spec:
    """A spec from its text; ValueError for anything outside the language."""
    text, _, excluded = text.strip().partition(" except ")
    names = frozenset(n.strip() for n in excluded.split(",") if n.strip())
    if names - set(FLOAT_VALUES + MASKS) or "random" in names:
        raise ValueError(f"unknown variants to leave out in {text!r}: {sorted(names)}")
    match = _TENSOR.match(text)
    if match:
        shape = tuple(int(n) for n in match.group(2).split(",")) if match.group(2) else ()
        return Spec(match.group(1), shape, excluded=names)
    if names:
        raise ValueError(f"only tensor inputs have variants to leave out: {text!r}")
    if text.startswith("int:"):
        return Spec("int", value=int(text[4:]))
    if text.startswith("float:"):
        return Spec("number", value=float(text[6:]))
    if text == "device":
        return Spec("device")
    raise ValueError(f"unknown input spec {text!r}")


def variants(specs: Mapping[str, Spec], edge_values: bool = True) -> list[Variant]:
    """Every combination of dtype, value variant and mask variant the specs call for."""
    kinds = {spec.kind for spec in specs.values()}
    dtypes = ["float32", "float64"] if "float" in kinds else [None]
    values = FLOAT_VALUES if kinds & set(FLOAT_KINDS) and edge_values else ("random",)
    masks = MASKS if "bool" in kinds else ("random",)
    excluded = frozenset().union(*(spec.excluded for spec in specs.values()))
    return [
        Variant(d, v, m)
        for d, v, m in itertools.product(dtypes, values, masks)
        if v not in excluded and m not in excluded
    ]
