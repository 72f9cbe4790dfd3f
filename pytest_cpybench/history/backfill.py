"""``backfill``: measure first-parent commits of a range into the results store, as bench_runner's
backfill job does, so that ``history`` has a series to read.

Each commit is built through the build cache and measured alone (no baseline) by the session's
engine, and its results stored like a session's, one file per commit. It resumes: a benchmark the
store already holds for the commit, this machine, build configuration and metric, measured in the
same mode and alone, is not measured again; a commit recorded as not building is skipped (until
``retry_failed``). The tip first, then spread over the range (:func:`spread`).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from pytest_cpybench.cpython import targets
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.errors import BenchmarkError, BuildError, CpybenchError
from pytest_cpybench.history import collect
from pytest_cpybench.history.series import LineCommit, StoredRun
from pytest_cpybench.options import Settings
from pytest_cpybench.output.formatting import format_duration
from pytest_cpybench.results import metadata as md
from pytest_cpybench.session import plan as planning
from pytest_cpybench.session.engine import Engine
from pytest_cpybench.session.model import MetricOutcome
from pytest_cpybench.suite import definitions, selection
from pytest_cpybench.suite.definitions import BenchmarkDef
from pytest_cpybench.verdict.compare import load_of


def choose(line: Sequence[LineCommit], every: int | None = None,
           wanted: Sequence[str] | None = None) -> list[LineCommit]:
    """The commits to measure, in the order to measure them (:func:`spread`): ``wanted`` (full shas,
    each on the line), or the range's first commit, every ``every``-th one after it, and its last.
    Counted from the first, so that a nightly run over a growing branch chooses the same commits as
    the night before, and the new tip."""
    if wanted is not None:
        by_sha = {c.sha: c for c in line}
        chosen = {by_sha[sha].index for sha in wanted}
    else:
        chosen = set(range(0, len(line), every or 1)) | {len(line) - 1}
    return spread([line[index] for index in sorted(chosen)])


def spread(commits: Sequence[LineCommit]) -> list[LineCommit]:
    """``commits`` (oldest first) in the order a backfill measures them: the newest (an interrupted
    nightly run has measured the tip), the oldest, then the middle of the widest stretch left, and so
    on. Not in line order: the machine drifts over a long backfill, and measured in line order its
    drift would read as a step between commits; spread, it reads as the noise it is."""
    if len(commits) <= 2:
        return list(reversed(commits))
    order = [len(commits) - 1, 0]
    stretches = [(-(len(commits) - 1), 0, len(commits) - 1)]  # (minus the width, start, end): widest first
    while stretches:
        _, start, end = heapq.heappop(stretches)
        if end - start < 2:
            continue
        middle = (start + end) // 2
        order.append(middle)
        heapq.heappush(stretches, (-(middle - start), start, middle))
        heapq.heappush(stretches, (-(end - middle), middle, end))
    return [commits[i] for i in order]


@dataclass
class Todo:
    """One commit's part of a backfill, decided before anything is built."""

    commit: LineCommit
    missing: list[BenchmarkDef]
    stored: list[str]  # benchmarks the store has already
    build_failure: str = ""  # the recorded reason it does not build


@dataclass
class Report:
    measured: list[LineCommit] = field(default_factory=list)
    skipped: list[LineCommit] = field(default_factory=list)  # stored already: nothing missing
    failed_builds: list[LineCommit] = field(default_factory=list)
    failed_benchmarks: list[str] = field(default_factory=list)  # "sha7 name: why"
    errors: list[str] = field(default_factory=list)  # results that could not be stored
    seconds: float = 0.0


