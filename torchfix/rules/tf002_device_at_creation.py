"""TF002 device-at-creation: create tensors where they live, and use the ``*_like`` constructors."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import libcst as cst

from torchfix.patterns import arg, code, int_value, is_false, make_call, same_code
from torchfix.prefilter import (
    EXACT_CONSTRUCTORS,
    INTEGER_DTYPE_NAMES,
    RANDOM_CONSTRUCTORS,
)
from torchfix.rule import Applicability, Fix, Rule
from torchfix.rules._evidence import Evidence
from torchfix.rules._masks import TORCH_DTYPES, method_name, pure, receiver
from torchfix.rules._rewrite import Parents, make_site
from torchfix.rules._torch import TORCH_CONVENTIONS
from torchfix.rules.examples import tf002

SAFE, UNSAFE = Applicability.SAFE, Applicability.UNSAFE

#: constructors whose values do not depend on the device they are computed on
_DETERMINISTIC = frozenset(
    {"zeros", "ones", "empty", "full", "arange", "eye", "tensor", "as_tensor"}
    | {"zeros_like", "ones_like", "empty_like", "full_like"}
)
#: constructors whose values the device can round differently (linspace is computed on the device)
_ROUNDING = frozenset({"linspace", "logspace"})
#: random constructors: another device draws from another random stream
_RANDOM = RANDOM_CONSTRUCTORS
#: constructors whose values are the same in every dtype (0 and 1): a cast may move into them
_EXACT = EXACT_CONSTRUCTORS
_LIKE = {"zeros": "zeros_like", "ones": "ones_like", "empty": "empty_like", "full": "full_like"}
_LIKE.update({"rand": "rand_like", "randn": "randn_like", "randint": "randint_like"})
#: keywords a constructor may carry and still be rewritten (generator=, out=, pin_memory= never)
_KEYWORDS = frozenset(
    {"dtype", "device", "requires_grad", "size", "fill_value", "low", "high", "start", "end", "step"}
    | {"steps", "base", "n", "m", "data", "mean", "std", "input"}
)
#: identifier words that name a device (`device`, `self.dev`, `local_rank`, `gpu_id`)
_DEVICE_WORDS = frozenset({"device", "dev", "rank", "gpu", "cuda"})
#: what the unsafe fixes assume (joined into one sentence by _assumption)
_STREAM = "a different random stream is acceptable (the numbers are drawn on the target device)"
_ROUNDS = "the target device rounds the values as the CPU does (linspace and fractional arange may differ in the last bit)"
_DENSE = "`{}` is a dense tensor (a *_like result keeps a sparse layout)"
_MOVE = "Create the tensor on its device instead of moving it after creation."
#: calls that may sit between a constructor and its move: they keep the values and run on the device instead
_BETWEEN = frozenset(
    {"view", "reshape", "unsqueeze", "squeeze", "flatten", "permute", "transpose", "t", "contiguous", "expand"}
    | {"float", "double", "half", "bfloat16", "long", "int", "short", "bool"}
)
_INTEGER_DTYPES = frozenset(f"torch.{name}" for name in INTEGER_DTYPE_NAMES)


@dataclass(frozen=True)
class _Constructor:
    """A torch factory call: ``name`` (``"zeros"``), the tensor its shape is copied from, its ``*_like`` input."""

    call: cst.Call
    name: str
    shape_of: cst.BaseExpression | None
    like_of: cst.BaseExpression | None

    def keyword(self, name: str) -> cst.BaseExpression | None:
        found = arg(self.call, name)
        return found.value if found is not None and found.keyword is not None else None


class DeviceAtCreation(Rule):
    CODE = "TF002"
    SLUG = "device-at-creation"
    IDIOM = "device= at creation and *_like constructors"
    SUMMARY = "Create tensors on their device (device=, *_like) instead of creating them and then moving them."
    FIX_SAFETY = "safe/unsafe"
    DOCS = """\
## Why
`torch.zeros(shape).to(device)` allocates and fills the tensor on the CPU, then
copies it; `torch.zeros(shape, device=device)` creates it where it is used. And
`torch.zeros(x.shape, dtype=x.dtype, device=x.device)` is `torch.zeros_like(x)`.

