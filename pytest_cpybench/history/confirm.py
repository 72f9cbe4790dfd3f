"""``history --confirm``: is a change point real, and which commit made it?

The detector proposes; the gate decides. Both ends of a change's range (the last commit measured
without it, the first with it) are built and measured interleaved in one engine session, the later
as the head and the earlier as a baseline measured with it, so drift between the stored sessions
cancels; the gate's own verdict decides (a slowdown is real when the gate calls it a REGRESSION; a
speedup when the gate would call the earlier commit a regression of the later). A real change is
then bisected over its range and its first bad commit named.

The benchmarks measured are those producing the results the change moved beyond the threshold; the
gate judges every result of them, as it judges an item (one result failing fails the benchmark), and
the results it calls a regression are what the bisection follows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from pytest_cpybench.bisect.bisector import Bisector
from pytest_cpybench.cpython import builds, targets
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.errors import BenchmarkError, CpybenchError
from pytest_cpybench.history.changes import (
    CONFIRMED,
    FAILED,
    NOT_CONFIRMED,
    SLOWDOWN,
    Change,
    Confirmation,
    direction_of,
    inverted,
)
from pytest_cpybench.history.detect import ChangePoint
from pytest_cpybench.history.series import LineCommit
from pytest_cpybench.options import Settings
from pytest_cpybench.output.formatting import format_headline
from pytest_cpybench.session import plan as planning
from pytest_cpybench.session.engine import Engine
from pytest_cpybench.session.model import Baseline, BaselineKind
from pytest_cpybench.suite.definitions import BenchmarkDef
from pytest_cpybench.verdict.stats import Verdict, verdict


def settings_for(settings: Settings, change: Change) -> Settings:
    """The settings that measure like the change's group: its metric (and that metric's threshold),
    mode and build configuration."""
    group = change.group
    # decide=all: the results the change moved are each decided (or the budget spent), not left
    # undecided because another result of their benchmark failed first.
    return replace(settings.for_metric(group.metric).for_preset(group.preset), mode=group.mode,
                   configure_flags=builds.parse_configure_flags(group.configure_flags), baselines=(),
                   baseline_file=None, save="no", json_path=None, decide="all")


class Confirmer:
    """Confirm changes of one repository on this machine, then bisect the real ones."""

    def __init__(self, settings: Settings, tip: Commit, *, log: Callable[[str], None],
                 select: Callable[[Settings, Sequence[str]], list[BenchmarkDef]]) -> None:
        self.settings = settings
        self.tip = tip
        self.log = log
        self.select = select  # (settings, names) -> the BenchmarkDefs producing those results

    def commit(self, entry: LineCommit) -> Commit:
        return Commit(repo=self.tip.repo, ref=entry.short, sha=entry.sha, date=entry.date, fork=self.tip.fork,
                      git_dir=self.tip.git_dir)

    def confirm(self, change: Change, chosen: Sequence[ChangePoint]) -> Confirmation:
        started = time.monotonic()
        confirmation = Confirmation(NOT_CONFIRMED, direction_of(chosen))
        try:
            self._measure(change, chosen, confirmation)
            if confirmation.confirmed:
                self._bisect(change, confirmation)
        except (CpybenchError, OSError) as err:
            confirmation.state = FAILED
            confirmation.note = str(err).splitlines()[0] if str(err) else type(err).__name__
        confirmation.seconds = round(time.monotonic() - started, 1)
        return confirmation

    def _measure(self, change: Change, chosen: Sequence[ChangePoint], confirmation: Confirmation) -> None:
        settings = settings_for(self.settings, change)
        names = sorted({p.name for p in chosen})
        benchmarks = self.select(settings, names)
        before, after = self.commit(change.before), self.commit(change.after)
        self.log(f"confirming {', '.join(names)} between {before.short} and {after.short}: both measured "
                 "interleaved")
        engine = Engine(replace(settings, ref=after.sha), self.log)
        engine.check_tools()
        engine.plan = planning.Plan(head_commit=after, head_version=targets.source_version(after), baselines=[
            Baseline(label=change.before.short, kind=BaselineKind.MEASURE, note="the change's last commit before",
                     commit=before)])
        engine.build()
        real = []
        for bench in benchmarks:
            try:
                outcome = engine.run(bench)
            except BenchmarkError as err:
                raise CpybenchError(f"{bench.name} fails while confirming ({err})") from None
            comparison = outcome.comparisons[0]
            confirmation.rounds = max(confirmation.rounds, comparison.rounds)
            # Every result of the benchmark, as the gate judges an item: a change the detector saw in
            # one result (its noisiest, perhaps) is real when the gate fails the benchmark on any.
            for rc in comparison.results:
                confirmation.results[rc.name] = rc.estimate
                gate = rc.verdict if confirmation.direction == SLOWDOWN else verdict(inverted(rc.estimate),
                                                                                     rc.threshold)
                confirmation.verdicts[rc.name] = gate.name
                if gate is Verdict.REGRESSION:
                    real.append(rc.name)
        confirmation.regressed = real
        if real:
            confirmation.state = CONFIRMED
        else:
            measured = "; ".join(f"{name} {format_headline(estimate)}: {confirmation.verdicts[name].lower()}"
                                 for name, estimate in confirmation.results.items())
            confirmation.note = f"both ends measured again, interleaved: {measured or 'no result'}"

    def _bisect(self, change: Change, confirmation: Confirmation) -> None:
        if change.commits == 1:  # adjacent commits: the later one is the change
            confirmation.first_bad = [change.after]
            return
        settings = settings_for(self.settings, change)
        benchmarks = self.select(settings, confirmation.regressed)
        bisector = Bisector(settings, benchmarks, log=self.log, results=confirmation.regressed)
        found = bisector.run_commits(self.commit(change.before), self.commit(change.after))
        start = change.before.index  # the bisection's history is the line from there
        if not found.search.culprits:
            confirmation.bisect_note = "the bisection did not find the commit (no change between the ends, " \
                                       "or its steps ran out)"
            return
        culprit = found.search.culprits[0]
        confirmation.first_bad = [LineCommit(start + i, found.history[i].sha, found.history[i].subject,
                                             found.history[i].author_date) for i in culprit.commits]
        notes = []
        if len(found.search.culprits) > 1:
            notes.append(f"the change entered in {len(found.search.culprits)} places; the first is shown")
        checked = next((c for c in found.confirmations if c.commit == culprit.commits[0]), None)
        if len(culprit.commits) == 1 and checked is not None and not checked.confirmed:
            notes.append("not confirmed against its parent")
        confirmation.record = str(found.record or "")
        confirmation.bisect_note = "; ".join(notes)
