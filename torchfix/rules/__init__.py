"""The rule registry: every ``Rule`` subclass in a ``tfNNN_<slug>`` module of this package.

The codes and slugs come from the module names (``tf007_f_normalize`` is TF007,
``f-normalize``), so settings can be validated and a cached run reported
without importing a rule (or LibCST). ``tests/test_startup.py`` checks that
each module's rule declares the code and slug its name promises.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torchfix.rule import Rule


@lru_cache(maxsize=None)
def _modules() -> tuple[tuple[str, str, str], ...]:
    """(code, slug, module name) of every rule module, sorted by code; nothing imported."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        number, _, slug = info.name.partition("_")
        if number.startswith("tf") and number[2:].isdigit() and slug:
            found.append((number.upper(), slug.replace("_", "-"), info.name))
    return tuple(sorted(found))


def rule_codes() -> tuple[str, ...]:
    """Every rule's code, sorted."""
    return tuple(code for code, _, _ in _modules())


def rule_slugs() -> dict[str, str]:
    """Every rule's slug by its code."""
    return {code: slug for code, slug, _ in _modules()}


def code_by_key(key: str) -> str | None:
    """A rule's code from its code (``TF007``) or slug (``f-normalize``), case-insensitive."""
    key = key.strip().lower()
    for code, slug, _ in _modules():
        if code.lower() == key or slug == key:
            return code
    return None


@lru_cache(maxsize=None)
def rules_by_codes(codes: tuple[str, ...]) -> tuple[type[Rule], ...]:
    """The rule classes of ``codes`` (in code order), importing only their modules."""
    from torchfix.rule import Rule

    found = []
    for code, _, name in _modules():
        if code not in codes:
            continue
        module = importlib.import_module(f"{__name__}.{name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Rule) and value.__module__ == module.__name__:
                found.append(value)
    return tuple(sorted(found, key=lambda rule: rule.CODE))


def all_rules() -> tuple[type[Rule], ...]:
    """Every rule, sorted by code."""
    return rules_by_codes(rule_codes())


def rule_by_key(key: str) -> type[Rule] | None:
    """A rule by its code (``TF007``) or slug (``f-normalize``), case-insensitive."""
    code = code_by_key(key)
    return rules_by_codes((code,))[0] if code is not None else None
