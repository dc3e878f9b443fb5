"""Matching parameters across a rewrite that renames or fuses them (no torch).

A fused-Linear rewrite (TF008) replaces ``attn.q.weight``, ``attn.k.weight`` and
``attn.v.weight`` by ``attn.qkv.weight``, whose rows are the parts concatenated
along dim 0. A key present only after the rewrite is matched to keys present
only before it that share its parent module and its leaf (``weight``, ``bias``):
first by name (the fused name spells the parts in order, joined directly or by
``_``, around a shared prefix or suffix: ``qkv``, ``query_key_value``,
``qkv_proj`` from ``q_proj``..., ``to_qkv`` from ``to_q``...), else, when every
such key fits, by shape alone, in the original registration order. The shapes
must add up along dim 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

Shape = Sequence[int]


@dataclass
class ParameterMap:
    """``parts[after_key]`` lists the keys of the original whose concatenation it is."""

    parts: dict[str, list[str]] = field(default_factory=dict)
    #: keys of the original without a counterpart
    unmatched_before: list[str] = field(default_factory=list)
    #: keys of the rewrite without a counterpart
    unmatched_after: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.unmatched_before and not self.unmatched_after

    def describe(self) -> list[str]:
        return [f"{' + '.join(parts)} -> {key}" for key, parts in self.parts.items() if parts != [key]]


def _split(key: str) -> tuple[str, str, str] | None:
    pieces = key.rsplit(".", 2)
    if len(pieces) == 2:
        return "", pieces[0], pieces[1]
    if len(pieces) == 3:
        return pieces[0], pieces[1], pieces[2]
    return None


def _spell(fused: str, names: Sequence[str]) -> list[str] | None:
    """Names (each used once, in order of use) whose concatenation spells ``fused``."""
    if not fused:
        return []
    for i, name in enumerate(names):
        if name and fused.startswith(name):
            rest = fused[len(name) :]
            others = [*names[:i], *names[i + 1 :]]
            for tail in (rest, rest[1:]) if rest.startswith("_") else (rest,):
                found = _spell(tail, others)
                if found is not None:
                    return [name, *found]
    return None


def _affixes(fused: str) -> list[tuple[str, str]]:
    """(prefix, suffix) pairs of ``fused`` cut at underscores, the empty pair first."""
    cuts = [i for i, char in enumerate(fused) if char == "_"]
    prefixes = ["", *(fused[: i + 1] for i in cuts)]
    suffixes = ["", *(fused[i:] for i in cuts)]
    return [(p, s) for p in prefixes for s in suffixes if len(p) + len(s) < len(fused)]


def _spell_parts(fused: str, names: Sequence[str]) -> list[str] | None:
    """The names that spell ``fused``, possibly around a prefix and suffix they all share."""
    for prefix, suffix in _affixes(fused):
        cores = {
            n[len(prefix) : len(n) - len(suffix)]: n
            for n in names
            if n.startswith(prefix) and n.endswith(suffix) and len(n) > len(prefix) + len(suffix)
        }
        found = _spell(fused[len(prefix) : len(fused) - len(suffix)], list(cores))
        if found is not None and len(found) > 1:
            return [cores[core] for core in found]
    return None


def _fits(after: Shape, parts: Sequence[Shape]) -> bool:
    if not parts or not after or any(len(p) != len(after) or tuple(p[1:]) != tuple(after[1:]) for p in parts):
        return False
    return sum(p[0] for p in parts) == after[0]


def map_parameters(before: Mapping[str, Shape], after: Mapping[str, Shape]) -> ParameterMap:
    """Match ``after``'s keys to ``before``'s (both in registration order, with shapes)."""
    result = ParameterMap()
    free = [key for key in before if key not in after]
    for key in after:
        if key in before:
            result.parts[key] = [key]
            continue
        split = _split(key)
        group = []
        if split is not None:
            group = [k for k in free if (s := _split(k)) is not None and (s[0], s[2]) == (split[0], split[2])]
        by_name = {_split(k)[1]: k for k in group}
        spelled = _spell_parts(split[1], list(by_name)) if split is not None else None
        chosen = [by_name[name] for name in spelled] if spelled else group
        if len(chosen) > 1 and _fits(after[key], [before[k] for k in chosen]):
            result.parts[key] = chosen
            free = [k for k in free if k not in chosen]
        else:
            result.unmatched_after.append(key)
    result.unmatched_before = free
    return result
