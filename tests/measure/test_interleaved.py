"""Interleaved measurement: the loops file, the rounds of pyperf workers started directly, the
CPUs of each side, the grid of checks and the confidence each check is made at.

The unit and integration tests run no benchmark (a worker that fails at once is a process that
exits). The end-to-end ones run nbody and deepcopy on the test repository's v3.13.5 build (built
once and cached, see tests/conftest.py), in fast mode and a few rounds.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from statistics import fmean

import pyperf
import pytest
from helpers import write_manifest
from seed import BASE_3_11, HEAD_FILE

from pytest_cpybench import options
from pytest_cpybench.cpython import venvs
from pytest_cpybench.errors import BenchmarkError
from pytest_cpybench.measure import cpus as machine_cpus
from pytest_cpybench.measure import interleaved, loops, processes
from pytest_cpybench.measure.interleaved import Calibration, Side
from pytest_cpybench.measure.processes import RunOptions, WorkerRun, WorkerTask
from pytest_cpybench.options import Budget, Settings
from pytest_cpybench.results import metadata as md
from pytest_cpybench.results.files import load_suite
from pytest_cpybench.session.engine import Engine
from pytest_cpybench.suite._pyperformance import load_benchmarks
from pytest_cpybench.suite.definitions import BenchmarkDef
from pytest_cpybench.verdict import compare, looks
from pytest_cpybench.verdict.stats import process_means

HOST_PYTHON = Path(sys.executable)  # has pyperf: runs the tiny benchmarks written by the tests
DEEPCOPY_TASKS = [WorkerTask(0, "deepcopy", 512), WorkerTask(1, "deepcopy_reduce", 32768),
                  WorkerTask(2, "deepcopy_memo", 4096)]
ENTRY = loops.key("machine-a", "deepcopy", "b990f0ea1e19" + "7" * 28, "1096b3cd75d04718d723")


def _quiet(_message: str) -> None:
    pass


#######################################
# fast: the loops file


def test_loops_round_trip_keeps_every_entry(tmp_path: Path) -> None:
    cache = tmp_path / "cache"  # not there yet: the first save makes it
    assert loops.load(cache, ENTRY) is None
    loops.save(cache, ENTRY, DEEPCOPY_TASKS)
    assert loops.load(cache, ENTRY) == DEEPCOPY_TASKS
    other = loops.key("machine-a", "nbody", "d21f61ddccf5" + "0" * 28, "1096b3cd75d04718d723")
    assert loops.load(cache, other) is None  # a missing entry: calibrate
    loops.save(cache, other, [WorkerTask(0, "nbody", 2)])
    assert loops.load(cache, other) == [WorkerTask(0, "nbody", 2)]
    assert loops.load(cache, ENTRY) == DEEPCOPY_TASKS  # the first entry is kept
    loops.save(cache, ENTRY, DEEPCOPY_TASKS[:1])  # a new calibration replaces the entry
    assert loops.load(cache, ENTRY) == DEEPCOPY_TASKS[:1]
    assert _left(cache) == [loops.FILE_NAME]  # no temporary file left


def _document(entry: str, tasks: object, format: int = loops.FORMAT) -> bytes:
    return json.dumps({"format": format, "loops": {entry: tasks}}).encode()


def _task(index: object = 0, name: object = "deepcopy", loops: object = 512) -> dict[str, object]:
    return {"index": index, "name": name, "loops": loops}


GOOD = [_task(0, "deepcopy", 512), _task(1, "deepcopy_reduce", 32768), _task(2, "deepcopy_memo", 4096)]
CORRUPT = {
    "garbage bytes": b"\x00\xff\xfe\x80 not json at all \xc3",
    "empty file": b"",
    "truncated json": _document(ENTRY, GOOD)[:-7],
    "a json list": b"[1, 2, 3]",
    "a json string": b'"loops"',
    "no format": json.dumps({"loops": {ENTRY: GOOD}}).encode(),
    "format 2": _document(ENTRY, GOOD, format=2),
    "format as text": json.dumps({"format": "1", "loops": {ENTRY: GOOD}}).encode(),
    "loops a list": json.dumps({"format": 1, "loops": [GOOD]}).encode(),
    "entry not a list": _document(ENTRY, {"0": GOOD[0]}),
    "entry empty": _document(ENTRY, []),
    "tasks not objects": _document(ENTRY, [1, 2, 3]),
    "tasks as text": _document(ENTRY, ["deepcopy"]),
    "task without loops": _document(ENTRY, [{"index": 0, "name": "deepcopy"}]),
    "loops null": _document(ENTRY, [_task(loops=None)]),
    "loops as words": _document(ENTRY, [_task(loops="many")]),
    "negative loops": _document(ENTRY, [*GOOD[:2], _task(2, "deepcopy_memo", -4096)]),
    "zero loops": _document(ENTRY, [_task(loops=0)]),
    "index as words": _document(ENTRY, [_task(index="first")]),
    "indices with a gap": _document(ENTRY, [GOOD[0], GOOD[2]]),
    "indices not from 0": _document(ENTRY, [_task(1, "deepcopy_reduce", 32768)]),
    "indices out of order": _document(ENTRY, [GOOD[1], GOOD[0], GOOD[2]]),
    "index twice": _document(ENTRY, [GOOD[0], GOOD[1] | {"index": 0}]),
    # json reads 1e999 as float("inf"), which int() refuses with OverflowError.
    "infinite loops": _document(ENTRY, [_task(loops=1e999)]),
    "infinite index": _document(ENTRY, [_task(index=1e999)]),
    "absurd loops": _document(ENTRY, [_task(loops=10**30)]),
}


@pytest.mark.parametrize("content", list(CORRUPT.values()), ids=list(CORRUPT))
def test_a_corrupt_loops_file_means_calibrate_again(content: bytes, tmp_path: Path) -> None:
    (tmp_path / loops.FILE_NAME).write_bytes(content)
    assert loops.load(tmp_path, ENTRY) is None
    # Saving over it works: the next session finds the new calibration.
    loops.save(tmp_path, ENTRY, DEEPCOPY_TASKS)
    assert loops.load(tmp_path, ENTRY) == DEEPCOPY_TASKS


def _left(folder: Path) -> list[str]:
    """The files in ``folder`` but the lock that saving holds (it stays, as every lock file of the cache)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(f"{loops.FILE_NAME}.lock"))


