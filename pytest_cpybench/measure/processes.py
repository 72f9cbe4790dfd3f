"""Run one benchmark under a target interpreter with pyperf, as pyperformance does.

The command is pyperformance's: ``<venv python> -u <run script> [extra opts] [pyperf opts]
--output TMP``. Two things pyperformance does not do:

* a hard time limit: the whole process group is killed when a benchmark outlives its
  budget, so a broken build can never hang the caller;
* errors carry the tail of stderr, so a crash says why.

pyperformance also sets ``PYPERFORMANCE_RUNID`` for the run scripts; no benchmark of
pyperformance 1.11–1.14 reads it, so it is not set here.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyperf

from pytest_cpybench.cpython.venvs import VENV_LAYOUT, target_environ
from pytest_cpybench.errors import BenchmarkError, CpybenchError
from pytest_cpybench.results import metadata as md
from pytest_cpybench.suite import _pyperformance
from pytest_cpybench.suite.definitions import BenchmarkDef

Log = Callable[[str], None]

# pyperf's options for each --cpython-mode (the one definition of the modes).
MODE_FLAGS = {
    "default": (),
    "fast": ("--fast",),
    "rigorous": ("--rigorous",),
    "debug": ("--debug-single-value",),
}
MODES = tuple(MODE_FLAGS)
# Worker processes pyperf gives one benchmark in each mode (its --processes: 20, halved by --fast,
# doubled by --rigorous), besides its calibration process: what --cpython-budget=auto estimates
# ``pyperformance run``'s time from (interleaved.pyperformance_seconds).
MODE_PROCESSES = {"default": 20, "fast": 10, "rigorous": 40, "debug": 1}  # debug: one value, never rounds
# pyperf exits with this code when a worker exceeded --timeout.
PYPERF_TIMEOUT_EXIT = 124
STDERR_TAIL_LINES = 20
_GRACE_SECONDS = 2.0  # between SIGTERM and SIGKILL
_PYPERF_WORKER_FAILED = re.compile(r"^RuntimeError: .* failed with exit code -?\d+$")
_TRACEBACK_START = "Traceback (most recent call last):"
_OUTPUT_NUMBERS = itertools.count()  # unique names for the output files of processes in one work dir


@dataclass
class RunOptions:
    """How to run a benchmark.

    ``timeout`` bounds one benchmark item: every worker process on every side, confirmations
    included. Callers that run several pyperf commands for one item pass ``deadline`` (a
    ``time.monotonic()`` value) and each command gets what is left; without it one command
    gets the whole ``timeout``. ``env`` is set for the benchmark and passed on to pyperf's
    workers, as are the variables named in ``inherit_environ`` (pyperf workers otherwise see
    almost none).
    """

    mode: str = "default"
    timeout: float = 900.0
    affinity: str | None = None
    inherit_environ: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    processes: int | None = None  # pyperf -p
    loops: int | None = None  # pyperf --loops
    values: int | None = None  # pyperf --values
    warmups: int | None = None  # pyperf --warmups
    deadline: float | None = None  # time.monotonic() by which the whole item must be done
    # Interleaved rounds: read the interpreters' code from disk again before every round (pagecache).
    reload: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise CpybenchError(
                f"unknown benchmark mode {self.mode!r}; use one of {', '.join(MODES)}"
            )
        if not self.timeout or self.timeout <= 0:
            raise CpybenchError(
                f"the benchmark timeout must be a positive number of seconds, not {self.timeout!r}"
            )

    def remaining(self) -> float:
        """Seconds this command may run: the timeout, or what is left before the deadline."""
        if self.deadline is None:
            return self.timeout
        return min(self.timeout, self.deadline - time.monotonic())

    def pyperf_args(self) -> list[str]:
        """pyperf's command-line options for these settings (without --output)."""
        args = list(MODE_FLAGS[self.mode])
        args.append(f"--timeout={_whole_seconds(self.remaining())}")
        if self.affinity:
            args.append(f"--affinity={self.affinity}")
        for option, value in (
            ("--processes", self.processes),
            ("--loops", self.loops),
            ("--values", self.values),
            ("--warmups", self.warmups),
        ):
            if value is not None:
                args.append(f"{option}={value}")
        inherited = list(dict.fromkeys([*self.inherit_environ, *self.env]))
        if inherited:
            args.append(f"--inherit-environ={','.join(inherited)}")
        return args

    def kill_after(self) -> float:
        """Seconds after which the benchmark's process group is killed."""
        remaining = max(1.0, self.remaining())
        return remaining + max(5.0, remaining / 10)


