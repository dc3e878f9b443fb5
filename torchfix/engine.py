"""Run rules over one source text: find, suppress, fix in passes, re-check.

This module knows nothing about files or the command line; :mod:`torchfix.runner`
feeds it texts and :mod:`torchfix.sourcefile` reads and writes them.
"""

from __future__ import annotations

import ast
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Collection, Iterable, Mapping, Sequence

import libcst as cst
from libcst.metadata import CodeRange

from torchfix import narrowing
from torchfix.crashes import RuleCrash, RuleCrashed, describe_error
from torchfix.findings import Applicability, Finding
from torchfix.fmt_regions import FormatRegions
from torchfix.imports import add_imports
from torchfix.layout import Parents, Style, clamp_blank_lines, wrap_long_lines
from torchfix.names import ImportRequest, NameTable
from torchfix.narrowing import Narrowed
from torchfix.patterns import code
from torchfix.positions import Positions
from torchfix.prefilter import Facts, facts_of, matching
from torchfix.rule import Edit, FileContext, Fix, Report, Rule
from torchfix.suppression import Suppressions
from torchfix.walk import walk

#: fixes are applied in passes until the text stops changing, at most this many
MAX_PASSES = 10
_NO_ROUND_TRIP = (
    "not fixed: LibCST would not write this file back byte for byte "
    "(a form feed or a lone CR line end); left unchanged"
)


@dataclass(frozen=True)
class RunOptions:
    """What to run on a file: enabled rules, whose unsafe fixes apply, rule settings."""

    rules: tuple[type[Rule], ...]
    unsafe_codes: frozenset[str] = frozenset()
    rule_settings: Mapping[str, object] = field(default_factory=dict)
    #: the file's line length and import order, from the repository's linter configuration
    style: Style = Style()
    #: the codes of the rules the prefilter keeps for the text as given (None: every rule runs);
    #: a fix's passes on fixed text ask the prefilter again
    kept: frozenset[str] | None = None

    def restricted(self, codes: Collection[str] | None) -> RunOptions:
        """These options with only the rules ``codes`` (None: all of them)."""
        if codes is None:
            return self
        return replace(self, rules=tuple(rule for rule in self.rules if rule.CODE in codes))

    def applies(self, fix: Fix | None, code: str) -> bool:
        if fix is None:
            return False
        return fix.applicability is Applicability.SAFE or code in self.unsafe_codes


@dataclass(frozen=True)
class AppliedFix:
    """A fix written in some pass (positions are in that pass's text).

    ``aliases`` are the file's import bindings in that pass (local name ->
    qualified name), which the verifier needs to evaluate the fix's site.
    """

    finding: Finding
    fix: Fix
    aliases: Mapping[str, str]

    def portable(self) -> "AppliedFix":
        """This record without the fix's node edits, so it pickles across processes."""
        return replace(self, fix=replace(self.fix, edits={}))


@dataclass
class FixOutcome:
    """The result of fixing one text."""

    original: str
    text: str
    findings: list[Finding]
    applied: list[AppliedFix]
    remaining: list[Finding]
    #: set when a fix produced code that does not parse; the text is then unchanged
    bug: str | None = None
    #: set when the file cannot be fixed safely (the text is then unchanged)
    refused: str | None = None
    #: rules that raised (``bug`` names them; the text is then unchanged, and
    #: ``findings`` holds only the other rules' findings)
    crashes: list[RuleCrash] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.text != self.original


@dataclass(frozen=True)
class _Candidate:
    report: Report
    finding: Finding
    ranges: tuple[CodeRange, ...]


#: LibCST's native parser recurses on the C stack: a 10,000-term ``and`` chain, which
#: Python accepts, overflows the main thread's 8 MB and kills the process
_PARSER_STACK = 512 * 1024 * 1024


