"""TF003 register-buffer: constant tensors held by an ``nn.Module`` -> ``register_buffer``."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from torchfix.package_index import index_for
from torchfix.patterns import arg, code, is_false, is_name, make_call, nodes_of
from torchfix.prefilter import CONSTRUCTORS, TENSOR_FUNCTIONS, TENSOR_METHODS
from torchfix.rule import Applicability, Fix, Rule
from torchfix.rules._declines import no_fix
from torchfix.rules._fusion_evidence import pretrained_user
from torchfix.rules._nn_classes import (
    FileIndex,
    class_names_in_body,
    file_index,
    may_be_module_class,
    method,
    self_attribute,
    self_name,
)
from torchfix.rules._tensor_dtype import is_integral
from torchfix.rules._torch import TORCH_CONVENTIONS
from torchfix.rules.examples import tf003
from torchfix.walk import walk

SAFE = Applicability.SAFE
UNSAFE = Applicability.UNSAFE
PARAMETER = ("torch.nn.Parameter", "torch.nn.parameter.Parameter")
#: nn.Module attributes register_buffer refuses to shadow
_MODULE_ATTRIBUTES = frozenset(
    {
        "training", "forward", "state_dict", "load_state_dict", "parameters", "buffers", "children",
        "modules", "to", "cuda", "cpu", "half", "float", "double", "type", "apply", "train", "eval",
        "zero_grad", "register_buffer", "register_parameter", "add_module", "dump_patches", "call_super_init",
    }
)
BUFFER_ASSUMPTION = (
    "assumes checkpoints are saved again: the persistent buffer is a new state_dict() key that checkpoints "
    "saved before lack, so strict loading of those fails."
)
FLOAT_ASSUMPTION = (
    "assumes the module is never cast (.half(), .to(torch.bfloat16)) or that casting this constant with it is "
    "intended: a floating-point buffer follows the module's dtype, the plain attribute stayed float32."
)
PARAMETER_ASSUMPTION = (
    "assumes no optimizer state saved before the fix is resumed (its param groups no longer match: \"parameter "
    "group doesn't match the size\") and nothing keys on parameters() (accelerate's offload and device-map "
    "choices read _parameters, parameter counts change); its state_dict() key stays."
)
#: checkpoint keys that hold optimizer state (``torch.save({"opt": opt.state_dict()})``)
OPTIMIZER_KEYS = frozenset({"opt", "optim", "optimizer", "optimizers", "optimizer_state", "optimizer_state_dict"})
#: calls that offload a model with hooks around ``forward`` (accelerate, diffusers)
OFFLOAD_CALLS = (
    "apply_group_offloading", "attach_align_device_hook", "cpu_offload", "cpu_offload_with_hook", "dispatch_model",
    "enable_group_offload", "enable_model_cpu_offload", "enable_sequential_cpu_offload",
)
MOVE_ASSUMPTION = "assumes the module is moved to its inputs' device (model.to(device)), so the buffer is already there."


@dataclass
class _Attribute:
    """A ``self.<name>`` assigned in ``__init__``: its assignments and what it holds."""

    name: str
    assigns: list[cst.Assign | cst.AnnAssign] = field(default_factory=list)
    #: the tensor passed to nn.Parameter(t, requires_grad=False), for the parameter row
    frozen: cst.BaseExpression | None = None
    problem: str | None = None

class RegisterBuffer(Rule):
    CODE = "TF003"
    SLUG = "register-buffer"
    IDIOM = "register_buffer"
    SUMMARY = "Register constant tensors of an nn.Module as buffers, so they move with the module."
    FIX_SAFETY = "safe/unsafe"
    IMPORT_CONVENTIONS = TORCH_CONVENTIONS
    DOCS = """\
## Why
A tensor stored as a plain attribute (`self.mask = torch.tril(...)`) does not
follow `model.to(device)`, `.cuda()` or `.half()`, and is invisible to
`buffers()`; code then moves it on every call (`self.mask.to(x.device)`).
`self.register_buffer("mask", ..., persistent=False)` makes it part of the
module's state while keeping `state_dict()` unchanged.

## Fix safety
Audit against the contract (same values, dtype, device and `state_dict()` for every
input, under `.to(dtype)`, `.to(device)`, `.train()`, `.eval()`): a non-persistent
buffer keeps `state_dict()` keys, values and `.train()`/`.eval()` behaviour, and
follows `.to(device)` (the point of the fix). Under `.to(dtype)`/`.half()` a
floating-point buffer is cast with the module where the plain attribute stayed
float32 (`x * self.scale` turns bf16), so:

- safe: integer and boolean constants the code shows as such (`dtype=torch.long`
  or `torch.bool`, `randint`, `LongTensor`, `.long()`/`.bool()`, a comparison,
  integer literals such as `torch.tensor([0, 1])` or `torch.arange(10)`, and
  shape operations of those); a module cast leaves them alone;
- unsafe: every other constant, with the assumption stated: the module is never
  cast, or casting the constant with it is intended.

