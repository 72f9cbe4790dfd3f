"""Instruction counts at a fraction of the cost: each side counted once (again only near the
threshold, three times for benchmarks known not to be deterministic), the sides at the same time,
the counting loops calibrated once.

The rule is checked on the stored repetitions of benchmarks/results/instructions*.json (no valgrind);
the counting's orchestration on a fake cachegrind; the slow test counts a real benchmark on a real
build, both sides at once.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import pyperf
import pytest

from benchmarks import instructions as section
from pytest_cpybench.cpython import venvs
from pytest_cpybench.errors import BenchmarkError
from pytest_cpybench.measure import cachegrind, cpus, loops
from pytest_cpybench.measure.interleaved import Side
from pytest_cpybench.measure.processes import RunOptions, WorkerTask
from pytest_cpybench.options import Settings
from pytest_cpybench.results import metadata as md
from pytest_cpybench.session.measurement import InstructionCounts
from pytest_cpybench.suite._pyperformance import load_benchmarks
from pytest_cpybench.suite.definitions import BenchmarkDef
from pytest_cpybench.verdict import compare, stats
from pytest_cpybench.verdict.stats import Verdict

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
# The instructions section's A/A and heads with every repetition kept (docs/measurements/2026-12-07.md).
REPETITIONS_FILE = RESULTS / "instructions-2026-12-07-repetitions.json"
OPTIONS = RunOptions(mode="default", timeout=600)


def _counts(values: list[float], name: str = "tinycopy") -> pyperf.Benchmark:
    return section.counted(values, name)


# -- the rule, on the stored repetitions ---------------------------------------------------


def test_the_rule_gives_the_verdicts_of_three_repetitions_on_the_stored_data() -> None:
    pairs = [pair for path in section.stored_files() for pair in section.pairs_of(path)]
    # The section's A/A (its benchmarks and the concurrency ones) and its three heads are all there.
    labels = {pair.label for pair in pairs}
    assert {"A/A", "neutral", "slowdown-small", "slowdown-tiny"} <= labels, labels
    assert {"deepcopy", "deepcopy_memo", "nbody", "unpack_sequence", "bench_mp_pool", "asyncio_tcp"} <= {
        pair.result for pair in pairs}
    replayed = [section.replay(pair) for pair in pairs]
    differing = [(r.pair.source, r.pair.label, r.pair.result, r.verdict, r.rule.verdict.name)
                 for r in replayed if r.differing]
    assert not differing  # in every order of the repetitions, not only the stored one
    by_result = {(r.pair.source, r.pair.label, r.pair.result): r for r in replayed}
    for (source, label, result), r in by_result.items():
        if r.pair.benchmark in cachegrind.NONDETERMINISTIC:
            assert r.repetitions == 3, (source, label, result)
        elif label in ("A/A", "neutral") or not result.startswith("deepcopy"):
            # Nothing changed: counted once per side, never inconclusive for lack of repetitions.
            assert r.repetitions == r.most == 1 and r.rule.verdict is Verdict.UNCHANGED, (source, label, result)
        else:  # deepcopy's results on the slowed branches: near the threshold or beyond it, counted again
            assert r.repetitions == 2, (source, label, result)
    # Without the list, the margin alone keeps a nondeterministic benchmark from failing on one count.
    assert not any(r.unlisted_failures for r in replayed)
    assert sum(r.repetitions == 1 for r in replayed) >= len(replayed) // 2


def test_the_repetitions_file_holds_three_counts_per_side_of_the_section() -> None:
    pairs = section.pairs_of(REPETITIONS_FILE)
    assert {pair.label for pair in pairs} == {"A/A", "neutral", "slowdown-small", "slowdown-tiny"}
    tiny = {pair.result: pair for pair in pairs if pair.label == "slowdown-tiny"}
    for result in ("deepcopy", "deepcopy_memo"):
        rule = section.replay(tiny[result]).rule
        assert rule.verdict is Verdict.REGRESSION, (result, rule)
    assert not [pair.result for pair in pairs if pair.label == "neutral"
                and section.replay(pair).rule.verdict is Verdict.REGRESSION]


def test_the_rule_counts_again_near_the_threshold_and_where_counts_disagree() -> None:
    wanted = cachegrind.repetitions_wanted
    # One count per side, far from the 1% threshold: done (faster, unchanged, a little slower).
    for ratio in (0.9, 1.0, 1.0049):
        assert wanted([[1_000_000 * ratio], [1_000_000]], 0.01) == 1, ratio
    # Within NEAR_THRESHOLD of the limit, on either side of it, or beyond it: counted again.
    near = (1 + 0.01) / (1 + cachegrind.NEAR_THRESHOLD)
    for ratio in (near, 1.0099, 1.0101, 1.3):
        assert wanted([[1_000_000 * ratio], [1_000_000]], 0.01) == 2, ratio
    assert wanted([[1_000_000 * near * 0.9999], [1_000_000]], 0.01) == 1
    assert wanted([[1_060_000], [1_000_000]], 0.05) == 2 and wanted([[1_020_000], [1_000_000]], 0.05) == 1
    # Two counts that agree to MAX_COUNT_DEVIATION: done; further apart: a third decides.
    assert wanted([[1_012_000, 1_012_010], [1_000_000, 1_000_001]], 0.01) == 2
    assert wanted([[1_012_000, 1_013_000], [1_000_000, 1_000_001]], 0.01) == 3
    assert wanted([[1_012_000, 1_012_000], [1_000_000, 1_000_500]], 0.01) == 3
    # Known not to be deterministic: three from the start; one side alone, or no threshold: once.
    assert wanted([[], []], 0.01, nondeterministic=True) == 3
    assert wanted([[1_000_000]], 0.01) == 1 and wanted([[2_000_000], [1_000_000]], None) == 1
    # Three sides (a bisection's probe): every earlier side over every later one.
    assert wanted([[1_000_000], [1_000_000], [990_000]], 0.01) == 2
    assert {"asyncio_tcp", "async_tree_io", "concurrent_imap"} == cachegrind.NONDETERMINISTIC


def test_one_count_per_side_gets_a_verdict_from_the_interval_of_a_deterministic_count() -> None:
    base = _counts([1_000_000])
    cases = {1_015_000: Verdict.REGRESSION, 1_000_050: Verdict.UNCHANGED, 1_005_000: Verdict.SLOWER_WITHIN_THRESHOLD,
             990_000: Verdict.FASTER, 1_010_100: Verdict.INCONCLUSIVE}
    for head, expected in cases.items():
        rc = compare.compare_benchmarks(base, _counts([head]), threshold=0.01, paired=True)
        assert rc.verdict is expected, (head, rc)
        assert rc.estimate.has_interval  # never "at least 2 processes are needed"
        half = 2 * stats.MAX_COUNT_DEVIATION
        assert rc.estimate.low == pytest.approx(rc.ratio / (1 + half)) and rc.estimate.high == pytest.approx(
            rc.ratio * (1 + half))
    # A stored baseline counted once against a head counted three times, and the other way round.
    three = _counts([1_015_000, 1_015_001, 1_015_002])
    assert compare.compare_benchmarks(base, three, threshold=0.01).verdict is Verdict.REGRESSION
    assert compare.compare_benchmarks(three, _counts([1_015_001]), threshold=0.01).verdict is Verdict.UNCHANGED
    # The headline combines them: it has an interval.
    suite_cmp = compare.compare_suites(pyperf.BenchmarkSuite([base, _counts([1_000_000], "other")]),
                                       pyperf.BenchmarkSuite([_counts([1_015_000]), _counts([1_000_000], "other")]),
                                       threshold=0.01)
    assert suite_cmp.headline is not None and suite_cmp.headline.has_interval
    assert suite_cmp.headline.low < math.sqrt(1.015) < suite_cmp.headline.high


def test_the_interval_of_counts_is_never_narrower_than_counts_repeat() -> None:
    # Three counts spread 6e-7 (async_tree_none's A/A): a paired t-interval called 1.0000005 "slower".
    base = _counts([2_757_183_440.0, 2_757_184_144.0, 2_757_184_004.0])
    head = _counts([2_757_182_440.0 * 1.0000005, 2_757_183_271.0 * 1.0000005, 2_757_183_333.0 * 1.0000005])
    rc = compare.compare_benchmarks(base, head, threshold=0.01, paired=True)
    assert rc.verdict is Verdict.UNCHANGED
    assert rc.estimate.high / rc.estimate.low >= (1 + 2 * stats.MAX_COUNT_DEVIATION) ** 2 * 0.999999
    # Repetitions that spread beyond the bound are still inconclusive, whatever their number.
    noisy = compare.compare_benchmarks(_counts([1_000_000, 1_000_010, 1_000_020]),
                                       _counts([1_050_000, 1_100_000, 1_020_000]), threshold=0.01)
    assert noisy.verdict is Verdict.INCONCLUSIVE and noisy.spread is not None
    assert noisy.spread > stats.MAX_INSTRUCTION_SPREAD


# -- the loops and the workers --------------------------------------------------------------


def test_counting_loops_are_kept_apart_from_the_time_metric_loops(tmp_path: Path) -> None:
    timed = loops.key("box", "deepcopy", "0123456789abcdef", "build")
    counting = loops.key("box", "deepcopy", "0123456789abcdef", "build", purpose=cachegrind.LOOPS_PURPOSE)
    assert timed == "box|deepcopy|0123456789ab|build" and counting == f"{timed}|instructions"
    loops.save(tmp_path, counting, [WorkerTask(0, "deepcopy", 64)])
    assert loops.load(tmp_path, timed) is None
    assert loops.load(tmp_path, counting) == [WorkerTask(0, "deepcopy", 64)]


def test_the_counted_processes_run_one_per_cpu_unless_parallel_is_no(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpus, "usable_cpus", lambda affinity: [0, 1, 2] if affinity is None else [1])
    log = print
    assert InstructionCounts(Settings(parallel="auto"), log).workers() == 3
    assert InstructionCounts(Settings(parallel="yes"), log).workers() == 3
    assert InstructionCounts(Settings(parallel="auto", affinity="1"), log).workers() == 1
    assert InstructionCounts(Settings(parallel="no"), log).workers() == 1


FAKE_COUNT = """\
import sys, time
record, out, seconds, code = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
if code:
    sys.exit(code)
