"""torchfix verify end to end: worker subprocesses, apply --verify, --base, --factory, JSON.

Each test starts two or three subprocesses that import torch (a few seconds each),
so each run checks as much as it can at once.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

import libcst as cst
import pytest
from rich.console import Console

pytest.importorskip("torch")  # every test runs workers that import torch

from torchfix.config import Settings, load_settings
from torchfix.engine import RunOptions
from torchfix.rule import Applicability, Fix, Rule
from torchfix.rules.tf004_builtin_identity import BuiltinIdentity
from torchfix.rules.tf007_f_normalize import FNormalize
from torchfix.rules.tf008_fused_linear import FusedLinear
from torchfix.runner import Job, Mode
from torchfix.verify.checks import CheckOptions, VerifyError, call_worker
from torchfix.verify.commands import run_verify, verify_apply
from torchfix.verify.device import FAKE_DEVICES_ENV

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def console() -> Console:
    """A wide console whose output the test can read (``export_text``)."""
    return Console(width=200, record=True, highlight=False, color_system=None)


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=root, check=True, capture_output=True
    )


# --- a project with every way of finding a model ---------------------------------------------

SHOP = {
    "pyproject.toml": """\
        [tool.torchfix]
        unsafe-fixes = true

        [tool.torchfix.verify]
        models = [{ factory = "shop.build:make_tower", inputs = "shop.build:tower_inputs" }]
        """,
    "shop/__init__.py": "from .blocks import Attention\n",
    # TF008 fuses q, k, v; built automatically (defaults), inputs from its first Linear
    "shop/blocks.py": """\
        import torch
        from torch import nn


        class Attention(nn.Module):
            def __init__(self, dim: int = 16):
                super().__init__()
                self.q = nn.Linear(dim, dim)
                self.k = nn.Linear(dim, dim)
                self.v = nn.Linear(dim, dim)

            def forward(self, x):
                q = self.q(x)
                k = self.k(x)
                v = self.v(x)
                return (q @ k.transpose(-2, -1)).softmax(dim=-1) @ v
        """,
    # TF007 in a helper; a class without arguments and one that cannot be built
    "shop/norms.py": """\
        import torch
        from torch import nn


        def unit(x):
            return x / x.norm(dim=-1, keepdim=True)


        class Plain(nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = nn.Linear(8, 8)

            def forward(self, x):
                # random draws in forward: both sides start them from the same seed
                return unit(self.scale(x + torch.rand_like(x)))


        class Sized(nn.Module):
            def __init__(self, size):
                super().__init__()
                self.fc = nn.Linear(size, size)

            def forward(self, x):
                return unit(self.fc(x))
        """,
    # unchanged, but uses both rewritten siblings through relative imports; a dataclass config
    "shop/heads.py": """\
        from dataclasses import dataclass

        from torch import nn

        from .blocks import Attention
        from .norms import unit


        @dataclass
        class HeadConfig:
            dim: int = 16
            classes: int = 3


        class Head(nn.Module):
            def __init__(self, config: HeadConfig):
                super().__init__()
                self.attn = Attention(config.dim)
                self.out = nn.Linear(config.dim, config.classes)

            def forward(self, x):
                return {"logits": self.out(unit(self.attn(x))), "width": x.shape[-1]}
        """,
    # needs an argument: the configured factory builds it
    "shop/build.py": """\
        import torch
        from torch import nn

        from .heads import Head, HeadConfig


        class Tower(nn.Module):
            def __init__(self, depth):
                super().__init__()
                self.heads = nn.ModuleList(Head(HeadConfig()) for _ in range(depth))

            def forward(self, x):
                return [head(x)["logits"] for head in self.heads]


        def make_tower():
            return Tower(2)


        def tower_inputs():
            return (torch.randn(4, 16),)
        """,
}


@dataclass
class Applied:
    root: Path
    originals: dict[str, str]
    code: int
    output: str


@pytest.fixture(scope="module")
def applied(tmp_path_factory) -> Applied:
    """The shop project, committed to git, then `apply --verify`-ed."""
    root = write(tmp_path_factory.mktemp("verify") / "proj", SHOP)
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "original")
    originals = {name: (root / name).read_text() for name in SHOP}
    out = console()
    reports, code = verify_apply([root], load_settings([root]), console=out)
    assert {Path(r.path).name for r in reports if r.changed} == {"blocks.py", "norms.py"}
    return Applied(root, originals, code, out.export_text())


def _modes(output: str) -> dict[tuple[str, str], list[str]]:
    """The report tables' rows: (module, mode) -> [status, max abs, max rel, floor, before, after, speedup, peak]."""
    rows = {}
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) == 10 and cells[2] in ("equal", "differs", "skipped"):
            rows[cells[0], cells[1]] = cells[2:]
    return rows


