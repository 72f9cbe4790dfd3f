"""Noise: what one interleaved A/A round is made of on this machine, and whether a robust interval
would decide sooner. Every process is kept (no early stop), so the shape of the noise is visible.

Head ``neutral`` against ``v3.13.5``, both built, a fixed number of rounds per benchmark (the
gate's own rounds: :meth:`Engine.measure` with a ``decided`` that never says yes). Per result:

* process CV per side, and within a process (its values): how far one process wanders;
* pair SD: the standard deviation of the rounds' log(head/base), what the gate's interval is made of;
  and the same from each process's fastest value instead of its mean (a slow value dropped);
* slow outliers: processes more than 10% slower than their side's median (host contention only
  ever slows a process down, so the tail is one-sided);
* order: the mean log-ratio of rounds where head ran first against those where it ran second
  (no interval: read it against the pair SD);
* half-widths, at the gate's check rounds (and round 8), of the gate's own paired interval
  (trimmed from 10 rounds) and of the Wilcoxon signed-rank interval (Hodges-Lehmann's) on the
  same rounds, both at the gate's per-check confidence for a budget of that many rounds. The
  signed-rank one has no interval below 8 rounds at 99% (2/2^n > 1%);
* the replay (:func:`replay`): the gate's whole sequential verdict, many times over, on
  measurements resampled from these rounds, with the t-interval, with the trimmed interval the
  gate uses (``--trim`` another), and with the trimmed one on processes of one value: how often
  each is left inconclusive in an A/A, errs at the threshold, catches 10%, passes a slowdown only
  a quarter of the rounds show (:data:`PARTIAL`), and how many rounds it runs.

2026-11-30's run explained why the whole-suite A/A ran out of budget, and its replay chose the
trimmed interval (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pytest_cpybench.measure import interleaved
from pytest_cpybench.options import Budget
from pytest_cpybench.session.model import HEAD
from pytest_cpybench.verdict import stats

from . import stopping_rule
from .common import Context, Goal, SectionResult, Table, budget_for, cv, open_session
from .plan import BASE_REF, NEIGHBOUR_REF

NAME = "noise"
TITLE = f"Noise: the rounds of an A/A ({NEIGHBOUR_REF} vs {BASE_REF}) kept whole"
BENCHMARKS = {"quick": "nbody,json_dumps", "standard": "argparse,nbody,json_dumps,2to3,async_generators"}
ROUNDS = {"quick": 10, "standard": 24}
# The signed-rank interval reaches 99% from 8 rounds: looked at there too, besides the gate's checks.
FIRST_SIGNED_RANK = 8
OUTLIER = 0.10  # a process this much slower than its side's median
# The replay: sequential measurements resampled from the kept rounds, per result and true ratio.
REPLAY_EXPERIMENTS = 200
REPLAY_RATIOS = (1.00, 1.05, 1.10)
# A slowdown only some processes show (a hash seed, a memory layout): 1.3x in a quarter of the
# rounds, about 7.5% on the mean. Trimming must not pass it.
PARTIAL = (1.3, 0.25)
REPLAY_SEED = 20261130
KEPT_VALUES = 3  # per process: pyperf's, of which the replay's one-value variants take the first

# Per result and side: each process's values, in the order the rounds ran.
Processes = list[list[float]]


@dataclass(frozen=True)
class Shape:
    """The noise of one result over its A/A rounds."""

    result: str
    rounds: int
    confidence: float  # of the gate's checks with a budget of ``rounds``
    head_cv: float
    base_cv: float
    within_cv: float  # median over processes of the CV of a process's values
    pair_sd: float  # of log(head/base) per round
    pair_sd_min: float  # the same with each process's fastest value instead of its mean
    outliers: int  # processes (of 2 x rounds) more than OUTLIER slower than their side's median
    slowest: float  # the slowest process against its side's median
    order: float  # mean log-ratio with head first minus with head second
    gate_half: dict[int, float]  # check round -> half-width of the gate's interval (as a ratio)
    wilcoxon_half: dict[int, float | None]  # the same of the Wilcoxon signed-rank interval


def shape_of(result: str, head: Processes, base: Processes) -> Shape:
    """``head`` and ``base`` in the order the rounds ran, round 0 with head first (the gate's order
    in turns: :func:`interleaved._batches`), judged as the gate would with a budget of their rounds."""
    rounds = min(len(head), len(base))
    budget = budget_for(rounds)
    checks = sorted({*interleaved.checks(budget), FIRST_SIGNED_RANK} & set(range(2, rounds + 1)))
    confidence = interleaved.check_confidence(stats.DEFAULT_CONFIDENCE, budget)
    head_means = [statistics.fmean(v) for v in head[:rounds]]
    base_means = [statistics.fmean(v) for v in base[:rounds]]
    logs = [math.log(h / b) for h, b in zip(head_means, base_means, strict=True)]
    relative = [m / statistics.median(means) for means in (head_means, base_means) for m in means]
    # Round 0 ran head first (the sides alternate: A B, B A, …).
    first, second = logs[0::2], logs[1::2]
    return Shape(
        result=result, rounds=rounds, confidence=confidence, head_cv=cv(head_means), base_cv=cv(base_means),
        within_cv=statistics.median(cv(v) for v in head[:rounds] + base[:rounds] if len(v) > 1),
        pair_sd=statistics.stdev(logs),
        pair_sd_min=statistics.stdev([math.log(min(h) / min(b)) for h, b in zip(head[:rounds], base[:rounds],
                                                                                  strict=True)]),
        outliers=sum(r > 1 + OUTLIER for r in relative), slowest=max(relative),
        order=statistics.fmean(first) - statistics.fmean(second) if second else 0.0,
        gate_half={n: _gate_half_width(base_means[:n], head_means[:n], confidence) for n in checks},
        wilcoxon_half={n: _half(wilcoxon_interval(logs[:n], confidence)) for n in checks})


def _gate_half_width(base_means: Sequence[float], head_means: Sequence[float], confidence: float) -> float:
    """Half the width of the gate's own interval (:func:`stats.paired_ratio_interval`) on these rounds."""
    estimate = stats.paired_ratio_interval(list(zip(base_means, head_means, strict=True)), confidence)
    return (estimate.high - estimate.low) / 2


