"""Suppression comments silence exactly what they name, on the reported line."""

from __future__ import annotations

import pytest

from torchfix.engine import RunOptions, check_text, fix_text
from torchfix.rules import all_rules
from torchfix.suppression import suppressed_codes

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
