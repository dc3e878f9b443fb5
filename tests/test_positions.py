"""torchfix.positions gives every node the range LibCST's PositionProvider gives it."""

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

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
