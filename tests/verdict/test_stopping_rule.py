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
    joint_error = _joint_error(grid, lambda _n: joint, 1500, "test-joint")
    bonferroni_error = _joint_error(grid, lambda _n: bonferroni, 1500, "test-joint")
    assert 0.033 <= joint_error <= 0.067, joint_error
    assert bonferroni_error < joint_error


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


def test_a_last_look_after_rounds_cut_short_spends_the_error_the_looks_not_made_left() -> None:
    grid = looks.check_rounds(MIN_ROUNDS, 40)  # 5, 7, 10, 14, 20, 28, 40: 7 looks
    per_look = looks.look_confidence(0.95, grid)
    # Rounds that ended at a look end with it.
    assert looks.final_look_confidence(0.95, grid, 14, cut_short=False) == per_look
    assert looks.final_look_confidence(0.95, grid, 40, cut_short=False) == per_look
    # Cut before the first look: nothing was spent, the last look has it all.
    assert looks.final_look_confidence(0.95, grid, 3, cut_short=True) == 0.95
    # Some error is always spent by the looks made, and the last look is never narrower than one of them.
    lasts = [looks.final_look_confidence(0.95, grid, rounds, cut_short=True) for rounds in range(6, 40)]
    assert all(0.95 < last <= per_look for last in lasts)
    # Cut at 18, the looks at 5, 7, 10 and 14 made: the looks made and the last one err 5% together.
    last = looks.final_look_confidence(0.95, grid, 18, cut_short=True)
    error = _joint_error((5, 7, 10, 14, 18), lambda n: last if n == 18 else per_look, 1500, "test-last")
    assert 0.033 <= error <= 0.067, error
