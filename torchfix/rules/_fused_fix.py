"""TF008's fix: one fused ``nn.Linear`` in ``__init__``, the split at each call site, the checkpoint hook.

:class:`FusionFix` builds the edits for a group of layers that the analysis in
:mod:`torchfix.rules.tf008_fused_linear` found fusable.
"""

from __future__ import annotations

import keyword
from typing import TYPE_CHECKING

import libcst as cst

from torchfix.patterns import code, make_call, normal_form
from torchfix.rule import Applicability, Fix
from torchfix.rules._nn_classes import HOOK_PREFIX, FileIndex, body_names, class_names_in_body, paths_in, self_name

if TYPE_CHECKING:
    from torchfix.rules.tf008_fused_linear import _Call, _ClassFusion, _Decl, _Layer

UNSAFE = Applicability.UNSAFE
#: names the generated load hook binds; the file's torch alias must not be one of them
_HOOK_LOCALS = ("module", "state_dict", "prefix", "args", "suffix", "keys", "name", "key")
ASSUMPTION = (
    "assumes nothing else uses the separate layers (state_dict keys and parameters() change; the added "
    "load hook converts old checkpoints) and no .view() merges the last dimension of a split output."
)
_HOOK = '''\
@staticmethod
def {hook}(module, state_dict, prefix, *args):
    """Load checkpoints saved with separate {listing} layers into {fused}."""
    for suffix in ("weight", "bias"):
        keys = [f"{{prefix}}{{name}}.{{suffix}}" for name in {names}]
        if all(key in state_dict for key in keys):
            state_dict[f"{{prefix}}{fused}.{{suffix}}"] = {cat}([state_dict.pop(key) for key in keys])
'''


def form(node: cst.CSTNode | None) -> str:
    """A hashable form of an expression that ignores formatting ("" for None)."""
    return "" if node is None else (normal_form(code(node)) or code(node))


def affixes(parts: list[str]) -> tuple[str, str]:
    """The prefix and suffix the names share: whole words, or all but one letter (``wq``, ``wk``)."""
    prefix = _common(parts)
    suffix = _common([p[len(prefix):][::-1] for p in parts])[::-1]
    if not all(len(p) - len(prefix) - len(suffix) == 1 for p in parts):
        # Cut the shared affixes back to a word boundary: query/key share no word.
        prefix = prefix[: prefix.rfind("_") + 1]
        suffix = suffix[suffix.find("_"):] if "_" in suffix else ""
    return prefix, suffix


def fused_name(parts: list[str]) -> str:
    """``q, k, v`` -> ``qkv``; ``q_proj, k_proj`` -> ``qk_proj``; ``query, key`` -> ``query_key``."""
    prefix, suffix = affixes(parts)
    middles = [p[len(prefix):len(p) - len(suffix)] for p in parts]
    if not all(middles):
        return "_".join(parts)
    joined = "".join(middles) if all(len(m) == 1 for m in middles) else "_".join(middles)
    return prefix + joined + suffix


def _common(words: list[str]) -> str:
    shortest = min(words, key=len)
    for i, ch in enumerate(shortest):
        if any(w[i] != ch for w in words):
            return shortest[:i]
    return shortest


def _is_store(index: FileIndex, node: cst.CSTNode) -> bool:
    parent = index.parent.get(node)
    return isinstance(parent, (cst.AssignTarget, cst.AugAssign, cst.AnnAssign)) or (
        isinstance(parent, (cst.Element, cst.Tuple)) and _is_store(index, parent)
    )


def _comments(removed: list[cst.SimpleStatementLine]) -> list[cst.EmptyLine]:
    """The comments of removed lines (above them and after them), as comment lines to keep."""
    kept = []
    for line in removed:
        kept += [empty for empty in line.leading_lines if empty.comment is not None]
        if line.trailing_whitespace.comment is not None:
            kept.append(cst.EmptyLine(comment=line.trailing_whitespace.comment))
    return kept


