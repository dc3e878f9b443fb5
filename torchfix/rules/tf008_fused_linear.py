"""TF008 fused-linear: parallel ``nn.Linear`` layers on one input -> one fused layer."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from torchfix.names import dotted_name
from torchfix.patterns import arg, code, is_pure
from torchfix.rule import Applicability, Rule
from torchfix.rules._declines import no_fix
from torchfix.rules._fused_fix import FusionFix, affixes, call_clusters, form
from torchfix.rules._fusion_evidence import project_reasons
from torchfix.rules._nn_classes import (
    FileIndex,
    changed_in,
    file_index,
    may_be_module_class,
    method,
    paths_in,
    self_attribute,
    self_name,
)
from torchfix.rules._torch import TORCH_CONVENTIONS
from torchfix.rules.examples import tf008
from torchfix.walk import walk

UNSAFE = Applicability.UNSAFE
LINEAR = ("torch.nn.Linear", "torch.nn.modules.linear.Linear")
MODULE_LIST = ("torch.nn.ModuleList", "torch.nn.modules.container.ModuleList")
_LINEAR_ARGS = ("in_features", "out_features", "bias", "device", "dtype")
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


@dataclass
class _Decl:
    """``self.<name> = nn.Linear(...)`` in ``__init__``."""

    name: str
    assign: cst.Assign
    call: cst.Call
    out_arg: cst.Arg
    key: tuple[str, ...]

    @property
    def out(self) -> cst.BaseExpression:
        return self.out_arg.value


@dataclass
class _Call:
    """``self.<layer>(<input>)`` in a method."""

    call: cst.Call
    method: cst.FunctionDef
    input: cst.BaseExpression
    line: cst.SimpleStatementLine | None
    #: why this call cannot move (inside a lambda, a comprehension, ...)
    problem: str | None

    #: the statement list holding ``line``
    block: cst.CSTNode | None = None
    #: which value of the input the call sees (see ``_ClassFusion._version``)
    version: int = -1

    @property
    def cluster(self) -> tuple[int, int, str, int]:
        """Calls of one cluster fuse into one: same method, same block, same value of the same input."""
        return (id(self.method), id(self.block), form(self.input), self.version)


@dataclass
class _Layer:
    decl: _Decl
    calls: list[_Call] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.decl.name


def _parse_linear(call: cst.BaseExpression, names) -> tuple[cst.Arg, tuple[str, ...]] | None:
    """(the out_features argument, the fusion key) of an ``nn.Linear(...)`` call we fully understand.

    One ``**kwargs`` of a plain name (``**dd``, ``**factory_kwargs``) is part of the key: the layers
    fuse when they all pass the same one (the fused layer passes it too)."""
    if not isinstance(call, cst.Call) or names.qualified(call.func) not in LINEAR:
        return None
    stars = [a for a in call.args if a.star]
    if any(a.star != "**" or not isinstance(a.value, (cst.Name, cst.Attribute)) for a in stars) or len(stars) > 1:
        return None
    positional = [a for a in call.args if a.keyword is None]
    if len(positional) > len(_LINEAR_ARGS):
        return None
    if any(a.keyword is not None and a.keyword.value not in _LINEAR_ARGS for a in call.args):
        return None
    values = {name: arg(call, name, i) for i, name in enumerate(_LINEAR_ARGS)}
    if values["in_features"] is None or values["out_features"] is None:
        return None
    bias = values["bias"].value if values["bias"] is not None else cst.Name("True")
    key = tuple(form(v.value if isinstance(v, cst.Arg) else v) for v in (
        values["in_features"], bias, values["device"], values["dtype"], *(a.value for a in stars)))
    return values["out_features"], key


def _listing(names: list[str]) -> str:
    quoted = [f"`self.{n}`" for n in names]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


class FusedLinear(Rule):
    CODE = "TF008"
    SLUG = "fused-linear"
    IDIOM = "one fused nn.Linear"
    SUMMARY = "Fuse parallel nn.Linear layers applied to the same input into one layer and split its output."
    FIX_SAFETY = "unsafe"
    IMPORT_CONVENTIONS = TORCH_CONVENTIONS
    DOCS = """\
## Why
Separate `q`, `k`, `v` (or SwiGLU gate and up) projections of one input launch
one matrix multiply each; one `nn.Linear` with the widths added up does the same
work in a single, larger and faster GEMM, and the output is split with `chunk`
(equal widths) or `split([...])`.

