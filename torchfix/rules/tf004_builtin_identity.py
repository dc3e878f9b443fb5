"""TF004 builtin-identity: hand-written identity layers -> ``nn.Identity``."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from torchfix.names import dotted_name
from torchfix.patterns import code, is_name, names_read, nodes_of
from torchfix.rule import Applicability, Fix, Rule
from torchfix.rules._nn_classes import file_index
from torchfix.rules._suites import statements
from torchfix.rules._torch import TORCH_CONVENTIONS
from torchfix.rules.examples import tf004
from torchfix.walk import walk

SAFE = Applicability.SAFE

_MODULE_INITS = ("torch.nn.Module.__init__",)
_MUTATORS = ("append", "extend", "insert", "add_module", "register_module")


def _is_identity_lambda(node: cst.CSTNode) -> bool:
    """``lambda x: x``: one plain parameter returned as is."""
    if not isinstance(node, cst.Lambda):
        return False
    params = node.params
    if params.posonly_params or params.kwonly_params or params.posonly_ind is not cst.MaybeSentinel.DEFAULT:
        return False
    if not isinstance(params.star_arg, cst.MaybeSentinel) or params.star_kwarg is not None:
        return False
    if len(params.params) != 1 or params.params[0].default is not None:
        return False
    return isinstance(node.body, cst.Name) and node.body.value == params.params[0].name.value


def _branches(value: cst.BaseExpression) -> list[cst.BaseExpression]:
    """The values an assignment can store: both arms of ``a if c else b``, recursively."""
    if isinstance(value, cst.IfExp):
        return _branches(value.body) + _branches(value.orelse)
    return [value]


class _TypeTest(cst.CSTVisitor):
    """Whether a comparison calls ``type(...)``, and every name in it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls_type = False
        self.names: set[str] = set()

    def visit_Call(self, node: cst.Call) -> None:
        self.calls_type |= isinstance(node.func, cst.Name) and node.func.value == "type"

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)


@dataclass(frozen=True)
class _Candidate:
    """An identity expression (empty Sequential or ``lambda x: x``) and the attribute it lands in."""

    node: cst.BaseExpression
    attribute: str
    #: the attribute node being assigned (its own occurrence is allowed)
    target: cst.Attribute | None
    kind: str
    #: for a lambda, the class whose method assigns it (it must be an nn.Module)
    owner: cst.ClassDef | None = None


