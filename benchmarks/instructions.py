"""Instruction counts (--cpython-metric=instructions): how deterministic, how sensitive, how costly.

Through the plugin's own code (``cachegrind``, ``InstructionCounts``, ``compare.compare_benchmarks``) on
real builds of the test repository, in parts:

* ``aa``: every benchmark counted twice on ``v3.13.5`` (two sides of 3 repetitions each, as a gate
  with the baseline counted in the session); the spread of the 6 counts per result, and the
  verdict of one side against the other at the 1% threshold (every REGRESSION is a false failure).
  Besides the variant's benchmarks (but in the quick variant), CONCURRENCY_BENCHMARKS (asyncio, a thread and a
  process pool) whose counts may not be deterministic;
* ``env``: the first side counted again with one environment variable more: how far counts move between
  two sessions whose environments differ (the A/A's two sides share one);
* ``heads``: each of ``plan.instr_heads`` and TINY_REF counted 3 times and compared with the first A/A
  side at 1% (``neutral``: nothing may fail; ``slowdown-small`` and ``slowdown-tiny``: deepcopy's
  results above 1% must). ``aa`` and ``heads`` keep every repetition's count (what ``rule`` replays);
* ``rule`` (no valgrind): the one-repetition rule (``cachegrind.repetitions_wanted``) replayed on the
  stored repetitions of the result files (``--replay``; by default every
  ``benchmarks/results/instructions*.json`` with 3 repetitions per side): for every pair of sides
  (A/A, heads) and result, the verdict from the repetitions the rule asks for against the verdict from
  all three, for the first repetition counted first and for every order of the repetitions;
* ``loops``: per result, the count per loop at the calibrated L, a shorter L' and one loop: whether a
  shorter block still cancels startup (equal to 1e-5);
* ``cost``: the wall time of the new counting (``InstructionCounts``: once per side, the sides at once,
  the loops calibrated once) of one side and of A/B gates (``neutral`` and TINY_REF against ``v3.13.5``,
  both sides at once; also in turn) against one plain pyperf run of the time metric in the default
  mode (20 processes: what ``pyperformance run`` spends on one side, without its own overhead), with
  the gates' verdicts at 1%.

``python benchmarks/run.py --only instructions`` runs aa, env, heads, rule and cost; a part alone::

    python -m benchmarks.instructions --parts rule --json OUT
    python -m benchmarks.instructions --parts aa,heads --heads slowdown-small,slowdown-tiny,neutral --json OUT
    python -m benchmarks.instructions --parts cost --json OUT
    python -m benchmarks.instructions --parts loops --benchmarks deepcopy,unpack_sequence --json OUT
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pyperf

from pytest_cpybench.measure import cachegrind, cpus, processes
from pytest_cpybench.measure.interleaved import Side
from pytest_cpybench.results import metadata as md
from pytest_cpybench.session.measurement import InstructionCounts
from pytest_cpybench.verdict import compare, stats

from . import machine
from .common import Context, Goal, SectionResult, Table, open_session
from .overhead import user_environ
from .plan import BASE_REF, NEIGHBOUR_REF

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
PARTS = ("aa", "env", "heads", "rule", "loops", "cost")
SECTION_PARTS = ("aa", "env", "heads", "rule", "cost")  # what run.py's section runs (loops: on demand)
# The loops part: the shorter block it checks against the calibrated one (seconds without valgrind).
SHORT_MIN_TIME = 0.001
# The results of stored files whose benchmark is not named in them (files written before the
# producers were): pyperformance's benchmark of each result whose name is not its benchmark's.
PRODUCERS = {"async_tree_none": "async_tree", "bench_mp_pool": "concurrent_imap",
             "bench_thread_pool": "concurrent_imap", "deepcopy_memo": "deepcopy", "deepcopy_reduce": "deepcopy"}
RESULTS_DIR = Path(__file__).resolve().parent / "results"


# The loops every count of a run of this module is made at (one L per result for every side: counts per
# loop depend on L), kept in a cache of the run's own.
_LOOPS: dict[str, Path] = {}


def _count(ctx: Context, ref: str, benchmarks: str, extra_env: dict[str, str] | None = None,
           ) -> tuple[dict[str, pyperf.Benchmark], dict[str, float]]:
    """Every result's counts on ``ref``, 3 repetitions (a pyperf Benchmark per result) and the seconds
    per benchmark; ``extra_env``: variables added to the benchmark's environment. The loops are the
    run's (calibrated on the first side counted); the processes run one per CPU at a time (counts do
    not depend on it)."""
    loops_cache = _LOOPS.setdefault(str(ctx.tmp), ctx.fresh_dir("loops"))
    engine, benches = open_session(ctx, ctx.settings(ref=ref, benchmarks=benchmarks, metric=md.METRIC_INSTRUCTIONS,
                                                     threshold=THRESHOLD, save="no"))
    assert engine.head is not None
    results: dict[str, pyperf.Benchmark] = {}
    seconds: dict[str, float] = {}
    for bench in benches:
        venv = engine.venv_for(engine.head, bench)
        started = time.monotonic()
        options = replace(engine.run_options(), env={**engine.head.env, **(extra_env or {})})
        tasks = cachegrind.counting_tasks(venv, bench, options, cache_dir=loops_cache, machine="run")
        suites, _ = cachegrind.count_sides(bench, [Side(label=ref, venv_python=venv, env={})], options, tasks,
                                           repetitions=cachegrind.INSTRUCTION_REPETITIONS,
                                           workers=len(cpus.usable_cpus(None)), log=ctx.engine_log)
        seconds[bench.name] = time.monotonic() - started
        ctx.log(f"{ref}: {bench.name} counted in {seconds[bench.name]:.0f} s")
        for result in suites[ref].get_benchmarks():
            results[result.get_name()] = result
    return results, seconds


def _children_cpu() -> float:
    """CPU seconds of this process's finished child processes (and theirs, as they waited for them)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _pyperformance(ctx: Context, benchmarks: str) -> tuple[float, float]:
    """Seconds (wall, CPU) of one ``pyperformance run`` (default mode) of ``benchmarks`` on BASE_REF, as a
    user runs it on the head alone; its venv made first, untimed."""
    python = ctx.build(BASE_REF).python
    cwd = ctx.work_dir / "pyperformance"  # its ./venv survives between runs (the overhead section's too)
    cwd.mkdir(parents=True, exist_ok=True)
    output = ctx.fresh_dir("pyperformance") / "run.json"
    command = [sys.executable, "-m", "pyperformance"]
    # Exits 1 when the venv exists already; the run says if it is not usable.
    subprocess.run([*command, "venv", "create", "-p", str(python), "-b", benchmarks], cwd=cwd, env=user_environ(),
                   stdin=subprocess.DEVNULL, capture_output=True, check=False)
    started, cpu = time.monotonic(), _children_cpu()
    done = subprocess.run([*command, "run", "-p", str(python), "-b", benchmarks, "-o", str(output)], cwd=cwd,
                          env=user_environ(), stdin=subprocess.DEVNULL, capture_output=True, text=True)
    seconds, cpu = time.monotonic() - started, _children_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError("pyperformance run failed:\n" + "\n".join((done.stdout + done.stderr).splitlines()[-15:]))
    ctx.log(f"pyperformance run: {benchmarks} in {seconds:.0f} s ({cpu:.0f} s of CPU)")
    return seconds, cpu


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
    return run_parts(ctx, SECTION_PARTS, aa_list=aa_benchmarks(ctx), head_list=ctx.plan.instr_benchmarks,
                     head_refs=heads(ctx))


