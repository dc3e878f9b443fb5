"""Narrowed parses (torchfix.narrowing): the same findings as the whole file, line for line.

``benchmarks/prefilter.py`` holds real libraries to the same comparison.
"""

from __future__ import annotations

import ast
import textwrap

import libcst as cst
import pytest

from conftest import CORPUS
from torchfix import narrowing
from torchfix.config import Settings
from torchfix.engine import RunOptions, check_text, fix_text
from torchfix.names import NameTable, _NameCollector
from torchfix.prefilter import ANCHORS, facts_of, matching
from torchfix.rules import all_rules
from torchfix.runner import Job, Mode, run
from torchfix.walk import walk

RULES = all_rules()
ANCHORED = [rule for rule in RULES if rule.CODE in ANCHORS]

#: definitions no expression rule matches, around the code that one does: what narrowing blanks
_BEFORE = '''\
import torch.nn.functional as F


@torch.no_grad()
def _helper(x, *, scale=None, F=True):
    """F is a parameter here."""
    global _STATE
    return [v for v in x if v is not None], lambda y: y.size(0)


'''
_AFTER = '''


class _Unrelated(Base):
    total: int = 0

    def method(self, value, **options):
        try:
            return value.attribute
        except KeyError as missing:
            return f"{missing!r:>{options['width']}}"

    @property
    def other(self):
        match self.total:
            case {"key": 1, **rest}:
                return rest
            case Point(x=0, y=None) | [1, *others]:
                return others
            case _:
                return False
'''


def _options(rules, settings=None) -> RunOptions:
    return RunOptions(tuple(rules), frozenset(rule.CODE for rule in rules), dict(settings or {}))


def _checked_both_ways(source: str, settings=None):
    """(findings of the whole file, findings of the narrowed parse, the narrowing), by the kept rules."""
    facts = facts_of(ast.parse(source))
    kept = matching(facts, [rule.CODE for rule in RULES])
    options = _options([rule for rule in RULES if rule.CODE in kept], settings)
    narrowed = narrowing.narrowed(source, facts, kept)
    whole = check_text(source, options)
    return whole, (check_text(source, options, narrowed=narrowed) if narrowed else whole), narrowed


def _examples():
    for rule in ANCHORED:
        for index, example in enumerate(rule.EXAMPLES):
            yield pytest.param(example.before, example.settings, id=f"{rule.CODE}-example-{index}")
        for index, valid in enumerate(rule.VALID):
            yield pytest.param(valid.code, {}, id=f"{rule.CODE}-valid-{index}")


@pytest.mark.parametrize("code, settings", list(_examples()))
def test_every_expression_rule_example_among_other_definitions_gets_the_same_findings(code, settings):
    source = _BEFORE + code + _AFTER
    whole, narrowed_findings, narrowed = _checked_both_ways(source, settings)
    assert narrowed_findings == whole
    if narrowed is not None:
        assert narrowed.text.count("\n") == source.count("\n")
        assert "def _helper" not in narrowed.text and "class _Unrelated" not in narrowed.text
        assert narrowed.restore(narrowed.text) == source