## Fix safety
Audit against the contract (same values, dtype, device and `state_dict()` for every input,
under `.to(dtype)`, `.to(device)`, `.train()`, `.eval()`): the rewrite touches no module
state; a deterministic constructor gives the same values, dtype and device whether it is
built on the device or moved there, and `*_like(x)` takes exactly the dtype and device
the spelled-out form named (a sparse `x` would also lend its layout: see below). What
changes values is a random draw on another device (another stream) or a computed range
rounded by another device: those are the unsafe rows.

Safe:
- `torch.zeros(x.shape, dtype=x.dtype, device=x.device)` (also `x.size()`,
  `*x.shape`; `ones`, `empty`, `full`, `rand`, `randn`, `randint`) ->
  `torch.zeros_like(x)` (`full_like(x, v)`, `randint_like(x, low, high)`); an
  explicit other `dtype=` is kept;
- `torch.zeros(x.shape).to(x)` / `.type_as(x)` -> `torch.zeros_like(x)` for
  `zeros`, `ones`, `empty` and `full` with an integer fill;
- a deterministic constructor (`zeros`, `ones`, `empty`, `full`, `arange`,
  `eye`, `tensor`, `as_tensor`, the `*_like` ones) followed by `.to(device)`,
  `.to(device=...)`, `.to(device, dtype)` or `.cuda()` -> `device=` (and
  `dtype=`) in the constructor; `non_blocking=` is dropped (there is no copy left).
  Shape-only calls and casts between the constructor and the move (`.view(-1, 1)`,
  `.unsqueeze(0)`, `.float()`) stay, and run on the device instead; integer data
  (`torch.tensor([0] * n)`, `torch.arange(n)`) moved with an integer dtype gets both keywords;
- no `dtype=`: `torch.zeros(x.size()).to(x.device)` -> `torch.zeros(x.size(), device=x.device)`,
  which keeps the default dtype (never `*_like`, which would take `x`'s dtype:
  `randn_like` of a half-precision `x` draws half-precision noise);
- `torch.zeros_like(x).to(x.device)` -> `torch.zeros_like(x)`.

Unsafe:
- `torch.randn(x.shape).to(x)` -> `torch.randn_like(x)` (another random stream);
  it assumes `x` is floating point, and where the code shows integers or booleans
  (`x = torch.searchsorted(...)`, `argmax`, `nonzero`, `randint`, `.long()`, a
  comparison, `dtype=torch.long`) the finding has no fix: `rand_like` raises there;
- `rand`/`randn`/`randint`/`randperm`/`normal` moved by `.to(...)`: a tensor drawn
  on another device comes from another random stream (CPU draws are sometimes on
  purpose, for reproducibility);
- `linspace`/`logspace`, and `arange` with a fractional argument, moved to another
  device: the device computes the values and may round the last bit differently.

Left alone: `generator=` (the generator's device must match, and `*_like` takes
none), `requires_grad=True` on the constructor (a leaf moved by `.to` is no
longer a leaf), `.to()` with `copy=`/`memory_format=`, `.to(dtype)` alone, a
`.to(t)` whose argument is neither a visible device (a string, an int, `torch.device`,
`x.device`, a name such as `device`, `dev`, `rank`, `gpu_id`) nor the tensor the
shape came from, `torch.from_numpy` (no `device=`), the legacy `torch.FloatTensor`
constructors, partial shapes (`torch.zeros(x.shape[0])` is only a `device=`
candidate), and a cast moved into a constructor whose values depend on the
dtype they are computed in (`tensor`, `arange`, `full` with a fractional fill).

## What could go wrong
`*_like` preserves `x`'s memory format: for a non-contiguous `x` the new tensor
has `x`'s strides (same values and shape; `view` may then need `reshape`), and
`rand_like`/`randn_like` fill it in memory order, so the same random numbers land
in other positions. `*_like` also keeps `x`'s layout and tensor subclass: in a
file that mentions sparse tensors the `*_like` fixes are unsafe (they assume a
dense `x`); a subclass such as a DTensor is not visible in the code.
A tensor whose shape, dtype and device come from an expression with side effects
(`f(x).shape`) is reported without a fix.