def test_a_loops_file_that_is_a_folder_is_no_error(tmp_path: Path) -> None:
    (tmp_path / loops.FILE_NAME).mkdir()
    assert loops.load(tmp_path, ENTRY) is None
    loops.save(tmp_path, ENTRY, DEEPCOPY_TASKS)  # cannot replace a folder: recalibrated next time, no error
    assert loops.load(tmp_path, ENTRY) is None
    assert _left(tmp_path) == [loops.FILE_NAME]  # no temporary file left
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    loops.save(not_a_folder, ENTRY, DEEPCOPY_TASKS)  # a cache dir that cannot be made: no error
    assert loops.load(not_a_folder, ENTRY) is None


def test_saving_beside_a_corrupt_entry_keeps_the_good_ones(tmp_path: Path) -> None:
    nbody = loops.key("machine-a", "nbody", "d21f61ddccf5" + "0" * 28, "1096b3cd75d04718d723")
    broken = loops.key("machine-a", "chaos", "0123456789ab" + "0" * 28, "1096b3cd75d04718d723")
    document = {"format": 1, "loops": {ENTRY: GOOD, broken: [_task(0, "chaos", -1)]}}
    (tmp_path / loops.FILE_NAME).write_text(json.dumps(document))
    assert loops.load(tmp_path, broken) is None
    loops.save(tmp_path, nbody, [WorkerTask(0, "nbody", 2)])
    assert loops.load(tmp_path, ENTRY) == DEEPCOPY_TASKS
    assert loops.load(tmp_path, nbody) == [WorkerTask(0, "nbody", 2)]
    loops.save(tmp_path, broken, [WorkerTask(0, "chaos", 8)])  # the corrupt entry is recalibrated
    assert loops.load(tmp_path, broken) == [WorkerTask(0, "chaos", 8)]
    assert loops.load(tmp_path, ENTRY) == DEEPCOPY_TASKS


def test_loops_key_depends_on_each_part() -> None:
    parts = ("machine-a", "deepcopy", "b990f0ea1e19" + "7" * 28, "1096b3cd75d04718d723")
    others = ("machine-b", "deepcopy_memo", "c990f0ea1e19" + "7" * 28, "/usr/bin/python3.13")
    keys = {loops.key(*parts)}
    for index, other in enumerate(others):
        changed = list(parts)
        changed[index] = other
        keys.add(loops.key(*changed))
    assert len(keys) == len(parts) + 1


#######################################
# fast: batches, CPUs, checks, confidence


def _sides(count: int) -> list[Side]:
    return [Side(f"side{i}", Path(f"/venvs/{i}/bin/python"), {}) for i in range(count)]


def test_batches_with_a_core_per_side_run_every_side_at_once_and_rotate() -> None:
    head, base = sides = _sides(2)
    cpus = ["0", "1"]
    assert interleaved._batches(sides, cpus, 0, None) == [[(head, "0"), (base, "1")]]
    assert interleaved._batches(sides, cpus, 1, None) == [[(head, "1"), (base, "0")]]
    assert interleaved._batches(sides, cpus, 2, "0-1") == interleaved._batches(sides, cpus, 0, None)
    # Three sides: one batch a round, each side on each CPU list once in three rounds.
    three = _sides(3)
    cpus3 = ["0", "1", "2-3"]
    seen: dict[str, list[str | None]] = {side.label: [] for side in three}
    for rounds in range(3):
        (batch,) = interleaved._batches(three, cpus3, rounds, None)
        assert [side for side, _ in batch] == three
        assert sorted(cpu or "" for _, cpu in batch) == sorted(cpus3)
        for side, cpu in batch:
            seen[side.label].append(cpu)
    assert seen["side0"] == ["0", "1", "2-3"]
    assert all(sorted(cpu or "" for cpu in cpus) == sorted(cpus3) for cpus in seen.values())


