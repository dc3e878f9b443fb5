"""Run the engine over files: cache, prefilter, check or fix, write safely, in parallel.

A worker process runs :func:`_process_chunk` on a chunk of up to 32 files: for
each, :func:`_process` reads, prefilters, checks or fixes and writes it, and
returns its :class:`FileReport` with what the cache should learn; the parent
process alone writes the cache. Files over 128 KiB (in the parent while the pool
works), interactive review and single-file or ``--jobs 1`` runs go through the
same :func:`_process` in this process. A failure is one line on that file's
report, never the end of the run. Reports are sorted by path, so the output
never depends on the number of workers or the order they finish in.

Files are independent but for TF003 and TF008, which read the rest of the
project: a file those rules run on waits until every file was read (its package
facts come from the same walk as its prefilter), the parent builds the project's
index from those facts (:func:`_index_projects`) and a second round checks the
waiting files with it (taking the first round's prefilter result for bytes that
did not change, so a waiting file is parsed with ``ast`` once).

The engine, the rules and LibCST are imported only when a file gets past the
cache and the prefilter: a warm run, or one whose files are all ruled out, never
loads them (a third of a second of startup).
"""

from __future__ import annotations

import ast
import enum
import gc
import os
import re
import signal
import stat
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

from torchfix.cache import Cache, key
from torchfix.config import Settings
from torchfix.crashes import RuleCrashed, describe_error
from torchfix.discovery import discover, is_notebook
from torchfix import narrowing, package_index
from torchfix.package_index import PACKAGE_RULES, FileFacts, file_facts, package_of
from torchfix.prefilter import facts_of, matching
from torchfix.results import FileReport
from torchfix.sourcefile import SourceError, decode_source, read_source, write_source
from torchfix.suppression import Suppressions, unused_findings

#: at most this many files per task sent to a worker
_MAX_CHUNK = 32
#: files larger than this are parsed one at a time in the parent process, so that no two
#: large LibCST trees are in memory at once (a tree takes about 0.65 MB per KiB of
#: source: 300 MB for torch's largest files, 80 MB at this size)
_LARGE_FILE = 128 * 1024
_TOKEN = re.compile(r"\w+|[^\s\w]")
#: a pool run of at least this many files imports LibCST and the rules before forking (see _preload)
_PRELOAD_FILES = 16


class Mode(str, enum.Enum):
    CHECK = "check"
    #: compute fixes and write them
    APPLY = "apply"
    #: compute fixes, write nothing
    DIFF = "diff"


@dataclass(frozen=True)
class Job:
    """What to do with each file of a run."""

    mode: Mode
    settings: Settings
    #: keep each fix's preview text (SARIF fixes)
    previews: bool = False
    #: the project root whose .torchfix_cache/ to use; None: no cache
    cache_root: Path | None = None
    #: worker processes; None: one per CPU
    jobs: int | None = None
    #: also discover ``.ipynb`` files in folders (the verifier checks Python modules only)
    notebooks: bool = True
    #: ``check`` also reports suppression comments that suppress nothing (TF100)
    unused_noqa: bool = False


@dataclass
class _Outcome:
    """A file's report plus what the cache should learn from it.

    ``learned`` holds (key, findings, error); findings None marks a file whose findings
    also depend on the rest of its project (see :meth:`Cache.needs_project`).
    """

    report: FileReport
    learned: list[tuple[str, list | None, str | None]] = field(default_factory=list)
    #: what the file shows its project's other files (its package facts), when the run collects them
    facts: FileFacts | None = None
    #: the file needs its project's index, which did not exist yet: it is processed again once it
    #: does. (The key of its bytes, the rules its prefilter kept): the second round trusts those
    #: while the bytes are the same, instead of parsing the file with Python's ``ast`` again.
    deferred: tuple[str, tuple[str, ...]] | None = None


#: the prefilter results of the files the run's first round deferred, by path (see ``deferred``)
_PREFILTERED: dict[str, tuple[str, tuple[str, ...]]] = {}


