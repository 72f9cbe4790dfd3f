"""Explaining failures: triage, then differential profiles of the base and head interpreters on the
failing benchmark, measured after the verdict with a fixed number of loops per side, the raw files
kept where a user can open them.

* instructions (always): each side counted once under cachegrind at the loops of the instruction
  metric (L and 2L: startup cancels), the files kept; per function, instructions per loop on each
  side (:mod:`.instructions`). Under the time metric this is also the count that tells code
  (instructions grew) from layout (they did not).
* time (the time metric; :func:`perf_problem` says when it cannot): ``perf record -e cpu-clock -g``
  on PERF_PAIRS pairs of worker processes (base then head), each running PERF_VALUES values of a
  block of PERF_LOOP_FACTOR times the counted loops, with CPython's perf trampoline (``-X perf``,
  3.12+) so that Python functions show; per symbol, milliseconds of samples per loop
  (:mod:`.samples`), ranked only beyond their noise over the pairs. The ``perf-PID.map`` files the
  trampoline writes in /tmp are moved beside each ``perf.data``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pyperf

from pytest_cpybench.cpython import venvs
from pytest_cpybench.errors import CpybenchError
from pytest_cpybench.explain import instructions, samples, triage
from pytest_cpybench.explain.model import Explanation, Profile, PystatsDiff
from pytest_cpybench.measure import cachegrind, pagecache
from pytest_cpybench.measure.interleaved import Side
from pytest_cpybench.measure.processes import Log, RunOptions, WorkerTask, check_exit, run_bounded, worker_command
from pytest_cpybench.results import metadata as md
from pytest_cpybench.suite.definitions import BenchmarkDef

PERF = "perf"
# Pairs of perf-recorded processes per result (base, head, base, head, ...): the change of a symbol
# is the mean of its per-pair differences, bounded by a t interval with PERF_PAIRS - 1 degrees of
# freedom. Five is the fewest for which the Bonferroni-corrected interval over a benchmark's ~20-60
# tested symbols stays finite enough to rank a doubled symbol (t of 4 degrees of freedom at
# 1 - 0.05/40 is about 9) while costing seconds, not minutes (docs/measurements/2026-12-07-explain.md).
PERF_PAIRS = 5
# Values per recorded process, each of PERF_LOOP_FACTOR x the counted loops (a block of about 0.1 s:
# the counted loops make a block of at least cachegrind.INSTRUCTION_MIN_TIME, 0.01 s), one warmup.
PERF_VALUES = 5
PERF_LOOP_FACTOR = 10
PERF_FREQUENCY = 999  # samples per second of cpu-clock: a sample is about 1 ms
# Call chains from a copy of the stack (DWARF): CPython is built without frame pointers, so chains
# walked by frame pointers rarely reach the trampoline's Python frames (1 sample in 400 had
# py::deepcopy on its stack, against 189 in 369 with DWARF). 8 KiB of stack per sample: about 10 MB
# of perf.data per second recorded, so only the first pair's files are kept (KEPT_PAIRS).
PERF_CALL_GRAPH = "dwarf,8192"
KEPT_PAIRS = 1
# A symbol is tested when it has, per process on one side, at least this many samples.
MIN_SAMPLES = samples.MIN_SAMPLES
FIRST_PERF_VERSION = (3, 12)  # the perf trampoline (-X perf)


@dataclass
class Pair:
    """One baseline against the head on one benchmark: what explaining its results needs."""

    bench: BenchmarkDef
    base: Side
    head: Side
    head_version: str
    results: list[str]  # the results to explain ([]: every result of the benchmark)
    metric: str  # of the verdict: "time" or "instructions"
    threshold: float = 0.05  # of the verdict (the bimodal triage compares medians with it)
    # The data of the verdict (the bimodal triage reads its values); None: explained without a verdict.
    base_suite: pyperf.BenchmarkSuite | None = None
    head_suite: pyperf.BenchmarkSuite | None = None
    # The cachegrind files the verdict's count kept (cachegrind.kept_folder's layout), if it did.
    counted: Path | None = None


@dataclass
class Where:
    """Where explaining works: the cache (the counted loops are kept there), the machine, the folder the
    raw files go to, how many counts may run at once."""

    cache_dir: Path
    machine: str
    folder: Path
    workers: int = 1


def explain(pair: Pair, options: RunOptions, where: Where, *, profiles: Sequence[str], log: Log,
            pystats: Callable[[Sequence[str]], PystatsDiff] | None = None) -> list[Explanation]:
    """Each result of ``pair`` triaged and profiled (``profiles``: "instructions", "time"), and given
    the benchmark's pystats comparison when ``pystats`` makes one (called with the results wanted; it
    never raises: :func:`.pystats.pystats_diff`). What cannot be done (no valgrind, no perf, a crash,
    no pystats build) is a line; the verdict never depends on it."""
    started = time.monotonic()
    notes: list[str] = []
    environment = environment_differences(pair, notes)
    where.folder.mkdir(parents=True, exist_ok=True)
    counted: dict[str, tuple[float, float, Profile]] = {}
    if "instructions" in profiles and shutil.which(cachegrind.VALGRIND) is None:
        notes.append("no instruction profile: valgrind is not installed (Debian: apt-get install valgrind)")
    elif "instructions" in profiles:
        try:
            counted = instruction_profiles(pair, options, where, log)
        except CpybenchError as err:
            notes.append(f"no instruction profile: {err}")
    timed: dict[str, Profile] = {}
    if "time" in profiles:
        problem = perf_problem()
        if problem is not None:
            notes.append(f"no time profile: {problem}; the instruction profile stands in for it")
        else:
            try:
                timed = time_profiles(pair, options, where, counted_tasks(pair, options, where), log)
            except CpybenchError as err:
                notes.append(f"no time profile: {err}")
        if timed and _version(pair.head_version) < FIRST_PERF_VERSION:
            notes.append(f"Python {pair.head_version} has no perf trampoline (3.12+): Python functions are not "
                         "named in the time profile")
    diff = pystats(pair.results) if pystats is not None else None
    explanations = []
    for name in pair.results or sorted(set(counted) | set(timed)) or (diff.results if diff else []):
        bimodal = _bimodal(pair, name)
        count = counted.get(name)
        profile_list = [p for p in (timed.get(name), count[2] if count else None) if p is not None]
        kind, reason = triage.classify(environment=environment, bimodal=bimodal,
                                       instructions=(count[0], count[1]) if count else None, metric=pair.metric,
                                       profile_moved=bool(timed.get(name) and timed[name].contributors))
        explanations.append(Explanation(name, pair.base.label, kind, reason, list(notes), profile_list,
                                        folder=str(where.folder), pystats=diff))
    spent = round(time.monotonic() - started, 1)
    for explanation in explanations:
        explanation.seconds = spent
    log(f"{pair.bench.name}: explained {len(explanations)} result(s) against {pair.base.label} in {spent} s "
        f"({', '.join(f'{e.result}: {e.kind}' for e in explanations)}); raw files in {where.folder}")
    return explanations


def environment_differences(pair: Pair, notes: list[str]) -> list[str]:
    """What differs between the two sides' benchmark environments: the packages the benchmark runs
    with in each venv, and the pyperformance each side's results were made with."""
    try:
        found = triage.environment_differences(venvs.benchmark_packages(pair.base.venv_python, pair.bench),
                                               venvs.benchmark_packages(pair.head.venv_python, pair.bench))
    except (OSError, CpybenchError) as err:
        notes.append(f"the venvs could not be compared: {err}")
        found = []
    if pair.base_suite is not None and pair.head_suite is not None:
        versions = [md.suite_value(suite, md.PERFORMANCE_VERSION) for suite in (pair.base_suite, pair.head_suite)]
        if None not in versions and versions[0] != versions[1]:
            found.append(f"pyperformance: {versions[0]} on the base, {versions[1]} on the head")
    return found


