"""TF008: what the rest of the project shows about how a class's weights really arrive.

The fused layer is only right when every checkpoint passes through
``load_state_dict`` (where the added pre-hook converts the old keys) and no code
reads the old layer names. Each function here returns the reason the project
contradicts that, or None; the rule then reports without a fix.
"""

from __future__ import annotations

from torchfix.package_index import WATCHED_CALLS, PackageIndex, PackageRef, index_for
from torchfix.rule import FileContext

#: module bases whose models are built on the meta device and filled by key (from_pretrained)
PRETRAINED_BASES = frozenset({"ModelMixin", "PreTrainedModel", "PushToHubMixin", "FlaxModelMixin"})
#: calls that assign tensors by key instead of loading a state_dict
PRETRAINED_LOADERS = tuple(sorted(WATCHED_CALLS))


def _where(files: list[str], limit: int = 2) -> str:
    shown = ", ".join(f"`{f}`" for f in files[:limit])
    return shown + (f" and {len(files) - limit} more" if len(files) > limit else "")


def project_reason(context: FileContext, class_name: str, layers: list[str], fused: str) -> str | None:
    """Why the project (or, with no project known, this file) rules the fix out; None when nothing does.

    The runner passes the project as the ``package`` setting; code checked on its own
    (stdin, the engine's API) is searched in its own file only."""
    settings = context.settings
    ref = settings.get("package")
    if isinstance(ref, PackageRef):
        reason = _public(ref, class_name, settings.get("fused_linear") == "public-too")
        if reason is not None:
            return reason
    index, own = index_for(settings, context.module.code)
    if index.truncated:
        return "the project is too large to search for other uses of the layers"
    for check in (_nested, _pretrained, _old_names, _pickled, _filtered):
        reason = check(index, own, class_name, layers, fused)
        if reason is not None:
            return reason.replace(f"`{own}`", "this file")
    return None


def _public(ref: PackageRef, class_name: str, opted_in: bool) -> str | None:
    """A public class of a distributable library: its users may read the layers by name."""
    if opted_in or not ref.distributable or class_name.startswith("_"):
        return None
    return (
        f"`{class_name}` is a public class of a distributable library, whose users, adapter configs "
        "(`target_modules`) and optimizer groups may select its layers by name "
        '(set `fused-linear = "public-too"` to fix public classes too)'
    )


def _nested(index: PackageIndex, own: str, class_name: str, layers: list[str], fused: str) -> str | None:
    found = index.first("nested")
    if found is None:
        return None
    return (
        f"the project uses nested (jagged) tensors (`{found[0]}`): the split outputs are non-contiguous "
        "views, which attention on jagged tensors rejects"
    )


def _pretrained(index: PackageIndex, own: str, class_name: str, layers: list[str], fused: str) -> str | None:
    bases = sorted(index.ancestors(class_name) & PRETRAINED_BASES)
    if bases:
        return (
            f"`{class_name}` derives from `{bases[0]}`: its weights are assigned by key on the meta device "
            "(from_pretrained), so the load hook never runs"
        )
    for other in sorted(cls for facts in index.files.values() for cls in facts.classes):
        bases = sorted(index.ancestors(other) & PRETRAINED_BASES)
        if bases:
            return (
                f"the project's `{other}` derives from `{bases[0]}`: pretrained models are built on the meta "
                "device and their tensors assigned by key (from_pretrained), so the load hook never runs"
            )
    calls = index.files_calling(*PRETRAINED_LOADERS)
    if calls:
        file, name = calls[0]
        return (
            f"the project loads weights with `{name}` (`{file}`), which assigns tensors by key without "
            "`load_state_dict`, so the load hook never runs"
        )
    return None


def _old_names(index: PackageIndex, own: str, class_name: str, layers: list[str], fused: str) -> str | None:
    for name in layers:
        files = index.files_with_string(name, besides=own)
        if files:
            return (
                f"the name '{name}' appears in a string in {_where(files)} (a key map, `target_modules` or a "
                "parallel plan that would no longer match)"
            )
        files = index.files_with_attribute(name, besides=own)
        if files:
            return f"`.{name}` is read in {_where(files)}"
        for subclass in sorted(index.subclasses(class_name)):
            users = [f for f, facts in index.files.items() if name in facts.self_attributes.get(subclass, ())]
            if users:
                return f"the subclass `{subclass}` uses `self.{name}` ({_where(users)})"
    return None


def _pickled(index: PackageIndex, own: str, class_name: str, layers: list[str], fused: str) -> str | None:
    found = index.first("pickles_module")
    if found is None:
        return None
    return (
        f"`{found[0]}` pickles a whole model (`torch.save({found[1]}, ...)`): a model unpickled from before "
        f"the fix has no `{fused}`"
    )


def _filtered(index: PackageIndex, own: str, class_name: str, layers: list[str], fused: str) -> str | None:
    found = index.first("filters_keys")
    if found is None:
        return None
    return (
        f"`{found[0]}` keeps only the checkpoint keys the model has (`{found[1]}`): the old keys would be "
        "dropped before the load hook sees them"
    )
