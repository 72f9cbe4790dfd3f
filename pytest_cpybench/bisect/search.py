"""Find the commit that changed a benchmark: a bisection that survives noise.

A plain bisection asks "is this commit good or bad?" once per step and trusts the answer;
with timings that drift and scatter by a few percent, one wrong answer sends the search into
the wrong half for good. Here each step measures the probed commit *interleaved with both
ends* (good and bad) and asks where it sits between them: its **share** of the change,

    share = log(probe / good) / log(bad / good)      (0: like good, 1: like bad)

with a confidence interval (Fieller's, over the interleaved rounds: each round gives one
``(log probe/good, log bad/good)`` pair, so drift common to a round cancels). A step decides:

- ``like good`` when the whole interval is below one half, ``like bad`` when above;
- ``in between`` when the interval sits inside (SPLIT, 1 - SPLIT): part of the change came
  before the commit and part after, so the search follows *both* halves (a regression that
  entered in two steps is reported as two commits);
- ``ambiguous`` otherwise (after the measuring loop's extra rounds): both halves are searched,
  each first checked for a change at all, rather than a side picked at random;
- ``no change`` when the two ends themselves cannot be told apart in the step.

Everything here is pure: the search takes a ``probe`` callable that measures, so the same
logic runs on real builds (:mod:`.bisector`) and in unit tests.
"""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyperf

from pytest_cpybench.cpython.git import LogEntry
from pytest_cpybench.verdict.stats import DEFAULT_CONFIDENCE, RatioEstimate, process_means, t_quantile

# A commit counts as "in between" when its share interval lies inside (SPLIT, 1 - SPLIT): at
# least a fifth of the change on each side of it. Smaller parts are not told apart from noise.
SPLIT = 0.2


class Decision(enum.Enum):
    GOOD = "like good"
    BAD = "like bad"
    BETWEEN = "in between"
    AMBIGUOUS = "ambiguous"
    NO_CHANGE = "no change"  # the step's ends cannot be told apart
    CHANGED = "changed"  # an ends-only check (no commit left to probe inside the range) found a change
    SKIPPED = "skipped"  # does not build, or the benchmark crashed on it


@dataclass(frozen=True)
class Position:
    """Where a probed commit sits between the ends of its step."""

    share: float  # 0: like good, 1: like bad (NaN when the ends do not differ at all)
    low: float  # the share's interval; -inf/inf when the ends cannot be told apart
    high: float
    change: RatioEstimate  # bad / good, measured in the same rounds
    rounds: int
    probe_change: RatioEstimate | None = None  # probe / good (None without a probe)


def round_logs(good: pyperf.BenchmarkSuite, bad: pyperf.BenchmarkSuite,
               probe: pyperf.BenchmarkSuite | None = None,
               results: Collection[str] | None = None) -> list[tuple[float, float]]:
    """Per interleaved round, ``(log probe/good, log bad/good)`` averaged over the results the
    three suites share, or over ``results`` among them (without a probe: ``(0, log bad/good)``).

    Round r is the r-th worker process with values on every side, as the interleaving runs them.
    """
    sides = [good, bad] + ([probe] if probe is not None else [])
    names = sorted(set.intersection(*(set(s.get_benchmark_names()) for s in sides)))
    if results:
        names = [name for name in names if name in results]
    if not names:
        return []
    per_result = []
    for name in names:
        means = [process_means(side.get_benchmark(name)) for side in sides]
        rounds = min(len(m) for m in means)
        per_result.append([tuple(m[r] for m in means) for r in range(rounds)])
    rounds = min(len(rows) for rows in per_result)
    pairs = []
    for r in range(rounds):
        rows = [rows[r] for rows in per_result]
        bad_logs = [math.log(row[1] / row[0]) for row in rows]
        probe_logs = [math.log(row[2] / row[0]) for row in rows] if probe is not None else [0.0] * len(rows)
        pairs.append((statistics.fmean(probe_logs), statistics.fmean(bad_logs)))
    return pairs


def locate(pairs: Sequence[tuple[float, float]], confidence: float = DEFAULT_CONFIDENCE) -> Position:
    """The probe's share of the good-to-bad change, with Fieller's interval for a ratio of means.

    With x = log(probe/good) and y = log(bad/good) per round, the share is mean(x) / mean(y).
    The interval is every f for which mean(x - f y) = 0 is not rejected by a t-test over the
    rounds: ``a f^2 - 2 b f + c <= 0`` below. When mean(y) is not itself significant (a <= 0)
    no finite interval exists: the ends cannot be told apart.
    """
    n = len(pairs)
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    if n < 2:
        change = RatioEstimate(math.exp(ys[0]) if ys else 1.0, 0.0, math.inf, confidence, n, n)
        return Position(math.nan, -math.inf, math.inf, change, n)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx, syy = statistics.variance(xs), statistics.variance(ys)
    sxy = statistics.covariance(xs, ys)
    t = t_quantile(confidence, n - 1)
    change, probe_change = _log_mean_estimate(my, syy, n, t, confidence), _log_mean_estimate(mx, sxx, n, t, confidence)
    share = mx / my if my else math.nan
    a = my * my - t * t * syy / n
    b = mx * my - t * t * sxy / n
    c = mx * mx - t * t * sxx / n
    if a <= 0:
        return Position(share, -math.inf, math.inf, change, n, probe_change)
    root = math.sqrt(max(b * b - a * c, 0.0))
    return Position(share, (b - root) / a, (b + root) / a, change, n, probe_change)