## Verify
`torchfix verify` evaluates deterministic fixes on a CPU device and compares them.
"""
    ROWS = {
        "like": "torch.zeros(x.shape, dtype=x.dtype, device=x.device) -> torch.zeros_like(x) (full_like, randn_like, ...)",
        "like-no-dtype": "torch.zeros(x.size()).to(x.device) (no dtype=) -> torch.zeros(x.size(), device=x.device): "
        "keeps the default dtype, never *_like",
        "like-move": "torch.zeros(x.shape).to(x) / .type_as(x) -> torch.zeros_like(x)",
        "device": "torch.zeros(shape).to(device) / .cuda() / torch.tensor(data).to(device) -> device= at creation "
        "(also through shape-only calls and casts: torch.arange(n).view(-1, 1).to(d))",
        "like-redundant": "torch.zeros_like(x).to(x.device) -> torch.zeros_like(x)",
    }
    EXAMPLES = tf002.EXAMPLES
    VALID = tf002.VALID
    IMPORT_CONVENTIONS = TORCH_CONVENTIONS

    @cached_property
    def _evidence(self) -> Evidence:
        return Evidence(self.names, Parents(self.context.module))

    def visit_Call(self, node: cst.Call) -> None:
        method = method_name(node, self.names)
        if method in ("to", "cuda", "type_as"):
            inner = receiver(node)
            while method_name(inner, self.names) in _BETWEEN:
                inner = receiver(inner)  # type: ignore[arg-type]
            made = self._constructor(inner)
            if made is not None:
                self._moved(node, method, made, between=inner is not receiver(node))
            return
        made = self._constructor(node)
        if made is not None and made.name in _LIKE and made.shape_of is not None:
            self._like_by_keywords(node, made)

    # -- recognising constructors ------------------------------------------

    def _constructor(self, node: cst.BaseExpression) -> _Constructor | None:
        if not isinstance(node, cst.Call):
            return None
        qualified = self.names.qualified(node.func) or ""
        name = qualified[len("torch.") :] if qualified.startswith("torch.") else ""
        if name not in _DETERMINISTIC | _ROUNDING | _RANDOM:
            return None
        if any(a.star == "**" for a in node.args):
            return None
        if any(a.keyword is not None and a.keyword.value not in _KEYWORDS for a in node.args):
            return None
        positional = [a for a in node.args if a.keyword is None]
        if name in ("tensor", "as_tensor") and len(positional) > 1:
            return None  # as_tensor(data, dtype, device) given positionally
        if name == "normal" and len(positional) < 3 and arg(node, "size") is None:
            return None  # normal(mean_tensor, std_tensor) follows its arguments' device
        like_of = None
        if name.endswith("_like"):
            source = arg(node, "input", 0)
            like_of = source.value if source is not None and not source.star else None
        return _Constructor(node, name, self._shape_of(node, name, positional), like_of)

    def _shape_of(self, call: cst.Call, name: str, positional: list[cst.Arg]) -> cst.BaseExpression | None:
        """``x`` when the constructor's whole size is ``x.shape``, ``x.size()`` or ``*x.shape``."""
        if name not in _LIKE:
            return None
        size = arg(call, "size")
        if size is None:
            index = {"full": 0, "randint": len(positional) - 1}.get(name, 0)
            if name not in ("full", "randint") and len(positional) != 1:
                return None
            size = positional[index] if 0 <= index < len(positional) else None
        if size is None or (size.star and name in ("full", "randint")):
            return None
        value = size.value
        if isinstance(value, cst.Attribute) and value.attr.value == "shape":
            return value.value
        if method_name(value, self.names) == "size" and not value.args:  # type: ignore[union-attr]
            return receiver(value)  # type: ignore[arg-type]
        return None

    # -- torch.zeros(x.shape, dtype=x.dtype, device=x.device) -------------------

    def _like_by_keywords(self, node: cst.Call, made: _Constructor) -> None:
        source = made.shape_of
        device = made.keyword("device")
        if not _is_device_of(device, source):
            return
        if made.keyword("requires_grad") is not None and not is_false(made.keyword("requires_grad")):
            return
        dtype = made.keyword("dtype")
        if dtype is None:
            return  # already created on its device: *_like would take x's dtype instead of the default one
        same_dtype = isinstance(dtype, cst.Attribute) and dtype.attr.value == "dtype" and same_code(dtype.value, source)
        self._report_like(node, made, [] if same_dtype else [("dtype", dtype)], [])

    def _report_like(self, node: cst.Call, made: _Constructor, keywords, assumptions: list[str]) -> None:
        """Replace ``node`` by ``torch.<name>_like(x, ...)`` (the shape's source ``x``).

        In a file that handles sparse tensors the fix is unsafe: ``*_like``
        keeps ``x``'s layout where the original made a dense tensor.
        """
        source = made.shape_of
        like = _LIKE[made.name]
        if not pure(source, self.names):
            message = f"Use torch.{like}; no fix: `{code(source)}` has side effects and is written more than once."
            self.report(node, message)
            return
        ref = self.names.reference(f"torch.{like}")
        if ref is None:
            return
        requires_grad = made.keyword("requires_grad")
        keywords = [*keywords, *([("requires_grad", requires_grad)] if requires_grad is not None else [])]
        replacement = make_call(ref.expr, [source, *self._like_arguments(made)], keywords)
        replacement = replacement.with_changes(lpar=node.lpar, rpar=node.rpar)
        if any("sparse" in name for name in self.names.used_names):
            assumptions = [*assumptions, _DENSE.format(code(source))]
        checkable = not assumptions and made.name in ("zeros", "ones", "full")
        fix = Fix(
            UNSAFE if assumptions else SAFE,
            {node: replacement},
            imports=ref.imports,
            assumption=_assumption(assumptions),
            site=make_site(node, replacement, [(source, "x", "float(4, 8)")], self.names) if checkable else None,
        )
        self.report(node, f"Use torch.{like} instead of copying `{code(source)}`'s shape, dtype and device.", fix)

    def _like_arguments(self, made: _Constructor) -> list[cst.BaseExpression]:
        """The fill value of ``full``, the bounds of ``randint``, in ``*_like`` order."""
        call, positional = made.call, [a for a in made.call.args if a.keyword is None]
        if made.name == "full":
            fill = arg(call, "fill_value", 1)
            return [fill.value] if fill is not None else []
        if made.name == "randint":
            bounds = [a.value for a in positional[:-1]] if arg(call, "size") is None else [a.value for a in positional]
            low, high = made.keyword("low"), made.keyword("high")
            return [*bounds, *([low] if low is not None else []), *([high] if high is not None else [])]
        return []

    # -- torch.zeros(...).to(device) ---------------------------------------

    def _moved(self, node: cst.Call, method: str, made: _Constructor, between: bool) -> None:
        """``made`` moved by ``node``, directly or (``between``) after shape-only calls and casts."""
        requires_grad = made.keyword("requires_grad")
        if requires_grad is not None and not is_false(requires_grad):
            return
        move = self._move_target(node, method)
        if move is None:
            return
        target, dtype = move
        if between:
            # torch.arange(n).view(-1, 1).to(d): the calls between run on the device instead
            if dtype is None and made.like_of is None and (method == "cuda" or self._is_device(target, arg(node, "device") is not None)):
                self._device_keyword(node, made, target, None, from_cuda=method == "cuda")
            return
        source = made.like_of if made.like_of is not None else made.shape_of
        tensor_target = source is not None and dtype is None and same_code(target, source)
        if tensor_target or method == "type_as":
            if tensor_target and made.like_of is None and made.shape_of is not None:
                self._like_by_move(node, made)
            elif tensor_target and made.like_of is not None and not _has_keywords(made, "dtype", "device"):
                self._redundant(node, made)
            return
        if method == "to" and not self._is_device(target, keyword=arg(node, "device") is not None):
            return
        if made.like_of is not None and dtype is None and _is_device_of(target, made.like_of):
            if not _has_keywords(made, "device"):
                self._redundant(node, made)
                return
        self._device_keyword(node, made, target, dtype, from_cuda=method == "cuda")

    def _move_target(self, node: cst.Call, method: str) -> tuple[cst.BaseExpression, cst.BaseExpression | None] | None:
        """(device or tensor, dtype or None) of ``.to(...)``/``.cuda(...)``/``.type_as(x)``; None: not a plain move."""
        if any(a.star for a in node.args):
            return None
        keywords = {a.keyword.value for a in node.args if a.keyword is not None}
        positional = [a.value for a in node.args if a.keyword is None]
        if method == "type_as":
            return (positional[0], None) if len(node.args) == 1 and positional else None
        if method == "cuda":
            if not keywords <= {"device", "non_blocking"} or len(positional) > 2:
                return None
            device = arg(node, "device", 0)
            return (device.value if device is not None else cst.SimpleString('"cuda"')), None
        if not keywords <= {"device", "dtype", "non_blocking"} or len(positional) > 3:
            return None
        device, dtype = arg(node, "device", 0), arg(node, "dtype", 1)
        if device is None or self.names.qualified(device.value) in TORCH_DTYPES:
            return None  # .to(dtype) casts without moving
        dtype_value = dtype.value if dtype is not None else None
        if isinstance(dtype_value, cst.Name) and dtype_value.value == "None":
            dtype_value = None
        return device.value, dtype_value

    def _integer_data(self, made: _Constructor, dtype: cst.BaseExpression | None) -> bool:
        """``torch.tensor([0] * n)`` or ``torch.arange(n)`` of integers cast to an integer dtype: created in it exactly."""
        if dtype is None or self.names.qualified(dtype) not in _INTEGER_DTYPES:
            return False
        if made.name == "arange":
            return all(int_value(a.value) is not None or isinstance(a.value, cst.Name) for a in made.call.args if a.keyword is None) and not _fractional(made.call)
        data = arg(made.call, "data", 0)
        return data is not None and _integer_literal(data.value)

    def _is_device(self, node: cst.BaseExpression, keyword: bool) -> bool:
        """Whether ``node`` (a ``.to`` argument) is visibly a device rather than a tensor or dtype."""
        if keyword or isinstance(node, (cst.SimpleString, cst.FormattedString, cst.Integer)):
            return True
        if isinstance(node, cst.Call):
            return self.names.qualified(node.func) in ("torch.device", "torch.cuda.current_device")
        last = node.attr.value if isinstance(node, cst.Attribute) else getattr(node, "value", "")
        return isinstance(node, (cst.Name, cst.Attribute)) and bool(_DEVICE_WORDS & set(last.lower().split("_")))

    def _like_by_move(self, node: cst.Call, made: _Constructor) -> None:
        """``torch.zeros(x.shape).to(x)`` / ``.type_as(x)`` -> ``torch.zeros_like(x)``."""
        if made.name in _RANDOM:
            integer = self._evidence.integer_origin(made.shape_of, node) if made.name != "randint" else ""
            if integer:
                why = f"{integer} holds integers or booleans, and torch.{_LIKE[made.name]} raises on them"
                self.report(node, f"Use torch.{_LIKE[made.name]}; no fix: {why}.")
            elif not _has_keywords(made, "dtype", "device"):
                floating = f"`{code(made.shape_of)}` is floating point (torch.{_LIKE[made.name]} raises on integers)"
                self._report_like(node, made, [], [_STREAM, floating] if made.name != "randint" else [_STREAM])
            return
        exact = made.name in _EXACT or (made.name == "full" and _integer_fill(made))
        if exact:
            self._report_like(node, made, [], [])

    def _redundant(self, node: cst.Call, made: _Constructor) -> None:
        """``torch.zeros_like(x).to(x.device)``: the move does nothing."""
        replacement = made.call.with_changes(lpar=node.lpar, rpar=node.rpar)
        fix = Fix(SAFE, {node: replacement})
        message = f"Drop the move: torch.{made.name} already creates the tensor like `{code(made.like_of)}`."
        self.report(node, message, fix)

    def _device_keyword(self, node: cst.Call, made: _Constructor, target, dtype, from_cuda: bool) -> None:
        """``torch.zeros(shape).to(device[, dtype])`` -> ``torch.zeros(shape, device=device[, dtype=dtype])``."""
        assumption = ""
        if made.name in _RANDOM:
            assumption = _assumption([_STREAM])
        elif made.name in _ROUNDING or (made.name == "arange" and _fractional(made.call)):
            assumption = _assumption([_ROUNDS])
        exact = made.name in _EXACT or (made.name in ("full", "full_like") and _integer_fill(made))
        exact = exact or (made.name in ("tensor", "as_tensor", "arange") and self._integer_data(made, dtype))
        if dtype is not None and not (exact or made.name in _RANDOM):
            return  # creating in the dtype can round differently than casting afterwards
        updates = [("device", target)] + ([("dtype", dtype)] if dtype is not None else [])
        created = _with_keywords(made.call, updates)
        replacement = _rebuilt(receiver(node), made.call, created).with_changes(lpar=node.lpar, rpar=node.rpar)
        checkable = not assumption and not from_cuda and not isinstance(target, (cst.SimpleString, cst.Integer))
        fix = Fix(
            UNSAFE if assumption else SAFE,
            {node: replacement},
            assumption=assumption,
            site=make_site(node, replacement, [(target, "device", "device")], self.names) if checkable else None,
        )
        self.report(node, _MOVE, fix)