@lru_cache(maxsize=None)
def _parser_thread() -> ThreadPoolExecutor:
    """One long-lived thread with a large stack (committed only as used); starting one per
    file cost a quarter of the parse time."""
    previous = threading.stack_size(_PARSER_STACK)
    try:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torchfix-parser")
        executor.submit(lambda: None).result()  # the thread starts now, with that stack size
    finally:
        threading.stack_size(previous)
    return executor


# A forked worker process inherits the executor but not its thread: start a new one there.
os.register_at_fork(after_in_child=_parser_thread.cache_clear)


def parse(text: str) -> cst.Module:
    """``cst.parse_module`` on the large-stack parser thread.

    Deep code then parses, and the Python-level traversals that follow stop with a
    RecursionError, which the runner reports as "nested too deeply".
    """
    return _parser_thread().submit(cst.parse_module, text).result()


def analyze(
    module: cst.Module, options: RunOptions, crashes: list[RuleCrash], narrowed: Narrowed | None = None
) -> list[Report]:
    """Every rule's reports on ``module`` (parsed from ``narrowed``'s text, if given), in one
    batched traversal.

    A rule that raises is appended to ``crashes`` and its reports are dropped
    (its state is unknown); the other rules run on.
    """
    conventions = tuple(dict.fromkeys(c for rule in options.rules for c in rule.IMPORT_CONVENTIONS))
    hidden_names = (lambda: narrowed.hidden_names) if narrowed is not None else None
    names = NameTable(module, conventions, hidden_names)
    context = FileContext(module=module, names=names, settings=options.rule_settings)
    rules = []
    for rule_class in options.rules:
        try:
            rules.append(rule_class(context))
        except RecursionError:
            raise
        except Exception as error:
            crashes.append(RuleCrash.of(rule_class.CODE, error))
    failures: list[tuple[object, Exception]] = []
    walk(module, rules, failures)
    crashes.extend(RuleCrash.of(rule.CODE, error) for rule, error in failures)  # type: ignore[attr-defined]
    failed = {id(rule) for rule, _ in failures}
    return [report for rule in rules if id(rule) not in failed for report in rule.reports]


def _message(report: Report) -> str:
    fix = report.fix
    if fix is not None and fix.applicability is Applicability.UNSAFE:
        return f"{report.message} (unsafe fix: {fix.assumption})"
    return report.message


def _candidates(
    module: cst.Module,
    text: str,
    options: RunOptions,
    crashes: list[RuleCrash],
    suppressions: Suppressions | None = None,
    narrowed: Narrowed | None = None,
    parsed: str | None = None,
) -> list[_Candidate]:
    """``parsed``: the code ``module`` was parsed from, when it is not ``text`` (a narrowed text)."""
    reports = analyze(module, options, crashes, narrowed)
    if not reports:
        return []
    wanted = {node for r in reports for node in (r.node, *(r.fix.edits if r.fix else ()))}
    positions = Positions(module, wanted, text if parsed is None else parsed)
    slugs = {rule.CODE: rule.SLUG for rule in options.rules}
    suppressions = suppressions or Suppressions(text)
    regions = FormatRegions(text)
    result = []
    for report in reports:
        where = positions[report.node]
        if suppressions.suppresses(where.start.line, report.code):
            continue
        refusal = regions.refusal(report.fix, positions, module) if regions and report.fix else None
        if refusal is not None:
            report = replace(report, message=f"{report.message.rstrip('.')}; no fix: {refusal}.", fix=None)
        fix = report.fix
        finding = Finding(
            code=report.code,
            slug=slugs[report.code],
            message=_message(report),
            line=where.start.line,
            column=where.start.column + 1,
            end_line=where.end.line,
            end_column=where.end.column + 1,
            applicability=fix.applicability if fix else Applicability.NONE,
            fixable=options.applies(fix, report.code),
        )
        ranges = tuple(positions[node] for node in fix.edits) if fix else ()
        result.append(_Candidate(report, finding, ranges))
    result.sort(key=lambda c: c.finding.sort_key)
    return result