def _log_mean_estimate(mean: float, variance: float, n: int, t: float, confidence: float) -> RatioEstimate:
    """exp(mean of n paired log ratios), with its t-interval."""
    se = math.sqrt(variance / n)
    return RatioEstimate(math.exp(mean), math.exp(mean - t * se), math.exp(mean + t * se), confidence, n, n, se, n - 1)


def classify(position: Position, min_change: float = 0.0) -> Decision:
    """The step's decision from the probe's position (see the module docstring).

    ``min_change`` (a log ratio; 0 for the first step) is the smallest change between the step's
    ends worth following: a fifth of the whole good-to-bad change. Ends that confidently differ by
    less (two builds of equal sources can differ by a percent or two) hold no part of the change.
    """
    if _within(position.change, min_change):
        return Decision.NO_CHANGE
    if position.low > SPLIT and position.high < 1 - SPLIT:
        return Decision.BETWEEN
    if position.high < 0.5:
        return Decision.GOOD
    if position.low > 0.5:
        return Decision.BAD
    return Decision.AMBIGUOUS


def ends_decision(change: RatioEstimate, min_change: float = 0.0) -> Decision:
    """Two sides only (a range's ends, or a commit and its parent): CHANGED when they confidently
    differ by more than ``min_change`` (a log ratio), else NO_CHANGE: a commit is named only on
    evidence."""
    if not change.has_interval or change.low <= 1.0 <= change.high:
        return Decision.NO_CHANGE
    nearest = min(abs(math.log(change.low)), abs(math.log(change.high)))
    return Decision.CHANGED if nearest > min_change else Decision.NO_CHANGE


def ends_settled(change: RatioEstimate, min_change: float = 0.0) -> bool:
    """More rounds cannot change :func:`ends_decision`'s answer much: changed, or confidently small."""
    return ends_decision(change, min_change) is Decision.CHANGED or _confidently_small(change, min_change)


def step_settled(position: Position, min_change: float, ends_only: bool) -> bool:
    """A step may stop measuring: its decision is clear, or its ends confidently differ by less than
    ``min_change`` (more rounds would not make that range hold the change)."""
    if ends_only:
        return ends_settled(position.change, min_change)
    if _confidently_small(position.change, min_change):
        return True
    return classify(position, min_change) not in (Decision.AMBIGUOUS, Decision.NO_CHANGE)


def min_change_of(change: RatioEstimate) -> float:
    """The smallest change worth following, from the whole good-to-bad change (a log ratio)."""
    return SPLIT * abs(math.log(change.ratio))


def _confidently_small(change: RatioEstimate, min_change: float) -> bool:
    """The whole interval lies within ``min_change`` of 1 (not merely "not significant": a wide
    interval around 1 says nothing yet)."""
    if min_change <= 0 or not change.has_interval:
        return False
    return max(abs(math.log(change.low)), abs(math.log(change.high))) < min_change


def _within(change: RatioEstimate, min_change: float) -> bool:
    """No significant change, or one confidently smaller than ``min_change``."""
    if not change.has_interval or change.low <= 1.0 <= change.high:
        return True
    return max(abs(math.log(change.low)), abs(math.log(change.high))) < min_change


def combine(decisions: Sequence[Decision]) -> Decision:
    """One decision for a step from several benchmarks' decisions.

    Benchmarks whose ends do not differ say nothing about this range. When the others disagree
    (one is like good, another like bad) their changes entered at different commits: in between.
    """
    telling = [d for d in decisions if d is not Decision.NO_CHANGE]
    if not telling:
        return Decision.NO_CHANGE
    if Decision.AMBIGUOUS in telling:
        return Decision.AMBIGUOUS
    kinds = set(telling)
    return kinds.pop() if len(kinds) == 1 else Decision.BETWEEN


# -- the search --------------------------------------------------------------------------


@dataclass
class Step:
    """One measurement of the search: a probe between two ends, or (probe None) the ends alone."""

    good: int  # indexes into the searched history: 0 is the good end, the last is the bad end
    bad: int
    probe: int | None
    decision: Decision
    positions: dict[str, Position] = field(default_factory=dict)  # per benchmark
    seconds: float = 0.0
    note: str = ""  # why a commit was skipped


@dataclass(frozen=True)
class Culprit:
    """Where (part of) the change entered: ``commits`` are the candidates after ``parent``; one
    commit when the search could pin it down, several when untestable commits hide which."""

    parent: int
    commits: tuple[int, ...]


