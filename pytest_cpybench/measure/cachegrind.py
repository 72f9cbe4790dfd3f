"""Instruction counts (--cpython-metric=instructions): each result's instructions per loop,
counted by valgrind's cachegrind in pyperf's own worker process.

One *repetition* of a result on one interpreter (side) is two counted worker processes, at L and
2L loops: ``(count(2L) - count(L)) / L`` is the instructions of one loop, startup cancelled. A
count of a deterministic result repeats to about 1e-5 in one environment, so each side is counted
once (:func:`repetitions_wanted` says when more are needed: a benchmark known not to be
deterministic, a result whose first counts come near or beyond the threshold, two counts that
disagree), the sides at the same time when the session may use a CPU per side (cachegrind runs
one thread; a count does not depend on what else runs), and L is calibrated once per benchmark and
interpreter and kept in the cache (:mod:`pytest_cpybench.measure.loops`).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pyperf

from pytest_cpybench.errors import BenchmarkError, CpybenchError
from pytest_cpybench.measure import loops as kept_loops
from pytest_cpybench.measure import processes
from pytest_cpybench.measure.interleaved import Side
from pytest_cpybench.measure.processes import (
    Log,
    RunOptions,
    WorkerTask,
    calibrate,
    check_exit,
    check_time_left,
    error_with_tail,
    stamp,
    worker_command,
)
from pytest_cpybench.results import metadata as md
from pytest_cpybench.suite.definitions import BenchmarkDef
from pytest_cpybench.verdict import stats
from pytest_cpybench.verdict.compare import relative_spread

VALGRIND = "valgrind"
# The most repetitions per side (each a pair of counted processes): what a benchmark known not to
# count deterministically always gets, and a result whose two counts disagree ends with, so that
# compare_benchmarks sees their spread (above stats.MAX_INSTRUCTION_SPREAD: inconclusive).
INSTRUCTION_REPETITIONS = 3
# pyperformance benchmarks whose counts are not deterministic: their repetitions on one interpreter
# spread far beyond the 1e-5 of the others, in the A/A of the instructions section
# (benchmarks/results/instructions-concurrency*.json, counted one process at a time, and
# instructions-2026-12-07-repetitions.json, two at a time): asyncio_tcp 3.4e-3 to 8.9e-3 (a socket
# server and client in one event loop); concurrent_imap's bench_thread_pool 1.5e-2 to 3.1e-2 and
# bench_mp_pool 3.6e-2 to 1.1e-1 (a thread and a process pool); async_tree_io 1.6e-5 and 4.1e-5 one
# at a time, but 6.6e-3 two at a time (2 of its 6 counts 0.6% higher: its timers make the event loop
# turn as often as the process is slow). They are counted INSTRUCTION_REPETITIONS times per side,
# never once. The other asyncio and generator benchmarks measured there (async_tree, coroutines,
# generators, async_generators) spread 2.5e-7 to 1e-5 either way: deterministic.
NONDETERMINISTIC = frozenset({"asyncio_tcp", "async_tree_io", "concurrent_imap"})
# A result counted once per side is counted again when its ratio (head / baseline) is within this of
# the threshold's limit, or beyond it: ratio >= (1 + threshold) / (1 + NEAR_THRESHOLD). A count of a
# deterministic result is within stats.MAX_COUNT_DEVIATION (1e-4) of any other, so 1e-4 would do
# for them; 0.5% also catches a benchmark not known to be nondeterministic whose counts spread up to
# stats.MAX_INSTRUCTION_SPREAD (beyond it, its verdict is inconclusive anyway once it is counted
# three times), and a failure never rests on one count. See docs/measurements/2026-12-07.md.
NEAR_THRESHOLD = 0.005
# A block of loops at least this long (in wall time, without valgrind) is counted; heavier results
# count one loop. A shorter block does not cancel the cold first iterations as well: at a tenth of it
# counts per loop moved by 1e-4 to 3e-3 (deepcopy's results, unpack_sequence), at one loop by up to
# 2x (docs/measurements/2026-12-07.md, loops); so it stays, and L is calibrated once per machine.
INSTRUCTION_MIN_TIME = 0.01
# What counting calibrations are kept under in the loops cache (apart from the time metric's).
LOOPS_PURPOSE = "instructions"
_CACHEGRIND_SUMMARY = re.compile(r"^summary:\s+(\d+)\s*$", re.MULTILINE)
_POLL_SECONDS = 0.05  # how often a running count is checked for its end (each lasts seconds)
# The PATH a counted worker sees (a fixed value, see counting_environ).
COUNTING_PATH = "/usr/local/bin:/usr/bin:/bin"


def check_valgrind() -> str:
    """valgrind's path, or a one-line CpybenchError saying how to install it."""
    path = shutil.which(VALGRIND)
    if path is None:
        raise CpybenchError("--cpython-metric=instructions needs valgrind, which is not installed "
                            "(or not on PATH): install it, e.g. sudo apt-get install valgrind")
    return path