with open(record, "a") as log:
    log.write(f"start {time.time()}\\n")
time.sleep(seconds)
with open(out + "/cachegrind.1", "w") as counts:
    counts.write("summary: " + out.rsplit("-", 1)[1] + "\\n")
with open(record, "a") as log:
    log.write(f"end {time.time()}\\n")
"""


def _fake_commands(folder: Path, seconds: float, count: int, fail: int | None = None
                   ) -> tuple[list[tuple[list[str], Path]], Path]:
    """Commands that log their start, sleep, write a cachegrind summary (the number in their out
    directory's name) and log their end; ``fail``: that one exits 3 at once."""
    folder.mkdir(exist_ok=True)
    script, record = folder / "fake_count.py", folder / "record"
    script.write_text(FAKE_COUNT)
    commands = []
    for number in range(count):
        out = folder / f"out-{1000 + number}"
        out.mkdir()
        code = "3" if number == fail else "0"
        commands.append(([sys.executable, str(script), str(record), str(out), str(seconds), code], out))
    return commands, record


def _most_at_once(record: Path) -> int:
    events = sorted((float(t), 1 if kind == "start" else -1)
                    for kind, t in (line.split() for line in record.read_text().splitlines()))
    running = most = 0
    for _t, step in events:
        running += step
        most = max(most, running)
    return most


@pytest.mark.usefixtures("subprocesses")
def test_counted_processes_run_up_to_the_workers_at_once(tmp_path: Path, subprocesses: None) -> None:
    commands, record = _fake_commands(tmp_path / "pool", 0.6, 4)
    started = time.monotonic()
    found = cachegrind._count_all(commands, [{}] * 4, ["a", "b", "a", "b"], OPTIONS, str(tmp_path), "fake", 2)
    assert found == [1000, 1001, 1002, 1003]
    assert _most_at_once(record) == 2 and time.monotonic() - started < 2.2
    commands, record = _fake_commands(tmp_path / "turns", 0.2, 3)
    assert cachegrind._count_all(commands, [{}] * 3, ["a"] * 3, OPTIONS, str(tmp_path), "fake", 1) == [
        1000, 1001, 1002]
    assert _most_at_once(record) == 1


@pytest.mark.usefixtures("subprocesses")
def test_a_failed_count_stops_the_others_and_names_its_side(tmp_path: Path, subprocesses: None) -> None:
    commands, _record = _fake_commands(tmp_path / "fail", 30, 3, fail=1)
    started = time.monotonic()
    with pytest.raises(BenchmarkError, match="fake crashed") as caught:
        cachegrind._count_all(commands, [{}] * 3, ["head", "base", "head"], OPTIONS, str(tmp_path), "fake", 3)
    assert caught.value.side == "base"
    assert time.monotonic() - started < 15  # the 30-second ones were killed, not waited for


# -- the counting on a fake cachegrind ---------------------------------------------------------


class FakeCachegrind:
    """``_count_all`` for count_sides: a count from the command's interpreter, task and loops,
    ``startup + loops * per_loop``, with a jitter per repetition where asked."""

    def __init__(self, per_loop: dict[tuple[str, int], float], jitter: dict[str, float] | None = None) -> None:
        self.per_loop = per_loop
        self.jitter = jitter or {}
        self.batches: list[int] = []
        self.workers: list[int] = []

    def __call__(self, commands: list[tuple[list[str], Path]], environs: list[dict[str, str]], labels: list[str],
                 options: RunOptions, workdir: str, name: str, workers: int) -> list[int]:
        self.batches.append(len(commands))
        self.workers.append(workers)
        found = []
        for command, _out in commands:
            python = next(arg for arg in command if arg.endswith("python"))
            task = int(next(arg for arg in command if arg.startswith("--worker-task=")).split("=")[1])
            n = int(next(arg for arg in command if arg.startswith("--loops=")).split("=")[1])
            repetition = int(_out.name.split("-")[3])
            side = Path(python).parent.name
            wobble = 1 + self.jitter.get(side, 0.0) * (repetition - 1)
            found.append(round(5_000_000_000 + n * self.per_loop[side, task] * wobble))
        return found


def _fake_sides(tmp_path: Path) -> list[Side]:
    sides = []
    for label in ("head", "base"):
        (tmp_path / label).mkdir()
        sides.append(Side(label, tmp_path / label / "python", {}))
    return sides


@pytest.fixture
def deepcopy() -> BenchmarkDef:
    return next(bench for bench in load_benchmarks() if bench.name == "deepcopy")


def test_count_sides_counts_once_and_again_only_the_result_near_the_threshold(
        tmp_path: Path, deepcopy: BenchmarkDef, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cachegrind, "check_valgrind", lambda: "valgrind")
    fake = FakeCachegrind({("head", 0): 4_056_000, ("base", 0): 4_000_000,  # 1.4%: a regression, confirmed
                           ("head", 1): 36_700, ("base", 1): 36_600,  # 0.27%: once
                           ("head", 2): 500_000, ("base", 2): 500_000})  # unchanged: once
    monkeypatch.setattr(cachegrind, "_count_all", fake)
    tasks = [WorkerTask(0, "deepcopy", 64), WorkerTask(1, "deepcopy_reduce", 8192),
             WorkerTask(2, "deepcopy_memo", 1024)]
    said: list[str] = []
    suites, most = cachegrind.count_sides(deepcopy, _fake_sides(tmp_path), OPTIONS, tasks,
                                          threshold_of=lambda name: 0.01, workers=2, log=said.append)
    assert most == 2 and fake.batches == [12, 4] and fake.workers == [2, 2]  # 3 results x 2 sides x (L, 2L); then 1
    for label in ("head", "base"):
        runs = {b.get_name(): len(b.get_runs()) for b in suites[label].get_benchmarks()}
        assert runs == {"deepcopy": 2, "deepcopy_reduce": 1, "deepcopy_memo": 1}, label
        for bench in suites[label].get_benchmarks():
            metadata = bench.get_metadata()
            assert metadata[md.REPETITIONS] == runs[bench.get_name()] and metadata[md.METRIC] == md.METRIC_INSTRUCTIONS
            assert metadata[md.BENCHMARK_NAME] == "deepcopy" and bench.get_unit() == "integer"
    assert suites["head"].get_benchmark("deepcopy").get_values() == (4_056_000.0, 4_056_000.0)
    verdicts = {name: compare.compare_benchmarks(suites["base"].get_benchmark(name), suites["head"].get_benchmark(name),
                                                 threshold=0.01, paired=True).verdict
                for name in ("deepcopy", "deepcopy_reduce", "deepcopy_memo")}
    assert verdicts == {"deepcopy": Verdict.REGRESSION, "deepcopy_reduce": Verdict.SLOWER_WITHIN_THRESHOLD,
                        "deepcopy_memo": Verdict.UNCHANGED}
    assert "counted 2 times: deepcopy" in said[-1]


def test_count_sides_counts_a_third_time_when_two_counts_disagree(
        tmp_path: Path, deepcopy: BenchmarkDef, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cachegrind, "check_valgrind", lambda: "valgrind")
    per_loop = {("head", 0): 1_010_000, ("base", 0): 1_000_000}
    fake = FakeCachegrind(per_loop, jitter={"head": 0.003})  # a head that is not deterministic
    monkeypatch.setattr(cachegrind, "_count_all", fake)
    suites, most = cachegrind.count_sides(deepcopy, _fake_sides(tmp_path), OPTIONS, [WorkerTask(0, "deepcopy", 1)],
                                          threshold_of=lambda name: 0.01)
    assert most == 3 and fake.batches == [4, 4, 4]
    assert len(suites["head"].get_benchmark("deepcopy").get_runs()) == 3


def test_a_known_nondeterministic_benchmark_is_counted_three_times_alone_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cachegrind, "check_valgrind", lambda: "valgrind")
    imap = next(bench for bench in load_benchmarks() if bench.name == "concurrent_imap")
    fake = FakeCachegrind({("head", 0): 4_000_000, ("head", 1): 700_000_000})
    monkeypatch.setattr(cachegrind, "_count_all", fake)
    (tmp_path / "head").mkdir()
    suites, most = cachegrind.count_sides(imap, [Side("head", tmp_path / "head" / "python", {})], OPTIONS,
                                          [WorkerTask(0, "bench_mp_pool", 1), WorkerTask(1, "bench_thread_pool", 1)])
    assert most == 3 and fake.batches == [12]
    assert {len(b.get_runs()) for b in suites["head"].get_benchmarks()} == {3}