@pytest.mark.parametrize("cpus", [None, ["0"]], ids=["no cpus", "fewer cpus than sides"])
def test_batches_without_a_core_per_side_take_turns_in_alternating_order(cpus: list[str] | None) -> None:
    head, base = sides = _sides(2)
    assert interleaved._batches(sides, cpus, 0, "1") == [[(head, "1")], [(base, "1")]]
    assert interleaved._batches(sides, cpus, 1, "1") == [[(base, "1")], [(head, "1")]]
    assert interleaved._batches(sides, cpus, 2, None) == [[(head, None)], [(base, None)]]
    a, b, c = three = _sides(3)
    assert interleaved._batches(three, ["0", "1"], 0, None) == [[(a, None)], [(b, None)], [(c, None)]]
    assert interleaved._batches(three, ["0", "1"], 1, None) == [[(c, None)], [(b, None)], [(a, None)]]


def test_the_auto_cap_is_per_side_of_wall_time_so_sides_at_once_get_one_share() -> None:
    """auto caps what the user waits: at once, both sides share one 0.9x; in turn, each side has its own."""
    budget = Budget(processes=40, pyperformance_multiple=0.9)
    two, three = _sides(2), _sides(3)
    assert interleaved._cap(budget, two, ["0", "1"], None) == pytest.approx(0.9)
    assert interleaved._cap(budget, two, None, None) == pytest.approx(1.8)
    assert interleaved._cap(budget, two, ["0"], None) == pytest.approx(1.8)
    assert interleaved._cap(budget, three, ["0", "1"], None) == pytest.approx(2.7)
    assert interleaved._cap(Budget(processes=40), two, ["0", "1"], None) is None


def test_parallel_cpus_needs_a_core_per_side() -> None:
    assert machine_cpus.parallel_cpus(None, 1) is None
    assert machine_cpus.parallel_cpus(None, 0) is None
    if 0 not in machine_cpus.usable_cpus(None):
        pytest.skip("this process may not run on CPU 0")
    assert machine_cpus.parallel_cpus("0", 2) is None


def test_parallel_cpus_gives_each_side_its_own_cores() -> None:
    usable = machine_cpus.usable_cpus(None)
    cores = machine_cpus.cores_of(usable)
    if len(cores) < 2:
        pytest.skip(f"this process may use CPUs {machine_cpus.format_cpu_list(usable)}: fewer than 2 physical cores")
    found = machine_cpus.parallel_cpus(None, 2)
    assert found is not None and len(found) == 2
    first, second = (set(machine_cpus.parse_cpu_list(cpus)) for cpus in found)
    assert first and second and not first & second
    assert first | second <= set(usable)
    # A whole physical core each (hyperthreads of one core would slow each other down), the last
    # ones: the first CPU of a machine serves more interrupts and housekeeping.
    assert [first, second] == [set(core) for core in cores[-2:]]
    if len(cores) < 3:
        assert machine_cpus.parallel_cpus(None, 3) is None


def test_parallel_cpus_on_a_machine_with_hyperthreads(monkeypatch: pytest.MonkeyPatch) -> None:
    # 8 CPUs, 4 cores: CPU n and n + 4 are the two hyperthreads of one core (as Linux numbers them).
    monkeypatch.setattr(machine_cpus.os, "sched_getaffinity", lambda _pid: set(range(8)))
    monkeypatch.setattr(machine_cpus, "_sysfs_siblings", lambda cpu: [cpu % 4, cpu % 4 + 4])
    assert machine_cpus.parallel_cpus(None, 2) == ["2,6", "3,7"]  # a whole core each, the last ones
    assert machine_cpus.parallel_cpus(None, 4) == ["0,4", "1,5", "2,6", "3,7"]
    assert machine_cpus.parallel_cpus(None, 5) is None
    assert machine_cpus.parallel_cpus("0,4", 2) is None  # two CPUs, but one core
    assert machine_cpus.parallel_cpus("0-1", 2) == ["0", "1"]  # one hyperthread of each of two cores
    assert machine_cpus.parallel_cpus("0-1,4-5", 2) == ["0,4", "1,5"]


def test_checks_and_their_confidence() -> None:
    assert interleaved.checks(Budget(40)) == (5, 7, 10, 14, 20, 28, 40)
    grid = (5, 7, 10, 14, 20, 28, 40)
    assert interleaved.check_confidence(0.95, Budget(40)) == looks.look_confidence(0.95, grid)
    assert interleaved.check_confidence(0.99, Budget(40)) == looks.look_confidence(0.99, grid)


