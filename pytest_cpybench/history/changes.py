"""A branch's history: its series, their change points grouped into changes, the gaps (pure).

A *change* is where results of one group moved together: the change points of its series whose
commit ranges (last commit measured before, first after) overlap. Its range is what they share,
the narrowest range the change must be in: what a confirmation measures and a bisection searches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pytest_cpybench.history import detect
from pytest_cpybench.history.detect import ChangePoint
from pytest_cpybench.history.series import GEOMETRIC_MEAN, Gap, Group, LineCommit, Series, gaps, missing_from
from pytest_cpybench.verdict.stats import RatioEstimate

CONFIRMED, NOT_CONFIRMED, NOT_CHECKED, FAILED = "confirmed", "not confirmed", "not checked", "could not be checked"
SLOWDOWN, SPEEDUP = "slowdown", "speedup"


@dataclass
class Confirmation:
    """A change measured again, both ends of its range interleaved, and (when real) bisected."""

    state: str  # CONFIRMED, NOT_CONFIRMED, FAILED
    direction: str  # SLOWDOWN or SPEEDUP
    results: dict[str, RatioEstimate] = field(default_factory=dict)  # after / before, measured again
    verdicts: dict[str, str] = field(default_factory=dict)  # the gate's verdict of each (after against before)
    regressed: list[str] = field(default_factory=list)  # the results the gate calls a regression (what is bisected)
    rounds: int = 0
    first_bad: list[LineCommit] = field(default_factory=list)  # one commit, or the candidates left
    bisect_note: str = ""  # what the bisection could not settle
    record: str = ""  # the bisection's record (JSON), when it ran
    note: str = ""
    seconds: float = 0.0

    @property
    def confirmed(self) -> bool:
        return self.state == CONFIRMED


@dataclass
class Change:
    """Results of one group that moved between the same two measured commits."""

    group: Group
    before: LineCommit  # the last commit measured without the change
    after: LineCommit  # the first measured with it
    members: list[ChangePoint]
    confirmation: Confirmation | None = None

    @property
    def commits(self) -> int:
        """How many commits the change may have entered in."""
        return self.after.index - self.before.index

    @property
    def results(self) -> list[ChangePoint]:
        """The members that are results (the geometric mean left out)."""
        return [m for m in self.members if m.name != GEOMETRIC_MEAN]


@dataclass
class GroupHistory:
    """One group's series, changes and gaps."""

    group: Group
    series: list[Series]
    changes: list[Change] = field(default_factory=list)
    unmeasured: list[Gap] = field(default_factory=list)  # commits inside its span with no result
    incomplete: dict[str, list[LineCommit]] = field(default_factory=dict)  # result -> commits measured without it
    too_short: list[str] = field(default_factory=list)  # series with fewer than detect.MIN_POINTS commits

    @property
    def commits(self) -> list[int]:
        return sorted({point.index for series in self.series for point in series.points})


@dataclass
class History:
    """What ``history`` found on a branch."""

    branch: str
    repo: str
    line: list[LineCommit]  # the branch's first-parent commits from the oldest one stored, oldest first
    groups: list[GroupHistory]
    failed_builds: dict[str, list[LineCommit]] = field(default_factory=dict)  # machine -> commits that do not build
    notes: list[str] = field(default_factory=list)

    @property
    def machines(self) -> list[str]:
        return sorted({g.group.machine for g in self.groups} | set(self.failed_builds))

    def of_machine(self, machine: str) -> list[GroupHistory]:
        return [g for g in self.groups if g.group.machine == machine]

    @property
    def changes(self) -> list[Change]:
        return [change for group in self.groups for change in group.changes]


def analyse(series: Sequence[Series], line: Sequence[LineCommit],
            find: Callable[[Series], list[ChangePoint]] = detect.change_points) -> list[GroupHistory]:
    """Each group's change points (``find``), grouped into changes, and its gaps."""
    histories = []
    for group in sorted({s.group for s in series}, key=lambda g: (g.machine, g.metric, g.preset,
                                                                  g.configure_flags, g.mode, g.load)):
        members = [s for s in series if s.group == group]
        history = GroupHistory(group, members)
        held = history.commits
        history.unmeasured = gaps(held, line)
        for s in members:
            if s.is_geometric_mean:
                continue
            missing = missing_from(s, held)
            if missing:
                history.incomplete[s.name] = [line[index] for index in missing]
            if len(s.points) < detect.MIN_POINTS:
                history.too_short.append(s.name)
        history.changes = changes_of(group, [cp for s in members for cp in find(s)], line)
        histories.append(history)
    return histories


def changes_of(group: Group, points: Iterable[ChangePoint], line: Sequence[LineCommit]) -> list[Change]:
    """Change points whose ranges overlap, as one change each, oldest first."""
    ordered = sorted(points, key=lambda cp: (cp.after.index, cp.before.index, cp.name))
    clusters: list[list[ChangePoint]] = []
    for point in ordered:
        if clusters and point.before.index < min(m.after.index for m in clusters[-1]):
            clusters[-1].append(point)
        else:
            clusters.append([point])
    changes = []
    for members in clusters:
        before = max(m.before.index for m in members)
        after = min(m.after.index for m in members)
        if before >= after:  # overlapping pairwise, not all at once: the union then
            before, after = min(m.before.index for m in members), max(m.after.index for m in members)
        members.sort(key=lambda m: (m.name != GEOMETRIC_MEAN, -abs(m.step.ratio - 1), m.name))
        changes.append(Change(group, line[before], line[after], members))
    return changes


def beyond_threshold(change: Change, thresholds: Mapping[str, float], speedups: bool) -> list[ChangePoint]:
    """The results of a change whose step passes the gate's threshold for the group's metric:
    slower by more than it; with ``speedups``, also faster by more than it. The geometric mean
    stands in when no single result passes but it does (then every result of the change counts)."""
    threshold = thresholds[change.group.metric]

    def passes(point: ChangePoint) -> bool:
        ratio = point.step.ratio
        return ratio > 1 + threshold or (speedups and ratio < 1 / (1 + threshold))

    chosen = [m for m in change.results if passes(m)]
    if chosen:
        return chosen
    geometric = [m for m in change.members if m.name == GEOMETRIC_MEAN and passes(m)]
    return change.results if geometric else []


def direction_of(points: Sequence[ChangePoint]) -> str:
    """SLOWDOWN when any of the points is slower (a slowdown is what gates, so it wins a mix)."""
    return SLOWDOWN if any(p.is_slowdown for p in points) else SPEEDUP


def inverted(estimate: RatioEstimate) -> RatioEstimate:
    """before / after from after / before: a speedup read as the gate reads a slowdown."""
    return RatioEstimate(1 / estimate.ratio, 1 / estimate.high if estimate.high > 0 else 0.0,
                         1 / estimate.low if estimate.low > 0 else float("inf"), estimate.confidence,
                         estimate.n_head, estimate.n_base, estimate.log_se, estimate.dof)
