"""Suppression comments silence exactly what they name, on the reported line."""

from __future__ import annotations

import pytest

from torchfix.engine import RunOptions, check_text, fix_text
from torchfix.rules import all_rules
from torchfix.suppression import Suppressions, suppressed_codes, unused_findings

LINE = "y = x / x.norm(dim=1, keepdim=True)"


def _findings(comment: str):
    return check_text(f"import torch\n{LINE}{comment}\n", RunOptions(all_rules()))


@pytest.mark.parametrize(
    "comment", ["  # torchfix: ignore", "  # torchfix: ignore[TF007]", "  # torchfix:ignore[TF002, TF007]",
                "  # noqa: TF007", "  # noqa", "  # noqa: E501, TF007", "  # TORCHFIX: IGNORE[tf007]"]
)
def test_suppressed(comment):
    assert _findings(comment) == []


@pytest.mark.parametrize(
    "comment", ["", "  # torchfix: ignore[TF008]", "  # noqa: E501", "  # a comment about torchfix"]
)
def test_not_suppressed(comment):
    assert [f.code for f in _findings(comment)] == ["TF007"]


def test_suppressed_finding_is_not_fixed():
    source = f"import torch\n{LINE}  # torchfix: ignore\n"
    assert fix_text(source, RunOptions(all_rules())).text == source


def test_only_real_comments_count():
    source = f"import torch\ns = '# torchfix: ignore'; {LINE}\n"
    assert suppressed_codes(source) == {}
    assert [f.code for f in check_text(source, RunOptions(all_rules()))] == ["TF007"]


@pytest.mark.parametrize(
    "header", ["# torchfix: noqa\n", "#!/usr/bin/env python\n# Copyright\n#torchfix:NOQA: TF007\n",
               "# torchfix: noqa: TF002, TF007\n"]
)
def test_file_level_suppression_in_the_header(header):
    source = f"{header}import torch\n{LINE}\n"
    assert check_text(source, RunOptions(all_rules())) == []
    assert fix_text(source, RunOptions(all_rules())).text == source


@pytest.mark.parametrize(
    "source", [f"import torch\n# torchfix: noqa\n{LINE}\n",  # after code: not the header
               f"# torchfix: noqa: TF008\nimport torch\n{LINE}\n", f"'''doc'''\n# torchfix: noqa\n{LINE}\n"]
)
def test_file_level_suppression_only_in_the_header_and_only_its_codes(source):
    assert [f.code for f in check_text(source, RunOptions(all_rules()))] == ["TF007"]


def _unused(source: str) -> list[str]:
    suppressions = Suppressions(source)
    check_text(source, RunOptions(all_rules()), suppressions)
    return [f"{f.line}:{f.column}: {f.code} {f.message}" for f in unused_findings(suppressions)]


def test_unused_suppressions_are_named():
    source = (
        "# torchfix: noqa: TF008\n"
        "import torch\n"
        f"{LINE}  # torchfix: ignore[TF007, TF002]\n"
        "z = 1  # torchfix: ignore\n"
        "w = 2  # noqa\n"                 # another linter's, maybe: never reported
        "v = 3  # noqa: E501, TF009\n"
        f"{LINE}  # noqa: TF007\n"
    )
    assert _unused(source) == [
        "1:1: TF100 Unused suppression: `# torchfix: noqa: TF008`: TF008 suppressed nothing.",
        "3:38: TF100 Unused suppression: `# torchfix: ignore[TF007, TF002]`: TF002 suppressed nothing.",
        "4:8: TF100 Unused suppression: `# torchfix: ignore` suppresses nothing.",
        "6:8: TF100 Unused suppression: `# noqa: E501, TF009`: TF009 suppressed nothing.",
    ]
    assert _unused(f"import torch\n{LINE}  # torchfix: ignore\n") == []
