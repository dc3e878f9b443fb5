"""``apply --interactive``: show each fix as a diff and ask before applying it."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console

from torchfix.findings import Finding
from torchfix.reporters.text import finding_line, print_unified_diff

_PROMPT = "Apply this fix? [y]es / [n]o / [a]ll remaining / [q]uit: "


class Review:
    """The answers of one session; end of input counts as [q]uit."""

    def __init__(self, console: Console, answers: TextIO) -> None:
        self.console = console
        self.answers = answers
        self.accept_all = False
        self.stopped = False

    def _ask(self) -> str:
        while True:
            self.console.print(_PROMPT, end="", markup=False)
            line = self.answers.readline()
            if not line:
                self.console.print()
                return "q"
            if not self.answers.isatty():
                self.console.print(line.rstrip("\n"), markup=False)  # echo piped answers
            answer = line.strip().lower()[:1]
            if answer in ("y", "n", "a", "q"):
                return answer
            self.console.print("Please answer y, n, a or q.", markup=False)

    def for_file(self, path: str):
        """The engine's veto callback for one file."""

        def accept(finding: Finding, fix, preview) -> bool:
            if self.stopped:
                return False
            if self.accept_all:
                return True
            before, after = preview()
            self.console.print(finding_line(path, finding))
            print_unified_diff(self.console, path, before, after)
            answer = self._ask()
            self.accept_all = answer == "a"
            self.stopped = answer == "q"
            return answer in ("y", "a")

        return accept
