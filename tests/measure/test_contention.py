"""--cpython-parallel=auto's probe: whether the two cores that would measure a round's sides at once
slow each other down (then the sides take turns), on loop times recorded on this project's machine
and on a probe of the machine running the tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import recorded_contention

from pytest_cpybench.measure import contention, cpus
from pytest_cpybench.measure.contention import Contention
from pytest_cpybench.options import settings_from
from pytest_cpybench.session.measurement import TimeAtOnce, sides_line


def test_a_quiet_hour_keeps_the_sides_at_once() -> None:
    quiet = recorded_contention("quiet")
    assert 1.0 <= quiet.asymmetry() < 1.05
    assert not quiet.slows()
    # The loops alone had bursts of the host's load (156 ms against 90): the medians ignore them.
    assert all(0.95 < slowdown < 1.10 for slowdown in quiet.slowdowns())
    line = sides_line(settings_from({}), measured=quiet)
    assert line.startswith("sides at once, a physical core each (")
    assert line.endswith(f"; busy together, one ran a test loop {quiet.asymmetry():.2f}x as long as the other "
                         f"(0: {quiet.slowdowns()[0]:.2f}x, 1: {quiet.slowdowns()[1]:.2f}x its time alone)")


def test_an_evening_whose_cores_slow_each_other_down_takes_turns_and_says_why() -> None:
    evening = recorded_contention("evening")
    assert evening.asymmetry() > contention.ASYMMETRY_LIMIT
    assert evening.slows()
    assert not evening.slows(limit=evening.asymmetry())  # the limit is what decides
    line = sides_line(settings_from({}), measured=evening)
    assert line.startswith("sides in turn: cores ")
    assert f"slow each other down: busy together, one ran a test loop {evening.asymmetry():.2f}x as long" in line
    assert line.endswith("at once again when they no longer do (checked every 5 min)")


def test_yes_and_instruction_counts_keep_the_sides_at_once_whatever_the_probe() -> None:
    evening = recorded_contention("evening")
    for options in ({"cpython-parallel": "yes"}, {"cpython-metric": "instructions"}):
        assert sides_line(settings_from(options), measured=evening).startswith("sides at once"), options


def test_a_probe_that_could_not_be_made_keeps_the_sides_at_once_and_says_so() -> None:
    line = sides_line(settings_from({}), measured="not checked whether they slow each other down (why)")
    assert line.startswith("sides at once") and line.endswith("; not checked whether they slow each other down (why)")


@pytest.mark.usefixtures("subprocesses")
def test_a_probe_of_this_machine_times_each_core_alone_and_together() -> None:
    found = cpus.parallel_cpus(None, 2)
    if found is None:
        pytest.skip("fewer than 2 physical cores: nothing to probe")
    measured = contention.probe(found, cycles=1, loops=3, iterations=100_000)
    assert measured.cpus == tuple(found)
    for times in (*measured.alone, *measured.together):
        assert len(times) == 3 and all(0 < seconds < 5 for seconds in times)
    # The decision the session makes is the one the probe gives.
    assert contention.current(found) is contention.current(found)  # kept, not probed twice
    kept = contention.current(found)
    session = TimeAtOnce(settings_from({}), lambda _line: None)
    chosen = session.side_cpus(2)
    assert chosen == (None if isinstance(kept, Contention) and kept.slows() else found)


@pytest.mark.usefixtures("subprocesses")
def test_a_cpu_the_loop_may_not_use_fails_in_one_line() -> None:
    with pytest.raises(contention.ProbeFailed, match=r"^the test loop pinned to CPU 8191 failed: OSError: "):
        contention.probe(["8191"], cycles=1, loops=1, iterations=10)
    said = contention.current(["8191"])
    assert isinstance(said, str) and said.startswith("not checked whether they slow each other down (the test loop")


@pytest.mark.usefixtures("subprocesses")
def test_sessions_started_within_five_minutes_share_a_check_kept_in_the_cache_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = cpus.parallel_cpus(None, 2)
    if found is None:
        pytest.skip("fewer than 2 physical cores: nothing to probe")
    monkeypatch.setattr(contention, "_probes", {})  # a new session: nothing checked in this process
    first = contention.current(found, tmp_path, "this machine")
    assert isinstance(first, Contention)
    monkeypatch.setattr(contention, "_probes", {})
    assert contention.current(found, tmp_path, "this machine") == first  # read back, not probed again
    # Another machine sharing the cache dir, a corrupt file or a check 5 minutes old: probed again.
    monkeypatch.setattr(contention, "_probes", {})
    assert contention.current(found, tmp_path, "another machine") != first
    kept = tmp_path / contention.FILE_NAME
    document = json.loads(kept.read_text())
    for entry in document["checks"].values():
        entry["at"] -= contention.MAX_AGE
    kept.write_text(json.dumps(document))
    monkeypatch.setattr(contention, "_probes", {})
    again = contention.current(found, tmp_path, "this machine")
    assert isinstance(again, Contention) and again != first
    for corrupt in ("{", '{"format": 1, "checks": []}', '{"format": 1, "checks": {"x": {"at": "soon"}}}'):
        kept.write_text(corrupt)
        monkeypatch.setattr(contention, "_probes", {})
        assert isinstance(contention.current(found, tmp_path, "this machine"), Contention), corrupt
        assert json.loads(kept.read_text())["format"] == contention.FORMAT  # rewritten whole
