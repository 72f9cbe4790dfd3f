"""Instruction counts (--cpython-metric=instructions): each result's instructions per loop,
counted by valgrind's cachegrind in pyperf's own worker process."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pyperf

from pytest_cpybench.errors import BenchmarkError, CpybenchError
from pytest_cpybench.measure.processes import (
    Log,
    RunOptions,
    calibrate,
    check_exit,
    check_time_left,
    error_with_tail,
    run_bounded,
    stamp,
    worker_command,
)
from pytest_cpybench.results import metadata as md
from pytest_cpybench.suite.definitions import BenchmarkDef

VALGRIND = "valgrind"
# Repetitions per side: each one a pair of counted processes (see count_instructions).
INSTRUCTION_REPETITIONS = 3
# A block of loops at least this long (in wall time, without valgrind) is counted: its count is
# millions of instructions, so valgrind's jitter of about a thousand is below 1e-4 of it.
INSTRUCTION_MIN_TIME = 0.01
_CACHEGRIND_SUMMARY = re.compile(r"^summary:\s+(\d+)\s*$", re.MULTILINE)
# The PATH a counted worker sees (a fixed value, see counting_environ).
COUNTING_PATH = "/usr/local/bin:/usr/bin:/bin"


def check_valgrind() -> str:
    """valgrind's path, or a one-line CpybenchError saying how to install it."""
    path = shutil.which(VALGRIND)
    if path is None:
        raise CpybenchError("--cpython-metric=instructions needs valgrind, which is not installed "
                            "(or not on PATH): install it, e.g. sudo apt-get install valgrind")
    return path


def count_instructions(
    venv_python: Path,
    bench: BenchmarkDef,
    options: RunOptions,
    *,
    repetitions: int = INSTRUCTION_REPETITIONS,
    log: Log | None = None,
) -> pyperf.BenchmarkSuite:
    """Instructions per loop of every result of ``bench``, counted by cachegrind.

    For each result (pyperf worker task) the loops are calibrated once without valgrind to a
    block of at least INSTRUCTION_MIN_TIME seconds (L loops); then each repetition runs pyperf's
    own worker (``--worker --worker-task=i --warmups=0 --values=1``) under
    ``valgrind --tool=cachegrind --cache-sim=no`` twice, at L and 2L loops, and keeps
    ``(count(2L) - count(L)) / L``: interpreter startup, imports, pyperf's metadata collection
    and the first, cold iterations are the same in both processes and cancel exactly. The
    worker runs on the venv's python, a symlink to the real interpreter (valgrind runs the
    binary itself; no wrapper script), in a fixed environment (:func:`counting_environ`); child
    processes are counted too (``--trace-children=yes``: benchmarks that run a command, such as
    python_startup). The result is a pyperf suite with unit ``integer``, one value (instructions
    per loop) per repetition, and the
    ``cpybench_metric`` metadata ``instructions``.
    """
    say = log or (lambda message: None)
    valgrind = check_valgrind()
    env = counting_environ(options)
    started = time.monotonic()
    benchmarks: list[pyperf.Benchmark] = []
    tasks = calibrate(venv_python, bench, replace(options, affinity=None), {}, warmups=None,
                      min_time=INSTRUCTION_MIN_TIME, environ=env)
    with tempfile.TemporaryDirectory(prefix=f"cpybench-{bench.name}-") as workdir:
        base = worker_command(venv_python, bench)
        for task, name, loops, inner_loops in ((t.index, t.name, t.loops, t.inner_loops) for t in tasks):
            values = []
            for repetition in range(repetitions):
                counts = []
                for n in (loops, 2 * loops):
                    out = Path(workdir) / f"cachegrind-{task}-{repetition}-{n}"
                    out.mkdir()
                    command = [valgrind, "--tool=cachegrind", "--cache-sim=no", "--trace-children=yes",
                               f"--cachegrind-out-file={out}/cachegrind.%p", f"--log-file={out}/valgrind.%p.log",
                               *base, f"--loops={n}", "--values=1", "--warmups=0", f"--worker-task={task}",
                               f"--output={Path(workdir) / f'run-{task}-{repetition}-{n}.json'}"]
                    counts.append(_counted(command, env, options, workdir, bench.name, out))
                per_loop = (counts[1] - counts[0]) / (loops * inner_loops)
                if per_loop <= 0:
                    raise BenchmarkError(
                        f"{name}: its instruction count does not grow with its loops ({counts[0]} at {loops}, "
                        f"{counts[1]} at {2 * loops} loops): measure it with --cpython-metric=time")
                values.append(round(per_loop, 1))
            runs = [pyperf.Run([value], warmups=None, collect_metadata=False,
                               metadata={"name": name, "unit": "integer", "loops": loops,
                                         md.METRIC: md.METRIC_INSTRUCTIONS})
                    for value in values]
            benchmarks.append(pyperf.Benchmark(runs))
    suite = stamp(pyperf.BenchmarkSuite(benchmarks), bench)
    names = suite.get_benchmark_names()
    say(f"{bench.name}: instructions of {len(names)} result(s) counted in {time.monotonic() - started:.1f} s "
        f"({', '.join(names)})")
    return suite


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


def _counted(command: list[str], env: dict[str, str], options: RunOptions, workdir: str, name: str,
             out: Path) -> int:
    """Instructions of ``command``'s process and all its child processes (one cachegrind file each in
    ``out``): a benchmark that runs a command (python_startup) counts the command too."""
    check_time_left(name, options)
    returncode, stderr_tail = run_bounded(command, options, workdir, name, env)
    check_exit(returncode, stderr_tail, name, options)
    counts = []
    for path in out.iterdir():
        match = _CACHEGRIND_SUMMARY.search(path.read_text("utf-8", errors="replace"))
        if match is not None:
            counts.append(int(match.group(1)))
    if not counts:
        raise error_with_tail(f"{name}: cachegrind wrote no instruction count", stderr_tail)
    return sum(counts)
