"""How a session measures a benchmark: one protocol per metric and way of running the sides.

* :class:`TimeInTurn`: pyperf's wall time, interleaved adaptive rounds with the sides one after
  another (:mod:`pytest_cpybench.measure.interleaved`);
* :class:`TimeAtOnce`: the same rounds with the sides at the same time, a physical core each;
* :class:`InstructionCounts`: instructions per loop under cachegrind (deterministic: each side
  counted once, again only near the threshold; nothing to interleave, nothing that drifts).

The engine asks a protocol to measure sides and to say what its numbers allow (whether stored
results drift, how confident each look at the data must be); it never asks which metric it is.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import pyperf

from pytest_cpybench.errors import BenchmarkError
from pytest_cpybench.measure import cachegrind, contention, cpus, interleaved, pagecache, processes
from pytest_cpybench.measure.interleaved import Budget, Calibration, Side
from pytest_cpybench.measure.processes import Log, RunOptions
from pytest_cpybench.options import Settings
from pytest_cpybench.results import metadata as md
from pytest_cpybench.session.model import Comparison
from pytest_cpybench.suite.definitions import BenchmarkDef
from pytest_cpybench.verdict import compare
from pytest_cpybench.verdict.compare import ResultComparison
from pytest_cpybench.verdict.stats import Verdict

Decided = Callable[[dict[str, pyperf.BenchmarkSuite]], bool]
# The most instruction counts of one interpreter moved between two environments that differ by one
# 100-byte variable (docs/measurements/2026-11-29.md, one environment variable more: 0.72%).
ENVIRONMENT_SHIFT = 0.0072


@dataclass
class Measured:
    """Every side's results by side label, and the interleaved rounds that made them (0: none)."""

    suites: dict[str, pyperf.BenchmarkSuite]
    rounds: int
    cut_short: bool = False  # the rounds stopped between checks (cost cap, timeout), not at a check


class Measurement(Protocol):
    """A way of measuring one benchmark on one or more interpreters (sides)."""

    def check_tools(self) -> None:
        """Refuse at once, in one line, what this machine lacks for it."""

    def alike(self, stored: pyperf.Benchmark) -> bool:
        """Whether a stored result was measured like a head measured alone now (else it is
        measured again, interleaved with the head)."""

    def needs_confirming(self, comparison: Comparison) -> bool:
        """Whether a verdict against stored results must be made again on both sides measured now
        (what the stored results carry besides the code could have made it)."""

    def check_confidence(self, confidence: float) -> float:
        """The confidence of each look at the data, such that all looks keep ``confidence``."""

    def final_confidence(self, confidence: float, rounds: int) -> float:
        """The confidence of the verdict made when the measurement stopped after ``rounds``."""

    def measure(self, bench: BenchmarkDef, sides: list[Side], options: RunOptions, decided: Decided) -> Measured:
        """Every side measured (with a baseline among them: interleaved, until ``decided``)."""

    def measure_alone(self, bench: BenchmarkDef, side: Side, options: RunOptions) -> pyperf.BenchmarkSuite:
        """The head with no baseline measured beside it."""

    def kept_counts(self, bench: str) -> Path | None:
        """The cachegrind files of the last count of ``bench`` with a baseline, if this measurement keeps
        them (for --cpython-explain: cachegrind.kept_folder's layout)."""

    def forget(self, bench: str) -> None:
        """Delete what :meth:`kept_counts` kept of ``bench``."""


@dataclass
class TimeInTurn:
    """Wall time: interleaved adaptive rounds, the sides one after another (A B, B A, ...)."""

    settings: Settings
    log: Log

    def check_tools(self) -> None:
        return None

    def alike(self, stored: pyperf.Benchmark) -> bool:
        # Measured alone: processes measured alongside another side may have run slower for it.
        return compare.load_of(stored) <= {0}

    def needs_confirming(self, comparison: Comparison) -> bool:
        # A stored baseline carries the drift of the day it was measured: it is trusted only to say
        # "no significant change". Anything else (a regression, but also a "faster" that could hide
        # a real slowdown behind drift) is measured again, interleaved, before it counts.
        return any(rc.verdict is not Verdict.UNCHANGED for rc in comparison.results) or any(
            rc.verdict in (Verdict.REGRESSION, Verdict.INCONCLUSIVE) for rc in comparison.memory)

    def check_confidence(self, confidence: float) -> float:
        return interleaved.check_confidence(confidence, self.settings.budget)

    def final_confidence(self, confidence: float, rounds: int) -> float:
        return interleaved.final_confidence(confidence, self.settings.budget, rounds)

    def side_cpus(self, sides: int) -> list[str] | None:
        return None

    def measure(self, bench: BenchmarkDef, sides: list[Side], options: RunOptions, decided: Decided) -> Measured:
        # The checks' confidence comes from a simulation (a second, once a process): made before
        # the rounds, so that neither a benchmark's time nor its cost cap pays for it.
        self.check_confidence(self.settings.confidence)
        suites, rounds = interleaved.measure(
            bench, sides, options, self.settings.budget, decided, self.log,
            # Loops: calibrated once per benchmark and baseline interpreter, kept in the cache.
            calibration=Calibration(self.settings.cache_dir, self.settings.machine),
            cpus=self.side_cpus(len(sides)))
        return Measured(suites, rounds, interleaved.cut_short(self.settings.budget, rounds))

    def measure_alone(self, bench: BenchmarkDef, side: Side, options: RunOptions) -> pyperf.BenchmarkSuite:
        # pyperformance's own way: pyperf's manager runs the mode's processes. They share one
        # placement of the code; a new one per session keeps sessions from sharing its offset.
        if options.reload:
            pagecache.drop(pagecache.code_files([side.venv_python]))
        return processes.run_benchmark(side.venv_python, bench, replace(options, env=side.env), log=self.log)

    def kept_counts(self, bench: str) -> Path | None:
        return None

    def forget(self, bench: str) -> None:
        return None


