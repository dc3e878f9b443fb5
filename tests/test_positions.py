"""torchfix.positions gives every node the range LibCST's PositionProvider gives it."""

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from torchfix.patterns import nodes_of
from torchfix.positions import Positions

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "corpus").rglob("*.py")) + sorted((ROOT / "torchfix" / "rules").glob("tf0*.py"))
ODD = {
    "crlf": "class A:\r\n    def f(self, x):\r\n        return (x  # c\r\n          + 1)\r\n",
    "lone_cr": "x = 1\ry = [1,\r 2]\r",
    "no_final_newline": "def f():\n    return torch.zeros(3).cuda()",
    "continuation": "y = 1 + \\\n    2\nz = f'{y!r:>{3}}'\n",
    "empty": "",
    "only_comments": "# a\n\n# b\n",
}


def _assert_same(module: cst.Module) -> None:
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    ours = Positions(module)
    assert set(ours) == set(expected)
    assert {node: ours[node] for node in expected} == dict(expected)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_same_ranges_as_position_provider(path: Path) -> None:
    _assert_same(cst.parse_module(path.read_bytes()))


@pytest.mark.parametrize("name", sorted(ODD))
def test_same_ranges_on_odd_layouts(name: str) -> None:
    _assert_same(cst.parse_module(ODD[name]))


def test_only_the_nodes_asked_for_stop_early_with_the_same_ranges() -> None:
    module = cst.parse_module("a = 1\n\ndef f(x):\n    return x + 1\n\nb = [2,\n     3]\n")
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    function = module.body[1]
    wanted = {function, function.body.body[0]}
    ours = Positions(module, wanted)
    assert {node: ours[node] for node in wanted} == {node: expected[node] for node in wanted}
    assert module.body[2] not in ours, "generation stopped after the last node asked for"
    assert len(Positions(module, set())) == 0


def _code_nodes(module: cst.Module) -> list[cst.CSTNode]:
    """Every node the rules' walk visits (the nodes reports and fixes name), in order."""
    return [node for statement in module.body for node in nodes_of(statement, cst.CSTNode)]


@pytest.mark.parametrize("path", SOURCES + sorted(ODD), ids=lambda p: p if isinstance(p, str) else p.name)
def test_statements_found_in_the_text_give_the_same_ranges(path) -> None:
    text = ODD[path] if isinstance(path, str) else path.read_text(encoding="utf-8")
    module = cst.parse_module(text)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    nodes = _code_nodes(module)
    for wanted in ({*nodes[5::11]}, {*nodes[-3:]}, {*nodes[len(nodes) // 2 :: 97]}):
        ours = Positions(module, wanted, text)
        assert {node: ours[node] for node in wanted} == {node: expected[node] for node in wanted}


def test_only_the_statements_holding_a_wanted_node_are_generated() -> None:
    text = "a = 1\n\ndef f(x):\n    return x + 1\n\nb = [2,\n     3]\n"
    module = cst.parse_module(text)
    wanted = {module.body[2].body[0].value.elements[1].value}
    ours = Positions(module, wanted, text)
    assert [(r.start.line, r.start.column, r.end.line, r.end.column) for r in map(ours.__getitem__, wanted)] == [
        (7, 5, 7, 6)
    ]
    assert module.body[0] not in ours and module.body[1] not in ours


def test_a_statement_whose_code_occurs_twice_is_placed_by_generating_the_module() -> None:
    text = "x = zeros(3).cuda()\nx = zeros(3).cuda()\n"
    module = cst.parse_module(text)
    second = module.body[1].body[0].value
    assert Positions(module, {second}, text)[second].start.line == 2
    assert module.body[0] in Positions(module, {second}, text), "generated from the module's start"


def test_in_a_class_only_the_methods_holding_a_wanted_node_are_generated() -> None:
    text = "class A:\n    x = 1\n\n    def f(self):\n        return 1\n\n    def g(self, y):\n        return y * 2\n"
    module = cst.parse_module(text)
    cls = module.body[0]
    first, second = cls.body.body[1], cls.body.body[2]
    product = second.body.body[0].body[0].value
    ours = Positions(module, {product}, text)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    assert ours[product] == expected[product] and (ours[product].start.line, ours[product].start.column) == (8, 15)
    assert first not in ours and cls not in ours


def test_a_method_whose_code_occurs_twice_is_placed_with_its_class() -> None:
    method = "    def f(self, y):\n        return y * 2\n"
    text = f"class A:\n{method}\n\nclass B:\n{method}"
    module = cst.parse_module(text)
    second = module.body[1]
    product = second.body.body[0].body.body[0].body[0].value
    ours = Positions(module, {product}, text)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    assert ours[product] == expected[product] and (ours[product].start.line, ours[product].start.column) == (8, 15)
    assert second in ours and module.body[0] not in ours
