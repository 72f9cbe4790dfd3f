"""Instruction counts (--cpython-metric=instructions): how deterministic, how sensitive, how costly.

Through the plugin's own code (``runner.count_instructions``, ``compare.compare_benchmarks``) on
real builds of the test repository:

* A/A: every benchmark counted twice on ``v3.13.5`` (two sides of 3 repetitions each, as a gate
  with the baseline counted in the session); the spread of the 6 counts per result, and the
  verdict of one side against the other at the 1% threshold (every REGRESSION is a false failure);
* heads: each of ``plan.instr_heads`` counted once and compared with the first A/A side at 1%
  (``neutral``: nothing may fail; ``slowdown-small``: deepcopy's results must);
* cost: the wall time of one side's count against one plain pyperf run of the time metric in the
  default mode (20 processes: what a head measured against a stored baseline costs).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace

import pyperf

from pytest_cpybench import compare, runner, stats
from pytest_cpybench import metadata as md

from .common import Context, Goal, SectionResult, Table, open_session
from .plan import BASE_REF

NAME = "instructions"
TITLE = f"Instruction counts (cachegrind): determinism, sensitivity and cost on {BASE_REF}"
THRESHOLD = 0.01


def _count(ctx: Context, ref: str, benchmarks: str) -> tuple[dict[str, pyperf.Benchmark], dict[str, float]]:
    """Every result's counts on ``ref`` (a pyperf Benchmark per result) and the seconds per benchmark."""
    engine, benches = open_session(ctx, ctx.settings(ref=ref, benchmarks=benchmarks, metric=md.METRIC_INSTRUCTIONS,
                                                     threshold=THRESHOLD, save="no"))
    assert engine.head is not None
    results: dict[str, pyperf.Benchmark] = {}
    seconds: dict[str, float] = {}
    for bench in benches:
        venv = engine.venv_for(engine.head, bench)
        started = time.monotonic()
        suite = runner.count_instructions(venv, bench, replace(engine.run_options(), env=engine.head.env),
                                          log=ctx.engine_log)
        seconds[bench.name] = time.monotonic() - started
        ctx.log(f"{ref}: {bench.name} counted in {seconds[bench.name]:.0f} s")
        for result in suite.get_benchmarks():
            results[result.get_name()] = result
    return results, seconds


def _timed(ctx: Context, benchmarks: str) -> dict[str, float]:
    """Seconds of one default-mode pyperf run (time metric) per benchmark, on BASE_REF."""
    engine, benches = open_session(ctx, ctx.settings(ref=BASE_REF, benchmarks=benchmarks, mode="default", save="no"))
    assert engine.head is not None
    seconds = {}
    for bench in benches:
        venv = engine.venv_for(engine.head, bench)
        started = time.monotonic()
        runner.run_benchmark(venv, bench, replace(engine.run_options(), env=engine.head.env))
        seconds[bench.name] = time.monotonic() - started
        ctx.log(f"time metric: {bench.name} in {seconds[bench.name]:.0f} s")
    return seconds


def run(ctx: Context) -> SectionResult:
    plan = ctx.plan
    section = SectionResult(NAME, TITLE)
    first, count_seconds = _count(ctx, BASE_REF, plan.instr_benchmarks)
    second, _ = _count(ctx, BASE_REF, plan.instr_benchmarks)
    rows: list[list[object]] = []
    spreads = []
    verdicts = []
    for name in sorted(first):
        a, b = first[name], second[name]
        values = list(a.get_values()) + list(b.get_values())
        spread = compare.relative_spread(values)
        spreads.append(spread)
        rc = compare.compare_benchmarks(a, b, threshold=THRESHOLD)
        verdicts.append(rc.verdict)
        rows.append([name, f"{statistics.fmean(values):,.0f}", f"{spread:.1e}", f"{rc.ratio:.6f}",
                     f"{rc.estimate.low:.6f}-{rc.estimate.high:.6f}", rc.verdict.name])
    section.tables.append(Table(f"A/A: {BASE_REF} counted twice, 3 repetitions each ({plan.instr_benchmarks})",
                                ["result", "instructions / loop", "spread (6 counts)", "ratio", "95% interval",
                                 f"verdict at {THRESHOLD:.0%}"], rows))
    false_failures = sum(v is stats.Verdict.REGRESSION for v in verdicts)
    section.goals.append(Goal(f"A/A: 0 false failures at {THRESHOLD:.0%}", f"{false_failures} in {len(verdicts)}",
                              false_failures == 0))
    section.goals.append(Goal("A/A spread of the counts (max, median)",
                              f"{max(spreads):.1e}, {statistics.median(spreads):.1e}",
                              max(spreads) <= stats.MAX_INSTRUCTION_SPREAD))

    head_rows: list[list[object]] = []
    for head in plan.instr_heads:
        counted, _ = _count(ctx, head, plan.instr_benchmarks)
        for name in sorted(counted):
            rc = compare.compare_benchmarks(first[name], counted[name], threshold=THRESHOLD)
            head_rows.append([head, name, f"{rc.ratio:.4f}", rc.verdict.name])
    if head_rows:
        section.tables.append(Table(f"heads against {BASE_REF} at {THRESHOLD:.0%}",
                                    ["head", "result", "ratio", "verdict"], head_rows))

    timed = _timed(ctx, plan.instr_benchmarks)
    cost_rows: list[list[object]] = [
        [name, f"{count_seconds[name]:.1f}", f"{timed[name]:.1f}", f"{count_seconds[name] / timed[name]:.2f}"]
        for name in count_seconds if name in timed]
    total_count, total_time = sum(count_seconds.values()), sum(timed[n] for n in count_seconds if n in timed)
    cost_rows.append(["total", f"{total_count:.1f}", f"{total_time:.1f}", f"{total_count / total_time:.2f}"])
    section.tables.append(Table("cost per side: one count (3 repetitions) vs one default-mode pyperf run (time)",
                                ["benchmark", "instructions s", "time s", "ratio"], cost_rows))
    section.notes.append("spread = (max - min) / mean of the 6 counts of a result; a gate's verdict is "
                         f"inconclusive above {stats.MAX_INSTRUCTION_SPREAD:.1%}")
    section.data = {"benchmarks": plan.instr_benchmarks, "spreads": dict(zip(sorted(first), spreads, strict=True)),
                    "count_seconds": count_seconds, "time_seconds": timed, "heads": head_rows}
    return section
