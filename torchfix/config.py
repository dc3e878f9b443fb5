"""``[tool.torchfix]`` settings: found, validated, merged with the command line.

Unknown keys and unknown rule codes are errors, never silence: a typo in a CI
gate's config must not switch a rule off unnoticed.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from torchfix.rules import code_by_key, rule_codes, rules_by_codes
from torchfix.sourcefile import DEFAULT_MAX_FILE_SIZE

if TYPE_CHECKING:
    import pathspec

    from torchfix.engine import RunOptions
    from torchfix.verify.config import VerifyConfig

#: ~100k tokens of code is a 400-500 KB module and a LibCST tree of 200-330 MB
DEFAULT_MAX_FILE_TOKENS = 100_000

KNOWN_KEYS = (
    "select",
    "ignore",
    "exclude",
    "per-file-ignores",
    "unsafe-fixes",
    "buffer-persistent",
    "fused-linear",
    "fused-linear-keys",
    "max-file-size",
    "max-file-tokens",
    "force-exclude",
    "verify",
)
#: the values of `fused-linear` and `fused-linear-keys` (the first is the default)
FUSED_LINEAR = ("private-only", "public-too")
FUSED_LINEAR_KEYS = ("unfused", "fused")


@lru_cache(maxsize=None)
def _spec(patterns: tuple[str, ...]) -> pathspec.PathSpec:
    """Patterns compiled once per run, not once per file (pathspec is imported only then: a
    run on named files never matches them)."""
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(patterns)


class ConfigError(Exception):
    """A bad setting; the CLI reports it and exits 2."""


@dataclass(frozen=True)
class Settings:
    """Effective settings of one run (config file, then flags)."""

    root: Path
    config_file: Path | None = None
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    per_file_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: True: every rule's unsafe fixes; a tuple: those rules' only
    unsafe_fixes: bool | tuple[str, ...] = False
    buffer_persistent: bool = False
    #: TF008: "private-only" fixes no public class of a distributable library, "public-too" does
    fused_linear: str = "private-only"
    #: TF008: "unfused" saves checkpoints under the old layer keys, "fused" under the fused layer's
    fused_linear_keys: str = "unfused"
    #: the project around the file being processed (set per file by the runner for the rules
    #: that read other files, :mod:`torchfix.package_index`); part of the cache key
    package: object = None
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    #: LibCST needs about 2-3 KB of memory per token: a larger file is skipped with a message
    max_file_tokens: int = DEFAULT_MAX_FILE_TOKENS
    #: apply `exclude` to files named on the command line too (pre-commit names every file)
    force_exclude: bool = False
    verify: VerifyConfig | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        """The enabled rules' codes, sorted."""
        chosen = self.select or rule_codes()
        return tuple(code for code in rule_codes() if code in chosen and code not in self.ignore)

    @property
    def unsafe_codes(self) -> frozenset[str]:
        if self.unsafe_fixes is True:
            return frozenset(rule_codes())
        return frozenset(self.unsafe_fixes or ())

    @property
    def rule_settings(self) -> dict[str, object]:
        settings = {
            "buffer_persistent": self.buffer_persistent,
            "fused_linear": self.fused_linear,
            "fused_linear_keys": self.fused_linear_keys,
        }
        if self.package is not None:
            settings["package"] = self.package
        return settings

    def exclude_spec(self) -> pathspec.PathSpec | None:
        return _spec(self.exclude) if self.exclude else None

    def is_excluded(self, path: Path) -> bool:
        """Whether ``exclude`` matches ``path`` or one of its folders below the root."""
        spec = self.exclude_spec()
        if spec is None:
            return False
        try:
            relative = Path(os.path.realpath(path)).relative_to(self.root)
        except ValueError:
            return False
        return spec.match_file(relative.as_posix()) or any(
            spec.match_file(folder.as_posix() + "/") for folder in relative.parents if folder.parts
        )

    def codes_for(self, relative: str) -> tuple[str, ...]:
        """The codes of the rules that apply to one file (``relative`` to the root, POSIX)."""
        ignored: set[str] = set()
        for pattern, codes in self.per_file_ignores.items():
            if _spec((pattern,)).match_file(relative):
                ignored.update(codes)
        return tuple(code for code in self.codes if code not in ignored)

    def options_for(self, relative: str) -> RunOptions:
        """The rules and fixes that apply to one file; imports those rules (and LibCST)."""
        return self.options(self.codes_for(relative), relative)

    def options(self, codes: Sequence[str], relative: str) -> RunOptions:
        """Run options for the rules ``codes`` on the file ``relative``; imports those rules (and LibCST)."""
        from torchfix.engine import RunOptions
        from torchfix.layout import style_for

        style = style_for((self.root / relative).parent)
        return RunOptions(rules_by_codes(tuple(codes)), self.unsafe_codes, self.rule_settings, style)



def codes(values: Sequence[str] | str, where: str) -> tuple[str, ...]:
    """Rule codes from codes or slugs (comma-separated strings allowed)."""
    if isinstance(values, str):
        values = [values]
    result = []
    for value in values:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected rule codes, got {value!r}")
        for key in filter(None, (part.strip() for part in value.split(","))):
            prefixed = _prefixed(key)
            if prefixed:
                result.extend(prefixed)
                continue
            code = code_by_key(key)
            if code is None:
                raise ConfigError(f"{where}: unknown rule {key!r} (see `torchfix rules`)")
            result.append(code)
    return tuple(dict.fromkeys(result))