# -- how many repetitions ------------------------------------------------------------------


def repetitions_wanted(counts: Sequence[Sequence[float]], threshold: float | None, *,
                       nondeterministic: bool = False, margin: float = NEAR_THRESHOLD) -> int:
    """How many repetitions per side a result needs, from its counts so far (one list per side, in
    the order of :func:`count_sides`' sides: the head first, each ratio is an earlier side over a
    later one).

    * a benchmark known not to be deterministic (NONDETERMINISTIC): INSTRUCTION_REPETITIONS;
    * one count per side: one, unless a ratio is near the threshold or beyond it (within ``margin``
      of its limit: NEAR_THRESHOLD), then two (``threshold`` None: one side, or no verdict to make: one);
    * two counts per side: two, unless a side's two differ by more than stats.MAX_COUNT_DEVIATION
      (not deterministic), then INSTRUCTION_REPETITIONS, whose spread decides.
    """
    done = min(len(side) for side in counts)
    if nondeterministic or done >= INSTRUCTION_REPETITIONS:
        return max(done, INSTRUCTION_REPETITIONS)
    if done == 0:
        return 1
    if done >= 2:
        disagree = any(relative_spread(side[:done]) > stats.MAX_COUNT_DEVIATION for side in counts)
        return INSTRUCTION_REPETITIONS if disagree else done
    if threshold is None or len(counts) < 2:
        return 1
    means = [statistics.fmean(side[:1]) for side in counts]
    near = (1 + threshold) / (1 + margin)
    pairs = [(means[i], means[j]) for i in range(len(means)) for j in range(i + 1, len(means))]
    return 2 if any(head / base >= near for head, base in pairs) else 1


# -- loops ---------------------------------------------------------------------------------


def counting_tasks(venv_python: Path, bench: BenchmarkDef, options: RunOptions, *, cache_dir: Path | None = None,
                   machine: str = "") -> list[WorkerTask]:
    """Every result of ``bench`` with the loops it is counted at (L): calibrated without valgrind to a
    block of INSTRUCTION_MIN_TIME seconds on ``venv_python``, in the counting environment; with
    ``cache_dir``, once per machine and benchmark definition, then kept (apart from the time
    metric's loops) for every interpreter.

    Not per interpreter: the count per loop depends on L (the window ``(L, 2L]`` of iterations
    still differs from the first, cold ones, by up to 1.3% on float between L = 1 and 2:
    docs/measurements/2026-12-07.md, loops), so every side of a comparison, stored ones included,
    must be counted at the same L; a calibration in wall time, made again, could come out
    otherwise on a busier machine.
    """
    entry = kept_loops.key(machine, bench.name, bench.definition_hash, "", purpose=LOOPS_PURPOSE)
    if cache_dir is not None and (kept := kept_loops.load(cache_dir, entry)) is not None:
        return kept
    found = calibrate(venv_python, bench, replace(options, affinity=None), {}, warmups=None,
                      min_time=INSTRUCTION_MIN_TIME, environ=counting_environ(options))
    if cache_dir is not None:
        kept_loops.save(cache_dir, entry, found)
    return found


def kept_tasks(bench: str, definition_hash: str, *, cache_dir: Path, machine: str) -> list[WorkerTask] | None:
    """The loops :func:`counting_tasks` keeps for a benchmark on a machine, if it has calibrated them."""
    return kept_loops.load(cache_dir, kept_loops.key(machine, bench, definition_hash, "", purpose=LOOPS_PURPOSE))