def _bimodal(pair: Pair, name: str) -> str | None:
    if pair.metric != md.METRIC_TIME or pair.base_suite is None or pair.head_suite is None:
        return None
    try:
        base, head = pair.base_suite.get_benchmark(name), pair.head_suite.get_benchmark(name)
    except KeyError:
        return None
    return triage.bimodal_reason(base, head, pair.threshold)


# -- instructions ------------------------------------------------------------------------------


def counted_tasks(pair: Pair, options: RunOptions, where: Where) -> list[WorkerTask]:
    """The tasks of the results explained, at the loops the instruction metric counts them at
    (calibrated once per machine and kept: cachegrind.counting_tasks)."""
    names = set(pair.results)
    tasks = cachegrind.counting_tasks(pair.base.venv_python, pair.bench, replace(options, env={**options.env,
                                                                                           **pair.base.env}),
                                      cache_dir=where.cache_dir, machine=where.machine)
    return [task for task in tasks if task.name in names] or tasks


def instruction_profiles(pair: Pair, options: RunOptions, where: Where,
                         log: Log) -> dict[str, tuple[float, float, Profile]]:
    """Per result: instructions per loop of base and head, and the per-function profile. The files of
    the verdict's own count are used when it kept them (``pair.counted``: the instruction metric);
    otherwise each side is counted once now."""
    tasks = counted_tasks(pair, options, where)
    keep = where.folder / "cachegrind"
    reused = pair.counted is not None and all(
        any(cachegrind.kept_folder(pair.counted, side.label, task.name, 0, loops).glob("cachegrind.*"))
        for side in (pair.base, pair.head) for task in tasks for loops in (task.loops, 2 * task.loops))
    if reused:
        assert pair.counted is not None
        for side in (pair.base, pair.head):
            shutil.copytree(pair.counted / side.label, keep / side.label, dirs_exist_ok=True)
    else:
        cachegrind.count_sides(pair.bench, [pair.base, pair.head], options, tasks, repetitions=1,
                               workers=where.workers, log=log, keep=keep)
    found = {}
    for task in tasks:
        per_side = []
        files: list[str] = []
        for side in (pair.base, pair.head):
            at = []
            for loops in (task.loops, 2 * task.loops):
                folder = cachegrind.kept_folder(keep, side.label, task.name, 0, loops)
                paths = sorted(folder.glob("cachegrind.*"))
                files.extend(str(p) for p in paths)
                at.append(instructions.added(instructions.parse(p.read_text("utf-8", errors="replace"))
                                             for p in paths))
            per_side.append(instructions.per_loop(at[0], at[1], task.loops * task.inner_loops))
        source = "the verdict's count" if reused else "one count per side"
        how = (f"cachegrind, {source} at "
               f"{task.loops} and {2 * task.loops} loops (startup cancels), functions whose change is under 1e-4 "
               "of the total not ranked")
        profile = instructions.profile(per_side[0], per_side[1], how=how, files=files)
        found[task.name] = (profile.base_total, profile.head_total, profile)
    return found


