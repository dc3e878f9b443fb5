"""Fuzz the fixer with generated programs and the rules' own examples spliced into code.

Each program goes through ``fix_text`` with every rule and every unsafe fix. A
failure is: an exception (other than ``ParserSyntaxError`` for a program LibCST
cannot parse to begin with), a fix the engine had to throw away (``bug``), an
output that LibCST, ``ast`` or ``compile`` rejects where they accepted the input,
a second run that changes the output again, a finding of a rule whose
prefilter would have skipped the file, or a narrowed parse (``torchfix.narrowing``)
that changes the findings or the fixes.

    python benchmarks/fuzz.py [-n 2000] [--seed 0] [--save DIR]

prints how many programs were tried and how many failed; ``--save`` writes each
failing program to DIR. tests/test_fuzz.py runs the same checks on fewer programs.
"""

from __future__ import annotations

import argparse
import ast
import io
import sys
import textwrap
import time
import token
import tokenize
import traceback
import warnings
from pathlib import Path

import hypothesis.strategies as st
import hypothesmith
import libcst as cst
from hypothesis import HealthCheck, Phase, given, seed, settings
from narrowed_parse import narrowing_changes

from torchfix.engine import RunOptions, check_text, fix_text
from torchfix.narrowing import narrowed
from torchfix.prefilter import Facts, facts_of, matching
from torchfix.rules import all_rules

RULES = all_rules()
ALL_UNSAFE = frozenset(rule.CODE for rule in RULES)
#: every rule setting that changes what a fix writes
OPTIONS = (
    RunOptions(RULES, ALL_UNSAFE, {}),
    RunOptions(RULES, ALL_UNSAFE, {"buffer_persistent": True}),
)

#: the catalogue's patterns: every example's before and every near miss
SNIPPETS = tuple(
    dict.fromkeys(
        [example.before for rule in RULES for example in rule.EXAMPLES]
        + [valid.code for rule in RULES for valid in rule.VALID]
    )
)

#: blocks a snippet is moved into ({} is the snippet, indented)
WRAPPERS = (
    "def _fuzz_f(self, x, *args, **kwargs):\n{}",
    "class _FuzzC(object):\n{}",
    "if _fuzz_flag:\n    pass\nelse:\n{}",
    "for _fuzz_i in range(2):\n{}",
    "with _fuzz_ctx() as _fuzz_c:\n{}",
    "try:\n{}\nexcept Exception:\n    raise",
    "async def _fuzz_g():\n{}",
    "while _fuzz_flag:\n{}\n    break",
)

#: what a name or number in a snippet may become (near misses and odd shapes)
NAME_SWAPS = (
    "self.w", "x[0]", "(x)", "f(x)", "x.T", "torch", "F", "nn", "None", "-x", "x.float()", "a.b.c",
    "y", "x", "_", "torch.nn", "lambda: x", "(yield)", "await x", "*x", "x if c else y", "[x]",
)
NUMBER_SWAPS = ("0", "-1", "2", "1.0", "True", "None", "1e-12", "0.5", "(1, 2)", "x", "-0")


def parses_with_libcst(program: str) -> bool:
    try:
        cst.parse_module(program)
    except (cst.ParserSyntaxError, RecursionError):
        return False
    return True


