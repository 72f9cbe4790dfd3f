"""Interleaved, adaptive measurement of one benchmark on several interpreters.

Drift between runs a few minutes apart (2-10 % on a shared VM) is larger than the noise
inside a run, so comparing a head measured now with a baseline measured earlier mixes the
change with the drift. Here each round starts one pyperf worker process per interpreter,
alternating the order (A B, B A, A B, ...) so that slow drift hits every side alike, with
the same ``--loops`` for all sides from one calibration (see :func:`shared_loops`).
Rounds continue until the caller's ``decided`` callback is satisfied (every ratio interval
is clearly on one side of its threshold) or the budget runs out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pyperf

from ._pyperformance import BenchmarkDef
from .errors import BenchmarkError
from .options import Budget
from .runner import RunOptions, run_benchmark

# Values and warmups per worker process, by mode (pyperf's own per-process settings).
PER_PROCESS = {"default": (3, 1), "fast": (2, 1), "rigorous": (3, 1), "debug": (1, 0)}
MIN_ROUNDS = 5  # fewer process pairs give intervals that cannot be trusted


@dataclass
class Side:
    """One interpreter taking part in the interleaving."""

    label: str
    venv_python: Path
    env: dict[str, str]


def _merge(into: pyperf.BenchmarkSuite | None, new: pyperf.BenchmarkSuite) -> pyperf.BenchmarkSuite:
    if into is None:
        return new
    for bench in new.get_benchmarks():
        into.add_runs(bench)
    return into


def shared_loops(suite: pyperf.BenchmarkSuite) -> int | None:
    """One ``--loops`` for every later process, when the script's results agree on it.

    ``--loops`` applies to every result of a script. When the results calibrated to
    different loop counts (deepcopy: ~300 us and ~3 us per call), any single count makes
    some values either tiny and noisy or needlessly long: then every process calibrates
    its own loops (one more short process per round), which per-loop values absorb.
    """
    loops = {bench.get_loops() for bench in suite.get_benchmarks()}
    return loops.pop() if len(loops) == 1 else None


def measure(
    bench: BenchmarkDef,
    sides: list[Side],
    options: RunOptions,
    budget: Budget,
    decided: Callable[[dict[str, pyperf.BenchmarkSuite]], bool],
    log: Callable[[str], None] = lambda _msg: None,
) -> tuple[dict[str, pyperf.BenchmarkSuite], int]:
    """Run rounds of one process per side; return the suites by side label and the rounds run."""
    values, warmups = PER_PROCESS.get(options.mode, PER_PROCESS["default"])
    started = time.monotonic()
    suites: dict[str, pyperf.BenchmarkSuite] = {}

    def one_process(side: Side, loops: int | None) -> None:
        # pyperf's --fast/--rigorous would override -p; the per-process values carry the mode.
        mode = "debug" if options.mode == "debug" else "default"
        opts = replace(options, mode=mode, processes=1, values=values, warmups=warmups, loops=loops,
                       env={**options.env, **side.env})
        try:
            suite = run_benchmark(side.venv_python, bench, opts)
        except BenchmarkError as err:
            err.side = side.label
            raise
        suites[side.label] = _merge(suites.get(side.label), suite)

    # The first process of the first side also calibrates the loops for everybody.
    one_process(sides[0], None)
    loops = shared_loops(suites[sides[0].label])
    for side in sides[1:]:
        one_process(side, loops)
    rounds = 1
    longest_round = time.monotonic() - started
    while True:
        enough = rounds >= MIN_ROUNDS and decided(suites)
        out_of_budget = rounds >= budget.processes or (
            budget.seconds is not None and time.monotonic() - started >= budget.seconds)
        # Stop while a round still fits in --cpython-timeout: the data so far makes the verdict
        # (inconclusive if it must), rather than a round cut off and the whole item lost.
        out_of_time = options.deadline is not None and (
            options.deadline - time.monotonic() < 1.5 * longest_round)
        if enough or out_of_budget or out_of_time or options.mode == "debug":
            break
        round_started = time.monotonic()
        order = sides if rounds % 2 == 0 else list(reversed(sides))
        for side in order:
            one_process(side, loops)
        rounds += 1
        longest_round = max(longest_round, time.monotonic() - round_started)
        log(f"{bench.name}: round {rounds} ({time.monotonic() - started:.0f} s)")
    return suites, rounds