def loops_of(result: pyperf.Benchmark) -> int | None:
    """The L a result of counts was counted at (None: not one L, or not said)."""
    found = {run.get_metadata().get("loops") for run in result.get_runs()}
    return int(found.pop()) if len(found) == 1 and None not in found else None


# -- counting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Process:
    """One counted worker process: a side, a result, a repetition, its loops."""

    side: int
    task: WorkerTask
    repetition: int
    loops: int


def count_sides(bench: BenchmarkDef, sides: Sequence[Side], options: RunOptions, tasks: Sequence[WorkerTask], *,
                repetitions: int | None = None, threshold_of: Callable[[str], float] | None = None,
                workers: int = 1, log: Log | None = None,
                keep: Path | None = None) -> tuple[dict[str, pyperf.BenchmarkSuite], int]:
    """Every result of ``bench`` counted on every side (the head first), at the loops of ``tasks``.

    ``repetitions``: that many per side; None: as :func:`repetitions_wanted` says, the threshold of a
    result given by ``threshold_of(result name)`` (None: no threshold, one repetition, three for a
    known nondeterministic benchmark). Up to ``workers`` counted processes run at once (the sides
    of a repetition, its two processes, the results). ``keep``: cachegrind's output files are kept
    there, in :func:`kept_folder`'s folders (one file per process and child process), for
    per-function profiles (:mod:`pytest_cpybench.explain.instructions`). Returns each side's suite by label (one
    ``integer`` value per repetition, the ``cpybench_repetitions`` metadata saying how many) and
    the most repetitions a result got.
    """
    say = log or (lambda message: None)
    valgrind = check_valgrind()
    started = time.monotonic()
    environs = [counting_environ(replace(options, env={**options.env, **side.env})) for side in sides]
    counts: dict[tuple[int, int], list[float]] = {(s, t.index): [] for s in range(len(sides)) for t in tasks}
    nondeterministic = bench.name in NONDETERMINISTIC

    def wanted(task: WorkerTask) -> int:
        if repetitions is not None:
            return repetitions
        threshold = threshold_of(task.name) if threshold_of is not None else None
        return repetitions_wanted([counts[s, task.index] for s in range(len(sides))], threshold,
                                  nondeterministic=nondeterministic)

    with tempfile.TemporaryDirectory(prefix=f"cpybench-{bench.name}-") as workdir:
        while True:
            targets = {t.index: wanted(t) for t in tasks}
            # The longer process of a pair first: the last to start are the short ones.
            batch = [_Process(s, t, r, n) for t in tasks for r in range(len(counts[0, t.index]), targets[t.index])
                     for n in (2 * t.loops, t.loops) for s in range(len(sides))]
            if not batch:
                break
            labels = [sides[p.side].label for p in batch]
            commands = [valgrind_command(valgrind, worker_command(sides[p.side].venv_python, bench), p, workdir)
                        for p in batch]
            try:
                found = _count_all(commands, [environs[p.side] for p in batch], labels, options, workdir, bench.name,
                                   workers)
            except BenchmarkError as failed:
                if workers == 1 or failed.timed_out:
                    raise
                # Two copies at once can collide (a fixed TCP port: asyncio_tcp): one at a time from now on.
                say(f"{bench.name}: {failed}, with {workers} counts at a time; counted one at a time from now on")
                workers = 1
                commands = [valgrind_command(valgrind, worker_command(sides[p.side].venv_python, bench), p, workdir,
                                             retry=True) for p in batch]
                try:
                    found = _count_all(commands, [environs[p.side] for p in batch], labels, options, workdir,
                                       bench.name, 1)
                except BenchmarkError:
                    raise failed from None  # it fails alone too: the first error says where and why
            by_process = dict(zip(batch, found, strict=True))
            if keep is not None:
                for process, (_command, out) in zip(batch, commands, strict=True):
                    shutil.copytree(out, kept_folder(keep, sides[process.side].label, process.task.name,
                                                     process.repetition, process.loops), dirs_exist_ok=True)
            for process in batch:
                if process.loops != process.task.loops:
                    continue
                task = process.task
                at_l, at_2l = by_process[process], by_process[replace(process, loops=2 * task.loops)]
                per_loop = (at_2l - at_l) / (task.loops * task.inner_loops)
                if per_loop <= 0:
                    err = BenchmarkError(
                        f"{task.name}: its instruction count does not grow with its loops ({at_l} at {task.loops}, "
                        f"{at_2l} at {2 * task.loops} loops): measure it with --cpython-metric=time")
                    err.side = sides[process.side].label
                    raise err
                counts[process.side, task.index].append(round(per_loop, 3))
    suites = {}
    for s, side in enumerate(sides):
        results = []
        for task in tasks:
            values = counts[s, task.index]
            metadata = {"name": task.name, "unit": "integer", "loops": task.loops, md.METRIC: md.METRIC_INSTRUCTIONS,
                        md.REPETITIONS: len(values)}
            results.append(pyperf.Benchmark([pyperf.Run([value], warmups=None, collect_metadata=False,
                                                        metadata=metadata) for value in values]))
        suites[side.label] = stamp(pyperf.BenchmarkSuite(results), bench)
    most = max(len(values) for values in counts.values())
    again = sorted({t.name for t in tasks if len(counts[0, t.index]) > 1})
    say(f"{bench.name}: instructions of {len(tasks)} result(s) on {len(sides)} side(s) counted in "
        f"{time.monotonic() - started:.1f} s, {workers} at a time"
        + (f"; counted {most} times: {', '.join(again)}" if again else ", once each"))
    return suites, most