def _assumption(parts: list[str]) -> str:
    """One sentence: ``assumes a and b.`` (empty for a safe fix)."""
    return f"assumes {' and '.join(parts)}." if parts else ""


def _rebuilt(chain: cst.BaseExpression, old: cst.Call, new: cst.Call) -> cst.BaseExpression:
    """``chain`` (``old.view(...).float()``) with ``old`` replaced by ``new``."""
    if chain is old:
        return new.with_changes(lpar=old.lpar, rpar=old.rpar)
    assert isinstance(chain, cst.Call) and isinstance(chain.func, cst.Attribute)
    return chain.with_changes(func=chain.func.with_changes(value=_rebuilt(chain.func.value, old, new)))


def _is_device_of(node: cst.BaseExpression | None, tensor: cst.BaseExpression) -> bool:
    """``node`` is ``tensor.device``."""
    return isinstance(node, cst.Attribute) and node.attr.value == "device" and same_code(node.value, tensor)


def _has_keywords(made: _Constructor, *names: str) -> bool:
    return any(made.keyword(name) is not None for name in names)


def _integer_fill(made: _Constructor) -> bool:
    """``full(size, 3)``: an integer or boolean fill is the same value in every dtype."""
    fill = arg(made.call, "fill_value", 1)
    if fill is None:
        return False
    value = fill.value
    return int_value(value) is not None or (isinstance(value, cst.Name) and value.value in ("True", "False"))