@pytest.mark.parametrize("path", sorted(CORPUS.rglob("*.py")), ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_files_get_the_same_findings_narrowed(path):
    whole, narrowed_findings, _ = _checked_both_ways(path.read_text(encoding="utf-8"))
    assert narrowed_findings == whole


_ANCHORED_IN_A_METHOD = '''\
import torch


def unrelated(x):
    return x.sum()


class Model(torch.nn.Module):
    """A model."""

    def forward(self, x):
        return x * 2

    def sample(self, shape, device):
        noise = torch.randn(shape).to(device)
        return noise

    @staticmethod
    def helper(y):
        return y


LIMIT = 3
'''


def test_only_the_definitions_without_a_match_are_hidden_and_every_line_stays_where_it_was():
    facts = facts_of(ast.parse(_ANCHORED_IN_A_METHOD))
    narrowed = narrowing.narrowed(_ANCHORED_IN_A_METHOD, facts, ["TF002"])
    assert narrowed is not None
    kept = [line for line in narrowed.text.splitlines() if line.strip() and not line.startswith("#@torchfix-hidden")]
    assert kept == [
        "import torch",
        "class Model(torch.nn.Module):",
        '    """A model."""',
        "    def sample(self, shape, device):",
        "        noise = torch.randn(shape).to(device)",
        "        return noise",
        "LIMIT = 3",
    ]
    before, after = _ANCHORED_IN_A_METHOD.splitlines(), narrowed.text.splitlines()
    assert len(after) == len(before)
    assert narrowed.spans == ((2, 5), (10, 12), (17, 20))
    hidden = [number for first, last in narrowed.spans for number in range(first, last + 1)]
    assert [number for number, (a, b) in enumerate(zip(after, before), 1) if a != b and b] == [
        number for number in hidden if before[number - 1]
    ]
    assert [after[number - 1] for number in hidden] == [
        "#@torchfix-hidden 2", "", "", "#@torchfix-hidden 5", "#@torchfix-hidden 10", "",
        "#@torchfix-hidden 12", "#@torchfix-hidden 17", "", "", "#@torchfix-hidden 20",
    ]
    assert sorted(type(statement).__name__ for statement in narrowed.hidden) == ["FunctionDef"] * 3
    assert {"unrelated", "forward", "helper", "staticmethod", "sum", "x", "y", "self"} <= narrowed.hidden_names
    whole, narrowed_findings, _ = _checked_both_ways(_ANCHORED_IN_A_METHOD)
    assert [(f.code, f.line, f.column) for f in narrowed_findings] == [(f.code, f.line, f.column) for f in whole]
    assert [(f.code, f.line) for f in whole] == [("TF002", 15)]


@pytest.mark.parametrize(
    "source, codes",
    [
        # a rule that reads the whole module
        (_ANCHORED_IN_A_METHOD, ["TF002", "TF003"]),
        # a match outside every function: its evidence is the whole module
        ("import torch\n\ndef f(x):\n    return x\n\nnoise = torch.randn(3).to(device)\n", ["TF002"]),
        # in a class body, outside its methods
        ("import torch\n\ndef f(x):\n    return x\n\nclass A:\n    noise = torch.randn(3).to(device)\n", ["TF002"]),
        # in a default argument: outside the function's body
        ("import torch\n\ndef f(x):\n    return x\n\ndef g(n=torch.randn(3).to(device)):\n    return n\n", ["TF002"]),
        # lone CR line ends
        ("import torch\r\rdef f(x):\r    return x\r\rdef g(d):\r    return torch.randn(3).to(d.device)\r", ["TF002"]),
        # nothing to leave out
        ("import torch\n\ndef g(d):\n    return torch.randn(3).to(d.device)\n", ["TF002"]),
    ],
    ids=["module-rule", "module-level", "class-body", "default-argument", "lone-cr", "nothing-left-out"],
)
def test_the_whole_file_is_parsed_when(source, codes):
    assert narrowing.narrowed(source, facts_of(ast.parse(source)), codes) is None


def test_crlf_line_ends_are_kept_in_the_hidden_lines_and_put_back():
    source = _ANCHORED_IN_A_METHOD.replace("\n", "\r\n")
    narrowed = narrowing.narrowed(source, facts_of(ast.parse(source)), ["TF002"])
    assert narrowed is not None and narrowed.text.count("\r\n") == source.count("\r\n")
    assert "\n" not in narrowed.text.replace("\r\n", "")
    assert narrowed.restore(narrowed.text) == source


def test_hidden_lines_come_back_after_lines_above_them_change_and_not_once_one_moved():
    narrowed = narrowing.narrowed(_ANCHORED_IN_A_METHOD, facts_of(ast.parse(_ANCHORED_IN_A_METHOD)), ["TF002"])
    fixed = narrowed.text.replace("import torch\n", "import torch\nimport torch.nn.functional as F\n")
    assert narrowed.restore(fixed) == _ANCHORED_IN_A_METHOD.replace(
        "import torch\n", "import torch\nimport torch.nn.functional as F\n"
    )
    assert narrowed.restore(fixed.replace("#@torchfix-hidden 12\n", "")) is None
    lines = fixed.splitlines(keepends=True)
    assert lines[2:6] == ["#@torchfix-hidden 2\n", "\n", "\n", "#@torchfix-hidden 5\n"]
    assert narrowed.restore("".join(lines[:2] + lines[5:6] + lines[3:5] + lines[2:3] + lines[6:])) is None
    assert narrowed.restore("".join(lines[:3] + lines[4:])) is None  # a line between the markers dropped
    assert narrowed.restore("".join(lines[:3] + ["x = 1\n"] + lines[4:])) is None  # or written


def test_a_file_holding_markers_already_is_parsed_whole():
    source = _ANCHORED_IN_A_METHOD + "# #@torchfix-hidden 3\n"
    assert narrowing.narrowed(source, facts_of(ast.parse(source)), ["TF002"]) is None


def _collected(node: cst.CSTNode) -> set[str]:
    collector = _NameCollector()
    walk(node, [collector])
    return collector.names


def test_identifiers_are_the_names_libcst_sees():
    source = _BEFORE + _AFTER + textwrap.dedent('''
        async def waits(a, /, b=..., *args, c: "Ann" = None, **kw):
            nonlocal_ = {k: v for k, v in kw.items() if (n := k)}
            del a[0]
            async with open(b) as (f, g):
                yield f"{g.name=} {True!s:{c}}"
            import os.path as p
            from math import pi as PI
            return ~b if not args else -1
    ''')
    module = cst.parse_module(source)
    for statement, node in zip(ast.parse(source).body, module.body):
        assert narrowing.identifiers(statement) == _collected(node), ast.dump(statement)[:80]


@pytest.mark.parametrize("path", sorted(CORPUS.rglob("*.py")), ids=lambda p: str(p.relative_to(CORPUS)))
def test_identifiers_of_the_corpus_are_the_names_libcst_sees(path):
    source = path.read_text(encoding="utf-8")
    assert narrowing.identifiers(ast.parse(source)) == _collected(cst.parse_module(source))


def test_the_name_table_counts_the_blanked_definitions_names_as_used():
    facts = facts_of(ast.parse(_ANCHORED_IN_A_METHOD))
    narrowed = narrowing.narrowed(_ANCHORED_IN_A_METHOD, facts, ["TF002"])
    table = NameTable(cst.parse_module(narrowed.text), (), lambda: narrowed.hidden_names)
    assert table.used_names == NameTable(cst.parse_module(_ANCHORED_IN_A_METHOD)).used_names
    assert not table.is_free("helper")


@pytest.mark.parametrize("mode", [Mode.CHECK, Mode.DIFF])
def test_a_run_narrowed_reports_what_a_run_on_whole_files_does(tmp_path, monkeypatch, mode):
    for path in CORPUS.rglob("*.py"):
        target = tmp_path / path.relative_to(CORPUS)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8") + "\n\n" + _AFTER, encoding="utf-8")
    job = Job(mode, Settings(root=tmp_path), jobs=1)
    narrowed = run([tmp_path], job)
    monkeypatch.setattr(narrowing, "narrowed", lambda *args: None)
    whole = run([tmp_path], job)
    assert [(r.path, r.findings, r.source, r.error, r.bug) for r in narrowed] == [
        (r.path, r.findings, r.source, r.error, r.bug) for r in whole
    ]
    assert sum(len(r.findings) for r in whole) >= 20
    if mode is Mode.DIFF:
        assert sum(r.changed for r in whole) >= 8


_NEEDS_AN_IMPORT = '''\
# A header comment, which the whole file's parse keeps as the module's header.
def helper(x):
    return x


def blend(x, a, b):
    m = x > 0
    return m * a + (1 - m) * b
'''


@pytest.mark.parametrize(
    "source",
    [
        _NEEDS_AN_IMPORT,
        _NEEDS_AN_IMPORT.replace("def blend", "import os\n\n\ndef blend"),
        "import os\n" + _NEEDS_AN_IMPORT,
    ],
    ids=["no-import", "an-import-after-a-hidden-definition", "an-import-first"],
)
def test_a_fix_that_adds_an_import_writes_what_the_whole_file_gets(source):
    """Where an import goes depends on every top-level statement (a hidden definition is none)."""
    facts = facts_of(ast.parse(source))
    narrowed = narrowing.narrowed(source, facts, ["TF010"])
    assert narrowed is not None
    options = RunOptions(tuple(RULES), frozenset(rule.CODE for rule in RULES), {}, kept=frozenset({"TF010"}))
    whole = fix_text(source, options)
    assert "import torch\n" in whole.text and "torch.where" in whole.text
    assert fix_text(source, options, narrowed=narrowed).text == whole.text