def kept_folder(keep: Path, label: str, result: str, repetition: int, loops: int) -> Path:
    """Where :func:`count_sides` keeps the cachegrind files of one counted process (``keep``: its
    argument): ``<label>/<result>-r<repetition>-L<loops>/cachegrind.<pid>``."""
    return keep / label / f"{result}-r{repetition}-L{loops}"


def count_instructions(
    venv_python: Path,
    bench: BenchmarkDef,
    options: RunOptions,
    *,
    repetitions: int = INSTRUCTION_REPETITIONS,
    log: Log | None = None,
) -> pyperf.BenchmarkSuite:
    """Instructions per loop of every result of ``bench`` on one interpreter, ``repetitions`` times,
    one process at a time (the loops calibrated now, not kept).

    For each result the loops are calibrated without valgrind to a block of at least
    INSTRUCTION_MIN_TIME seconds (L loops); then each repetition runs pyperf's own worker
    (``--worker --worker-task=i --warmups=0 --values=1``) under ``valgrind --tool=cachegrind
    --cache-sim=no`` twice, at L and 2L loops, and keeps ``(count(2L) - count(L)) / L``: interpreter
    startup, imports, pyperf's metadata collection and the first, cold iterations are the same in
    both processes and cancel exactly. The worker runs on the venv's python, a symlink to the real
    interpreter (valgrind runs the binary itself; no wrapper script), in a fixed environment
    (:func:`counting_environ`); child processes are counted too (``--trace-children=yes``:
    benchmarks that run a command, such as python_startup). The result is a pyperf suite with unit
    ``integer``, one value (instructions per loop) per repetition, and the ``cpybench_metric``
    metadata ``instructions``. A session counts through :func:`count_sides` instead.
    """
    tasks = counting_tasks(venv_python, bench, options)
    side = Side(label="", venv_python=venv_python, env={})
    suites, _ = count_sides(bench, [side], options, tasks, repetitions=repetitions, log=log)
    return suites[""]


def valgrind_command(valgrind: str, worker: list[str], process: _Process, workdir: str, *,
                     retry: bool = False) -> tuple[list[str], Path]:
    """The counted worker of ``process`` (``worker``: the side's ``python -u script --worker``) under
    cachegrind, and the directory its counts go to. Its file names and ``--loops`` are as long in
    the L process as in the 2L one (the loops zero-padded), so both start alike: the arguments are
    copied onto the stack and into objects on the heap."""
    width = len(str(2 * process.task.loops))
    name = f"{process.side}-{process.task.index}-{process.repetition}-{process.loops:0{width}d}"
    out = Path(workdir) / f"cachegrind{'-again' if retry else ''}-{name}"
    out.mkdir()
    return [valgrind, "--tool=cachegrind", "--cache-sim=no", "--trace-children=yes",
            f"--cachegrind-out-file={out}/cachegrind.%p", f"--log-file={out}/valgrind.%p.log",
            *worker, f"--loops={process.loops:0{width}d}", "--values=1", "--warmups=0",
            f"--worker-task={process.task.index}", f"--output={Path(workdir) / f'run-{name}.json'}"], out