def test_the_verdicts_confidence_is_a_checks_unless_the_rounds_were_cut_short_between_checks() -> None:
    per_check = interleaved.check_confidence(0.95, Budget(40))
    assert interleaved.final_confidence(0.95, Budget(40), 40) == per_check  # the budget's last check
    assert interleaved.final_confidence(0.95, Budget(40), 14) == per_check  # decided at a check
    # The cost cap or the timeout stopped the rounds at 18: the checks at 20, 28 and 40 never came.
    assert interleaved.final_confidence(0.95, Budget(40), 18) == looks.final_look_confidence(
        0.95, interleaved.checks(Budget(40)), 18, cut_short=True) < per_check
    assert interleaved.final_confidence(0.95, Budget(20), 12) == looks.final_look_confidence(
        0.95, interleaved.checks(Budget(20)), 12, cut_short=True)
    # A timeout before the first check, or debug mode's one round: too few pairs for a looser look.
    assert interleaved.final_confidence(0.95, Budget(40), 3) == per_check
    assert interleaved.final_confidence(0.95, Budget(40), 1) == per_check
    seconds = options.parse_budget("300s")
    assert seconds == Budget(processes=options.SECONDS_BUDGET_ROUNDS, seconds=300.0)
    assert seconds == Budget(processes=200, seconds=300)
    assert interleaved.checks(seconds) == (5, 7, 10, 14, 20, 28, 39, 55, 77, 108, 151, 200)
    assert interleaved.check_confidence(0.95, seconds) == looks.look_confidence(0.95, interleaved.checks(seconds))
    assert interleaved.checks(Budget(10)) == (5, 7, 10)
    # A budget of at most MIN_ROUNDS is one look: at the end, at the confidence asked for.
    for small in (2, 3, interleaved.MIN_ROUNDS):
        assert interleaved.checks(Budget(small)) == (interleaved.MIN_ROUNDS,)
        assert interleaved.check_confidence(0.95, Budget(small)) == 0.95


def test_the_engine_checks_interleaved_rounds_at_the_looks_confidence() -> None:
    # The default budget (40 rounds) checks 7 times, auto too (its time cap stops sooner, never later);
    # a budget of 20 rounds 5 times.
    assert interleaved.checks(Budget()) == (5, 7, 10, 14, 20, 28, 40)
    default = looks.look_confidence(0.95, (5, 7, 10, 14, 20, 28, 40))
    assert Engine(Settings(), log=_quiet).interleaved_confidence() == default
    assert Engine(Settings(budget=options.parse_budget("auto")), log=_quiet).interleaved_confidence() == default
    assert (Engine(Settings(confidence=0.99, budget=Budget(20)), log=_quiet).interleaved_confidence()
            == looks.look_confidence(0.99, (5, 7, 10, 14, 20)))
    assert (Engine(Settings(budget=options.parse_budget("300s")), log=_quiet).interleaved_confidence()
            == looks.look_confidence(0.95, interleaved.checks(options.parse_budget("300s"))))
    # Instruction counts are not checked as they go: the confidence asked for.
    assert Engine(Settings(metric=md.METRIC_INSTRUCTIONS), log=_quiet).interleaved_confidence() == 0.95


def test_paired_results_get_the_paired_confidence_and_the_headline_keeps_its_own() -> None:
    base, head = load_suite(str(BASE_3_11)), load_suite(str(HEAD_FILE))
    paired = {"nbody", "deepcopy", "json_dumps"}
    split = looks.look_confidence(0.95, (5, 7, 10, 14, 20, 28, 40))
    mixed = compare.compare_suites(base, head, paired=paired, paired_confidence=split)
    by_name = {rc.name: rc for rc in mixed.results}
    assert paired <= set(by_name) and len(by_name) > len(paired)
    for name, rc in by_name.items():
        assert rc.estimate.confidence == (split if name in paired else 0.95), name
    assert mixed.confidence == 0.95
    assert mixed.headline is not None and mixed.headline.confidence == 0.95
    # At the higher confidence the paired intervals are wider; the unpaired ones do not change.
    plain = {rc.name: rc for rc in compare.compare_suites(base, head, paired=paired).results}
    for name in paired:
        assert by_name[name].estimate.low < plain[name].estimate.low
        assert by_name[name].estimate.high > plain[name].estimate.high
    assert by_name["chaos"].estimate == plain["chaos"].estimate
    everything = compare.compare_suites(base, head, paired=True, paired_confidence=split)
    assert {rc.estimate.confidence for rc in everything.results} == {split}
    assert everything.headline is not None and everything.headline.confidence == 0.95
    unpaired = compare.compare_suites(base, head, paired=False, paired_confidence=split)
    assert {rc.estimate.confidence for rc in unpaired.results} == {0.95}


#######################################
# fast: the environment of a worker


