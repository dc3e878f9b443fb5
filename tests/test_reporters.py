"""The machine-readable reporters (json, sarif, github) on real engine output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

import torchfix
from torchfix.engine import Finding, RunOptions, check_text, fix_previews, fix_text
from torchfix.reporters import github, sarif
from torchfix.reporters import json as json_reporter
from torchfix.reporters import text as text_reporter
from torchfix.results import FileReport
from torchfix.rule import Applicability
from torchfix.rules import all_rules
from torchfix.suppression import Suppressions, unused_findings

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
OPTIONS = RunOptions(all_rules())

MODEL = """\
import torch


def embed(x, h):
    a = x / x.norm(dim=1, keepdim=True)
    b = f(h) / f(h).norm(dim=1, keepdim=True)
    return a, b
"""
# A character outside the BMP before the finding: 1 code point, 2 UTF-16 units.
EMOJI = 'import torch\nlabel = "\U0001f600"; y = x / x.norm(dim=-1, keepdim=True)\n'
# CRLF line breaks, a finding inside parentheses, and no final newline.
CRLF = "import torch\r\n\r\ny = (\r\n    x / x.norm(dim=1, keepdim=True)\r\n)\r\n" "z = w / w.norm(dim=0, keepdim=True)"
SOURCES = {"pkg/model.py": MODEL, "emoji.py": EMOJI, "crlf.py": CRLF}


def _report(path: str, source: str) -> FileReport:
    return FileReport(path, check_text(source, OPTIONS), source=source, previews=fix_previews(source, OPTIONS))


def _reports() -> list[FileReport]:
    reports = [_report(path, source) for path, source in SOURCES.items()]
    reports.append(FileReport("broken.py", error="cannot parse: line 1:5: bad input"))
    return reports


def _sarif(reports) -> dict:
    return json.loads(sarif.render(reports, all_rules()))


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]


def _offset(text: str, line: int, utf16_column: int) -> int:
    """The offset of a SARIF position (1-based line, 1-based UTF-16 column)."""
    offset = _line_starts(text)[line - 1]
    units = utf16_column - 1
    while units > 0:
        units -= 2 if ord(text[offset]) > 0xFFFF else 1
        offset += 1
    assert units == 0, "a column inside a surrogate pair"
    return offset


def _apply(text: str, replacements: list[dict]) -> str:
    """Apply SARIF replacements, all positioned in the original text."""
    spans = []
    for replacement in replacements:
        region = replacement["deletedRegion"]
        start = _offset(text, region["startLine"], region["startColumn"])
        end = _offset(text, region["endLine"], region["endColumn"])
        spans.append((start, end, replacement["insertedContent"]["text"]))
    assert spans == sorted(spans), "replacements out of order"
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), "overlapping replacements"
    for start, end, inserted in reversed(spans):
        text = text[:start] + inserted + text[end:]
    return text


def test_sources_have_fixable_and_report_only_findings():
    findings = _report("pkg/model.py", MODEL).findings
    assert [(f.line, f.fixable) for f in findings] == [(5, True), (6, False)]
    assert [len(_report(path, source).previews) for path, source in SOURCES.items()] == [1, 1, 2]


def test_json_is_a_list_of_findings_with_every_field():
    reports = _reports()
    data = json.loads(json_reporter.render(reports))
    assert [item for item in data if "error" in item] == [{"path": "broken.py", "error": "cannot parse: line 1:5: bad input"}]
    data = [item for item in data if "error" not in item]
    expected = [(r.path, f) for r in sorted(reports, key=lambda r: r.path) for f in r.findings]
    assert isinstance(data, list) and len(data) == len(expected) == 5
    for item, (path, finding) in zip(data, expected):
        assert item == {
            "path": path,
            "cell": None,
            "line": finding.line,
            "column": finding.column,
            "end_line": finding.end_line,
            "end_column": finding.end_column,
            "code": "TF007",
            "slug": "f-normalize",
            "message": finding.message,
            "fixable": finding.fixable,
            "applicability": finding.applicability.value,
        }
        assert all(isinstance(item[k], int) for k in ("line", "column", "end_line", "end_column"))
        assert isinstance(item["fixable"], bool)
    model = [item for item in data if item["path"] == "pkg/model.py"]
    assert [(i["line"], i["column"], i["end_column"]) for i in model] == [(5, 9, 40), (6, 9, 46)]
    assert [(i["fixable"], i["applicability"]) for i in model] == [(True, "safe"), (False, "none")]


def test_json_without_findings_is_an_empty_list_and_failures_are_error_objects():
    assert json_reporter.render([FileReport("clean.py")]) == "[]\n"
    failed = [FileReport("b.py", bug="fix produced invalid code: TF007 at line 3"), FileReport("a.py", error="cannot read")]
    assert json.loads(json_reporter.render(failed)) == [
        {"path": "a.py", "error": "cannot read"},
        {"path": "b.py", "error": "torchfix bug: fix produced invalid code: TF007 at line 3"},
    ]


def test_json_edits_carry_the_diff_and_the_fixes():
    fixed = fix_text(MODEL, OPTIONS)
    report = FileReport("pkg/model.py", findings=fixed.remaining, fixed=fixed.applied, original=MODEL,
                        source=fixed.text, changed=True)
    edits = json.loads(json_reporter.render_edits([report, FileReport("clean.py"), FileReport("x.py", error="e")]))
    assert [edit["path"] for edit in edits] == ["pkg/model.py", "x.py"]
    assert edits[0]["diff"].startswith("--- a/pkg/model.py\n+++ b/pkg/model.py\n")
    assert "+    a = F.normalize(x, dim=1)\n" in edits[0]["diff"]
    assert [(f["code"], f["line"]) for f in edits[0]["fixes"]] == [("TF007", 5)]
    assert edits[1] == {"path": "x.py", "error": "e"}


def test_summary_lines_count_the_files_that_could_not_be_checked():
    reports = _reports() + [FileReport("blob.py", error="cannot decode")]
    assert text_reporter.summary_line(reports).endswith("; 2 files could not be checked.")
    assert text_reporter.summary_line(reports[-1:]) == "No findings; 1 file could not be checked."
    assert text_reporter.fixed_line(reports, dry_run=False) == "Fixed 0 findings in 0 files; 2 files could not be fixed."


def test_sarif_fix_description_states_the_assumption_once():
    source = "import torch\n\n\ndef unit(x):\n    v = x.flatten()\n    return v / v.norm()\n"
    unsafe = RunOptions(all_rules(), unsafe_codes=frozenset({"TF007"}))
    report = FileReport("u.py", check_text(source, unsafe), source=source, previews=fix_previews(source, unsafe))
    (result,) = _sarif([report])["runs"][0]["results"]
    description = result["fixes"][0]["description"]["text"]
    assert description.startswith("Unsafe fix: ") and description.lower().count("unsafe fix") == 1
    assert "It assumes" in description


def test_sarif_describes_unused_suppressions():
    source = "import torch\nz = 1  # torchfix: ignore[TF007]\n"
    suppressions = Suppressions(source)
    report = FileReport("n.py", check_text(source, OPTIONS, suppressions) + unused_findings(suppressions), source=source)
    log = _sarif([report])
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    run = log["runs"][0]
    (result,) = run["results"]
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"] == "TF100"


def test_sarif_validates_against_the_schema():
    log = _sarif(_reports())
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).validate(log)
    empty = _sarif([])
    jsonschema.Draft4Validator(SCHEMA).validate(empty)
    assert empty["runs"][0]["results"] == []


def test_sarif_describes_the_tool_and_every_rule():
    run = _sarif(_reports())["runs"][0]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("torchfix", torchfix.__version__)
    assert [rule["id"] for rule in driver["rules"]] == [rule.CODE for rule in all_rules()]
    tf007 = next(rule for rule in driver["rules"] if rule["id"] == "TF007")
    assert tf007["name"] == "f-normalize"
    assert tf007["shortDescription"]["text"].startswith("Use F.normalize")
    assert tf007["fullDescription"]["text"].startswith("`F.normalize(x, dim=d)` says what the code means")
    assert "## Fix safety" in tf007["help"]["markdown"] and "## Example" in tf007["help"]["markdown"]
    assert tf007["properties"]["fixSafety"] == "safe/unsafe"
    assert run["columnKind"] == "utf16CodeUnits"
    for result in run["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] == "warning"
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"


def test_sarif_regions_are_the_flagged_code_in_utf16_columns():
    run = _sarif(_reports())["runs"][0]
    flagged = []
    for result in run["results"]:
        location = result["locations"][0]["physicalLocation"]
        source = SOURCES[location["artifactLocation"]["uri"]]
        region = location["region"]
        start = _offset(source, region["startLine"], region["startColumn"])
        flagged.append(source[start : _offset(source, region["endLine"], region["endColumn"])])
    assert flagged == [
        "x / x.norm(dim=1, keepdim=True)",
        "w / w.norm(dim=0, keepdim=True)",
        "x / x.norm(dim=-1, keepdim=True)",
        "x / x.norm(dim=1, keepdim=True)",
        "f(h) / f(h).norm(dim=1, keepdim=True)",
    ]
    (finding,) = _report("emoji.py", EMOJI).findings
    emoji = run["results"][2]["locations"][0]["physicalLocation"]
    assert emoji["artifactLocation"]["uri"] == "emoji.py"
    assert emoji["region"]["startColumn"] == finding.column + 1


def test_sarif_fixes_reproduce_each_preview():
    reports = _reports()
    run = _sarif(reports)["runs"][0]
    previews = {(r.path, f.line, f.column): text for r in reports for f, text in r.previews or ()}
    fixed = 0
    findings = [(r.path, f) for r in sorted(reports, key=lambda r: r.path) for f in r.findings]
    for result, (path, finding) in zip(run["results"], findings, strict=True):
        assert ("fixes" in result) == finding.fixable
        if not finding.fixable:
            continue
        (change,) = result["fixes"][0]["artifactChanges"]
        assert change["artifactLocation"]["uri"] == path
        assert _apply(SOURCES[path], change["replacements"]) == previews[(path, finding.line, finding.column)]
        fixed += 1
    assert fixed == 4


def test_sarif_fix_adds_the_import_and_rewrites_the_expression_as_two_minimal_replacements():
    result = _sarif([_report("pkg/model.py", MODEL)])["runs"][0]["results"][0]
    replacements = result["fixes"][0]["artifactChanges"][0]["replacements"]
    assert [r["insertedContent"]["text"] for r in replacements] == [
        "import torch.nn.functional as F\n",
        "F.normalize(x, dim=1",
    ]
    assert replacements[1]["deletedRegion"] == {"startLine": 5, "startColumn": 9, "endLine": 5, "endColumn": 39}


_TEXT = st.text(alphabet=["a", "b", "\n", "\r", " ", "\u00e9", "\U0001f600"], max_size=30)


@given(before=_TEXT, after=_TEXT)
def test_sarif_replacements_turn_any_text_into_any_other(before, after):
    finding = Finding("TF007", "f-normalize", "m", 1, 1, 1, 1, Applicability.SAFE, True)
    report = FileReport("a.py", [finding], source=before, previews=[(finding, after)])
    log = _sarif([report])
    jsonschema.Draft4Validator(SCHEMA).validate(log)
    result = log["runs"][0]["results"][0]
    assert ("fixes" in result) == (before != after), "a fix that changes nothing is no fix"
    changes = result["fixes"][0]["artifactChanges"][0]["replacements"] if before != after else []
    assert _apply(before, changes) == after


def test_sarif_reports_unreadable_files_as_error_notifications():
    invocation = _sarif(_reports())["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    (notification,) = invocation["toolExecutionNotifications"]
    assert notification["level"] == "error"
    assert notification["message"]["text"] == "broken.py: cannot parse: line 1:5: bad input"
    assert notification["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "broken.py"
    clean = _sarif([_report("pkg/model.py", MODEL)])["runs"][0]["invocations"][0]
    assert clean == {"executionSuccessful": True, "toolExecutionNotifications": []}


def test_sarif_fingerprints_follow_the_code_not_the_line():
    twice = "import torch\ny = x / x.norm(dim=1, keepdim=True)\ny = x / x.norm(dim=1, keepdim=True)\n"
    shifted = "import torch\n\n\n" + twice.split("\n", 1)[1]

    def fingerprints(source):
        results = _sarif([_report("a.py", source)])["runs"][0]["results"]
        return [r["partialFingerprints"][sarif.FINGERPRINT] for r in results]

    first, second = fingerprints(twice)
    assert first != second
    assert fingerprints(shifted) == [first, second]


def test_sarif_uri_is_percent_encoded():
    result = _sarif([_report("my dir/model 1.py", MODEL)])["runs"][0]["results"][0]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "my%20dir/model%201.py"


def _finding(message: str, line: int = 3, end_line: int = 3) -> Finding:
    return Finding("TF007", "f-normalize", message, line, 5, end_line, 9, Applicability.NONE, False)


def test_github_annotations_escape_data_and_properties():
    report = FileReport("odd, name:1%.py", [_finding("100% sure: a, b\nnext\rline")])
    assert github.render([report]) == (
        "::warning file=odd%2C name%3A1%25.py,line=3,col=5,endLine=3,endColumn=9,title=TF007 f-normalize"
        "::100%25 sure: a, b%0Anext%0Dline\n"
    )


def test_github_multiline_finding_has_no_columns_and_errors_are_error_lines():
    reports = [
        FileReport("b.py", [_finding("spans lines", line=2, end_line=4)]),
        FileReport("a.py", error="cannot parse: line 1:5: bad, input"),
        FileReport("c.py", bug="fix produced invalid code: TF007 at line 3"),
    ]
    assert github.render(reports).splitlines() == [
        "::error file=a.py,title=torchfix::cannot parse: line 1:5: bad, input",
        "::warning file=b.py,line=2,endLine=4,title=TF007 f-normalize::spans lines",
        "::error file=c.py,title=torchfix bug::fix produced invalid code: TF007 at line 3",
    ]
    assert github.render([]) == ""


def test_github_lines_from_engine_findings():
    lines = github.render([_report("pkg/model.py", MODEL)]).splitlines()
    assert lines == [
        "::warning file=pkg/model.py,line=5,col=9,endLine=5,endColumn=40,title=TF007 f-normalize"
        "::Use F.normalize instead of dividing by the norm.",
        "::warning file=pkg/model.py,line=6,col=9,endLine=6,endColumn=46,title=TF007 f-normalize"
        "::Dividing by the norm is F.normalize; no fix: f(h) may have side effects"
        " and F.normalize evaluates it once.",
    ]


@pytest.mark.parametrize(
    "render",
    [json_reporter.render, github.render, lambda reports: sarif.render(reports, all_rules())],
    ids=["json", "github", "sarif"],
)
def test_output_does_not_depend_on_input_order(render):
    reports = _reports()
    shuffled = [
        FileReport(r.path, list(reversed(r.findings)), error=r.error, source=r.source, previews=r.previews)
        for r in reversed(reports)
    ]
    assert render(shuffled) == render(reports) == render(_reports())