def _half(interval: tuple[float, float] | None) -> float | None:
    """Half the width, as a ratio, of an interval of log(head/base)."""
    return None if interval is None else (math.exp(interval[1]) - math.exp(interval[0])) / 2


def wilcoxon_interval(logs: Sequence[float], confidence: float) -> tuple[float, float] | None:
    """The distribution-free interval of the median difference from the signed-rank test: the k-th
    smallest and largest Walsh average (a pair's mean), k from the statistic's exact null
    distribution; None when too few rounds reach ``confidence``."""
    n = len(logs)
    walsh = sorted((a + b) / 2 for i, a in enumerate(logs) for b in logs[i:])
    counts = [1]  # ways to reach each signed-rank sum with ranks 1..k
    for rank in range(1, n + 1):
        grown = [0] * (len(counts) + rank)
        for total, ways in enumerate(counts):
            grown[total] += ways
            grown[total + rank] += ways
        counts = grown
    tail = (1 - confidence) / 2 * 2 ** n
    cumulative, k = 0, 0
    while cumulative + counts[k] <= tail:  # P(T <= k) stays within the tail
        cumulative += counts[k]
        k += 1
    if k == 0:
        return None
    return walsh[k - 1], walsh[-k]


@dataclass(frozen=True)
class Variant:
    """One way of measuring that the replay judges: the interval, the process, the budget."""

    name: str
    trim: float  # 0: the t-interval
    first_value: bool  # processes of one value (each kept process's first) rather than three
    budget: int  # rounds

    def rule(self) -> stopping_rule.Rule:
        """The t-interval at Bonferroni's looks; a trimmed interval at the gate's (their joint error)."""
        if self.trim:
            return stopping_rule.gate_rule(self.budget, self.name, trim=self.trim)
        return stopping_rule.new_rule(self.budget, self.name, self.trim)


# One-value processes cost about 0.6 of three-value ones (round_cost): twice the rounds for a little more.
ONE_VALUE_BUDGET = 80