@dataclass
class Search:
    steps: list[Step] = field(default_factory=list)
    culprits: list[Culprit] = field(default_factory=list)
    quiet: list[tuple[int, int]] = field(default_factory=list)  # ranges found without a change
    unresolved: list[tuple[int, int]] = field(default_factory=list)  # ranges left for lack of budget
    skipped: set[int] = field(default_factory=set)

    @property
    def ambiguous(self) -> list[Step]:
        return [s for s in self.steps if s.decision is Decision.AMBIGUOUS]


@dataclass
class Confirmation:
    """A commit found, re-measured interleaved with its parent: the change across it."""

    parent: int
    commit: int
    changes: dict[str, RatioEstimate]  # per benchmark: commit / parent
    rounds: int
    seconds: float
    confirmed: bool = True  # the change across the commit is confidently a real part of the whole
    note: str = ""  # why not


@dataclass
class Bisection:
    """Everything a bisection found, in the order it happened."""

    history: list[LogEntry]  # the good end, then every commit up to the bad end
    benchmarks: list[str]
    search: Search
    change: dict[str, RatioEstimate]  # per benchmark: bad / good, from the first full-range step
    confirmations: list[Confirmation] = field(default_factory=list)
    builds: dict[str, str] = field(default_factory=dict)  # sha -> "built", "cached" or "failed"
    seconds: float = 0.0
    record: Path | None = None
    metric: str = "time"

    @property
    def found(self) -> bool:
        """True when the search ended on commits, each confirmed, and left no range unsearched."""
        return (bool(self.search.culprits) and not self.search.unresolved
                and all(c.confirmed for c in self.confirmations))

    @property
    def no_change(self) -> bool:
        """The whole range measured without a change: there was nothing to bisect."""
        first = next((s for s in self.search.steps if s.good == 0 and s.bad == len(self.history) - 1
                      and s.decision is not Decision.SKIPPED), None)
        return first is not None and first.decision is Decision.NO_CHANGE


Probe = Callable[[int, int, int | None], Step]


def middle_out(low: int, high: int) -> Iterator[int]:
    """The commits strictly between ``low`` and ``high``, nearest to the middle first (as ``git
    bisect skip`` moves away from an untestable midpoint)."""
    middle = (low + high) / 2
    yield from sorted(range(low + 1, high), key=lambda i: (abs(i - middle), i))


def search(last: int, probe: Probe, max_steps: int) -> Search:
    """Bisect the history ``0..last`` (0 good, ``last`` bad) with at most ``max_steps`` probes.

    ``probe(good, bad, i)`` measures commit i against the two ends and returns its Step;
    ``probe(good, bad, None)`` measures the ends alone (CHANGED or NO_CHANGE): the first step, and
    the first of every range not yet known to hold a change.
    """
    found = Search()
    # (good, bad, verified): verified ranges are known to hold a change between their ends.
    pending: list[tuple[int, int, bool]] = [(0, last, False)]  # nothing measured yet
    while pending:
        low, high, verified = pending.pop()
        if len(found.steps) >= max_steps:
            found.unresolved.append((low, high))
            continue
        if not verified:
            # Do the ends differ at all? Measured with builds we have: a range without the change
            # costs no new build.
            step = probe(low, high, None)
            found.steps.append(step)
            if step.decision is not Decision.CHANGED:
                found.quiet.append((low, high))
                continue
            pending.append((low, high, True))
            continue
        inside = [i for i in middle_out(low, high) if i not in found.skipped]
        if not inside:
            found.culprits.append(Culprit(low, tuple(range(low + 1, high + 1))))
            continue
        step = probe(low, high, inside[0])
        found.steps.append(step)
        pending.extend(_next_ranges(found, step, low, high, verified))
    found.culprits.sort(key=lambda c: c.parent)
    found.unresolved.sort()
    found.quiet.sort()
    return found


def _next_ranges(found: Search, step: Step, low: int, high: int,
                 verified: bool) -> list[tuple[int, int, bool]]:
    """What to search after ``step``, last popped first (so lower ranges are searched first)."""
    middle = step.probe
    assert middle is not None
    decision = step.decision
    if decision is Decision.SKIPPED:
        found.skipped.add(middle)
        return [(low, high, verified)]
    if decision is Decision.NO_CHANGE:
        if not verified:
            found.quiet.append((low, high))
            return []
        # The ends differed before: this step's noise hid it. Search both halves, each checked.
        step.decision = decision = Decision.AMBIGUOUS
        step.note = "the ends measured alike in this step, though they differed before"
    if decision is Decision.GOOD:
        return [(middle, high, True)]
    if decision is Decision.BAD:
        return [(low, middle, True)]
    # In between: both halves hold a part of the change. Ambiguous: either might; check each.
    both_changed = decision is Decision.BETWEEN
    return [(middle, high, both_changed), (low, middle, both_changed)]


def default_max_steps(commits: int) -> int:
    """Room for a clean search, a few skips and one ambiguous split (about twice log2)."""
    return 2 * math.ceil(math.log2(commits + 1)) + 4
