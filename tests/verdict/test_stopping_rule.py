"""The stopping rule of the interleaved measurement: where it looks (stats.check_rounds) and at what
confidence (stats.check_confidence). That it keeps its promise on real process means, where looking
after every round (the old rule) does not, is benchmarks/tests/test_stopping_rule.py's (on
benchmarks/stopping_rule.py's simulation)."""

from __future__ import annotations

import itertools

import pytest

from pytest_cpybench.measure.interleaved import MIN_ROUNDS
from pytest_cpybench.verdict import stats


@pytest.mark.parametrize(("budget", "expected"), [
    (5, (5,)),
    (6, (5, 6)),
    (10, (5, 7, 10)),
    (40, (5, 7, 10, 14, 20, 28, 40)),
    (100, (5, 7, 10, 14, 20, 28, 39, 55, 77, 100)),
])
def test_check_rounds(budget: int, expected: tuple[int, ...]) -> None:
    rounds = stats.check_rounds(MIN_ROUNDS, budget)
    assert rounds == expected
    assert rounds[0] == MIN_ROUNDS and rounds[-1] == budget
    assert all(earlier < later for earlier, later in itertools.pairwise(rounds))


def test_check_confidence_splits_the_error_over_the_looks() -> None:
    assert stats.check_confidence(0.95, 7) == pytest.approx(1 - 0.05 / 7)
    assert stats.check_confidence(0.95, 1) == 0.95


def test_check_confidence_needs_a_look() -> None:
    with pytest.raises(ValueError, match="at least one check"):
        stats.check_confidence(0.95, 0)


def test_a_last_look_after_rounds_cut_short_spends_the_error_the_looks_not_made_left() -> None:
    grid = stats.check_rounds(MIN_ROUNDS, 40)  # 5, 7, 10, 14, 20, 28, 40: 7 looks
    per_look = stats.check_confidence(0.95, len(grid))
    # Cut at 18: the looks at 5, 7, 10 and 14 were made, three sevenths of the error is left.
    assert stats.final_look_confidence(0.95, grid, 18, cut_short=True) == pytest.approx(1 - 0.05 * 3 / 7)
    # Cut before the first look: nothing was spent, the last look has it all.
    assert stats.final_look_confidence(0.95, grid, 3, cut_short=True) == pytest.approx(0.95)
    # Rounds that ended at a look end with it.
    assert stats.final_look_confidence(0.95, grid, 14, cut_short=False) == per_look
    assert stats.final_look_confidence(0.95, grid, 40, cut_short=False) == per_look
    # However the rounds end, the looks made and the last one spend at most the whole error.
    for rounds in range(1, 40):
        made = sum(1 for check in grid if check <= rounds)
        last = stats.final_look_confidence(0.95, grid, rounds, cut_short=True)
        assert made * (1 - per_look) + (1 - last) == pytest.approx(0.05) or made == len(grid)
        assert 0.95 <= last <= per_look
