"""Static detection of modules that do work when imported (no imports run here).

A training script imported for a class it defines would parse the worker's
command line, start training, download data or call ``.cuda()`` on a machine
without CUDA. The verifier does not import such a module blind: its classes are
skipped with the reason. Work is: a call of argument parsing, training, I/O or
device code (``parse_args``, ``backward``, ``step``, ``cuda``, ``download``, ...),
a call of a function the module itself defines (``main()``), a ``while`` loop,
or a ``for`` loop or ``with`` block that contains work. Definitions, imports,
constants, registry calls (``register_model(...)``), loops that fill tables,
``if __name__ == "__main__":`` blocks, and configuration calls (warnings,
logging, ``sys.path``, seeding) are not: libraries do those when imported.
"""

from __future__ import annotations

import ast

#: call names that do work: argument parsing, training, I/O, devices
_WORK_CALLS = frozenset(
    {
        "parse_args", "parse_known_args", "cuda", "fit", "train", "backward", "step", "download",
        "urlretrieve", "urlopen", "from_pretrained", "load_state_dict", "input", "savefig", "show",
        "mainloop", "run", "main", "sleep", "system", "Popen",
    }
)
#: top-level expression calls that only configure the process
_HARMLESS = frozenset(
    {
        "filterwarnings", "simplefilter", "basicConfig", "setLevel", "append", "insert", "extend",
        "manual_seed", "seed", "set_printoptions", "setdefault", "update", "register", "wrap",
        "use", "set_default_dtype", "addHandler", "disable_warnings", "warn", "add_argument",
        "add_argument_group", "set_defaults", "add_mutually_exclusive_group", "print", "info", "debug",
        "warning", "getLogger",
    }
)


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _is_main_guard(node: ast.If) -> bool:
    test = node.test
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def _calls(node: ast.AST):
    """Calls in ``node`` outside function bodies and lambdas (those do not run at import)."""
    todo = [node]
    while todo:
        current = todo.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(current, ast.Call):
            yield current
        todo.extend(ast.iter_child_nodes(current))


def _work(statements: list[ast.stmt], defined: set[str]) -> str | None:
    for node in statements:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.Pass)):
            continue
        if isinstance(node, ast.If):
            nested = None if _is_main_guard(node) else _work(node.body, defined) or _work(node.orelse, defined)
        elif isinstance(node, ast.Try):
            blocks = [node.body, node.orelse, node.finalbody, *(handler.body for handler in node.handlers)]
            nested = next(filter(None, (_work(block, defined) for block in blocks)), None)
        else:
            nested = None
        if nested:
            return nested
        if isinstance(node, (ast.If, ast.Try)):
            continue
        if isinstance(node, ast.ClassDef):
            found = _decorator_work(node)
        elif isinstance(node, ast.While):
            found = "a `while` loop"
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.With, ast.AsyncWith)):
            kind = "`with` block" if isinstance(node, (ast.With, ast.AsyncWith)) else "`for` loop"
            inner = _work_call(node) or _work(node.body, defined)
            found = f"a {kind} that {inner.partition(': ')[2]}" if inner and ": " in inner else (
                f"a {kind} that {inner}" if inner else None
            )
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            name = _name(node.value.func)
            work = name in _WORK_CALLS or (name in defined and name not in _HARMLESS and "register" not in name)
            found = f"calls {ast.unparse(node.value.func)}()" if work else _work_call(node)
        else:
            found = _work_call(node)
        if found:
            return f"line {node.lineno}: {found}"
    return None


def _work_call(node: ast.AST) -> str | None:
    for call in _calls(node):
        if _name(call.func) in _WORK_CALLS:
            return f"calls {ast.unparse(call.func)}()"
    return None


def _decorator_work(node: ast.ClassDef) -> str | None:
    for decorator in node.decorator_list:
        found = _work_call(decorator)
        if found:
            return found
    return None


def import_work(tree: ast.Module) -> str | None:
    """What the module does when imported beyond defining things (``"line 40: calls
    parser.parse_args()"``), or None."""
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return _work(tree.body, defined)


def has_main_block(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.If) and _is_main_guard(node) for node in tree.body)