## Fix safety
Unsafe. Audit against the contract (same values, dtype, device and `state_dict()`
for every input, under `.to(dtype)`, `.to(device)`, `.train()`, `.eval()`): the
outputs are the same values (one GEMM instead of several: float rounding only),
dtype and device follow the one layer as they followed each; `.train()`/`.eval()`
change nothing (a linear layer has no mode). What changes is `parameters()` (one
fused parameter: optimizer state saved before the rewrite does not map onto it,
and the message says so) and the module's attributes. `state_dict()` keys stay
the same by default: the fix registers, with public `nn.Module` APIs, a
`load_state_dict` pre-hook that concatenates the old `q.weight`, `k.weight`,
`v.weight` (and biases) into `qkv.weight`, and a `state_dict` post-hook
(`register_state_dict_post_hook`) that splits the fused weight back under the
old keys. Checkpoints saved before the rewrite load into the new code, those
saved by the new code load into the old code, exporters and conversion scripts,
both with `strict=True`, and `torch.distributed.checkpoint` works from the same
keys. `fused-linear-keys = "fused"` saves `qkv.weight` instead (only the load
hook is added). The hooks are static methods of the class (picklable, no
torchfix import).

How the weights really arrive is checked across the project: the folder with
`pyproject.toml`/`setup.py`/`setup.cfg`, else the git root, else the top-level
package, indexed once per run (`torchfix/package_index.py`; the findings cache is
keyed on every file's size and time). Reported without a fix, with every reason
that applies (numbered, the most specific first, the public-class reason last):
- pretrained-model trees: a class deriving from `ModelMixin`/`PreTrainedModel`
  (aliases and package-local bases followed), or a project calling or importing
  `from_pretrained`, `load_model_dict_into_meta`, `set_module_tensor_to_device`
  or `init_empty_weights`: tensors are assigned by key on the meta device and the
  hooks never run;
- an old layer name in a key-like string anywhere in the project (conversion
  maps, LoRA key maps, `target_modules=[...]`, tensor-parallel plans, regexes),
  read as an attribute (`block.attn.q.weight`) in another file, or used as
  `self.q` by a subclass in another file;
- a whole model pickled (`torch.save(model, ...)`, `torch.save({"model": net})`):
  an object unpickled from before the fix has no fused layer;
- a key-filtered load (`{k: v for k, v in sd.items() if k in own}`, also through
  `dict(...)`): the old keys are dropped before the hook sees them;
- nested (jagged) tensors anywhere in the project: the chunks are
  non-contiguous views that attention on jagged tensors rejects;
- a public class (name not starting with `_`) of a distributable library: its
  users, adapter configs and optimizer groups select layers by name. Fixed only
  with `fused-linear = "public-too"` in the configuration.
Code checked on its own (stdin, the engine API) is searched in its own file.

Detection: in one `nn.Module` subclass (also mmengine `BaseModule`/`BaseModel`,
Lightning `LightningModule`, `PreTrainedModel`, `ModelMixin`), two or more
`nn.Linear` attributes with the same input width expression, bias flag,
`device=`/`dtype=` and `**kwargs` (the same name on every layer), each called
only as `self.<name>(x)` on the same input expression, in the same block, with
`x` not reassigned or changed in place between the calls (`x = self.fc1(x)`
then `self.fc2(x)` is a sequence, not a group). Anything else that
touches a layer is a reason to skip, and the finding says which: per-layer
init or weight access (`nn.init.*(self.q.weight)`, `self.q.weight`), a layer
passed to a function or used as a value, called on another input or twice, a
layer created in a loop, a `ModuleList` or under a conditional (both forms
behind a flag), the layer name in a string literal of the file (parallelism
plans, checkpoint key filters, conversion maps), mixed bias, layers used from
outside the class (`attn.to_q(x)`), an input that is itself a call. Layers run
on different inputs are grouped per input: cross-attention fuses `k` and `v`
and leaves `q`.

The fused layer is named from the parts (`q, k, v` -> `qkv`,
`to_k, to_v` -> `to_kv`, `gate_proj, up_proj` -> `gate_up_proj`,
`query, key, value` -> `query_key_value`, `w1, w3` -> `w13`), free in the class.
It is created where the last part was (all widths are in scope there), with the
width written simply (`192`, `3 * dim`, `8 * d`, `n_heads * hd + 2 * n_kv * hd`).
Calls become one `self.qkv(x).chunk(3, dim=-1)` (same width expression) or
`.split([...], dim=-1)`, placed at the first call and bound to the call site's
own names (`key_states, value_states = ...`; an annotation stays as the
declaration `key_states: Tensor`; a tuple's names are put in layer order); a
call nested in an expression gets a fresh local name; a tuple of the calls
becomes the split itself. When the split widths are not computable in the
method (a local of `__init__`), they are stored next to the layer as
`self.<fused>_sizes`. Comments of the removed lines move above the fused layer
or the split, in order; a comment that trailed a part says which
(`# k_proj: keys`).

## What could go wrong
- The split outputs are views of one tensor: a `.view()` that merges the last
  dimension with another fails where it worked before (`.reshape` is fine).
- Training from scratch draws different initial weights (same distribution for
  the default init, which depends on the input width only; fan-out based
  inits such as Xavier change scale).
- Code outside the project (another repository that imports this one, a
  notebook elsewhere) is not searched; names built at run time
  (`f"{name}_proj"`) are not seen.
- The `state_dict` post-hook needs a PyTorch with the public
  `register_state_dict_post_hook`; use `fused-linear-keys = "fused"` on older ones.

## Verify
`torchfix verify` builds the module before and after, loads the old
`state_dict()` with `strict=True` and compares outputs and gradients.
"""
    ROWS = {
        "equal": "parallel layers of equal width -> one nn.Linear, `.chunk(n, dim=-1)`, plus the checkpoint hook",
        "split": "different widths (grouped-query attention) -> `.split([...], dim=-1)`",
        "nested": "calls nested in expressions (SwiGLU, calls as arguments) -> fresh local names",
        "tuple": "a tuple of the calls (`return self.fc_mu(h), self.fc_logvar(h)`) -> the split itself",
        "partial": "only the layers on the same input fuse (cross-attention: k and v)",
        "skip": "a group that could fuse but is touched elsewhere: reported with the reason, no fix",
    }
    EXAMPLES = tf008.EXAMPLES
    VALID = tf008.VALID

    def __init__(self, context) -> None:
        super().__init__(context)
        #: local names given out in this pass, per function
        self._locals: dict[int, set[str]] = {}

    def fresh_local(self, base: str, function: cst.FunctionDef) -> str:
        """A name free in the whole file and not yet given out in ``function``."""
        taken = self._locals.setdefault(id(function), set())
        candidate, n = base, 1
        while not self.names.is_free(candidate) or candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate)
        return candidate

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if not may_be_module_class(node, self.names):
            return
        init = method(node, "__init__")
        self_ = self_name(init) if init is not None else None
        if init is None or self_ is None:
            return
        assigns = _init_assignments(init, self_)
        linears = [a for a in assigns if _parse_linear(a.value, self.names) is not None]
        lists = [a for a in assigns if self._linear_list(a.value)]
        if len(linears) < 2 and not lists:
            return
        index = file_index(self.context)
        if not index.is_module_class(node):
            return
        _ClassFusion(self, index, node, init, self_).run(linears, lists)

    def _linear_list(self, value: cst.BaseExpression) -> bool:
        """``nn.ModuleList([nn.Linear(...) for _ in ...])`` or of two or more alike literal layers."""
        if not isinstance(value, cst.Call) or self.names.qualified(value.func) not in MODULE_LIST:
            return False
        if len(value.args) != 1 or value.args[0].keyword is not None:
            return False
        inner = value.args[0].value
        if isinstance(inner, (cst.ListComp, cst.GeneratorExp)):
            return _parse_linear(inner.elt, self.names) is not None
        if isinstance(inner, (cst.List, cst.Tuple)) and len(inner.elements) >= 2:
            parsed = [_parse_linear(e.value, self.names) for e in inner.elements]
            return all(p is not None for p in parsed) and len({p[1] for p in parsed}) == 1
        return False


def _init_assignments(init: cst.FunctionDef, self_: str) -> list[cst.Assign]:
    """``self.<name> = value`` statements anywhere in ``__init__`` (not in nested functions)."""
    found: list[cst.Assign] = []

    class _Collect(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if len(node.targets) == 1 and self_attribute(node.targets[0].target, self_) is not None:
                found.append(node)

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            return False

    walk(init.body, [_Collect()])
    return found


class _ClassFusion:
    """The analysis of one class: which layers fuse, or why not (the fix: :class:`FusionFix`)."""

    def __init__(self, rule: FusedLinear, index: FileIndex, cls: cst.ClassDef, init: cst.FunctionDef, self_: str):
        self.rule = rule
        self.names = rule.names
        self.index = index
        self.cls = cls
        self.init = init
        self.self_ = self_
        self._changes: dict[int, set[str]] = {}

    def run(self, linears: list[cst.Assign], lists: list[cst.Assign]) -> None:
        for assign in lists:
            self._check_list(assign)
        layers = self._layers(linears)
        groups = self._components(layers)
        alone = [layer for layer in layers if all(layer is not m for g in groups for m in g)]
        for group in groups:
            self._check_group(group, alone)

    def _layers(self, linears: list[cst.Assign]) -> list[_Layer]:
        by_name: dict[str, list[cst.Assign]] = {}
        for assign in linears:
            by_name.setdefault(assign.targets[0].target.attr.value, []).append(assign)
        layers = []
        for name, assigns in by_name.items():
            out_arg, key = _parse_linear(assigns[0].value, self.names)
            layer = _Layer(_Decl(name, assigns[0], assigns[0].value, out_arg, key))
            if len(assigns) > 1:
                layer.problems.append(f"`self.{name}` is assigned more than once")
            self._uses(layer)
            layers.append(layer)
        return layers

    def _uses(self, layer: _Layer) -> None:
        """Sort every use of the layer into calls and reasons not to fuse."""
        name = layer.name
        problems = layer.problems
        where = self.index.enclosing(layer.decl.assign, self.init)
        if where is not None:
            problems.append(f"`self.{name}` is created {where}")
        if name in self.index.strings:
            problems.append(f"the name '{name}' appears in a string literal in this file")
        foreign = self.index.foreign_uses(self.cls, name)
        if foreign:
            problems.append(f"`{code(foreign[0].node)}` uses a layer outside the class")
        for use in self.index.self_uses(self.cls, name):
            parent = self.index.parent[use.node]
            if isinstance(parent, cst.AssignTarget) and self.index.parent[parent] is layer.decl.assign:
                continue
            if isinstance(parent, cst.Call) and parent.func is use.node:
                call = self._call(parent, use.method)
                if call is None:
                    problems.append(f"`self.{name}` is called with other arguments")
                else:
                    layer.calls.append(call)
            elif isinstance(parent, cst.Attribute):
                problems.append(f"`{code(parent)}` is used directly")
            elif isinstance(parent, cst.AssignTarget):
                problems.append(f"`self.{name}` is reassigned")
            elif isinstance(parent, cst.Arg):
                func = self.index.parent[parent]
                callee = code(func.func) if isinstance(func, cst.Call) else "a call"
                problems.append(f"`self.{name}` is passed to `{callee}`")
            else:
                problems.append(f"`self.{name}` is used as a value")

    def _call(self, node: cst.Call, method_: cst.FunctionDef) -> _Call | None:
        if len(node.args) != 1 or node.args[0].keyword is not None or node.args[0].star:
            return None
        problem = None
        for ancestor in self.index.ancestors(node):
            if isinstance(ancestor, (cst.BaseStatement, cst.BaseSmallStatement)):
                break
            if isinstance(ancestor, (cst.IfExp, cst.BooleanOperation)):
                problem = "under a conditional expression"
            elif isinstance(ancestor, cst.Lambda):
                problem = "inside a lambda"
            elif isinstance(ancestor, _COMPREHENSIONS):
                problem = "inside a comprehension"
        line = self.index.line_of(node)
        if line is None and problem is None:
            problem = "in the header of a compound statement"
        if line is None:
            return _Call(node, method_, node.args[0].value, line, problem, version=id(node))
        block = self.index.parent[line]
        version = self._version(node, line, block)
        return _Call(node, method_, node.args[0].value, line, problem, block, version)

    def _version(self, node: cst.Call, line: cst.SimpleStatementLine, block) -> int:
        """The position of the last statement before the call, in its block, that changes its input
        (-1: none): calls with the same version see the same value (`x = f(self.a(x)); self.b(x)` differ)."""
        paths = paths_in(node.args[0].value)
        small = next(a for a in self.index.ancestors(node) if isinstance(a, cst.BaseSmallStatement))
        version, position = -1, 0
        for statement in block.body:
            for part in statement.body if isinstance(statement, cst.SimpleStatementLine) else [statement]:
                if part is small:
                    return version
                if id(part) not in self._changes:
                    self._changes[id(part)] = changed_in([part])
                if paths & self._changes[id(part)]:
                    version = position
                position += 1
        return version

    def _components(self, layers: list[_Layer]) -> list[list[_Layer]]:
        """Layers linked by a shared (method, input), in declaration order; two or more each."""
        groups: list[list[_Layer]] = []
        for layer in layers:
            clusters = {c.cluster for c in layer.calls}
            linked = [g for g in groups if any(c.cluster in clusters for other in g for c in other.calls)]
            groups = [g for g in groups if all(g is not x for x in linked)]
            groups.append([m for g in linked for m in g] + [layer])
        order = {id(layer): i for i, layer in enumerate(layers)}
        result = [sorted(g, key=lambda layer: order[id(layer)]) for g in groups if len(g) >= 2]
        return sorted(result, key=lambda g: order[id(g[0])])

    def _check_group(self, group: list[_Layer], alone: list[_Layer]) -> None:
        reasons = self._reasons(group)
        listing = _listing([layer.name for layer in group])
        anchor = group[0].decl.assign
        fix = fused = None
        if not reasons:
            fix, fused = FusionFix(self).build(group)
            if fix is None:
                reasons, fused = [fused], None
        layers = [layer.name for layer in group]
        reasons += project_reasons(self.rule.context, self.cls.name.value, layers, fused)
        if not reasons:
            note = self._left_out(group, alone)
            message = f"Fuse {listing} (parallel nn.Linear on one input) into one `self.{fused}`{note}."
            self.rule.report(anchor, message, fix)
            return
        message = f"{listing} are parallel nn.Linear layers that could be one fused layer; {no_fix(reasons)}."
        self.rule.report(anchor, message)

    def _reasons(self, group: list[_Layer]) -> list[str]:
        """Every layer's problems and a difference in how they are built; when there is none, the
        first reason the group's shape (declarations, calls) rules the fix out."""
        reasons = [problem for layer in group for problem in layer.problems]
        difference = self._key_difference(group)
        if difference is not None:
            reasons.append(difference)
        if reasons:
            return reasons
        shape = self._shape_reason(group)
        return [shape] if shape is not None else []

    def _shape_reason(self, group: list[_Layer]) -> str | None:
        lines = [self.index.line_of(layer.decl.assign) for layer in group]
        if any(line is None or len(line.body) != 1 for line in lines):
            return "a declaration shares its line with other statements"
        if len({id(self.index.parent[line]) for line in lines}) != 1:
            return "they are created in different blocks"
        # The fused layer is created where the last part was: what the earlier parts read must not
        # change on the way there.
        block = self.index.parent[lines[0]].body
        last = block.index(lines[-1])
        for layer, line in zip(group, lines):
            between = [s for s in block[block.index(line) + 1:last] if all(s is not other for other in lines)]
            if paths_in(layer.decl.call) & changed_in(between):
                return f"a name in the widths of `self.{layer.name}` changes before the last declaration"
        for layer in group:
            seen = [c.cluster for c in layer.calls]
            twice = next((c for c in layer.calls if seen.count(c.cluster) > 1), None)
            if twice is not None:
                return f"`self.{layer.name}` is called more than once on `{code(twice.input)}`"
        everywhere = {c.cluster: c for layer in group for c in layer.calls}
        for layer in group:
            missing = set(everywhere) - {c.cluster for c in layer.calls}
            if missing:
                odd = next(everywhere[k] for k in everywhere if k in missing)
                return f"they are not all called on the same inputs (`{code(odd.call)}`)"
        for calls in call_clusters(group):
            reason = self._cluster_reason(calls)
            if reason is not None:
                return reason
        return None

    def _key_difference(self, group: list[_Layer]) -> str | None:
        first = group[0].decl.key
        for layer in group[1:]:
            key = layer.decl.key
            if key[1] != first[1]:
                return f"mixed bias (`self.{group[0].name}` and `self.{layer.name}` differ)"
            if key[0] != first[0]:
                return f"the input width of `self.{layer.name}` is written differently"
            if key[2:4] != first[2:4]:
                return f"`self.{layer.name}` has another device= or dtype="
            if key[4:] != first[4:]:
                return f"`self.{layer.name}` passes other `**` keyword arguments"
        return None

    def _cluster_reason(self, calls: list[_Call]) -> str | None:
        for call in calls:
            if call.problem is not None:
                return f"a call is {call.problem}"
        source = calls[0].input
        if not is_pure(source) or _calls_module(source, self_name(calls[0].method)):
            return f"the input `{code(source)}` is an expression with calls (assign it to a variable first)"
        block = calls[0].block.body
        positions = sorted(block.index(c.line) for c in calls)
        changed = changed_in(block[positions[0]:positions[-1]])
        last = block[positions[-1]]
        only = last.body[0] if len(last.body) == 1 else None
        # The last line's own assignment happens after its calls.
        if isinstance(only, (cst.Assign, cst.AugAssign, cst.AnnAssign)) and only.value is not None:
            changed |= changed_in([only.value])
        else:
            changed |= changed_in([last])
        if paths_in(source) & changed:
            return f"`{code(source)}` changes between the calls"
        return None

    def _left_out(self, group: list[_Layer], alone: list[_Layer]) -> str:
        """A note on ungrouped layers named like the group that the same methods call on another of
        their parameters (cross-attention: `to_q` on `x`, `to_k` and `to_v` on `context`)."""
        methods_ = {id(c.method) for c in group[0].calls}
        prefix, suffix = affixes([layer.name for layer in group])
        others = [
            layer.name
            for layer in alone
            if layer.name.startswith(prefix)
            and layer.name.endswith(suffix)
            and len(layer.name) > len(prefix) + len(suffix)
            and any(id(c.method) in methods_ and _is_parameter(c.input, c.method) for c in layer.calls)
        ]
        if not others:
            return ""
        verb = "runs" if len(others) == 1 else "run"
        return f" ({', '.join(f'`self.{n}`' for n in others)} {verb} on another input and stays separate)"

    def _check_list(self, assign: cst.Assign) -> None:
        """A ModuleList of Linear layers each called on one input: report, never fix."""
        name = assign.targets[0].target.attr.value
        for use in self.index.self_uses(self.cls, name):
            source = self._parallel_source(use.node)
            if source is not None:
                self.rule.report(
                    assign,
                    f"The nn.Linear layers in `self.{name}` all run on `{code(source)}` and could be one fused "
                    f"layer; no fix: they are created in a loop or ModuleList (indexed keys such as `{name}.0.weight`).",
                )
                return

    def _parallel_source(self, node: cst.Attribute) -> cst.BaseExpression | None:
        """The input when ``node`` is iterated and each item is called on it: ``[h(x) for h in self.heads]``."""
        parent = self.index.parent.get(node)
        if isinstance(parent, cst.CompFor) and parent.iter is node:
            body = getattr(self.index.parent[parent], "elt", None)
            target, writes = parent.target, set()
        elif isinstance(parent, cst.For) and parent.iter is node:
            target, body = parent.target, parent.body
            writes = changed_in([parent.body])
        else:
            return None
        if body is None or not isinstance(target, cst.Name):
            return None
        item = target.value
        found: list[cst.BaseExpression] = []

        class _Calls(cst.CSTVisitor):
            def visit_Call(self, call: cst.Call) -> None:
                if isinstance(call.func, cst.Name) and call.func.value == item and len(call.args) == 1:
                    found.append(call.args[0].value)

        walk(body, [_Calls()])
        if len(found) != 1 or item in paths_in(found[0]) or paths_in(found[0]) & writes:
            return None
        return found[0]

    # -- the fix ---------------------------------------------------------------


def _calls_module(node: cst.BaseExpression, self_: str | None) -> bool:
    """Whether ``node`` calls something on ``self`` (a submodule such as ``self.norm(x)``)."""
    found: list[cst.Call] = []

    class _Find(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            root = dotted_name(call.func)
            if root is not None and root.split(".")[0] == self_:
                found.append(call)

    walk(node, [_Find()])
    return bool(found)


def _is_parameter(node: cst.BaseExpression, function: cst.FunctionDef) -> bool:
    params = function.params
    every = [*params.posonly_params, *params.params, *params.kwonly_params]
    return isinstance(node, cst.Name) and any(p.name.value == node.value for p in every)