def _integer_literal(node: cst.BaseExpression) -> bool:
    """A literal list of integers: ``[0, 1]``, ``[[1, 2], [3, 4]]``, ``[0] * n``."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply):
        return _integer_literal(node.left)
    if isinstance(node, (cst.List, cst.Tuple)):
        return all(_integer_literal(e.value) for e in node.elements)
    return int_value(node) is not None


def _fractional(call: cst.Call) -> bool:
    """Whether an ``arange`` has a float literal argument (its steps are then rounded on the device)."""
    for a in call.args:
        value = a.value.expression if isinstance(a.value, cst.UnaryOperation) else a.value
        if a.keyword is None or a.keyword.value in ("start", "end", "step"):
            if isinstance(value, cst.Float):
                return True
    return False


def _with_keywords(call: cst.Call, updates: list[tuple[str, cst.BaseExpression]]) -> cst.Call:
    """``call`` with each keyword set: replaced in place when present, else appended (keeping the layout)."""
    args = list(call.args)
    appended = []
    for name, value in updates:
        for i, a in enumerate(args):
            if a.keyword is not None and a.keyword.value == name:
                args[i] = a.with_changes(value=value)
                break
        else:
            equal = cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))
            appended.append(cst.Arg(value, keyword=cst.Name(name), equal=equal))
    if not appended:
        return call.with_changes(args=args)
    if len(args) > 1 and isinstance(args[0].comma, cst.Comma):
        separator = args[0].comma
    elif isinstance(call.whitespace_before_args, cst.ParenthesizedWhitespace):
        separator = cst.Comma(whitespace_after=call.whitespace_before_args)
    else:
        separator = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    trailing = args[-1].comma if args else cst.MaybeSentinel.DEFAULT
    # The space before `)` (a newline in a multi-line call) moves to the new last argument.
    closing = args[-1].whitespace_after_arg if args else cst.SimpleWhitespace("")
    if args:
        args[-1] = args[-1].with_changes(comma=separator, whitespace_after_arg=cst.SimpleWhitespace(""))
    appended = [a.with_changes(comma=separator) for a in appended[:-1]] + [
        appended[-1].with_changes(comma=trailing, whitespace_after_arg=closing)
    ]
    return call.with_changes(args=[*args, *appended])
