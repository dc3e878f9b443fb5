"""The module rules' fixes read as a maintainer would write them (issue 17): blank lines between
methods kept, comments moved with their code, widths written simply, fused layers named from
their parts and the call site's own local names reused."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from torchfix.engine import RunOptions, fix_text
from torchfix.rules import rule_by_key
from torchfix.rules._fused_fix import fused_name

#: pycodestyle's blank-line and trailing-whitespace checks (ruff runs E30x only in preview)
_BLANK_LINE_CODES = "E301,E302,E303,E305,W291,W293"


def _fix(source: str, *codes: str) -> str:
    codes = codes or ("TF008",)
    outcome = fix_text(textwrap.dedent(source), RunOptions(tuple(rule_by_key(c) for c in codes), frozenset(codes)))
    assert outcome.bug is None
    return outcome.text


def _module(init: str, forward: str, params: str = "d") -> str:
    """A module whose ``__init__`` and ``forward`` bodies are given (dedented)."""
    return (
        "import torch\nfrom torch import nn\n\n\nclass Block(nn.Module):\n"
        f"    def __init__(self, {params}):\n        super().__init__()\n"
        + textwrap.indent(textwrap.dedent(init), " " * 8)
        + "\n    def forward(self, x):\n"
        + textwrap.indent(textwrap.dedent(forward), " " * 8)
    )


def _method(text: str, name: str) -> str:
    """The source of method ``name`` in ``text``, up to the next definition."""
    return re.search(rf"\n    def {name}\(.*?(?=\n    @|\n    def |\Z)", text, re.S).group(0)


# -- blank lines between methods --------------------------------------------------------------


def _blank_line_findings(folder: Path) -> Counter:
    command = [sys.executable, "-m", "ruff", "check", "--no-cache", "--preview", "--isolated"]
    command += ["--select", _BLANK_LINE_CODES, "--output-format", "json", "."]
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    return Counter(finding["code"] for finding in json.loads(result.stdout))


#: name -> (the number of TF003 fixes, the source)
_CLASSES = {
    "decorated-and-commented": (1, '''\
        import math

        import torch
        from torch import nn


        class Attention(nn.Module):
            """Multi-head attention."""

            def __init__(self, dim, heads=8):
                super().__init__()
                self.heads = heads
                # the projections
                self.to_q = nn.Linear(dim, dim, bias=False)

                self.to_k = nn.Linear(dim, dim, bias=False)

                self.to_v = nn.Linear(dim, dim, bias=False)
                self.scale = torch.tensor(1 / math.sqrt(dim // heads))

            # resets nothing: the layers keep their default init
            @torch.no_grad()
            def reset(self):
                pass

            @property
            def head_dim(self):
                return 1

            def forward(self, x):
                q = self.to_q(x)

                k = self.to_k(x)

                v = self.to_v(x)

                return (q @ k.transpose(-2, -1) * self.scale).softmax(-1) @ v
        '''),
    "no-blank-lines-between-methods": (1, """\
        import torch
        from torch import nn


        class Gate(nn.Module):
            def __init__(self, d, hidden):
                super().__init__()
                self.w1 = nn.Linear(d, hidden)
                self.w3 = nn.Linear(d, hidden)
                self.w2 = nn.Linear(hidden, d)
                self.mask = torch.ones(hidden, dtype=torch.bool)
            def forward(self, x):
                return self.w2((torch.nn.functional.silu(self.w1(x)) * self.w3(x))[..., self.mask])
        class Other(nn.Module):
            pass
        """),
    "init-last-then-module-code": (1, """\
        import torch
        from torch import nn


        class Head(nn.Module):
            def forward(self, h):
                return self.fc_mu(h), self.fc_logvar(h), self.eps

            def __init__(self, d):
                super().__init__()
                self.fc_mu = nn.Linear(d, 16)
                self.fc_logvar = nn.Linear(d, 16)
                # the noise scale, as a buffer it follows the module
                self.eps = torch.tensor(1e-6)


        HEAD = Head(4)
        """),
    "nested-class-and-comments-between": (0, """\
        import torch
        from torch import nn


        class Outer:
            class MLP(nn.Module):
                def __init__(self, d):
                    super().__init__()
                    self.gate_proj = nn.Linear(d, 4 * d)
                    # up
                    self.up_proj = nn.Linear(d, 4 * d)
                # the forward pass
                def forward(self, x):
                    gate = self.gate_proj(x)
                    # up is read after
                    up = self.up_proj(x)
                    return gate * up
            # after the class
            value = 1
        """),
}


@pytest.mark.parametrize("name", sorted(_CLASSES))
def test_apply_adds_no_blank_line_findings(tmp_path, cli, name):
    pytest.importorskip("ruff")
    buffers, source = _CLASSES[name]
    source = textwrap.dedent(source)
    (tmp_path / "pyproject.toml").write_text("[tool.torchfix]\n")
    (tmp_path / "model.py").write_text(source)
    before = _blank_line_findings(tmp_path)
    code, out, _ = cli(tmp_path, "apply", "--unsafe-fixes", "--select", "TF003,TF008", "--no-cache", ".")
    fixed = (tmp_path / "model.py").read_text()
    assert code == 0 and "register_load_state_dict_pre_hook" in fixed, out + fixed
    assert fixed.count("self.register_buffer(") == buffers, fixed
    after = _blank_line_findings(tmp_path)
    assert all(after[c] <= before[c] for c in after), f"new findings: {after - before}\n{fixed}"
    # The hooks go right after `__init__`: a comment above the next method stays above it.
    lines = source.splitlines()
    for comment, following in zip(lines, lines[1:]):
        if comment.strip().startswith("#") and following.strip().startswith(("def ", "@", "class ", "value")):
            assert f"{comment}\n{following}\n" in fixed


def test_hooks_are_methods_with_one_blank_line_each():
    fixed = _fix(_module("self.q = nn.Linear(d, d)\nself.k = nn.Linear(d, d)\n", "return self.q(x), self.k(x)\n"))
    assert "\n        super().__init__()\n        self.qk = nn.Linear(d, 2 * d)\n" in fixed
    for header in ("_load_unfused_qk", "_save_unfused_qk", "forward"):
        assert re.search(rf"[^\n]\n\n    (@staticmethod\n    )?def {header}\(", fixed), header


# -- comments move with the code they describe -------------------------------------------------


def test_layer_comments_go_above_the_fused_layer_and_say_which_part():
    fixed = _fix(
        _module(
            """\
            # queries
            self.q_proj = nn.Linear(d, d)  # (b, n, d)
            self.dropout = nn.Dropout(0.1)
            # keys and values
            self.k_proj = nn.Linear(d, d)  # noqa: E501
            self.v_proj = nn.Linear(d, d)  # values
            # the output
            self.o_proj = nn.Linear(d, d)
            """,
            "q = self.q_proj(x)\nk = self.k_proj(x)\nv = self.v_proj(x)\nreturn self.o_proj(self.dropout(q @ k.mT @ v))\n",
        )
    )
    assert (
        "        self.dropout = nn.Dropout(0.1)\n"
        "        # queries\n"
        "        # q_proj: (b, n, d)\n"
        "        # keys and values\n"
        "        # noqa: E501\n"  # a tool's comment is moved as it is
        "        # v_proj: values\n"
        "        self.qkv_proj = nn.Linear(d, 3 * d)\n"
    ) in fixed
    assert "        # the output\n        self.o_proj = nn.Linear(d, d)\n" in fixed


def test_an_empty_trailing_comment_moves_as_it_is():
    fixed = _fix(_module("self.q = nn.Linear(d, d)  #\nself.k = nn.Linear(d, d)\n", "return self.q(x), self.k(x)\n"))
    assert "        #\n        self.qk = nn.Linear(d, 2 * d)\n" in fixed
    assert not any(line.endswith(" ") for line in fixed.splitlines())


def test_call_site_comments_go_above_the_split_in_source_order_and_the_next_lines_keep_theirs():
    fixed = _fix(
        _module(
            "self.q = nn.Linear(d, d)\nself.k = nn.Linear(d, d)\nself.v = nn.Linear(d, d)\n",
            """\
            # project
            q = self.q(x)  # queries
            v = self.v(x)  # noqa: E501
            # keys
            k = self.k(x)  # (b, n, d)
            # attend
            return q @ k.mT @ v
            """,
        )
    )
    assert _method(fixed, "forward") == (
        "\n    def forward(self, x):\n"
        "        # project\n"
        "        # q: queries\n"
        "        # noqa: E501\n"
        "        # keys\n"
        "        # k: (b, n, d)\n"
        "        q, k, v = self.qkv(x).chunk(3, dim=-1)\n"
        "        # attend\n"
        "        return q @ k.mT @ v\n"
    )


# -- widths --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "widths, params, total",
    [
        (["64", "64", "64"], "d", "nn.Linear(d, 192)"),
        (["91", "91 * 4"], "d", "nn.Linear(d, 455)"),
        (["d", "d", "d"], "d", "nn.Linear(d, 3 * d)"),
        (["d", "d"], "d", "nn.Linear(d, 2 * d)"),
        (["4 * d", "4 * d"], "d", "nn.Linear(d, 8 * d)"),
        (["d * 4", "d * 4"], "d", "nn.Linear(d, d * 8)"),
        (["d // 2", "d // 2"], "d", "nn.Linear(d, 2 * (d // 2))"),
        (["d", "e"], "d, e", "nn.Linear(d, d + e)"),
        (["h * hd", "kv * hd", "kv * hd"], "d, h, kv, hd", "nn.Linear(d, h * hd + 2 * kv * hd)"),
        (["d", "64"], "d", "nn.Linear(d, d + 64)"),
    ],
)
def test_the_fused_width_is_written_simply(widths, params, total):
    names = ["a", "b", "c"][: len(widths)]
    init = "".join(f"self.{n} = nn.Linear(d, {w})\n" for n, w in zip(names, widths))
    forward = "return " + ", ".join(f"self.{n}(x)" for n in names) + "\n"
    fixed = _fix(_module(init, forward, params))
    assert f" = {total}\n" in fixed, fixed


# -- fused names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "parts, fused",
    [
        (["q_proj", "k_proj", "v_proj"], "qkv_proj"),
        (["k_proj", "v_proj"], "kv_proj"),
        (["to_q", "to_k", "to_v"], "to_qkv"),
        (["to_k", "to_v"], "to_kv"),
        (["wq", "wk", "wv"], "wqkv"),
        (["fc_mu", "fc_logvar"], "fc_mu_logvar"),
        (["mu", "logvar"], "mu_logvar"),
        (["w1", "w3"], "w13"),
        (["gate_proj", "up_proj"], "gate_up_proj"),
        (["w_gate", "w_up"], "w_gate_up"),
        (["query", "key", "value"], "query_key_value"),
        (["key", "value"], "key_value"),
        (["q", "k", "v"], "qkv"),
        (["linear_q", "linear_k", "linear_v"], "linear_qkv"),
        (["q_lin", "k_lin", "v_lin"], "qkv_lin"),
        (["query_proj", "key_proj", "value_proj"], "query_key_value_proj"),
        (["wi_0", "wi_1"], "wi_01"),
        (["fc1", "fc2"], "fc12"),
        (["fc21", "fc22"], "fc21_fc22"),
        (["cls_score", "bbox_pred"], "cls_score_bbox_pred"),
    ],
)
def test_fused_names_are_made_of_the_parts(parts, fused):
    assert fused_name(parts) == fused
    assert not re.search(r"\d{3}", fused)


@pytest.mark.parametrize(
    "parts, fused",
    [
        (["q_proj", "k_proj", "v_proj"], "qkv_proj"),
        (["to_k", "to_v"], "to_kv"),
        (["gate_proj", "up_proj"], "gate_up_proj"),
        (["wq", "wk", "wv"], "wqkv"),
        (["query", "key", "value"], "query_key_value"),
    ],
)
def test_the_fix_uses_the_readable_name_and_free_names_only(parts, fused):
    init = "".join(f"self.{p} = nn.Linear(d, d)\n" for p in parts)
    forward = "return " + " + ".join(f"self.{p}(x)" for p in parts) + "\n"
    fixed = _fix(_module(init, forward))
    assert f"self.{fused} = nn.Linear(d, {len(parts)} * d)\n" in fixed
    taken = _fix(_module(init + f"self.{fused} = 1\n", forward))
    assert f"self.{fused}_2 = nn.Linear(" in taken and f"self.{fused} = 1\n" in taken


def test_one_word_comments_name_the_fused_layer():
    fixed = _fix(_module("self.fc21 = nn.Linear(d, 20)  # mu\nself.fc22 = nn.Linear(d, 20)  # logvar\n", "return self.fc21(x), self.fc22(x)\n"))
    assert "        # fc21: mu\n        # fc22: logvar\n        self.mu_logvar = nn.Linear(d, 40)\n" in fixed
    assert "return self.mu_logvar(x).chunk(2, dim=-1)\n" in fixed


# -- the call site's own local names ---------------------------------------------------------------

_HF_INIT = "self.q_proj = nn.Linear(d, d)\nself.k_proj = nn.Linear(d, d)\nself.v_proj = nn.Linear(d, d)\n"


@pytest.mark.parametrize(
    "forward, expected",
    [
        (  # Hugging Face's names
            "query_states = self.q_proj(x)\nkey_states = self.k_proj(x)\nvalue_states = self.v_proj(x)\n",
            "query_states, key_states, value_states = self.qkv_proj(x).chunk(3, dim=-1)\n",
        ),
        (  # annotated: the annotation stays as a declaration
            "query_states: torch.Tensor = self.q_proj(x)\nkey_states = self.k_proj(x)\nvalue_states: torch.Tensor = self.v_proj(x)\n",
            "query_states: torch.Tensor\nvalue_states: torch.Tensor\n"
            "query_states, key_states, value_states = self.qkv_proj(x).chunk(3, dim=-1)\n",
        ),
        (  # the outputs assigned in another order: the unpacking follows the layers
            "values = self.v_proj(x)\nkeys = self.k_proj(x)\nqueries = self.q_proj(x)\n",
            "queries, keys, values = self.qkv_proj(x).chunk(3, dim=-1)\n",
        ),
        (  # a tuple in another order: its names are reordered
            "v, q, k = self.v_proj(x), self.q_proj(x), self.k_proj(x)\n",
            "q, k, v = self.qkv_proj(x).chunk(3, dim=-1)\n",
        ),
        (  # other statements between the calls
            "q = self.q_proj(x)\nscale = q.shape[-1] ** -0.5\nk = self.k_proj(x)\nv = self.v_proj(x)\n",
            "q, k, v = self.qkv_proj(x).chunk(3, dim=-1)\nscale = q.shape[-1] ** -0.5\n",
        ),
    ],
    ids=["hf", "annotated", "reordered-lines", "reordered-tuple", "statements-between"],
)
def test_the_split_takes_over_the_local_names(forward, expected):
    fixed = _fix(_module(_HF_INIT, forward + "return None\n"))
    assert textwrap.indent(expected, " " * 8) in fixed, fixed
    assert "_out" not in _method(fixed, "forward")


@pytest.mark.parametrize(
    "forward, expected",
    [
        (  # the name's old value is read before its call: the unpacking cannot take it over early
            "v = x.mean()\nq = self.q_proj(x)\nw = v * 2\nk = self.k_proj(x)\nv = self.v_proj(x)\nreturn q, k, v, w\n",
            "q, k, v_proj_out = self.qkv_proj(x).chunk(3, dim=-1)\nw = v * 2\nv = v_proj_out\n",
        ),
        (  # a call inside an expression gets a name of its own
            "q = self.q_proj(x).view(2, -1)\nk = self.k_proj(x)\nv = self.v_proj(x)\nreturn q, k, v\n",
            "q_proj_out, k, v = self.qkv_proj(x).chunk(3, dim=-1)\nq = q_proj_out.view(2, -1)\n",
        ),
        (  # one name bound twice in a tuple keeps the last value: not reordered
            "k, k = self.k_proj(x), self.q_proj(x)\nv = self.v_proj(x)\nreturn k, v\n",
            "q_proj_out, k_proj_out, v = self.qkv_proj(x).chunk(3, dim=-1)\nk, k = k_proj_out, q_proj_out\n",
        ),
    ],
    ids=["read-between", "nested", "same-name-twice"],
)
def test_local_names_are_only_taken_over_where_that_is_the_same_program(forward, expected):
    fixed = _fix(_module(_HF_INIT, forward))
    assert textwrap.indent(expected, " " * 8) in fixed, fixed


def test_each_input_keeps_its_own_names_and_fresh_names_do_not_run_digits_on():
    forward = """\
        qx = self.q_proj(x)
        kx = self.k_proj(x)
        qy = self.q_proj(y)
        ky = self.k_proj(y)
        a = torch.sigmoid(self.q_proj(x + 1)) * self.k_proj(x + 1)
        b = torch.sigmoid(self.q_proj(y + 1)) * self.k_proj(y + 1)
        return qx @ kx.mT + qy @ ky.mT + a + b
        """
    source = _module("self.q_proj = nn.Linear(d, d)\nself.k_proj = nn.Linear(d, d)\n", forward).replace("(self, x)", "(self, x, y)")
    assert _method(_fix(source), "forward") == (
        "\n    def forward(self, x, y):\n"
        "        qx, kx = self.qk_proj(x).chunk(2, dim=-1)\n"
        "        qy, ky = self.qk_proj(y).chunk(2, dim=-1)\n"
        "        q_proj_out, k_proj_out = self.qk_proj(x + 1).chunk(2, dim=-1)\n"
        "        a = torch.sigmoid(q_proj_out) * k_proj_out\n"
        "        q_proj_out_2, k_proj_out_2 = self.qk_proj(y + 1).chunk(2, dim=-1)\n"
        "        b = torch.sigmoid(q_proj_out_2) * k_proj_out_2\n"
        "        return qx @ kx.mT + qy @ ky.mT + a + b\n"
    )


@pytest.mark.parametrize(
    "init, expected",
    [
        (  # the first statement removed: the block does not open with a blank line
            "self.q = nn.Linear(d, d)\n\nself.k = nn.Linear(d, d)\n",
            "    def __init__(self, d):\n        self.qk = nn.Linear(d, 2 * d)\n",
        ),
        (  # a removal between blank lines leaves one
            "self.a = 1\n\nself.q = nn.Linear(d, d)\n\nself.k = nn.Linear(d, d)\n",
            "        self.a = 1\n\n        self.qk = nn.Linear(d, 2 * d)\n",
        ),
        (  # the user's own blank lines elsewhere in the block are theirs
            "self.q = nn.Linear(d, d)\nself.k = nn.Linear(d, d)\nself.a = 1\n\n\nself.b = 2\n",
            "        self.a = 1\n\n\n        self.b = 2\n",
        ),
    ],
    ids=["first-removed", "between-blank-lines", "elsewhere"],
)
def test_a_removal_tidies_only_the_blank_lines_it_made(init, expected):
    source = _module(init, "return self.q(x), self.k(x)\n").replace("        super().__init__()\n", "")
    fixed = _fix(source)
    assert expected in fixed, fixed