def test_a_worker_sees_what_pyperf_passes_on_and_the_sides_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/host/site-packages")  # the host's modules: never in a target
    monkeypatch.setenv("PATH", "/opt/tools/bin:/usr/bin:/bin")
    monkeypatch.setenv("HOME", "/home/someone")
    monkeypatch.setenv("CPYBENCH_TEST_ASKED", "asked for")
    monkeypatch.setenv("CPYBENCH_TEST_UNRELATED", "not passed on")
    monkeypatch.setenv("CPYBENCH_TEST_BOTH", "parent")
    monkeypatch.setenv("LD_LIBRARY_PATH", "/parent/lib")
    run_options = RunOptions(inherit_environ=["CPYBENCH_TEST_ASKED", "LD_LIBRARY_PATH", "CPYBENCH_TEST_NOT_SET"],
                             env={"LD_LIBRARY_PATH": "/opt/python/lib", "CPYBENCH_TEST_BOTH": "options",
                                  "CPYBENCH_TEST_OPTIONS": "1"})
    env = processes.worker_environ(run_options, {"CPYBENCH_TEST_BOTH": "side", "CPYBENCH_TEST_SIDE": "2"})
    assert "PYTHONPATH" not in env
    assert env["PATH"] == "/opt/tools/bin:/usr/bin:/bin"
    assert env["HOME"] == "/home/someone"
    assert env["CPYBENCH_TEST_ASKED"] == "asked for"
    assert "CPYBENCH_TEST_NOT_SET" not in env
    assert "CPYBENCH_TEST_UNRELATED" not in env
    assert env["LD_LIBRARY_PATH"] == "/opt/python/lib"  # the target's own wins over the parent's
    assert env["CPYBENCH_TEST_OPTIONS"] == "1"
    assert env["CPYBENCH_TEST_SIDE"] == "2"
    assert env["CPYBENCH_TEST_BOTH"] == "side"  # the side's own wins over the options'
    assert set(env) <= {*processes.PYPERF_WORKER_VARIABLES, *run_options.inherit_environ, *run_options.env,
                        "CPYBENCH_TEST_SIDE"}


#######################################
# a worker that fails, on the side it failed on

# A benchmark that crashes when its side's environment says so: always, or only when measuring (its
# loops calibrate); otherwise it times an empty function.
CRASHY = """\
import os, sys
crash = os.environ.get("CPYBENCH_TEST_CRASH", "")
if crash == "always" or (crash == "measuring" and "--calibrate-loops" not in sys.argv):
    sys.stderr.write("crashing as this side asked\\n")
    sys.exit(3)
runner.bench_func("crashy", lambda: None)
"""


@pytest.fixture
def crashy(tmp_path: Path, subprocesses: None) -> BenchmarkDef:
    manifest = write_manifest(tmp_path / "benchmarks", {"crashy": CRASHY})
    (bench,) = [b for b in load_benchmarks([manifest]) if b.name == "crashy"]
    return bench


def _check_crash(err: BenchmarkError, side: str) -> None:
    assert err.side == side
    assert str(err) == "crashy crashed (exit 3)"
    assert "\n" not in str(err)
    assert "crashing as this side asked" in err.stderr_tail


def test_a_baseline_that_fails_calibrating_names_its_side(crashy: BenchmarkDef, tmp_path: Path) -> None:
    sides = [Side("head", HOST_PYTHON, {}), Side("v3.13.5", HOST_PYTHON, {"CPYBENCH_TEST_CRASH": "always"})]
    calibration = Calibration(tmp_path / "cache", "machine-a")
    with pytest.raises(BenchmarkError) as caught:
        interleaved.measure(crashy, sides, RunOptions(mode="fast", timeout=60), Budget(5), lambda _s: False,
                        calibration=calibration)
    _check_crash(caught.value, "v3.13.5")
    assert calibration.calibrated == []
    assert not (tmp_path / "cache" / loops.FILE_NAME).exists()  # nothing kept of a failed calibration


def test_a_head_that_fails_measuring_names_its_side(crashy: BenchmarkDef, tmp_path: Path) -> None:
    # The baseline's loops are in the cache and the sides take turns, the head first: the only
    # process this starts is the head's worker, which exits at once.
    cache = tmp_path / "cache"
    base = Side("v3.13.5", HOST_PYTHON, {}, identity="base-build")
    loops.save(cache, loops.key("machine-a", "crashy", crashy.definition_hash, "base-build"),
               [WorkerTask(0, "crashy", 1)])
    sides = [Side("head", HOST_PYTHON, {"CPYBENCH_TEST_CRASH": "always"}), base]
    calibration = Calibration(cache, "machine-a")
    with pytest.raises(BenchmarkError) as caught:
        interleaved.measure(crashy, sides, RunOptions(mode="fast", timeout=60), Budget(5), lambda _s: False,
                        calibration=calibration, cpus=None)
    _check_crash(caught.value, "head")
    assert calibration.calibrated == []


@pytest.mark.parametrize("crashing", ["head", "v3.13.5"])
def test_a_worker_that_fails_beside_another_names_its_side(crashing: str, crashy: BenchmarkDef) -> None:
    cpus = machine_cpus.parallel_cpus(None, 2)
    if cpus is None:
        pytest.skip("fewer than 2 physical cores: the sides cannot run at the same time")
    # The baseline's loops are calibrated for real (its worker calibrates without crashing).
    sides = [Side(label, HOST_PYTHON, {"CPYBENCH_TEST_CRASH": "measuring"} if label == crashing else {})
             for label in ("head", "v3.13.5")]
    with pytest.raises(BenchmarkError) as caught:
        interleaved.measure(crashy, sides, RunOptions(mode="fast", timeout=120), Budget(5), lambda _s: False,
                        cpus=cpus)
    _check_crash(caught.value, crashing)


