"""Alongside: what running the sides at the same time (``--cpython-parallel``) does to the gate's data.

Head ``neutral`` against ``v3.13.5`` (the same code, two builds), default mode, loops calibrated
once. Per benchmark, ``REPEATS`` times ``ROUNDS`` rounds with the sides in turn (each worker
alone on the machine) and ``ROUNDS`` with the sides at the same time (a core each, swapping cores
every round), alternating, so that drift hits both alike. Per result it reports:

* the **contention shift**: a worker's mean time alongside the other side against alone (the
  two sides' geometric mean). It is why results measured alongside are compared with results
  measured alone only with a margin (:func:`pytest_cpybench.compare.contention_widened`);
* the **pair noise**: the standard deviation of the rounds' log head/base ratios, in turn and at
  the same time; the rounds a verdict needs grow with its square;
* the **round cost**: seconds per round, at the same time against in turn.
"""

from __future__ import annotations

import math
import statistics
import sys
import time

from pytest_cpybench.errors import CpybenchError
from pytest_cpybench.measure import cpus, interleaved
from pytest_cpybench.options import Budget
from pytest_cpybench.verdict.stats import process_means

from .common import Context, Goal, SectionResult, Table, open_session, variant_benchmarks
from .plan import BASE_REF, NEIGHBOUR_REF

NAME = "alongside"
TITLE = "Alongside: the sides at the same time against in turn (contention, pair noise, round cost)"
BENCHMARKS = {"quick": "json_dumps,nbody",
              "standard": "2to3,argparse,async_tree,deepcopy,json_dumps,logging,nbody,pickle_pure_python,regex_v8"}
MODES = ("turns", "together")
ROUNDS = 4
REPEATS = 2


# Per result: its benchmark, and per mode and side the process means.
ResultData = dict[str, dict[str, list[float]]]


def measure(ctx: Context, benchmarks: str) -> dict[str, object]:
    """Per result and mode: each side's process means; per benchmark the seconds per round."""
    settings = ctx.settings(ref=NEIGHBOUR_REF, baselines=(BASE_REF,), mode="default", benchmarks=benchmarks,
                            results_dir=ctx.fresh_dir(NAME), save="no", parallel="no")
    engine, benches = open_session(ctx, settings)
    assert engine.head is not None
    (baseline,) = engine.baselines
    assert baseline.target is not None
    side_cpus = cpus.parallel_cpus(settings.affinity, 2)
    if side_cpus is None:
        raise CpybenchError("alongside needs a physical core per side (two cores) among the CPUs it may use")
    calibration = interleaved.Calibration(ctx.cache_dir, settings.machine)
    results: dict[str, dict[str, object]] = {}
    round_seconds: dict[str, dict[str, float]] = {}
    for bench in benches:
        sides = [engine.side("head", engine.head, bench), engine.side(BASE_REF, baseline.target, bench)]
        means: dict[str, ResultData] = {}
        spent = dict.fromkeys(MODES, 0.0)
        interleaved.measure(bench, sides, engine.run_options(), Budget(processes=1), lambda _s: False,
                        calibration=calibration)  # calibrated loops, warm caches: not counted
        for _ in range(REPEATS):
            for mode in MODES:
                started = time.monotonic()
                suites, _rounds = interleaved.measure(bench, sides, engine.run_options(), Budget(processes=ROUNDS),
                                                  lambda _s: False, calibration=calibration,
                                                  cpus=side_cpus if mode == "together" else None)
                spent[mode] += time.monotonic() - started
                for side, suite in suites.items():
                    for result in suite.get_benchmarks():
                        by_side = means.setdefault(result.get_name(), {}).setdefault(mode, {})
                        by_side.setdefault(side, []).extend(process_means(result))
        results.update({name: {"benchmark": bench.name, **by_mode} for name, by_mode in means.items()})
        round_seconds[bench.name] = {mode: round(spent[mode] / (ROUNDS * REPEATS), 3) for mode in MODES}
        ctx.log(f"{NAME}: {bench.name}: {round_seconds[bench.name]}")
    return {"cpus": cpus, "results": results, "round_seconds": round_seconds}


def contention_shift(result: ResultData) -> float:
    """Alongside against alone: the geometric mean over the sides of (mean alongside / mean alone)."""
    sides = result["turns"].keys()
    return math.exp(statistics.fmean(math.log(statistics.fmean(result["together"][side])
                                              / statistics.fmean(result["turns"][side])) for side in sides))


def pair_noise(result: ResultData, mode: str) -> float:
    """The standard deviation of the rounds' log(head / base), in ``mode``."""
    head, base = (result[mode][side] for side in ("head", BASE_REF))
    return statistics.stdev(math.log(h / b) for h, b in zip(head, base, strict=True))


def summarize(data: dict[str, object]) -> SectionResult:
    section = SectionResult(NAME, TITLE, data=data)
    results: dict[str, dict[str, object]] = data["results"]  # type: ignore[assignment]
    rows: list[list[object]] = []
    shifts: list[float] = []
    noise_ratios: list[float] = []
    for name, result in sorted(results.items()):
        measured: ResultData = {mode: result[mode] for mode in MODES}  # type: ignore[misc]
        shift = contention_shift(measured)
        turns, together = (pair_noise(measured, mode) for mode in MODES)
        shifts.append(shift)
        noise_ratios.append(together / turns if turns else math.inf)
        rows.append([name, f"{shift:.3f}", f"{turns:.2%}", f"{together:.2%}"])
    section.tables.append(Table(
        f"per result, {ROUNDS * REPEATS} rounds of each kind: the shift alongside, the pairs' noise",
        ["result", "alongside / alone", "pair SD in turn", "pair SD at once"], rows))
    seconds: dict[str, dict[str, float]] = data["round_seconds"]  # type: ignore[assignment]
    costs = {name: per["together"] / per["turns"] for name, per in seconds.items()}
    section.tables.append(Table(
        "seconds per round", ["benchmark", "in turn", "at once", "at once / in turn"],
        [[name, f"{per['turns']:.2f}", f"{per['together']:.2f}", f"{costs[name]:.2f}"]
         for name, per in seconds.items()]))
    if shifts:
        section.goals.append(Goal("contention shift alongside (median; range)",
                                  f"{statistics.median(shifts):.3f} ({min(shifts):.3f}-{max(shifts):.3f})",
                                  None, "report only: why alongside against alone needs a margin"))
        section.goals.append(Goal("pair SD at once / in turn (median; range)",
                                  f"{statistics.median(noise_ratios):.2f} "
                                  f"({min(noise_ratios):.2f}-{max(noise_ratios):.2f})", None,
                                  "report only: below 1, rounds at once decide sooner"))
        section.goals.append(Goal("round cost at once / in turn (median; range)",
                                  f"{statistics.median(costs.values()):.2f} "
                                  f"({min(costs.values()):.2f}-{max(costs.values()):.2f})", None, "report only"))
    return section


def run(ctx: Context) -> SectionResult:
    return summarize(measure(ctx, variant_benchmarks(ctx, BENCHMARKS)))


def main(argv: list[str] | None = None) -> int:
    from benchmarks import run as bench_run

    return bench_run.measuring_main(argv, NAME, BENCHMARKS["standard"], measure, summarize)


if __name__ == "__main__":
    sys.exit(main())