def _assigned_name(call: _Call) -> str | None:
    """``name`` when the call's line is exactly ``name = self.<layer>(x)``."""
    line = call.line
    if len(line.body) != 1 or not isinstance(line.body[0], cst.Assign):
        return None
    assign = line.body[0]
    if assign.value is not call.call or len(assign.targets) != 1:
        return None
    target = assign.targets[0].target
    return target.value if isinstance(target, cst.Name) else None


def _self_attr(self_: str, name: str) -> cst.Attribute:
    return cst.Attribute(cst.Name(self_), cst.Name(name))


def _minus_one() -> cst.UnaryOperation:
    return cst.UnaryOperation(cst.Minus(), cst.Integer("1"))


def _parenthesized(node: cst.BaseExpression) -> cst.BaseExpression:
    return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


_ATOMS = (cst.Name, cst.Attribute, cst.Integer, cst.Call, cst.Subscript)


def _product(node: cst.BaseExpression) -> bool:
    return isinstance(node, _ATOMS) or (
        isinstance(node, cst.BinaryOperation)
        and isinstance(node.operator, cst.Multiply)
        and _product(node.left)
        and _product(node.right)
    )


def _factor(node: cst.BaseExpression) -> cst.BaseExpression:
    """``node`` as the right operand of ``n * node``: a product of atoms needs no parentheses."""
    node = node.deep_clone()
    return node if _product(node) else _parenthesized(node)


def _summand(node: cst.BaseExpression) -> cst.BaseExpression:
    node = node.deep_clone()
    arithmetic = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.FloorDivide, cst.Modulo, cst.Power)
    if isinstance(node, _ATOMS) or (isinstance(node, cst.BinaryOperation) and isinstance(node.operator, arithmetic)):
        return node
    return _parenthesized(node)


#: nn.Module attributes a fused name must not take
_MODULE_ATTRIBUTES = frozenset(
    {
        "training", "forward", "state_dict", "load_state_dict", "parameters", "buffers", "children",
        "modules", "to", "cuda", "cpu", "half", "float", "double", "type", "apply", "train", "eval",
        "zero_grad", "register_buffer", "register_parameter", "add_module", "get_submodule",
    }
)


def call_clusters(group: list[_Layer]) -> list[list[_Call]]:
    """For each (method, input): the group's calls there, in layer order."""
    return [
        [next(c for c in layer.calls if c.cluster == call.cluster) for layer in group]
        for call in group[0].calls
    ]