def run_benchmark(
    venv_python: Path,
    bench: BenchmarkDef,
    options: RunOptions,
    *,
    log: Log | None = None,
) -> pyperf.BenchmarkSuite:
    """Run ``bench`` and return pyperf's suite (one or more results: take names from it).

    Raises BenchmarkError when the benchmark crashes, times out or produces no result.
    """
    say = log or (lambda message: None)
    if options.remaining() <= 0:
        raise BenchmarkError(f"{bench.name} timed out: its {_whole_seconds(options.timeout)} s "
                             "(--cpython-timeout) were used up")
    with tempfile.TemporaryDirectory(prefix=f"cpybench-{bench.name}-") as workdir:
        result_path = Path(workdir) / "result.json"
        command = [
            str(venv_python),
            "-u",
            bench.runscript,
            *bench.extra_opts,
            *options.pyperf_args(),
            f"--output={result_path}",
        ]
        say(f"{bench.name}: running ({options.mode} mode)")
        started = time.monotonic()
        returncode, stderr_tail = run_bounded(command, options, workdir, bench.name)
        elapsed = time.monotonic() - started
        if returncode == PYPERF_TIMEOUT_EXIT:
            raise error_with_tail(
                f"{bench.name} timed out after {_whole_seconds(options.timeout)} s "
                "(--cpython-timeout: the most one benchmark may run, all its processes together)",
                stderr_tail,
            )
        if returncode != 0:
            raise error_with_tail(f"{bench.name} crashed ({_describe_exit(returncode)})", stderr_tail)
        suite = _load_suite(result_path, bench.name, stderr_tail)
        stamp(suite, bench)
        names = suite.get_benchmark_names()
        say(f"{bench.name}: {len(names)} result(s) in {elapsed:.1f} s ({', '.join(names)})")
        return suite


def stamp(suite: pyperf.BenchmarkSuite, bench: BenchmarkDef) -> pyperf.BenchmarkSuite:
    """Add what ``pyperformance run`` adds to every result, so our files read like its files."""
    md.add_to_results(suite, {"performance_version": _pyperformance.pyperformance_version(),
                              md.BENCHMARK_NAME: bench.name, md.DEFINITION_HASH: bench.definition_hash[:12],
                              # Layouts differ in what starts with the interpreter (setuptools' .pth
                              # since 2): startup benchmarks of two layouts differ by that.
                              md.VENV_LAYOUT: VENV_LAYOUT, "tags": list(bench.tags) or None})
    return suite


#######################################
# pyperf workers started directly (interleaved measurement)

# The variables pyperf's manager passes on to its workers (pyperf 2.11, _utils.create_environ), besides
# the ones named by --inherit-environ: a worker started here sees what it would under pyperf.
PYPERF_WORKER_VARIABLES = ("PATH", "HOME", "TEMP", "COMSPEC", "SystemRoot", "SystemDrive", "PYTHONPATH",
                           "PYTHON_CPU_COUNT", "PYTHON_GIL", "PYPERF_PERF_RECORD_DATA_DIR",
                           "PYPERF_PERF_RECORD_EXTRA_OPTS", "PYPERF_TACHYON_OPTS")


@dataclass(frozen=True)
class WorkerTask:
    """One result of a benchmark script: its pyperf worker task number, its name, its loops per value."""

    index: int
    name: str
    loops: int
    inner_loops: int = 1  # pyperf's inner loops: calls of the benchmarked code per loop


@dataclass(frozen=True)
class WorkerRun:
    """One worker process to start: the interpreter, the task, the side's variables, the CPUs."""

    venv_python: Path
    task: WorkerTask
    env: dict[str, str]
    affinity: str | None = None
    label: str = ""  # the side it measures, named when it fails


def worker_environ(options: RunOptions, env: dict[str, str]) -> dict[str, str]:
    """What a pyperf worker of this run sees: the variables pyperf passes on, those the user asked to
    inherit, the target's and the side's own (``env``)."""
    available = target_environ({**options.env, **env})
    names = [*PYPERF_WORKER_VARIABLES, *options.inherit_environ]
    return {**{name: available[name] for name in names if name in available}, **options.env, **env}


