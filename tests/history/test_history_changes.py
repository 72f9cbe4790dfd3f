"""Change points grouped into changes, and which changes a confirmation measures (pure)."""

from __future__ import annotations

import math

from history_data import make_line

from pytest_cpybench.history.changes import beyond_threshold, changes_of, direction_of, inverted
from pytest_cpybench.history.detect import ChangePoint
from pytest_cpybench.history.series import GEOMETRIC_MEAN, Group, Point
from pytest_cpybench.verdict.stats import RatioEstimate, Verdict, verdict

GROUP = Group("alpha", "time", "release", "", "fast", "alone")
LINE = make_line(20)
THRESHOLDS = {"time": 0.05, "instructions": 0.01}


def _point(index: int) -> Point:
    return Point(index, LINE[index].sha, 0.0, 0.01, 10)


def _change_point(name: str, before: int, after: int, ratio: float) -> ChangePoint:
    return ChangePoint(GROUP, name, name, _point(before), _point(after),
                       RatioEstimate(ratio, ratio * 0.97, ratio * 1.03, 0.95, 8, 8), 0.01)


def test_overlapping_ranges_are_one_change_with_the_range_they_share() -> None:
    points = [_change_point("deepcopy", 9, 13, 1.12), _change_point("deepcopy_memo", 11, 13, 1.15),
              _change_point(GEOMETRIC_MEAN, 9, 13, 1.08), _change_point("nbody", 15, 17, 0.9)]
    first, second = changes_of(GROUP, points, LINE)
    assert (first.before.index, first.after.index) == (11, 13) and first.commits == 2
    assert [m.name for m in first.members] == [GEOMETRIC_MEAN, "deepcopy_memo", "deepcopy"]  # largest step first
    assert [m.name for m in first.results] == ["deepcopy_memo", "deepcopy"]
    assert [m.name for m in second.members] == ["nbody"]


def test_only_steps_beyond_the_threshold_are_confirmed_and_speedups_when_asked() -> None:
    (small,) = changes_of(GROUP, [_change_point("nbody", 3, 4, 1.03)], LINE)
    assert beyond_threshold(small, THRESHOLDS, speedups=True) == []
    (slower,) = changes_of(GROUP, [_change_point("nbody", 3, 4, 1.08), _change_point("float", 3, 4, 1.02)], LINE)
    assert [m.name for m in beyond_threshold(slower, THRESHOLDS, speedups=False)] == ["nbody"]
    (faster,) = changes_of(GROUP, [_change_point("nbody", 3, 4, 0.9)], LINE)
    assert beyond_threshold(faster, THRESHOLDS, speedups=False) == []
    assert [m.name for m in beyond_threshold(faster, THRESHOLDS, speedups=True)] == ["nbody"]
    assert direction_of(beyond_threshold(faster, THRESHOLDS, speedups=True)) == "speedup"


def test_the_geometric_mean_beyond_the_threshold_confirms_every_result_of_its_change() -> None:
    (change,) = changes_of(GROUP, [_change_point(GEOMETRIC_MEAN, 3, 4, 1.06), _change_point("a", 3, 4, 1.04),
                                   _change_point("b", 3, 4, 1.045)], LINE)
    assert sorted(m.name for m in beyond_threshold(change, THRESHOLDS, speedups=False)) == ["a", "b"]


def test_a_speedup_is_judged_as_the_gate_judges_a_slowdown() -> None:
    faster = RatioEstimate(0.8, 0.78, 0.82, 0.95, 10, 10)
    slower = inverted(faster)
    assert math.isclose(slower.ratio, 1.25) and math.isclose(slower.low, 1 / 0.82)
    assert verdict(slower, 0.05) is Verdict.REGRESSION
    assert verdict(inverted(RatioEstimate(0.97, 0.9, 1.04, 0.95, 10, 10)), 0.05) is not Verdict.REGRESSION