def _python_accepts(program: str) -> tuple[bool, bool]:
    """(ast.parse accepts it, compile accepts it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ast.parse(program)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False, False
        try:
            compile(program, "<fuzz>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return True, False
    return True, True


def check(program: str, options: RunOptions = OPTIONS[0]) -> tuple[str | None, int]:
    """(the first way torchfix fails on ``program`` or None, how many fixes it applied)."""
    if not parses_with_libcst(program):
        try:
            fix_text(program, options)
        except (cst.ParserSyntaxError, RecursionError):
            return None, 0
        except Exception:  # noqa: BLE001 - a fuzzer reports whatever escapes
            return "crash on a program LibCST rejects:\n" + traceback.format_exc(limit=-6), 0
        return "fix_text accepted a program LibCST rejects", 0
    try:
        findings = check_text(program, options)
        outcome = fix_text(program, options)
    except Exception:  # noqa: BLE001
        return "crash:\n" + traceback.format_exc(limit=-6), 0
    facts = _facts(program)
    skipped = _skipped_by_prefilter(facts, findings, options) if facts is not None else []
    if skipped:
        return f"the prefilter would skip the findings of {', '.join(skipped)}", 0
    try:
        differs = _narrowing_differs(program, facts, options) if facts is not None else None
    except Exception:  # noqa: BLE001
        return "crash on the narrowed parse:\n" + traceback.format_exc(limit=-6), 0
    if differs:
        return f"the narrowed parse changes the {differs}", 0
    if cst.parse_module(program).code != program:
        # LibCST drops some whitespace (a form feed before a statement, a lone CR at
        # the end): fixing its output would change bytes far from any fix.
        if outcome.applied:
            return "bytes lost: fixes were applied to a program LibCST does not write back unchanged", 0
        if outcome.text == program:
            return None, 0  # left alone, whether or not the engine says why
    return _check_output(outcome.text, outcome.bug, program, options), len(outcome.applied)


def _facts(program: str) -> Facts | None:
    """The prefilter's facts of ``program``; None when Python rejects it (the runner reports such a
    file as a syntax error, and neither prefilter nor narrowing sees it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return facts_of(ast.parse(program))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None


def _skipped_by_prefilter(facts: Facts, findings, options: RunOptions) -> list[str]:
    """The codes that report on a program although their prefilter turns it away."""
    reporting = {finding.code for finding in findings}
    return [rule.CODE for rule in options.rules if rule.CODE in reporting and not rule.may_match(facts)]


def _narrowing_differs(program: str, facts: Facts, options: RunOptions) -> str | None:
    """What a narrowed parse, as the runner would make it, changes: "findings", "fixes", or None."""
    kept = matching(facts, [rule.CODE for rule in options.rules])
    narrow = narrowed(program, facts, kept)
    return None if narrow is None else narrowing_changes(program, narrow, kept, options)


def _check_output(fixed: str, bug: str | None, program: str, options: RunOptions) -> str | None:
    if bug is not None:
        return f"bug: {bug}"
    if not parses_with_libcst(fixed):
        return "the output does not parse with LibCST"
    for name, before, after in zip(("ast.parse", "compile"), _python_accepts(program), _python_accepts(fixed)):
        if before and not after:
            return f"the output is rejected by {name}"
    try:
        again = fix_text(fixed, options)
    except Exception:  # noqa: BLE001
        return "crash on the output:\n" + traceback.format_exc(limit=-6)
    if again.bug is not None:
        return f"bug on the output: {again.bug}"
    if again.text != fixed:
        return "not idempotent: a second run changes the output"
    return None


def _compiles(program: str) -> bool:
    return _python_accepts(program)[1]


def _mutate(snippet: str, data: st.DataObject) -> str:
    """``snippet`` with a few names or numbers swapped for other expressions."""
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(snippet).readline)]
    except (tokenize.TokenError, SyntaxError):
        return snippet
    spots = [t for t in tokens if t.type in (token.NAME, token.NUMBER) and t.string not in _KEYWORDS]
    if not spots:
        return snippet
    lines = snippet.splitlines(keepends=True)
    chosen = data.draw(st.lists(st.sampled_from(spots), min_size=1, max_size=3, unique=True), label="mutated")
    # Replace from the end so earlier positions stay valid.
    for spot in sorted(chosen, key=lambda t: t.start, reverse=True):
        pool = NUMBER_SWAPS if spot.type == token.NUMBER else NAME_SWAPS
        new = data.draw(st.sampled_from(pool), label=f"for {spot.string}")
        (row, start), (end_row, end) = spot.start, spot.end
        if row != end_row:
            continue
        line = lines[row - 1]
        lines[row - 1] = line[:start] + new + line[end:]
    return "".join(lines)


_KEYWORDS = frozenset(
    {"import", "from", "as", "def", "class", "return", "if", "else", "elif", "for", "in", "while", "with",
     "try", "except", "finally", "lambda", "and", "or", "not", "is", "pass", "raise", "yield", "global",
     "nonlocal", "del", "assert", "break", "continue", "async", "await"}
)