# A benchmark of which only one copy can run at a time (as asyncio_tcp's fixed port): each worker
# holds a lock file for its whole life, and a second one started meanwhile exits, leaving a mark.
# The first copy waits for that mark (once: it stays), so the two surely overlap, however late
# the second one starts.
SOLITARY = """\
import atexit, os, sys, time
lock = os.environ["CPYBENCH_TEST_LOCK"]
tried = lock + ".tried"
try:
    os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
except FileExistsError:
    open(tried, "w").close()
    sys.stderr.write("another copy is running\\n")
    sys.exit(3)
atexit.register(os.remove, lock)
deadline = time.monotonic() + 10
while not os.path.exists(tried) and time.monotonic() < deadline:
    time.sleep(0.01)
runner.bench_func("solitary", lambda: None)
"""


@pytest.mark.usefixtures("subprocesses")
def test_rounds_at_the_same_time_are_marked_and_a_fallback_to_turns_is_not(tmp_path: Path) -> None:
    cpus = machine_cpus.parallel_cpus(None, 2)
    if cpus is None:
        pytest.skip("fewer than 2 physical cores: the sides cannot run at the same time")
    manifest = write_manifest(tmp_path / "benchmarks", {"crashy": CRASHY, "solitary": SOLITARY})
    benches = {b.name: b for b in load_benchmarks([manifest])}
    env = {"CPYBENCH_TEST_LOCK": str(tmp_path / "lock")}
    sides = [Side("head", HOST_PYTHON, env), Side("v3.13.5", HOST_PYTHON, env, identity="base-build")]
    calibration = Calibration(tmp_path / "cache", "machine-a")
    for name in benches:  # one loop each, kept: no calibration, each worker a fraction of a second
        loops.save(tmp_path / "cache", loops.key("machine-a", name, benches[name].definition_hash, "base-build"),
                   [WorkerTask(0, name, 1)])
    said: list[str] = []
    options = RunOptions(mode="fast", timeout=120)
    together, rounds = interleaved.measure(benches["crashy"], sides, options, Budget(3), lambda _s: False, said.append,
                                       calibration=calibration, cpus=cpus)
    assert rounds == 3
    for label, runs in _runs_per_side(together, "crashy").items():
        assert [run.get_metadata().get(md.ALONGSIDE) for run in runs] == [1, 1, 1], label
        assert compare.load_of(together[label].get_benchmark("crashy")) == {1}
    turns, rounds = interleaved.measure(benches["solitary"], sides, options, Budget(3), lambda _s: False, said.append,
                                    calibration=calibration, cpus=cpus)
    assert rounds == 3
    assert any("with the sides at the same time; the sides take turns from now on" in line for line in said)
    for label, runs in _runs_per_side(turns, "solitary").items():
        assert len(runs) == 3 and all(md.ALONGSIDE not in run.get_metadata() for run in runs), label
        assert compare.load_of(turns[label].get_benchmark("solitary")) == {0}


#######################################
# slow: real workers of the v3.13.5 build


@pytest.fixture(scope="module")
def benchmarks() -> dict[str, BenchmarkDef]:
    return {bench.name: bench for bench in load_benchmarks()}


@pytest.fixture(scope="module")
def v3135(cpython_3135, cache_dir: Path, benchmarks: dict[str, BenchmarkDef]) -> Side:
    """The v3.13.5 build's benchmark venv, as the engine makes it (the same venv sessions use)."""
    env = cpython_3135.run_env()
    venv_python = venvs.ensure_venv(cpython_3135.python, cache_dir, key=cpython_3135.key, env=env or None,
                                    log=_quiet)
    for name in ("nbody", "deepcopy"):
        venvs.install_requirements(venv_python, benchmarks[name], env=env or None, log=_quiet)
    return Side("v3.13.5", venv_python, env, identity=cpython_3135.key)


FAST = RunOptions(mode="fast", timeout=600)


def test_calibrate_finds_every_result_with_its_loops(v3135: Side, benchmarks: dict[str, BenchmarkDef]) -> None:
    tasks = processes.calibrate(v3135.venv_python, benchmarks["deepcopy"], FAST, v3135.env)
    assert [task.index for task in tasks] == [0, 1, 2]
    assert [task.name for task in tasks] == ["deepcopy", "deepcopy_reduce", "deepcopy_memo"]
    assert all(task.loops >= 1 for task in tasks)
    assert len({task.loops for task in tasks}) == 3  # each result its own loops
    (nbody,) = processes.calibrate(v3135.venv_python, benchmarks["nbody"], FAST, v3135.env)
    assert (nbody.index, nbody.name) == (0, "nbody") and nbody.loops >= 1