def _prefixed(key: str) -> list[str]:
    """The codes a prefix selects, as in Ruff: ``ALL``, ``TF``, ``TF00`` (a whole code is not a prefix)."""
    key = key.upper()
    if key == "ALL":
        return list(rule_codes())
    digits = key[2:]
    if not key.startswith("TF") or len(key) >= 5 or (digits and not digits.isdigit()):
        return []
    return [code for code in rule_codes() if code.startswith(key)]


def find_config(paths: Sequence[Path]) -> Path | None:
    """The nearest ``pyproject.toml`` with a ``[tool.torchfix]`` table above the paths."""
    start = _common_folder(paths)
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
                raise ConfigError(f"{candidate}: cannot read: {error}") from None
            if "torchfix" in data.get("tool", {}):
                return candidate
    return None


def _common_folder(paths: Sequence[Path]) -> Path:
    folders = [(p if p.is_dir() else p.parent).resolve() for p in paths] or [Path.cwd()]
    common = folders[0]
    for folder in folders[1:]:
        while common not in (folder, *folder.parents):
            common = common.parent
    return common


def _bool(table: Mapping, key: str, where: str) -> bool:
    value = table[key]
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: `{key}` must be true or false")
    return value


def _strings(table: Mapping, key: str, where: str) -> tuple[str, ...]:
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: `{key}` must be a list of strings")
    return tuple(value)


def load_settings(paths: Sequence[Path], config_file: Path | None = None) -> Settings:
    """Settings from ``config_file`` (or the nearest one above ``paths``)."""
    config_file = config_file or find_config(paths)
    if config_file is None:
        return Settings(root=_common_folder(paths))
    where = str(config_file)
    try:
        data = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{where}: cannot read: {error}") from None
    table = data.get("tool", {}).get("torchfix", {})
    unknown = [key for key in table if key not in KNOWN_KEYS]
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) in [tool.torchfix]: {', '.join(unknown)}")
    settings = Settings(root=config_file.parent.resolve(), config_file=config_file)
    changes: dict[str, object] = {}
    if "select" in table:
        changes["select"] = codes(_strings(table, "select", where), where)
    if "ignore" in table:
        changes["ignore"] = codes(_strings(table, "ignore", where), where)
    if "exclude" in table:
        changes["exclude"] = _strings(table, "exclude", where)
    if "per-file-ignores" in table:
        value = table["per-file-ignores"]
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: `per-file-ignores` must be a table of pattern = [codes]")
        changes["per_file_ignores"] = {
            pattern: codes(value[pattern], f"{where}: per-file-ignores {pattern!r}") for pattern in value
        }
    if "unsafe-fixes" in table:
        value = table["unsafe-fixes"]
        changes["unsafe_fixes"] = value if isinstance(value, bool) else codes(
            _strings(table, "unsafe-fixes", where), where
        )
    if "buffer-persistent" in table:
        changes["buffer_persistent"] = _bool(table, "buffer-persistent", where)
    for key, allowed in (("fused-linear", FUSED_LINEAR), ("fused-linear-keys", FUSED_LINEAR_KEYS)):
        if key in table:
            if table[key] not in allowed:
                raise ConfigError(f"{where}: `{key}` must be one of {', '.join(map(repr, allowed))}")
            changes[key.replace("-", "_")] = table[key]
    if "force-exclude" in table:
        changes["force_exclude"] = _bool(table, "force-exclude", where)
    for key, unit in (("max-file-size", "bytes"), ("max-file-tokens", "tokens")):
        if key in table:
            value = table[key]
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{where}: `{key}` must be a positive number of {unit}")
            changes[key.replace("-", "_")] = value
    if "verify" in table:
        try:
            from torchfix.verify.config import parse_verify_config

            changes["verify"] = parse_verify_config(table["verify"], f"{where}: [tool.torchfix.verify]")
        except ValueError as error:
            raise ConfigError(str(error)) from None
    return replace(settings, **changes)


def with_flags(
    settings: Settings,
    select: Sequence[str] = (),
    ignore: Sequence[str] = (),
    unsafe_fixes: bool | None = None,
    force_exclude: bool = False,
    extend_select: Sequence[str] = (),
    extend_ignore: Sequence[str] = (),
) -> Settings:
    """Command-line flags override the config file; ``--extend-*`` add to it (``--ignore`` does too)."""
    changes: dict[str, object] = {}
    if force_exclude:
        changes["force_exclude"] = True
    if select:
        changes["select"] = codes(select, "--select")
    if extend_select and (changes.get("select") or settings.select):
        # with no selection every rule is on already
        chosen = changes.get("select") or settings.select
        changes["select"] = tuple(dict.fromkeys((*chosen, *codes(extend_select, "--extend-select"))))
    elif extend_select:
        codes(extend_select, "--extend-select")  # still reject unknown codes
    ignored = codes(ignore, "--ignore") + codes(extend_ignore, "--extend-ignore")
    if ignored:
        changes["ignore"] = tuple(dict.fromkeys(settings.ignore + ignored))
    if unsafe_fixes is not None:
        changes["unsafe_fixes"] = unsafe_fixes
    return replace(settings, **changes)
