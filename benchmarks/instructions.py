"""Instruction counts (--cpython-metric=instructions): how deterministic, how sensitive, how costly.

Through the plugin's own code (``cachegrind.count_instructions``, ``compare.compare_benchmarks``) on
real builds of the test repository, in four parts:

* ``aa``: every benchmark counted twice on ``v3.13.5`` (two sides of 3 repetitions each, as a gate
  with the baseline counted in the session); the spread of the 6 counts per result, and the
  verdict of one side against the other at the 1% threshold (every REGRESSION is a false failure).
  Besides the variant's benchmarks (but in the quick variant), CONCURRENCY_BENCHMARKS (asyncio, a thread and a
  process pool) whose counts may not be deterministic;
* ``env``: the first side counted again with one environment variable more: how far counts move between
  two sessions whose environments differ (the A/A's two sides share one);
* ``heads``: each of ``plan.instr_heads`` and TINY_REF counted once and compared with the first A/A
  side at 1% (``neutral``: nothing may fail; ``slowdown-small`` and ``slowdown-tiny``: deepcopy's
  results above 1% must);
* ``cost``: the wall time of one side's count against one plain pyperf run of the time metric in the
  default mode (20 processes: what a head measured against a stored baseline costs).

``python benchmarks/run.py --only instructions`` runs all four; a part alone (no wall-time run
without ``cost``)::

    python -m benchmarks.instructions --parts heads --heads slowdown-tiny --json OUT
    python -m benchmarks.instructions --parts aa --benchmarks async_tree,coroutines --json OUT
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pyperf

from pytest_cpybench.measure import cachegrind, processes
from pytest_cpybench.results import metadata as md
from pytest_cpybench.verdict import compare, stats

from .common import Context, Goal, SectionResult, Table, open_session
from .plan import BASE_REF

NAME = "instructions"
TITLE = f"Instruction counts (cachegrind): determinism, sensitivity and cost on {BASE_REF}"
THRESHOLD = 0.01
# A branch of the test repository: copy.deepcopy loads one more global per call, 1-2.5% more
# instructions on deepcopy's results (below what wall time can gate at).
TINY_REF = "slowdown-tiny"
# Benchmarks whose counts may not be deterministic (an event loop, timers, sockets, a thread pool and a
# process pool): in the A/A of the standard and full variants. pyperformance has no other thread benchmark.
CONCURRENCY_BENCHMARKS = "async_tree,async_tree_io,asyncio_tcp,coroutines,generators,concurrent_imap"
# The env part: the first A/A side counted again with this one variable more in the environment. The
# environment is copied onto the interpreter's heap at startup, so every later object moves; programs whose
# dicts and sets hash objects by address (deepcopy's memo) then probe differently.
PADDING = {"CPYBENCH_ENV_PADDING": "x" * 100}
PARTS = ("aa", "env", "heads", "cost")


def _count(ctx: Context, ref: str, benchmarks: str, extra_env: dict[str, str] | None = None,
           ) -> tuple[dict[str, pyperf.Benchmark], dict[str, float]]:
    """Every result's counts on ``ref`` (a pyperf Benchmark per result) and the seconds per benchmark;
    ``extra_env``: variables added to the benchmark's environment."""
    engine, benches = open_session(ctx, ctx.settings(ref=ref, benchmarks=benchmarks, metric=md.METRIC_INSTRUCTIONS,
                                                     threshold=THRESHOLD, save="no"))
    assert engine.head is not None
    results: dict[str, pyperf.Benchmark] = {}
    seconds: dict[str, float] = {}
    for bench in benches:
        venv = engine.venv_for(engine.head, bench)
        started = time.monotonic()
        suite = cachegrind.count_instructions(venv, bench, replace(engine.run_options(),
                                                               env={**engine.head.env, **(extra_env or {})}),
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
        processes.run_benchmark(venv, bench, replace(engine.run_options(), env=engine.head.env))
        seconds[bench.name] = time.monotonic() - started
        ctx.log(f"time metric: {bench.name} in {seconds[bench.name]:.0f} s")
    return seconds


def _producer(result: pyperf.Benchmark) -> str:
    """The benchmark that made a result (deepcopy for deepcopy_memo)."""
    return str(result.get_metadata().get(md.BENCHMARK_NAME, result.get_name()))


def _join(*lists: str) -> str:
    """Comma-separated benchmark lists joined, each name once."""
    return ",".join(dict.fromkeys(name for names in lists for name in names.split(",") if name))


def aa_benchmarks(ctx: Context) -> str:
    """The A/A's benchmarks: the variant's, and (but in the quick variant) CONCURRENCY_BENCHMARKS."""
    if ctx.plan.name == "quick":
        return ctx.plan.instr_benchmarks
    return _join(ctx.plan.instr_benchmarks, CONCURRENCY_BENCHMARKS)


def heads(ctx: Context) -> tuple[str, ...]:
    """The heads: the variant's, and (but in the quick variant) TINY_REF."""
    if ctx.plan.name == "quick":
        return ctx.plan.instr_heads
    return tuple(dict.fromkeys([*ctx.plan.instr_heads, TINY_REF]))


def run(ctx: Context) -> SectionResult:
    return run_parts(ctx, PARTS, aa_list=aa_benchmarks(ctx), head_list=ctx.plan.instr_benchmarks,
                     head_refs=heads(ctx))


def run_parts(ctx: Context, parts: Sequence[str], *, aa_list: str, head_list: str,
              head_refs: Sequence[str]) -> SectionResult:
    """The ``parts`` of the section: ``aa`` on ``aa_list``; ``env``, ``heads`` (``head_refs``) and ``cost`` (one
    side's counts against time runs) on ``head_list``."""
    section = SectionResult(NAME, TITLE)
    data: dict[str, object] = {"parts": list(parts)}
    section.data = data
    # The first side of BASE_REF: every part needs it (heads are compared with it, cost times it).
    first, count_seconds = _count(ctx, BASE_REF, aa_list if "aa" in parts else head_list)
    data["base_counts"] = {name: list(first[name].get_values()) for name in sorted(first)}
    data["count_seconds"] = count_seconds
    if "aa" in parts:
        _aa(ctx, section, first, aa_list)
    if "env" in parts:
        _env(ctx, section, first, head_list)
    if "heads" in parts and head_refs:
        _heads(ctx, section, first, head_list, head_refs)
    if "cost" in parts:
        _cost(ctx, section, count_seconds, head_list)
    return section


def _aa(ctx: Context, section: SectionResult, first: dict[str, pyperf.Benchmark], benchmarks: str) -> None:
    second, second_seconds = _count(ctx, BASE_REF, benchmarks)
    rows: list[list[object]] = []
    spreads: dict[str, float] = {}
    verdicts = []
    for name in sorted(first):
        a, b = first[name], second[name]
        values = list(a.get_values()) + list(b.get_values())
        spread = compare.relative_spread(values)
        spreads[name] = spread
        rc = compare.compare_benchmarks(a, b, threshold=THRESHOLD)
        verdicts.append(rc.verdict)
        rows.append([name, f"{statistics.fmean(values):,.0f}", f"{spread:.1e}", f"{rc.ratio:.6f}",
                     f"{rc.estimate.low:.6f}-{rc.estimate.high:.6f}", rc.verdict.name])
    section.tables.append(Table(f"A/A: {BASE_REF} counted twice, 3 repetitions each ({benchmarks})",
                                ["result", "instructions / loop", "spread (6 counts)", "ratio", "95% interval",
                                 f"verdict at {THRESHOLD:.0%}"], rows))
    false_failures = sum(v is stats.Verdict.REGRESSION for v in verdicts)
    inconclusive = sum(v is stats.Verdict.INCONCLUSIVE for v in verdicts)
    section.goals.append(Goal(f"A/A: 0 false failures at {THRESHOLD:.0%}",
                              f"{false_failures} in {len(verdicts)} ({inconclusive} inconclusive)",
                              false_failures == 0))
    concurrency = set(CONCURRENCY_BENCHMARKS.split(","))
    groups = {"": [n for n in spreads if _producer(first[n]) not in concurrency],
              "asyncio, generators, threads: ": [n for n in spreads if _producer(first[n]) in concurrency]}
    for label, names in groups.items():
        if not names:
            continue
        values = [spreads[n] for n in names]
        above = [n for n in names if spreads[n] > stats.MAX_INSTRUCTION_SPREAD]
        widest = max(names, key=lambda n: spreads[n])
        section.goals.append(Goal(
            f"A/A spread of the counts, {label}max, median; above {stats.MAX_INSTRUCTION_SPREAD:.1%}",
            f"{max(values):.1e} ({widest}), {statistics.median(values):.1e}; {len(above)} of {len(names)}"
            + (f" ({', '.join(above)}: inconclusive)" if above else ""),
            # Deterministic benchmarks must stay under the bound; the others may not, as long as they are
            # inconclusive then (compare_benchmarks makes sure), never failed.
            not above if not label else None, "" if not label else "may be non-deterministic: listed"))
    section.notes.append("spread = (max - min) / mean of the 6 counts of a result; a gate's verdict is "
                         f"inconclusive above {stats.MAX_INSTRUCTION_SPREAD:.1%}")
    section.data.update(benchmarks=benchmarks, spreads=spreads, second_seconds=second_seconds,
                        second_counts={name: list(second[name].get_values()) for name in sorted(second)})


def _env(ctx: Context, section: SectionResult, first: dict[str, pyperf.Benchmark], benchmarks: str) -> None:
    padded, _ = _count(ctx, BASE_REF, benchmarks, extra_env=PADDING)
    shifts = {name: statistics.fmean(padded[name].get_values()) / statistics.fmean(first[name].get_values()) - 1
              for name in sorted(first)}
    rows: list[list[object]] = [[name, f"{statistics.fmean(first[name].get_values()):,.0f}",
                                 f"{statistics.fmean(padded[name].get_values()):,.0f}", f"{shifts[name]:+.2e}"]
                                for name in sorted(first)]
    section.tables.append(Table(f"environment: {BASE_REF} counted again with one more environment variable "
                                f"({len(next(iter(PADDING.values())))} bytes)",
                                ["result", "instructions / loop", "with the variable", "shift"], rows))
    widest = max(shifts, key=lambda n: abs(shifts[n]))
    section.goals.append(Goal(f"environment: shift of the counts (max, median) below the {THRESHOLD:.0%} threshold",
                              f"{shifts[widest]:+.1e} ({widest}), {statistics.median(map(abs, shifts.values())):.1e}",
                              abs(shifts[widest]) < THRESHOLD))
    section.data.update(env_shifts=shifts,
                        env_counts={name: list(padded[name].get_values()) for name in sorted(padded)})


def _heads(ctx: Context, section: SectionResult, first: dict[str, pyperf.Benchmark], benchmarks: str,
           head_refs: Sequence[str]) -> None:
    rows: list[list[object]] = []
    counts: dict[str, dict[str, list[float]]] = {}
    for head in head_refs:
        counted, _ = _count(ctx, head, benchmarks)
        counts[head] = {name: list(counted[name].get_values()) for name in sorted(counted)}
        for name in sorted(counted):
            rc = compare.compare_benchmarks(first[name], counted[name], threshold=THRESHOLD)
            rows.append([head, name, f"{rc.ratio:.4f}", f"{rc.estimate.low:.5f}-{rc.estimate.high:.5f}",
                         rc.verdict.name])
    section.tables.append(Table(f"heads against {BASE_REF} at {THRESHOLD:.0%} ({benchmarks})",
                                ["head", "result", "ratio", "95% interval", "verdict"], rows))
    section.data.update(head_benchmarks=benchmarks, heads=rows, head_counts=counts)


def _cost(ctx: Context, section: SectionResult, count_seconds: dict[str, float], benchmarks: str) -> None:
    timed = _timed(ctx, benchmarks)
    both = [name for name in count_seconds if name in timed]
    cost_rows: list[list[object]] = [
        [name, f"{count_seconds[name]:.1f}", f"{timed[name]:.1f}", f"{count_seconds[name] / timed[name]:.2f}"]
        for name in both]
    total_count, total_time = sum(count_seconds[n] for n in both), sum(timed[n] for n in both)
    cost_rows.append(["total", f"{total_count:.1f}", f"{total_time:.1f}", f"{total_count / total_time:.2f}"])
    section.tables.append(Table("cost per side: one count (3 repetitions) vs one default-mode pyperf run (time)",
                                ["benchmark", "instructions s", "time s", "ratio"], cost_rows))
    section.data.update(time_seconds=timed)


def main(argv: list[str] | None = None) -> int:
    """Some parts of the section, on their own (see the module's docstring)."""
    from benchmarks import run as bench_run  # the command line's machinery (imports this module)

    parser = argparse.ArgumentParser(description="Parts of the instructions section (see benchmarks/README.md).")
    parser.add_argument("--quick", action="store_true", help="the quick variant's benchmarks and heads")
    parser.add_argument("--full", action="store_true", help="the full variant's benchmarks and heads")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--benchmarks", default="",
                        help="the benchmarks of every part (default: the variant's A/A and heads lists)")
    parser.add_argument("--heads", default="", help="comma-separated refs (default: the variant's heads)")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--verbose", "-v", action="store_true", help="show the engine's progress messages")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not parts or any(p not in PARTS for p in parts):
        parser.error(f"--parts: choose from {', '.join(PARTS)}")
    plan = bench_run.PLANS["quick" if args.quick else "full" if args.full else "standard"]
    started = time.monotonic()
    with bench_run.standalone_context(NAME, plan.name, verbose=args.verbose) as ctx:
        version = ctx.build(BASE_REF).version
        head_refs = tuple(h for h in args.heads.split(",") if h) or heads(ctx)
        result = run_parts(ctx, parts, aa_list=args.benchmarks or aa_benchmarks(ctx),
                           head_list=args.benchmarks or plan.instr_benchmarks, head_refs=head_refs)
    return bench_run.finish_standalone(result, started, args.json, NAME, argv,
                                       {"variant": plan.name, "machine": bench_run.machine.details(version),
                                        "plan": plan.__dict__})


if __name__ == "__main__":
    sys.exit(main())