class BuiltinIdentity(Rule):
    CODE = "TF004"
    SLUG = "builtin-identity"
    IDIOM = "nn.Identity"
    SUMMARY = "Use nn.Identity instead of a hand-written identity layer, an empty nn.Sequential() or lambda x: x."
    FIX_SAFETY = "safe"
    IMPORT_CONVENTIONS = TORCH_CONVENTIONS
    DOCS = """\
## Why
`nn.Identity` is the built-in pass-through layer: it says what the code means,
accepts and ignores any constructor arguments, shows up as `Identity()` in the
model's printout, and has no parameters or buffers.

## Fix safety
Safe. Audit against the contract: none of the replaced layers holds parameters
or buffers, so `state_dict()` keys, `parameters()` and checkpoints are unchanged;
each returns its input, so values, dtype and device are the input's, under
`.to(dtype)`, `.to(device)`, `.train()` and `.eval()` alike (`nn.Identity` has
no mode). The one difference the contract allows is where the original raised.

- A hand-written identity class becomes `Name = nn.Identity`, so
  `from mymodels import Identity` and `Identity(dim)` keep working. Only a class
  whose `__init__` does nothing but call `super().__init__()` and whose
  `forward(self, x)` returns `x` qualifies; other methods, attributes, a second
  `forward` input make it no identity; a subclass in the file, or a type test
  against the class (`isinstance(m, Identity)`, which would then match every
  `nn.Identity`) is reported without a fix, with the reason.
- An empty `nn.Sequential()` stored in an attribute (or passed to another
  `nn.Sequential`) becomes `nn.Identity()` only when the file never touches that
  attribute except to call it with one input. One grown later (`add_module`,
  `append`, `extend`, `insert`, `+=`: the usual placeholder) is a container and
  is not reported; `len()`, iteration, another assignment (a conditional
  reassignment to a real block) or the attribute's name in a string are
  reported without a fix, naming the use.
- `lambda x: x` stored in an attribute of an `nn.Module` subclass (directly, in
  a conditional expression, or through a constructor parameter that `__init__`
  stores in one attribute) becomes `nn.Identity()` under the same condition.
  Identity *functions* used as callables elsewhere are not layers and are left
  alone.

## What could go wrong
Code in another file that grows the empty `Sequential` (`model.head.append(...)`)
or assigns a function to the attribute fails after the fix; torchfix sees one
file at a time. A call that passes the input by keyword (`self.act(x=h)`)
worked with the lambda but not with `nn.Identity`, whose parameter is `input`.
The model's printout and `modules()` gain an `Identity()` entry.

## Verify
Build the module before and after, load the old `state_dict()` with
`strict=True` and compare outputs on random input.
"""
    ROWS = {
        "class": "a module class whose `__init__` only calls `super().__init__()` and whose `forward(self, x)` returns `x` -> `Name = nn.Identity`",
        "sequential": "`nn.Sequential()` with no children, used as a layer and never modified -> `nn.Identity()`",
        "lambda": "`lambda x: x` assigned where a layer goes -> `nn.Identity()`",
        "skip": "an identity layer the file also uses otherwise (a type test, a subclass, `len()`, another "
        "assignment): reported with the reason, no fix",
    }
    EXAMPLES = tf004.EXAMPLES
    VALID = tf004.VALID

    def __init__(self, context) -> None:
        super().__init__(context)
        self._classes: list[cst.ClassDef] = []
        self._class_stack: list[cst.ClassDef] = []
        self._method_depth: list[int] = [0]
        #: attribute name -> every Attribute node with that name in the file
        self._attributes: dict[str, list[cst.Attribute]] = {}
        #: Attribute nodes called with exactly one positional argument
        self._called_once: set[cst.Attribute] = set()
        self._strings: set[str] = set()
        self._candidates: list[_Candidate] = []
        self._layer_arguments: list[tuple[cst.Call, cst.Arg]] = []
        self._module_classes: set[str] | None = None
        #: names the file tests types against (isinstance, issubclass, type(x) is ...)
        self._type_tested: set[str] = set()

    # -- collection -----------------------------------------------------------

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._classes.append(node)
        self._class_stack.append(node)
        self._method_depth.append(0)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._class_stack.pop()
        self._method_depth.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._method_depth[-1] += 1

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._method_depth[-1] -= 1

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._attributes.setdefault(node.attr.value, []).append(node)

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        value = node.evaluated_value
        if isinstance(value, str):
            self._strings.add(value)

    def visit_Comparison(self, node: cst.Comparison) -> None:
        test = _TypeTest()
        walk(node, [test])
        if test.calls_type:
            self._type_tested.update(test.names)

    def visit_Call(self, node: cst.Call) -> None:
        if is_name(node.func, "isinstance", "issubclass") and len(node.args) == 2:
            self._type_tested.update(n.value for n in nodes_of(node.args[1], cst.Name))
        if isinstance(node.func, cst.Attribute) and len(node.args) == 1:
            only = node.args[0]
            if only.keyword is None and not only.star:
                self._called_once.add(node.func)
        if self.names.qualified(node.func) == "torch.nn.Sequential":
            for argument in node.args:
                if argument.keyword is None and not argument.star:
                    for value in _branches(argument.value):
                        if self._is_empty_sequential(value):
                            self._candidates.append(_Candidate(value, "", None, "sequential"))
        for argument in node.args:
            if _is_identity_lambda(argument.value) and not argument.star:
                self._layer_arguments.append((node, argument))

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) == 1:
            self._assigned(node.targets[0].target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._assigned(node.target, node.value)

    def _assigned(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if not isinstance(target, cst.Attribute):
            return
        in_method = bool(self._class_stack) and self._method_depth[-1] > 0
        is_self = isinstance(target.value, cst.Name) and target.value.value == "self"
        for branch in _branches(value):
            if self._is_empty_sequential(branch):
                self._candidates.append(_Candidate(branch, target.attr.value, target, "sequential"))
            elif _is_identity_lambda(branch) and in_method and is_self:
                owner = self._class_stack[-1]
                self._candidates.append(_Candidate(branch, target.attr.value, target, "lambda", owner))

    def _is_empty_sequential(self, node: cst.CSTNode) -> bool:
        return isinstance(node, cst.Call) and not node.args and self.names.qualified(node.func) == "torch.nn.Sequential"

    # -- decisions ------------------------------------------------------------

    def _module_class_names(self) -> set[str]:
        """Classes of this file that are nn.Module subclasses, directly or through each other."""
        if self._module_classes is None:
            found: set[str] = set()
            changed = True
            while changed:
                changed = False
                for cls in self._classes:
                    if cls.name.value in found:
                        continue
                    for base in cls.bases:
                        name = dotted_name(base.value)
                        if self.names.qualified(base.value) == "torch.nn.Module" or name in found:
                            found.add(cls.name.value)
                            changed = True
                            break
            self._module_classes = found
        return self._module_classes

    def _mutates_by_index(self) -> bool:
        """Whether the file grows a container it reached by index (``model[1].append(...)``)."""
        return any(
            isinstance(node.value, (cst.Subscript, cst.Call))
            for method in _MUTATORS
            for node in self._attributes.get(method, ())
        )

    def _other_use(self, attribute: str, target: cst.Attribute | None) -> str | None:
        """Why ``.attribute`` is not only a layer: its name in a string, or a use of it in the file
        that does not call it with one positional input (None when every other use does)."""
        if attribute in self._strings:
            return f"the name '{attribute}' appears in a string in this file"
        for node in self._attributes.get(attribute, ()):
            if node is not target and node not in self._called_once:
                use = self._parent_of(node)
                if isinstance(use, cst.Assign):
                    return f"`{_short(code(use))}` assigns `.{attribute}` another value"
                return f"`{_short(code(use))}` uses `.{attribute}` other than as a layer"
        return None

    def _grown(self, attribute: str) -> bool:
        """Whether the file grows the container (``.append``, ``.add_module``, ``+=``...): an empty
        ``nn.Sequential()`` filled later is a container, not an identity, and is not reported."""
        for node in self._attributes.get(attribute, ()):
            parent = self._parents.get(node)
            if isinstance(parent, cst.Attribute) and parent.value is node and parent.attr.value in _MUTATORS:
                return True
            if isinstance(parent, cst.AugAssign) and parent.target is node:
                return True
        return False

    def _replaced(self, attribute: str, target: cst.Attribute) -> bool:
        """Whether a later statement of the same block assigns the attribute again: the empty
        ``Sequential()`` is a placeholder that is always replaced (timm's ``self.stages``), not a layer."""
        block = self._block_of(target)
        return any(
            node is not target and self._block_of(node) is block and block is not None
            for node in self._attributes.get(attribute, ())
            if isinstance(self._parents.get(node), cst.AssignTarget)
        )

    def _block_of(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The statement list holding the statement of ``node``."""
        current = node
        while current is not None and not isinstance(current, cst.SimpleStatementLine):
            current = self._parents.get(current)
        return self._parents.get(current) if current is not None else None

    def leave_Module(self, original_node: cst.Module) -> None:
        for cls in self._classes:
            self._check_class(cls)
        for candidate in self._candidates:
            if candidate.owner is not None and candidate.owner.name.value not in self._module_class_names():
                continue
            if candidate.target is None:
                if self._mutates_by_index():
                    continue
            elif self._grown(candidate.attribute) or self._replaced(candidate.attribute, candidate.target):
                continue
            else:
                reason = self._other_use(candidate.attribute, candidate.target)
                if reason is not None:
                    self._decline(candidate.node, candidate.kind, reason)
                    continue
            self._replace(candidate.node, candidate.kind)
        for call, argument in self._layer_arguments:
            target = self._stored_attribute(call, argument)
            if target is None:
                continue
            reason = self._other_use(target.attr.value, target)
            if reason is None:
                self._replace(argument.value, "lambda")
            elif not self._grown(target.attr.value):
                self._decline(argument.value, "lambda", reason)

    def _replace(self, node: cst.BaseExpression, kind: str) -> None:
        ref = self.names.reference("torch.nn.Identity")
        if ref is None:
            self._decline(node, kind, "no free name to spell torch.nn.Identity in this file")
            return
        replacement = cst.Call(func=ref.expr, lpar=node.lpar, rpar=node.rpar)
        what = "an empty nn.Sequential()" if kind == "sequential" else "lambda x: x"
        self.report(node, f"Use nn.Identity() instead of {what} as a layer.", Fix(SAFE, {node: replacement}, imports=ref.imports))

    def _decline(self, node: cst.CSTNode, kind: str, reason: str) -> None:
        what = "An empty `nn.Sequential()`" if kind == "sequential" else "`lambda x: x`"
        self.report(node, f"{what} used as a layer is nn.Identity(); no fix: {reason}.")

    @property
    def _parents(self) -> dict[cst.CSTNode, cst.CSTNode]:
        """The file's parent map (built on the first question, shared with the other module rules)."""
        return file_index(self.context).parent

    def _parent_of(self, node: cst.Attribute) -> cst.CSTNode:
        """The code around a use, for the message (``len(self.head)``, ``self.head = fn``)."""
        parent = self._parents.get(node)
        if isinstance(parent, (cst.Arg, cst.Element, cst.AssignTarget)):
            parent = self._parents.get(parent)
        return parent if isinstance(parent, (cst.BaseExpression, cst.Assign)) else node

    def _stored_attribute(self, call: cst.Call, argument: cst.Arg) -> cst.Attribute | None:
        """The attribute a module class of this file stores the argument in, as its only use."""
        name = dotted_name(call.func)
        if name not in self._module_class_names():
            return None
        cls = next(c for c in reversed(self._classes) if c.name.value == name)
        init = next((s for s in cls.body.body if isinstance(s, cst.FunctionDef) and s.name.value == "__init__"), None)
        if init is None or init.params.star_arg is not cst.MaybeSentinel.DEFAULT or init.params.posonly_params:
            return None
        positional = list(init.params.params[1:])
        if argument.keyword is not None:
            names = [p.name.value for p in (*positional, *init.params.kwonly_params)]
            param = argument.keyword.value if argument.keyword.value in names else None
        else:
            index = [a for a in call.args if a.keyword is None].index(argument)
            if any(a.star for a in call.args):
                return None
            param = positional[index].name.value if index < len(positional) else None
        if param is None:
            return None
        uses = names_read(init.body).count(param)
        stores = [
            assign for assign in nodes_of(init.body, cst.Assign)
            if len(assign.targets) == 1 and isinstance(assign.targets[0].target, cst.Attribute)
            and is_name(assign.targets[0].target.value, "self") and is_name(assign.value, param)
        ]
        if uses != 1 or len(stores) != 1:
            return None
        return stores[0].targets[0].target

    def _check_class(self, cls: cst.ClassDef) -> None:
        if cls.decorators or cls.keywords or len(cls.bases) != 1:
            return
        if self.names.qualified(cls.bases[0].value) != "torch.nn.Module":
            return
        methods: dict[str, cst.FunctionDef] = {}
        for stmt in statements(cls.body):
            if not isinstance(stmt, cst.FunctionDef) or stmt.decorators or stmt.name.value in methods:
                return
            methods[stmt.name.value] = stmt
        if set(methods) - {"__init__", "forward"} or "forward" not in methods:
            return
        if not self._returns_input(methods["forward"]):
            return
        if "__init__" in methods and not self._only_super_init(methods["__init__"], cls.name.value):
            return
        name = cls.name.value
        reason = None
        subclass = self._subclassed(name)
        ref = self.names.reference("torch.nn.Identity")
        if subclass is not None:
            reason = f"`{subclass}` in this file subclasses it"
        elif name in self._type_tested:
            reason = f"this file tests types against `{name}`, which would then match every nn.Identity"
        elif ref is None or (isinstance(ref.expr, cst.Name) and ref.expr.value == name):
            reason = "no free name to spell torch.nn.Identity in this file"
        if reason is not None:
            self.report(cls.name, f"{name} is a hand-written nn.Identity; no fix: {reason}.")
            return
        alias = cst.SimpleStatementLine(
            body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(cls.name.value))], value=ref.expr)],
            leading_lines=cls.leading_lines,
        )
        self.report(
            cls.name,
            f"Use nn.Identity instead of the hand-written identity module {cls.name.value}.",
            Fix(SAFE, {cls: alias}, imports=ref.imports),
        )

    @staticmethod
    def _returns_input(forward: cst.FunctionDef) -> bool:
        params = forward.params
        if params.star_arg is not cst.MaybeSentinel.DEFAULT or params.star_kwarg or params.kwonly_params:
            return False
        if params.posonly_params or len(params.params) != 2 or params.params[1].default is not None:
            return False
        body = statements(forward.body)
        return (
            len(body) == 1
            and isinstance(body[0], cst.Return)
            and isinstance(body[0].value, cst.Name)
            and body[0].value.value == params.params[1].name.value
        )

    def _only_super_init(self, init: cst.FunctionDef, name: str) -> bool:
        body = statements(init.body)
        if len(body) != 1 or not isinstance(body[0], cst.Expr) or not isinstance(body[0].value, cst.Call):
            return False
        call = body[0].value
        func = call.func
        if self.names.qualified(func) in _MODULE_INITS:
            return len(call.args) == 1 and is_name(call.args[0].value, "self")
        if call.args or not (
            isinstance(func, cst.Attribute) and is_name(func.attr, "__init__")
            and isinstance(func.value, cst.Call) and is_name(func.value.func, "super")
        ):
            return False
        super_args = func.value.args
        return not super_args or (
            len(super_args) == 2
            and is_name(super_args[0].value, name)
            and is_name(super_args[1].value, "self")
        )

    def _subclassed(self, name: str) -> str | None:
        """The first class of the file that derives from ``name``."""
        for cls in self._classes:
            for base in cls.bases:
                spelled = dotted_name(base.value)
                if spelled is not None and spelled.split(".")[-1] == name:
                    return cls.name.value
        return None


def _short(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