def _rows(output: str) -> dict[str, list[str]]:
    """Module -> [its status over every mode: differs if one differs, else equal if one is]."""
    statuses: dict[str, set[str]] = {}
    for (module, _), cells in _modes(output).items():
        statuses.setdefault(module, set()).add(cells[0])
    return {
        module: [next(s for s in ("differs", "equal", "skipped") if s in found)] for module, found in statuses.items()
    }


def test_apply_verify_checks_every_model_and_writes_what_passed(applied):
    rows = _rows(applied.output)
    assert {name: cells[0] for name, cells in rows.items()} == {
        "shop.build:make_tower": "equal",  # configured factory (it builds Tower, not checked again)
        "shop.blocks:Attention": "equal",  # defaults; fused q, k, v, gradients mapped
        "shop.heads:Head": "equal",  # dataclass config; uses both rewritten siblings
        "shop.norms:Plain": "equal",  # no arguments; draws random numbers in forward
        "shop.norms:Sized": "equal",  # Sized(size=16): a synthesized argument
    }
    assert "Module check (on cpu)" in applied.output
    assert {mode for module, mode in _modes(applied.output) if module == "shop.blocks:Attention"} == {
        "eval float32",
        "train float32",
        "eval bfloat16",
    }
    assert "Site checks on cpu: 1 passed, 0 failed, 0 skipped" in applied.output
    assert "Outcome: verified - files: 2 verified, 0 differ, 0 unverified" in applied.output
    assert applied.code == 0
    assert "self.qkv = nn.Linear(dim, 3 * dim)" in (applied.root / "shop/blocks.py").read_text()
    assert "F.normalize(x, dim=-1)" in (applied.root / "shop/norms.py").read_text()
    assert not list(applied.root.rglob("__pycache__"))