def run_parts(ctx: Context, parts: Sequence[str], *, aa_list: str, head_list: str,
              head_refs: Sequence[str], replay: Sequence[Path] = ()) -> SectionResult:
    """The ``parts`` of the section: ``aa`` on ``aa_list``; ``env``, ``heads`` (``head_refs``), ``loops`` and
    ``cost`` on ``head_list``; ``rule`` on the files ``replay`` (default: the stored result files)."""
    section = SectionResult(NAME, TITLE)
    data: dict[str, object] = {"parts": list(parts)}
    section.data = data
    if any(part in parts for part in ("aa", "env", "heads")):
        # The first side of BASE_REF, 3 repetitions: aa, env and heads compare with it.
        first, count_seconds = _count(ctx, BASE_REF, aa_list if "aa" in parts else head_list)
        data["base_counts"] = {name: list(first[name].get_values()) for name in sorted(first)}
        data["producers"] = {name: _producer(first[name]) for name in sorted(first)}
        data["loops"] = {name: cachegrind.loops_of(first[name]) for name in sorted(first)}
        data["count_seconds"] = count_seconds
        if "aa" in parts:
            _aa(ctx, section, first, aa_list)
        if "env" in parts:
            _env(ctx, section, first, head_list)
        if "heads" in parts and head_refs:
            _heads(ctx, section, first, head_list, head_refs)
    if "rule" in parts:
        _rule(section, list(replay) or stored_files())
    if "loops" in parts:
        _loops(ctx, section, head_list)
    if "cost" in parts:
        _cost(ctx, section, head_list)
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
              for name in sorted(padded)}
    rows: list[list[object]] = [[name, f"{statistics.fmean(first[name].get_values()):,.0f}",
                                 f"{statistics.fmean(padded[name].get_values()):,.0f}", f"{shifts[name]:+.2e}"]
                                for name in sorted(padded)]
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
    section.tables.append(Table(f"heads against {BASE_REF} at {THRESHOLD:.0%}, 3 repetitions each ({benchmarks})",
                                ["head", "result", "ratio", "95% interval", "verdict"], rows))
    section.data.update(head_benchmarks=benchmarks, heads=rows, head_counts=counts)


# -- rule: the one-repetition rule replayed on stored repetitions -----------------------------