def replay_variants(trim: float = stats.PAIRED_TRIM) -> tuple[Variant, ...]:
    """The replay's columns: processes of three values with the t-interval and with the trimmed
    one (the gate, at its default budget), and processes of one value with the trimmed interval at
    that budget and at :data:`ONE_VALUE_BUDGET` (the gate's alternative, measured live in the
    full_suite section)."""
    gate = Budget().processes
    return (Variant("t", 0.0, False, gate), Variant("trimmed", trim, False, gate),
            Variant("trimmed, 1 value", trim, True, gate),
            Variant(f"trimmed, 1 value, {ONE_VALUE_BUDGET} rounds", trim, True, ONE_VALUE_BUDGET))


def replay(head: Processes, base: Processes, ratio: float, variant: Variant, experiments: int = REPLAY_EXPERIMENTS,
           *, share: float = 1.0, seed: str = "") -> stopping_rule.Tally:
    """The gate's sequential verdict on ``experiments`` measurements resampled from these rounds.

    Each simulated round is one of the kept rounds, drawn with replacement, its two processes
    swapped at random (in an A/A either side may be the slow one: the swap makes the noise
    symmetric, so the true ratio is exactly 1), the head then multiplied by ``ratio``. Unlike the
    stopping_rule section's independent draws from published process means, the rounds keep this
    machine's pairs whole, slow processes included. ``share``: the head is slowed by ``ratio`` only
    in that share of the rounds, at random (a change some processes show).
    """
    def process(values: list[float]) -> float:
        return values[0] if variant.first_value else statistics.fmean(values)

    pairs = [(process(b), process(h)) for b, h in zip(base, head, strict=True)]
    rule = variant.rule()
    # The same draws for every variant of one budget (common random numbers: their differences are theirs).
    rng = random.Random(f"{REPLAY_SEED}:{seed}:{ratio!r}:{share!r}:{variant.budget}")
    tally = stopping_rule.Tally()
    for _ in range(experiments):
        drawn = [pairs[rng.randrange(len(pairs))] for _ in range(variant.budget)]
        swapped = [(b, h) if rng.random() < 0.5 else (h, b) for b, h in drawn]
        rounds = [(b, h * ratio) if rng.random() < share else (b, h) for b, h in swapped]
        tally.add(*stopping_rule.sequential_verdict(rule, rounds))
    return tally


def replay_table(kept: dict[str, dict[str, dict[str, Processes]]], experiments: int,
                 trim: float = stats.PAIRED_TRIM) -> tuple[Table, dict[str, float]]:
    """Per result: inconclusive at 1.00, wrong failures at the threshold, 10% slowdowns caught,
    mean rounds, and how often a slowdown of some processes (:data:`PARTIAL`) passes, for each of
    :func:`replay_variants`; and the means over the results (keys like ``"trimmed inconclusive"``,
    ``"t rounds"``)."""
    variants = replay_variants(trim)
    rows: list[list[object]] = []
    cells: dict[str, list[float]] = {}
    for bench, results in kept.items():
        for result, sides in results.items():
            label = f"{bench}:{result}"
            row: list[object] = [label]
            for variant in variants:
                unchanged, at_threshold, slower = (
                    replay(sides["head"], sides["base"], ratio, variant, experiments, seed=label)
                    for ratio in REPLAY_RATIOS)
                partial = replay(sides["head"], sides["base"], PARTIAL[0], variant, experiments, share=PARTIAL[1],
                                 seed=label)
                figures = {"inconclusive": unchanged.rate(unchanged.inconclusive),
                           "rounds": unchanged.mean_rounds,
                           "wrong": at_threshold.p_regression,
                           "caught": slower.p_regression,
                           "partial passed": partial.rate(partial.passed)}
                for key, value in figures.items():
                    cells.setdefault(f"{variant.name} {key}", []).append(value)
                row.append(f"{figures['inconclusive']:.1%} / {figures['rounds']:.1f} / "
                           f"{figures['wrong']:.1%} / {figures['caught']:.0%} / {figures['partial passed']:.1%}")
            rows.append(row)
    means = {key: statistics.fmean(values) for key, values in cells.items()}
    table = Table(
        f"replay: {experiments} gate measurements per result resampled from its rounds (pairs swapped at random); "
        "P(inconclusive) and mean rounds at r = 1.00 / P(REGRESSION) at 1.05 / caught at 1.10 / "
        f"passed when {PARTIAL[1]:.0%} of the rounds are {PARTIAL[0]}x slower",
        ["result", *(f"{v.name} ({'1 value' if v.first_value else '3 values'}, {v.budget} rounds, "
                     f"trim {v.trim:.0%})" for v in variants)], rows)
    return table, means


