"""Bisect a benchmark change on real builds: the measuring side of :mod:`.bisection`.

Every commit is built through the build cache (the two ends once, then one build per step;
neighbouring commits rebuild fast with ccache). Each step measures the probed commit
interleaved with both ends, with the session's sampler, until the step's decision is clear or
the per-step budget is spent. A commit that does not build, or on which a benchmark crashes,
is skipped as ``git bisect skip`` does. At the end each commit found is confirmed by
measuring it interleaved with its parent, and the whole search is written as JSON next to
the results.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Collection
from pathlib import Path

import pyperf

from pytest_cpybench.bisect import report
from pytest_cpybench.bisect.search import (
    Bisection,
    Confirmation,
    Decision,
    Position,
    Step,
    classify,
    combine,
    default_max_steps,
    ends_decision,
    locate,
    min_change_of,
    round_logs,
    step_settled,
)
from pytest_cpybench.bisect.search import search as bisection_search
from pytest_cpybench.cpython import git, targets
from pytest_cpybench.cpython.git import Commit, LogEntry
from pytest_cpybench.cpython.targets import Target
from pytest_cpybench.errors import BenchmarkError, BuildError, CpybenchError
from pytest_cpybench.options import Settings
from pytest_cpybench.results import files
from pytest_cpybench.session.engine import Engine
from pytest_cpybench.session.model import MetricOutcome
from pytest_cpybench.session.plan import repo_of
from pytest_cpybench.suite import definitions
from pytest_cpybench.suite.definitions import BenchmarkDef
from pytest_cpybench.verdict.stats import RatioEstimate

GOOD, BAD, PROBE = "good", "bad", "probe"  # side labels inside a step
RECORD_FOLDER = "bisect"  # under the results directory


class Bisector:
    """Bisect between two refs of the settings' repository, on the selected benchmarks.

    ``results`` narrows each benchmark to some of its results (``-b deepcopy_memo``, or the results
    that failed in a session): the others would dilute the change with their own noise.
    """

    def __init__(self, settings: Settings, benchmarks: list[BenchmarkDef],
                 log: Callable[[str], None] = print, on_step: Callable[[Step, list[LogEntry]], None] | None = None,
                 results: Collection[str] = ()) -> None:
        if not benchmarks:
            raise CpybenchError("bisect needs a benchmark: give one with -b NAME")
        if settings.mode == "debug":
            raise CpybenchError("debug mode takes one value per side: a bisection needs default, fast or rigorous")
        self.settings = settings
        self.benchmarks = benchmarks
        self.results = set(results)
        self.log = log
        self.on_step = on_step or (lambda _step, _history: None)
        self.engine = Engine(settings, log)
        self._history: list[LogEntry] = []
        self._good: Commit | None = None
        self._fork = "python"
        self._builds: dict[int, Target | BuildError] = {}
        # Per benchmark, set by the first step over the whole range: see bisection.classify.
        self._min_change: dict[str, float] = {}
        self._whole: dict[str, RatioEstimate] = {}  # the change good -> bad in that step

    def run(self, good_ref: str, bad_ref: str, max_steps: int | None = None) -> Bisection:
        """Bisect; ``max_steps`` bounds the steps (default: :func:`default_max_steps`)."""
        repo = repo_of(self.settings)
        good = targets.resolve(repo, good_ref, self.settings.cache_dir)
        bad = targets.resolve(repo, bad_ref, self.settings.cache_dir)
        return self.run_commits(good, bad, max_steps)

    def run_commits(self, good: Commit, bad: Commit, max_steps: int | None = None) -> Bisection:
        started = time.monotonic()
        if good.is_worktree or bad.is_worktree:
            raise CpybenchError("a working tree (WORKTREE) has no history to bisect: commit the change first")
        self.engine.check_tools()
        self._good, self._fork = good, bad.fork
        self._history = git.first_parent_history(good, bad)
        last = len(self._history) - 1
        only = f" (results {', '.join(sorted(self.results))})" if self.results else ""
        self.log(f"bisect: {last} commit{'s' if last > 1 else ''} after {good.ref} ({good.short}) up to "
                 f"{bad.ref} ({bad.short}), first-parent; benchmarks {', '.join(b.name for b in self.benchmarks)}"
                 + only)
        for index, end in ((0, "good"), (last, "bad")):
            built = self._build(index)
            if isinstance(built, BuildError):
                raise BuildError(f"the {end} end {self._history[index].short} does not build: {built}",
                                 built.log_path, built.log_tail)
            self._check_supported(built)
        search = bisection_search(last, self._probe, max_steps or default_max_steps(last))
        bisection = Bisection(history=self._history, benchmarks=[b.name for b in self.benchmarks], search=search,
                              change=dict(self._whole), metric=self.settings.metric)
        for culprit in search.culprits:
            if len(culprit.commits) == 1:
                bisection.confirmations.append(self._confirm(culprit.parent, culprit.commits[0]))
        bisection.builds = {self._history[i].sha: _build_state(b) for i, b in sorted(self._builds.items())}
        bisection.seconds = round(time.monotonic() - started, 1)
        bisection.record = self._write_record(bisection, good, bad)
        return bisection

    # -- one step ----------------------------------------------------------------------

    def _probe(self, good: int, bad: int, probe: int | None) -> Step:
        started = time.monotonic()
        step = Step(good, bad, probe, Decision.SKIPPED)
        # Good last: the last side calibrates the loops, and good's are kept for every later step.
        sides = [(BAD, self._built(bad)), (GOOD, self._built(good))]
        if probe is not None:
            built = self._build(probe)
            if isinstance(built, BuildError):
                step.note = f"does not build ({built}; log: {built.log_path})"
                return self._done(step, started)
            sides.insert(1, (PROBE, built))
        decisions = []
        whole_range = (good, bad) == (0, len(self._history) - 1)
        for bench in self.benchmarks:
            min_change = self._min_change.get(bench.name, 0.0)
            try:
                suites = self._measure(bench, sides, self._settled(probe is None, min_change))
            except BenchmarkError as err:
                if err.side != PROBE:  # an end that measured fine before fails now: not the probe's fault
                    raise
                step.note = f"{bench.name} fails on it ({err})"
                return self._done(step, started)
            position = self._position(suites)
            step.positions[bench.name] = position
            if probe is None:
                decisions.append(ends_decision(position.change, min_change))
            else:
                decisions.append(classify(position, min_change))
            if whole_range and bench.name not in self._whole:
                self._whole[bench.name] = position.change
                self._min_change[bench.name] = min_change_of(position.change)
        step.decision = combine(decisions)
        return self._done(step, started)

    def _settled(self, ends_only: bool, min_change: float) -> Callable[[dict[str, pyperf.BenchmarkSuite]], bool]:
        """When a step may stop measuring (else rounds go on up to the budget)."""
        def settled(suites: dict[str, pyperf.BenchmarkSuite]) -> bool:
            return step_settled(self._position(suites), min_change, ends_only)
        return settled

    def _position(self, suites: dict[str, pyperf.BenchmarkSuite]) -> Position:
        pairs = round_logs(suites[GOOD], suites[BAD], suites.get(PROBE), results=self.results)
        return locate(pairs, self.settings.confidence)

    def _done(self, step: Step, started: float) -> Step:
        step.seconds = round(time.monotonic() - started, 1)
        self.on_step(step, self._history)
        return step

    def _confirm(self, parent: int, commit: int) -> Confirmation:
        """The change across one commit, measured afresh interleaved with its parent; confirmed when it
        is confidently more than the smallest change worth following, in the whole change's direction."""
        started = time.monotonic()
        self.log(f"confirming {self._history[commit].short} against its parent {self._history[parent].short}")
        sides = [(BAD, self._built(commit)), (GOOD, self._built(parent))]
        confirmation = Confirmation(parent, commit, {}, 0, 0.0)
        for bench in self.benchmarks:
            min_change = self._min_change.get(bench.name, 0.0)
            try:
                suites = self._measure(bench, sides, self._settled(True, min_change))
            except BenchmarkError as err:
                confirmation.confirmed, confirmation.note = False, f"{bench.name} failed while confirming ({err})"
                break
            position = self._position(suites)
            confirmation.changes[bench.name] = position.change
            confirmation.rounds = max(confirmation.rounds, position.rounds)
            whole = self._whole.get(bench.name)
            same_direction = whole is None or (position.change.ratio > 1) == (whole.ratio > 1)
            if ends_decision(position.change, min_change) is not Decision.CHANGED or not same_direction:
                confirmation.confirmed = False
                confirmation.note = f"{bench.name}: no confident change of that size across it when measured again"
        confirmation.seconds = round(time.monotonic() - started, 1)
        return confirmation

    def _measure(self, bench: BenchmarkDef, sides: list[tuple[str, Target]],
                 decided: Callable[[dict[str, pyperf.BenchmarkSuite]], bool]) -> dict[str, pyperf.BenchmarkSuite]:
        engine = self.engine
        pyperf_sides = [engine.side(label, target, bench) for label, target in sides]  # venvs first: not timed
        # --timeout bounds one benchmark's measurement in one step, as it bounds an item.
        options = engine.run_options(deadline=time.monotonic() + self.settings.timeout)
        return engine.measure(bench, pyperf_sides, options, decided).suites

    # -- builds ------------------------------------------------------------------------

    def _build(self, index: int) -> Target | BuildError:
        """The build of history[index] (cached for the session), or why it failed."""
        if index not in self._builds:
            entry = self._history[index]
            assert self._good is not None
            commit = Commit(repo=self._good.repo, ref=entry.short, sha=entry.sha,
                            date=git.commit_date(self._good.git_dir or self._good.repo, entry.sha),
                            fork=self._fork, git_dir=self._good.git_dir)
            try:
                self._builds[index] = targets.build(commit, self.settings.build_config, self.settings.cache_dir,
                                                    self.log)
            except BuildError as err:
                self.log(f"{entry.short} does not build: skipped")
                self._builds[index] = err
        return self._builds[index]

    def _built(self, index: int) -> Target:
        built = self._build(index)
        assert isinstance(built, Target), "ends and confirmed commits are built before they are measured"
        return built

    def _check_supported(self, target: Target) -> None:
        for bench in self.benchmarks:
            reason = definitions.supports(bench, target.version)
            if reason:
                raise CpybenchError(f"benchmark {bench.name} cannot run on Python {target.version} ({reason}): "
                                    "choose another benchmark")

    # -- the record --------------------------------------------------------------------

    def _write_record(self, bisection: Bisection, good: Commit, bad: Commit) -> Path | None:
        folder = self.settings.results_dir / RECORD_FOLDER
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{good.short}-{bad.short}-{os.getpid()}.json"
        data = record_data(bisection, good, bad, self.settings)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            files.write_text_atomically(folder / name, json.dumps(data, indent=2) + "\n")
        except OSError as err:
            self.log(f"bisect record not written to {folder}: {err.strerror or err}")
            return None
        return folder / name


