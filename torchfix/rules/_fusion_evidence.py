"""TF008: what the rest of the project shows about how a class's weights really arrive.

The fused layer is only right when every checkpoint passes through
``load_state_dict`` (where the added pre-hook converts the old keys) and no code
reads the old layer names. Each check here returns the reasons the project
contradicts that (an empty list when nothing does); the rule then reports without a
fix and gives every reason.
"""

from __future__ import annotations

from torchfix.package_index import WATCHED_CALLS, PackageIndex, PackageRef, index_for
from torchfix.rule import FileContext

#: module bases whose models are built on the meta device and filled by key (from_pretrained)
PRETRAINED_BASES = frozenset({"ModelMixin", "PreTrainedModel", "PushToHubMixin", "FlaxModelMixin"})
#: calls that assign tensors by key instead of loading a state_dict
PRETRAINED_LOADERS = tuple(sorted(WATCHED_CALLS))


#: bases whose from_pretrained builds the whole model, buffers included, on the meta device
#: (transformers >= 5); diffusers' ModelMixin keeps buffers real (accelerate's init_empty_weights)
META_BUFFER_BASES = frozenset({"PreTrainedModel"})


def pretrained_user(index: PackageIndex, own: str, class_name: str) -> str | None:
    """How a class ends up inside a transformers model (None: nothing shows it does): it derives
    from ``PreTrainedModel``, or a file that builds it (calls the name) defines a class that does."""
    bases = sorted(index.ancestors(class_name) & META_BUFFER_BASES)
    if bases:
        return f"`{class_name}` derives from `{bases[0]}`"
    for file in sorted(index.files):
        facts = index.files[file]
        if file != own and class_name not in facts.called:
            continue
        models = sorted(c for c in facts.classes if index.ancestors(c) & META_BUFFER_BASES)
        if models:
            where = "this file" if file == own else f"`{file}`"
            return f"`{class_name}` is part of {where}'s `{models[0]}`, a `PreTrainedModel`"
    return None


def _where(files: list[str], limit: int = 2) -> str:
    shown = ", ".join(f"`{f}`" for f in files[:limit])
    return shown + (f" and {len(files) - limit} more" if len(files) > limit else "")


def project_reasons(context: FileContext, class_name: str, layers: list[str], fused: str | None) -> list[str]:
    """Every reason the project (or, with no project known, this file) rules the fix out, the
    most specific first and the public-class reason last; empty when nothing does.

    The runner passes the project as the ``package`` setting; code checked on its own
    (stdin, the engine's API) is searched in its own file only. ``fused`` is the fused
    layer's name when the fix was built (None: the local reasons already rule it out)."""
    settings = context.settings
    index, own = index_for(context)
    reasons = []
    if index.truncated:
        reasons.append("the project is too large to search for other uses of the layers")
    for check in (_nested, _pretrained, _old_names, _pickled, _filtered):
        reasons += [r.replace(f"`{own}`", "this file") for r in check(index, own, class_name, layers, fused)]
    ref = settings.get("package")
    if isinstance(ref, PackageRef):
        reasons += _public(ref, class_name, settings.get("fused_linear") == "public-too")
    return reasons


def _public(ref: PackageRef, class_name: str, opted_in: bool) -> list[str]:
    """A public class of a distributable library: its users may read the layers by name."""
    if opted_in or not ref.distributable or class_name.startswith("_"):
        return []
    return [(
        f"`{class_name}` is a public class of a distributable library, whose users, adapter configs "
        "(`target_modules`) and optimizer groups may select its layers by name "
        '(set `fused-linear = "public-too"` to fix public classes too)'
    )]


def _nested(index: PackageIndex, own: str, class_name: str, layers: list[str], fused: str | None) -> list[str]:
    found = index.first("nested")
    if found is None:
        return []
    return [(
        f"the project uses nested (jagged) tensors (`{found[0]}`): the split outputs are non-contiguous "
        "views, which attention on jagged tensors rejects"
    )]


def _pretrained(index: PackageIndex, own: str, class_name: str, layers: list[str], fused: str | None) -> list[str]:
    """One reason (the most direct evidence): the class's own bases, another class's, or a loader call."""
    bases = sorted(index.ancestors(class_name) & PRETRAINED_BASES)
    if bases:
        return [(
            f"`{class_name}` derives from `{bases[0]}`: its weights are assigned by key on the meta device "
            "(from_pretrained), so the load hook never runs"
        )]
    for other in sorted(cls for facts in index.files.values() for cls in facts.classes):
        bases = sorted(index.ancestors(other) & PRETRAINED_BASES)
        if bases:
            return [(
                f"the project's `{other}` derives from `{bases[0]}`: pretrained models are built on the meta "
                "device and their tensors assigned by key (from_pretrained), so the load hook never runs"
            )]
    calls = index.files_calling(*PRETRAINED_LOADERS)
    if calls:
        file, name = calls[0]
        return [(
            f"the project loads weights with `{name}` (`{file}`), which assigns tensors by key without "
            "`load_state_dict`, so the load hook never runs"
        )]
    return []


def _old_names(index: PackageIndex, own: str, class_name: str, layers: list[str], fused: str | None) -> list[str]:
    """One reason per kind of use (strings, attribute chains, subclasses), naming every layer it covers."""
    strings = {name: index.files_with_string(name, besides=own) for name in layers}
    attributes = {name: index.files_with_attribute(name, besides=own) for name in layers}
    subclassed: dict[str, list[str]] = {}
    for subclass in sorted(index.subclasses(class_name)):
        for name in layers:
            users = [f for f, facts in index.files.items() if name in facts.self_attributes.get(subclass, ())]
            if users:
                subclassed.setdefault(subclass, [])
                subclassed[subclass] += [f"`self.{name}` ({_where(users)})"]
    reasons = []
    named = [n for n in layers if strings[n]]
    if named:
        files = sorted({f for n in named for f in strings[n]})
        which = _names(named, "'{}'")
        verb = "appears in a string" if len(named) == 1 else "appear in strings"
        reasons.append(
            f"{which} {verb} in {_where(files)} (a key map, `target_modules` or a parallel plan that would no "
            "longer match)"
        )
    read = [n for n in layers if attributes[n]]
    if read:
        files = sorted({f for n in read for f in attributes[n]})
        reasons.append(f"{_names(read, '`.{}`')} {'is' if len(read) == 1 else 'are'} read in {_where(files)}")
    for subclass, uses in subclassed.items():
        reasons.append(f"the subclass `{subclass}` uses {' and '.join(uses)}")
    return reasons


def _names(names: list[str], form: str) -> str:
    """``the name 'q'`` / ``the names 'q' and 'k'`` (or the attribute forms)."""
    quoted = [form.format(n) for n in names]
    joined = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
    return joined if form.startswith("`") else ("the name " if len(names) == 1 else "the names ") + joined


def _pickled(index: PackageIndex, own: str, class_name: str, layers: list[str], fused: str | None) -> list[str]:
    found = index.first("pickles_module")
    if found is None:
        return []
    layer = f"`{fused}`" if fused else "fused layer"
    return [(
        f"`{found[0]}` pickles a whole model (`torch.save({found[1]}, ...)`): a model unpickled from before "
        f"the fix has no {layer}"
    )]


def _filtered(index: PackageIndex, own: str, class_name: str, layers: list[str], fused: str | None) -> list[str]:
    found = index.first("filters_keys")
    if found is None:
        return []
    return [(
        f"`{found[0]}` keeps only the checkpoint keys the model has (`{found[1]}`): the old keys would be "
        "dropped before the load hook sees them"
    )]
