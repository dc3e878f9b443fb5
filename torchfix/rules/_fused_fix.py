"""TF008's fix: one fused ``nn.Linear`` in ``__init__``, the split at each call site, the checkpoint hook.

:class:`FusionFix` builds the edits for a group of layers that the analysis in
:mod:`torchfix.rules.tf008_fused_linear` found fusable.
"""

from __future__ import annotations

import keyword
import re
from typing import TYPE_CHECKING, Sequence

import libcst as cst

from torchfix.patterns import code, make_call, normal_form
from torchfix.rule import Applicability, Fix
from torchfix.rules._nn_classes import HOOK_PREFIX, HOOK_PREFIXES, SAVE_HOOK_PREFIX, FileIndex, body_names, class_names_in_body, paths_in, self_name

if TYPE_CHECKING:
    from torchfix.rules.tf008_fused_linear import _Call, _ClassFusion, _Decl, _Layer

UNSAFE = Applicability.UNSAFE
#: names the generated hooks bind; the file's torch alias must not be one of them
_HOOK_LOCALS = ("module", "state_dict", "prefix", "args", "suffix", "keys", "name", "key", "part")
ASSUMPTION = (
    "assumes nothing else uses the separate layers (parameters() change; {keys}) and no .view() merges "
    "the last dimension of a split output; optimizer state saved before the fix does not map onto the "
    "fused parameters."
)
#: what the checkpoint hooks keep, for the assumption (``fused-linear-keys``)
_KEYS = {
    "unfused": "hooks save the old state_dict keys and load both forms",
    "fused": "state_dict keys change, the load hook converts old checkpoints",
}
_LOAD_HOOK = '''\
@staticmethod
def {hook}(module, state_dict, prefix, *args):
    """Load checkpoints saved with separate {listing} layers into {fused}."""
    for suffix in ("weight", "bias"):
        keys = [f"{{prefix}}{{name}}.{{suffix}}" for name in {names}]
        if all(key in state_dict for key in keys):
            state_dict[f"{{prefix}}{fused}.{{suffix}}"] = {cat}([state_dict.pop(key) for key in keys])
'''
_SAVE_HOOK = '''\
@staticmethod
def {hook}(module, state_dict, prefix, *args):
    """Save {fused} as the separate {listing} layers, so checkpoints keep their keys."""
    for suffix in ("weight", "bias"):
        key = f"{{prefix}}{fused}.{{suffix}}"
        if key in state_dict:
            for name, part in zip({names}, state_dict.pop(key).{split}):
                state_dict[f"{{prefix}}{{name}}.{{suffix}}"] = part
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


def fused_name(parts: list[str], comments: list[str] | None = None) -> str:
    """``q, k, v`` -> ``qkv``; ``q_proj, k_proj`` -> ``qk_proj``; ``query, key`` -> ``query_key``;
    ``w1, w3`` -> ``w13``; ``fc21  # mu`` and ``fc22  # logvar`` -> ``mu_logvar``; ``fc21, fc22`` ->
    ``fc21_fc22`` (their digits run together would read as another number, ``fc212``)."""
    prefix, suffix = affixes(parts)
    middles = [p[len(prefix):len(p) - len(suffix)] for p in parts]
    if not all(middles) or (prefix[-1:].isdigit() and any(m[:1].isdigit() for m in middles)):
        return "_".join(comments) if comments and len(set(comments)) == len(comments) else "_".join(parts)
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


#: comments that tell a tool something about their own line: they move as they are
_PRAGMA = re.compile(r"#\s*(?:noqa|type:|pragma|pylint|mypy|pyright|isort|fmt|yapf|torchfix)\b")


def _comments(removed: list[cst.SimpleStatementLine], labels: list[str]) -> list[cst.EmptyLine]:
    """The comments of removed lines (above them and after them), as comment lines to keep.

    A comment after a line described that line: above the merged line it would seem to
    describe all of it, so it says which part it is about (``# k_proj: keys``)."""
    kept = []
    for line, label in zip(removed, labels):
        kept += [empty for empty in line.leading_lines if empty.comment is not None]
        comment = line.trailing_whitespace.comment
        if comment is None:
            continue
        text = comment.value.lstrip("#").strip()
        if text and not _PRAGMA.match(comment.value):
            comment = cst.Comment(f"# {label}: {text}")
        kept.append(cst.EmptyLine(comment=comment))
    return kept


def _assigned_name(call: _Call) -> str | None:
    """``name`` when the call's line is exactly ``name = self.<layer>(x)`` (or ``name: T = ...``)."""
    line = call.line
    if len(line.body) != 1 or not isinstance(line.body[0], (cst.Assign, cst.AnnAssign)):
        return None
    assign = line.body[0]
    if assign.value is not call.call:
        return None
    if isinstance(assign, cst.AnnAssign):
        target = assign.target
    elif len(assign.targets) == 1:
        target = assign.targets[0].target
    else:
        return None
    return target.value if isinstance(target, cst.Name) else None


def _literal(node: cst.BaseExpression) -> int | None:
    """The value of an integer literal expression (``91 * 4``), else None."""
    if isinstance(node, cst.Integer):
        return node.evaluated_value
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, (cst.Add, cst.Multiply, cst.Subtract)):
        left, right = _literal(node.left), _literal(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.operator, cst.Add):
            return left + right
        return left * right if isinstance(node.operator, cst.Multiply) else left - right
    return None


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


def _sum(widths: list[cst.BaseExpression]) -> cst.BaseExpression:
    """The fused width: ``455`` for literals, ``3 * dim`` for equal widths, ``q + 2 * kv`` for a
    width written twice (grouped-query attention's k and v), else ``a + b``."""
    values = [_literal(w) for w in widths]
    if all(v is not None for v in values):
        return cst.Integer(str(sum(values)))  # not `91 + 91 * 4`
    counts: dict[str, list] = {}
    for width in widths:
        counts.setdefault(form(width), [width, 0])[1] += 1
    terms = [_summand(width) if n == 1 else _times(n, width) for width, n in counts.values()]
    total = terms[0]
    for term in terms[1:]:
        total = cst.BinaryOperation(total, cst.Add(), term)
    return total


def _times(n: int, width: cst.BaseExpression) -> cst.BaseExpression:
    """``n * width``, with a literal factor multiplied out: ``2 * (4 * d)`` is ``8 * d``."""
    if isinstance(width, cst.BinaryOperation) and isinstance(width.operator, cst.Multiply):
        left, right = _literal(width.left), _literal(width.right)
        if left is not None:
            return cst.BinaryOperation(cst.Integer(str(n * left)), cst.Multiply(), _factor(width.right))
        if right is not None:
            return cst.BinaryOperation(_summand(width.left), cst.Multiply(), cst.Integer(str(n * right)))
    return cst.BinaryOperation(cst.Integer(str(n)), cst.Multiply(), _factor(width))


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
        if cat is None or code(cat.expr).split(".")[0] in _HOOK_LOCALS or self._shadows_builtins():
            return None, "the checkpoint hooks' names would clash with this file's names"
        fused = self._free_attribute(fused_name(parts, self._comment_words(group)))
        hook = self._free_attribute(f"{HOOK_PREFIX}{fused}")
        decls = [layer.decl for layer in group]
        outs = [d.out for d in decls]
        equal = len({form(o) for o in outs}) == 1
        sizes_attr = None
        if not equal and not self._computable_in_methods(outs, group):
            sizes_attr = self._free_attribute(f"{fused}_sizes")
        keys = self.rule.context.settings.get("fused_linear_keys") or "unfused"
        save_hook = self._free_attribute(f"{SAVE_HOOK_PREFIX}{fused}") if keys == "unfused" else None
        edits: dict[cst.CSTNode, object] = {}
        self._edit_init(edits, decls, fused, (hook, save_hook), sizes_attr)
        names = "(" + ", ".join(f'"{p}"' for p in parts) + ")"
        listing = ", ".join(parts)
        hook_defs = [self._hook_def(_LOAD_HOOK.format(hook=hook, fused=fused, listing=listing, names=names, cat=code(cat.expr)))]
        if save_hook is not None:
            split = self._hook_split(outs, equal, sizes_attr)
            hook_defs.append(self._hook_def(_SAVE_HOOK.format(hook=save_hook, fused=fused, listing=listing, names=names, split=split)))
        edits[self._hook_anchor()] = lambda updated: cst.FlattenSentinel([updated, *hook_defs])
        for calls in call_clusters(group):
            self._edit_calls(edits, calls, fused, outs, equal, sizes_attr)
        return Fix(UNSAFE, edits, imports=cat.imports, assumption=ASSUMPTION.format(keys=_KEYS[keys])), fused

    def _hook_split(self, outs: list[cst.BaseExpression], equal: bool, sizes_attr: str | None) -> str:
        """The split of the fused weight, written for the save hook (``module`` for ``self``)."""
        if equal:
            return f"chunk({len(outs)})"
        if sizes_attr is not None:
            return f"split(module.{sizes_attr})"
        sizes = cst.List([cst.Element(_rename_self(o.deep_clone(), self.self_)) for o in outs])
        return f"split({code(sizes)})"

    def _comment_words(self, group: list[_Layer]) -> list[str] | None:
        """``fc21 = ...  # mu`` and ``fc22 = ...  # logvar``: the one-word comments naming each layer."""
        words = []
        for layer in group:
            line = self.index.line_of(layer.decl.assign)
            comment = line.trailing_whitespace.comment if line is not None else None
            word = comment.value.lstrip("#").strip() if comment is not None else ""
            if not word.isidentifier() or keyword.iskeyword(word):
                return None
            words.append(word)
        return words

    def _hook_anchor(self) -> cst.FunctionDef:
        """The method the new hook follows: ``__init__``, or the hooks earlier fixes put after it."""
        body = list(self.cls.body.body)
        anchor = self.init
        for stmt in body[body.index(self.init) + 1:]:
            if not (isinstance(stmt, cst.FunctionDef) and stmt.name.value.startswith(HOOK_PREFIXES)):
                break
            anchor = stmt
        return anchor

    def _shadows_builtins(self) -> bool:
        """Whether the file rebinds a builtin the hooks use (``all``, ``zip``)."""
        module_names = body_names(self.rule.context.module.body)
        return any(name in self.names.bindings or name in module_names for name in ("all", "zip"))

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

    def _edit_init(self, edits, decls: list[_Decl], fused: str, hooks: tuple[str, str | None], sizes_attr: str | None):
        lines = [self.index.line_of(d.assign) for d in decls]
        last = decls[-1]
        total = _sum([d.out for d in decls])
        args = [a.with_changes(value=total) if a is last.out_arg else a for a in last.call.args]
        new_call = last.call.with_changes(args=args)
        target = cst.AssignTarget(_self_attr(self.self_, fused))
        # Each layer's comments stay above the fused line, in order; none is left trailing it.
        names = [d.name for d in decls]
        comments = _comments(lines[:-1], names) + [c for c in lines[-1].leading_lines if c.comment is not None]
        comments += _comments([lines[-1].with_changes(leading_lines=[])], names[-1:])
        blank = [c for c in lines[-1].leading_lines if c.comment is None]
        fused_line = lines[-1].with_changes(
            body=[cst.Assign([target], new_call)], leading_lines=[*blank, *comments],
            trailing_whitespace=cst.TrailingWhitespace(),
        )
        added = [fused_line]
        if sizes_attr is not None:
            sizes = cst.List([cst.Element(o.deep_clone()) for o in (d.out for d in decls)])
            added.append(cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(_self_attr(self.self_, sizes_attr))], sizes)]))
        for registrar, hook in zip(("register_load_state_dict_pre_hook", "register_state_dict_post_hook"), hooks):
            if hook is not None:
                register = make_call(_self_attr(self.self_, registrar), [_self_attr(self.self_, hook)])
                added.append(cst.SimpleStatementLine([cst.Expr(register)]))
        edits[lines[-1]] = cst.FlattenSentinel(added)
        for line in lines[:-1]:
            edits[line] = cst.RemovalSentinel.REMOVE

    def _hook_def(self, text: str) -> cst.FunctionDef:
        indent = self.rule.context.module.default_indent
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
        if self._edit_whole_tuple(edits, calls, split):
            return
        block = calls[0].block.body
        by_position = sorted(calls, key=lambda c: block.index(c.line))
        first_line = by_position[0].line
        start = block.index(first_line)
        locals_: list[str] = []
        #: the lines whose assigned names the unpacking takes over, with those names
        reused: dict[cst.SimpleStatementLine, str] = {}
        for call in calls:
            name = _assigned_name(call)
            position = block.index(call.line)
            if name is not None and name not in locals_ and not any(
                name in paths_in(s) for s in block[start:position]
            ):
                locals_.append(name)
                reused[call.line] = name
                if call.line is not first_line:
                    edits[call.line] = cst.RemovalSentinel.REMOVE
                continue
            fresh = self.rule.fresh_local(f"{call.call.func.attr.value}_out", call.method)
            locals_.append(fresh)
            edits[call.call] = cst.Name(fresh, lpar=call.call.lpar, rpar=call.call.rpar)
        targets = cst.Tuple([cst.Element(cst.Name(n)) for n in locals_], lpar=[], rpar=[])
        unpack = [cst.Assign([cst.AssignTarget(targets)], split)]
        # `name: T = self.k(x)` keeps its annotation as the declaration `name: T` above the unpacking.
        declared = [line.body[0] for line in reused if isinstance(line.body[0], cst.AnnAssign)]
        new = [cst.SimpleStatementLine([cst.AnnAssign(a.target.deep_clone(), a.annotation.deep_clone())]) for a in declared]
        # Each taken-over line's comments go above the unpacking, in order; none is left trailing it.
        in_order = sorted(reused, key=block.index)
        merged = [line.with_changes(leading_lines=[]) if line is first_line else line for line in in_order]
        comments = _comments(merged, [reused[line] for line in in_order])
        if first_line in reused:
            new.append(first_line.with_changes(body=unpack, leading_lines=[], trailing_whitespace=cst.TrailingWhitespace()))
        else:
            new.append(cst.SimpleStatementLine(unpack))
        new[0] = new[0].with_changes(leading_lines=[*first_line.leading_lines, *comments])
        if first_line in reused:
            edits[first_line] = cst.FlattenSentinel(new)
        else:
            edits[first_line] = lambda updated: cst.FlattenSentinel([*new, updated.with_changes(leading_lines=[])])

    def _edit_whole_tuple(self, edits, calls: list[_Call], split: cst.Call) -> bool:
        """Whether one tuple holds exactly the calls and became the split: ``return self.a(h), self.b(h)``,
        or ``b, a = self.b(h), self.a(h)`` whose names are put in layer order (``a, b = ...``)."""
        parent = self.index.parent.get(self.index.parent.get(calls[0].call))
        if not isinstance(parent, cst.Tuple) or len(parent.elements) != len(calls):
            return False
        layer_of = {id(c.call): i for i, c in enumerate(calls)}
        order = [layer_of.get(id(e.value)) for e in parent.elements]
        holder = self.index.parent.get(parent)
        if None in order or not isinstance(holder, (cst.Return, cst.Assign)) or holder.value is not parent:
            return False
        value = split.with_changes(lpar=parent.lpar, rpar=parent.rpar)
        if order == sorted(order):
            edits[parent] = value
            return True
        if not isinstance(holder, cst.Assign) or not _distinct_names(holder.targets, len(calls)):
            return False
        target = holder.targets[0].target
        elements = [e.with_changes(value=target.elements[order.index(i)].value) for i, e in enumerate(target.elements)]
        reordered = holder.targets[0].with_changes(target=target.with_changes(elements=elements))
        edits[holder] = holder.with_changes(targets=[reordered], value=value)
        return True


def _distinct_names(targets: Sequence[cst.AssignTarget], count: int) -> bool:
    """Whether the targets are one tuple of ``count`` different plain names (the order they are bound in
    then does not matter)."""
    if len(targets) != 1 or not isinstance(targets[0].target, cst.Tuple):
        return False
    elements = targets[0].target.elements
    names = {e.value.value for e in elements if isinstance(e, cst.Element) and isinstance(e.value, cst.Name)}
    return len(elements) == len(names) == count


class _RenameSelf(cst.CSTTransformer):
    def __init__(self, self_: str) -> None:
        super().__init__()
        self.self_ = self_

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        value = updated_node.value
        if isinstance(value, cst.Name) and value.value == self.self_:
            return updated_node.with_changes(value=cst.Name("module"))
        return updated_node


def _rename_self(node: cst.BaseExpression, self_: str) -> cst.BaseExpression:
    """A width written in ``__init__`` (``self.n_heads * self.head_dim``) as the hook reads it (``module.``)."""
    return node.visit(_RenameSelf(self_))
