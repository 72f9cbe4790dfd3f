"""Where a series changes level: ruptures' PELT on the commits' estimates, penalised by their noise.

The detection is ruptures' (``Pelt``, exact optimal segmentation under a penalty per change point),
not ours; what is ours is what it is fed and the penalty:

* the signal: each measured commit's estimate (log of pyperf's mean), in commit order, gaps left
  out (an unmeasured commit is not a zero), divided by the series' noise scale;
* the cost: least absolute deviation (``model="l1"``, segments of at least two commits): one
  commit measured far off, a slow hour or an unlucky build, moves a median little and a mean much;
* the noise scale: the larger of the commit-to-commit scatter (from the differences of consecutive
  estimates, their median and their mean without the largest: robust to the steps themselves) and
  the commits' own noise (the median standard error from their process means' spread). The process spread alone
  is too small: two builds of the same code differ by a percent or two in time (code layout), far
  more than one session's processes do, and a penalty from it alone flags most A/A series
  (``benchmarks/history.py`` measures both);
* the penalty: ``PENALTY_FACTOR * log(n)`` noise units per change point, BIC's growth with the
  series' length, its factor set on replays of real noise (``benchmarks/history.py``; at most 5% of
  20-commit A/A series flagged).

PELT has no randomness: the same series gives the same change points. Each change point's step is
the ratio of the mean estimates after and before it (over the segments on either side), with a
t-interval from the noise scale.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_cpybench.errors import CpybenchError
from pytest_cpybench.history.series import Group, Point, Series
from pytest_cpybench.results import metadata as md
from pytest_cpybench.verdict.stats import MAX_COUNT_DEVIATION, RatioEstimate, t_quantile

PENALTY_FACTOR = 2.5
MIN_POINTS = 4  # fewer measured commits than this: no detection (a step needs two on each side)
MIN_SEGMENT = 2  # ruptures' least segment for the l1 cost: one commit alone is never a level
CONFIDENCE = 0.95  # of the step's interval
# The least noise scale, relative: a time series is never quieter than this; instruction counts of
# a deterministic result repeat within MAX_COUNT_DEVIATION, so a series of identical builds (a
# documentation change) is flat to that and no smaller wiggle is a level.
NOISE_FLOOR = {md.METRIC_TIME: 0.001, md.METRIC_INSTRUCTIONS: MAX_COUNT_DEVIATION}
GAUSSIAN_MAD = 1.4826  # the median absolute deviation of a normal variable times this is its SD
TRIMMED = 0.1  # the share of the largest consecutive differences the mean leaves out (the steps)
MISSING_RUPTURES = ("change-point detection needs ruptures (and numpy): "
                    "pip install 'pytest-cpybench[history]'")


@dataclass(frozen=True)
class ChangePoint:
    """A level change of one series: between the last commit measured before it and the first after."""

    group: Group
    name: str  # the result, or the geometric mean
    benchmark: str
    before: Point
    after: Point
    step: RatioEstimate  # mean after / mean before, with its interval (n_base/n_head: points each side)
    scale: float  # the series' noise scale (log units)

    @property
    def is_slowdown(self) -> bool:
        return self.step.ratio > 1.0


def noise_scale(points: Sequence[Point], metric: str = md.METRIC_TIME) -> float:
    """How much a commit's estimate scatters (log units): the larger of the commit-to-commit scatter
    and the commits' own standard error, never below the metric's floor."""
    estimates = [point.estimate for point in points]
    differences = sorted(abs(b - a) for a, b in itertools.pairwise(estimates))
    own = statistics.median(point.noise for point in points) if points else 0.0
    floor = NOISE_FLOOR.get(metric, NOISE_FLOOR[md.METRIC_TIME])
    if not differences:
        return max(own, floor)
    # Consecutive differences hold each step once and the noise twice (Var(a - b) = 2 Var). Their
    # median, as an SD over sqrt(2), ignores a few steps; so does their mean without the largest
    # tenth, which also holds when most commits repeat exactly and a few move (instruction counts,
    # where only some code changes move the heap's layout): there the median is zero.
    median = GAUSSIAN_MAD * statistics.median(differences) / math.sqrt(2)
    kept = differences[:len(differences) - max(1, math.ceil(TRIMMED * len(differences)))] or differences
    mean = statistics.fmean(kept) * math.sqrt(math.pi / 2) / math.sqrt(2)
    return max(median, mean, own, floor)


def penalty(points: int) -> float:
    """The cost of one more change point, in noise units."""
    return PENALTY_FACTOR * math.log(points)


def breakpoints(signal: Sequence[float], pen: float) -> list[int]:
    """Where ruptures' PELT (least absolute deviation) starts each new segment of ``signal``."""
    try:
        import numpy
        import ruptures
    except ImportError:
        raise CpybenchError(MISSING_RUPTURES) from None
    if len(signal) < 2 * MIN_SEGMENT:
        return []
    found = ruptures.Pelt(model="l1", min_size=MIN_SEGMENT, jump=1).fit(numpy.asarray(signal, dtype=float))
    return [int(end) for end in found.predict(pen=pen)[:-1]]


def check_available() -> None:
    """Refuse at once, in one line, when ruptures is not installed."""
    breakpoints([0.0] * (2 * MIN_SEGMENT), 1.0)


def change_points(series: Series) -> list[ChangePoint]:
    """The series' change points, oldest first (none with fewer than MIN_POINTS commits)."""
    points = series.points
    if len(points) < MIN_POINTS:
        return []
    scale = noise_scale(points, series.group.metric)
    origin = points[0].estimate
    starts = breakpoints([(point.estimate - origin) / scale for point in points], penalty(len(points)))
    edges = [0, *starts, len(points)]
    found = []
    for number, start in enumerate(starts, 1):
        left, right = points[edges[number - 1]:start], points[start:edges[number + 1]]
        found.append(ChangePoint(series.group, series.name, series.benchmark, points[start - 1], points[start],
                                 step_of(left, right, scale), scale))
    return found


def step_of(left: Sequence[Point], right: Sequence[Point], scale: float,
            confidence: float = CONFIDENCE) -> RatioEstimate:
    """mean(right) / mean(left) of the estimates, as a ratio, with a t-interval from the noise scale."""
    step = statistics.fmean(p.estimate for p in right) - statistics.fmean(p.estimate for p in left)
    se = scale * math.sqrt(1 / len(left) + 1 / len(right))
    dof = max(len(left) + len(right) - 2, 1)
    half = t_quantile(confidence, dof) * se
    return RatioEstimate(math.exp(step), math.exp(step - half), math.exp(step + half), confidence,
                         len(left), len(right), se, dof)