def measure(ctx: Context, benchmarks: str, rounds: int) -> dict[str, dict[str, dict[str, Processes]]]:
    """``rounds`` rounds of each benchmark, every process kept: result -> side -> values per process."""
    settings = ctx.settings(ref=NEIGHBOUR_REF, baselines=(BASE_REF,), mode="default", benchmarks=benchmarks,
                            results_dir=ctx.fresh_dir("noise"), save="no",
                            # Three values per process, so the replay can judge processes of three and of one.
                            budget=replace(budget_for(rounds), values=KEPT_VALUES),
                            parallel="no")  # in turns: the order effect means head first or second
    engine, benches = open_session(ctx, settings)
    assert engine.head is not None
    (baseline,) = engine.baselines
    assert baseline.target is not None
    kept: dict[str, dict[str, dict[str, Processes]]] = {}
    for bench in benches:
        started = time.monotonic()
        sides = [engine.side(HEAD, engine.head, bench), engine.side(BASE_REF, baseline.target, bench)]
        suites = engine.measure(bench, sides, engine.run_options(), lambda _suites: False).suites
        for label, suite in suites.items():
            for result in suite.get_benchmarks():
                processes = [list(run.values) for run in result.get_runs() if run.values]
                kept.setdefault(bench.name, {}).setdefault(result.get_name(), {})[
                    "head" if label == HEAD else "base"] = processes
        ctx.log(f"{NAME}: {bench.name}: {rounds} rounds in {time.monotonic() - started:.0f} s")
    return kept


def summarize(kept: dict[str, dict[str, dict[str, Processes]]], trim: float = stats.PAIRED_TRIM) -> SectionResult:
    """The tables and goals of these kept rounds; ``trim``: the replay's trimmed interval (the gate's by default)."""
    section = SectionResult(NAME, TITLE, data={"processes": kept})
    shapes = [shape_of(f"{bench}:{result}", sides["head"], sides["base"])
              for bench, results in kept.items() for result, sides in results.items()]
    section.tables.append(Table(
        "per result: process CV by side and within a process, the rounds' pair SD, slow outliers (> 10% "
        "over the side's median), the order effect",
        ["result", "rounds", "head CV", "base CV", "within CV", "pair SD", "pair SD (min)", "outliers", "slowest",
         "order"],
        [[s.result, s.rounds, f"{s.head_cv:.1%}", f"{s.base_cv:.1%}", f"{s.within_cv:.1%}", f"{s.pair_sd:.1%}",
          f"{s.pair_sd_min:.1%}", f"{s.outliers}/{2 * s.rounds}", f"{s.slowest:.2f}x", f"{s.order:+.1%}"]
         for s in shapes]))
    checks = sorted({n for s in shapes for n in s.gate_half})
    confidences = sorted({f"{s.confidence:.2%}" for s in shapes})
    section.tables.append(Table(
        f"half-width of the interval after n rounds at the gate's confidence ({', '.join(confidences)}): "
        "the gate's paired interval / Wilcoxon signed-rank",
        ["result", *(f"n={n}" for n in checks)],
        [[s.result, *(_pair(s.gate_half.get(n), s.wilcoxon_half.get(n)) for n in checks)] for s in shapes]))
    widths = [(s.gate_half[n], w) for s in shapes for n in checks
              if n >= 20 and n in s.gate_half and (w := s.wilcoxon_half.get(n)) is not None]
    if widths:
        median_ratio = statistics.median(w / t for t, w in widths)
        section.goals.append(Goal("Wilcoxon / gate interval half-width from round 20 (median)",
                                  f"{median_ratio:.2f}", None,
                                  "report only: below 1 means the signed-rank interval would decide sooner "
                                  "than the gate's"))
    if shapes:
        table, means = replay_table(kept, REPLAY_EXPERIMENTS, trim)
        section.tables.append(table)
        one_value = f"trimmed, 1 value, {ONE_VALUE_BUDGET} rounds"
        section.goals.append(Goal(
            "replay, trimmed interval: P(INCONCLUSIVE) at r = 1.00 <= 5% (t-interval: "
            f"{means['t inconclusive']:.1%}, {means['t rounds']:.1f} rounds)",
            f"{means['trimmed inconclusive']:.1%}, {means['trimmed rounds']:.1f} rounds",
            means["trimmed inconclusive"] <= 0.05))
        section.goals.append(Goal(
            f"replay, trimmed interval: P(REGRESSION) at r = 1.05 <= {stopping_rule.PROMISED_ERROR:.1%} "
            f"(t-interval: {means['t wrong']:.1%})", f"{means['trimmed wrong']:.1%}",
            means["trimmed wrong"] <= stopping_rule.PROMISED_ERROR))
        section.goals.append(Goal(
            f"replay, trimmed interval: a slowdown of {PARTIAL[1]:.0%} of the rounds by {PARTIAL[0]}x passes <= "
            f"{stopping_rule.PROMISED_ERROR:.1%} (t-interval: {means['t partial passed']:.1%})",
            f"{means['trimmed partial passed']:.1%}", means["trimmed partial passed"] <= stopping_rule.PROMISED_ERROR))
        section.goals.append(Goal(
            "replay, trimmed interval on processes of one value (their first), 40 / 80 rounds: P(INCONCLUSIVE) "
            "and rounds at r = 1.00 (such a round costs about 0.6 of a three-value one: round_cost)",
            f"{means['trimmed, 1 value inconclusive']:.1%}, {means['trimmed, 1 value rounds']:.1f} rounds / "
            f"{means[one_value + ' inconclusive']:.1%}, {means[one_value + ' rounds']:.1f} rounds", None,
            "report only: live, on 18 benchmarks the same day, one-value processes cost the same to a verdict "
            "(full_suite)"))
    typical = statistics.median(s.pair_sd for s in shapes) if shapes else math.nan
    section.goals.append(Goal("median pair SD (the issue assumed process CV ~2.5%, pair SD ~3.5%)",
                              f"{typical:.1%}", None, "report only"))
    return section