def relative_to_root(path: Path, root: Path) -> str:
    try:
        return Path(os.path.realpath(path)).relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def too_many_tokens(text: str, limit: int) -> str | None:
    """The skip message for a file with more than ``limit`` tokens (LibCST's memory grows with them)."""
    if len(text) <= limit:
        return None
    count = sum(1 for _ in _TOKEN.finditer(text))
    if count <= limit:
        return None
    return f"skipped: {count} tokens is over the {limit}-token limit (max-file-tokens)"


def python_tree(text: str, path: str) -> ast.Module | str:
    """Python's own parse (much cheaper than LibCST's): the AST, or the syntax error as a line."""
    try:
        return compile(text, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as error:
        return f"cannot parse: line {error.lineno}:{error.offset}: {error.msg}"
    except (RecursionError, MemoryError, ValueError):
        return "cannot parse: the code is nested too deeply"


def process_file(path: Path, job: Job, accept=None) -> FileReport:
    """Check or fix one file; every failure becomes one line: ``error``, or ``bug`` for torchfix's own.

    ``accept(path)``, if given, returns the file's veto callback for
    :func:`torchfix.engine.fix_text` (interactive review, verification).
    """
    return _process(path, job, accept).report


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic GC while a file is parsed and checked, one young-generation collection after.

    A file's ASTs and LibCST tree are hundreds of thousands of objects, nearly all
    freed by reference counting; left on, the collector re-scans them again and
    again while they are built (it took 40% of a cold run). The few cycles the
    rules make are collected once the file is done.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(0)


def _process(path: Path, job: Job, accept=None, data: bytes | None = None, defer: bool = False) -> _Outcome:
    """:func:`_process_unpaused`, with any exception it lets through reported as a torchfix bug.

    A rule that raises while the engine walks a file (:class:`RuleCrashed`) keeps
    the other rules' findings. A rule's prefilter that raises ends that file's
    processing (the prefilter decides whether the file is parsed at all), and
    so does any other exception (a fix's preview, torchfix's own code). Either
    way one file never ends the run, in the pool or in this process, and
    nothing of such a file is cached.
    """
    try:
        with _gc_paused():
            return _process_unpaused(path, job, accept, data, defer)
    except RuleCrashed as crashed:  # the other rules' findings, and the crash as a bug
        return _Outcome(FileReport(path.as_posix(), findings=crashed.findings, bug=str(crashed)))
    except Exception as error:  # a torchfix bug, whatever it is
        raised, where = describe_error(error)
        return _Outcome(FileReport(path.as_posix(), bug=f"{raised} (at {where})"))


def process_stdin(path: Path, data: bytes, job: Job) -> FileReport:
    """Check or fix ``data`` (read from stdin) as the file ``path``: its options, its name in
    the report. Nothing is written: ``apply`` leaves the fixed text in ``report.source``."""
    job = replace(job, mode=Mode.DIFF) if job.mode is Mode.APPLY else job
    return _process(path, job, None, data).report


def _needs_project(matched: Sequence[str]) -> bool:
    """Whether a file's findings depend on other files of its project: its prefilter kept a
    rule that reads them (TF003, TF008)."""
    return any(code in PACKAGE_RULES for code in matched)


def _with_project(path: Path, job: Job) -> Job:
    """The job for a file that needs its project: the rules get the project's
    :class:`~torchfix.package_index.PackageRef`, which keys the cache on the project too."""
    return replace(job, settings=replace(job.settings, package=package_of(path)))


def _process_unpaused(path: Path, job: Job, accept, data: bytes | None = None, defer: bool = False) -> _Outcome:
    """``data``: the file's bytes when they come from stdin, not from ``path``.

    ``defer``: a file that needs its project's index while none is registered is not
    checked, only read: its outcome holds its package facts and ``deferred``. The runner
    builds the index from every file's facts (so no file is parsed twice for it) and
    processes the deferred files again.
    """
    if is_notebook(path):  # not cached: its findings carry cells the cache does not keep
        from torchfix.notebook import process as process_notebook

        options = job.settings.options_for(relative_to_root(path, job.settings.root))
        return _Outcome(process_notebook(path, job, options, accept, data))
    report = FileReport(path.as_posix())
    outcome = _Outcome(report)
    try:
        if data is None:
            source = read_source(path, job.settings.max_file_size)
        else:
            source = decode_source(path, data)
    except SourceError as error:
        report.error = str(error)
        return outcome
    relative = relative_to_root(path, job.settings.root)
    codes = job.settings.codes_for(relative)
    settings = job.settings  # without the project: the key of a file whose findings do not depend on it
    original_key = key(source.raw, codes, settings)
    prefiltered = _PREFILTERED.get(report.path)
    if prefiltered is not None and prefiltered[0] == original_key:
        tree = facts = None  # the first round parsed these very bytes and kept these rules
        matched = prefiltered[1]
    else:
        # Python's own check first: LibCST accepts some code Python rejects (300 nested
        # parentheses), and a file Python cannot compile is not one to rewrite.
        tree = python_tree(source.text, report.path)
        facts = None if isinstance(tree, str) else facts_of(tree)
        matched = () if facts is None else matching(facts, codes)
    before_index = defer and not package_index.is_indexed(path)
    if before_index and facts is not None and any(code in PACKAGE_RULES for code in codes):
        outcome.facts = file_facts(facts, tree)
    if _needs_project(matched):
        if before_index:
            outcome.deferred = (original_key, matched)
            return outcome
        outcome.learned.append((original_key, None, None))
        job = _with_project(path, job)
        original_key = key(source.raw, codes, job.settings)
    if not matched:  # LibCST need not parse it
        report.error = tree if isinstance(tree, str) else None
        if job.unused_noqa and report.error is None:  # no rule matches: no comment suppresses anything
            report.findings = unused_findings(Suppressions(source.text))
        outcome.learned.append((original_key, [], report.error))
        return outcome
    report.error = too_many_tokens(source.text, job.settings.max_file_tokens)
    if report.error is not None:
        outcome.learned.append((original_key, [], report.error))
        return outcome
    narrowed = None if job.previews else narrowing.narrowed(source.text, facts, matched)
    del tree, facts  # freed before LibCST builds its (much larger) tree of the same file
    import libcst as cst  # only now: most runs rule most files out without it

    from torchfix import engine

    # A check needs only the rules the prefilter kept (each reports on its own). A fix may
    # create what another rule matches, so each pass on fixed text asks the prefilter again,
    # among every enabled rule but TF003/TF008 where the file went without its project: no
    # fix of another rule makes what they match (a module's tensors, its parallel layers).
    if job.mode is Mode.CHECK:
        options = job.settings.options(matched, relative)
    else:
        every = codes if _needs_project(matched) else [code for code in codes if code not in PACKAGE_RULES]
        options = replace(job.settings.options(every, relative), kept=frozenset(matched))
    try:
        if job.mode is Mode.CHECK:
            suppressions = Suppressions(source.text) if job.unused_noqa else None
            report.findings = engine.check_text(source.text, options, suppressions, narrowed)
            outcome.learned.append((original_key, report.findings, None))
            if suppressions is not None:  # not cached: the cli runs without the cache then
                report.findings = report.findings + unused_findings(suppressions)
            if job.previews:
                report.source = source.text
                report.previews = engine.fix_previews(source.text, options)
            return outcome
        if accept is None:
            fixed = engine.fix_text(source.text, options, narrowed=narrowed)
        else:  # its previews are whole files
            fixed = engine.fix_text(source.text, options, accept=accept(report.path))
    except cst.ParserSyntaxError as error:
        report.error = f"cannot parse: {error.message.strip()}"  # Python accepts it, LibCST does not
        outcome.learned.append((original_key, [], report.error))
        return outcome
    except RecursionError:
        report.error = "cannot parse: the code is nested too deeply"
        return outcome
    report.findings = fixed.remaining
    report.bug = fixed.bug
    report.error = fixed.refused
    if fixed.crashes:
        return outcome  # the findings are partial: never cached
    outcome.learned.append((original_key, fixed.findings, None))
    if fixed.bug is not None or fixed.refused is not None or not fixed.changed:
        return outcome
    report.fixed = [applied.portable() for applied in fixed.applied]
    report.original, report.source = source.text, fixed.text
    report.changed = True
    if job.mode is Mode.APPLY:
        try:
            write_source(source, fixed.text)
        except SourceError as error:
            report.error = str(error)
            report.changed = False
            return outcome
        # The next check's findings, unless they depend on the project (which this fix just changed).
        fixed_tree = python_tree(fixed.text, report.path)
        if not isinstance(fixed_tree, str) and not _needs_project(matching(facts_of(fixed_tree), codes)):
            outcome.learned.append((key(source.encode(fixed.text), codes, settings), fixed.remaining, None))
    return outcome


# -- workers ---------------------------------------------------------------------

_STOP = threading.Event()


def _worker_init(indexes: dict, prefiltered: dict) -> None:
    # Ctrl-C reaches the whole process group: finish the current file, then stop. A run
    # that ignores it (started in the background by a script) ignores it in every worker
    # too, or the workers would stop and the run would end in a silent partial success.
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, lambda *_: _STOP.set())
    package_index.register(indexes)
    _PREFILTERED.update(prefiltered)