@dataclass
class TimeAtOnce(TimeInTurn):
    """Wall time, the sides of a round at the same time, each pinned to a physical core of its own
    (when the session has one per side; in turn otherwise). Results are marked as measured
    alongside (:func:`pytest_cpybench.measure.interleaved.alongside`)."""

    _in_turn: bool = field(default=False, init=False)  # auto: the last choice, to say when it changes

    def side_cpus(self, sides: int) -> list[str] | None:
        found = cpus.parallel_cpus(self.settings.affinity, sides)
        if found is None or self.settings.parallel != "auto":
            return found
        # auto: a probe at most MAX_AGE old, since a host's load moves within minutes.
        measured = contention.current(found, self.settings.cache_dir, self.settings.machine)
        in_turn = contention.apart(measured)
        if in_turn != self._in_turn:
            self.log(f"cores {' and '.join(found)}: {contention.describe(measured)}; "
                     f"the sides {'take turns' if in_turn else 'run at once'}")
            self._in_turn = in_turn
        return None if in_turn else found


@dataclass
class InstructionCounts:
    """Instructions per loop, counted under cachegrind: deterministic, so each side counted once (more
    only where :func:`.cachegrind.repetitions_wanted` says), the sides at the same time, nothing
    interleaved, and a stored count is as good as one made now."""

    settings: Settings
    log: Log
    # Keep the cachegrind files of counts with a baseline until forgotten (--cpython-explain reads them).
    keep: bool = False
    _kept: dict[str, Path] = field(default_factory=dict)

    def check_tools(self) -> None:
        cachegrind.check_valgrind()

    def alike(self, stored: pyperf.Benchmark) -> bool:
        # A count does not depend on what else ran, but it does on its loops: a stored result counted at
        # other loops than this machine now counts its benchmark at is counted again beside the head.
        metadata = stored.get_metadata()
        name, definition = metadata.get(md.BENCHMARK_NAME), metadata.get(md.DEFINITION_HASH)
        if not name or not definition:
            return True
        kept = cachegrind.kept_tasks(str(name), str(definition), cache_dir=self.settings.cache_dir,
                                     machine=self.settings.machine)
        loops = {task.name: task.loops for task in kept or []}
        return stored.get_name() not in loops or cachegrind.loops_of(stored) == loops[stored.get_name()]

    def needs_confirming(self, comparison: Comparison) -> bool:
        # Counts do not drift, but they move a little with the environment they ran in (the
        # padding of the heap: up to ENVIRONMENT_SHIFT): a verdict that close to its threshold is
        # counted again on both sides in this session's environment. So is one whose sides were
        # counted at different loops (the count per loop depends on them).
        # And a result near or beyond its limit that rests on one count of a side (a head counted
        # alone against a stored count): a failure never rests on one count, so both sides are counted
        # again together, where cachegrind.repetitions_wanted asks for the second count.
        return any(abs(rc.ratio - (1 + rc.threshold)) <= ENVIRONMENT_SHIFT or _near_on_one_count(rc)
                   for rc in comparison.results) or _loops_differ(comparison)

    def check_confidence(self, confidence: float) -> float:
        return confidence  # counted once, looked at once

    def final_confidence(self, confidence: float, rounds: int) -> float:
        return confidence

    def measure(self, bench: BenchmarkDef, sides: list[Side], options: RunOptions, decided: Decided) -> Measured:
        # Every side at the loops of the last (the baseline), counted once, again where a ratio comes
        # near the threshold (cachegrind.repetitions_wanted); the rounds are the most repetitions.
        tasks = self.tasks(bench, sides[-1], options)
        keep = None
        if self.keep and len(sides) > 1:
            self.forget(bench.name)  # a confirmation counts again: its files replace the first count's
            keep = self._kept[bench.name] = Path(tempfile.mkdtemp(prefix=f"cpybench-counts-{bench.name}-"))
        suites, repetitions = cachegrind.count_sides(bench, sides, options, tasks, threshold_of=self._threshold(bench),
                                                     workers=self.workers(), log=self.log, keep=keep)
        return Measured(suites, repetitions if len(sides) > 1 else 0)

    def kept_counts(self, bench: str) -> Path | None:
        return self._kept.get(bench)

    def forget(self, bench: str) -> None:
        kept = self._kept.pop(bench, None)
        if kept is not None:
            shutil.rmtree(kept, ignore_errors=True)

    def measure_alone(self, bench: BenchmarkDef, side: Side, options: RunOptions) -> pyperf.BenchmarkSuite:
        tasks = self.tasks(bench, side, options)
        suites, _ = cachegrind.count_sides(bench, [side], options, tasks, workers=self.workers(), log=self.log)
        return suites[side.label]

    def workers(self) -> int:
        """How many counted processes run at once: one per CPU the session may use (cachegrind runs one
        thread, and a count does not depend on what runs beside it), one with --cpython-parallel=no."""
        if self.settings.parallel == "no":
            return 1
        return len(cpus.usable_cpus(self.settings.affinity))

    def _threshold(self, bench: BenchmarkDef) -> Callable[[str], float]:
        thresholds = self.settings.thresholds

        def threshold_of(result: str) -> float:
            return thresholds.get(result, thresholds.get(bench.name, self.settings.threshold))
        return threshold_of

    def tasks(self, bench: BenchmarkDef, side: Side, options: RunOptions) -> list[processes.WorkerTask]:
        """The loops every side is counted at: calibrated on ``side`` the first time on this machine,
        then kept in the cache for every interpreter (counts per loop depend on the loops)."""
        try:
            return cachegrind.counting_tasks(side.venv_python, bench, replace(options, env={**options.env, **side.env}),
                                             cache_dir=self.settings.cache_dir, machine=self.settings.machine)
        except BenchmarkError as err:
            err.side = side.label
            raise