def _pair(gate_half: float | None, wilcoxon_half: float | None) -> str:
    if gate_half is None:
        return "-"
    return f"±{gate_half:.1%} / " + ("-" if wilcoxon_half is None else f"±{wilcoxon_half:.1%}")


def run(ctx: Context) -> SectionResult:
    variant = ctx.plan.name if ctx.plan.name in BENCHMARKS else "standard"
    return summarize(measure(ctx, BENCHMARKS[variant], ROUNDS[variant]))


def main(argv: list[str] | None = None) -> int:
    """The section on its own, or its tables again from a results file (``--from``)."""
    import json

    from benchmarks import run as bench_run

    parser = argparse.ArgumentParser(description="The noise section (see benchmarks/README.md).")
    parser.add_argument("--benchmarks", default=BENCHMARKS["standard"])
    parser.add_argument("--rounds", type=int, default=ROUNDS["standard"])
    parser.add_argument("--from", dest="source", type=Path, help="a results file of this section: summarize it")
    parser.add_argument("--trim", type=float, default=stats.PAIRED_TRIM,
                        help=f"the replay's trim, the share of rounds cut at each end (default: the gate's, "
                             f"{stats.PAIRED_TRIM})")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    args = parser.parse_args(argv)
    if args.rounds < 2:
        parser.error("--rounds: give at least 2")
    if not 0 <= args.trim < 0.5:
        parser.error("--trim: give a share from 0 to below 0.5, e.g. 0.2")
    started = time.monotonic()
    if args.source:
        document = json.loads(args.source.read_text())
        kept, machine_details = document["sections"][NAME]["data"]["processes"], document["machine"]
    else:
        with bench_run.standalone_context(NAME) as ctx:
            machine_details = bench_run.machine.details(ctx.build(BASE_REF).version)
            kept = measure(ctx, args.benchmarks, args.rounds)
    return bench_run.finish_standalone(summarize(kept, args.trim), started, args.json, NAME, argv,
                                       {"machine": machine_details})


if __name__ == "__main__":
    sys.exit(main())