def check_text(
    text: str, options: RunOptions, suppressions: Suppressions | None = None, narrowed: Narrowed | None = None
) -> list[Finding]:
    """The findings on ``text``; ``suppressions`` (of ``text``) learn which of them were used.
    With ``narrowed`` (``text`` with what the rules need not read hidden), LibCST parses that.

    Raises ``libcst.ParserSyntaxError`` on bad syntax, and :class:`RuleCrashed`,
    holding the other rules' findings, when a rule raised.
    """
    parsed = narrowed.text if narrowed is not None else text
    module = parse(parsed)
    crashes: list[RuleCrash] = []
    findings = [c.finding for c in _candidates(module, text, options, crashes, suppressions, narrowed, parsed)]
    if crashes:
        raise RuleCrashed(findings, crashes)
    return findings


def _overlaps(a: CodeRange, b: CodeRange) -> bool:
    return (a.start.line, a.start.column) < (b.end.line, b.end.column) and (
        b.start.line,
        b.start.column,
    ) < (a.end.line, a.end.column)


def _choose(candidates: Sequence[_Candidate]) -> list[_Candidate]:
    """The fixable candidates in source order, skipping any that overlap a chosen one."""
    chosen: list[_Candidate] = []
    for candidate in candidates:
        if not candidate.finding.fixable:
            continue
        if any(_overlaps(r, s) for c in chosen for r in c.ranges for s in candidate.ranges):
            continue
        chosen.append(candidate)
    return chosen


@dataclass
class _Block:
    """What the edits did so far to one block's statements."""

    #: the statement just before was removed
    removed: bool = False
    #: some statement before was kept
    kept: bool = False


def _paths_to(module: cst.Module, targets: Collection[cst.CSTNode]) -> set[int] | None:
    """The ids of the nodes on the way to ``targets``; None when the walk behind
    :class:`~torchfix.layout.Parents` (which skips formatting nodes) does not reach them
    all: then every node is visited."""
    parents = Parents(module)
    on_path = {id(module)}
    for target in targets:
        if target is not module and parents.of(target) is None:
            return None
        node: cst.CSTNode | None = target
        while node is not None and id(node) not in on_path:
            on_path.add(id(node))
            node = parents.of(node)
    return on_path


class _ApplyEdits(cst.CSTTransformer):
    def __init__(self, edits: Mapping[cst.CSTNode, Edit], paths: set[int] | None = None) -> None:
        super().__init__()
        self.edits = edits
        #: the ids of the nodes on the way to an edit (None: all); LibCST rebuilds every node it
        #: descends into, so a subtree with no edit is not entered
        self.paths = paths
        #: the nodes the edits wrote, whose lines the layout may wrap
        self.written: list[cst.CSTNode] = []
        #: the enclosing blocks, innermost last
        self.blocks: list[_Block] = []

    def on_visit(self, node) -> bool:
        if self.paths is not None and id(node) not in self.paths:
            return False
        if isinstance(node, (cst.Module, cst.IndentedBlock)):
            self.blocks.append(_Block())
        return True

    def on_leave(self, original_node, updated_node):
        if isinstance(original_node, (cst.Module, cst.IndentedBlock)) and (
            self.paths is None or id(original_node) in self.paths
        ):
            self.blocks.pop()
        edit = self.edits.get(original_node)
        result = updated_node
        if edit is not None:
            result = edit(updated_node) if callable(edit) else edit
            if isinstance(result, cst.BaseStatement):
                result = clamp_blank_lines(result, self._most())
            self.written.extend(result.nodes if isinstance(result, cst.FlattenSentinel) else [result])
        if isinstance(original_node, cst.BaseStatement) and self.blocks:
            result = self._after_removal(result)
        return result

    def _most(self) -> int:
        """Black's limit on blank lines in a row: two at module level, one inside a block."""
        return 1 if len(self.blocks) > 1 else 2

    def _after_removal(self, result):
        """The statement after removed ones without the blank lines the removal left doubled (or
        opening a block); the blank lines of the other statements are the user's and stay."""
        block = self.blocks[-1]
        if isinstance(result, cst.RemovalSentinel):
            block.removed = True
            return result
        if block.removed:
            nodes = list(result.nodes) if isinstance(result, cst.FlattenSentinel) else [result]
            nodes[0] = clamp_blank_lines(nodes[0], self._most(), leading=not block.kept and len(self.blocks) > 1)
            result = cst.FlattenSentinel(nodes) if isinstance(result, cst.FlattenSentinel) else nodes[0]
        block.removed, block.kept = False, True
        return result