def test_verify_base_against_git_in_json(applied):
    """`torchfix verify --base HEAD` (the committed original) as a subprocess, JSON output."""
    result = subprocess.run(
        [sys.executable, "-m", "torchfix", "verify", "--base", "HEAD", "--format", "json", "."],
        cwd=applied.root,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "verified" and report["exit_code"] == 0
    assert report["counts"]["files"] == {"verified": 2, "differs": 0, "unverified": 0}
    fixes = {fix["fix"]: fix for file in report["files"] for fix in file["fixes"]}
    # the fixes found by running the rules on the base: TF008 by the module check, TF007 by its site
    assert fixes["TF008 at line 8"]["state"] == "verified" and fixes["TF008 at line 8"]["scope"] == "Attention.__init__"
    assert fixes["TF007 at line 6"]["reason"] == "site check passed"
    assert [s["status"] for s in report["sites"]["checks"]] == ["passed"]
    (check,) = report["rounds"]
    models = {m["module"]: m for m in check["models"]}
    assert models["shop.blocks:Attention"]["status"] == "equal"
    assert models["shop.blocks:Attention"]["inputs"] == "inferred from Linear: (2, 16) torch.float32"
    assert models["shop.build:make_tower"]["status"] == "equal"
    modes = models["shop.build:make_tower"]["modes"]
    assert [row["mode"] for row in modes] == ["eval float32", "train float32", "eval bfloat16"]
    assert all(row["status"] == "equal" and row["before"]["repeats"] >= 10 for row in modes)
    assert all(row["speedup_text"] == ("~1x" if row["speedup"] is None else f"{row['speedup']:.2f}x") for row in modes)
    assert models["shop.norms:Sized"]["status"] == "equal"
    assert models["shop.norms:Sized"]["inputs"] == (
        "inferred from Linear: (2, 16) torch.float32; built as Sized(size=16) (synthesized arguments)"
    )
    assert set(models["shop.heads:Head"]) >= {"max_abs_err", "max_rel_err", "device", "before_ms", "after_ms"}
    assert check["device"] == "cpu"


def test_verify_factory_exit_code_when_the_working_tree_differs(applied):
    norms = applied.root / "shop/norms.py"
    text = norms.read_text()
    norms.write_text(text.replace("F.normalize(x, dim=-1)", "F.normalize(x, dim=-1) * 1.001"))
    try:
        out = console()
        code = run_verify([applied.root], factory="shop.build:make_tower", out=out)
    finally:
        norms.write_text(text)
    output = out.export_text()
    assert code == 1
    assert list(_rows(output)) == ["shop.build:make_tower"]
    assert _rows(output)["shop.build:make_tower"][0] == "differs"
    assert "out[0]: " in output and "value(s) differ beyond rtol=1e-05, atol=1e-05" in output


def test_verify_reports_configuration_and_git_errors(applied, tmp_path):
    out = console()
    err = Console(width=200, record=True)
    assert run_verify([applied.root], base="no-such-rev", out=out, err=err) == 2
    assert "--base no-such-rev: not a commit" in err.export_text()
    assert run_verify([applied.root], factory="not a target", out=out, err=err) == 2
    assert 'must be a "package.module:name" string' in err.export_text()
    assert run_verify([tmp_path], out=out, err=err) == 2
    assert "not a git repository" in err.export_text()


# --- acceptance 2: a wrong fix is caught by the site check and by the module check -----------


class _DropKeepdim(cst.CSTTransformer):
    def leave_Arg(self, original, updated):
        if updated.keyword is not None and updated.keyword.value == "keepdim":
            return cst.RemoveFromParent()
        return updated


class DropsKeepdim(FNormalize):
    """TF007 gone wrong (test only): divides by the norm without keepdim."""

    SITE = True

    def report(self, node, message, fix=None):
        if fix is not None:
            site = fix.site if self.SITE else None
            if site is not None:
                site = replace(site, after=site.before.replace(", keepdim=True", ""))
            fix = replace(fix, edits={node: node.visit(_DropKeepdim())}, imports=(), site=site)
        super().report(node, message, fix)


class DropsKeepdimUnseen(DropsKeepdim):
    """The same wrong fix without a site: only the module check can see it."""

    SITE = False


class SwapsChunks(Rule):
    """A wrong unsafe fix (test only): `b, a = t.chunk(2, dim=-1)` -> `a, b = ...`.

    It sorts the names, so that it does not swap them back in the engine's next pass.
    """

    CODE = "TF990"
    SLUG = "swaps-chunks"

    def visit_Assign(self, node: cst.Assign) -> None:
        target = node.targets[0].target
        if isinstance(node.value, cst.Call) and "chunk" in cst.Module([]).code_for_node(node.value.func):
            names = [e.value.value for e in getattr(target, "elements", ()) if isinstance(e.value, cst.Name)]
            if len(names) == 2 and names[0] > names[1]:
                first, second = target.elements
                elements = [second.with_changes(comma=first.comma), first.with_changes(comma=second.comma)]
                swapped = target.with_changes(elements=elements)
                fix = Fix(
                    Applicability.UNSAFE,
                    {node.targets[0]: node.targets[0].with_changes(target=swapped)},
                    assumption="the halves are interchangeable.",
                )
                self.report(node, "Swap the chunks.", fix)


@dataclass(frozen=True)
class OnlyRules(Settings):
    """Settings that run the given rule classes (with every unsafe fix)."""

    only: tuple = ()

    def codes_for(self, relative: str) -> tuple[str, ...]:
        return tuple(rule.CODE for rule in self.only)

    def options(self, codes, relative: str) -> RunOptions:
        return RunOptions(tuple(r for r in self.only if r.CODE in codes), frozenset(rule.CODE for rule in self.only))

    def options_for(self, relative: str) -> RunOptions:
        return self.options(self.codes_for(relative), relative)


MODELS = """\
    import torch
    from torch import nn


    class Embedder(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def example_inputs(self):
            return (torch.randn(8, 8),)

        def forward(self, x):
            h = self.fc(x)
            return h / h.norm(dim=1, keepdim=True)
    """

GATES = """\
    import torch
    from torch import nn


    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 8)
            self.skip = nn.Sequential()

        def forward(self, x):
            value, gate = self.fc(x).chunk(2, dim=-1)
            return self.skip(value * gate.sigmoid())
    """


def _apply(root: Path, *rules, allow_unverified: bool = False) -> tuple[list, int, str]:
    settings = OnlyRules(root=root, only=rules)
    out = console()
    job = Job(Mode.DIFF, settings, jobs=1)
    reports, code = verify_apply([root], settings, job=job, allow_unverified=allow_unverified, console=out)
    return reports, code, out.export_text()


def test_a_wrong_fix_is_refused_by_its_site_check(tmp_path):
    root = write(tmp_path, {"wrong/__init__.py": "", "wrong/models.py": MODELS})
    reports, code, output = _apply(root, DropsKeepdim)
    assert code == 1
    assert (root / "wrong/models.py").read_text() == textwrap.dedent(MODELS)
    assert "Site checks on cpu: 0 passed, 1 failed" in output
    assert (
        "torchfix bug: TF007 fix `x / x.norm(dim=1, keepdim=True)` -> `x / x.norm(dim=1)` failed its site check"
        in output
    )
    assert not any(r.changed for r in reports)
    assert "Module check" not in output  # nothing left to check


def test_a_wrong_fix_without_site_is_caught_by_the_module_check(tmp_path):
    """...and a wrong unsafe fix is dropped while the file's safe fix is written."""
    root = write(tmp_path, {"wrong/__init__.py": "", "wrong/models.py": MODELS, "wrong/gates.py": GATES})
    reports, code, output = _apply(root, DropsKeepdimUnseen, SwapsChunks, BuiltinIdentity)
    assert code == 1
    first, second = output.split("Module check again")
    assert _rows(first)["wrong.models:Embedder"][0] == "differs"
    assert _rows(first)["wrong.gates:Gate"][0] == "differs"
    assert _rows(second)["wrong.gates:Gate"][0] == "equal"
    assert _rows(second)["wrong.models:Embedder"][0] == "equal"  # its only fix is gone: the original
    assert (root / "wrong/models.py").read_text() == textwrap.dedent(MODELS)
    gates = (root / "wrong/gates.py").read_text()
    assert "value, gate = self.fc(x).chunk(2, dim=-1)" in gates and "self.skip = nn.Identity()" in gates
    assert "wrong/gates.py: unsafe fixes TF990 at line 12 (wrong.gates:Gate differs)" in output
    assert "wrong/models.py: every fix, TF007 at line 15 (wrong.models:Embedder differs)" in output
    assert [Path(r.path).name for r in reports if r.changed] == ["gates.py"]


# --- honest outcomes: an unsafe fix no check ran is not written, and verify exits 3 -----------

LOADED = """\
    import torch
    from torch import nn


    class Loaded(nn.Module):
        \"\"\"Only buildable from a file on the user's disk: no check can run it.\"\"\"

        def __init__(self, path: str):
            super().__init__()
            self.table = torch.load(path)
            self.q = nn.Linear(4, 4)
            self.k = nn.Linear(4, 4)
            self.v = nn.Linear(4, 4)

        def forward(self, x):
            return self.q(x) + self.k(x) * self.v(x)
    """


def test_apply_verify_never_writes_an_unchecked_unsafe_fix(tmp_path):
    root = write(tmp_path, {"lone/__init__.py": "", "lone/models.py": LOADED})
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "original")
    reports, code, output = _apply(root, FusedLinear)
    assert code == 3
    assert (root / "lone/models.py").read_text() == textwrap.dedent(LOADED)
    assert not any(r.changed for r in reports)
    assert "not written (unverified; --allow-unverified writes it): " in output
    assert "lone/models.py: TF008 at line 11 (no checked model ran Loaded.__init__" in output
    assert "1 unsafe fix not written" in output

    reports, code, output = _apply(root, FusedLinear, allow_unverified=True)
    assert code == 0
    assert "self.qkv(x).chunk(3, dim=-1)" in (root / "lone/models.py").read_text()
    assert "files: 0 verified, 0 differ, 1 unverified" in output and "accepted by --allow-unverified" in output

    out = console()
    assert run_verify([root], out=out) == 3  # the written fix, found again by running the rules on the base
    assert "lone/models.py: TF008 at line 11 unverified: no checked model ran Loaded.__init__" in out.export_text()
    assert run_verify([root], allow_unverified=True, out=console()) == 0