class FusionFix:
    """The fix for one class's group of fusable layers."""

    def __init__(self, fusion: _ClassFusion) -> None:
        self.rule = fusion.rule
        self.names = fusion.names
        self.index = fusion.index
        self.cls = fusion.cls
        self.init = fusion.init
        self.self_ = fusion.self_

    def build(self, group: list[_Layer]) -> tuple[Fix | None, str]:
        """The fix and the fused name, or (None, the reason there is no fix)."""
        parts = [layer.name for layer in group]
        cat = self.names.reference("torch.cat")
        if cat is None or code(cat.expr).split(".")[0] in _HOOK_LOCALS or self._shadows_all():
            return None, "the load hook's names would clash with this file's names"
        fused = self._free_attribute(fused_name(parts))
        hook = self._free_attribute(f"{HOOK_PREFIX}{fused}")
        decls = [layer.decl for layer in group]
        outs = [d.out for d in decls]
        equal = len({form(o) for o in outs}) == 1
        sizes_attr = None
        if not equal and not self._computable_in_methods(outs, group):
            sizes_attr = self._free_attribute(f"{fused}_sizes")
        edits: dict[cst.CSTNode, object] = {}
        self._edit_init(edits, decls, fused, hook, sizes_attr, equal)
        hook_def = self._hook_def(hook, fused, parts, code(cat.expr))
        edits[self._hook_anchor()] = lambda updated: cst.FlattenSentinel([updated, hook_def])
        for calls in call_clusters(group):
            self._edit_calls(edits, calls, fused, outs, equal, sizes_attr)
        return Fix(UNSAFE, edits, imports=cat.imports, assumption=ASSUMPTION), fused

    def _hook_anchor(self) -> cst.FunctionDef:
        """The method the new hook follows: ``__init__``, or the hooks earlier fixes put after it."""
        body = list(self.cls.body.body)
        anchor = self.init
        for stmt in body[body.index(self.init) + 1:]:
            if not (isinstance(stmt, cst.FunctionDef) and stmt.name.value.startswith(HOOK_PREFIX)):
                break
            anchor = stmt
        return anchor

    def _shadows_all(self) -> bool:
        """Whether the file rebinds the builtin ``all`` the hook uses."""
        return "all" in self.names.bindings or "all" in body_names(self.rule.context.module.body)

    def _free_attribute(self, base: str) -> str:
        """``base`` or ``base_2``, ... : no attribute, method or file name of that spelling in the class."""
        candidate, n = base, 1
        while not self._attribute_free(candidate):
            n += 1
            candidate = f"{base}_{n}"
        return candidate

    def _attribute_free(self, name: str) -> bool:
        if keyword.iskeyword(name) or name in _MODULE_ATTRIBUTES:
            return False
        for classes in self.index.classes.values():
            if any(self.index.related(self.cls, c) and name in class_names_in_body(c) for c in classes):
                return False
        return all(
            use.is_self and use.owner is not None and not self.index.related(self.cls, use.owner)
            for use in self.index.uses.get(name, ())
        )

    def _computable_in_methods(self, outs: list[cst.BaseExpression], group: list[_Layer]) -> bool:
        """Whether the widths can be written again in the calling methods: literals and
        ``self.<attr>`` set once, in ``__init__`` before the layers, and methods using the same self name."""
        if any(self_name(c.method) != self.self_ for layer in group for c in layer.calls):
            return False
        last = self.index.line_of(group[-1].decl.assign)
        block = self.index.parent[last].body
        for path in set().union(*(paths_in(o) for o in outs)):
            if path == self.self_:
                continue
            attribute = path.split(".")
            if len(attribute) != 2 or attribute[0] != self.self_:
                return False
            stores = [u for u in self.index.self_uses(self.cls, attribute[1]) if _is_store(self.index, u.node)]
            if len(stores) != 1 or self.index.foreign_uses(self.cls, attribute[1]):
                return False
            line = self.index.line_of(stores[0].node)
            if line not in block or block.index(line) >= block.index(last):
                return False
        return True

    def _edit_init(self, edits, decls: list[_Decl], fused: str, hook: str, sizes_attr: str | None, equal: bool):
        lines = [self.index.line_of(d.assign) for d in decls]
        last = decls[-1]
        if equal:
            total = cst.BinaryOperation(cst.Integer(str(len(decls))), cst.Multiply(), _factor(last.out))
        else:
            total = _summand(decls[0].out)
            for out in [d.out for d in decls[1:]]:
                total = cst.BinaryOperation(total, cst.Add(), _summand(out))
        args = [a.with_changes(value=total) if a is last.out_arg else a for a in last.call.args]
        new_call = last.call.with_changes(args=args)
        target = cst.AssignTarget(_self_attr(self.self_, fused))
        comments = _comments(lines[:-1])
        fused_line = lines[-1].with_changes(
            body=[cst.Assign([target], new_call)], leading_lines=[*comments, *lines[-1].leading_lines]
        )
        added = [fused_line]
        if sizes_attr is not None:
            sizes = cst.List([cst.Element(o.deep_clone()) for o in (d.out for d in decls)])
            added.append(cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(_self_attr(self.self_, sizes_attr))], sizes)]))
        register = make_call(_self_attr(self.self_, "register_load_state_dict_pre_hook"), [_self_attr(self.self_, hook)])
        added.append(cst.SimpleStatementLine([cst.Expr(register)]))
        edits[lines[-1]] = cst.FlattenSentinel(added)
        for line in lines[:-1]:
            edits[line] = cst.RemovalSentinel.REMOVE

    def _hook_def(self, hook: str, fused: str, parts: list[str], cat: str) -> cst.FunctionDef:
        indent = self.rule.context.module.default_indent
        names = "(" + ", ".join(f'"{p}"' for p in parts) + ")"
        text = _HOOK.format(hook=hook, fused=fused, listing=", ".join(parts), names=names, cat=cat)
        node = cst.parse_statement(text.replace("    ", indent), self.rule.context.module.config_for_parsing)
        return node.with_changes(leading_lines=[cst.EmptyLine(indent=False)])

    def _edit_calls(self, edits, calls: list[_Call], fused: str, outs, equal: bool, sizes_attr: str | None):
        method_self = self_name(calls[0].method)
        fused_call = make_call(_self_attr(method_self, fused), [calls[0].input.deep_clone()])
        if equal:
            split = make_call(cst.Attribute(fused_call, cst.Name("chunk")), [cst.Integer(str(len(calls)))], [("dim", _minus_one())])
        else:
            sizes = (
                _self_attr(method_self, sizes_attr)
                if sizes_attr is not None
                else cst.List([cst.Element(o.deep_clone()) for o in outs])
            )
            split = make_call(cst.Attribute(fused_call, cst.Name("split")), [sizes], [("dim", _minus_one())])
        tuple_node = self._whole_tuple(calls)
        if tuple_node is not None:
            edits[tuple_node] = split.with_changes(lpar=tuple_node.lpar, rpar=tuple_node.rpar)
            return
        block = calls[0].block.body
        by_position = sorted(calls, key=lambda c: block.index(c.line))
        first_line = by_position[0].line
        start = block.index(first_line)
        locals_: list[str] = []
        removed: list[cst.SimpleStatementLine] = []
        for call in calls:
            name = _assigned_name(call)
            position = block.index(call.line)
            if name is not None and name not in locals_ and not any(
                name in paths_in(s) for s in block[start:position]
            ):
                locals_.append(name)
                if call.line is not first_line:
                    removed.append(call.line)
                    edits[call.line] = cst.RemovalSentinel.REMOVE
                continue
            fresh = self.rule.fresh_local(f"{call.call.func.attr.value}_out", call.method)
            locals_.append(fresh)
            edits[call.call] = cst.Name(fresh, lpar=call.call.lpar, rpar=call.call.rpar)
        targets = cst.Tuple([cst.Element(cst.Name(n)) for n in locals_], lpar=[], rpar=[])
        comments = _comments(removed)
        unpack = cst.SimpleStatementLine(
            [cst.Assign([cst.AssignTarget(targets)], split)],
            leading_lines=[*first_line.leading_lines, *comments],
        )
        if _assigned_name(by_position[0]) == locals_[calls.index(by_position[0])]:
            edits[first_line] = first_line.with_changes(body=unpack.body, leading_lines=unpack.leading_lines)
        else:
            edits[first_line] = lambda updated: cst.FlattenSentinel([unpack, updated.with_changes(leading_lines=[])])

    def _whole_tuple(self, calls: list[_Call]) -> cst.Tuple | None:
        """The tuple when it holds exactly the calls, in layer order (``return self.a(h), self.b(h)``)."""
        parent = self.index.parent.get(self.index.parent.get(calls[0].call))
        if not isinstance(parent, cst.Tuple) or len(parent.elements) != len(calls):
            return None
        if any(e.value is not c.call for e, c in zip(parent.elements, calls)):
            return None
        holder = self.index.parent.get(parent)
        if isinstance(holder, (cst.Return, cst.Assign)) and holder.value is parent:
            return parent
        return None