def apply_fixes(module: cst.Module, fixes: Iterable[Fix], style: Style = Style(), code: str | None = None) -> str:
    """The code of ``module`` with ``fixes`` applied, their imports added and their long lines wrapped
    (``code``: the code of ``module``, when the caller has it)."""
    fixes = list(fixes)
    edits: dict[cst.CSTNode, Edit] = {}
    imports: list[ImportRequest] = []
    for fix in fixes:
        edits.update(fix.edits)
        imports.extend(i for i in fix.imports if i not in imports)
    applier = _ApplyEdits(edits, _paths_to(module, edits.keys()))
    updated = add_imports(module.visit(applier), imports, style)
    return wrap_long_lines(updated, applier.written, style.line_length, before=lambda: code or module.code)


def _reparse(text: str) -> tuple[cst.Module, ast.Module]:
    """Both parses of fixed code: a fix must leave code that LibCST and Python accept."""
    return parse(text), ast.parse(text)


def _kept(facts: Facts, options: RunOptions) -> frozenset[str]:
    """The codes of the rules of ``options`` that the prefilter keeps for a module with ``facts``."""
    return frozenset(matching(facts, [rule.CODE for rule in options.rules]))


def _culprits(module: cst.Module, chosen: Sequence[_Candidate]) -> list[str]:
    """The codes of the chosen fixes that break the code (or raise) on their own."""
    broken = []
    for candidate in chosen:
        try:
            _reparse(apply_fixes(module, [candidate.report.fix]))
        except Exception:
            broken.append(f"{candidate.finding.code} at line {candidate.finding.line}")
    return broken or [c.finding.code for c in chosen]


def _crashed(text: str, findings: list[Finding], crashes: list[RuleCrash]) -> FixOutcome:
    """The outcome of a file on which rules raised: nothing written, the others' findings kept."""
    bug = "; ".join(map(str, crashes))
    return FixOutcome(text, text, findings, [], findings, bug=bug, crashes=crashes)