class Backfill:
    """Measure the commits of a range on this machine into the results store."""

    def __init__(self, settings: Settings, benchmarks: list[BenchmarkDef], *, log: Callable[[str], None],
                 say: Callable[[str], None], retry_failed: bool = False) -> None:
        if settings.mode == "debug":
            raise CpybenchError("--mode=debug measures one value: a series needs default, fast or rigorous")
        self.settings = settings
        self.benchmarks = benchmarks
        self.log = log
        self.say = say
        self.retry_failed = retry_failed

    # -- what to do -------------------------------------------------------------------------------

    def plan(self, commits: Sequence[LineCommit]) -> list[Todo]:
        s = self.settings
        # The store read once for every commit of the plan, not once per commit.
        stored = collect.stored_runs(s.results_dir, commits, s.machine, [s.metric])
        runs_of: dict[str, list[StoredRun]] = {}
        for run in stored.runs:
            runs_of.setdefault(run.sha, []).append(run)
        return [self._todo(commit, runs_of.get(commit.sha, [])) for commit in commits]

    def _todo(self, commit: LineCommit, runs: Sequence[StoredRun]) -> Todo:
        s = self.settings
        flags = " ".join(s.configure_flags)
        marker = collect.read_marker(s.results_dir, commit.sha, s.machine, s.preset, flags)
        have = self._stored_benchmarks(runs)
        missing = [b for b in self.benchmarks if b.name not in have]
        stored = [b.name for b in self.benchmarks if b.name in have]
        reason = str(marker.get("error", "does not build")) if marker and not self.retry_failed else ""
        return Todo(commit, missing, stored, reason)

    def _stored_benchmarks(self, runs: Sequence[StoredRun]) -> set[str]:
        """The benchmarks ``runs`` (one commit's, this machine's and metric's) hold as a backfill
        measures them: this build, the same mode, alone (what ``history`` reads, one count included)."""
        s = self.settings
        flags = " ".join(s.configure_flags)
        have = set()
        for run in runs:
            if (run.preset, run.configure_flags) != (s.preset, flags):
                continue
            for result in run.results:
                metadata = result.get_metadata()
                if str(metadata.get(md.MODE, "")) != s.mode or not load_of(result) <= {0}:
                    continue
                owner = metadata.get(md.BENCHMARK_NAME)
                if owner is None:
                    producer = selection.producer_of(result.get_name(), self.benchmarks)
                    owner = producer.name if producer is not None else result.get_name()
                have.add(str(owner))
        return have

    # -- doing it ---------------------------------------------------------------------------------

    def run(self, tip: Commit, todo: Sequence[Todo]) -> Report:
        started = time.monotonic()
        report = Report()
        engine = Engine(self.settings, self.log)
        engine.check_tools()
        planning.check_outputs(self.settings)
        work = [t for t in todo if t.missing and not t.build_failure]
        for t in todo:
            if not t.missing:
                report.skipped.append(t.commit)
                self.say(f"{_name(t.commit)}: stored already ({', '.join(t.stored)}): skipped")
            elif t.build_failure:
                report.failed_builds.append(t.commit)
                self.say(f"{_name(t.commit)}: does not build (recorded: {t.build_failure}): skipped; "
                         "--retry-failed builds it again")
        spent: list[float] = []
        for number, t in enumerate(work, 1):
            begun = time.monotonic()
            done = self._commit(tip, t, report)
            spent.append(time.monotonic() - begun)
            left = len(work) - number
            self.say(f"[{number}/{len(work)}] {_name(t.commit)}: {done}; {_left(spent, left)}")
        report.seconds = round(time.monotonic() - started, 1)
        return report

    def _commit(self, tip: Commit, todo: Todo, report: Report) -> str:
        """Build and measure one commit; what was done, in a few words."""
        s = self.settings
        commit = Commit(repo=tip.repo, ref=tip.ref, sha=todo.commit.sha, date=todo.commit.date, fork=tip.fork,
                        git_dir=tip.git_dir)
        flags = " ".join(s.configure_flags)
        built_at = time.monotonic()
        try:
            target = targets.build(commit, s.build_config, s.cache_dir, self.log)
        except BuildError as err:
            report.failed_builds.append(todo.commit)
            if not err.is_the_commits_fault():  # killed, or the disk full: the next run tries again
                return f"could not be built ({err}; log: {err.log_path}): not recorded, tried again next time"
            path = collect.write_marker(s.results_dir, todo.commit, s.machine, s.preset, flags, str(err), err.log_path)
            return f"does not build ({err}; log: {err.log_path}): recorded in {path}, skipped"
        collect.clear_marker(s.results_dir, todo.commit.sha, s.machine, s.preset, flags)  # it builds now
        build_seconds = time.monotonic() - built_at
        engine = Engine(replace(s, ref=tip.ref), self.log)
        engine.plan = planning.Plan(head_commit=commit, head_version=target.version, head=target)
        outcomes: list[MetricOutcome] = []
        measured: list[BenchmarkDef] = []
        failed: list[str] = []  # "name: why"
        for bench in todo.missing:
            reason = definitions.supports(bench, target.version)
            if reason:
                failed.append(f"{bench.name}: cannot run ({reason})")
                continue
            try:
                outcomes.append(engine.run(bench))
                measured.append(bench)
            except BenchmarkError as err:
                failed.append(f"{bench.name}: {err}")
        report.failed_benchmarks.extend(f"{todo.commit.short} {line}" for line in failed)
        if not outcomes:
            return f"nothing measured ({'; '.join(failed)})"
        result = engine.finish(outcomes, measured)
        report.errors.extend(result.errors)
        report.measured.append(todo.commit)
        seconds = sum(o.seconds for o in outcomes)
        how = "cached build" if target.cache_hit else f"built in {build_seconds:.0f} s"
        also = f"; failed: {'; '.join(failed)}" if failed else ""
        return f"measured {', '.join(b.name for b in measured)} in {seconds:.0f} s ({how}){also}"


def _name(commit: LineCommit) -> str:
    text = commit.subject if len(commit.subject) <= 50 else commit.subject[:49] + "…"
    return f"{commit.short} {text}".rstrip()


def _left(spent: Sequence[float], commits: int) -> str:
    """An estimate of the time left: the commits left at the mean time of those done so far."""
    if commits == 0:
        return "done"
    if not spent:
        return f"{commits} commit{'s' if commits != 1 else ''} left"
    seconds = sum(spent) / len(spent) * commits
    return f"{commits} commit{'s' if commits != 1 else ''} left, about {format_duration(seconds)}"