def test_the_l_and_2l_processes_start_alike(tmp_path: Path) -> None:
    task = WorkerTask(0, "deepcopy", 64)
    worker = ["/venv/bin/python", "-u", "run_benchmark.py", "--worker"]
    short, _ = cachegrind.valgrind_command("valgrind", worker, cachegrind._Process(0, task, 0, 64), str(tmp_path))
    long, _ = cachegrind.valgrind_command("valgrind", worker, cachegrind._Process(0, task, 0, 128), str(tmp_path))
    assert "--loops=064" in short and "--loops=128" in long
    assert [len(arg) for arg in short] == [len(arg) for arg in long]


# -- a real benchmark on a real build ------------------------------------------------------


class _Recorded(subprocess.Popen):  # type: ignore[type-arg]
    """Popen that notes when each counted process started and when it was seen to end."""

    spans: ClassVar[list[list[float]]] = []

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._span = [time.monotonic(), math.inf]
        if "valgrind" in str(args[0][0] if args and isinstance(args[0], list) else ""):
            _Recorded.spans.append(self._span)

    def poll(self) -> int | None:
        code = super().poll()
        if code is not None and math.isinf(self._span[1]):
            self._span[1] = time.monotonic()
        return code


def _most_overlapping(spans: list[list[float]]) -> int:
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _t, step in events:
        running += step
        most = max(most, running)
    return most