def fix_text(text: str, options: RunOptions, accept=None, narrowed: Narrowed | None = None) -> FixOutcome:
    """Apply every applicable fix in passes until the text stops changing.

    ``accept(finding, fix, preview)`` may veto a fix (interactive review and the
    verifier's site check use it); ``preview()`` returns the current text and the
    text with that fix alone applied. It is asked once per fix, in source order.
    Raises ``libcst.ParserSyntaxError`` when ``text`` does not parse. A rule
    that raises, or a fix that raises or breaks the code, leaves the text
    unchanged and sets ``bug``.

    ``narrowed``: ``text`` narrowed for the rules ``options.kept`` (:mod:`torchfix.narrowing`;
    not with ``accept``, whose previews are whole files). Each pass then parses the narrowed
    text, applies its fixes there and puts the hidden lines back; the next pass narrows the
    fixed text again (or, when no rule matches it any more, only the fixed narrowed text is
    parsed: a fix must leave code LibCST reads). Should a fix add an import, or move a hidden
    line, the fixes start again on the whole text.
    """
    if options.kept is None:
        narrowed = None  # a narrowed text holds what the kept rules read, not what every rule does
    #: the code ``module`` was parsed from (``current``, or its narrowed text)
    parsed = narrowed.text if narrowed is not None else text
    module = parse(parsed)
    current = text
    applied: list[AppliedFix] = []
    findings: list[Finding] | None = None
    declined: set[tuple[str, str]] = set()
    crashes: list[RuleCrash] = []
    kept = options.kept
    for _ in range(MAX_PASSES):
        candidates = _candidates(module, current, options.restricted(kept), crashes, narrowed=narrowed, parsed=parsed)
        if findings is None:
            findings = [c.finding for c in candidates]
        if crashes:
            return _crashed(text, findings, crashes)
        chosen = []
        vetoed = False
        for candidate in _choose(
            [c for c in candidates if (c.finding.code, _key(c)) not in declined]
        ):
            fix = candidate.report.fix
            if accept is None or accept(candidate.finding, fix, lambda m=module, f=fix: (m.code, apply_fixes(m, [f], options.style))):
                chosen.append(candidate)
            else:
                declined.add((candidate.finding.code, _key(candidate)))
                vetoed = True
        if not chosen and vetoed:
            continue  # a vetoed fix may have hidden fixes that overlap it: offer those now
        if not chosen:
            remaining = [c.finding for c in candidates]
            return FixOutcome(text, current, findings, applied, remaining)
        if not applied and module.code != parsed:
            # LibCST drops some whitespace (a form feed before a statement, lone CR line ends):
            # writing its output would change bytes outside every fix.
            return FixOutcome(text, text, findings, [], findings, refused=_NO_ROUND_TRIP)
        if narrowed is not None and any(c.report.fix.imports for c in chosen):
            return fix_text(text, options, accept)  # where a new import goes depends on every top-level statement
        module_before = module
        try:
            new_text = new_parsed = apply_fixes(module, [c.report.fix for c in chosen], options.style, parsed)
            if narrowed is not None:
                new_text = narrowed.restore(new_parsed)
                if new_text is None:  # a fix moved a hidden line
                    return fix_text(text, options, accept)
            tree = ast.parse(new_text)
            if options.kept is not None:  # a fix may make what another rule matches: ask the prefilter again
                facts = facts_of(tree)
                kept = _kept(facts, options)
                if narrowed is not None and kept:  # a rule to run on the fixed text: narrow it again
                    narrowed = narrowing.narrowed(new_text, facts, kept)
                    new_parsed = narrowed.text if narrowed is not None else new_text
            module, parsed = parse(new_parsed), new_parsed
        except (cst.ParserSyntaxError, SyntaxError, ValueError, RecursionError):
            bug = "fix produced invalid code: " + ", ".join(_culprits(module, chosen))
            return FixOutcome(text, text, findings, [], findings, bug=bug)
        except Exception as error:
            raised, where = describe_error(error)
            bug = f"fix raised {raised} (at {where}): " + ", ".join(_culprits(module, chosen))
            return FixOutcome(text, text, findings, [], findings, bug=bug)
        if new_text == current:
            break  # the chosen fixes change nothing: they stay findings
        aliases = dict(NameTable(module_before).bindings)
        applied.extend(AppliedFix(c.finding, c.report.fix, aliases) for c in chosen)
        current = new_text
    remaining = [
        c.finding
        for c in _candidates(module, current, options.restricted(kept), crashes, narrowed=narrowed, parsed=parsed)
    ]
    if crashes:
        return _crashed(text, findings or [], crashes)
    return FixOutcome(text, current, findings or [], applied, remaining)


def fix_previews(text: str, options: RunOptions) -> list[tuple[Finding, str]]:
    """Each fixable finding of the first pass with the text after that fix alone.

    SARIF's per-result fixes and interactive review show fixes one by one.
    """
    module = parse(text)
    crashes: list[RuleCrash] = []
    candidates = _candidates(module, text, options, crashes)
    if crashes:
        raise RuleCrashed([c.finding for c in candidates], crashes)
    return [(c.finding, apply_fixes(module, [c.report.fix], options.style)) for c in candidates if c.finding.fixable]


def _key(candidate: _Candidate) -> str:
    """A position-free identity of a finding, stable across passes: its node's code."""
    return code(candidate.report.node)
