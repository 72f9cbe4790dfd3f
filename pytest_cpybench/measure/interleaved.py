"""Interleaved, adaptive measurement of one benchmark on several interpreters.

Drift between runs a few minutes apart (2-10 % on a shared VM) is larger than the noise
inside a run, so comparing a head measured now with a baseline measured earlier mixes the
change with the drift. Here each round runs one pyperf worker process per interpreter and
result, started directly (no pyperf manager process in between) with the loops calibrated
once (:mod:`loops`), so every side runs the same loops, and pyperf's warmup and values per
process in the mode (or the budget's ``values``):

* one after another, alternating the order (A B, B A, ...) so that slow drift hits every side
  alike;
* or, with --cpython-parallel=yes and a physical core per side (:func:`parallel_cpus`), at the
  same time, each pinned to its core, the sides swapping cores every round: a round takes the
  time of one process. Each such process is marked (:func:`alongside`), since contention can
  shift its times: against processes measured alone its verdicts need a margin
  (:func:`compare.contention_widened`). Opt-in, because a gate against stored baselines
  measures the head alone; a benchmark that cannot run twice at once (a fixed TCP port) falls
  back to taking turns.

Before every round the interpreters' executables and extension modules are dropped from the page
cache (:mod:`pagecache`), so that where their code sits in the processor's caches varies from
round to round instead of biasing a whole session.

The caller's ``decided`` callback is asked only at :func:`looks.check_rounds` (5, 7, 10, 14,
20, 28, 40 for a budget of 40); rounds stop at the first check it accepts (every ratio
interval clearly on one side of its threshold) or when the budget runs out: its rounds, its
seconds, or (``auto``) a multiple of what ``pyperformance run`` would spend measuring one side,
estimated from the rounds so far (:func:`pyperformance_seconds`). The caller's intervals must then
be at :func:`check_confidence`, so that looking several times does not raise the error rate.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyperf

from pytest_cpybench.errors import BenchmarkError
from pytest_cpybench.measure import loops, pagecache
from pytest_cpybench.measure.processes import (
    MODE_PROCESSES,
    RunOptions,
    WorkerRun,
    WorkerTask,
    calibrate,
    run_benchmark,
    run_workers,
    stamp,
)
from pytest_cpybench.results import metadata as md
from pytest_cpybench.suite.definitions import BenchmarkDef
from pytest_cpybench.verdict import looks

# Values and warmups per worker process, by mode: pyperf's own, as `pyperformance run` measures, and the
# gate's rounds unless the budget names the values.
PER_PROCESS = {"default": (3, 1), "fast": (2, 1), "rigorous": (3, 1), "debug": (1, 0)}
MIN_ROUNDS = 5  # fewer process pairs give intervals that cannot be trusted

# Twice pyperf's processes: on a noisy machine 20 rounds left most A/A verdicts inconclusive
# (docs/measurements/2026-11-30.md); --cpython-budget=auto caps the cost instead.
DEFAULT_ROUNDS = 40


@dataclass(frozen=True)
class Budget:
    """How much one benchmark may be measured while sampling adaptively: the most rounds, and
    optionally the most seconds or the most multiple of pyperformance's own time for it."""

    processes: int = DEFAULT_ROUNDS  # per side: one per round
    seconds: float | None = None
    # Per process, after one warmup; None: pyperf's in the mode (PER_PROCESS). One value costs
    # about 0.6 as much and was not cheaper to a verdict (docs/measurements/2026-11-30.md, midday).
    values: int | None = None
    pyperformance_multiple: float | None = None  # auto: per side measured


def checks(budget: Budget) -> tuple[int, ...]:
    """The rounds after which the verdicts are checked (see :func:`looks.check_rounds`)."""
    return looks.check_rounds(MIN_ROUNDS, max(MIN_ROUNDS, budget.processes))


def check_confidence(confidence: float, budget: Budget) -> float:
    """The confidence of each check, such that all checks together keep ``confidence``
    (:func:`looks.look_confidence`)."""
    return looks.look_confidence(confidence, checks(budget))


def final_confidence(confidence: float, budget: Budget, rounds: int) -> float:
    """The confidence of the verdict after ``rounds`` rounds: a check's, unless the rounds were cut
    short between checks (by the cost cap, the budget's seconds or the item's timeout), which
    leaves the unmade checks' error to the last look (:func:`looks.final_look_confidence`). Fewer
    than MIN_ROUNDS rounds (a timeout, debug mode) keep a check's: their intervals are too rough to
    be judged at a looser level."""
    return looks.final_look_confidence(confidence, checks(budget), rounds, cut_short(budget, rounds)
                                       and rounds >= MIN_ROUNDS)


def cut_short(budget: Budget, rounds: int) -> bool:
    """Whether rounds that ended after ``rounds`` stopped between checks: the cost cap, the budget's
    seconds or the item's timeout stopped them, not a check."""
    return rounds < budget.processes and rounds not in checks(budget)


