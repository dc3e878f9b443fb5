"""The rule API: what a rule declares, what it reports and how a fix is described.

A rule is one module under ``torchfix/rules/`` holding a :class:`Rule` subclass.
The rule is a visitor: the engine walks each file once (:func:`torchfix.walk.walk`)
and calls the ``visit_<Node>``/``leave_<Node>`` methods each enabled rule defines,
so no rule walks the whole file itself (Fixit's model); a rule may walk a subtree
with the same walker to answer a local question. While visiting, a rule calls
:meth:`Rule.report` with the node, a message and, where it can, a :class:`Fix`.

A fix is a set of node edits keyed by the *original* node (identity), applied by
the engine in one transformation, plus the imports the new code needs. An edit
value is a replacement node (or ``FlattenSentinel``/``RemovalSentinel``), or a
callable that receives the node as updated by nested edits of the same fix and
returns its replacement: that is how a fix edits a class body and statements
inside it at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar, Mapping, Sequence, Union

import libcst as cst

from torchfix.findings import Applicability

if TYPE_CHECKING:
    from torchfix.names import Convention, ImportRequest, NameTable
    from torchfix.prefilter import Facts


Replacement = Union[cst.CSTNode, cst.FlattenSentinel, cst.RemovalSentinel]
Edit = Union[Replacement, Callable[[cst.CSTNode], Replacement]]


@dataclass(frozen=True)
class Site:
    """A fix's expression, before and after, for the verifier's site check.

    ``before`` and ``after`` are Python expressions written with the file's own
    import aliases, whose free variables are the keys of ``inputs``; each input
    is a tensor spec such as ``"float(4, 8)"``, ``"bool(4, 8)"``, ``"long(6)"``.
    ``edge_values`` says whether zeros, negatives and large magnitudes are
    inside the fix's contract.
    """

    before: str
    after: str
    inputs: Mapping[str, str]
    edge_values: bool = True


@dataclass(frozen=True)
class Fix:
    """The edits that implement one fix, keyed by original node identity."""

    applicability: Applicability
    edits: Mapping[cst.CSTNode, Edit]
    imports: Sequence["ImportRequest"] = ()
    #: for an unsafe fix, the one-sentence assumption it relies on
    assumption: str = ""
    site: Site | None = None

    def __post_init__(self) -> None:
        if self.applicability is Applicability.NONE:
            raise ValueError("a Fix is safe or unsafe; report-only findings carry no Fix")
        if self.applicability is Applicability.UNSAFE and not self.assumption:
            raise ValueError("an unsafe fix states its assumption")


@dataclass(frozen=True)
class Report:
    """What a rule reported on one node (positions are resolved by the engine)."""

    code: str
    node: cst.CSTNode
    message: str
    fix: Fix | None = None


@dataclass(frozen=True)
class Example:
    """A before/after pair: ``before`` must produce exactly ``after``.

    ``after`` is the file with the fixes of ``applicability`` (and safer) applied;
    ``after=None`` means the rule reports ``before`` without a fix (report only).
    ``row`` names the catalogue row the example demonstrates (see
    ``Rule.ROWS``). ``inputs`` are tensor specs (see :class:`Site`) for the
    numerical property tests, and ``settings`` rule settings such as
    ``{"buffer_persistent": True}``.

    ``findings`` is how many findings of the rule ``before`` gets, and
    ``message`` a substring every one of them contains; a report-only example
    puts the reason it states (why there is no fix) there.
    """

    before: str
    after: str | None
    applicability: Applicability = Applicability.SAFE
    row: str = ""
    inputs: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, object] = field(default_factory=dict)
    findings: int = 1
    message: str = ""


@dataclass(frozen=True)
class Valid:
    """A near miss that must produce no finding, and why."""

    code: str
    why: str = ""


@dataclass
class FileContext:
    """Per-file facts shared by every rule while a file is visited."""

    module: cst.Module
    names: "NameTable"
    settings: Mapping[str, object] = field(default_factory=dict)
    #: analyses several rules use, built by the first that needs one (``file_index``);
    #: they live as long as the file's visit, never longer
    shared: dict[str, object] = field(default_factory=dict)


class Rule:
    """Base class of every rule; subclasses set the class attributes below.

    It has no LibCST visitor base: the walker calls only the methods a rule
    defines (a base with a stub for every node type made it call ten no-op
    methods per node, one per rule).
    """

    #: "TF007"
    CODE: ClassVar[str]
    #: "f-normalize"
    SLUG: ClassVar[str]
    #: the idiom in a few words: "F.normalize"
    IDIOM: ClassVar[str]
    #: one line, imperative
    SUMMARY: ClassVar[str]
    #: Markdown: why, fix safety, what could go wrong, the verify note
    DOCS: ClassVar[str]
    #: the safest applicability any of its fixes has (for `torchfix rules`)
    FIX_SAFETY: ClassVar[str]
    #: catalogue rows: marker -> one-line description; every marker has an example
    ROWS: ClassVar[Mapping[str, str]] = {}
    EXAMPLES: ClassVar[Sequence[Example]] = ()
    VALID: ClassVar[Sequence[Valid]] = ()
    #: how the imports the rule's fixes add are spelled (``import torch.nn.functional as F``)
    IMPORT_CONVENTIONS: ClassVar[Sequence["Convention"]] = ()

    def __init__(self, context: FileContext) -> None:
        self.context = context
        self.reports: list[Report] = []

    @classmethod
    def may_match(cls, facts: "Facts") -> bool:
        """The prefilter (its matchers are in :mod:`torchfix.prefilter`): False only where the rule cannot report."""
        from torchfix.prefilter import rule_may_match

        return rule_may_match(cls.CODE, facts)

    @property
    def names(self) -> "NameTable":
        return self.context.names

    def report(self, node: cst.CSTNode, message: str, fix: Fix | None = None) -> None:
        self.reports.append(Report(self.CODE, node, message, fix))