def _near_on_one_count(rc: ResultComparison) -> bool:
    near = (1 + rc.threshold) / (1 + cachegrind.NEAR_THRESHOLD)
    return rc.ratio >= near and min(rc.estimate.n_base, rc.estimate.n_head) < 2


def _loops_differ(comparison: Comparison) -> bool:
    """Whether a result of the comparison was counted at other loops on one side than on the other."""
    if comparison.base is None:
        return False
    for rc in comparison.results:
        try:
            base, head = comparison.base.get_benchmark(rc.name), comparison.head.get_benchmark(rc.name)
        except KeyError:
            continue
        if cachegrind.loops_of(base) != cachegrind.loops_of(head):
            return True
    return False


def measurement_for(settings: Settings, log: Log) -> Measurement:
    """The protocol the session's options ask for (at once falls back to turns, round by round,
    where the session has no core per side: :func:`sides_line` says which applies)."""
    if settings.metric == md.METRIC_INSTRUCTIONS:
        return InstructionCounts(settings, log, keep=settings.explain != "no")
    if settings.parallel == "no":
        return TimeInTurn(settings, log)
    return TimeAtOnce(settings, log)


def sides_line(settings: Settings, worker_cpus: list[str] | None = None,
               measured: contention.Contention | str | None = None, check: bool = True) -> str:
    """How the sides of a round are measured in this session, and why, in one line for its header.
    ``worker_cpus``: the CPUs of each local xdist worker (``-n N``), whose sides share them;
    ``measured``: auto's check of the cores (None: :func:`contention.current`'s, made now unless
    ``check`` is false: a session that measures nothing, such as --collect-only, says the rule)."""
    if settings.parallel == "no":
        return "sides in turn (--cpython-parallel=no)"
    affinity = worker_cpus[0] if worker_cpus else settings.affinity
    found = cpus.parallel_cpus(affinity, 2)
    if found is not None:
        where = f"; each of {len(worker_cpus)} workers has its own" if worker_cpus else ""
        at_once = f"sides at once, a physical core each ({' and '.join(found)}{where})"
        if settings.parallel != "auto" or settings.metric == md.METRIC_INSTRUCTIONS:
            return at_once
        if measured is None and not check:
            return (f"{at_once}, unless a test loop finds that they slow each other down (checked before the "
                    f"first benchmark, then every {contention.MAX_AGE / 60:.0f} min)")
        if measured is None:
            measured = contention.current(found, settings.cache_dir, settings.machine)
        said = contention.describe(measured)
        if contention.apart(measured):
            return (f"sides in turn: cores {' and '.join(found)} slow each other down: {said}; "
                    f"at once again when they no longer do (checked every {contention.MAX_AGE / 60:.0f} min)")
        return f"{at_once}; {said}"
    usable = cpus.format_cpu_list(cpus.usable_cpus(affinity))
    if worker_cpus:
        why = f"-n {len(worker_cpus)} leaves each worker one core ({', '.join(worker_cpus)})"
    elif settings.affinity:
        why = f"--cpython-affinity={settings.affinity} is one core"
    else:
        why = f"this process may use one core ({usable})"
    return f"sides in turn: {why}"


__all__ = ["Budget", "InstructionCounts", "Measured", "Measurement", "TimeAtOnce", "TimeInTurn", "measurement_for"]