def _count_all(commands: list[tuple[list[str], Path]], environs: list[dict[str, str]], labels: list[str],
               options: RunOptions, workdir: str, name: str, workers: int) -> list[int]:
    """Every command's instructions (its processes' and their children's), up to ``workers`` of them
    running at once, each in its own session; the first failure kills the others and is raised
    (with its side's label), as is Ctrl-C. Each command may run until --cpython-timeout is used up."""
    pending = list(range(len(commands)))
    running: dict[int, tuple[subprocess.Popen, float, Path, Path]] = {}
    found: dict[int, int] = {}
    try:
        while pending or running:
            while pending and len(running) < max(1, workers):
                number = pending.pop(0)
                check_time_left(name, options)
                command, _out = commands[number]
                env = environs[number]
                stderr_path = Path(workdir) / f"stderr-{number}.txt"
                stdout_path = stderr_path.with_name(f"stdout-{number}.txt")
                with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
                    try:
                        process = subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                                                   stdout=stdout, stderr=stderr, start_new_session=True)
                    except OSError as exc:
                        raise BenchmarkError(f"{name} could not start: {exc}") from None
                running[number] = (process, time.monotonic() + options.kill_after(), stderr_path, stdout_path)
            time.sleep(_POLL_SECONDS)
            for number, (process, deadline, stderr_path, stdout_path) in list(running.items()):
                returncode = process.poll()
                if returncode is None and time.monotonic() > deadline:
                    processes._kill_group(process)
                    returncode = processes.PYPERF_TIMEOUT_EXIT
                if returncode is None:
                    continue
                del running[number]
                tail = processes._failure_tail(returncode, stderr_path, stdout_path)
                try:
                    check_exit(returncode, tail, name, options)
                    found[number] = _instructions(commands[number][1], name, tail)
                except BenchmarkError as err:
                    err.side = labels[number]
                    raise
    finally:
        # Also on an error or Ctrl-C: never leave a count running behind the caller.
        for process, _deadline, _stderr, _stdout in running.values():
            if process.poll() is None:
                processes._kill_group(process)
    return [found[number] for number in range(len(commands))]


def _instructions(out: Path, name: str, stderr_tail: str) -> int:
    """Instructions of a counted process and all its child processes (one cachegrind file each in
    ``out``): a benchmark that runs a command (python_startup) counts the command too."""
    counts = []
    for path in out.iterdir():
        match = _CACHEGRIND_SUMMARY.search(path.read_text("utf-8", errors="replace"))
        if match is not None:
            counts.append(int(match.group(1)))
    if not counts:
        raise error_with_tail(f"{name}: cachegrind wrote no instruction count", stderr_tail)
    return sum(counts)


def counting_environ(options: RunOptions) -> dict[str, str]:
    """The exact environment of a counted worker: fixed content, never the caller's.

    Environment strings are copied onto the heap at startup, so every object after them moves
    with their total size: one more 100-byte variable moved v3.13.5's counts by up to 0.7%
    (deepcopy_memo, chaos: dicts keyed by id() probe differently), while counts repeat to 1e-5
    in one environment (docs/measurements/2026-11-29.md, one environment variable more). So a count depends on
    what the target needs (``options.env``: a shared build's LD_LIBRARY_PATH), the variables the
    user asked to pass on (--cpython-inherit-env), and nothing else: not the shell's, not CI's,
    not pytest's per-test variables.
    """
    env = {"PATH": COUNTING_PATH, "PYTHONHASHSEED": "0"}
    env.update({name: os.environ[name] for name in options.inherit_environ if name in os.environ})
    env.update(options.env)
    env["PYTHONHASHSEED"] = "0"
    return env
