"""Zero-configuration verify on a repository as it comes: synthesized constructor arguments,
isolation from scripts that work at import time, messages a user can act on, and a wrong
rewrite inside a class that only a larger model builds.

Each test runs `apply --unsafe-fixes` and then plain `verify` (two worker subprocesses).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from torchfix.verify.importwork import import_work
from torchfix.verify.worker.common import snake

BLOCKS = """\
    import torch
    from torch import nn


    class Attention(nn.Module):
        def __init__(self, dim, heads):
            super().__init__()
            self.heads = heads
            self.scale = (dim // heads) ** -0.5
            self.q = nn.Linear(dim, dim)
            self.k = nn.Linear(dim, dim)
            self.v = nn.Linear(dim, dim)

        def forward(self, x):
            q, k, v = self.q(x), self.k(x), self.v(x)
            return ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1) @ v


    class ViT(nn.Module):
        def __init__(self, dim, depth, heads, num_classes, channels=3, patch_size=8):
            super().__init__()
            self.embed = nn.Conv2d(channels, dim, patch_size, stride=patch_size)
            self.layers = nn.ModuleList(Attention(dim, heads) for _ in range(depth))
            self.head = nn.Linear(dim, num_classes)

        def forward(self, img):
            x = self.embed(img).flatten(2).transpose(1, 2)
            for layer in self.layers:
                x = x + layer(x)
            return self.head(x.mean(dim=1))
    """

FIX = "        return x / x.norm(dim=-1, keepdim=True)\n"

REPO = {
    "pkg/__init__.py": "",
    "pkg/blocks.py": BLOCKS,
    # argparse at import time, with a required option
    "pkg/script.py": """\
        import argparse

        import torch
        from torch import nn

        parser = argparse.ArgumentParser()
        parser.add_argument("--data", required=True)
        args = parser.parse_args()


        class ScriptNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                x = self.fc(x)
        """ + FIX,
    # a training loop at import time
    "pkg/train.py": """\
        import torch
        from torch import nn


        class TrainNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                x = self.fc(x)
        """ + FIX + """

        model = TrainNet()
        for step in range(1000):
            model(torch.randn(2, 4)).sum().backward()
        """,
    # its own sys.argv: a module that reads the command line sees only its own path
    "pkg/echo.py": """\
        import sys

        import torch
        from torch import nn

        EXTRA_ARGUMENTS = sys.argv[1:]


        class Echo(nn.Module):
            def __init__(self):
                super().__init__()
                assert not EXTRA_ARGUMENTS, EXTRA_ARGUMENTS
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                x = self.fc(x)
        """ + FIX,
    # CUDA-only code
    "pkg/gpu.py": """\
        import torch
        from torch import nn


        class GpuNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4).cuda()

            def forward(self, x):
                x = self.fc(x.cuda())
        """ + FIX,
    # a third-party package that is not installed
    "pkg/dep.py": """\
        import torch
        from torch import nn
        import not_installed_einops_twin


        class DepNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                x = self.fc(x)
        """ + FIX,
}


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=root, check=True, capture_output=True
    )


def _repository(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    (root / "pyproject.toml").write_text("[tool.torchfix]\n")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "original")
    return root


def _torchfix(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torchfix", *args], cwd=root, capture_output=True, text=True)


def test_zero_config_verify_of_a_repository_as_it_comes(tmp_path):
    root = _repository(tmp_path, REPO)
    assert _torchfix(root, "apply", "--unsafe-fixes", ".").returncode == 0
    assert "self.qkv = nn.Linear(dim, 3 * dim)" in (root / "pkg/blocks.py").read_text()
    result = _torchfix(root, "verify", "--format", "json", ".")
    report = json.loads(result.stdout)
    models = {m["module"]: m for m in report["rounds"][0]["models"]}

    # synthesized arguments: heads 2, depth 1, width divisible by heads; inputs from the first layer
    assert models["pkg.blocks:ViT"]["status"] == "equal"
    assert "built as ViT(dim=16, depth=1, heads=2, num_classes=10) (synthesized arguments)" in (
        models["pkg.blocks:ViT"]["inputs"]
    )
    assert models["pkg.blocks:Attention"]["status"] == "equal"
    assert models["pkg.echo:Echo"]["status"] == "equal", models["pkg.echo:Echo"]
    # work at import time: never imported, and the reason says what to do
    assert models["pkg.script:ScriptNet"]["reason"] == (
        "not imported: pkg/script.py does work when imported (line 9: calls parser.parse_args()); move that under "
        '`if __name__ == "__main__":` or configure a factory that avoids it'
    )
    assert models["pkg.train:TrainNet"]["reason"].startswith(
        "not imported: pkg/train.py does work when imported (line 17: a `for` loop that calls"
    )
    dep = models["pkg.dep:DepNet"]["reason"]
    assert dep.startswith("importing pkg.dep:DepNet: needs the third-party module `not_installed_einops_twin`")
    assert "install it (e.g. `pip install not_installed_einops_twin`) in the environment torchfix runs in" in dep
    if not torch.cuda.is_available():
        assert models["pkg.gpu:GpuNet"]["status"] == "skipped"
        assert "needs CUDA, which this machine does not have" in models["pkg.gpu:GpuNet"]["reason"]

    files = {f["path"]: f for f in report["files"]}
    assert files["pkg/blocks.py"]["state"] == "verified"
    assert files["pkg/script.py"]["state"] == "verified"  # its TF007 site check passed
    # every fix is covered: by a model that ran it, or by its site check where no model could be built
    assert (report["status"], report["exit_code"], result.returncode) == ("verified", 0, 0)


def test_a_wrong_rewrite_in_a_class_only_built_inside_a_parent_is_caught(tmp_path):
    """The planted bug: a fused q/k/v whose chunks are taken in the wrong order, in an
    Attention no one can build alone (it takes the parent's config object)."""
    parent = textwrap.dedent(
        """\
        import torch
        from torch import nn


        class Settings:
            def __init__(self, dim, heads):
                self.dim, self.heads = dim, heads


        class Attention(nn.Module):
            def __init__(self, settings):
                super().__init__()
                dim = settings.dim
                self.q = nn.Linear(dim, dim)
                self.k = nn.Linear(dim, dim)
                self.v = nn.Linear(dim, dim)

            def forward(self, x):
                q, k, v = self.q(x), self.k(x), self.v(x)
                return (q @ k.transpose(-2, -1)).softmax(dim=-1) @ v


        class Encoder(nn.Module):
            def __init__(self, dim, heads, depth):
                super().__init__()
                self.layers = nn.ModuleList(Attention(Settings(dim, heads)) for _ in range(depth))

            def forward(self, x):
                for layer in self.layers:
                    x = x + layer(x)
                return x
        """
    )
    root = _repository(tmp_path, {"enc/__init__.py": "", "enc/model.py": parent})
    wrong = parent.replace(
        "        self.q = nn.Linear(dim, dim)\n        self.k = nn.Linear(dim, dim)\n        self.v = nn.Linear(dim, dim)\n",
        "        self.qkv = nn.Linear(dim, 3 * dim)\n",
    ).replace(
        "        q, k, v = self.q(x), self.k(x), self.v(x)\n",
        "        k, q, v = self.qkv(x).chunk(3, dim=-1)\n",
    )
    assert wrong != parent
    (root / "enc/model.py").write_text(wrong)
    result = _torchfix(root, "verify", ".")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "enc.model:Encoder" in result.stdout and "differs" in result.stdout
    assert "enc/model.py: edits torchfix did not make" in result.stdout
    assert "enc.model:Encoder differs and runs Attention.__init__, Attention.forward" in result.stdout


def test_import_time_work_is_found_statically():
    def work(text: str) -> str | None:
        return import_work(ast.parse(textwrap.dedent(text)))

    assert work("import torch\nX = 3\n__all__ = ['a']\nlog = logging.getLogger(__name__)\n") is None
    assert work("def main():\n    pass\n\nif __name__ == '__main__':\n    main()\n") is None
    assert work("try:\n    import apex\nexcept ImportError:\n    apex = None\n") is None
    assert work("warnings.filterwarnings('ignore')\nsys.path.insert(0, '.')\n") is None
    assert work("def main():\n    pass\n\nmain()\n") == "line 4: calls main()"
    assert work("opts = get_parser().parse_known_args()[0]\n") == "line 1: calls get_parser().parse_known_args()"
    assert work("model = Net().cuda()\n") == "line 1: calls Net().cuda()"
    assert work("for step in range(9):\n    loss = model(x).sum()\n    loss.backward()\n") == (
        "line 1: a `for` loop that calls loss.backward()"
    )
    assert work("with torch.no_grad():\n    evaluate()\n\ndef evaluate():\n    pass\n") == (
        "line 1: a `with` block that calls evaluate()"
    )
    assert work("if True:\n    while True:\n        pass\n") == "line 2: a `while` loop"
    # what libraries do when imported: registries, tables, messages about optional packages
    assert work("register_model_deprecations(__name__, {})\nfor name in NAMES:\n    TABLE[name] = 1\n") is None
    assert work("try:\n    import datasets\nexcept ImportError:\n    print('pip install datasets')\n") is None


def test_factory_names_in_hints_are_readable_snake_case():
    assert [snake(n) for n in ("LookViT", "MLPMixer", "GPT2Model", "ResNet50", "CaiT", "Attention", "ViT")] == [
        "look_vit", "mlp_mixer", "gpt2_model", "res_net50", "cait", "attention", "vit"
    ]


ZOO = """\
    import torch
    from torch import nn


    class Settings:
        def __init__(self, dim, heads):
            self.dim, self.heads = dim, heads


    class Attention(nn.Module):
        def __init__(self, settings):
            super().__init__()
            dim = settings.dim
            self.q = nn.Linear(dim, dim)
            self.k = nn.Linear(dim, dim)
            self.v = nn.Linear(dim, dim)

        def forward(self, x, mask):
            q, k, v = self.q(x), self.k(x), self.v(x)
            scores = (q @ k.transpose(-2, -1)).masked_fill(~mask[:, None, :], -1e4)
            return scores.softmax(dim=-1) @ v


    class Net(nn.Module):
        def __init__(self, width, heads):
            super().__init__()
            self.attn = Attention(Settings(width, heads))

        def forward(self, x, mask):
            return self.attn(x, mask)
    """

README = """\
    # zoo

    ```python
    import torch
    from zoo.model import Net

    net = Net(width=24, heads=3)
    mask = torch.ones(2, 5, dtype=torch.bool)
    out = net(torch.randn(2, 5, 24), mask)
    ```
    """


def test_recording_through_a_parent_model(tmp_path):
    """Attention takes the parent's settings object and a mask: neither synthesis nor the
    input search can build and feed it alone. The README's call of the parent records the
    arguments and inputs it really received."""
    root = _repository(tmp_path, {"zoo/__init__.py": "", "zoo/model.py": ZOO, "README.md": README})
    assert _torchfix(root, "apply", "--unsafe-fixes", ".").returncode == 0
    assert "self.qkv = nn.Linear(dim, 3 * dim)" in (root / "zoo/model.py").read_text()
    result = _torchfix(root, "verify", "--format", "json", ".")
    report = json.loads(result.stdout)
    models = {m["module"]: m for m in report["rounds"][0]["models"]}
    assert models["zoo.model:Attention"]["status"] == "equal", models["zoo.model:Attention"]
    assert models["zoo.model:Attention"]["inputs"] == (
        "recorded in README.md code block 1; built as called there (recorded)"
    )
    assert models["zoo.model:Net"]["status"] == "equal"
    assert (report["status"], result.returncode) == ("verified", 0)
