"""The stopping rule of the interleaved measurement: where it looks (looks.check_rounds) and at what
confidence (looks.look_confidence, looks.final_look_confidence). That it keeps its promise on real
process means, where looking after every round (the old rule) does not, is
benchmarks/tests/test_stopping_rule.py's (on benchmarks/stopping_rule.py's simulation)."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable

import pytest

from pytest_cpybench.measure.interleaved import MIN_ROUNDS
from pytest_cpybench.verdict import looks, stats


@pytest.mark.parametrize(("budget", "expected"), [
    (5, (5,)),
    (6, (5, 6)),
    (10, (5, 7, 10)),
    (40, (5, 7, 10, 14, 20, 28, 40)),
    (100, (5, 7, 10, 14, 20, 28, 39, 55, 77, 100)),
])
def test_check_rounds(budget: int, expected: tuple[int, ...]) -> None:
    rounds = looks.check_rounds(MIN_ROUNDS, budget)
    assert rounds == expected
    assert rounds[0] == MIN_ROUNDS and rounds[-1] == budget
    assert all(earlier < later for earlier, later in itertools.pairwise(rounds))


def test_bonferroni_splits_the_error_over_the_looks() -> None:
    assert looks.bonferroni_confidence(0.95, 7) == pytest.approx(1 - 0.05 / 7)
    assert looks.bonferroni_confidence(0.95, 1) == 0.95
    with pytest.raises(ValueError, match="at least one check"):
        looks.bonferroni_confidence(0.95, 0)


def _joint_error(grid: tuple[int, ...], confidence_at: Callable[[int], float], measurements: int,
                 seed: str) -> float:
    """The share of ``measurements`` A/A measurements on normal rounds whose interval, computed by
    the gate's own function (stats.paired_ratio_interval), excludes the true ratio at any look of
    ``grid``, the look after ``n`` rounds at ``confidence_at(n)``: a simulation of its own, by other
    code and another seed than the one looks.py computes its levels from."""
    rng = random.Random(seed)
    excluded = 0
    for _ in range(measurements):
        logs = [rng.gauss(0.0, 0.03) for _ in range(grid[-1])]
        pairs = [(1.0, math.exp(log)) for log in logs]
        excluded += any(not (estimate.low <= 1.0 <= estimate.high)
                        for n in grid
                        for estimate in [stats.paired_ratio_interval(pairs[:n], confidence_at(n))])
    return excluded / measurements


def test_the_looks_together_err_as_promised_and_bonferroni_less() -> None:
    """Each look at the joint level: together they exclude the truth 5% of the time (here within
    the 1,500 measurements' sampling error, 3.3-6.7%), Bonferroni's looks less (3.4% in a million
    measurements: the error it leaves unspent), and the joint looks are narrower."""
    grid = looks.check_rounds(MIN_ROUNDS, 40)
    joint = looks.look_confidence(0.95, grid)
    bonferroni = looks.bonferroni_confidence(0.95, len(grid))
    assert 0.95 < joint < bonferroni
    assert 0.985 < joint < 0.992  # about 99.0%, as the docs say
    joint_error = _joint_error(grid, lambda _n: joint, 1500, "test-joint")
    bonferroni_error = _joint_error(grid, lambda _n: bonferroni, 1500, "test-joint")
    assert 0.033 <= joint_error <= 0.067, joint_error
    assert bonferroni_error < joint_error


@pytest.mark.parametrize("rounds", [5, 9, 10, 11, 20])
def test_a_simulated_p_value_is_where_the_gates_interval_starts_to_exclude_the_truth(rounds: int) -> None:
    """The simulation judges a measurement by the gate's interval: from 10 rounds (trimmed) exactly,
    before (the t-interval of the log-ratios against the gate's delta method) to first order."""
    rng = random.Random(f"p-value:{rounds}")
    logs = [rng.gauss(0.004, 0.01) for _ in range(rounds)]
    p = looks._p_value(logs, stats.PAIRED_TRIM)
    pairs = [(1.0, math.exp(log)) for log in logs]
    tolerance = 1e-9 if rounds >= stats.TRIM_FROM_ROUNDS else 0.02
    wider = stats.paired_ratio_interval(pairs, 1 - p * (1 - tolerance))
    narrower = stats.paired_ratio_interval(pairs, 1 - p * (1 + tolerance))
    assert wider.low <= 1.0 <= wider.high
    assert not narrower.low <= 1.0 <= narrower.high


def test_the_level_is_where_exactly_the_error_of_the_simulated_measurements_is_excluded() -> None:
    grid = looks.check_rounds(MIN_ROUNDS, 40)
    per_look = looks.look_confidence(0.95, grid)
    null = looks._null(grid, stats.PAIRED_TRIM)
    excluded = sum(min(look) < 1 - per_look for look in zip(*(null.look_p_values(n) for n in grid), strict=True))
    assert excluded == round(0.05 * looks.SIMULATIONS)
    # Cut at 18: the looks at 5, 7, 10 and 14, and the last one, exclude as many together.
    last = looks.final_look_confidence(0.95, grid, 18, cut_short=True)
    made = (5, 7, 10, 14)
    excluded = sum(min(made_looks) < 1 - per_look or at_18 < 1 - last
                   for *made_looks, at_18 in zip(*(null.look_p_values(n) for n in made), null.p_values(18),
                                                 strict=True))
    assert excluded == round(0.05 * looks.SIMULATIONS)


def test_the_levels_are_the_same_every_time_and_one_look_is_the_confidence() -> None:
    grid = looks.check_rounds(MIN_ROUNDS, 20)
    first = looks.look_confidence(0.95, grid)
    looks._look_error.cache_clear()
    looks._null.cache_clear()
    assert looks.look_confidence(0.95, grid) == first
    assert looks.look_confidence(0.99, grid) > first
    assert looks.look_confidence(0.95, (5,)) == 0.95
    with pytest.raises(ValueError, match="at least one check"):
        looks.look_confidence(0.95, ())
    for wrong in [(1, 5), (5, 7, 7), (7, 5)]:
        with pytest.raises(ValueError, match="increasing order"):
            looks.look_confidence(0.95, wrong)


def test_a_last_look_after_rounds_cut_short_spends_the_error_the_looks_not_made_left() -> None:
    grid = looks.check_rounds(MIN_ROUNDS, 40)  # 5, 7, 10, 14, 20, 28, 40: 7 looks
    per_look = looks.look_confidence(0.95, grid)
    # Rounds that ended at a look end with it.
    assert looks.final_look_confidence(0.95, grid, 14, cut_short=False) == per_look
    assert looks.final_look_confidence(0.95, grid, 40, cut_short=False) == per_look
    # Cut before the first look: nothing was spent, the last look has it all.
    assert looks.final_look_confidence(0.95, grid, 3, cut_short=True) == 0.95
    # The looks made always spent some of the error; long after the last look made, the last one is
    # wider than a check, just after it (its rounds mostly those of that look) no wider than one.
    lasts = {rounds: looks.final_look_confidence(0.95, grid, rounds, cut_short=True)
             for rounds in range(6, 40) if rounds not in grid}
    assert all(0.95 < last < 0.995 for last in lasts.values())
    assert lasts[18] < per_look
    # Cut at 18, the looks at 5, 7, 10 and 14 made: the looks made and the last one err 5% together.
    last = looks.final_look_confidence(0.95, grid, 18, cut_short=True)
    error = _joint_error((5, 7, 10, 14, 18), lambda n: last if n == 18 else per_look, 1500, "test-last")
    assert 0.033 <= error <= 0.067, error
