"""TF001: reading a folder dataset's ``__getitem__``/``__len__``: the loader, the transforms, the fix's assignments."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m

from torchfix.patterns import same_code, substitute
from torchfix.rules._dataset_symbols import (
    BUILTINS,
    TORCHVISION_ATTRIBUTES,
    Classes,
    ClassIndex,
    Decline,
    Fill,
    Samples,
    Targets,
    Value,
    free_names,
    is_name,
    is_self_read,
    snippet,
    string_value,
)
from torchfix.rules._suites import statements

#: loaders that take a str or a Path alike
_PATH_AGNOSTIC = frozenset({"builtins.open", "numpy.load", "PIL.Image.open", "torch.load", "pathlib.Path"})


class ItemReader:
    """The ``__getitem__``/loader part of :class:`~torchfix.rules._datasets.FolderDataset`."""

    def _getitem(self, method: cst.FunctionDef, samples: str, fill: Fill):
        params = method.params
        if (
            len(params.params) != 2 or params.star_arg is not cst.MaybeSentinel.DEFAULT
            or params.kwonly_params or params.star_kwarg or params.posonly_params
            or params.params[0].name.value != "self"
        ):
            raise Decline("__getitem__ takes more than an index")
        index = params.params[1].name.value
        path, target, rest = self._sample_lookup(statements(method.body), samples, index)
        inline = m.Return(value=m.Tuple([m.Element(), m.Element(m.Name(target))]))
        if len(rest) == 1 and m.matches(rest[0], inline) and path in free_names(rest[0].value.elements[0].value):
            # return load(path), target
            loaded = rest[0].value.elements[0].value
            self._check_loader(loaded, path, {target, index})
            return self._loader_argument(loaded, path, fill), None, None
        sample, loaded, rest = self._loader(rest, path, {target, index})
        transform, rest = self._transform(rest, sample, "transform")
        target_transform, rest = self._transform(rest, target, "target_transform")
        expected = m.Return(value=m.Tuple([m.Element(m.Name(sample)), m.Element(m.Name(target))]))
        if len(rest) != 1 or not m.matches(rest[0], expected):
            where = snippet(rest[0]) if rest else "no return"
            raise Decline(f"__getitem__ does more than load, transform and return (sample, target): `{where}`")
        return self._loader_argument(loaded, path, fill), transform, target_transform

    def _sample_lookup(self, body: list, samples: str, index: str):
        """``path, target = self.samples[i]`` (or ``[i][0]`` and ``[i][1]``) -> (path, target, rest)."""
        item = m.Subscript(
            value=m.Attribute(value=m.Name("self"), attr=m.Name(samples)),
            slice=[m.SubscriptElement(slice=m.Index(value=m.Name(index)))],
        )
        pair = m.Tuple([m.Element(m.Name()), m.Element(m.Name())])
        unpack = m.Assign(targets=[m.AssignTarget(target=pair)], value=item)
        if body and m.matches(body[0], unpack):
            first, second = (e.value.value for e in body[0].targets[0].target.elements)
            return first, second, body[1:]

        def part(position: int):
            element = m.SubscriptElement(slice=m.Index(value=m.Integer(str(position))))
            return m.Assign(targets=[m.AssignTarget(target=m.Name())], value=m.Subscript(value=item, slice=[element]))

        if len(body) >= 2 and m.matches(body[0], part(0)) and m.matches(body[1], part(1)):
            return body[0].targets[0].target.value, body[1].targets[0].target.value, body[2:]
        raise Decline(f"__getitem__ does not start by reading (path, target) from self.{samples}[{index}]")

    def _loader(self, body: list, path: str, forbidden: set[str]):
        """The statements that load the sample from ``path``, folded into one expression."""
        loaded: cst.BaseExpression | None = None
        sample = None
        rest = list(body)
        while rest:
            stmt = rest[0]
            if isinstance(stmt, cst.With) and loaded is None:
                sample, loaded = self._with_open(stmt, path)
            elif m.matches(stmt, m.Assign(targets=[m.AssignTarget(target=m.Name())])):
                name, value = stmt.targets[0].target.value, stmt.value
                reads = free_names(value)
                if name in forbidden or name == path or any(is_self_read(n) for n in reads):
                    break
                if loaded is None:
                    if path not in reads:
                        break
                elif name != sample or reads.count(name) != 1:
                    break
                else:
                    value = substitute(value, {name: loaded})
                sample, loaded = name, value
            else:
                break
            rest = rest[1:]
        if loaded is None:
            raise Decline("__getitem__ does not load the sample from its path")
        self._check_loader(loaded, path, forbidden)
        return sample, loaded, rest

    def _check_loader(self, loaded: cst.BaseExpression, path: str, forbidden: set[str]) -> None:
        """The loader moves into __init__ as a function of the path alone."""
        for name in free_names(loaded):
            if name == path or name in self.introduced:
                continue
            if is_self_read(name) or name in forbidden:
                raise Decline(
                    f"the loader reads `{name}` (instance state, a storage backend?); "
                    "DatasetFolder's loader gets only the path"
                )
            if name in self.params or (name not in self.globals and name not in BUILTINS):
                raise Decline(f"the loader depends on `{name}`, which the new __init__ would shadow or drop")

    def _with_open(self, stmt: cst.With, path: str) -> tuple[str, cst.BaseExpression]:
        """``with open(path[, mode], encoding=...) as f: x = f.read()`` -> (x, ``Path(path).read_text(...)``)."""
        body = statements(stmt.body)
        item = stmt.items[0] if len(stmt.items) == 1 and stmt.asynchronous is None else None
        handle = item.asname.name if item is not None and item.asname is not None else None
        one_read = (
            isinstance(handle, cst.Name)
            and m.matches(item.item, m.Call(func=m.Name("open")))
            and "open" not in self.globals
            and len(body) == 1
            and m.matches(body[0], m.Assign(targets=[m.AssignTarget(target=m.Name())]))
            and free_names(body[0].value).count(handle.value) == 1
        )
        read = m.Call(func=m.Attribute(value=m.Name(handle.value), attr=m.Name("read")), args=[]) if one_read else None
        reads = m.findall(body[0].value, read) if one_read else []
        if len(reads) != 1:
            raise Decline(f"the loader is not one expression: `{snippet(stmt)}`")
        method, keywords = self._open_mode(item.item, path)
        reading = cst.Call(cst.Attribute(self._path_call(cst.Name(path)), cst.Name(method)), keywords)
        return body[0].targets[0].target.value, body[0].value.visit(_ReplaceNode(reads[0], reading))

    @staticmethod
    def _open_mode(opened: cst.Call, path: str) -> tuple[str, list[cst.Arg]]:
        """open()'s arguments as a pathlib read method and its keywords."""
        args = list(opened.args)
        if not args or args[0].keyword is not None or args[0].star or not is_name(args[0].value, path):
            raise Decline("the loader does not open the sample's path")
        mode = "r"
        keywords = []
        for position, argument in enumerate(args[1:], start=1):
            name = argument.keyword.value if argument.keyword is not None else ("mode" if position == 1 else "")
            if argument.star:
                name = ""
            if name == "mode" and string_value(argument.value) is not None:
                mode = string_value(argument.value)
            elif name in ("encoding", "errors"):
                equal = cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace(""))
                keywords.append(cst.Arg(argument.value, keyword=cst.Name(name), equal=equal))
            else:
                raise Decline(f"open() argument `{snippet(argument)}` has no pathlib read form")
        if mode in ("r", "rt", "tr"):
            method = "read_text"
        elif mode in ("rb", "br") and not keywords:
            method = "read_bytes"
        else:
            raise Decline(f"open() mode {mode!r} has no pathlib read form")
        comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        return method, [k.with_changes(comma=comma) for k in keywords[:-1]] + keywords[-1:]

    def _transform(self, body: list, variable: str, kind: str):
        """``if self.T [is not None]: v = self.T(v)`` (or unconditional) -> (transform expression, rest)."""
        if not body:
            return None, body
        stmt, test = body[0], None
        if isinstance(stmt, cst.If) and stmt.orelse is None and len(statements(stmt.body)) == 1:
            test, stmt = stmt.test, statements(stmt.body)[0]
        apply = m.Assign(
            targets=[m.AssignTarget(target=m.Name(variable))],
            value=m.Call(
                func=m.Attribute(value=m.Name("self")), args=[m.Arg(value=m.Name(variable), keyword=None, star="")]
            ),
        )
        if not m.matches(stmt, apply):
            return None, body
        attribute = stmt.value.func.attr.value
        attr = m.Attribute(value=m.Name("self"), attr=m.Name(attribute))
        is_not_none = m.Comparison(
            left=attr, comparisons=[m.ComparisonTarget(operator=m.IsNot(), comparator=m.Name("None"))]
        )
        if test is not None and not m.matches(test, attr | is_not_none):
            return None, body
        symbol = self.env.get(f"self.{attribute}")
        if not isinstance(symbol, Value):
            raise Decline(f"self.{attribute} is not set from the constructor's arguments")
        self.transform_attributes[kind] = attribute
        return symbol.expr, body[1:]

    @staticmethod
    def _len(method: cst.FunctionDef, samples: str) -> None:
        expected = m.Return(
            value=m.Call(
                func=m.Name("len"), args=[m.Arg(value=m.Attribute(value=m.Name("self"), attr=m.Name(samples)))]
            )
        )
        body = statements(method.body)
        params = method.params
        only_self = (
            [p.name.value for p in params.params] == ["self"]
            and not (params.posonly_params or params.kwonly_params or params.star_kwarg)
            and params.star_arg is cst.MaybeSentinel.DEFAULT
        )
        if not only_self or len(body) != 1 or not m.matches(body[0], expected):
            raise Decline("__len__ is not len(self.<samples>)")

    def _loader_argument(self, loaded: cst.BaseExpression, path: str, fill: Fill) -> cst.BaseExpression | None:
        """None for ImageFolder's default loader (PIL, RGB), else the ``loader=`` value."""
        rgb = m.Call(
            func=m.Attribute(
                value=m.Call(args=[m.Arg(value=m.Name(path), keyword=None, star="")]), attr=m.Name("convert")
            ),
            args=[m.Arg(value=m.SimpleString(), keyword=None)],
        )
        if m.matches(loaded, rgb) and self.names.qualified(loaded.func.value.func) == "PIL.Image.open":
            if string_value(loaded.args[0].value) == "RGB":
                return None
        if fill.path_kind == "path":
            loaded = loaded.visit(_PathArguments(path, self))
        single = m.Call(args=[m.Arg(value=m.Name(path), keyword=None, star="")])
        if m.matches(loaded, single) and path not in free_names(loaded.func):
            return loaded.func
        return cst.Lambda(cst.Parameters([cst.Param(cst.Name(path))]), loaded)

    def _qualified_call(self, node: cst.Call) -> str | None:
        if isinstance(node.func, cst.Name) and node.func.value in BUILTINS and node.func.value not in self.globals:
            return f"builtins.{node.func.value}"
        return self.names.qualified(node.func)

    def _assignments(self, fill: Fill, image: bool) -> tuple[tuple[str, cst.BaseExpression], ...]:
        """Aliases and kept attributes after ``super().__init__``; Decline on a clash with torchvision's."""
        applied = {attribute: kind for kind, attribute in self.transform_attributes.items()}
        written = []
        for attribute, symbol in self.attributes:
            if isinstance(symbol, Classes) and symbol is fill.classes:
                source = "classes"
            elif isinstance(symbol, ClassIndex) and symbol.classes is fill.classes and symbol.sorted:
                source = "class_to_idx"
            elif isinstance(symbol, Samples) and symbol.fill is fill:
                source = "samples"
            elif isinstance(symbol, Targets) and symbol.samples.fill is fill:
                source = "targets"
            elif not isinstance(symbol, Value):
                raise Decline(f"self.{attribute} holds a list the fix would not rebuild")
            elif attribute in applied:
                source = applied[attribute]
            elif attribute == "root" and same_code(symbol.expr, fill.classes.root):
                continue
            elif attribute in ("transform", "target_transform"):
                raise Decline(f"self.{attribute} is set but never applied in __getitem__; DatasetFolder would apply it")
            elif attribute in TORCHVISION_ATTRIBUTES - {"root"}:
                raise Decline(f"self.{attribute} means something else in DatasetFolder")
            else:
                written.append((attribute, symbol.expr))
                continue
            if attribute == source or (image and attribute == "imgs" and source == "samples"):
                continue
            if attribute in TORCHVISION_ATTRIBUTES:
                raise Decline(f"self.{attribute} means something else in DatasetFolder")
            written.append((attribute, cst.Attribute(cst.Name("self"), cst.Name(source))))
        return tuple(written)


class _ReplaceNode(cst.CSTTransformer):
    def __init__(self, old: cst.CSTNode, new: cst.CSTNode) -> None:
        super().__init__()
        self.old, self.new = old, new

    def on_leave(self, original_node, updated_node):
        return self.new if original_node is self.old else updated_node


class _PathArguments(cst.CSTTransformer):
    """``p`` -> ``Path(p)`` in a loader, except as the path argument of a loader that takes str too."""

    def __init__(self, path: str, analysis: ItemReader) -> None:
        super().__init__()
        self.path, self.analysis = path, analysis
        self.keep: set[cst.CSTNode] = set()

    def visit_Call(self, node: cst.Call) -> None:
        agnostic = self.analysis._qualified_call(node) in _PATH_AGNOSTIC
        if agnostic and node.args and is_name(node.args[0].value, self.path):
            self.keep.add(node.args[0].value)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.keep.add(node.attr)

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.keep.add(node.keyword)

    def leave_Name(self, original_node, updated_node):
        if original_node.value == self.path and original_node not in self.keep:
            return self.analysis._path_call(cst.Name(self.path))
        return updated_node
