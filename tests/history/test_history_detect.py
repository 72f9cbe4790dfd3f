"""Change points of synthetic series: ruptures' PELT finds a step where it is, with its size and
interval, and nothing on a flat series; the same series gives the same answer (pure: no files,
no processes)."""

from __future__ import annotations

import math
import random
import sys

import pytest
from history_data import make_line, noisy_means, result, run_of

from pytest_cpybench.errors import CpybenchError
from pytest_cpybench.history import detect
from pytest_cpybench.history.series import Point, Series, series_of
from pytest_cpybench.results import metadata as md


def _series(levels: list[float | None], seed: int = 1, cv: float = 0.01, build_noise: float = 0.01,
            metric: str = md.METRIC_TIME) -> Series:
    """One result over len(levels) commits (None: not measured): processes around each level, each
    commit's build off by a little (two builds of the same code differ)."""
    rng = random.Random(seed)
    line = make_line(len(levels))
    runs = []
    for commit, level in zip(line, levels, strict=True):
        if level is None:
            continue
        build = level * math.exp(rng.gauss(0, build_noise))
        runs.append(run_of(commit, [result("deepcopy", noisy_means(rng, build, cv=cv), metric=metric)], metric=metric))
    (series,) = series_of(runs, line)
    return series


def test_a_flat_series_has_no_change_point() -> None:
    for seed in range(10):
        assert detect.change_points(_series([1.0] * 20, seed)) == [], seed


def test_a_ten_percent_step_is_found_at_its_commit_with_its_size() -> None:
    series = _series([1.0] * 12 + [1.1] * 8)
    (change,) = detect.change_points(series)
    assert (change.before.index, change.after.index) == (11, 12)
    assert change.step.low < 1.1 < change.step.high
    assert 1.05 < change.step.ratio < 1.15 and change.is_slowdown
    assert (change.step.n_base, change.step.n_head) == (12, 8)


def test_a_step_across_unmeasured_commits_has_them_in_its_range() -> None:
    levels: list[float | None] = [1.0] * 8 + [None, None, None] + [0.8] * 9
    (change,) = detect.change_points(_series(levels))
    assert (change.before.index, change.after.index) == (7, 11)  # the gap is in the range, not a level
    assert not change.is_slowdown and 0.75 < change.step.ratio < 0.85


def test_two_steps_are_two_change_points() -> None:
    found = detect.change_points(_series([1.0] * 7 + [1.2] * 7 + [1.0] * 7))
    assert [(c.before.index, c.after.index) for c in found] == [(6, 7), (13, 14)]


def test_the_same_series_gives_the_same_answer() -> None:
    series = _series([1.0] * 10 + [1.07] * 10, seed=4)
    assert detect.change_points(series) == detect.change_points(series)


def test_fewer_commits_than_the_least_are_not_searched() -> None:
    assert detect.change_points(_series([1.0, 1.0, 2.0])) == []


def test_noise_is_the_larger_of_the_commit_scatter_and_the_process_spread() -> None:
    scattered = _series([1.0] * 20, cv=0.001, build_noise=0.02)
    assert 0.01 < detect.noise_scale(scattered.points) < 0.04  # the builds' scatter
    # Commits that agree better than their processes: the processes' spread is the floor.
    points = [Point(i, make_line(6)[i].sha, 0.001 * (i % 2), 0.03, 10) for i in range(6)]
    assert detect.noise_scale(points) == 0.03


def test_identical_instruction_counts_have_no_change_point_and_a_real_one_does() -> None:
    flat = _series([1e6] * 8, cv=1e-7, build_noise=1e-7, metric=md.METRIC_INSTRUCTIONS)
    assert detect.noise_scale(flat.points, md.METRIC_INSTRUCTIONS) == detect.NOISE_FLOOR[md.METRIC_INSTRUCTIONS]
    assert detect.change_points(flat) == []
    stepped = _series([1e6] * 4 + [1.01e6] * 4, cv=1e-7, build_noise=1e-7, metric=md.METRIC_INSTRUCTIONS)
    (change,) = detect.change_points(stepped)
    assert change.after.index == 4 and change.step.ratio == pytest.approx(1.01, rel=1e-4)


def test_without_ruptures_one_line_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ruptures", None)
    with pytest.raises(CpybenchError) as caught:
        detect.check_available()
    assert str(caught.value) == detect.MISSING_RUPTURES
    assert "pytest-cpybench[history]" in str(caught.value) and "\n" not in str(caught.value)