@dataclass(frozen=True)
class Pair:
    """Two sides of one result counted 3 times each in one session (an A/A, or a head against the base)."""

    source: str  # the file
    label: str  # "A/A" or the head's ref
    result: str
    benchmark: str
    head: tuple[float, ...]
    base: tuple[float, ...]


def stored_files(folder: Path = RESULTS_DIR) -> list[Path]:
    """The result files of this section that hold 3 repetitions per side of some pair of sides."""
    return [path for path in sorted(folder.glob("instructions*.json")) if pairs_of(path)]


def pairs_of(path: Path) -> list[Pair]:
    """Every pair of sides a result file of this section holds 3 repetitions of: the A/A's two sides
    (``base_counts``, ``second_counts``) and each head against the first side (``head_counts``)."""
    try:
        document = json.loads(path.read_text("utf-8"))
        data = document["sections"][NAME]["data"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    base = data.get("base_counts") or {}
    producers = {**PRODUCERS, **(data.get("producers") or {})}
    sides = [("A/A", data.get("second_counts") or {})]
    sides += sorted((data.get("head_counts") or {}).items())
    found = []
    for label, counts in sides:
        for result in sorted(set(base) & set(counts)):
            if len(base[result]) >= 3 and len(counts[result]) >= 3:
                found.append(Pair(path.name, label, result, producers.get(result, result),
                                  tuple(counts[result][:3]), tuple(base[result][:3])))
    return found


def counted(values: Sequence[float], name: str) -> pyperf.Benchmark:
    """A result of instruction counts, one run (repetition) per value."""
    metadata = {"name": name, "unit": "integer", md.METRIC: md.METRIC_INSTRUCTIONS, md.REPETITIONS: len(values)}
    return pyperf.Benchmark([pyperf.Run([value], collect_metadata=False, metadata=metadata) for value in values])


def verdict_of(pair: Pair, head: Sequence[float], base: Sequence[float],
               threshold: float = THRESHOLD) -> compare.ResultComparison:
    """The verdict of a gate that counted both sides in its session (paired, as the engine passes them;
    compare_benchmarks takes repetitions of counts as unpaired)."""
    return compare.compare_benchmarks(counted(base, pair.result), counted(head, pair.result), threshold=threshold,
                                      paired=True)


def verdict_before(pair: Pair, threshold: float = THRESHOLD) -> str:
    """The verdict of all three repetitions as compare_benchmarks gave it before the rule: a paired
    t-interval over the repetitions, no floor, inconclusive above stats.MAX_INSTRUCTION_SPREAD."""
    spread = max(compare.relative_spread(pair.head), compare.relative_spread(pair.base))
    if spread > stats.MAX_INSTRUCTION_SPREAD:
        return stats.Verdict.INCONCLUSIVE.name
    ratio = statistics.fmean(pair.head) / statistics.fmean(pair.base)
    estimate = stats.paired_ratio_interval(list(zip(pair.base, pair.head, strict=True)), ratio=ratio)
    return stats.verdict(estimate, threshold).name


def rule_repetitions(head: Sequence[float], base: Sequence[float], benchmark: str,
                     threshold: float = THRESHOLD, listed: bool = True,
                     margin: float = cachegrind.NEAR_THRESHOLD) -> int:
    """How many of the repetitions (in this order) the rule counts per side; ``listed``: False as if the
    benchmark were not known to be nondeterministic (what the margin alone guards)."""
    done = 1
    while True:
        nondeterministic = listed and benchmark in cachegrind.NONDETERMINISTIC
        wanted = cachegrind.repetitions_wanted([head[:done], base[:done]], threshold,
                                               nondeterministic=nondeterministic, margin=margin)
        if wanted <= done:
            return done
        done = min(wanted, len(head), len(base))


@dataclass
class Replayed:
    """The rule on one pair of sides: its verdict with the repetitions in their stored order, and in
    every order, against the verdict of all three."""

    pair: Pair
    ratio: float
    verdict: str  # all three repetitions per side
    before: str  # all three, as compare_benchmarks gave it before the rule (verdict_before)
    repetitions: int  # what the rule counts, repetitions in their order
    most: int  # ... in the order that needs the most
    rule: compare.ResultComparison  # its comparison, repetitions in their order
    orders: int
    differing: int  # orders whose verdict differs from ``verdict``
    unlisted_failures: int = 0  # orders failing (where all three do not) were the benchmark not listed
    unlisted_differing: int = 0  # orders whose verdict differs, were the benchmark not listed

    def row(self) -> dict[str, object]:
        return {"source": self.pair.source, "pair": self.pair.label, "result": self.pair.result,
                "benchmark": self.pair.benchmark, "ratio": self.ratio, "verdict": self.verdict,
                "verdict_before": self.before, "repetitions": self.repetitions, "most_repetitions": self.most,
                "rule_ratio": self.rule.ratio, "rule_low": self.rule.estimate.low,
                "rule_high": self.rule.estimate.high, "rule_verdict": self.rule.verdict.name,
                "orders": self.orders, "differing_orders": self.differing}


def replay(pair: Pair, threshold: float = THRESHOLD) -> Replayed:
    full = verdict_of(pair, pair.head, pair.base, threshold)
    reps = rule_repetitions(pair.head, pair.base, pair.benchmark, threshold)
    orders = differing = most = unlisted_failures = unlisted_differing = 0
    for head in itertools.permutations(pair.head):
        for base in itertools.permutations(pair.base):
            used = rule_repetitions(head, base, pair.benchmark, threshold)
            most = max(most, used)
            orders += 1
            differing += verdict_of(pair, head[:used], base[:used], threshold).verdict is not full.verdict
            if pair.benchmark in cachegrind.NONDETERMINISTIC:
                used = rule_repetitions(head, base, pair.benchmark, threshold, listed=False)
                unlisted = verdict_of(pair, head[:used], base[:used], threshold).verdict
                unlisted_differing += unlisted is not full.verdict
                unlisted_failures += (unlisted is stats.Verdict.REGRESSION) and full.verdict is not unlisted
    return Replayed(pair, full.ratio, full.verdict.name, verdict_before(pair, threshold), reps, most,
                    verdict_of(pair, pair.head[:reps], pair.base[:reps], threshold), orders, differing,
                    unlisted_failures, unlisted_differing)


def _rule(section: SectionResult, files: Sequence[Path]) -> None:
    pairs = [pair for path in files for pair in pairs_of(path)]
    if not pairs:
        section.notes.append("rule: no stored file holds 3 repetitions per side")
        return
    replayed = [replay(pair) for pair in pairs]
    rows: list[list[object]] = [
        [r.pair.source, r.pair.label, r.pair.result, f"{r.ratio:.5f}", r.verdict,
         r.before if r.before != r.verdict else "", f"{r.repetitions}" + (f" (up to {r.most})" if r.most > r.repetitions
                                                                           else ""),
         f"{r.rule.ratio:.5f}", f"{r.rule.estimate.low:.5f}-{r.rule.estimate.high:.5f}", r.rule.verdict.name,
         "same" if r.rule.verdict.name == r.verdict else "DIFFERS", f"{r.differing}/{r.orders}"]
        for r in replayed]
    section.tables.append(Table(
        f"rule: one repetition per side, more where cachegrind.repetitions_wanted asks (within "
        f"{cachegrind.NEAR_THRESHOLD:.1%} of the {THRESHOLD:.0%} threshold's limit or beyond: 2; "
        f"{', '.join(sorted(cachegrind.NONDETERMINISTIC))}, or two counts apart: 3), replayed on the stored "
        "repetitions",
        ["file", "pair", "result", "ratio (3)", "verdict (3)", "before the rule (3)", "repetitions", "ratio (rule)",
         "interval (rule)", "verdict (rule)", "rule vs 3", "orders differing"], rows))
    differing = [r for r in replayed if r.rule.verdict.name != r.verdict]
    any_order = [r for r in replayed if r.differing]
    changed = [r for r in replayed if r.before != r.verdict]
    counted_once = sum(r.repetitions == 1 for r in replayed)
    section.goals.append(Goal(
        "rule: 0 verdicts differing from 3 repetitions' (repetitions in their stored order)",
        f"{len(differing)} of {len(replayed)}" + (f" ({_names(differing)})" if differing else ""), not differing))
    section.goals.append(Goal(
        "rule: 0 verdicts differing in any order of the repetitions (6 x 6 orders per pair)",
        f"{sum(r.differing for r in replayed)} of {sum(r.orders for r in replayed)} orders, in {len(any_order)} "
        "results" + (f" ({_names(any_order)})" if any_order else ""), not any_order))
    guarded = [r for r in replayed if r.pair.benchmark in cachegrind.NONDETERMINISTIC]
    if guarded:
        orders = sum(r.orders for r in guarded)
        section.goals.append(Goal(
            f"rule without the list ({', '.join(sorted(cachegrind.NONDETERMINISTIC))} as if deterministic): 0 "
            "failures that 3 repetitions do not give, in any order",
            f"{sum(r.unlisted_failures for r in guarded)} of {orders} orders of {len(guarded)} results; verdicts "
            f"differing: {sum(r.unlisted_differing for r in guarded)} (passes either way)",
            not any(r.unlisted_failures for r in guarded)))
    section.goals.append(Goal(
        "3 repetitions: verdicts changed by the interval's floor (stats.count_interval) and unpaired repetitions",
        f"{len(changed)} of {len(replayed)}" + ("" if not changed else " (" + ", ".join(
            f"{r.pair.result} ({r.pair.label}, {r.pair.source}, ratio {r.ratio:.7f}: {r.before} -> {r.verdict})"
            for r in changed) + ")"), None, "listed"))
    section.goals.append(Goal(
        "rule: results counted once per side", f"{counted_once} of {len(replayed)}; the others: "
        + ", ".join(f"{r.pair.result} ({r.pair.label}: {r.repetitions})" for r in replayed if r.repetitions > 1),
        None, "what it saves"))
    section.tables.append(_determinism_table(pairs))
    section.tables.append(_margins_table(pairs))
    section.notes.append(
        f"the interval of a side counted once: the ratio within 2 x stats.MAX_COUNT_DEVIATION "
        f"({2 * stats.MAX_COUNT_DEVIATION:.0e}) each way, also the floor of every interval of counts; two counts of "
        f"a side further apart than {stats.MAX_COUNT_DEVIATION:.0e} get a third")
    section.data.update(rule_files=[path.name for path in files], rule=[r.row() for r in replayed])


def _names(rows: Sequence[Replayed]) -> str:
    return ", ".join(f"{r.pair.result} ({r.pair.label}, {r.pair.source}: {r.verdict} -> {r.rule.verdict.name})"
                     for r in rows)


# The margins the rule is replayed with besides its own (NEAR_THRESHOLD), to show what it buys.
MARGINS = (0.0, 2e-4, 1e-3, 2e-3, 5e-3, 1e-2)


def _margins_table(pairs: Sequence[Pair]) -> Table:
    """The rule replayed at other margins, with and without the list of nondeterministic benchmarks, in
    every order of the repetitions: verdicts differing from 3 repetitions', failures 3 repetitions do not
    give, passes of results 3 repetitions fail, and the extra counting (repetitions beyond one per side)."""
    rows: list[list[object]] = []
    for listed in (True, False):
        for margin in MARGINS:
            differing = false_failures = false_passes = extra = orders = 0
            for pair in pairs:
                full = verdict_of(pair, pair.head, pair.base).verdict
                for head in itertools.permutations(pair.head):
                    for base in itertools.permutations(pair.base):
                        used = rule_repetitions(head, base, pair.benchmark, listed=listed, margin=margin)
                        got = verdict_of(pair, head[:used], base[:used]).verdict
                        orders += 1
                        extra += used - 1
                        differing += got is not full
                        false_failures += got is stats.Verdict.REGRESSION and full is not got
                        false_passes += full is stats.Verdict.REGRESSION and got is not full
            rows.append(["yes" if listed else "no", f"{margin:.2%}" + (" (the rule's)" if margin ==
                                                                       cachegrind.NEAR_THRESHOLD else ""),
                         f"{differing}/{orders}", false_failures, false_passes, f"{extra / orders:.2f}"])
    return Table("the rule at other margins (every order of the repetitions of every pair): a failure is always "
                 "counted again; the margin adds the passes near the limit",
                 ["NONDETERMINISTIC listed", "margin", "verdicts differing", "failures 3 do not give",
                  "passes of failures", "extra repetitions per side"], rows)


def _determinism_table(pairs: Sequence[Pair]) -> Table:
    """Per benchmark group, how far one count moves from the others of its side, and a ratio of single
    counts from the ratio of all three: what the rule's numbers rest on."""
    rows: list[list[object]] = []
    groups = {"deterministic": [p for p in pairs if p.benchmark not in cachegrind.NONDETERMINISTIC],
              "NONDETERMINISTIC": [p for p in pairs if p.benchmark in cachegrind.NONDETERMINISTIC]}
    for label, group in groups.items():
        if not group:
            continue
        spreads = [(compare.relative_spread(side), p) for p in group for side in (p.head, p.base)]
        single = [(max(abs(math.log(h / b) - math.log(statistics.fmean(p.head) / statistics.fmean(p.base)))
                       for h in p.head for b in p.base), p) for p in group]
        widest, at = max(spreads, key=lambda item: item[0])
        furthest, far = max(single, key=lambda item: item[0])
        rows.append([label, len(group), f"{statistics.median(s for s, _ in spreads):.1e}",
                     f"{widest:.1e} ({at.result}, {at.source})",
                     f"{furthest:.1e} ({far.result}, {far.label}, {far.source})"])
    return Table("determinism of the stored repetitions: spread (max - min) / mean of one side's 3 counts, and how "
                 "far the log ratio of two single counts is from that of the means",
                 ["benchmarks", "pairs", "median spread", "widest spread", "single counts' ratio, furthest"], rows)


# -- loops: does a shorter block still cancel startup? ---------------------------------------


def _loops(ctx: Context, section: SectionResult, benchmarks: str) -> None:
    engine, benches = open_session(ctx, ctx.settings(ref=BASE_REF, benchmarks=benchmarks,
                                                     metric=md.METRIC_INSTRUCTIONS, save="no"))
    assert engine.head is not None
    workers = len(cpus.usable_cpus(None))
    rows: list[list[object]] = []
    found: dict[str, dict[str, list[float]]] = {}
    deviations: dict[str, float] = {}
    for bench in benches:
        side = engine.side(BASE_REF, engine.head, bench)
        options = replace(engine.run_options(), env=engine.head.env)
        calibrated = cachegrind.counting_tasks(side.venv_python, bench, options)
        short = processes.calibrate(side.venv_python, bench, replace(options, affinity=None), {}, warmups=None,
                                    min_time=SHORT_MIN_TIME, environ=cachegrind.counting_environ(options))
        for task, quick in zip(calibrated, short, strict=True):
            blocks = sorted({task.loops, quick.loops, 1, *([2] if task.loops == 1 else [])}, reverse=True)
            per_block: dict[str, list[float]] = {}
            for loops in blocks:
                # At the calibrated L twice: the spread of one block with itself.
                repetitions = 2 if loops == task.loops else 1
                suites, _ = cachegrind.count_sides(bench, [side], options, [replace(task, loops=loops)],
                                                   repetitions=repetitions, workers=workers, log=ctx.engine_log)
                result = next(r for r in suites[BASE_REF].get_benchmarks() if r.get_name() == task.name)
                per_block[str(loops)] = list(result.get_values())
            reference = statistics.fmean(per_block[str(task.loops)])
            for loops in blocks:
                values = per_block[str(loops)]
                shift = statistics.fmean(values) / reference - 1
                if loops != task.loops:
                    deviations[f"{task.name} at {loops}"] = shift
                rows.append([task.name, loops, "calibrated" if loops == task.loops else
                             ("one loop" if loops == 1 else ("two loops" if loops == 2 else f"{SHORT_MIN_TIME} s")),
                             f"{values[0]:,.1f}", f"{shift:+.1e}" if loops != task.loops
                             else f"spread {compare.relative_spread(values):.1e}"])
            found[task.name] = per_block
            ctx.log(f"loops: {task.name} at {', '.join(map(str, blocks))}")
    section.tables.append(Table(f"loops: instructions per loop at the calibrated block "
                                f"({cachegrind.INSTRUCTION_MIN_TIME} s without valgrind), at {SHORT_MIN_TIME} s "
                                "and at one loop, on " + BASE_REF,
                                ["result", "loops (L)", "block", "instructions / loop", "against the calibrated L"],
                                rows))
    if deviations:
        worst = max(deviations, key=lambda k: abs(deviations[k]))
        section.goals.append(Goal("loops: a shorter block counts the same per loop (within 1e-5)",
                                  f"furthest {deviations[worst]:+.1e} ({worst})", abs(deviations[worst]) <= 1e-5))
    section.data.update(loops_benchmarks=benchmarks, loops_counts=found, loops_deviations=deviations)


# -- cost: the new counting against the time metric ---------------------------------------


def _cost(ctx: Context, section: SectionResult, benchmarks: str) -> None:
    settings = ctx.settings(ref=BASE_REF, benchmarks=benchmarks, metric=md.METRIC_INSTRUCTIONS, threshold=THRESHOLD,
                            save="no", parallel="auto")
    engine, benches = open_session(ctx, settings)
    refs = {ref: open_session(ctx, replace(settings, ref=ref))[0] for ref in (NEIGHBOUR_REF, TINY_REF)}
    assert engine.head is not None and all(e.head is not None for e in refs.values())
    # A cache of its own for the counting loops: the first calibration is timed, every later count reuses it.
    loops_cache = ctx.fresh_dir("loops")
    at_once = InstructionCounts(replace(settings, cache_dir=loops_cache), ctx.engine_log)
    in_turn = InstructionCounts(replace(settings, cache_dir=loops_cache, parallel="no"), ctx.engine_log)
    load_at_start = machine.load_average()
    # On a shared machine the load changes over the run: pyperformance runs before and after the counts
    # (their mean is the reference), and each benchmark's time run right before its counts.
    timer, _ = open_session(ctx, ctx.settings(ref=BASE_REF, benchmarks=benchmarks, mode="default", save="no"))
    assert timer.head is not None
    pyperformance_runs = [_pyperformance(ctx, benchmarks)]
    timed: dict[str, float] = {}
    seconds: dict[str, dict[str, float]] = {}
    cpu_seconds: dict[str, dict[str, float]] = {}  # the same, CPU time of the processes (wall time is shared)
    verdict_rows: list[list[object]] = []
    verdicts: dict[str, dict[str, str]] = {ref: {} for ref in refs}
    repetitions: dict[str, dict[str, int]] = {ref: {} for ref in refs}
    for bench in benches:
        base = engine.side(BASE_REF, engine.head, bench)
        heads = {ref: e.side(ref, e.head, bench) for ref, e in refs.items() if e.head is not None}
        options = replace(engine.run_options(), env=engine.head.env)
        venv = timer.venv_for(timer.head, bench)
        spent: dict[str, float] = {}
        cpu: dict[str, float] = {}
        started, used = time.monotonic(), _children_cpu()
        processes.run_benchmark(venv, bench, replace(timer.run_options(), env=timer.head.env))
        timed[bench.name] = time.monotonic() - started
        cpu["time metric"] = _children_cpu() - used
        started, used = time.monotonic(), _children_cpu()
        at_once.tasks(bench, base, options)
        spent["calibration"], cpu["calibration"] = time.monotonic() - started, _children_cpu() - used
        for label, measurement in (("one side in turn", in_turn), ("one side at once", at_once)):
            started, used = time.monotonic(), _children_cpu()
            measurement.measure_alone(bench, base, options)
            spent[label], cpu[label] = time.monotonic() - started, _children_cpu() - used
        for ref, head in heads.items():
            for label, measurement in ((f"{ref} at once", at_once), (f"{ref} in turn", in_turn)):
                if ref == TINY_REF and measurement is in_turn:
                    continue  # its extra counts are the same at once and in turn: timed once
                started, used = time.monotonic(), _children_cpu()
                done = measurement.measure(bench, [head, base], options, lambda _suites: False)
                spent[label], cpu[label] = time.monotonic() - started, _children_cpu() - used
                if measurement is not at_once:
                    continue
                for result in done.suites[ref].get_benchmarks():
                    rc = compare.compare_benchmarks(done.suites[BASE_REF].get_benchmark(result.get_name()), result,
                                                    threshold=THRESHOLD, paired=True)
                    reps = len(result.get_runs())
                    verdicts[ref][rc.name] = rc.verdict.name
                    repetitions[ref][rc.name] = reps
                    verdict_rows.append([ref, rc.name, reps, f"{rc.ratio:.5f}",
                                         f"{rc.estimate.low:.5f}-{rc.estimate.high:.5f}", rc.verdict.name])
        seconds[bench.name] = spent
        cpu_seconds[bench.name] = cpu
        ctx.log(f"cost: {bench.name}: " + ", ".join(f"{k} {v:.0f} s" for k, v in spent.items())
                + f"; time metric {timed.get(bench.name, 0):.0f} s")
    pyperformance_runs.append(_pyperformance(ctx, benchmarks))
    pyperformance = statistics.fmean(wall for wall, _cpu in pyperformance_runs)
    pyperformance_cpu = statistics.fmean(cpu for _wall, cpu in pyperformance_runs)
    columns = ["calibration", "one side in turn", "one side at once", f"{NEIGHBOUR_REF} in turn",
               f"{NEIGHBOUR_REF} at once", f"{TINY_REF} at once"]
    names = [b.name for b in benches if b.name in timed]
    rows: list[list[object]] = [[name, f"{timed[name]:.1f}", *(f"{seconds[name][c]:.1f}" for c in columns)]
                                for name in names]
    totals = {c: sum(seconds[n][c] for n in names) for c in columns}
    total_time = sum(timed[n] for n in names)
    rows.append(["total", f"{total_time:.1f}", *(f"{totals[c]:.1f}" for c in columns)])
    rows.append(["x time", "1.00", *(f"{totals[c] / total_time:.2f}" for c in columns)])
    rows.append([f"x pyperformance run ({' and '.join(f'{r:.0f}' for r, _ in pyperformance_runs)} s)",
                 f"{total_time / pyperformance:.2f}",
                 *(f"{totals[c] / pyperformance:.2f}" for c in columns)])
    section.tables.append(Table(
        f"cost (wall seconds) of the counting against one default-mode pyperf run of the time metric on one side; "
        f"calibration: the counting loops, the first time (then kept); A/B: head and {BASE_REF} both counted, "
        f"'at once': {len(cpus.usable_cpus(None))} counted processes at a time (one per CPU), 'in turn': one",
        ["benchmark", "time metric", *columns], rows))
    cpu_columns = ["time metric", *columns]
    cpu_totals = {c: sum(cpu_seconds[n][c] for n in names) for c in cpu_columns}
    cpu_rows: list[list[object]] = [[name, *(f"{cpu_seconds[name][c]:.1f}" for c in cpu_columns)] for name in names]
    cpu_rows.append(["total", *(f"{cpu_totals[c]:.1f}" for c in cpu_columns)])
    cpu_rows.append([f"x pyperformance run ({pyperformance_cpu:.0f} s)",
                     *(f"{cpu_totals[c] / pyperformance_cpu:.2f}" for c in cpu_columns)])
    section.tables.append(Table(
        "the same in CPU seconds of the processes (what the work costs, whatever else shares the machine): with a "
        "CPU per side free, an A/B gate at once takes about the CPU time of its slower side, half of its total",
        ["benchmark", *cpu_columns], cpu_rows))
    section.tables.append(Table(f"A/B gates at {THRESHOLD:.0%}, both sides counted at once",
                                ["head", "result", "repetitions", "ratio", "interval", "verdict"], verdict_rows))
    gate_seconds = totals[f"{NEIGHBOUR_REF} at once"]
    section.goals.append(Goal("cost: an A/B gate (both sides counted at once) at most 0.8x `pyperformance run` on "
                              "the head alone", f"{gate_seconds / pyperformance:.2f}x ({gate_seconds:.0f} s against "
                              f"{pyperformance:.0f} s); {gate_seconds / total_time:.2f}x its pyperf runs alone",
                              gate_seconds <= 0.8 * pyperformance))
    gate_cpu = cpu_totals[f"{NEIGHBOUR_REF} at once"]
    section.goals.append(Goal("cost in CPU time: an A/B gate's CPU on two free CPUs (half its total) at most 0.8x "
                              "`pyperformance run`'s", f"{gate_cpu / 2 / pyperformance_cpu:.2f}x ({gate_cpu:.0f} s "
                              f"of CPU, against {pyperformance_cpu:.0f} s)", None, "an estimate of a quiet machine"))
    section.goals.append(Goal("cost: one side", f"{totals['one side at once'] / total_time:.2f}x at once, "
                              f"{totals['one side in turn'] / total_time:.2f}x in turn (was 2.22x, 3 repetitions)",
                              None, "no target"))
    failed = {ref: sorted(n for n, v in found.items() if v == stats.Verdict.REGRESSION.name)
              for ref, found in verdicts.items()}
    section.goals.append(Goal(f"{NEIGHBOUR_REF} (A/A: same code) fails nothing at {THRESHOLD:.0%}",
                              f"{len(failed[NEIGHBOUR_REF])} failures in {len(verdicts[NEIGHBOUR_REF])}"
                              + (f" ({', '.join(failed[NEIGHBOUR_REF])})" if failed[NEIGHBOUR_REF] else ""),
                              not failed[NEIGHBOUR_REF]))
    if any(b.name == "deepcopy" for b in benches):
        must = {"deepcopy", "deepcopy_memo"}
        section.goals.append(Goal(f"{TINY_REF} fails deepcopy and deepcopy_memo at {THRESHOLD:.0%}, nothing outside "
                                  "deepcopy", ", ".join(failed[TINY_REF]) or "nothing",
                                  must <= set(failed[TINY_REF]) and all(n.startswith("deepcopy")
                                                                       for n in failed[TINY_REF])))
    section.data.update(cost_benchmarks=benchmarks, time_seconds=timed, pyperformance_seconds=pyperformance_runs,
                        cost_cpu_seconds=cpu_seconds,
                        cost_seconds=seconds, gate_verdicts=verdicts,
                        gate_repetitions=repetitions, workers=len(cpus.usable_cpus(None)),
                        load_average_at_start=load_at_start, load_average_at_end=machine.load_average())
    section.notes.append(f"cost: load average {load_at_start} at the start, {machine.load_average()} at the end "
                         f"(on {os.cpu_count()} CPUs: above that, the machine was shared)")


def main(argv: list[str] | None = None) -> int:
    """Some parts of the section, on their own (see the module's docstring)."""
    from benchmarks import run as bench_run  # the command line's machinery (imports this module)

    parser = argparse.ArgumentParser(description="Parts of the instructions section (see benchmarks/README.md).")
    parser.add_argument("--quick", action="store_true", help="the quick variant's benchmarks and heads")
    parser.add_argument("--full", action="store_true", help="the full variant's benchmarks and heads")
    parser.add_argument("--parts", default=",".join(SECTION_PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--benchmarks", default="",
                        help="the benchmarks of every part (default: the variant's A/A and heads lists)")
    parser.add_argument("--heads", default="", help="comma-separated refs (default: the variant's heads)")
    parser.add_argument("--replay", default="",
                        help="rule: comma-separated result files (default: every benchmarks/results/instructions*.json "
                             "with 3 repetitions per side)")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--verbose", "-v", action="store_true", help="show the engine's progress messages")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not parts or any(p not in PARTS for p in parts):
        parser.error(f"--parts: choose from {', '.join(PARTS)}")
    replayed = [Path(p) for p in args.replay.split(",") if p]
    plan = bench_run.PLANS["quick" if args.quick else "full" if args.full else "standard"]
    started = time.monotonic()
    if parts == ["rule"]:  # no valgrind, no build: the stored counts alone
        result = run_parts(Context(plan=plan, repo=Path(), cache_dir=Path(), work_dir=Path(), tmp=Path()),
                           parts, aa_list="", head_list="", head_refs=(), replay=replayed)
        return bench_run.finish_standalone(result, started, args.json, NAME, argv,
                                           {"variant": plan.name, "machine": bench_run.machine.details()})
    with bench_run.standalone_context(NAME, plan.name, verbose=args.verbose) as ctx:
        version = ctx.build(BASE_REF).version
        head_refs = tuple(h for h in args.heads.split(",") if h) or heads(ctx)
        result = run_parts(ctx, parts, aa_list=args.benchmarks or aa_benchmarks(ctx),
                           head_list=args.benchmarks or plan.instr_benchmarks, head_refs=head_refs, replay=replayed)
    return bench_run.finish_standalone(result, started, args.json, NAME, argv,
                                       {"variant": plan.name, "machine": bench_run.machine.details(version),
                                        "plan": plan.__dict__})


if __name__ == "__main__":
    sys.exit(main())