Every assignment of the attribute in `__init__` becomes a `register_buffer` call
(so a tensor in one branch and `None` in another, or `torch.tensor(v) if c else
None`, stay consistent). With `buffer-persistent = true` in the config the buffer
is persistent: unsafe, it adds a `state_dict()` key that older checkpoints lack.

Never fixed (reported with the reason): a tensor the class keeps on the CPU on
purpose, shown by `device="cpu"`/`.cpu()`/`.numpy()` on it, by a sibling
attribute built with `.cpu()` in `__init__`, or by its use from a method a
DataLoader runs on CPU batches (passed as `collate_fn=`/`sampler=` anywhere in
the project, or named `collate*`/`sample_*`, or a method those call as
`self.<helper>(...)`): as a buffer it would follow `.to("cuda")` and the next CPU
operation would mix devices. Also never fixed: a class that a transformers
`PreTrainedModel` is or builds (it derives from one, or a file that calls the
class defines one): transformers >= 5 builds the model on the meta device and
refills every non-persistent buffer, and every key a checkpoint lacks, with
`torch.empty_like` unless `_init_weights` sets it, so the new buffer would hold
garbage; and a tensor built from another attribute that stays plain
(`self.bbox = torch.stack([self.lo, self.hi])`), which would end up on another
device than its source.

Second step, a separate unsafe finding: `self.<buffer>.to(x.device)`,
`.to(device)` and `.cuda()` in the class's methods become `self.<buffer>`, on
the assumption that the module is moved to its inputs' device (a module
without parameters may be called with inputs on another device). Not fixed, with
the reason, when the move sits in a method that `forward` does not reach (other
code calls it directly) and the project offloads models (`cpu_offload`,
`enable_model_cpu_offload`, `dispatch_model`, group offloading...): those hooks
bring a module's tensors to the execution device only around `forward`.

