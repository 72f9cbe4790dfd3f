"""When an interleaved measurement looks at its verdicts, and at what confidence each look.

The gate measures in rounds and may stop at any of a few looks (:func:`check_rounds`): 5, 7, 10,
14, 20, 28 and 40 rounds for the default budget. Every look is another chance to stop on noise, so
each look's interval must be wider than the promised confidence alone would make it: the chance
that *any* look excludes the true ratio must stay within ``1 - confidence``.

Bonferroni's split (each of K looks at ``1 - (1 - confidence) / K``) guarantees that without
knowing how the looks correlate, and pays for it: the looks share their rounds (the look at 14 holds
the 10 of the look before), so they err together, and K looks at 99.29% err together 3.4% of the
time, not 5%. Here the looks' joint error is computed instead, as group-sequential designs do
(Pocock's constant boundary): :data:`SIMULATIONS` measurements of rounds that differ only by noise
(independent normal log-ratios, the null hypothesis) are judged at every look with the interval the
gate itself computes (the paired t-interval, Yuen's trimmed one from ``stats.TRIM_FROM_ROUNDS`` rounds),
and each look's confidence is the level at which the share of them excluding the truth at some look is
``1 - confidence``. Its intervals are narrower than Bonferroni's (99.0% rather than 99.29% for the
default grid at 95%), with the same promise. Both statistics are free of the noise's scale, so one
simulation serves every benchmark; it is seeded by the grid, so a grid always gets the same
confidence.

The simulation assumes normal rounds; on real process means (heavy tails, a few slow processes)
the promise is approximate. benchmarks/stopping_rule.py measures it on the seed results.
"""

from __future__ import annotations

import functools
import math
import random
from array import array
from collections.abc import Sequence

from pytest_cpybench.verdict import stats

# Simulated measurements per grid: the level found is the 5% quantile of 10,000 smallest p-values,
# within about 5% of its value (the intervals within 0.5%); about a second for the default grid.
SIMULATIONS = 10_000


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


def look_confidence(confidence: float, checks: Sequence[int]) -> float:
    """The confidence of every look on the grid ``checks``, such that all of them together exclude
    the true ratio with probability ``1 - confidence`` (under normal rounds): the error of a look is
    the ``1 - confidence`` quantile of the smallest p-value over the looks."""
    if not checks:
        raise ValueError("at least one check is needed")
    if len(checks) == 1:
        return confidence
    return 1 - _look_error(1 - confidence, tuple(checks))


def final_look_confidence(confidence: float, checks: Sequence[int], rounds: int, cut_short: bool) -> float:
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
    if not cut_short or len(checks) == 1:
        return look_confidence(confidence, checks)
    if rounds >= checks[-1]:  # the grid's last look was made
        return look_confidence(confidence, checks)
    if rounds <= checks[0]:  # no look was made: the last look has the whole error
        return confidence
    return 1 - _last_look_error(1 - confidence, tuple(checks), rounds)


@functools.lru_cache(maxsize=64)
def _look_error(error: float, checks: tuple[int, ...]) -> float:
    smallest = sorted(min(look) for look in zip(*(_null(checks).p_values(n) for n in checks), strict=True))
    return smallest[_quantile_index(error, len(smallest))]


@functools.lru_cache(maxsize=256)
def _last_look_error(error: float, checks: tuple[int, ...], rounds: int) -> float:
    per_look = _look_error(error, checks)
    made = [check for check in checks if check < rounds]
    null = _null(checks)
    excluded_before = [min(look) < per_look for look in zip(*(null.p_values(n) for n in made), strict=True)]
    left = _quantile_index(error, SIMULATIONS) + 1 - sum(excluded_before)
    if left <= 0:  # the looks made spent the whole error (sampling noise): the last look gets a look's
        return per_look
    last = sorted(p for p, excluded in zip(null.p_values(rounds), excluded_before, strict=True) if not excluded)
    return max(per_look, last[left - 1])


def _quantile_index(share: float, count: int) -> int:
    return max(0, min(count - 1, math.ceil(share * count) - 1))


class _NullMeasurements:
    """:data:`SIMULATIONS` measurements of ``rounds`` rounds whose log-ratios are pure noise
    (independent standard normal), and the two-sided p-value of the gate's interval at any round."""

    def __init__(self, rounds: int, seed: str) -> None:
        rng = random.Random(seed)
        self.draws = [array("d", (rng.gauss(0.0, 1.0) for _ in range(rounds))) for _ in range(SIMULATIONS)]
        self._p_values: dict[int, list[float]] = {}

    def p_values(self, rounds: int) -> list[float]:
        if rounds not in self._p_values:
            self._p_values[rounds] = [_p_value(list(draw[:rounds])) for draw in self.draws]
        return self._p_values[rounds]


@functools.lru_cache(maxsize=8)
def _null(checks: tuple[int, ...]) -> _NullMeasurements:
    return _NullMeasurements(checks[-1], seed="looks:" + ",".join(map(str, checks)))


def _p_value(logs: list[float]) -> float:
    """The two-sided p-value of "the true log-ratio is 0" from ``logs``, by the interval
    :func:`stats.paired_ratio_interval` computes: Yuen's trimmed t once it trims, Student's t before."""
    n = len(logs)
    if stats.trimmed_count(n, stats.PAIRED_TRIM):
        centre, standard_error, dof = stats.trimmed_mean(logs, stats.PAIRED_TRIM)
    else:
        centre, standard_error, dof = math.fsum(logs) / n, math.sqrt(stats.sample_variance(logs) / n), n - 1
    return 1 - stats.t_central_probability(abs(centre) / standard_error, dof)