def calibrate(venv_python: Path, bench: BenchmarkDef, options: RunOptions, env: dict[str, str],
              *, warmups: int | None = 1, min_time: float | None = None,
              environ: dict[str, str] | None = None) -> list[WorkerTask]:
    """Every result of ``bench`` with its loops: one calibration worker per pyperf task, as pyperf's
    manager starts one before the measuring workers (loops such that one value takes ``min_time``,
    by default pyperf's 100 ms). The tasks are found by asking for the next until a worker runs none.
    The workers see :func:`worker_environ` of ``env``, or exactly ``environ``."""
    tasks: list[WorkerTask] = []
    environ = worker_environ(options, env) if environ is None else environ
    options_args = [*([f"--warmups={warmups}"] if warmups is not None else []),
                    *([f"--min-time={min_time}"] if min_time is not None else []),
                    *([f"--affinity={options.affinity}"] if options.affinity else [])]
    with tempfile.TemporaryDirectory(prefix=f"cpybench-{bench.name}-") as workdir:
        for index in itertools.count():
            command = [*worker_command(venv_python, bench), "--calibrate-loops", *options_args,
                       f"--worker-task={index}"]
            calibration = _worker_output(command, environ, options, workdir, bench.name, f"calibration-{index}")
            if calibration is None:  # no such task: every result is calibrated
                if index == 0:
                    raise BenchmarkError(f"{bench.name} produced no results")
                return tasks
            result = calibration.get_benchmarks()[0]
            metadata = result.get_metadata()
            tasks.append(WorkerTask(index, result.get_name(), int(metadata.get("loops", 1)),
                                    int(metadata.get("inner_loops", 1))))
    raise AssertionError("unreachable")


def run_workers(bench: BenchmarkDef, runs: list[WorkerRun], options: RunOptions, *, values: int,
                warmups: int) -> list[pyperf.Benchmark]:
    """Start every worker at once (each pinned to its CPUs), wait for all, and return each one's
    result: a pyperf benchmark of one run, ``values`` values after ``warmups`` warmups."""
    check_time_left(bench.name, options)
    with tempfile.TemporaryDirectory(prefix=f"cpybench-{bench.name}-") as workdir:
        outputs = [Path(workdir) / f"run-{number}.json" for number in range(len(runs))]
        commands = [([*worker_command(run.venv_python, bench), f"--worker-task={run.task.index}",
                      f"--loops={run.task.loops}", f"--values={values}", f"--warmups={warmups}",
                      *([f"--affinity={run.affinity}"] if run.affinity else []), f"--output={output}"],
                     worker_environ(options, run.env))
                    for run, output in zip(runs, outputs, strict=True)]
        finished = _run_together(commands, options, workdir, bench.name, kill_after=_worker_kill_after(options))
        results = []
        for run, output, (returncode, stderr_tail) in zip(runs, outputs, finished, strict=True):
            try:
                check_exit(returncode, stderr_tail, bench.name, options)
                result = _load_suite(output, bench.name, stderr_tail).get_benchmarks()[0]
                if result.get_name() != run.task.name:
                    raise error_with_tail(f"{bench.name}: worker task {run.task.index} measured {result.get_name()!r}, "
                                 f"not {run.task.name!r} as when its loops were calibrated", stderr_tail)
            except BenchmarkError as err:
                err.side = run.label
                raise
            results.append(result)
    return results


def _worker_kill_after(options: RunOptions) -> float:
    """A worker started directly has no pyperf manager to stop it at --timeout: killed at the time left."""
    return max(1.0, options.remaining()) + _GRACE_SECONDS


def worker_command(venv_python: Path, bench: BenchmarkDef) -> list[str]:
    return [str(venv_python), "-u", bench.runscript, *bench.extra_opts, "--worker"]


#######################################
# internal


