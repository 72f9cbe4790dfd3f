"""A branch's stored results as series over its first-parent commits (pure: no files, no processes).

One series per result and per *group*: the machine, the metric, the build configuration, pyperf's
mode and the load the result was measured under (alone, or alongside other workers:
:func:`pytest_cpybench.verdict.compare.load_of`). Results of one group were measured alike, so
their differences from commit to commit are the code's, the builds' and the machine's; results of
two groups are never mixed in one series. Each group also has a geometric-mean series.

A point is one commit's estimate of a result: the log of pyperf's mean, and its noise, the standard
error of that log from the spread of the process means. Commits the store does not hold are gaps:
the series skips them (they are not zeros), and the group says which they were.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import pyperf

from pytest_cpybench.results import metadata as md
from pytest_cpybench.verdict.compare import load_of
from pytest_cpybench.verdict.stats import process_means

GEOMETRIC_MEAN = "geometric mean"
ALONE, ALONGSIDE, MIXED = "alone", "alongside", "alone and alongside"
UNKNOWN_MODE = "unknown"


@dataclass(frozen=True)
class LineCommit:
    """A commit of the branch's first-parent line; ``index`` 0 is the oldest of the line as read."""

    index: int
    sha: str
    subject: str = ""
    date: str = ""  # the committer date, ISO 8601 (what the store names results by)

    @property
    def short(self) -> str:
        return self.sha[:7]


@dataclass(frozen=True)
class Group:
    """Results measured alike: one machine, metric, build configuration, mode and load."""

    machine: str
    metric: str
    preset: str
    configure_flags: str
    mode: str
    load: str

    @property
    def label(self) -> str:
        """ "time, release build, fast mode, measured alone" (the machine is said apart)."""
        build = self.preset + (f" {self.configure_flags}" if self.configure_flags else "")
        return f"{self.metric}, {build} build, {self.mode} mode, measured {self.load}"

    @property
    def slug(self) -> str:
        """The group as a file name part, the machine left out: ``time-release-fast-alone``."""
        flags = "-cfg" + hashlib.sha256(self.configure_flags.encode()).hexdigest()[:8] if self.configure_flags else ""
        return safe_name(f"{self.metric}-{self.preset}{flags}-{self.mode}-{self.load.replace(' ', '-')}")


@dataclass(frozen=True)
class Point:
    """One commit's estimate of a result: log of the mean, and its standard error."""

    index: int  # where the commit is on the line
    sha: str
    estimate: float  # log of pyperf's mean of the result's values
    noise: float  # standard error of ``estimate``: the process means' spread over the root of their count
    processes: int

    @property
    def mean(self) -> float:
        return math.exp(self.estimate)


@dataclass
class Series:
    """One result (or the group's geometric mean) over the commits its group holds it for."""

    group: Group
    name: str  # the result's name, or GEOMETRIC_MEAN
    benchmark: str  # the pyperformance benchmark producing it ("" for the geometric mean)
    unit: str
    points: list[Point] = field(default_factory=list)
    members: tuple[str, ...] = ()  # the geometric mean's results

    @property
    def is_geometric_mean(self) -> bool:
        return self.name == GEOMETRIC_MEAN


@dataclass(frozen=True)
class StoredRun:
    """One commit's stored results for one machine, build configuration and metric (a baseline's
    worth: per benchmark the newest usable results)."""

    sha: str
    machine: str
    metric: str
    preset: str
    configure_flags: str
    results: tuple[pyperf.Benchmark, ...]


@dataclass(frozen=True)
class Gap:
    """Consecutive commits of the line a group holds no result of, between two it does."""

    commits: tuple[LineCommit, ...]

    @property
    def first(self) -> LineCommit:
        return self.commits[0]

    @property
    def last(self) -> LineCommit:
        return self.commits[-1]

    @property
    def count(self) -> int:
        return len(self.commits)


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text)


def load_label(result: pyperf.Benchmark) -> str:
    """How the result's processes ran: alone, alongside other workers, or some of each."""
    load = load_of(result)
    if not load or load == {0}:
        return ALONE
    return ALONGSIDE if 0 not in load else MIXED


