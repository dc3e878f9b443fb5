"""The rule registry: every ``Rule`` subclass in a ``tfNNN_*`` module of this package."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from torchfix.rule import Rule


@lru_cache(maxsize=None)
def all_rules() -> tuple[type[Rule], ...]:
    """Every rule, sorted by code."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("tf"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Rule) and value.__module__ == module.__name__:
                found.append(value)
    return tuple(sorted(found, key=lambda rule: rule.CODE))


def rule_by_key(key: str) -> type[Rule] | None:
    """A rule by its code (``TF007``) or slug (``f-normalize``), case-insensitive."""
    key = key.strip().lower()
    for rule in all_rules():
        if rule.CODE.lower() == key or rule.SLUG == key:
            return rule
    return None
