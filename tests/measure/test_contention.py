"""--cpython-parallel=auto's check: whether the two cores that would measure a round's sides at once
slow each other down (then the sides take turns), on loop times recorded on this project's machine
and on probes of the machine running the tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import recorded_contention

from pytest_cpybench.measure import contention, cpus
from pytest_cpybench.measure.contention import Contention
from pytest_cpybench.options import settings_from
from pytest_cpybench.session.measurement import TimeAtOnce, sides_line


@pytest.mark.usefixtures("two_cores")
def test_a_quiet_hour_keeps_the_sides_at_once() -> None:
    quiet = recorded_contention("quiet")
    assert 1.0 <= quiet.asymmetry() < 1.05
    assert not quiet.slows()
    # The loops alone had bursts of the host's load (156 ms against 90): the medians ignore them.
    assert all(0.95 < slowdown < 1.10 for slowdown in quiet.slowdowns())
    line = sides_line(settings_from({}), measured=quiet)
    assert line == ("sides at once, a physical core each (0 and 1); busy together, one ran a test loop "
                    f"{quiet.asymmetry():.2f}x as long as the other (0: {quiet.slowdowns()[0]:.2f}x, "
                    f"1: {quiet.slowdowns()[1]:.2f}x its time alone)")


@pytest.mark.usefixtures("two_cores")
def test_an_evening_whose_cores_slow_each_other_down_takes_turns_and_says_why() -> None:
    evening = recorded_contention("evening")
    assert evening.asymmetry() > contention.ASYMMETRY_LIMIT
    assert evening.slows()
    assert not evening.slows(limit=1.25)  # 1.23x apart: the limit decides
    line = sides_line(settings_from({}), measured=evening)
    assert line.startswith("sides in turn: cores 0 and 1 slow each other down: busy together, one ran a test "
                           f"loop {evening.asymmetry():.2f}x as long")
    assert line.endswith("at once again when they no longer do (checked every 5 min)")


@pytest.mark.usefixtures("two_cores")
def test_yes_and_instruction_counts_keep_the_sides_at_once_whatever_the_check() -> None:
    evening = recorded_contention("evening")
    for options in ({"cpython-parallel": "yes"}, {"cpython-metric": "instructions"}):
        assert sides_line(settings_from(options), measured=evening) == \
            "sides at once, a physical core each (0 and 1)", options


@pytest.mark.usefixtures("two_cores")
def test_a_session_that_measures_nothing_says_the_rule_without_checking() -> None:
    assert sides_line(settings_from({}), check=False) == (
        "sides at once, a physical core each (0 and 1), unless a test loop finds that they slow each other "
        "down (checked before the first benchmark, then every 5 min)")


@pytest.mark.usefixtures("two_cores")
def test_a_check_that_could_not_be_made_keeps_the_sides_at_once_and_says_so() -> None:
    line = sides_line(settings_from({}), measured="not checked whether they slow each other down (why)")
    assert line == "sides at once, a physical core each (0 and 1); not checked whether they slow each other down (why)"


def test_sessions_started_within_five_minutes_share_a_check_kept_in_the_cache_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[str, ...]] = []

    def check(cores: tuple[str, ...]) -> Contention:  # what a probe of the recorded quiet hour finds
        made.append(cores)
        return recorded_contention("quiet")

    monkeypatch.setattr(contention, "checked", check)

    def new_session(machine: str = "vm") -> Contention | str:
        monkeypatch.setattr(contention, "_checks", {})  # nothing checked in this process yet
        return contention.current(["0", "1"], tmp_path, machine)

    first = new_session()
    assert first == recorded_contention("quiet") and len(made) == 1
    assert contention.current(["0", "1"], tmp_path, "vm") == first and len(made) == 1  # the process's
    assert new_session() == first and len(made) == 1  # the cache dir's, read back whole
    assert new_session("another machine") == first and len(made) == 2  # kept per machine
    kept = contention.kept_file(tmp_path, "vm", ["0", "1"])
    document = json.loads(kept.read_text())
    for stale in ({"at": document["at"] - contention.MAX_AGE}, {"at": "soon"}, {"format": 0},
                  {"cpus": ["2", "3"]}, {"together": [[0.02], []]}, {"alone": [[-1.0], [0.02]]}):
        kept.write_text(json.dumps({**document, **stale}))
        before = len(made)
        assert new_session() == first and len(made) == before + 1, stale
        assert json.loads(kept.read_text())["format"] == contention.FORMAT  # rewritten whole
    for corrupt in ("{", "[]", ""):
        kept.write_text(corrupt)
        assert new_session() == first, corrupt


@pytest.mark.usefixtures("subprocesses")
def test_a_probe_of_this_machine_times_each_core_alone_and_together(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = cpus.parallel_cpus(None, 2)
    if found is None:
        pytest.skip("fewer than 2 physical cores: nothing to probe")
    measured = contention.probe(found, cycles=1, loops=3, iterations=100_000)
    assert measured.cpus == tuple(found)
    for times in (*measured.alone, *measured.together):
        assert len(times) == 3 and all(0 < seconds < 5 for seconds in times)
    # The session's choice is the one its check gives.
    monkeypatch.setattr(contention, "_checks", {})
    session = TimeAtOnce(settings_from({"cpython-cache-dir": str(tmp_path)}), lambda _line: None)
    chosen = session.side_cpus(2)
    kept = contention.current(found, tmp_path, session.settings.machine)
    assert isinstance(kept, Contention)
    assert chosen == (None if kept.slows() else found)


@pytest.mark.usefixtures("subprocesses")
def test_a_cpu_the_loop_may_not_use_fails_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(contention.ProbeFailed, match=r"^the test loop pinned to CPU 8191 failed: OSError: "):
        contention.probe(["8191"], cycles=1, loops=1, iterations=10)
    monkeypatch.setattr(contention, "_checks", {})
    said = contention.current(["8191"])
    assert isinstance(said, str) and said.startswith("not checked whether they slow each other down (the test loop")
    assert "\n" not in said


def test_a_probe_that_finds_the_cores_apart_counts_only_with_its_confirmation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A burst of the host's load (the first probe) is pooled with a second probe; a lasting difference
    (both probes apart) still takes turns. The probes here replay recorded loops."""
    evening, quiet = recorded_contention("evening"), recorded_contention("quiet")
    replayed: list[Contention] = []
    monkeypatch.setattr(contention, "probe", lambda _cpus: replayed.pop(0))
    for second, takes_turns in ((quiet, False), (evening, True)):
        replayed[:] = [evening, second]
        first, confirmed = contention.probe_and_confirm(["0", "1"])
        assert first is evening and confirmed == evening.merged(second)
        replayed[:] = [evening, second]
        assert contention.checked(["0", "1"]).slows() is takes_turns
    replayed[:] = [quiet]
    assert contention.probe_and_confirm(["0", "1"]) == (quiet, None)  # not apart: no second probe