# -- time --------------------------------------------------------------------------------------


def perf_problem() -> str | None:
    """Why ``perf record -e cpu-clock`` cannot run here (one line), or None: it is installed and a
    first recording of a trivial command works (perf_event_paranoid may forbid it)."""
    path = shutil.which(PERF)
    if path is None:
        return "perf is not installed (Debian: apt-get install linux-perf)"
    with tempfile.TemporaryDirectory(prefix="cpybench-perf-") as workdir:
        try:
            done = subprocess.run([path, "record", "-q", "-e", "cpu-clock", "-o", f"{workdir}/check.data", "--",
                                   "true"], capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"perf could not run ({err})"
    if done.returncode != 0:
        paranoid = Path("/proc/sys/kernel/perf_event_paranoid")
        level = paranoid.read_text().strip() if paranoid.is_file() else "?"
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"perf record is not permitted here (perf_event_paranoid is {level}: {last})"
    return None


def time_profiles(pair: Pair, options: RunOptions, where: Where, tasks: Sequence[WorkerTask],
                  log: Log) -> dict[str, Profile]:
    """Per result: samples per symbol per loop on PERF_PAIRS pairs of recorded processes, compared."""
    perf = shutil.which(PERF) or PERF
    found = {}
    code_files = pagecache.code_files(side.venv_python for side in (pair.base, pair.head)) if options.reload else []
    for task in tasks:
        loops = task.loops * PERF_LOOP_FACTOR
        done_loops = loops * task.inner_loops * (PERF_VALUES + 1)
        per_side: dict[str, list[dict[str, float]]] = {pair.base.label: [], pair.head.label: []}
        counts: dict[str, list[int]] = {pair.base.label: [], pair.head.label: []}
        files: list[str] = []
        for repetition in range(PERF_PAIRS):
            pagecache.drop(code_files)  # each pair in new physical pages, as the verdict's rounds were
            for side in (pair.base, pair.head):
                data = where.folder / "perf" / side.label / f"perf.{task.name}.{repetition}.data"
                text, maps = _record(perf, pair.bench, side, task, loops, data, options)
                if repetition < KEPT_PAIRS:
                    files += [str(data), *map(str, maps)]
                else:
                    for path in (data, *maps):  # read: its samples are in ``text``
                        path.unlink(missing_ok=True)
                recorded = samples.parse_script(text)
                counts[side.label].append(recorded.total)
                per_side[side.label].append(samples.per_loop(recorded, done_loops, 1000 / PERF_FREQUENCY))
        min_ms = MIN_SAMPLES * 1000 / PERF_FREQUENCY / done_loops
        how = (f"perf record -e cpu-clock -F {PERF_FREQUENCY} -g, {PERF_PAIRS} pairs of processes, each "
               f"{PERF_VALUES + 1} values of {loops} loops ({_median(counts[pair.base.label])} and "
               f"{_median(counts[pair.head.label])} samples per process); a symbol is ranked when its change is "
               f"beyond its {samples.CONFIDENCE:.0%} interval over the pairs (Bonferroni over the symbols) and "
               f"at least {samples.MIN_SHARE:.0%} of the base's total")
        found[task.name] = samples.profile(per_side[pair.base.label], per_side[pair.head.label], how=how,
                                           min_samples_ms=min_ms, files=files)
        log(f"{pair.bench.name}: {task.name} profiled with perf on {PERF_PAIRS} pairs of processes")
    return found


def _version(text: str) -> tuple[int, int]:
    parts = [int("".join(ch for ch in part if ch.isdigit()) or 0) for part in text.split(".")[:2]]
    major, minor = [*parts, 0, 0][:2]
    return major, minor


def _median(values: list[int]) -> int:
    return int(statistics.median(values)) if values else 0


def _record(perf: str, bench: BenchmarkDef, side: Side, task: WorkerTask, loops: int, data: Path,
            options: RunOptions) -> tuple[str, list[Path]]:
    """One worker process of ``side`` recorded by perf: the samples as ``perf script`` prints them, and
    the trampoline's /tmp/perf-PID.map files, moved beside ``data`` once read."""
    data.parent.mkdir(parents=True, exist_ok=True)
    worker = worker_command(side.venv_python, bench)
    command = [perf, "record", "-q", "-e", "cpu-clock", "-F", str(PERF_FREQUENCY), "--call-graph", PERF_CALL_GRAPH,
               "-o", str(data), "--",
               worker[0], "-X", "perf", *worker[1:], f"--worker-task={task.index}", f"--loops={loops}",
               f"--values={PERF_VALUES}", "--warmups=1"]
    environ = {**venvs.target_environ({**options.env, **side.env}), "PYTHONPERFSUPPORT": "1"}
    with tempfile.TemporaryDirectory(prefix=f"cpybench-{bench.name}-perf-") as workdir:
        command.append(f"--output={workdir}/run.json")
        returncode, tail = run_bounded(command, options, workdir, bench.name, environ)
        check_exit(returncode, tail, bench.name, options)
    text = ""
    maps: list[Path] = []
    try:
        text = subprocess.run([perf, "script", "-i", str(data), "-F", "pid,ip,sym", "--no-inline"], capture_output=True,
                              text=True, check=False, timeout=600, errors="replace").stdout
    finally:
        # Only the maps of the processes recorded (other sessions' processes write theirs there too).
        for path in (Path(f"/tmp/perf-{pid}.map") for pid in _pids(text) if Path(f"/tmp/perf-{pid}.map").is_file()):
            try:
                shutil.move(str(path), str(data.parent / path.name))
                maps.append(data.parent / path.name)
            except OSError:
                pass
    if not os.path.getsize(data):
        raise CpybenchError(f"perf wrote no samples to {data}")
    return text, maps


def _pids(text: str) -> set[str]:
    """The process ids of ``perf script -F pid,ip,sym`` output (a sample's first line)."""
    return {line.strip() for line in text.splitlines() if line.strip().isdigit()}