def test_run_workers_runs_each_worker_at_once_on_its_cpu(v3135: Side, benchmarks: dict[str, BenchmarkDef]) -> None:
    if not {0, 1} <= set(machine_cpus.usable_cpus(None)):
        usable = machine_cpus.format_cpu_list(machine_cpus.usable_cpus(None))
        pytest.skip(f"this process may not run on CPUs 0 and 1 ({usable})")
    task = WorkerTask(0, "nbody", 4)  # about a second a worker: long beside starting one
    runs = [WorkerRun(v3135.venv_python, task, v3135.env, cpu, f"side{cpu}") for cpu in ("0", "1")]
    started = time.monotonic()
    results = processes.run_workers(benchmarks["nbody"], runs, FAST, values=3, warmups=1)
    elapsed = time.monotonic() - started
    assert len(results) == 2
    for result, cpu in zip(results, ("0", "1"), strict=True):
        assert result.get_name() == "nbody"
        (run,) = result.get_runs()
        assert len(run.values) == 3 and len(run.warmups) == 1
        assert run.get_loops() == 4
        assert run.get_metadata()["cpu_affinity"] == cpu
    # At the same time: the two together took less than one after the other would have.
    durations = [result.get_runs()[0].get_metadata()["duration"] for result in results]
    assert elapsed < sum(durations), (elapsed, durations)


def _runs_per_side(suites: dict[str, pyperf.BenchmarkSuite], name: str) -> dict[str, list[pyperf.Run]]:
    return {label: suite.get_benchmark(name).get_runs() for label, suite in suites.items()}


def test_measure_calibrates_once_and_checks_on_the_grid(v3135: Side, benchmarks: dict[str, BenchmarkDef],
                                                         tmp_path: Path) -> None:
    nbody = benchmarks["nbody"]
    head = Side("head", v3135.venv_python, v3135.env, identity="head-build")  # same interpreter, another name
    sides = [head, v3135]
    cpus = machine_cpus.parallel_cpus(None, 2)
    budget = Budget(10)
    checked: list[int] = []

    def decided(suites: dict[str, pyperf.BenchmarkSuite]) -> bool:
        rounds = {label: len(process_means(suite.get_benchmark("nbody"))) for label, suite in suites.items()}
        assert set(rounds) == {"head", "v3.13.5"} and len(set(rounds.values())) == 1, rounds
        checked.append(rounds["head"])
        return len(checked) == 2  # accept the second check

    first = Calibration(tmp_path / "cache", "machine-a")
    suites, rounds = interleaved.measure(nbody, sides, FAST, budget, decided, calibration=first, cpus=cpus)
    assert first.calibrated == ["nbody"]
    assert checked == [5, 7] == list(interleaved.checks(budget)[:2])  # asked on the grid only, stopped at yes
    assert rounds == 7
    runs = _runs_per_side(suites, "nbody")
    kept = loops.load(tmp_path / "cache", loops.key("machine-a", "nbody", nbody.definition_hash, v3135.identity))
    assert kept is not None and [(t.index, t.name) for t in kept] == [(0, "nbody")]
    values, _warmups = interleaved.PER_PROCESS["fast"]  # pyperf's in the mode, as the budget names none
    for label, side_runs in runs.items():
        assert len(side_runs) == rounds, label
        assert all(len(run.values) == values for run in side_runs), label
        assert {run.get_loops() for run in side_runs} == {kept[0].loops}, label  # the baseline's loops
        assert suites[label].get_benchmark("nbody").get_metadata()[md.BENCHMARK_NAME] == "nbody"
    if cpus is not None:  # the sides swap cores round by round, each marked as measured alongside the other
        assert [run.get_metadata().get("cpu_affinity") for run in runs["head"]] == [cpus[r % 2] for r in range(7)]
        assert [run.get_metadata().get("cpu_affinity") for run in runs["v3.13.5"]] == [
            cpus[(r + 1) % 2] for r in range(7)]
        assert all(run.get_metadata()[md.ALONGSIDE] == 1 for side_runs in runs.values() for run in side_runs)

    # Another session: the loops come from the cache, no calibration; taking turns this time.
    again = Calibration(tmp_path / "cache", "machine-a")
    later, rounds = interleaved.measure(nbody, sides, FAST, Budget(2), lambda _s: pytest.fail("checked before round 5"),
                                    calibration=again, cpus=None)
    assert again.calibrated == []
    assert rounds == 2
    for label, side_runs in _runs_per_side(later, "nbody").items():
        assert len(side_runs) == 2 and {run.get_loops() for run in side_runs} == {kept[0].loops}, label
        assert all(len(run.values) == values for run in side_runs), label
        assert all(md.ALONGSIDE not in run.get_metadata() for run in side_runs), label  # each alone


def test_measure_stops_at_the_budget_when_no_check_decides(v3135: Side, benchmarks: dict[str, BenchmarkDef],
                                                           tmp_path: Path) -> None:
    checked: list[int] = []

    def decided(suites: dict[str, pyperf.BenchmarkSuite]) -> bool:
        checked.append(len(process_means(suites["head"].get_benchmark("nbody"))))
        return False

    sides = [Side("head", v3135.venv_python, v3135.env), v3135]
    suites, rounds = interleaved.measure(benchmarks["nbody"], sides, FAST, Budget(7), decided,
                                     calibration=Calibration(tmp_path, "machine-a"),
                                     cpus=machine_cpus.parallel_cpus(None, 2))
    assert rounds == 7
    assert checked == [5]  # round 7 is the last: the budget decides, no check before it
    assert {label: len(runs) for label, runs in _runs_per_side(suites, "nbody").items()} == {
        "head": 7, "v3.13.5": 7}
    assert _left(tmp_path) == [loops.FILE_NAME]  # the loops file, nothing else (no temporary file)