# --- device selection in the worker ----------------------------------------------------------


def test_worker_device_selection_with_faked_devices(tmp_path, monkeypatch):
    monkeypatch.setenv(FAKE_DEVICES_ENV, "mps")
    probe = call_worker({"task": "probe"}, CheckOptions(device="auto"), tmp_path, tmp_path, "probe")
    assert probe.header["device"] == "mps" and probe.header["cuda"] is False
    with pytest.raises(VerifyError, match="--device cuda: CUDA is not available"):
        call_worker({"task": "probe"}, CheckOptions(device="cuda"), tmp_path, tmp_path, "probe-cuda")


# --- acceptance 1: the corpus ----------------------------------------------------------------


def test_apply_verify_on_the_corpus(cli, tmp_path, monkeypatch):
    """`torchfix apply --unsafe-fixes --verify corpus/`: every model equal in float32, eval and train;
    cast to bfloat16, the loss whose float constant TF003 turned into a buffer returns bfloat16; the
    training script's unsafe fixes, which no model runs, are listed and not written."""
    shutil.copytree(CORPUS, tmp_path / "corpus", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv("COLUMNS", "200")
    code, output, errors = cli(tmp_path, "apply", "--unsafe-fixes", "--verify", "corpus")
    assert code == 1, output + errors
    assert "not written (unverified; --allow-unverified writes it): corpus/masked_training/train.py: TF010" in output
    assert re.search(r"Outcome: differs - files: \d+ verified, \d+ differ", output), output
    first = _modes(output.split("Module check again")[0])
    configured = tomllib.loads((CORPUS / "pyproject.toml").read_text())["tool"]["torchfix"]["verify"]["models"]
    assert {entry["factory"] for entry in configured} <= {module for module, _ in first}
    assert all(cells[0] == "equal" for (_, mode), cells in first.items() if "float32" in mode), output
    differing = sorted(key for key, cells in first.items() if cells[0] == "differs")
    assert differing == [("vision_classifier.losses:build_loss", "eval bfloat16")], output
    assert "build_loss differs: eval bfloat16: out: dtype torch.bfloat16 instead of torch.float32" in output
    assert "not written: corpus/vision_classifier/losses.py: unsafe fixes TF003 at line 21, TF003 at line 32" in output
    assert "Site checks on cpu: " in output and " 0 failed, 0 skipped" in output
    assert "Fixed " in output
    assert cli(tmp_path, "check", "--select", "TF007", "corpus")[0] == 0
