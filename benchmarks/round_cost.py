"""Round cost: what a round of the gate costs with worker processes of three values (pyperf's, the
gate's) and of one (``Budget.values``), on the same benchmarks, builds and loops.

Head ``neutral`` against ``v3.13.5``, both built, the sides in turn. Per benchmark: one round
first, untimed (calibrates the loops and warms the file cache), then ``REPEATS`` times
``ROUNDS`` rounds of three-value processes and ``ROUNDS`` of one-value ones, alternating, so that
drift hits both alike. A process of one value skips two of its four timed runs (the warmup stays),
but not the interpreter's start and the benchmark's imports: the saving depends on how long a
value takes against those.
"""

from __future__ import annotations

import statistics
import sys
import time

from pytest_cpybench.measure import interleaved
from pytest_cpybench.options import Budget
from pytest_cpybench.suite.definitions import BenchmarkDef

from .common import Context, Goal, SectionResult, Table, open_session, variant_benchmarks
from .plan import BASE_REF, NEIGHBOUR_REF

NAME = "round_cost"
TITLE = "Round cost: worker processes of three values against one, same benchmarks and loops"
BENCHMARKS = {"quick": "json_dumps,nbody",
              "standard": "2to3,argparse,async_tree,deepcopy,json_dumps,logging,nbody,pickle_pure_python,regex_v8"}
VALUES = (3, 1)  # pyperf's per process in default mode (the gate's); one-value processes
ROUNDS = 3
REPEATS = 2


def measure(ctx: Context, benchmarks: str) -> dict[str, dict[str, float]]:
    """Seconds per round by benchmark and values per process ("3", "1")."""
    settings = ctx.settings(ref=NEIGHBOUR_REF, baselines=(BASE_REF,), mode="default", benchmarks=benchmarks,
                            results_dir=ctx.fresh_dir(NAME), save="no", parallel="no")
    engine, benches = open_session(ctx, settings)
    assert engine.head is not None
    (baseline,) = engine.baselines
    assert baseline.target is not None
    calibration = interleaved.Calibration(ctx.cache_dir, settings.machine)
    seconds: dict[str, dict[str, float]] = {}
    for bench in benches:
        sides = [engine.side("head", engine.head, bench), engine.side(BASE_REF, baseline.target, bench)]

        def rounds(count: int, values: int, bench: BenchmarkDef = bench,
                   sides: list[interleaved.Side] = sides) -> float:
            started = time.monotonic()
            interleaved.measure(bench, sides, engine.run_options(), Budget(processes=count, values=values),
                            lambda _suites: False, calibration=calibration)
            return time.monotonic() - started

        rounds(1, 1)  # calibrated loops, warm caches: not timed
        spent = dict.fromkeys(VALUES, 0.0)
        for _ in range(REPEATS):
            for values in VALUES:
                spent[values] += rounds(ROUNDS, values)
        seconds[bench.name] = {str(values): round(spent[values] / (ROUNDS * REPEATS), 3) for values in VALUES}
        ctx.log(f"{NAME}: {bench.name}: {seconds[bench.name]}")
    return seconds


def summarize(seconds: dict[str, dict[str, float]]) -> SectionResult:
    section = SectionResult(NAME, TITLE, data={"seconds_per_round": seconds})
    ratios = {name: per["1"] / per["3"] for name, per in seconds.items()}
    section.tables.append(Table(
        f"seconds per round (a process per side, in turn), mean of {ROUNDS * REPEATS} rounds of each",
        ["benchmark", "3 values", "1 value", "1 / 3"],
        [[name, f"{per['3']:.2f}", f"{per['1']:.2f}", f"{ratios[name]:.2f}"] for name, per in seconds.items()]))
    if ratios:
        section.goals.append(Goal(
            "cost of a one-value round against a three-value one (median; range)",
            f"{statistics.median(ratios.values()):.2f} ({min(ratios.values()):.2f}-{max(ratios.values()):.2f})",
            None, "report only: with the replay's rounds (noise) it says what one-value processes save"))
    return section


def run(ctx: Context) -> SectionResult:
    return summarize(measure(ctx, variant_benchmarks(ctx, BENCHMARKS)))


def main(argv: list[str] | None = None) -> int:
    from benchmarks import run as bench_run

    return bench_run.measuring_main(argv, NAME, BENCHMARKS["standard"], measure, summarize)


if __name__ == "__main__":
    sys.exit(main())
