"""TF001: reading a folder dataset's ``__init__`` (class listing, class index, sample loops)."""

from __future__ import annotations

from typing import Sequence

import libcst as cst
import libcst.matchers as m

from torchfix.patterns import parenthesized, same_code, substitute
from torchfix.rules._dataset_symbols import (
    BUILTINS,
    DATASET,
    RAISE_ON_FILES,
    ClassDir,
    Classes,
    ClassIndex,
    ClassName,
    Decline,
    FileName,
    FilePath,
    Fill,
    Label,
    Local,
    Loop,
    Root,
    Samples,
    Targets,
    Value,
    WalkDir,
    WalkFiles,
    attribute_key,
    free_names,
    is_name,
    keyed_sort,
    listing_kind,
    positional_args,
    snippet,
    string_value,
)
from torchfix.rules._suites import statements


class InitReader:
    """The ``__init__`` part of :class:`~torchfix.rules._datasets.FolderDataset`: evaluates each statement symbolically."""

    def _methods(self) -> dict[str, cst.FunctionDef]:
        found: dict[str, cst.FunctionDef] = {}
        for stmt in statements(self.cls.body):
            if not isinstance(stmt, cst.FunctionDef) or stmt.decorators or stmt.name.value in found:
                raise Decline(f"the class has other members (`{snippet(stmt)}`) a thin subclass would lose")
            found[stmt.name.value] = stmt
        extra = sorted(set(found) - {"__init__", "__getitem__", "__len__"})
        if extra:
            raise Decline(f"the class defines {', '.join(extra)}, which a thin subclass would lose")
        if "__len__" not in found:
            raise Decline("the class has no __len__")
        return found

    def _parameters(self, init: cst.FunctionDef) -> None:
        params = init.params
        every = [*params.posonly_params, *params.params, *params.kwonly_params]
        every += [p for p in (params.star_arg, params.star_kwarg) if isinstance(p, cst.Param)]
        if not every or every[0].name.value != "self":
            raise Decline("__init__ does not take self first")
        self.params = {p.name.value for p in every[1:]}
        # is_valid_file's parameter must not hide a name the moved filter reads
        taken = self.params | self.globals
        free = [n for n in ("path", "file_path", "sample_path") if n not in taken]
        if not free:
            raise Decline("no free name for is_valid_file's parameter")
        self.path_name = free[0]

    def _init_statement(self, stmt: cst.CSTNode) -> None:
        if isinstance(stmt, cst.Expr) and self._is_super_init(stmt.value):
            return
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
            self._assign(stmt.targets[0].target, stmt.value)
        elif isinstance(stmt, cst.AnnAssign) and stmt.value is not None:
            self._assign(stmt.target, stmt.value)
        elif isinstance(stmt, cst.Expr) and m.matches(stmt.value, m.Call(func=m.Attribute(attr=m.Name("sort")))):
            self._sort(stmt.value)
        elif isinstance(stmt, cst.For):
            self._fill(*self._for_clauses(stmt, []))
        else:
            raise Decline(f"__init__ does more than list the class folders: `{snippet(stmt)}`")

    def _is_super_init(self, node: cst.BaseExpression) -> bool:
        plain = m.Call(args=[], func=m.Attribute(value=m.Call(func=m.Name("super")), attr=m.Name("__init__")))
        if m.matches(node, plain):
            return True
        explicit = tuple(f"{base}.__init__" for base in DATASET)
        return (
            isinstance(node, cst.Call)
            and self.names.qualified(node.func) in explicit
            and len(node.args) == 1
            and is_name(node.args[0].value, "self")
        )

    def _assign(self, target: cst.BaseExpression, value: cst.BaseExpression) -> None:
        key = attribute_key(target)
        if key is None:
            raise Decline(f"__init__ assigns `{snippet(target)}`")
        symbol = self._eval(value)
        self.env[key] = symbol
        if key.startswith("self."):
            attribute = key[len("self."):]
            self.attributes = [(a, s) for a, s in self.attributes if a != attribute]
            self.attributes.append((attribute, symbol))

    def _sort(self, call: cst.Call) -> None:
        symbol = self.env.get(attribute_key(call.func.value) or "")
        if not isinstance(symbol, Classes):
            raise Decline(f"__init__ sorts something other than the class folders: `{snippet(call)}`")
        if call.args:
            raise Decline(keyed_sort("class folders"))
        symbol.sorted = True

    def _eval(self, node: cst.BaseExpression) -> object:
        key = attribute_key(node)
        if key is not None and key in self.env:
            return self.env[key]
        if m.matches(node, m.List(elements=[]) | m.Call(func=m.Name("list"), args=[])):
            return Samples()
        classes = self._classes(node)
        if classes is not None:
            return classes
        if isinstance(node, cst.DictComp) or m.matches(node, m.Call(func=m.Name("dict"))):
            index = self._index(node)
            if index is not None:
                return index
        targets = self._targets(node)
        if targets is not None:
            return targets
        if isinstance(node, (cst.ListComp, cst.GeneratorExp)) and isinstance(node.elt, cst.Tuple):
            samples = Samples()
            self._fill(samples, self._comp_clauses(node.for_in), node.elt)
            return samples
        if any(listing_kind(c, self.names) is not None for c in m.findall(node, m.Call())):
            raise Decline(f"__init__ lists folders in a way torchfix does not follow: `{snippet(node)}`")
        return Value(self._value(node))

    def _targets(self, node: cst.BaseExpression) -> Targets | None:
        """``[s[1] for s in samples]`` or ``[y for _, y in samples]``."""
        if not isinstance(node, cst.ListComp) or node.for_in.ifs or node.for_in.inner_for_in is not None:
            return None
        samples = self.env.get(attribute_key(node.for_in.iter) or "")
        target = node.for_in.target
        if not isinstance(samples, Samples):
            return None
        second = m.Subscript(
            value=m.Name(target.value if isinstance(target, cst.Name) else ""),
            slice=[m.SubscriptElement(slice=m.Index(value=m.Integer("1")))],
        )
        if m.matches(node.elt, second) or (
            m.matches(target, m.Tuple([m.Element(m.Name()), m.Element(m.Name())]))
            and is_name(node.elt, target.elements[1].value.value)
            and target.elements[0].value.value != target.elements[1].value.value
        ):
            return Targets(samples)
        return None

    def _value(
        self, node: cst.BaseExpression, where: str = "__init__", allowed: frozenset[str] = frozenset()
    ) -> cst.BaseExpression:
        """``node`` in terms of parameters and module names, or Decline."""
        mapping: dict[str, cst.BaseExpression] = {}
        for name in free_names(node):
            if name in allowed or name in self.introduced:
                continue
            symbol = self.env.get(name)
            if isinstance(symbol, Value):
                mapping[name] = symbol.expr
            elif symbol is None and (name in self.params or name in self.globals or name in BUILTINS):
                continue
            else:
                raise Decline(f"`{snippet(node)}` in {where} depends on `{name}`, which the fix drops")
        return substitute(node, mapping)

    def _classes(self, node: cst.BaseExpression) -> Classes | None:
        """A listing of the root's class folders, None when ``node`` is none."""
        is_sorted, node = self._peel_sorted(node, "class folders")
        if m.matches(node, m.Call(func=m.Name("list"), args=[m.Arg()])):
            node = node.args[0].value
        kind = listing_kind(node, self.names)
        if kind == "backend":
            raise Decline(f"the folders are listed through a storage backend (`{snippet(node)}`), not os or pathlib")
        args = positional_args(node) if isinstance(node, cst.Call) else None
        if kind == "listdir" and args and len(args) == 1:
            return Classes(self._value(args[0]), is_sorted, dirs_only=False)
        walked = self._walk_next(node, 1)
        if walked is not None:
            return Classes(self._value(walked), is_sorted, dirs_only=True)
        if isinstance(node, (cst.ListComp, cst.GeneratorExp)) and node.for_in.inner_for_in is None:
            return self._class_comprehension(node, is_sorted)
        return None

    def _peel_sorted(self, node: cst.BaseExpression, what: str) -> tuple[bool, cst.BaseExpression]:
        if isinstance(node, cst.Call) and is_name(node.func, "sorted") and node.args:
            if len(node.args) != 1 or node.args[0].keyword is not None or node.args[0].star:
                raise Decline(keyed_sort(what))
            return True, node.args[0].value
        return False, node

    def _walk_next(self, node: cst.BaseExpression, index: int) -> cst.BaseExpression | None:
        """``next(os.walk(D))[index]`` -> D."""
        pattern = m.Subscript(
            value=m.Call(func=m.Name("next"), args=[m.Arg(value=m.Call())]),
            slice=[m.SubscriptElement(slice=m.Index(value=m.Integer(str(index))))],
        )
        if not m.matches(node, pattern):
            return None
        walk = node.value.args[0].value
        args = positional_args(walk)
        if listing_kind(walk, self.names) != "walk" or not args or len(args) != 1:
            return None
        return args[0]

    def _class_comprehension(self, node: cst.ListComp | cst.GeneratorExp, is_sorted: bool) -> Classes | None:
        inner_sorted, listing = self._peel_sorted(node.for_in.iter, "class folders")
        kind = listing_kind(listing, self.names)
        target = node.for_in.target
        if kind is None or not isinstance(target, cst.Name):
            return None
        if kind == "backend":
            raise Decline(f"the folders are listed through a storage backend (`{snippet(listing)}`), not os or pathlib")
        if kind in ("glob", "pathglob"):
            raise Decline("glob skips hidden class folders, which torchvision lists as classes")
        var = target.value
        args = positional_args(listing)
        if kind == "listdir" and is_name(node.elt, var) and args and len(args) == 1:
            root = args[0]
        elif kind == "scandir" and args and len(args) == 1 and self._is_entry_name(node.elt, var):
            root = args[0]
        elif kind == "iterdir" and self._is_entry_name(node.elt, var):
            root = self._path_receiver(listing)
        else:
            return None
        if root is None:
            return None
        dirs_only = False
        for condition in node.for_in.ifs:
            if not self._is_dir_test(condition.test, var, kind, root):
                if m.findall(condition.test, m.Attribute(attr=m.Name("startswith"))):
                    raise Decline("hidden class folders are skipped; torchvision lists them as classes")
                where = snippet(condition.test)
                raise Decline(f"the class folders are filtered (`{where}`); torchvision keeps every folder")
            dirs_only = True
        return Classes(self._value(root), is_sorted or inner_sorted, dirs_only)

    @staticmethod
    def _is_entry_name(node: cst.BaseExpression, var: str) -> bool:
        return m.matches(node, m.Attribute(value=m.Name(var), attr=m.Name("name")))

    def _path_receiver(self, call: cst.Call) -> cst.BaseExpression | None:
        """``Path(R).method()`` -> R; ``R.method()`` -> R."""
        receiver = call.func.value
        if isinstance(receiver, cst.Call) and self.names.qualified(receiver.func) == "pathlib.Path":
            args = positional_args(receiver)
            return args[0] if args and len(args) == 1 else None
        return receiver

    def _is_dir_test(self, test: cst.BaseExpression, var: str, kind: str, root: cst.BaseExpression) -> bool:
        if m.matches(test, m.Call(func=m.Attribute(value=m.Name(var), attr=m.Name("is_dir")), args=[])):
            return kind in ("scandir", "iterdir")
        if not isinstance(test, cst.Call) or self.names.qualified(test.func) != "os.path.isdir":
            return False
        args = positional_args(test)
        if not args or len(args) != 1:
            return False
        if kind == "iterdir":
            return is_name(args[0], var)
        parts = self._join_parts(args[0])
        return parts is not None and len(parts) == 2 and same_code(parts[0], root) and is_name(parts[1], var)

    def _join_parts(self, node: cst.BaseExpression) -> list[cst.BaseExpression] | None:
        """``os.path.join(a, b, c)`` -> [a, b, c], nested joins flattened."""
        if not isinstance(node, cst.Call) or self.names.qualified(node.func) != "os.path.join":
            return None
        args = positional_args(node)
        if not args:
            return None
        head = self._join_parts(args[0])
        return (head if head is not None else [args[0]]) + args[1:]

    def _index(self, node: cst.BaseExpression) -> ClassIndex | None:
        """``{c: i for i, c in enumerate(classes)}`` or ``dict(zip(classes, range(len(classes))))``."""
        if isinstance(node, cst.DictComp):
            return self._index_comprehension(node)
        args = positional_args(node)
        zips = args is not None and len(args) == 1 and m.matches(args[0], m.Call(func=m.Name("zip")))
        zipped = positional_args(args[0]) if zips else None
        counted = m.Call(func=m.Name("range"), args=[m.Arg(value=m.Call(func=m.Name("len"), args=[m.Arg()]))])
        if zipped and len(zipped) == 2 and m.matches(zipped[1], counted):
            classes = self._eval(zipped[0])
            if isinstance(classes, Classes) and self._eval(zipped[1].args[0].value.args[0].value) is classes:
                return ClassIndex(classes, classes.sorted)
        return None

    def _index_comprehension(self, node: cst.DictComp) -> ClassIndex | None:
        for_in = node.for_in
        if for_in.inner_for_in is not None or for_in.ifs:
            return None
        target, source = for_in.target, for_in.iter
        index = None
        pair = m.Tuple([m.Element(), m.Element()])
        if m.matches(source, m.Call(func=m.Name("enumerate"))) and m.matches(target, pair):
            args = positional_args(source)
            if args is None or len(args) != 1:
                raise Decline("the class indices do not start at 0; torchvision numbers the sorted folders 0..n-1")
            classes = self._eval(args[0])
            index, name = (e.value for e in target.elements)
        else:
            classes, name = (self._eval(source) if attribute_key(source) else None), target
        if not isinstance(classes, Classes) or not isinstance(name, cst.Name):
            return None
        if m.matches(node.value, m.Call(func=m.Name("int"), args=[m.Arg(value=m.Name(name.value))])):
            raise Decline("labels are parsed from the folder names (int(name)); torchvision numbers the sorted folders")
        if is_name(node.key, name.value) and isinstance(index, cst.Name) and is_name(node.value, index.value):
            return ClassIndex(classes, classes.sorted)
        raise Decline(f"the class index is not the position in the sorted folder list: `{snippet(node)}`")

    def _for_clauses(self, node: cst.For, clauses: list) -> tuple[Samples, list, cst.BaseExpression]:
        if node.orelse is not None or node.asynchronous is not None:
            raise Decline(f"unexpected loop form: `{snippet(node)}`")
        return self._block_clauses(statements(node.body), [*clauses, ("for", node.target, node.iter)])

    def _block_clauses(self, stmts: Sequence[cst.CSTNode], clauses: list) -> tuple[Samples, list, cst.BaseExpression]:
        """Flatten a loop body (lets, filters, inner loops, one append) into comprehension clauses."""
        for position, stmt in enumerate(stmts):
            last = position == len(stmts) - 1
            if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0].target, cst.Name):
                clauses.append(("let", stmt.targets[0].target.value, stmt.value))
                continue
            if isinstance(stmt, cst.If) and stmt.orelse is None:
                body = statements(stmt.body)
                if len(body) == 1 and isinstance(body[0], cst.Continue):
                    clauses.append(("if", _negate(stmt.test)))
                    continue
                if last:
                    return self._block_clauses(body, [*clauses, ("if", stmt.test)])
            if last and isinstance(stmt, cst.For):
                return self._for_clauses(stmt, clauses)
            found = self._emit(stmt, clauses) if last else None
            if found is not None:
                return found
            raise Decline(f"the sample loop does more than list, filter and append: `{snippet(stmt)}`")
        raise Decline("the sample loop appends nothing")

    def _emit(self, stmt: cst.CSTNode, clauses: list):
        """``samples.append(x)``, ``samples.extend(<comprehension>)``, ``samples += [x]``."""
        if m.matches(stmt, m.Expr(value=m.Call(func=m.Attribute()))):
            call = stmt.value
            samples = self.env.get(attribute_key(call.func.value) or "")
            args = positional_args(call)
            if isinstance(samples, Samples) and args and len(args) == 1:
                if call.func.attr.value == "append":
                    return samples, clauses, args[0]
                if call.func.attr.value == "extend" and isinstance(args[0], (cst.ListComp, cst.GeneratorExp)):
                    return samples, clauses + self._comp_clauses(args[0].for_in), args[0].elt
        if isinstance(stmt, cst.AugAssign) and isinstance(stmt.operator, cst.AddAssign):
            samples = self.env.get(attribute_key(stmt.target) or "")
            if isinstance(samples, Samples) and m.matches(stmt.value, m.List([m.Element()])):
                return samples, clauses, stmt.value.elements[0].value
        return None

    @staticmethod
    def _comp_clauses(for_in: cst.CompFor | None) -> list:
        clauses: list = []
        while for_in is not None:
            if for_in.asynchronous is not None:
                raise Decline("async comprehension")
            clauses.append(("for", for_in.target, for_in.iter))
            clauses.extend(("if", c.test) for c in for_in.ifs)
            for_in = for_in.inner_for_in
        return clauses

    def _fill(self, samples: Samples, clauses: list, element: cst.BaseExpression) -> None:
        if samples.fill is not None:
            raise Decline("the samples list is filled twice")
        loop = Loop()
        for clause in clauses:
            if clause[0] == "for":
                self._loop_for(loop, clause[1], clause[2])
            elif clause[0] == "let":
                if clause[1] in loop.vars:
                    raise Decline(f"the sample loop rebinds `{clause[1]}`")
                loop.vars[clause[1]] = self._loop_value(loop, clause[2])
            elif not loop.in_files:
                raise Decline(f"the class folders are filtered inside the loop (`{snippet(clause[1])}`)")
            else:
                loop.terms.append(self._term(loop, clause[1]))
        if not loop.in_files:
            raise Decline("no files are listed inside the class folders")
        if not m.matches(element, m.Tuple([m.Element(), m.Element()])):
            raise Decline(f"the samples are not (path, class index) pairs: `{snippet(element)}`")
        path, label = (e.value for e in element.elements)
        self._check_label(loop, label)
        path_symbol = self._loop_value(loop, path)
        if not isinstance(path_symbol, FilePath):
            if m.findall(path, m.Call()) and any(n in loop.vars for n in free_names(path)):
                raise Decline("samples are loaded eagerly in __init__; DatasetFolder loads each file in __getitem__")
            raise Decline(f"the sample is not the listed file's path: `{snippet(path)}`")
        if not loop.classes.dirs_only and loop.listing not in RAISE_ON_FILES:
            raise Decline("plain files at the root become empty classes; torchvision lists folders only")
        samples.fill = Fill(loop.classes, path_symbol.kind, loop.listing, loop.follows_links, tuple(loop.terms))

    def _check_label(self, loop: Loop, label: cst.BaseExpression) -> None:
        symbol = self._loop_value(loop, label)
        if isinstance(symbol, Label):
            return
        if isinstance(symbol, ClassName):
            raise Decline("the targets are the folder names, not class indices")
        if m.matches(label, m.Call(func=m.Name("int"))):
            raise Decline("labels are parsed from the folder names (int(name)); torchvision numbers the sorted folders")
        raise Decline(f"the target is not the class index: `{snippet(label)}`")

    def _loop_for(self, loop: Loop, target: cst.BaseExpression, source: cst.BaseExpression) -> None:
        if loop.classes is None:
            self._class_loop(loop, target, source)
            return
        is_sorted, listing = self._peel_sorted(source, "files")
        if isinstance(listing, cst.Name) and isinstance(loop.vars.get(listing.value), WalkFiles):
            if not is_sorted:
                raise Decline("os.walk's file names are not sorted; torchvision sorts them")
            self._bind(loop, target, FileName())
            loop.in_files = True
            return
        walked = self._walk_next(listing, 2)
        kind = "walk-next" if walked is not None else listing_kind(listing, self.names)
        if loop.in_files:
            if kind is not None:
                raise Decline("two-level labels (root/<group>/<class>/<file>); DatasetFolder reads one class level")
            raise Decline(f"the files are not listed with os, glob or pathlib: `{snippet(source)}`")
        if kind is None:
            raise Decline(f"the files are not listed with os, glob or pathlib: `{snippet(source)}`")
        if kind == "backend":
            raise Decline(f"the files are listed through a storage backend (`{snippet(listing)}`), not os or pathlib")
        if kind == "rglob" or (kind == "glob" and any(a.keyword is not None for a in listing.args)):
            raise Decline("a recursive listing sorted by full path orders nested files differently from torchvision")
        if kind == "walk":
            self._walk(loop, target, listing, is_sorted)
            return
        if not is_sorted:
            raise Decline("the files are listed in file-system order; torchvision sorts them")
        args = positional_args(listing) if isinstance(listing, cst.Call) else None
        if kind in ("walk-next", "listdir"):
            folder = walked if walked is not None else (args[0] if args and len(args) == 1 else None)
            self._expect_class_dir(loop, folder)
            self._bind_files(loop, target, FileName(), kind)
        elif kind == "glob":
            self._glob(loop, target, args)
        elif kind in ("pathglob", "iterdir"):
            self._expect_class_dir(loop, self._path_receiver(listing))
            if kind == "pathglob":
                pattern = string_value(args[0]) if args and len(args) == 1 else None
                if pattern is None:
                    raise Decline(f"the glob pattern is not a literal: `{snippet(listing)}`")
                loop.terms.extend(self._pattern_terms(pattern, hidden=False))
            elif args:
                raise Decline(f"unexpected iterdir arguments: `{snippet(listing)}`")
            self._bind_files(loop, target, FilePath("path"), kind)
        else:
            raise Decline(f"the files are listed with {kind}; torchfix does not follow it")

    def _class_loop(self, loop: Loop, target: cst.BaseExpression, source: cst.BaseExpression) -> None:
        """``for c in classes`` / ``enumerate(classes)`` / ``class_to_idx.items()`` and the like."""
        enumerated = m.matches(source, m.Call(func=m.Name("enumerate")))
        method = source.func.attr.value if m.matches(source, m.Call(func=m.Attribute(), args=[])) else None
        if enumerated:
            args = positional_args(source)
            if args is None or len(args) != 1:
                raise Decline("the class indices do not start at 0; torchvision numbers the sorted folders 0..n-1")
            inner = args[0]
        elif method in ("items", "keys"):
            inner = source.func.value
        else:
            inner = source
        symbol = self._eval(inner) if attribute_key(inner) is not None else self._classes(inner)
        if isinstance(symbol, ClassIndex) and not enumerated:
            classes, is_sorted = symbol.classes, symbol.sorted
        elif isinstance(symbol, Classes) and method is None:
            classes, is_sorted = symbol, symbol.sorted
        else:
            raise Decline(f"the loop does not go over the class folders: `{snippet(source)}`")
        if not is_sorted:
            raise Decline("the class folders are listed in file-system order; torchvision sorts them by name")
        loop.classes = classes
        if enumerated or method == "items":
            if not m.matches(target, m.Tuple([m.Element(), m.Element()])):
                raise Decline(f"unexpected loop target `{snippet(target)}`")
            first, second = (e.value for e in target.elements)
            label, name = (first, second) if enumerated else (second, first)
            self._bind(loop, label, Label())
            self._bind(loop, name, ClassName())
        else:
            self._bind(loop, target, ClassName())

    @staticmethod
    def _bind(loop: Loop, target: cst.BaseExpression, symbol: object) -> None:
        if not isinstance(target, cst.Name) or target.value in loop.vars:
            raise Decline(f"unexpected loop target `{snippet(target)}`")
        loop.vars[target.value] = symbol

    def _bind_files(self, loop: Loop, target: cst.BaseExpression, symbol: object, listing: str) -> None:
        self._bind(loop, target, symbol)
        loop.in_files = True
        loop.listing = listing

    def _expect_class_dir(self, loop: Loop, node: cst.BaseExpression | None) -> None:
        if node is None or not isinstance(self._loop_value(loop, node), ClassDir):
            where = snippet(node) if node is not None else "?"
            raise Decline(f"the listed folder is not root/<class>: `{where}`")

    def _reference(self, qualified: str) -> cst.BaseExpression:
        expr = self.reference(qualified)
        root = free_names(expr)[0]
        if root in self.params:
            raise Decline(f"the parameter `{root}` hides {qualified}")
        self.introduced.add(root)
        return expr

    def _walk(self, loop: Loop, target: cst.BaseExpression, listing: cst.Call, is_sorted: bool) -> None:
        if not is_sorted:
            raise Decline("os.walk yields folders in file-system order; torchvision sorts them")
        positional = [a for a in listing.args if a.keyword is None]
        keywords = [a for a in listing.args if a.keyword is not None]
        unexpected = any(a.star for a in listing.args) or any(a.keyword.value != "followlinks" for a in keywords)
        if len(positional) != 1 or unexpected:
            raise Decline(f"unexpected os.walk arguments: `{snippet(listing)}`")
        follows = bool(keywords) and is_name(keywords[0].value, "True")
        if keywords and not follows and not is_name(keywords[0].value, "False"):
            raise Decline("os.walk's followlinks is not a literal")
        self._expect_class_dir(loop, positional[0].value)
        if not m.matches(target, m.Tuple([m.Element(), m.Element(), m.Element()])):
            raise Decline(f"unexpected os.walk target `{snippet(target)}`")
        dirpath, _, files = (e.value for e in target.elements)
        self._bind(loop, dirpath, WalkDir())
        self._bind(loop, files, WalkFiles())
        loop.listing, loop.follows_links = "walk", follows

    def _loop_value(self, loop: Loop, node: cst.BaseExpression) -> object:
        """The symbol of a loop-local expression (path algebra, labels), else a Local."""
        if isinstance(node, cst.Name) and node.value in loop.vars:
            return loop.vars[node.value]
        parts = self._join_parts(node)
        if parts is not None:
            return self._path_steps(loop, parts, "str", node)
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide):
            return self._path_steps(loop, [node.left, node.right], "path", node)
        if isinstance(node, cst.Call):
            args = positional_args(node)
            if args and len(args) == 1:
                inner = self._loop_value(loop, args[0])
                if self.names.qualified(node.func) == "pathlib.Path":
                    if isinstance(inner, FilePath):
                        return FilePath("path")
                    if isinstance(inner, (ClassDir, Root)):
                        return inner
                if is_name(node.func, "str") and "str" not in self.globals and isinstance(inner, FilePath):
                    return FilePath("str")
        if m.matches(node, m.Subscript(slice=[m.SubscriptElement(slice=m.Index())])):
            index = self._eval(node.value) if attribute_key(node.value) in self.env else None
            key = self._loop_value(loop, node.slice[0].slice.value)
            if isinstance(index, ClassIndex) and isinstance(key, ClassName):
                if index.classes is not loop.classes or not index.sorted:
                    raise Decline("the class index was built from another (or unsorted) class list")
                return Label()
        if self._is_root(loop, node):
            return Root()
        return Local(node)

    def _is_root(self, loop: Loop, node: cst.BaseExpression) -> bool:
        if any(n in loop.vars for n in free_names(node)):
            return False
        try:
            value = self._value(node)
        except Decline:
            return False
        return same_code(self._strip_path(value), self._strip_path(loop.classes.root))

    def _strip_path(self, node: cst.BaseExpression) -> cst.BaseExpression:
        if isinstance(node, cst.Call) and self.names.qualified(node.func) == "pathlib.Path":
            args = positional_args(node)
            if args and len(args) == 1:
                return args[0]
        return node

    def _path_steps(self, loop: Loop, parts: list, kind: str, whole: cst.BaseExpression | None = None) -> object:
        """Fold ``join``/``/``: root + class -> class folder; folder + its file name -> file path."""
        current = self._loop_value(loop, parts[0])
        for part in parts[1:]:
            symbol = self._loop_value(loop, part)
            walked = isinstance(current, WalkDir) and loop.listing == "walk"
            listed = isinstance(current, ClassDir) and loop.listing in ("listdir", "walk-next")
            if isinstance(current, Root) and isinstance(symbol, ClassName):
                current = ClassDir()
            elif isinstance(symbol, FileName) and (walked or listed):
                current = FilePath(kind)
            else:
                return Local(whole if whole is not None else parts[0])
        return current


def _negate(test: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return test.expression.with_changes(lpar=[], rpar=[]) if test.expression.lpar else test.expression
    return cst.UnaryOperation(cst.Not(), parenthesized(test))