@dataclass
class Side:
    """One interpreter taking part in the interleaving."""

    label: str
    venv_python: Path
    env: dict[str, str]
    identity: str = ""  # the interpreter's build key (or path): what its loops calibration is kept under


@dataclass
class Calibration:
    """Where calibrated loops are kept, and under which machine; no cache dir: calibrate every time."""

    cache_dir: Path | None = None
    machine: str = ""
    calibrated: list[str] = field(default_factory=list)  # benchmarks calibrated (not found kept)

    def tasks(self, bench: BenchmarkDef, side: Side, options: RunOptions) -> list[WorkerTask]:
        entry = loops.key(self.machine, bench.name, bench.definition_hash, side.identity or str(side.venv_python))
        if self.cache_dir is not None and (kept := loops.load(self.cache_dir, entry)) is not None:
            return kept
        try:
            found = calibrate(side.venv_python, bench, options, side.env)
        except BenchmarkError as err:
            err.side = side.label
            raise
        self.calibrated.append(bench.name)
        if self.cache_dir is not None:
            loops.save(self.cache_dir, entry, found)
        return found


def pyperformance_seconds(process_seconds: Mapping[str, Sequence[float]],
                          value_seconds: Mapping[str, Sequence[float]], mode: str, values: int) -> float:
    """What ``pyperformance run`` would spend measuring one side of a benchmark, estimated from
    processes of ``values`` values: per result (task name), pyperf's processes in the mode plus its
    calibration process, each one of ours (``process_seconds``, wall time) with the values pyperf
    takes beyond ours (``value_seconds``: a value's time, all its loops)."""
    processes = MODE_PROCESSES[mode]
    pyperf_values, _warmups = PER_PROCESS[mode]
    return sum((processes + 1) * (statistics.fmean(process_seconds[task])
                                  + (pyperf_values - values) * statistics.fmean(value_seconds.get(task) or [0.0]))
               for task in process_seconds)


@dataclass
class Spending:
    """The time of one benchmark's rounds, and what pyperformance would have spent on it."""

    mode: str
    values: int
    started: float = field(default_factory=time.monotonic)
    process_seconds: dict[str, list[float]] = field(default_factory=dict)
    value_seconds: dict[str, list[float]] = field(default_factory=dict)

    def add(self, task: WorkerTask, seconds: float, result: pyperf.Benchmark) -> None:
        self.process_seconds.setdefault(task.name, []).append(seconds)
        self.value_seconds.setdefault(task.name, []).extend(
            value * run.get_total_loops() for run in result.get_runs() for value in run.values)

    def spent(self) -> float:
        return time.monotonic() - self.started

    def pyperformance(self) -> float:
        return pyperformance_seconds(self.process_seconds, self.value_seconds, self.mode, self.values)


def measure(
    bench: BenchmarkDef,
    sides: list[Side],
    options: RunOptions,
    budget: Budget,
    decided: Callable[[dict[str, pyperf.BenchmarkSuite]], bool],
    log: Callable[[str], None] = lambda _msg: None,
    *,
    calibration: Calibration | None = None,
    cpus: list[str] | None = None,
) -> tuple[dict[str, pyperf.BenchmarkSuite], int]:
    """Run rounds of one worker per side and result; return the suites by side label and the rounds run.

    ``cpus``: one CPU list per side to run the sides at the same time (:func:`parallel_cpus`);
    None: one after another.
    """
    if options.mode == "debug":  # one value of one process: nothing to interleave or calibrate
        return _debug_round(bench, sides, options), 1
    values, warmups = PER_PROCESS.get(options.mode, PER_PROCESS["default"])
    values = budget.values or values
    spending = Spending(options.mode, values)  # calibration included: the user waits for it too
    # The last side is the baseline: its loops serve every head measured against it, session after session.
    tasks = (calibration or Calibration()).tasks(bench, sides[-1], options)
    check_at = checks(budget)
    suites: dict[str, pyperf.BenchmarkSuite] = {}
    rounds = 0
    longest_round = 0.0
    first_round = time.monotonic()
    code_files = pagecache.code_files(side.venv_python for side in sides) if options.reload else []
    while True:
        round_started = time.monotonic()
        pagecache.drop(code_files)  # each round's processes get their code in new physical pages
        for task in tasks:
            try:
                results = _round_of(bench, task, sides, cpus, rounds, options, values, warmups)
            except BenchmarkError as err:
                if cpus is None or err.timed_out:
                    raise
                # Two copies at once can collide (a fixed TCP port: asyncio_tcp): take turns from now on.
                log(f"{bench.name}: {err}, with the sides at the same time; the sides take turns from now on")
                cpus = None
                try:
                    results = _round_of(bench, task, sides, cpus, rounds, options, values, warmups)
                except BenchmarkError:
                    raise err from None  # it fails in turn too: the first error says where and why
            for side, result, seconds in results:
                # Stamped now, not at the end: the checks map per-benchmark thresholds through it.
                suites[side.label] = _add(suites.get(side.label), _stamped(result, bench))
                spending.add(task, seconds, result)
        rounds += 1
        longest_round = max(longest_round, time.monotonic() - round_started)
        log(f"{bench.name}: round {rounds} ({spending.spent():.0f} s)")
        out_of_budget = rounds >= budget.processes or (
            budget.seconds is not None and spending.spent() >= budget.seconds)
        # Stop while a round still fits in --cpython-timeout: the data so far makes the verdict
        # (inconclusive if it must), rather than a round cut off and the whole item lost.
        out_of_time = options.deadline is not None and (
            options.deadline - time.monotonic() < 1.5 * longest_round)
        if out_of_budget or out_of_time or (rounds in check_at and decided(suites)):
            break
        cap = _cap(budget, sides, cpus, options.affinity)  # cpus may have fallen back to turns
        if cap is not None and _next_round_too_costly(cap, spending, rounds, (time.monotonic() - first_round) / rounds):
            log(f"{bench.name}: {rounds} rounds in {spending.spent():.0f} s; another would pass "
                f"{cap:g}x pyperformance's estimated {spending.pyperformance():.0f} s")
            break
    spent, pyperformance = spending.spent(), spending.pyperformance()
    log(f"{bench.name}: {rounds} rounds in {spent:.0f} s, {spent / pyperformance:.2f}x pyperformance's "
        f"estimated {pyperformance:.0f} s")
    return suites, rounds


