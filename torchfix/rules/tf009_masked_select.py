"""TF009 masked-select: ``x[mask.nonzero(as_tuple=True)]`` and friends -> ``x[mask]``."""

from __future__ import annotations

import libcst as cst

from torchfix.patterns import (
    arg,
    code,
    int_value,
    is_true,
    make_call,
    names_read,
    number_value,
    same_code,
    strip_parens,
)
from torchfix.rule import Applicability, Fix, Rule
from torchfix.rules._masks import (
    BOOL_FUNCTIONS,
    BOOL_METHODS,
    Provenance,
    ScopeTracker,
    index,
    method_name,
    receiver,
    with_method,
)
from torchfix.rules._rewrite import make_site
from torchfix.rules._torch import TORCH_CONVENTIONS
from torchfix.rules.examples import tf009

SAFE, UNSAFE = Applicability.SAFE, Applicability.UNSAFE
_MESSAGE = "Index with the boolean mask instead of its nonzero() indices."
_SQUEEZE = "assumes the mask never has exactly one nonzero element (the original index is then 0-d and drops a dimension)."


class MaskedSelect(ScopeTracker, Rule):
    CODE = "TF009"
    SLUG = "masked-select"
    IDIOM = "boolean-mask indexing"
    SUMMARY = "Index with a boolean mask instead of its nonzero() indices or a Python loop."
    FIX_SAFETY = "safe/unsafe"
    DOCS = """\
## Why
`x[mask]` selects the rows (or elements) where a boolean mask is true in one
step. Going through `mask.nonzero()` builds an index tensor first (and
synchronises with the GPU to size it), a Python loop over `zip(x, mask)` runs
once per row, and `x.flatten()[mask.flatten()]` is `torch.masked_select`.

## Fix safety
Audit against the contract (same values, dtype, device and `state_dict()` for every input,
under `.to(dtype)`, `.to(device)`, `.train()`, `.eval()`): boolean-mask indexing selects
the same elements in the same order, in `x`'s dtype and on its device, and touches no
module state; the unsafe rows are those whose equality needs a shape or a dtype the code
does not show.

Safe:
- `x[mask.nonzero(as_tuple=True)]`, `x[torch.nonzero(mask, as_tuple=True)]`,
  `x[torch.where(mask)]` -> `x[mask]`;
- `x[mask.nonzero().squeeze(1)]` (also `squeeze(-1)`, `view(-1)`, `reshape(-1)`,
  `flatten()`), `x.index_select(0, ...)` and `torch.index_select(x, 0, ...)` of
  those or of `.squeeze()` -> `x[mask]` (these forms pin a 1-D mask);
- `x.flatten()[mask.flatten()]`/`x.view(-1)[mask.view(-1)]` ->
  `torch.masked_select(x, mask)` when the mask is visibly boolean, both are
  visibly torch tensors (`view(-1)` raises on numpy arrays) and the mask has
  `x`'s shape (a comparison of `x` with a number, `isnan(x)`, `~`/`&`/`|` of
  those); otherwise unsafe with that assumption;
- `torch.stack([v for v, m in zip(x, mask) if m])` -> `x[mask]` when `x` and the
  mask are visibly torch tensors, else unsafe (a list of tensors cannot be
  indexed by a mask); the original raises on an empty selection, the fix does not.

The mask is written as is when it is provably boolean (a comparison, `~`, `&`,
`logical_*`, `isnan`..., or a local assigned only from such); otherwise it becomes
`mask.bool()`: `nonzero` selects every non-zero value, and an integer mask used
directly as an index would gather rows 0 and 1 instead.

Unsafe: `x[mask.nonzero().squeeze()]` -> `x[mask]`: with exactly one true
element the original index is 0-d and drops the indexed dimension.

## What could go wrong
Only the inline form is rewritten: an index kept in a variable (reused for
`idx.numel()`, `index_copy_`, or saved for backward) is left alone. `nonzero()`
without a squeeze gives `(k, 1)` indices and is a different operation; numpy's
`.nonzero()` returns a tuple and has no `as_tuple=`, so neither is matched. The
`squeeze(1)`/`view(-1)` forms assume a 1-D mask, as the original's shape does; a
mask smaller than `x`'s leading dimensions indexes positions in the original but
raises as a boolean mask.

## Verify
`torchfix verify` evaluates both forms on random masks, including all-false,
single-true and all-true ones, and compares the selections.
"""
    ROWS = {
        "tuple": "x[mask.nonzero(as_tuple=True)], x[torch.nonzero(mask, as_tuple=True)], x[torch.where(mask)] -> x[mask]",
        "pinned": "x[mask.nonzero().squeeze(1)], x.index_select(0, ...), torch.index_select(x, 0, ...view(-1)) -> x[mask]",
        "squeeze": "x[mask.nonzero().squeeze()] -> x[mask] (unsafe: a single True gives a 0-d index)",
        "flatten": "x.flatten()[mask.flatten()], x.view(-1)[mask.view(-1)] -> torch.masked_select(x, mask)",
        "stack": "torch.stack([v for v, m in zip(x, mask) if m]) -> x[mask]",
    }
    EXAMPLES = tf009.EXAMPLES
    VALID = tf009.VALID
    IMPORT_CONVENTIONS = TORCH_CONVENTIONS

    def _proof(self) -> Provenance:
        return Provenance(self.names, self.scope())

    def _mask(self, mask: cst.BaseExpression, proof: Provenance) -> cst.BaseExpression:
        """``mask`` as an index: as written when boolean, else ``mask.bool()``."""
        return strip_parens(mask) if proof.is_bool(mask) else with_method(mask, "bool")

    # -- assignment targets (masked_select cannot be assigned to) ------------

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._store(target.target)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._store(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._store(node.target)

    def visit_Del(self, node: cst.Del) -> None:
        self._store(node.target)

    def _store(self, target: cst.BaseExpression) -> None:
        stores = self.__dict__.setdefault("_stores", set())
        stores.add(target)
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._store(element.value)

    # -- x[...] --------------------------------------------------------------

    def visit_Subscript(self, node: cst.Subscript) -> None:
        if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
            return
        key = node.slice[0].slice.value
        proof = self._proof()
        mask = self._nonzero_tuple(key)
        if mask is not None:
            self._report_index(node, node.value, key, mask, SAFE, proof)
            return
        squeezed = self._squeezed(key)
        if squeezed is not None:
            mask, pinned = squeezed
            self._report_index(node, node.value, key, mask, SAFE if pinned else UNSAFE, proof)
            return
        if node not in self.__dict__.get("_stores", ()):
            self._flattened(node, key, proof)

    def _report_index(self, node, value, key, mask, applicability, proof: Provenance) -> None:
        new_key = self._mask(mask, proof)
        fix = Fix(
            applicability,
            {key: new_key},
            assumption=_SQUEEZE if applicability is UNSAFE else "",
            site=self._site(node, index(value, new_key), value, mask, proof) if applicability is SAFE else None,
        )
        self.report(node, _MESSAGE, fix)

    def _nonzero_tuple(self, node: cst.BaseExpression) -> cst.BaseExpression | None:
        """The mask of ``m.nonzero(as_tuple=True)``, ``torch.nonzero(m, as_tuple=True)``, ``torch.where(m)``."""
        if not isinstance(node, cst.Call) or any(a.star for a in node.args):
            return None
        if method_name(node, self.names) == "nonzero":
            flag = arg(node, "as_tuple")
            return receiver(node) if len(node.args) == 1 and flag is not None and is_true(flag.value) else None
        qualified = self.names.qualified(node.func)
        if qualified == "torch.nonzero" and len(node.args) == 2:
            mask, flag = arg(node, "input", 0), arg(node, "as_tuple")
            if mask is not None and flag is not None and mask is not flag and is_true(flag.value):
                return mask.value
        if qualified == "torch.where" and len(node.args) == 1:
            mask = arg(node, "condition", 0)
            return mask.value if mask is not None else None
        return None

    def _nonzero_matrix(self, node: cst.BaseExpression) -> cst.BaseExpression | None:
        """The mask of ``mask.nonzero()`` / ``torch.nonzero(mask)`` (``(k, ndim)`` indices)."""
        if not isinstance(node, cst.Call) or any(a.star for a in node.args):
            return None
        flag = arg(node, "as_tuple")
        if flag is not None and not (isinstance(flag.value, cst.Name) and flag.value.value == "False"):
            return None
        if method_name(node, self.names) == "nonzero":
            return receiver(node) if len(node.args) == (flag is not None) else None
        if self.names.qualified(node.func) == "torch.nonzero" and len(node.args) == 1 + (flag is not None):
            mask = arg(node, "input", 0)
            return mask.value if mask is not None and mask is not flag else None
        return None

    def _squeezed(self, node: cst.BaseExpression) -> tuple[cst.BaseExpression, bool] | None:
        """(mask, pinned) for nonzero indices made 1-D: pinned by squeeze(1)/view(-1)/flatten(), or squeeze()."""
        method = method_name(node, self.names)
        if method not in ("squeeze", "view", "reshape", "flatten"):
            return None
        mask = self._nonzero_matrix(receiver(node))  # type: ignore[arg-type]
        args = node.args  # type: ignore[union-attr]
        if mask is None or any(a.star for a in args):
            return None
        if not args:
            return (mask, method == "flatten") if method in ("squeeze", "flatten") else None
        if len(args) != 1:
            return None
        if method == "squeeze":
            dim = arg(node, "dim", 0)  # type: ignore[arg-type]
            return (mask, True) if dim is not None and int_value(dim.value) in (1, -1) else None
        if method != "flatten" and args[0].keyword is None and int_value(args[0].value) == -1:
            return mask, True
        return None

    # -- x.index_select(0, ...) and torch.stack([...]) ------------------------

    def visit_Call(self, node: cst.Call) -> None:
        if any(a.star for a in node.args):
            return
        keywords = {a.keyword.value for a in node.args if a.keyword is not None}
        if method_name(node, self.names) == "index_select" and len(node.args) == 2 and keywords <= {"dim", "index"}:
            self._index_select(node, receiver(node), arg(node, "dim", 0), arg(node, "index", 1))
            return
        qualified = self.names.qualified(node.func)
        if qualified == "torch.index_select" and len(node.args) == 3 and keywords <= {"input", "dim", "index"}:
            source = arg(node, "input", 0)
            if source is not None:
                self._index_select(node, source.value, arg(node, "dim", 1), arg(node, "index", 2))
        elif qualified == "torch.stack" and keywords <= {"tensors", "dim"}:
            self._stack(node)

    def _index_select(self, node: cst.Call, source, dim: cst.Arg | None, key: cst.Arg | None) -> None:
        if dim is None or key is None or int_value(dim.value) != 0:
            return
        squeezed = self._squeezed(key.value)
        if squeezed is None:
            return
        mask, _ = squeezed  # a 0-d index keeps the dimension in index_select: squeeze() is safe here
        proof = self._proof()
        replacement = index(source, self._mask(mask, proof)).with_changes(lpar=node.lpar, rpar=node.rpar)
        fix = Fix(SAFE, {node: replacement}, site=self._site(node, replacement, source, mask, proof))
        self.report(node, _MESSAGE, fix)

    def _stack(self, node: cst.Call) -> None:
        items, dim = arg(node, "tensors", 0), arg(node, "dim", 1)
        if items is None or len(node.args) != 1 + (dim is not None) or (dim is not None and int_value(dim.value) != 0):
            return
        selected = self._selected_rows(items.value)
        if selected is None:
            return
        source, mask = selected
        proof = self._proof()
        replacement = index(source, self._mask(mask, proof)).with_changes(lpar=node.lpar, rpar=node.rpar)
        tensors = proof.is_torch(source) and (proof.is_bool(mask) or proof.is_torch(mask))
        fix = Fix(
            SAFE if tensors else UNSAFE,
            {node: replacement},
            assumption="" if tensors else f"assumes `{code(source)}` and `{code(mask)}` are tensors, not lists.",
            site=self._site(node, replacement, source, mask, proof) if tensors else None,
        )
        self.report(node, "Index with the mask instead of stacking the rows it selects.", fix)

    def _selected_rows(self, node: cst.BaseExpression) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
        """(x, mask) of ``[v for v, m in zip(x, mask) if m]`` (either pairing order)."""
        if not isinstance(node, cst.ListComp) or not isinstance(node.elt, cst.Name):
            return None
        clause = node.for_in
        if clause.inner_for_in is not None or clause.asynchronous is not None or len(clause.ifs) != 1:
            return None
        target, test, zipped = clause.target, clause.ifs[0].test, clause.iter
        if not (isinstance(target, cst.Tuple) and len(target.elements) == 2 and isinstance(test, cst.Name)):
            return None
        bound = [e.value.value if isinstance(e.value, cst.Name) else None for e in target.elements]
        if not (isinstance(zipped, cst.Call) and isinstance(zipped.func, cst.Name) and zipped.func.value == "zip"):
            return None
        if self.names.qualified(zipped.func) is not None or len(zipped.args) != 2:
            return None
        if any(a.keyword is not None or a.star for a in zipped.args) or bound[0] == bound[1]:
            return None
        if bound == [node.elt.value, test.value]:
            return zipped.args[0].value, zipped.args[1].value
        if bound == [test.value, node.elt.value]:
            return zipped.args[1].value, zipped.args[0].value
        return None

    # -- x.flatten()[mask.flatten()] -> torch.masked_select(x, mask) ------------

    def _flat(self, node: cst.BaseExpression) -> tuple[cst.BaseExpression, bool] | None:
        """(tensor, is_view) for ``t.flatten()``, ``t.view(-1)``, ``t.reshape(-1)``."""
        method = method_name(node, self.names)
        if method == "flatten" and not node.args:  # type: ignore[union-attr]
            return receiver(node), False  # type: ignore[arg-type]
        if method in ("view", "reshape") and len(node.args) == 1:  # type: ignore[union-attr]
            only = node.args[0]  # type: ignore[union-attr]
            if only.keyword is None and not only.star and int_value(only.value) == -1:
                return receiver(node), method == "view"  # type: ignore[arg-type]
        return None

    def _flattened(self, node: cst.Subscript, key: cst.BaseExpression, proof: Provenance) -> None:
        flat_source, flat_mask = self._flat(node.value), self._flat(key)
        if flat_source is None or flat_mask is None or not proof.is_bool(flat_mask[0]):
            return
        (source, source_view), (mask, mask_view) = flat_source, flat_mask
        ref = self.names.reference("torch.masked_select")
        if ref is None:
            return
        torch_tensors = (source_view or proof.is_torch(source)) and (mask_view or proof.is_torch(mask))
        safe = torch_tensors and self._same_shape(mask, source)
        replacement = make_call(ref.expr, [source, mask]).with_changes(lpar=node.lpar, rpar=node.rpar)
        fix = Fix(
            SAFE if safe else UNSAFE,
            {node: replacement},
            imports=ref.imports,
            assumption=(
                "" if safe else f"assumes `{code(source)}` and `{code(mask)}` are torch tensors of the same shape."
            ),
            site=self._site(node, replacement, source, mask, proof, flat=True) if safe else None,
        )
        self.report(node, "Use torch.masked_select instead of indexing a flattened tensor by a flattened mask.", fix)

    def _same_shape(self, mask: cst.BaseExpression, source: cst.BaseExpression) -> bool:
        """``mask`` is elementwise in ``source`` alone: ``source > 0``, ``isnan(source)``, ``~``/``&`` of those."""
        if isinstance(mask, cst.Comparison) and len(mask.comparisons) == 1:
            right = mask.comparisons[0].comparator
            return (same_code(mask.left, source) and number_value(right) is not None) or (
                same_code(right, source) and number_value(mask.left) is not None
            )
        if isinstance(mask, cst.UnaryOperation) and isinstance(mask.operator, cst.BitInvert):
            return self._same_shape(mask.expression, source)
        if isinstance(mask, cst.BinaryOperation) and isinstance(mask.operator, (cst.BitAnd, cst.BitOr, cst.BitXor)):
            return self._same_shape(mask.left, source) and self._same_shape(mask.right, source)
        if method_name(mask, self.names) in BOOL_METHODS and not mask.args:  # type: ignore[union-attr]
            return same_code(receiver(mask), source)  # type: ignore[arg-type]
        if isinstance(mask, cst.Call) and self.names.qualified(mask.func) in BOOL_FUNCTIONS and len(mask.args) == 1:
            return mask.args[0].keyword is None and same_code(mask.args[0].value, source)
        return False

    # -- sites -----------------------------------------------------------------

    def _site(self, before, after, source, mask, proof: Provenance, flat: bool = False):
        """The site check for ``source`` a name and a mask over other names.

        A mask built from ``source`` itself only has a known shape in the
        ``flat`` row, where it is proved elementwise.
        """
        if not isinstance(source, cst.Name) or source.value in self.names.bindings:
            return None
        shape = ("4, 8", "4, 8") if flat else ("6, 3", "6")
        mask_names = [n for n in dict.fromkeys(names_read(mask)) if n not in self.names.bindings]
        operands = [(source, source.value, f"float({shape[0]})")]
        for name in mask_names:
            if name == source.value:
                if not flat:
                    return None
                continue
            node = cst.Name(name)
            if proof.is_bool(node):
                spec = f"bool({shape[1]})"
            elif mask_names == [name] and same_code(mask, node):
                spec = f"long({shape[1]})"
            else:
                spec = f"float({shape[1]})"
            operands.append((node, name, spec))
        return make_site(before, after, operands, self.names)