def run_bounded(
    command: list[str], options: RunOptions, workdir: str, name: str, environ: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Run ``command`` in its own session; kill the whole group if it outlives the budget.

    The environment is the user's plus ``options.env`` (:func:`target_environ`), or exactly
    ``environ``. Returns the exit code (PYPERF_TIMEOUT_EXIT when killed)
    and the tail of its output (:func:`_failure_tail`).
    """
    env = environ if environ is not None else target_environ(options.env)
    return _run_together([(command, env)], options, workdir, name)[0]


def _run_together(
    commands: list[tuple[list[str], dict[str, str]]], options: RunOptions, workdir: str, name: str,
    kill_after: float | None = None,
) -> list[tuple[int, str]]:
    """Start every ``(command, environment)`` at once, each in its own session, and wait for all;
    kill every group still running when the budget is out, on an error or on Ctrl-C.
    Returns each command's exit code (PYPERF_TIMEOUT_EXIT when killed) and the tail of its output."""
    stderr_paths = [Path(workdir) / f"stderr-{next(_OUTPUT_NUMBERS)}.txt" for _ in commands]
    stdout_paths = [path.with_name(path.name.replace("stderr", "stdout")) for path in stderr_paths]
    processes: list[subprocess.Popen] = []
    returncodes: list[int] = []
    deadline = time.monotonic() + (options.kill_after() if kill_after is None else kill_after)
    try:
        for (command, env), stderr_path, stdout_path in zip(commands, stderr_paths, stdout_paths, strict=True):
            # The work directory is the cwd too: some benchmarks write files where they run.
            with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
                try:
                    processes.append(subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                                                      stdout=stdout, stderr=stderr, start_new_session=True))
                except OSError as exc:
                    raise BenchmarkError(f"{name} could not start: {exc}") from None
        for process in processes:
            try:
                returncodes.append(process.wait(timeout=max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                _kill_group(process)
                returncodes.append(PYPERF_TIMEOUT_EXIT)
    finally:
        # Also on KeyboardInterrupt: never leave a benchmark running behind the caller.
        for process in processes:
            if process.poll() is None:
                _kill_group(process)
    return [(code, _failure_tail(code, err, out)) for code, err, out in
            zip(returncodes, stderr_paths, stdout_paths, strict=True)]


def _failure_tail(returncode: int, stderr_path: Path, stdout_path: Path) -> str:
    """The tail of stderr; for a crash that printed nothing there, stdout's (pyperf prints its own
    argument errors there), labelled as such."""
    tail = _tail(stderr_path, STDERR_TAIL_LINES)
    if tail or returncode in (0, PYPERF_TIMEOUT_EXIT):
        return tail
    stdout_tail = _tail(stdout_path, STDERR_TAIL_LINES - 1)
    return f"(stdout)\n{stdout_tail}" if stdout_tail else ""


def _kill_group(process: subprocess.Popen) -> None:
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    # pyperf's workers can outlive their manager: kill whatever is left of the group.
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _load_suite(path: Path, name: str, stderr_tail: str) -> pyperf.BenchmarkSuite:
    if not path.is_file() or path.stat().st_size == 0:
        raise error_with_tail(f"{name} produced no results", stderr_tail)
    try:
        suite = pyperf.BenchmarkSuite.load(str(path))
    except Exception as exc:  # pyperf raises ValueError, KeyError, JSONDecodeError …
        raise error_with_tail(f"{name} wrote an unreadable results file: {exc}", stderr_tail) from None
    if not suite.get_benchmark_names():
        raise error_with_tail(f"{name} produced no results", stderr_tail)
    return suite


def error_with_tail(message: str, stderr_tail: str) -> BenchmarkError:
    err = BenchmarkError(message)
    err.stderr_tail = stderr_tail
    return err


def _tail(path: Path, count: int) -> str:
    """The last ``count`` lines of stderr that explain a failure."""
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    # pyperf's manager re-raises a failed worker as a traceback of its own, ending in
    # "RuntimeError: <python> failed with exit code N"; the worker's traceback above it
    # is the one that says what went wrong.
    if lines and _PYPERF_WORKER_FAILED.match(lines[-1]):
        starts = [i for i, line in enumerate(lines) if line.startswith(_TRACEBACK_START)]
        if len(starts) >= 2:
            lines = lines[: starts[-1]]
    return "\n".join(lines[-count:])


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            pass
    return f"exit {returncode}"


def _whole_seconds(seconds: float) -> int:
    return max(1, round(seconds))




def _worker_output(command: list[str], env: dict[str, str], options: RunOptions, workdir: str, name: str,
                   what: str) -> pyperf.BenchmarkSuite | None:
    """Run a pyperf worker; its results, or None when it ran no task (a task index past the last)."""
    output = Path(workdir) / f"{what}.json"
    check_time_left(name, options)
    ((returncode, stderr_tail),) = _run_together([([*command, f"--output={output}"], env)], options, workdir, name,
                                                 kill_after=_worker_kill_after(options))
    check_exit(returncode, stderr_tail, name, options)
    if not output.is_file() or output.stat().st_size == 0:
        return None
    return _load_suite(output, name, stderr_tail)


def check_exit(returncode: int, stderr_tail: str, name: str, options: RunOptions) -> None:
    if returncode == PYPERF_TIMEOUT_EXIT or (returncode != 0 and options.remaining() <= 0):
        err = error_with_tail(f"{name} timed out after {_whole_seconds(options.timeout)} s "
                     "(--cpython-timeout: the most one benchmark may run, all its processes together)",
                     stderr_tail)
        err.timed_out = True
        raise err
    if returncode != 0:
        raise error_with_tail(f"{name} crashed ({_describe_exit(returncode)})", stderr_tail)


def check_time_left(name: str, options: RunOptions) -> None:
    if options.remaining() <= 0:
        err = BenchmarkError(f"{name} timed out: its {_whole_seconds(options.timeout)} s (--cpython-timeout) "
                             "were used up")
        err.timed_out = True
        raise err