def test_auto_stops_before_a_multiple_of_pyperformances_time(v3135: Side, benchmarks: dict[str, BenchmarkDef],
                                                             tmp_path: Path) -> None:
    sides = [Side("head", v3135.venv_python, v3135.env), v3135]
    said: list[str] = []
    # Fast mode: pyperformance would run 11 processes of 2 values (about 7 s here); 1.5x that is
    # a few rounds of 2 such processes past the fewest a verdict needs, far short of 40.
    budget = Budget(processes=40, pyperformance_multiple=0.75)  # per side: 1.5x for the two
    started = time.monotonic()
    suites, rounds = interleaved.measure(benchmarks["nbody"], sides, FAST, budget, lambda _s: False, said.append,
                                     calibration=Calibration(tmp_path, "machine-a"))
    spent = time.monotonic() - started
    assert interleaved.MIN_ROUNDS <= rounds < 40
    runs = _runs_per_side(suites, "nbody")
    assert {label: len(side_runs) for label, side_runs in runs.items()} == {"head": rounds, "v3.13.5": rounds}
    (stop,) = [line for line in said if "another would pass 1.5x pyperformance's estimated" in line]
    assert said[-1].startswith(f"nbody: {rounds} rounds in ")  # and what it cost, against pyperformance
    estimated = float(stop.rsplit(" ", 2)[-2])
    if rounds > interleaved.MIN_ROUNDS:  # past the fewest rounds, the cap held: within 1.5x its estimate
        assert spent <= 1.1 * 1.5 * estimated + 2  # give or take a round and the estimate's own noise
    # The estimate is pyperformance's: 11 processes of a warmup and 2 values each, at least.
    value = fmean(r.get_total_loops() * fmean(r.values) for side_runs in runs.values() for r in side_runs)
    assert estimated >= 11 * 3 * value


def test_pyperformance_seconds_counts_pyperfs_processes_and_values() -> None:
    """Per result: (processes + calibration) x (one of our processes + the values pyperf takes beyond ours)."""
    processes = {"a": [0.3, 0.5], "b": [1.0]}
    values = {"a": [0.1, 0.1], "b": [0.2, 0.4]}
    # default: 21 processes of 3 values; ours have 1: (0.4 + 2 x 0.1) + (1.0 + 2 x 0.3)
    assert interleaved.pyperformance_seconds(processes, values, "default", 1) == pytest.approx(21 * (0.6 + 1.6))
    assert interleaved.pyperformance_seconds(processes, values, "fast", 1) == pytest.approx(11 * (0.5 + 1.3))
    assert interleaved.pyperformance_seconds(processes, values, "rigorous", 3) == pytest.approx(41 * (0.4 + 1.0))


def test_the_cap_counts_a_rounds_processes_and_their_values() -> None:
    """Spending on real runs (the seed's nbody: 20 processes of 3 values), and when the next round
    would pass the cap."""
    nbody = load_suite(BASE_3_11).get_benchmark("nbody")
    task = WorkerTask(0, "nbody", loops=nbody.get_runs()[-1].get_loops())
    spending = interleaved.Spending("default", values=3, started=time.monotonic() - 10.0)
    spending.add(task, 0.5, nbody)
    runs = [run for run in nbody.get_runs() if run.values]
    assert spending.value_seconds["nbody"] == [v * run.get_total_loops() for run in runs for v in run.values]
    # pyperf's values per process are ours: its 21 processes cost what ours did.
    assert spending.pyperformance() == pytest.approx(21 * 0.5)
    assert not interleaved._next_round_too_costly(2.0, spending, 5, 1.0)  # 10 s + 1 s < 21 s
    assert interleaved._next_round_too_costly(2.0, spending, 5, 12.0)  # 10 s + 12 s > 21 s
    assert interleaved._next_round_too_costly(1.0, spending, 5, 1.0)  # 11 s > 10.5 s
    # Too few for a verdict:
    assert not interleaved._next_round_too_costly(1.0, spending, interleaved.MIN_ROUNDS - 1, 1.0)


def test_each_round_is_stamped_so_benchmark_thresholds_apply_at_the_checks() -> None:
    # A per-benchmark threshold ("deepcopy: 20%") reaches deepcopy_memo through the benchmark name that
    # stamping adds: the checks between rounds must see it, not only the final comparison.
    seed = load_suite(BASE_3_11)
    deepcopy = next(b for b in load_benchmarks(()) if b.name == "deepcopy")
    result = interleaved._stamped(seed.get_benchmark("deepcopy_memo"), deepcopy)
    suite = interleaved._add(None, result)
    assert compare.expand_overrides(suite, {"deepcopy": 0.20})["deepcopy_memo"] == 0.20
    # A later round's result joins with the same stamp: pyperf keeps only metadata common to every run.
    memo = load_suite(BASE_3_11).get_benchmark("deepcopy_memo")
    suite = interleaved._add(suite, interleaved._stamped(memo, deepcopy))
    assert compare.expand_overrides(suite, {"deepcopy": 0.20})["deepcopy_memo"] == 0.20
