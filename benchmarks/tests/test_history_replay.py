"""benchmarks/history.py: the replays are made of the real measurements kept in benchmarks/results,
are seeded (a rerun gives the same numbers), and a step is where it was put."""

from __future__ import annotations

import math
import random

from benchmarks import history
from pytest_cpybench.history import detect
from pytest_cpybench.results import metadata as md


def test_the_pools_come_from_the_kept_results() -> None:
    time_noise, count_noise = history.time_noise(), history.count_noise()
    assert {"deepcopy", "nbody", "json_dumps", "many_optionals"} <= set(time_noise.processes)
    assert len(time_noise.builds["*"]) == 100 + 26 + 5  # standard.json's A/A, the alongside and noise files
    assert all(abs(offset) < 0.15 for offset in time_noise.builds["*"])
    assert time_noise.drift and not count_noise.drift
    assert max(abs(v) for offsets in count_noise.builds.values() for v in offsets) < 0.01  # layout: under 1%


def test_a_replay_is_seeded_and_its_step_is_where_it_was_put() -> None:
    noise = history.time_noise()
    first = history.replay(random.Random(3), noise, md.METRIC_TIME, step=0.5, at=10)
    again = history.replay(random.Random(3), noise, md.METRIC_TIME, step=0.5, at=10)
    assert [p.estimate for p in first.points] == [p.estimate for p in again.points]
    assert len(first.points) == history.COMMITS and first.points[0].processes == history.PROCESSES
    before = sum(p.estimate for p in first.points[:10]) / 10
    after = sum(p.estimate for p in first.points[10:]) / 10
    assert math.isclose(after - before, math.log(1.5), abs_tol=0.05)
    (change,) = detect.change_points(first)
    assert (change.before.index, change.after.index) == (9, 10)


def test_an_instruction_replay_is_counted_once_a_commit() -> None:
    series = history.replay(random.Random(1), history.count_noise(), md.METRIC_INSTRUCTIONS)
    assert all(p.processes == 1 and p.noise == 0 for p in series.points)