def _build_state(built: Target | BuildError) -> str:
    if isinstance(built, BuildError):
        return "failed"
    return "cached" if built.cache_hit else "built"


def _estimate_data(estimate: RatioEstimate) -> dict[str, float | None]:
    finite = estimate.has_interval
    return {"ratio": estimate.ratio, "low": estimate.low if finite else None,
            "high": estimate.high if finite else None}


def _position_data(position: Position) -> dict[str, object]:
    def number(value: float) -> float | None:
        return value if value == value and abs(value) != float("inf") else None

    return {"share": number(position.share), "low": number(position.low), "high": number(position.high),
            "change": _estimate_data(position.change), "rounds": position.rounds,
            "vs_good": _estimate_data(position.probe_change) if position.probe_change else None}


def record_data(bisection: Bisection, good: Commit, bad: Commit, settings: Settings) -> dict[str, object]:
    """The bisection as JSON data: enough to read the search back without the terminal."""
    history = bisection.history

    def commit(index: int) -> dict[str, str]:
        entry = history[index]
        return {"sha": entry.sha, "subject": entry.subject, "author_date": entry.author_date}

    return {
        "good": {"ref": good.ref, **commit(0)},
        "bad": {"ref": bad.ref, **commit(len(history) - 1)},
        "repo": good.repo,
        "benchmarks": bisection.benchmarks,
        "machine": settings.machine,
        "metric": settings.metric,
        "mode": settings.mode,
        "build": {"preset": settings.preset, "configure_flags": list(settings.configure_flags)},
        "commits": len(history) - 1,
        "change": {name: _estimate_data(e) for name, e in bisection.change.items()},
        "steps": [{"commit": commit(s.probe) if s.probe is not None else None,
                   "good": history[s.good].sha, "bad": history[s.bad].sha,
                   "decision": s.decision.value, "note": s.note, "seconds": s.seconds,
                   "positions": {name: _position_data(p) for name, p in s.positions.items()}}
                  for s in bisection.search.steps],
        "first_bad": [{"parent": history[c.parent].sha, "candidates": [commit(i) for i in c.commits]}
                      for c in bisection.search.culprits],
        "confirmations": [{"parent": history[c.parent].sha, **commit(c.commit), "rounds": c.rounds,
                           "seconds": c.seconds, "confirmed": c.confirmed, "note": c.note,
                           "changes": {name: _estimate_data(e) for name, e in c.changes.items()}}
                          for c in bisection.confirmations],
        "no_change": [[history[a].sha, history[b].sha] for a, b in bisection.search.quiet],
        "unresolved": [[history[a].sha, history[b].sha] for a, b in bisection.search.unresolved],
        "builds": bisection.builds,
        "seconds": bisection.seconds,
    }