def mode_of(result: pyperf.Benchmark) -> str:
    return str(result.get_metadata().get(md.MODE) or UNKNOWN_MODE)


def point_of(result: pyperf.Benchmark, commit: LineCommit) -> Point:
    """A result's estimate at a commit: the log of its mean, the spread of its process means."""
    means = process_means(result)
    logs = [math.log(value) for value in means if value > 0]
    noise = statistics.stdev(logs) / math.sqrt(len(logs)) if len(logs) >= 2 else 0.0
    return Point(commit.index, commit.sha, math.log(result.mean()), noise, len(means))


def series_of(runs: Iterable[StoredRun], line: Sequence[LineCommit],
              wanted: Callable[[pyperf.Benchmark], bool] | None = None) -> list[Series]:
    """Every result's series (and each group's geometric mean) over the commits of ``line``;
    runs of commits not on the line are left out. Sorted by group, then name."""
    by_sha = {commit.sha: commit for commit in line}
    found: dict[tuple[Group, str], Series] = {}
    for run in runs:
        commit = by_sha.get(run.sha)
        if commit is None:
            continue
        for result in run.results:
            if (wanted is not None and not wanted(result)) or result.mean() <= 0:
                continue
            group = Group(run.machine, run.metric, run.preset, run.configure_flags, mode_of(result),
                          load_label(result))
            series = found.get((group, result.get_name()))
            if series is None:
                owner = str(result.get_metadata().get(md.BENCHMARK_NAME) or result.get_name())
                series = found[(group, result.get_name())] = Series(group, result.get_name(), owner,
                                                                    result.get_unit() or "second")
            if all(point.index != commit.index for point in series.points):
                series.points.append(point_of(result, commit))
    everything = []
    for group in sorted({group for group, _ in found}, key=_group_order):
        members = sorted((s for (g, _), s in found.items() if g == group), key=lambda s: s.name)
        for series in members:
            series.points.sort(key=lambda point: point.index)
        geometric = geometric_mean_series(group, members)
        everything.extend([geometric, *members] if geometric is not None else members)
    return everything


def _group_order(group: Group) -> tuple[str, ...]:
    return (group.machine, group.metric, group.preset, group.configure_flags, group.mode, group.load)


def geometric_mean_series(group: Group, members: Sequence[Series]) -> Series | None:
    """The geometric mean of the group's results, each as a ratio to its own value at the series'
    first commit, at every commit holding all of the results measured most often (a result added
    later, or missing at a few commits, would otherwise move the mean by what it is, not by how it
    changed). None with fewer than two such results."""
    if len(members) < 2:
        return None
    most = max(len(series.points) for series in members)
    core = [series for series in members if len(series.points) == most]
    if len(core) < 2:
        return None
    by_index = [{point.index: point for point in series.points} for series in core]
    shared = sorted(set.intersection(*(set(points) for points in by_index)))
    if not shared:
        return None
    first = [points[shared[0]].estimate for points in by_index]
    result = Series(group, GEOMETRIC_MEAN, "", "ratio", members=tuple(series.name for series in core))
    for index in shared:
        points = [by_index_of[index] for by_index_of in by_index]
        estimate = statistics.fmean(p.estimate - base for p, base in zip(points, first, strict=True))
        noise = math.sqrt(sum(p.noise**2 for p in points)) / len(points)
        result.points.append(Point(index, points[0].sha, estimate, noise, min(p.processes for p in points)))
    return result


def gaps(indexes: Iterable[int], line: Sequence[LineCommit]) -> list[Gap]:
    """The commits of ``line`` between the first and the last of ``indexes`` that are not in it, as
    runs of consecutive commits."""
    held = sorted(set(indexes))
    found = []
    for before, after in itertools.pairwise(held):
        if after > before + 1:
            found.append(Gap(tuple(line[before + 1:after])))
    return found


def missing_from(series: Series, indexes: Iterable[int]) -> list[int]:
    """The commits of ``indexes`` (those its group holds) at which a series has no point."""
    held = {point.index for point in series.points}
    return sorted(set(indexes) - held)