def _process_chunk(paths: Sequence[Path], job: Job, defer: bool) -> list[_Outcome]:
    results = []
    for path in paths:
        if _STOP.is_set():
            break
        results.append(_process(path, job, defer=defer))
    return results


def _chunks(paths: Sequence[Path], workers: int) -> list[Sequence[Path]]:
    size = max(1, min(_MAX_CHUNK, len(paths) // (workers * 8) or 1))
    return [paths[i : i + size] for i in range(0, len(paths), size)]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _process_all(paths: Sequence[Path], job: Job, accept, advance: Callable[[int], None]) -> list[_Outcome]:
    """Every file's outcome; with no ``accept`` (no one reviews fixes as they come), files that
    need their project's index are deferred until every file was read (:func:`_process_unpaused`)."""
    workers = job.jobs or os.cpu_count() or 1
    defer = accept is None
    if accept is not None or workers == 1 or len(paths) < 2:
        return _in_process(paths, job, accept, advance, defer)
    large = {path for path in paths if _size(path) > _LARGE_FILE}
    small = [path for path in paths if path not in large]
    if len(small) >= _PRELOAD_FILES:
        _preload(job)
    return _pooled(small, job, workers, advance, defer, alongside=[path for path in paths if path in large])


def _preload(job: Job) -> None:
    """Import LibCST, the engine and the job's rules before the workers start: forked workers
    share them instead of importing them each (a third of a second of CPU per worker)."""
    from torchfix import engine  # noqa: F401
    from torchfix.rules import rules_by_codes

    rules_by_codes(tuple(job.settings.codes))


def _in_process(
    paths: Sequence[Path], job: Job, accept, advance: Callable[[int], None], defer: bool = False
) -> list[_Outcome]:
    results = []
    for path in paths:
        results.append(_process(path, job, accept, defer=defer))
        advance(1)
    return results


def _pooled(
    paths: Sequence[Path],
    job: Job,
    workers: int,
    advance: Callable[[int], None],
    defer: bool,
    alongside: Sequence[Path] = (),
) -> list[_Outcome]:
    """``paths`` in the pool, and ``alongside`` (the large files) in this process meanwhile, one at a time."""
    if not paths:
        return _in_process(alongside, job, None, advance, defer)
    from concurrent.futures import ProcessPoolExecutor, as_completed  # a run on one file needs no pool

    chunks = _chunks(paths, workers)
    with ProcessPoolExecutor(
        max_workers=min(workers, len(chunks)),
        initializer=_worker_init,
        initargs=(package_index.registered(), _PREFILTERED),
    ) as pool:
        futures = {pool.submit(_process_chunk, chunk, job, defer): len(chunk) for chunk in chunks}
        try:
            results = _in_process(alongside, job, None, advance, defer)
            for future in as_completed(futures):
                results.extend(future.result())
                advance(futures[future])
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return results


# -- a run -------------------------------------------------------------------------


def _cached(path: Path, job: Job, cache: Cache, with_project: bool = False) -> FileReport | bool | None:
    """The report for an unchanged file straight from the cache, if it needs no work; True when
    its findings depend on its project (look again ``with_project``, once the project is indexed)."""
    if is_notebook(path):
        return None
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > job.settings.max_file_size:
            return None  # a FIFO would block; read_source reports such files
        raw = path.read_bytes()
    except OSError:
        return None
    codes = job.settings.codes_for(relative_to_root(path, job.settings.root))
    settings = _with_project(path, job).settings if with_project else job.settings
    cache_key = key(raw, codes, settings)
    if not with_project and cache.needs_project(cache_key):
        return True
    hit = cache.get(cache_key)
    if hit is None:
        return None
    findings, error = hit
    if job.mode is not Mode.CHECK or job.previews:
        if any(f.fixable for f in findings):
            return None
    return FileReport(path.as_posix(), findings=findings, error=error)


def _index_projects(paths: Sequence[Path], outcomes: Sequence[_Outcome], cache: Cache | None) -> None:
    """Index (and register) the projects of ``paths``, from the package facts the run's
    files already gave, the facts cache, and only then by reading the other files."""
    roots = sorted({package_index.project_root(path)[0] for path in paths})
    known: dict[Path, dict[str, FileFacts]] = {root: {} for root in roots}
    for outcome in outcomes:
        if outcome.facts is None:
            continue
        path = Path(outcome.report.path).resolve()
        root = package_index.project_root(path, real=True)[0]
        if root in known:
            known[root][path.relative_to(root).as_posix()] = outcome.facts
    indexes = {}
    for root in roots:
        stored = cache.stored_facts(root) if cache is not None else None
        indexes[str(root)], learned = package_index.build_index(root, known[root], stored)
        if cache is not None and not _same_facts(learned, stored):
            cache.store_facts(root, learned)
    package_index.register(indexes)


def _same_facts(learned: dict, stored: dict | None) -> bool:
    """Whether every file's facts came from the facts cache (then it need not be written)."""
    return stored is not None and learned.keys() == stored.keys() and all(
        entry[2] is stored[relative][2] for relative, entry in learned.items()
    )


def files_to_process(found: Sequence[Path], settings: Settings) -> list[Path]:
    """The discovered files a run processes: with ``force-exclude``, the excluded ones named
    on the command line are dropped too."""
    if settings.force_exclude:
        return [path for path in found if not settings.is_excluded(path)]
    return list(found)


def run(
    paths: Sequence[Path],
    job: Job,
    accept=None,
    progress: Callable[[int], Callable[[int], None]] | None = None,
) -> list[FileReport]:
    """Every file's report, in path order; unreadable paths are reports with an error.

    ``progress(total)`` may return a callback that is told how many files got done (it
    may be called again with a larger total).
    """
    package_index.forget()  # files may have changed since a previous run in this process
    _PREFILTERED.clear()
    found = discover(paths, job.settings.exclude_spec(), job.settings.root, notebooks=job.notebooks)
    files = files_to_process(found.files, job.settings)
    reports = [FileReport(path.as_posix(), error=reason) for path, reason in found.errors]
    cache = Cache(job.cache_root) if job.cache_root is not None else None
    pending: list[Path] = []
    #: unchanged files whose cached findings are keyed on their project too
    waiting: list[Path] = []
    for path in files:
        hit = _cached(path, job, cache) if cache is not None else None
        if hit is True:
            waiting.append(path)
        elif hit is None:
            pending.append(path)
        else:
            reports.append(hit)
    advance = progress(len(pending)) if progress is not None and pending else (lambda done: None)
    outcomes = _process_all(pending, job, accept, advance)
    _PREFILTERED.update((outcome.report.path, outcome.deferred) for outcome in outcomes if outcome.deferred)
    deferred = [Path(path) for path in _PREFILTERED]
    if deferred or waiting:
        _index_projects(deferred + waiting, outcomes, cache)
        for path in waiting:
            hit = _cached(path, job, cache, with_project=True)
            if hit is None:
                deferred.append(path)
            else:
                reports.append(hit)
        outcomes = [outcome for outcome in outcomes if not outcome.deferred]
        if deferred and progress is not None:
            advance = progress(len(pending) + len(deferred))
        outcomes += _process_all(sorted(deferred), job, accept, advance)
    reports += [outcome.report for outcome in outcomes]
    # a dry run writes nothing at all, and a run that found no file leaves no cache folder behind
    if cache is not None and job.mode is not Mode.DIFF and files:
        for outcome in outcomes:
            for cache_key, findings, error in outcome.learned:
                cache.put(cache_key, findings, error)
        cache.save()
    return sorted(reports, key=lambda r: r.path)
