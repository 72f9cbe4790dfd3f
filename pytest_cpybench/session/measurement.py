"""How a session measures a benchmark: one protocol per metric and way of running the sides.

* :class:`TimeInTurn`: pyperf's wall time, interleaved adaptive rounds with the sides one after
  another (:mod:`pytest_cpybench.measure.interleaved`);
* :class:`TimeAtOnce`: the same rounds with the sides at the same time, a physical core each;
* :class:`InstructionCounts`: instructions per loop under cachegrind (deterministic: a fixed
  number of repetitions per side, nothing to interleave, nothing that drifts).

The engine asks a protocol to measure sides and to say what its numbers allow (whether stored
results drift, how confident each look at the data must be); it never asks which metric it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import pyperf

from pytest_cpybench.errors import BenchmarkError
from pytest_cpybench.measure import cachegrind, cpus, interleaved, processes
from pytest_cpybench.measure.interleaved import Budget, Calibration, Side
from pytest_cpybench.measure.processes import Log, RunOptions
from pytest_cpybench.options import Settings
from pytest_cpybench.results import metadata as md
from pytest_cpybench.suite.definitions import BenchmarkDef

Decided = Callable[[dict[str, pyperf.BenchmarkSuite]], bool]


@dataclass
class Measured:
    """Every side's results by side label, and the interleaved rounds that made them (0: none)."""

    suites: dict[str, pyperf.BenchmarkSuite]
    rounds: int


class Measurement(Protocol):
    """A way of measuring one benchmark on one or more interpreters (sides)."""

    def check_tools(self) -> None:
        """Refuse at once, in one line, what this machine lacks for it."""

    def drifts(self) -> bool:
        """Whether results measured at another time may differ for reasons other than the code
        (then a stored baseline is trusted only to say "no change", and confirmed otherwise)."""

    def check_confidence(self, confidence: float) -> float:
        """The confidence of each look at the data, such that all looks keep ``confidence``."""

    def measure(self, bench: BenchmarkDef, sides: list[Side], options: RunOptions, decided: Decided) -> Measured:
        """Every side measured (with a baseline among them: interleaved, until ``decided``)."""

    def measure_alone(self, bench: BenchmarkDef, side: Side, options: RunOptions) -> pyperf.BenchmarkSuite:
        """The head with no baseline measured beside it."""


@dataclass
class TimeInTurn:
    """Wall time: interleaved adaptive rounds, the sides one after another (A B, B A, ...)."""

    settings: Settings
    log: Log

    def check_tools(self) -> None:
        return None

    def drifts(self) -> bool:
        return True

    def check_confidence(self, confidence: float) -> float:
        return interleaved.check_confidence(confidence, self.settings.budget)

    def side_cpus(self, sides: int) -> list[str] | None:
        return None

    def measure(self, bench: BenchmarkDef, sides: list[Side], options: RunOptions, decided: Decided) -> Measured:
        suites, rounds = interleaved.measure(
            bench, sides, options, self.settings.budget, decided, self.log,
            # Loops: calibrated once per benchmark and baseline interpreter, kept in the cache.
            calibration=Calibration(self.settings.cache_dir, self.settings.machine),
            cpus=self.side_cpus(len(sides)))
        return Measured(suites, rounds)

    def measure_alone(self, bench: BenchmarkDef, side: Side, options: RunOptions) -> pyperf.BenchmarkSuite:
        # pyperformance's own way: pyperf's manager runs the mode's processes.
        return processes.run_benchmark(side.venv_python, bench, replace(options, env=side.env), log=self.log)


@dataclass
class TimeAtOnce(TimeInTurn):
    """Wall time, the sides of a round at the same time, each pinned to a physical core of its own
    (when the session has one per side; in turn otherwise). Results are marked as measured
    alongside (:func:`pytest_cpybench.measure.interleaved.alongside`)."""

    def side_cpus(self, sides: int) -> list[str] | None:
        return cpus.parallel_cpus(self.settings.affinity, sides)


@dataclass
class InstructionCounts:
    """Instructions per loop, counted under cachegrind: deterministic, so a fixed number of
    repetitions per side, nothing interleaved, and a stored count is as good as one made now."""

    settings: Settings
    log: Log

    def check_tools(self) -> None:
        cachegrind.check_valgrind()

    def drifts(self) -> bool:
        return False

    def check_confidence(self, confidence: float) -> float:
        return confidence  # counted once, looked at once

    def measure(self, bench: BenchmarkDef, sides: list[Side], options: RunOptions, decided: Decided) -> Measured:
        suites = {side.label: self._count(bench, side, options) for side in sides}
        return Measured(suites, cachegrind.INSTRUCTION_REPETITIONS if len(sides) > 1 else 0)

    def measure_alone(self, bench: BenchmarkDef, side: Side, options: RunOptions) -> pyperf.BenchmarkSuite:
        return self._count(bench, side, options)

    def _count(self, bench: BenchmarkDef, side: Side, options: RunOptions) -> pyperf.BenchmarkSuite:
        try:
            return cachegrind.count_instructions(side.venv_python, bench,
                                                 replace(options, env={**options.env, **side.env}), log=self.log)
        except BenchmarkError as err:
            err.side = side.label
            raise


def measurement_for(settings: Settings, log: Log) -> Measurement:
    """The protocol the session's options ask for."""
    if settings.metric == md.METRIC_INSTRUCTIONS:
        return InstructionCounts(settings, log)
    if settings.parallel == "yes":
        return TimeAtOnce(settings, log)
    return TimeInTurn(settings, log)


__all__ = ["Budget", "InstructionCounts", "Measured", "Measurement", "TimeAtOnce", "TimeInTurn", "measurement_for"]