def _insert(snippet: str, filler: str, data: st.DataObject) -> str:
    """``filler``'s statements put between two top-level statements of ``snippet``."""
    try:
        module = cst.parse_module(snippet)
        extra = cst.parse_module(filler)
    except cst.ParserSyntaxError:
        return snippet
    at = data.draw(st.integers(0, len(module.body)), label="insert at")
    return module.with_changes(body=[*module.body[:at], *extra.body, *module.body[at:]]).code


def _whitespace(program: str, data: st.DataObject) -> str:
    style = data.draw(st.sampled_from(["as is", "crlf", "tabs", "trailing comments", "no final newline"]))
    if style == "crlf":
        return program.replace("\r\n", "\n").replace("\n", "\r\n")
    if style == "tabs":
        return "\n".join(_tabs(line) for line in program.split("\n"))
    if style == "trailing comments":
        return "\n".join(line + "  # fuzz" if line.rstrip().endswith((":", ")")) else line for line in program.split("\n"))
    if style == "no final newline":
        return program.rstrip("\n")
    return program


def _tabs(line: str) -> str:
    stripped = line.lstrip(" ")
    return "\t" * ((len(line) - len(stripped)) // 4) + " " * ((len(line) - len(stripped)) % 4) + stripped


@st.composite
def spliced(draw) -> str:
    """One to three of the catalogue's snippets, mutated, wrapped, with generated code inside one."""
    data = draw(st.data())
    snippets = draw(st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=3), label="snippets")
    # hypothesmith may be drawn from once per program (it records hypothesis targets).
    host = data.draw(st.sampled_from([None, *range(len(snippets))]), label="snippet with generated code")
    parts = []
    for index, snippet in enumerate(snippets):
        if data.draw(st.booleans(), label="mutate"):
            snippet = _mutate(snippet, data)
        if index == host:
            snippet = _insert(snippet, data.draw(hypothesmith.from_node(), label="generated"), data)
        wrapper = data.draw(st.sampled_from(("{}",) + WRAPPERS), label="wrapper")
        if wrapper != "{}":
            snippet = wrapper.format(textwrap.indent(snippet, "    ", lambda line: True).rstrip("\n"))
        parts.append(snippet.rstrip("\n") + "\n")
    program = _whitespace("\n".join(parts), data)
    # Keep only programs Python accepts: those are the ones users have.
    return program if _compiles(program) else "\n".join(parts)


def generated() -> st.SearchStrategy[str]:
    """Programs from Python's grammar and from LibCST's node types (odd whitespace included)."""
    return st.one_of(hypothesmith.from_grammar(), hypothesmith.from_node())


def programs() -> st.SearchStrategy[str]:
    """Mostly spliced programs: generated ones seldom contain anything a rule matches."""
    return st.one_of(spliced(), spliced(), spliced(), generated())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="programs to try")
    parser.add_argument("--seed", type=int, default=None, help="for a repeatable run")
    parser.add_argument("--save", type=Path, default=None, help="write failing programs here")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", SyntaxWarning)
    tried = fixed = 0
    failures: dict[str, str] = {}
    started = time.perf_counter()

    @settings(max_examples=args.n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(programs(), st.sampled_from(OPTIONS))
    def run_one(program: str, options: RunOptions) -> None:
        nonlocal tried, fixed
        failure, applied = check(program, options)
        tried += 1
        fixed += applied > 0
        if failure is not None:
            failures.setdefault(program, failure)
            print(f"failure {len(failures)}: {failure.splitlines()[0]}", file=sys.stderr, flush=True)

    if args.seed is not None:
        run_one = seed(args.seed)(run_one)
    run_one()
    elapsed = time.perf_counter() - started
    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)
        for index, (program, failure) in enumerate(failures.items()):
            (args.save / f"failure_{index:03d}.py").write_text(
                textwrap.indent(failure, "# ", lambda line: True) + "\n" + program
            )
    for program, failure in list(failures.items())[:5]:
        print(f"--- {failure}\n{program}\n")
    print(f"fuzz: {tried} programs tried ({fixed} with fixes applied), {len(failures)} failures, {elapsed:.0f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