def bisect_failures(engine: Engine, outcomes: list[MetricOutcome], benchmarks: list[BenchmarkDef]) -> list[str]:
    """``--cpython-bisect=yes``: for each baseline commit some results regressed against (in time or
    instructions; a peak-memory failure is not bisected), bisect those results between that commit
    and the head. Returns the summary's lines; a bisection that cannot run says why in one line."""
    head = engine.head_commit
    lines: list[str] = []
    for baseline in engine.baselines:
        regressed = {o.benchmark: [rc.name for c in o.comparisons if c.baseline == baseline.label and c.result
                                   for rc in c.result.regressions] for o in outcomes}
        failed = sorted(name for name, results in regressed.items() if results)
        if not failed:
            continue
        what = f"{', '.join(failed)}: {baseline.label} -> {engine.settings.ref}"
        if head is None or head.is_worktree or baseline.commit is None:
            lines.append(f"bisect {what}: not possible, both sides must be commits of one repository "
                         "(not WORKTREE, --cpython-python or a baseline file)")
            continue
        engine.log(f"bisecting {what}")
        try:
            bisector = Bisector(engine.settings, [b for b in benchmarks if b.name in failed], log=engine.log,
                                on_step=step_printer(engine.log), results=[r for n in failed for r in regressed[n]])
            found = bisector.run_commits(baseline.commit, head)
        except CpybenchError as err:
            lines.append(f"bisect {what}: not possible: {err}")
            continue
        except OSError as err:
            lines.append(f"bisect {what}: stopped: {err.strerror or err}: {err.filename or ''}")
            continue
        except KeyboardInterrupt:  # the session's results are stored already: keep them, stop here
            lines.append(f"bisect {what}: interrupted")
            break
        lines.append(f"bisect {what}:")
        lines.extend(f"  {line}" for line in report.format_bisection(found).splitlines())
    return lines


def step_printer(write: Callable[[str], None]) -> Callable[[Step, list[LogEntry]], None]:
    """An ``on_step`` that writes each step as a numbered line, as the bisect command prints them."""
    numbers = itertools.count(1)

    def show(step: Step, history: list[LogEntry]) -> None:
        write(report.format_bisect_step(next(numbers), step, history))
    return show