def test_a_real_benchmark_counted_once_per_side_both_at_once_on_a_real_build(
        cpython_3135, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = next(b for b in load_benchmarks() if b.name == "unpack_sequence")
    env = cpython_3135.run_env()
    venv_python = venvs.ensure_venv(cpython_3135.python, cache_dir, key=cpython_3135.key, env=env or None,
                                    log=lambda _m: None)
    venvs.install_requirements(venv_python, bench, env=env or None, log=lambda _m: None)
    base = Side("v3.13.5", venv_python, env, identity=cpython_3135.key)
    head = Side("head", venv_python, env, identity="head-build")  # the same interpreter under another name
    settings = Settings(cache_dir=tmp_path / "cache", machine="box", threshold=0.01, parallel="auto",
                        metric=md.METRIC_INSTRUCTIONS)
    said: list[str] = []
    counting = InstructionCounts(settings, said.append)
    _Recorded.spans = []
    monkeypatch.setattr(cachegrind.subprocess, "Popen", _Recorded)
    options = RunOptions(mode="default", timeout=600)
    done = counting.measure(bench, [head, base], options, lambda _suites: pytest.fail("counts need no checks"))
    assert done.rounds == 1 and set(done.suites) == {"head", "v3.13.5"}
    for label, suite in done.suites.items():
        (result,) = suite.get_benchmarks()
        assert result.get_name() == "unpack_sequence" and len(result.get_runs()) == 1, label
        assert result.get_metadata()[md.REPETITIONS] == 1 and result.get_unit() == "integer", label
        assert 100 < result.get_values()[0] < 10_000, label  # per inner loop
    rc = compare.compare_benchmarks(done.suites["v3.13.5"].get_benchmark("unpack_sequence"),
                                    done.suites["head"].get_benchmark("unpack_sequence"), threshold=0.01, paired=True)
    assert rc.verdict is Verdict.UNCHANGED and rc.estimate.has_interval, rc
    assert abs(rc.ratio - 1) < stats.MAX_COUNT_DEVIATION
    assert len(_Recorded.spans) == 4  # two sides, each a process at L and one at 2L
    if len(cpus.usable_cpus(None)) >= 2:
        assert _most_overlapping(_Recorded.spans) >= 2, _Recorded.spans  # at the same time
    # The loops are kept for the machine and benchmark, whatever the interpreter (counts depend on them).
    kept = cachegrind.kept_tasks("unpack_sequence", bench.definition_hash, cache_dir=tmp_path / "cache", machine="box")
    assert kept is not None and kept[0].name == "unpack_sequence"
    assert all(cachegrind.loops_of(suite.get_benchmark("unpack_sequence")) == kept[0].loops
               for suite in done.suites.values())

    # Later counts reuse the loops (no calibration); alone, the head is counted once too.
    monkeypatch.setattr(cachegrind, "calibrate", lambda *a, **k: pytest.fail("calibrated again"))
    again = counting.measure_alone(bench, base, options)
    (alone,) = again.get_benchmarks()
    assert len(alone.get_runs()) == 1 and alone.get_metadata()["loops"] == kept[0].loops
    assert statistics.fmean(alone.get_values()) == pytest.approx(
        done.suites["v3.13.5"].get_benchmark("unpack_sequence").get_values()[0], rel=stats.MAX_COUNT_DEVIATION)
    assert any("on 2 side(s)" in line and "once each" in line for line in said), said


# -- stored counts and their loops ----------------------------------------------------------


def _stored(value: float, loops_count: int, name: str = "deepcopy") -> pyperf.Benchmark:
    metadata = {"name": name, "unit": "integer", "loops": loops_count, md.METRIC: md.METRIC_INSTRUCTIONS,
                md.REPETITIONS: 1, md.BENCHMARK_NAME: "deepcopy", md.DEFINITION_HASH: "0123456789ab"}
    return pyperf.Benchmark([pyperf.Run([value], collect_metadata=False, metadata=metadata)])


def test_a_stored_count_at_other_loops_is_counted_again_with_the_head(tmp_path: Path) -> None:
    from pytest_cpybench.session.model import Comparison

    counting = InstructionCounts(Settings(cache_dir=tmp_path, machine="box", threshold=0.01), print)
    assert counting.alike(_stored(4_000_000, 64))  # nothing calibrated on this machine yet: as it is
    loops.save(tmp_path, loops.key("box", "deepcopy", "0123456789abcdef", "", purpose=cachegrind.LOOPS_PURPOSE),
               [WorkerTask(0, "deepcopy", 64)])
    assert cachegrind.kept_tasks("deepcopy", "0123456789ab", cache_dir=tmp_path, machine="box") == [
        WorkerTask(0, "deepcopy", 64)]
    assert counting.alike(_stored(4_000_000, 64)) and not counting.alike(_stored(4_000_000, 16))

    def comparison(base: pyperf.Benchmark, head: pyperf.Benchmark) -> Comparison:
        suites = pyperf.BenchmarkSuite([base]), pyperf.BenchmarkSuite([head])
        return Comparison("v3.13.5", suites[0], suites[1], compare.compare_suites(*suites, threshold=0.01))

    assert not counting.needs_confirming(comparison(_stored(4_000_000, 64), _stored(4_000_400, 64)))
    assert counting.needs_confirming(comparison(_stored(4_000_000, 64), _stored(4_000_400, 16)))
    assert counting.needs_confirming(comparison(_stored(4_000_000, 64), _stored(4_040_000, 64)))  # near 1%


def test_counts_that_collide_at_once_are_counted_one_at_a_time(
        tmp_path: Path, deepcopy: BenchmarkDef, monkeypatch: pytest.MonkeyPatch) -> None:
    # asyncio_tcp listens on a fixed port: two copies at once, and one of them fails.
    monkeypatch.setattr(cachegrind, "check_valgrind", lambda: "valgrind")
    fake = FakeCachegrind({("head", 0): 1_000_000, ("base", 0): 1_000_000})

    def colliding(commands: list[tuple[list[str], Path]], *args: object) -> list[int]:
        workers = args[-1]
        if workers != 1:
            fake.workers.append(int(str(workers)))
            raise BenchmarkError("deepcopy crashed (exit 1)")
        return fake(commands, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(cachegrind, "_count_all", colliding)
    said: list[str] = []
    suites, most = cachegrind.count_sides(deepcopy, _fake_sides(tmp_path), OPTIONS, [WorkerTask(0, "deepcopy", 1)],
                                          threshold_of=lambda name: 0.01, workers=2, log=said.append)
    assert most == 1 and fake.workers == [2, 1]
    assert any("counted one at a time from now on" in line for line in said), said
    assert len(suites["head"].get_benchmark("deepcopy").get_runs()) == 1
