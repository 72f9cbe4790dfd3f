"""--cpython-parallel=auto: the sides of a round at once where the session has a physical core per
side, in turn otherwise; the session's header says which and why."""

from __future__ import annotations

import pytest
from helpers import recorded_contention

from pytest_cpybench.measure import cpus
from pytest_cpybench.options import settings_from
from pytest_cpybench.session.measurement import TimeAtOnce, TimeInTurn, measurement_for, sides_line


def test_free_cores_measure_the_sides_at_once(two_cores: None) -> None:
    """...unless they slow each other down: tests/measure/test_contention.py."""
    settings = settings_from({})
    assert sides_line(settings, measured=recorded_contention("quiet")).startswith(
        "sides at once, a physical core each (0 and 1); busy together, one ran a test loop 1.0")
    assert sides_line(settings_from({"cpython-parallel": "yes"})) == "sides at once, a physical core each (0 and 1)"
    assert isinstance(measurement_for(settings, print), TimeAtOnce)


def test_workers_of_one_core_each_take_turns(two_cores: None) -> None:
    assert sides_line(settings_from({}), ["0", "1"]) == "sides in turn: -n 2 leaves each worker one core (0, 1)"


def test_an_affinity_of_one_cpu_takes_turns(two_cores: None) -> None:
    assert sides_line(settings_from({"cpython-affinity": "1"})) == "sides in turn: --cpython-affinity=1 is one core"


def test_a_machine_of_one_core_takes_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda _pid: {3})
    assert sides_line(settings_from({})) == "sides in turn: this process may use one core (3)"


def test_hyperthreads_of_one_core_are_not_two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda _pid: {0, 1})
    monkeypatch.setattr(cpus, "_sysfs_siblings", lambda cpu: [0, 1])
    assert sides_line(settings_from({})).startswith("sides in turn")


def test_no_keeps_turns_whatever_the_machine(two_cores: None) -> None:
    settings = settings_from({"cpython-parallel": "no"})
    assert sides_line(settings) == "sides in turn (--cpython-parallel=no)"
    assert type(measurement_for(settings, print)) is TimeInTurn
