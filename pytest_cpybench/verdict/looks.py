"""When an interleaved measurement looks at its verdicts, and at what confidence each look.

The gate measures in rounds and may stop at any of a few looks (:func:`check_rounds`): 5, 7, 10,
14, 20, 28 and 40 rounds for the default budget. Every look is another chance to stop on noise, so
each look's interval must be wider than the promised confidence alone would make it: the chance
that *any* look excludes the true ratio must stay within ``1 - confidence``.

Bonferroni's split (each of K looks at ``1 - (1 - confidence) / K``) guarantees that without
knowing how the looks correlate, and pays for it: the looks share their rounds (the look at 14
holds the 10 of the look before), so they err together; the default grid's seven looks at 99.29%
err together 3.4% of the time, not 5%.

Here the looks' joint error is computed instead, as group-sequential designs do (Pocock's constant
boundary). :data:`SIMULATIONS` measurements of rounds that differ only by noise (independent normal
log-ratios, the null hypothesis) are judged at every look by the interval the gate computes:
Yuen's trimmed one from ``stats.TRIM_FROM_ROUNDS`` rounds, before that the t-interval of the
log-ratios (the gate's paired interval to first order). Each look's confidence is the level at
which the share of them that exclude the truth at some look is ``1 - confidence``: 98.92% rather
than Bonferroni's 99.29% for the default grid at 95%, the same promise with narrower intervals.
Both statistics are free of the noise's scale, so one simulation serves every benchmark; it is
seeded by the grid, so a grid always gets the same confidence.

The simulation assumes normal rounds; on real process means (heavy tails, a few slow processes)
the promise is approximate. benchmarks/stopping_rule.py measures it on the seed results.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from array import array
from collections.abc import Sequence

from pytest_cpybench.verdict import stats

# Simulated measurements per grid: the level found is the 5% quantile of 20,000 smallest p-values,
# within about 4% of its value (a t quantile within 1%); a second for the default grid, once a
# session (seconds budgets, 200 rounds: several seconds).
SIMULATIONS = 20_000


def check_rounds(min_rounds: int, max_rounds: int, growth: float = 1.4) -> tuple[int, ...]:
    """The rounds after which an interleaved measurement checks its verdicts: ``min_rounds``, then
    each about ``growth`` times the one before (the interval then narrows by about sqrt(growth)),
    and ``max_rounds``: 5, 7, 10, 14, 20, 28, 40 for 5 and 40.

    Few checks on a growing grid, not one after every round: every check is a chance to stop on
    noise, and :func:`look_confidence` pays for each with a wider interval.
    """
    if max_rounds <= min_rounds:
        return (max(1, max_rounds),)
    rounds = [min_rounds]
    # A check just before the last one would cost as much as the last and tell little more.
    while (following := max(rounds[-1] + 1, round(rounds[-1] * growth))) * math.sqrt(growth) <= max_rounds:
        rounds.append(following)
    rounds.append(max_rounds)
    return tuple(rounds)


def bonferroni_confidence(confidence: float, checks: int) -> float:
    """Each of ``checks`` looks at ``1 - (1 - confidence) / checks``: all of them together err with
    probability at most ``1 - confidence`` however they correlate (what the gate used before the
    looks' joint error was computed; the stopping_rule benchmark compares the two)."""
    if checks < 1:
        raise ValueError(f"at least one check is needed, got {checks}")
    return 1 - (1 - confidence) / checks


def look_confidence(confidence: float, checks: Sequence[int], trim: float = stats.PAIRED_TRIM) -> float:
    """The confidence of every look on the grid ``checks``, such that all of them together exclude
    the true ratio with probability ``1 - confidence`` (under normal rounds, for the interval trimmed
    by ``trim`` from ``stats.TRIM_FROM_ROUNDS`` rounds): the error of a look is the ``1 - confidence``
    quantile of the smallest p-value over the looks."""
    grid = _grid(checks)
    if len(grid) == 1:
        return confidence
    return 1 - _look_error(1 - confidence, grid, trim)


def final_look_confidence(confidence: float, checks: Sequence[int], rounds: int, cut_short: bool,
                          trim: float = stats.PAIRED_TRIM) -> float:
    """The confidence of the verdict made from ``rounds`` rounds on the grid ``checks``.

    Rounds that ended at a look (decided there, or the grid's last) end with that look's verdict,
    at :func:`look_confidence`. Rounds cut short between looks by something that does not read the
    ratios (a cost cap, a time limit) end with one more look, at the error the looks never made left
    over: the simulated measurements that no look made excluded the truth are judged once more at
    ``rounds``, at the level that brings the share excluding it to ``1 - confidence``. As far as
    where the rounds stop does not depend on the ratios (a cost cap reads the rounds' seconds, which
    a slow process moves a little: approximately so), the promise holds. Without it, a benchmark cut
    short at round 18 of a 40-round grid would be judged at 99.0% having spent part of its error on
    looks it never made.
    """
    grid = _grid(checks)
    if not cut_short or len(grid) == 1 or rounds >= grid[-1]:  # at a look, or the grid's last was made
        return look_confidence(confidence, grid, trim)
    if rounds <= grid[0]:  # no look was made: the last look has the whole error
        return confidence
    return 1 - _last_look_error(1 - confidence, grid, trim, rounds)


def _grid(checks: Sequence[int]) -> tuple[int, ...]:
    grid = tuple(checks)
    if not grid:
        raise ValueError("at least one check is needed")
    if grid[0] < 2 or any(later <= earlier for earlier, later in itertools.pairwise(grid)):
        raise ValueError(f"checks must be rounds from 2 on, in increasing order; got {grid}")
    return grid


@functools.lru_cache(maxsize=64)
def _look_error(error: float, checks: tuple[int, ...], trim: float) -> float:
    """The error of each look: the smallest p-value over the looks of exactly ``error`` of the
    simulated measurements is below it (ties aside: p-values are continuous)."""
    null = _null(checks, trim)
    smallest = sorted(map(min, zip(*(null.look_p_values(n) for n in checks), strict=True)))
    return smallest[min(_excluded(error), SIMULATIONS - 1)]


@functools.lru_cache(maxsize=256)
def _last_look_error(error: float, checks: tuple[int, ...], trim: float, rounds: int) -> float:
    """The error of a last look after ``rounds`` rounds: the simulated measurements no look made
    excluded the truth from are excluded at ``rounds`` as many times as ``error`` has left."""
    per_look = _look_error(error, checks, trim)
    null = _null(checks, trim)
    made = [check for check in checks if check < rounds]
    excluded_before = [min(look) < per_look for look in zip(*(null.look_p_values(n) for n in made), strict=True)]
    # The looks made are some of the grid's: they excluded at most what all of them did.
    left = _excluded(error) - sum(excluded_before)
    last = sorted(p for p, excluded in zip(null.p_values(rounds), excluded_before, strict=True) if not excluded)
    return last[min(left, len(last) - 1)]


def _excluded(error: float) -> int:
    """How many of the simulated measurements ``error`` allows to exclude the truth."""
    return round(error * SIMULATIONS)


class _NullMeasurements:
    """``SIMULATIONS`` measurements of ``rounds`` rounds whose log-ratios are pure noise
    (independent standard normal), and the two-sided p-value of the gate's interval at any round."""

    def __init__(self, rounds: int, seed: str, trim: float) -> None:
        rng = random.Random(seed)
        self.trim = trim
        self.draws = [array("d", (rng.gauss(0.0, 1.0) for _ in range(rounds))) for _ in range(SIMULATIONS)]
        self._looks: dict[int, array[float]] = {}

    def p_values(self, rounds: int) -> array[float]:
        return array("d", (_p_value(list(draw[:rounds]), self.trim) for draw in self.draws))

    def look_p_values(self, rounds: int) -> array[float]:
        """The p-values at a look of the grid, kept: every level of the grid reads them again."""
        if rounds not in self._looks:
            self._looks[rounds] = self.p_values(rounds)
        return self._looks[rounds]


@functools.lru_cache(maxsize=4)  # a grid of 200 rounds holds 16 MB of draws
def _null(checks: tuple[int, ...], trim: float) -> _NullMeasurements:
    return _NullMeasurements(checks[-1], "looks:" + ",".join(map(str, checks)) + f":{trim!r}", trim)


def _p_value(logs: list[float], trim: float) -> float:
    """The two-sided p-value of "the true log-ratio is 0" from ``logs``, by the interval
    :func:`stats.paired_ratio_interval` computes: Yuen's trimmed t once it trims; before, Student's
    t on the log-ratios (the gate's delta-method interval on the ratio of means is the same to first
    order)."""
    n = len(logs)
    if stats.trimmed_count(n, trim):
        centre, standard_error, dof = stats.trimmed_mean(logs, trim)
    else:
        centre, standard_error, dof = math.fsum(logs) / n, math.sqrt(stats.sample_variance(logs) / n), n - 1
    return 1 - stats.t_central_probability(abs(centre) / standard_error, dof)