`nn.Parameter(t, requires_grad=False)` used as a constant: reported; the fix
(`register_buffer` with the default `persistent=True`, same `state_dict()`
key) is unsafe, because the tensor leaves `parameters()`: an optimizer resumed
from a checkpoint saved before fails ("parameter group doesn't match the
size"), and accelerate's offload and device-map choices, keyed on
`_parameters`, change. The message names both. A class's frozen parameters
convert all or none: when one cannot (it is filled later with `.data.copy_`,
or written in a form the fix does not read, such as
`nn.Parameter(t, requires_grad=False) if bias else None`), none is fixed. A
frozen parameter created uninitialized (`torch.empty`, `new_empty`, also through
a local) is a weight slot that checkpoints or a quantizer fill (packed int8
weights), not a constant, and is never fixed; nor is one whose name appears in a
string anywhere in the project (`module._parameters["w"]`, `get_parameter`,
quantization or dtype plans find it by name and expect a parameter), nor one of
a project that loads optimizer state back from its checkpoints (an `"opt"` or
`"optimizer"` key next to `load_state_dict`: the optimizer saved before no
longer matches the parameters), nor one of
a transformers `PreTrainedModel` tree, whose `from_pretrained` re-creates each
loaded floating-point parameter with `requires_grad=True` (it trains after
loading; a buffer would not).

Skipped, with every reason that applies in the finding (numbered when there are several): an attribute assigned a non-tensor
anywhere (a buffer only accepts tensors or None; a tensor in one branch and a
float in another), reassigned or deleted in another method, a subclass or
outside the class, assigned by unpacking, shared in `__init__` with another
attribute or object (`self.y = self.x`, `Sub(self.x)`: the buffer would move and
the alias would not), a name the class itself defines, a tensor created on the
CPU on purpose (`device="cpu"`, `.cpu()`, used with `.numpy()`), a tensor that
requires grad, and a frozen `nn.Parameter` that is filled or changed later
(`.data.copy_`). Classes that are not `nn.Module` subclasses have no
`register_buffer` and are not reported.

## What could go wrong
- `model.half()` / `model.to(torch.bfloat16)` now also casts a floating
  buffer, where the plain attribute stayed float32 (why those fixes are unsafe).
- `buffers()` grows: DDP broadcasts buffers from rank 0 (`broadcast_buffers`),
  so a per-rank random constant becomes rank 0's.
- A tensor kept on the CPU on purpose but not recognisably so (CPU-side
  sampling) moves to the GPU with the module.

## Verify
`torchfix verify` builds the module before and after, loads the old
`state_dict()` with `strict=True` and compares outputs and gradients.
"""
    ROWS = {
        "buffer": "self.name = <tensor> in __init__ -> self.register_buffer(\"name\", <tensor>, persistent=False)",
        "persistent": "with buffer-persistent = true -> a persistent buffer (unsafe: new state_dict key)",
        "to-device": "self.<buffer>.to(x.device) / .to(device) / .cuda() -> self.<buffer> (unsafe)",
        "parameter": "nn.Parameter(t, requires_grad=False) used as a constant -> register_buffer (unsafe)",
        "skip": "a constant tensor attribute that cannot be a buffer: reported with the reason, no fix",
    }
    EXAMPLES = tf003.EXAMPLES
    VALID = tf003.VALID

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        if not may_be_module_class(node, self.names):
            return
        init = method(node, "__init__")
        self_ = self_name(init) if init is not None else None
        if init is None or self_ is None:
            return
        registered = _registered(init, self_)
        attributes = [a for a in self._attributes(init, self_) if a.name not in registered]
        if not attributes and not registered:
            return
        index = file_index(self.context)
        if not index.is_module_class(node):
            return
        _ClassBuffers(self, index, node, init, self_).run(attributes, registered)

    # -- what __init__ assigns --------------------------------------------------

    def _attributes(self, init: cst.FunctionDef, self_: str) -> list[_Attribute]:
        """Attributes ``__init__`` assigns a tensor (or a frozen parameter), in source order."""
        assigns = _self_assignments(init, self_)
        tensors = self._tensor_locals(init)
        by_name: dict[str, _Attribute] = {}
        for assign in assigns:
            name = assign.target.attr.value if isinstance(assign, cst.AnnAssign) else assign.targets[0].target.attr.value
            by_name.setdefault(name, _Attribute(name)).assigns.append(assign)
        # Attributes built from other tensor attributes (`self.v = self.w * 2`) count once those do.
        found: set[str] = set()
        while True:
            known = tensors | {f"{self_}.{name}" for name in found}
            new = {
                attribute.name
                for attribute in by_name.values()
                if attribute.name not in found and self._holds_tensor(attribute, known)
            }
            if not new:
                break
            found |= new
        result = [a for a in by_name.values() if a.name in found]
        for attribute in result:
            values = [a.value for a in attribute.assigns]
            if self._frozen_parameter(values[0]) is not None and len(values) == 1:
                attribute.frozen = self._frozen_parameter(values[0])
                if not self.is_tensor(attribute.frozen, known):
                    # nn.Parameter detaches its data; a buffer would keep an autograd history.
                    attribute.problem = f"`{_short(code(attribute.frozen))}` is not a tensor built here"
                continue
            own = known | {f"{self_}.{attribute.name}"}
            odd = next((v for v in values if not self.is_tensor(v, own) and not _is_none(v)), None)
            alias = next((v for v in values if self_attribute(v, self_) not in (None, attribute.name)), None)
            if odd is not None:
                attribute.problem = f"it is also assigned a non-tensor (`{code(odd)}`)"
            elif alias is not None:
                attribute.problem = f"it is the same tensor as `{code(alias)}`"
        return result

    def _holds_tensor(self, attribute: _Attribute, tensors: set[str]) -> bool:
        values = [a.value for a in attribute.assigns]
        if len(values) == 1 and self._frozen_parameter(values[0]) is not None:
            return True
        return any(self.is_tensor(v, tensors) for v in values)

    def _frozen_parameter(self, value: cst.BaseExpression) -> cst.BaseExpression | None:
        """``t`` of ``nn.Parameter(t, requires_grad=False)``."""
        if not isinstance(value, cst.Call) or self.names.qualified(value.func) not in PARAMETER:
            return None
        data, grad = arg(value, "data", 0), arg(value, "requires_grad", 1)
        if data is None or grad is None or not is_false(grad.value) or len(value.args) != 2:
            return None
        return data.value

    def _tensor_locals(self, init: cst.FunctionDef) -> set[str]:
        """Local names that ``__init__`` only ever binds to tensor expressions."""
        bindings = _TensorBindings(self)
        walk(init.body, [bindings])
        return bindings.tensors

    def is_tensor(self, node: cst.BaseExpression, tensors: set[str]) -> bool:
        """Whether ``node`` is built by torch constructors (and operations on them, and ``tensors``)."""
        if isinstance(node, cst.Name):
            return node.value in tensors
        if isinstance(node, cst.Attribute):
            if code(node) in tensors:
                return True
            return node.attr.value in ("T", "mT", "data") and self.is_tensor(node.value, tensors)
        if isinstance(node, cst.Subscript):
            return self.is_tensor(node.value, tensors)
        if isinstance(node, cst.UnaryOperation):
            return not isinstance(node.operator, cst.Not) and self.is_tensor(node.expression, tensors)
        if isinstance(node, cst.BinaryOperation):
            return self.is_tensor(node.left, tensors) or self.is_tensor(node.right, tensors)
        if isinstance(node, cst.Comparison):
            return self.is_tensor(node.left, tensors)
        if isinstance(node, cst.Call):
            return self._tensor_call(node, tensors)
        if isinstance(node, cst.IfExp):
            # `torch.tensor(v) if c else None`: a buffer may be None
            branches = (node.body, node.orelse)
            return any(self.is_tensor(b, tensors) for b in branches) and all(
                self.is_tensor(b, tensors) or _is_none(b) for b in branches
            )
        return False

    def _tensor_call(self, node: cst.Call, tensors: set[str]) -> bool:
        qualified = self.names.qualified(node.func) or ""
        name = qualified[len("torch."):] if qualified.startswith("torch.") else None
        if name in CONSTRUCTORS:
            return True
        if name in TENSOR_FUNCTIONS:
            values = [a.value for a in node.args if a.keyword is None]
            items = [e.value for v in values if isinstance(v, (cst.List, cst.Tuple)) for e in v.elements]
            return any(self.is_tensor(v, tensors) for v in values + items)
        func = node.func
        return (
            not qualified
            and isinstance(func, cst.Attribute)
            and func.attr.value in TENSOR_METHODS
            and self.is_tensor(func.value, tensors)
        )


class _TensorBindings(cst.CSTVisitor):
    """The local names a function only ever binds to tensor expressions (a class of its own, not
    one per call: a class made in a method would keep the rule, and the file's tree, in a cycle)."""

    def __init__(self, rule: RegisterBuffer) -> None:
        super().__init__()
        self.rule = rule
        self.tensors: set[str] = set()
        self.spoiled: set[str] = set()

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                name = target.target.value
                if self.rule.is_tensor(node.value, self.tensors) and name not in self.spoiled:
                    self.tensors.add(name)
                else:
                    self._spoil(target.target)
            elif isinstance(target.target, (cst.Tuple, cst.List)):
                for element in target.target.elements:
                    if isinstance(element.value, cst.Name):
                        self._spoil(element.value)

    def _spoil(self, target: cst.CSTNode) -> None:
        for name in _bound_names(target):
            self.spoiled.add(name)
            self.tensors.discard(name)

    def visit_For(self, node: cst.For) -> None:
        self._spoil(node.target)

    def visit_AsName(self, node: cst.AsName) -> None:
        self._spoil(node.name)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._spoil(node.target)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False


def _calls_in(node: cst.CSTNode) -> list[cst.Call]:
    found: list[cst.Call] = []

    class _Find(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            found.append(call)

    walk(node, [_Find()])
    return found


def _self_reads(node: cst.CSTNode, self_: str) -> set[str]:
    """The ``self.<name>`` attributes an expression reads."""
    found: set[str] = set()

    class _Find(cst.CSTVisitor):
        def visit_Attribute(self, attribute: cst.Attribute) -> None:
            name = self_attribute(attribute, self_)
            if name is not None:
                found.add(name)

    walk(node, [_Find()])
    return found


#: constructors whose values are uninitialized memory
_UNINITIALIZED = frozenset({"torch.empty", "torch.empty_like", "torch.empty_strided"})


def _uninitialized(node: cst.BaseExpression, names) -> bool:
    """``torch.empty(...)`` / ``x.new_empty(...)``: memory that something fills later."""
    if not isinstance(node, cst.Call):
        return False
    if names.qualified(node.func) in _UNINITIALIZED:
        return True
    return isinstance(node.func, cst.Attribute) and node.func.attr.value == "new_empty"


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _bound_names(target: cst.CSTNode) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for e in target.elements for n in _bound_names(e.value)]
    return []


def _self_assignments(init: cst.FunctionDef, self_: str) -> list[cst.Assign | cst.AnnAssign]:
    """``self.<name> = value`` (one target) and ``self.<name>: T = value`` in ``__init__``."""
    found: list[cst.Assign | cst.AnnAssign] = []

    class _Collect(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if len(node.targets) == 1 and self_attribute(node.targets[0].target, self_) is not None:
                found.append(node)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            if node.value is not None and self_attribute(node.target, self_) is not None:
                found.append(node)

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            return False

    walk(init.body, [_Collect()])
    return found


def _registered(init: cst.FunctionDef, self_: str) -> list[str]:
    """Names ``__init__`` registers with ``self.register_buffer("name", ...)``."""
    found: list[str] = []

    class _Collect(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            if self_attribute(node.func, self_) != "register_buffer":
                return
            name = arg(node, "name", 0)
            if name is not None and isinstance(name.value, cst.SimpleString):
                found.append(name.value.evaluated_value)

    walk(init.body, [_Collect()])
    return found


def _store_kind(index: FileIndex, node: cst.Attribute) -> str | None:
    """"deleted" or "reassigned" when ``node`` is written, else None."""
    parent = index.parent.get(node)
    while isinstance(parent, (cst.Element, cst.StarredElement, cst.Tuple, cst.List)):
        node, parent = parent, index.parent.get(parent)
    if isinstance(parent, cst.Del):
        return "deleted"
    if isinstance(parent, cst.AssignTarget) or (
        isinstance(parent, (cst.AugAssign, cst.AnnAssign, cst.For, cst.NamedExpr)) and parent.target is node
    ):
        return "reassigned"
    if isinstance(parent, cst.AsName) and parent.name is node:
        return "reassigned"
    return None


def _pins_cpu(call: cst.Call, names) -> bool:
    """``t.cpu()``, ``t.numpy()``, ``t.to("cpu")``, ``device="cpu"``: this call keeps a tensor on the CPU."""
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value in ("cpu", "numpy") and not call.args:
        return True
    if isinstance(func, cst.Attribute) and func.attr.value == "to" and call.args:
        return _is_cpu(call.args[0].value, names)
    device = arg(call, "device")
    return device is not None and _is_cpu(device.value, names)


def _cpu_code(node: cst.CSTNode, names) -> str | None:
    """The first call in ``node`` that keeps a tensor on the CPU on purpose."""
    found: list[str] = []

    class _Find(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            if _pins_cpu(call, names):
                found.append(code(call))

    walk(node, [_Find()])
    return found[0] if found else None


def _is_cpu(node: cst.BaseExpression, names) -> bool:
    if isinstance(node, cst.SimpleString):
        return node.evaluated_value == "cpu"
    if isinstance(node, cst.Call) and names.qualified(node.func) == "torch.device" and node.args:
        return _is_cpu(node.args[0].value, names)
    return False


class _ClassBuffers:
    """The findings of one nn.Module class."""

    def __init__(self, rule: RegisterBuffer, index: FileIndex, cls: cst.ClassDef, init: cst.FunctionDef, self_: str):
        self.rule = rule
        self.names = rule.names
        self.index = index
        self.cls = cls
        self.init = init
        self.self_ = self_
        #: method name -> the DataLoader argument it is passed as, anywhere in the project (read once)
        self._passed: dict[str, str] | None = None
        #: the methods ``forward`` reaches (read once)
        self._reached: set[str] | None = None

    def run(self, attributes: list[_Attribute], registered: list[str]) -> None:
        buffers = [name for name in registered if self._writes(name) is None]
        reasons = {a.name: ([a.problem] if a.problem else []) + self._reasons(a) for a in attributes}
        self._all_or_none(attributes, reasons)
        for attribute in attributes:
            if reasons[attribute.name]:
                what = (
                    "is a frozen nn.Parameter used as a constant"
                    if attribute.frozen is not None
                    else "holds a constant tensor that could be a buffer"
                )
                message = f"`self.{attribute.name}` {what}; {no_fix(reasons[attribute.name])}."
                self.rule.report(attribute.assigns[0], message)
            else:
                self._fix(attribute)
                buffers.append(attribute.name)
        for name in dict.fromkeys(buffers):
            self._moves(name)

    def _all_or_none(self, attributes: list[_Attribute], reasons: dict[str, list[str]]) -> None:
        """Constants that belong together convert together.

        Frozen parameters move all or none: a class with some in ``parameters()`` and some in
        ``buffers()`` splits what optimizers, offloading and quantizers see of it (a frozen
        ``nn.Parameter`` the fix does not read, such as ``nn.Parameter(t, requires_grad=False) if
        bias else None``, counts as one that stays). A tensor built from another attribute that
        stays plain (``self.bbox = torch.stack([self.lo, self.hi])``) stays plain too: after
        ``model.to("cuda")`` the two would be on different devices."""
        frozen = [a for a in attributes if a.frozen is not None]
        names = {a.name for a in frozen}
        other = next((n for n in self._frozen_parameters() if n not in names), None)
        stuck = next((a for a in frozen if reasons[a.name]), None)
        why = "; ".join(reasons[stuck.name]) if stuck is not None else ""
        for attribute in frozen:
            if reasons[attribute.name]:
                continue
            if other is not None:
                reasons[attribute.name].append(
                    f"the class's frozen nn.Parameter `self.{other}` is written in a form the fix does not "
                    "convert, and a class's frozen parameters convert all or none"
                )
            elif stuck is not None:
                reasons[attribute.name].append(
                    f"the class's other frozen nn.Parameter `self.{stuck.name}` cannot be converted ({why}), "
                    "and they convert all or none"
                )
        plain = {a.name for a in attributes if reasons[a.name]}
        changed = True
        while changed:
            changed = False
            for attribute in attributes:
                if reasons[attribute.name] or attribute.frozen is not None:
                    continue
                read = sorted(plain & {n for a in attribute.assigns for n in _self_reads(a.value, self.self_)})
                if read:
                    reasons[attribute.name].append(
                        f"it is built from `self.{read[0]}`, which stays a plain attribute: after `.to(device)` "
                        "the two would be on different devices"
                    )
                    plain.add(attribute.name)
                    changed = True

    def _frozen_parameters(self) -> list[str]:
        """Every ``self.<name>`` that ``__init__`` assigns a value holding ``nn.Parameter(...,
        requires_grad=False)``, in any form (a conditional expression, a branch)."""
        found = []
        for assign in _self_assignments(self.init, self.self_):
            target = assign.target if isinstance(assign, cst.AnnAssign) else assign.targets[0].target
            calls = [
                c for c in _calls_in(assign.value)
                if self.names.qualified(c.func) in PARAMETER
                and (grad := arg(c, "requires_grad", 1)) is not None and is_false(grad.value)
            ]
            if calls and target.attr.value not in found:
                found.append(target.attr.value)
        return found

    def _writes(self, name: str, converted: list[cst.CSTNode] | None = None) -> str | None:
        """Why the attribute is written where a buffer could break: another method, outside the class,
        or (given the ``converted`` assignments) another kind of store in ``__init__``."""
        for use in self.index.self_uses(self.cls, name):
            kind = _store_kind(self.index, use.node)
            if kind == "deleted":
                return f"it is deleted in `{use.method.name.value}`"
            if kind is not None and use.method is not self.init:
                return f"it is {kind} in `{use.method.name.value}`"
            if kind is None or converted is None:
                continue
            parent = self.index.parent[use.node]
            owner = parent if isinstance(parent, (cst.AnnAssign, cst.AugAssign)) else self.index.parent.get(parent)
            if not isinstance(parent, cst.AugAssign) and all(owner is not a for a in converted):
                # `self.a, self.b = ...` before register_buffer("a") makes it raise.
                return f"`__init__` also assigns it another way (`{_short(code(owner))}`)"
        for use in self.index.foreign_uses(self.cls, name):
            kind = _store_kind(self.index, use.node)
            if kind is not None:
                return f"it is {kind} outside the class (`{code(use.node)}`)"
        return None

    def _reasons(self, attribute: _Attribute) -> list[str]:
        """Every reason the attribute cannot be a buffer (one per kind of evidence)."""
        name = attribute.name
        reasons = []
        if name in _MODULE_ATTRIBUTES or any(
            name in class_names_in_body(c)
            for classes in self.index.classes.values()
            for c in classes
            if self.index.related(self.cls, c)
        ):
            reasons.append(f"the class already has an attribute `{name}` (register_buffer refuses it)")
        written = self._writes(name, attribute.assigns)
        if written is not None:
            reasons.append(written)
        kept = self._kept_on_cpu(name)
        if kept is not None:
            reasons.append(kept)
        if any(_requires_grad(assign.value) for assign in attribute.assigns):
            reasons.append("it requires grad (a parameter, not a constant)")
        pinned = next(filter(None, (_cpu_code(a.value, self.names) for a in attribute.assigns)), None)
        if pinned is not None:
            reasons.append(f"it is kept on the CPU on purpose (`{pinned}`)")
        if attribute.frozen is not None:
            empty = self._uninitialized(attribute.frozen)
            if empty is not None:
                reasons.append(
                    f"it is created uninitialized (`{_short(empty)}`): a weight slot that checkpoints or a "
                    "quantizer fill, not a constant"
                )
            named = self._named_elsewhere(name)
            if named is not None:
                reasons.append(named)
            resumed = self._resumes_optimizer()
            if resumed is not None:
                reasons.append(resumed)
        tree = self._pretrained_tree(frozen=attribute.frozen is not None)
        if tree is not None:
            reasons.append(tree)
        return reasons + self._use_reasons(attribute)

    def _uninitialized(self, data: cst.BaseExpression) -> str | None:
        """The ``torch.empty(...)`` a frozen parameter holds, directly or through a local of ``__init__``."""
        values = [data]
        if isinstance(data, cst.Name):
            values = [
                a.value for a in nodes_of(self.init.body, cst.Assign)
                if any(is_name(t.target, data.value) for t in a.targets)
            ]
        return next((code(v) for v in values if _uninitialized(v, self.names)), None)

    def _named_elsewhere(self, name: str) -> str | None:
        """A frozen parameter that code finds by name (``module._parameters["w"]``, ``get_parameter``,
        quantizer and dtype plans, key maps): that code expects a parameter, not a buffer."""
        index, own = index_for(self.rule.context)
        files = index.files_with_string(name, besides="")
        if not files:
            return None
        shown = ", ".join("this file" if f == own else f"`{f}`" for f in files[:2])
        more = f" and {len(files) - 2} more" if len(files) > 2 else ""
        return (
            f"the name '{name}' appears in a string in {shown}{more}: code that finds it by name "
            "(`_parameters[...]`, `get_parameter`, quantization or dtype plans) expects a parameter"
        )

    def _use_reasons(self, attribute: _Attribute) -> list[str]:
        """Why the attribute's uses in the class rule a buffer out (the first of each kind)."""
        found: dict[str, str] = {}
        for use in self.index.self_uses(self.cls, attribute.name):
            parent = self.index.parent.get(use.node)
            call = self.index.parent.get(parent)
            if isinstance(call, cst.Call) and call.func is parent and _pins_cpu(call, self.names):
                found.setdefault("cpu", f"it is used on the CPU on purpose (`{code(call)}`)")
            if use.method is self.init and _stored(use.node, parent):
                # `self.y = self.x`: after model.to(), the buffer moves and the alias does not.
                holder = parent
                while isinstance(holder, (cst.Arg, cst.Element, cst.DictElement)):
                    holder = self.index.parent[holder]
                found.setdefault("shared", f"`__init__` shares it (`{_short(code(holder))}`)")
            if attribute.frozen is not None:
                changed = self._changed(use.node)
                if changed is not None:
                    found.setdefault("changed", f"it is filled or changed later (`{changed}`)")
        return list(found.values())

    def _resumes_optimizer(self) -> str | None:
        """A project whose checkpoints hold optimizer state that it loads back (``data["opt"]`` next to
        ``load_state_dict``): the frozen parameter leaves ``parameters()``, so the optimizer saved
        before the fix no longer matches its param groups and resuming fails."""
        index, own = index_for(self.rule.context)
        for file in sorted(index.files):
            facts = index.files[file]
            keys = sorted(facts.string_names & OPTIMIZER_KEYS)
            if keys and "load_state_dict" in facts.called:
                where = "this file" if file == own else f"`{file}`"
                return (
                    f"{where} loads optimizer state back from checkpoints ('{keys[0]}'): an optimizer saved "
                    "before the fix no longer matches the parameters, so resuming fails"
                )
        return None

    def _pretrained_tree(self, frozen: bool) -> str | None:
        """A class that transformers' ``from_pretrained`` builds on the meta device. It then refills
        every non-persistent buffer (and every key a checkpoint lacks) with uninitialized memory, which
        only ``_init_weights`` sets again, and re-creates every loaded floating-point parameter with
        ``requires_grad=True``: a "frozen" parameter trains after loading, a buffer would not."""
        index, own = index_for(self.rule.context)
        found = pretrained_user(index, own, self.cls.name.value)
        if found is None:
            return None
        if frozen:
            return (
                f"{found}: from_pretrained re-creates each loaded floating-point parameter with "
                "`requires_grad=True`, so after loading it trains, where a buffer would not"
            )
        return (
            f"{found}: from_pretrained builds it on the meta device and refills a new buffer with "
            "uninitialized memory (`torch.empty_like`) unless `_init_weights` sets it"
        )

    def _kept_on_cpu(self, name: str) -> str | None:
        """Signs that the class keeps its tensors on the CPU on purpose: a sibling attribute built
        with ``.cpu()``/``device="cpu"`` in ``__init__``, or this one used from a DataLoader
        ``collate_fn``/sampler method (CPU batches). A buffer would follow ``.to("cuda")``."""
        for assign in _self_assignments(self.init, self.self_):
            target = assign.target if isinstance(assign, cst.AnnAssign) else assign.targets[0].target
            pinned = _cpu_code(assign.value, self.names) if assign.value is not None else None
            if pinned is not None and target.attr.value != name:
                return f"a sibling attribute is kept on the CPU on purpose (`{_short(pinned)}`), so this one may be too"
        loaders = self._loader_methods()
        for use in self.index.self_uses(self.cls, name):
            if use.method is not None and use.method.name.value in loaders:
                return f"it is used from `{use.method.name.value}`, {loaders[use.method.name.value]} on CPU batches"
        return None

    def _loader_methods(self) -> dict[str, str]:
        """Methods of the class that a DataLoader runs, and what says so: passed as
        ``collate_fn=``/``sampler=`` anywhere in the project (:mod:`torchfix.package_index`), named
        for it (``collate``, ``sample_indices``), or called as ``self.<method>(...)`` from one of
        those (a ``collate_fn`` that draws its walks with helper methods)."""
        methods = {f.name.value for f in self.cls.body.body if isinstance(f, cst.FunctionDef)}
        direct = {name: "collate_fn" for name in methods if "collate" in name}
        direct.update({name: "sampler" for name in methods if "sampler" in name or name.startswith("sample_")})
        if self._passed is None:
            index, _ = index_for(self.rule.context)
            self._passed = {name: kind for name, (kind, _) in index.loader_callables().items()}
        direct.update({name: kind for name, kind in self._passed.items() if name in methods})
        found = {name: f"a DataLoader {kind}" for name, kind in direct.items()}
        #: method -> the DataLoader method it is reached from
        roots = {name: name for name in direct}
        todo = sorted(direct)
        while todo:
            caller = todo.pop(0)
            for callee in sorted(methods - set(found)):
                if caller in self._callers(callee):
                    roots[callee] = roots[caller]
                    found[callee] = f"which the DataLoader {direct[roots[caller]]} `{roots[caller]}` calls"
                    todo.append(callee)
        return found

    def _callers(self, method_: str) -> set[str]:
        """The methods of the class that call ``self.<method_>(...)``."""
        callers = set()
        for use in self.index.self_uses(self.cls, method_):
            call = self.index.parent.get(use.node)
            if use.method is not None and isinstance(call, cst.Call) and call.func is use.node:
                callers.add(use.method.name.value)
        return callers

    def _changed(self, node: cst.Attribute) -> str | None:
        """The code that changes a frozen parameter in place (``.data.copy_``, ``.requires_grad``)."""
        current: cst.CSTNode = node
        parent = self.index.parent.get(current)
        while isinstance(parent, cst.Attribute) and parent.value is current:
            attr = parent.attr.value
            if attr == "requires_grad" or (attr.endswith("_") and not attr.startswith("_")):
                return code(parent)
            current, parent = parent, self.index.parent.get(parent)
        if isinstance(parent, cst.Subscript) and _store_kind(self.index, parent) is not None:
            return code(parent)
        if isinstance(parent, cst.Arg):
            call = self.index.parent.get(parent)
            func = call.func if isinstance(call, cst.Call) else None
            name = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", "")
            if isinstance(name, str) and name.endswith("_"):
                return code(call)
        return None

    # -- fixes -------------------------------------------------------------------

    def _fix(self, attribute: _Attribute) -> None:
        name = attribute.name
        register = cst.Attribute(cst.Name(self.self_), cst.Name("register_buffer"))
        label = cst.SimpleString(f'"{name}"')
        if attribute.frozen is not None:
            call = make_call(register, [label, attribute.frozen])
            fix = Fix(UNSAFE, {attribute.assigns[0]: cst.Expr(call)}, assumption=PARAMETER_ASSUMPTION)
            message = (
                f"`self.{name}` is a frozen nn.Parameter used as a constant: register it as a buffer "
                "(it leaves parameters(): an optimizer resumed from an old checkpoint fails, accelerate offloads it differently)."
            )
            self.rule.report(attribute.assigns[0], message, fix)
            return
        persistent = bool(self.rule.context.settings.get("buffer_persistent"))
        keywords = [] if persistent else [("persistent", cst.Name("False"))]
        edits = {a: cst.Expr(make_call(register, [label, a.value], keywords)) for a in attribute.assigns}
        integral = all(_is_none(a.value) or is_integral(a.value, self.names) for a in attribute.assigns)
        assumptions = ([] if integral else [FLOAT_ASSUMPTION]) + ([BUFFER_ASSUMPTION] if persistent else [])
        fix = Fix(UNSAFE, edits, assumption=" It also ".join(assumptions)) if assumptions else Fix(SAFE, edits)
        message = f"`self.{name}` holds a constant tensor: register it as a buffer so it moves with the module."
        self.rule.report(attribute.assigns[0], message, fix)

    def _moves(self, name: str) -> None:
        """The second step: ``self.<buffer>.to(x.device)`` / ``.cuda()`` in the methods -> ``self.<buffer>``
        (also through indexing: ``self.pe[:, :n].to(x.device)``)."""
        for use in self.index.self_uses(self.cls, name):
            if use.method is self.init:
                continue
            moved: cst.BaseExpression = use.node
            parent = self.index.parent.get(moved)
            while isinstance(parent, cst.Subscript) and parent.value is moved:
                moved, parent = parent, self.index.parent.get(parent)
            call = self.index.parent.get(parent)
            if not (isinstance(parent, cst.Attribute) and isinstance(call, cst.Call) and call.func is parent):
                continue
            if not _is_move(parent.attr.value, call):
                continue
            offloaded = self._offloaded(use.method)
            if offloaded is not None:
                message = f"`self.{name}` is a buffer and moves with the module; no fix for this `.{parent.attr.value}()`: {offloaded}."
                self.rule.report(call, message)
                continue
            message = f"`self.{name}` is a buffer and moves with the module: this `.{parent.attr.value}()` is redundant."
            replacement = moved.with_changes(lpar=call.lpar, rpar=call.rpar)
            self.rule.report(call, message, Fix(UNSAFE, {call: replacement}, assumption=MOVE_ASSUMPTION))

    def _offloaded(self, method_: cst.FunctionDef | None) -> str | None:
        """Why the move may be needed: the method is not reached from ``forward`` (other code calls it
        directly) and the project offloads models with accelerate-style hooks, which bring a module's
        tensors to the execution device only around ``forward``."""
        if method_ is None or method_.name.value in self._forward_methods():
            return None
        index, own = index_for(self.rule.context)
        calls = index.files_calling(*OFFLOAD_CALLS)
        if not calls:
            return None
        file, call = calls[0]
        where = "this file" if file == own else f"`{file}`"
        return (
            f"`{method_.name.value}` is not reached from `forward`, and the project offloads models (`{call}` in "
            f"{where}), whose hooks bring the module's tensors to the device only around `forward`"
        )

    def _forward_methods(self) -> set[str]:
        """``forward`` and the methods it calls as ``self.<method>(...)``, transitively."""
        if self._reached is None:
            methods = {f.name.value for f in self.cls.body.body if isinstance(f, cst.FunctionDef)}
            self._reached = {"forward"}
            todo = ["forward"]
            while todo:
                caller = todo.pop()
                for callee in sorted(methods - self._reached):
                    if caller in self._callers(callee):
                        self._reached.add(callee)
                        todo.append(callee)
        return self._reached


def _is_move(method_: str, call: cst.Call) -> bool:
    """``.cuda()``, ``.to(x.device)``, ``.to(device)``, ``.to(device=...)``: a pure device move."""
    if method_ == "cuda":
        return not call.args
    if method_ != "to" or len(call.args) != 1 or call.args[0].star:
        return False
    only = call.args[0]
    if only.keyword is not None:
        return only.keyword.value == "device"
    value = only.value
    if isinstance(value, cst.Attribute):
        return value.attr.value == "device"
    return isinstance(value, cst.Name) and value.value.endswith("device")


def _short(text: str, limit: int = 60) -> str:
    """One line of at most ``limit`` characters, for a message."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _stored(node: cst.CSTNode, parent: cst.CSTNode | None) -> bool:
    """Whether ``node`` itself (not a value computed from it) is kept by ``parent``."""
    if isinstance(parent, (cst.Assign, cst.AnnAssign, cst.NamedExpr)):
        return parent.value is node
    return isinstance(parent, (cst.Arg, cst.Element, cst.DictElement, cst.Return))


def _requires_grad(node: cst.CSTNode) -> bool:
    found: list[bool] = []

    class _Find(cst.CSTVisitor):
        def visit_Arg(self, argument: cst.Arg) -> None:
            if argument.keyword is not None and argument.keyword.value == "requires_grad" and not is_false(argument.value):
                found.append(True)

        def visit_Call(self, call: cst.Call) -> None:
            if isinstance(call.func, cst.Attribute) and call.func.attr.value == "requires_grad_":
                found.append(True)

    walk(node, [_Find()])
    return bool(found)