def _cap(budget: Budget, sides: list[Side], cpus: list[str] | None, affinity: str | None) -> float | None:
    """auto: the most wall time, as a multiple of pyperformance's time for one side: its multiple per
    side, once for each batch that runs in turn (sides at once: 1x; two sides in turn: 2x)."""
    if budget.pyperformance_multiple is None:
        return None
    return budget.pyperformance_multiple * len(_batches(sides, cpus, 0, affinity))


def _next_round_too_costly(cap: float, spending: Spending, rounds: int, round_seconds: float) -> bool:
    """Whether one more round would take the benchmark past ``cap`` times pyperformance's time
    (never before the fewest rounds a verdict needs)."""
    return rounds >= MIN_ROUNDS and spending.spent() + round_seconds > cap * spending.pyperformance()


def _round_of(bench: BenchmarkDef, task: WorkerTask, sides: list[Side], cpus: list[str] | None, rounds: int,
              options: RunOptions, values: int, warmups: int) -> list[tuple[Side, pyperf.Benchmark, float]]:
    """One worker of ``task`` per side, the sides at once (``cpus``) or in turn; each side's result
    and the seconds its worker took (with the sides at once, all of them together)."""
    done = []
    for batch in _batches(sides, cpus, rounds, options.affinity):
        runs = [WorkerRun(side.venv_python, task, {**options.env, **side.env}, affinity, side.label)
                for side, affinity in batch]
        batch_started = time.monotonic()
        results = run_workers(bench, runs, options, values=values, warmups=warmups)
        seconds = time.monotonic() - batch_started
        if len(batch) > 1:
            results = [alongside(result, len(batch) - 1) for result in results]
        done += [(side, result, seconds) for (side, _affinity), result in zip(batch, results, strict=True)]
    return done


def alongside(result: pyperf.Benchmark, others: int) -> pyperf.Benchmark:
    """``result`` with its processes marked as measured alongside ``others`` workers (metadata.ALONGSIDE)."""
    return pyperf.Benchmark([pyperf.Run(run.values, warmups=run.warmups,
                                        metadata={**run.get_metadata(), md.ALONGSIDE: others},
                                        collect_metadata=False) for run in result.get_runs()])


def _batches(sides: list[Side], cpus: list[str] | None, rounds: int,
             affinity: str | None) -> list[list[tuple[Side, str | None]]]:
    """The workers of one round, as batches started together with their CPUs: every side at once,
    each on its own CPUs, the sides swapping CPUs round by round; or one side at a time, in
    alternating order, on the session's CPUs."""
    if cpus is not None and len(cpus) >= len(sides):
        shift = rounds % len(sides)
        return [[(side, cpus[(index + shift) % len(sides)]) for index, side in enumerate(sides)]]
    order = sides if rounds % 2 == 0 else list(reversed(sides))
    return [[(side, affinity)] for side in order]


def _stamped(result: pyperf.Benchmark, bench: BenchmarkDef) -> pyperf.Benchmark:
    return stamp(pyperf.BenchmarkSuite([result]), bench).get_benchmarks()[0]


def _add(suite: pyperf.BenchmarkSuite | None, result: pyperf.Benchmark) -> pyperf.BenchmarkSuite:
    if suite is None:
        return pyperf.BenchmarkSuite([result])
    suite.add_runs(result)
    return suite


def _debug_round(bench: BenchmarkDef, sides: list[Side], options: RunOptions) -> dict[str, pyperf.BenchmarkSuite]:
    suites = {}
    for side in sides:
        try:
            side_options = replace(options, env={**options.env, **side.env})
            suites[side.label] = run_benchmark(side.venv_python, bench, side_options)
        except BenchmarkError as err:
            err.side = side.label
            raise
    return suites
