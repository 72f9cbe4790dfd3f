"""Optional stopping: how often each stopping rule of the interleaved measurement errs, and how
many rounds it takes, simulated on real process means (no builds; well under a minute).

The gate measures base and head in rounds of one worker process each and computes a paired
interval of head/base over the process means. The rules differ in when they look and how:

* old: look at the 95% t-interval after every round from ``MIN_ROUNDS`` on, stop at the first
  clear verdict. Every look is another chance to stop on noise (optional stopping), so the
  promised error is not the error made;
* new: look only at ``looks.check_rounds(MIN_ROUNDS, budget)`` (5, 7, 10, 14, 20, 28, 40 for the
  default budget of 40), each look, the final one included, at ``looks.bonferroni_confidence(0.95,
  looks)`` (99.29% for 7 looks), with the t-interval;
* bonferroni: the new looks with the interval the gate computes, trimmed from 10 rounds on
  (``stats.PAIRED_TRIM`` of the rounds cut at each end, Yuen's interval), so that a few processes
  slowed down by another job do not decide: the gate's rule until the looks' joint error was computed;
* robust, the gate's rule: the same looks and interval, each look at ``looks.look_confidence`` (the
  level at which the looks together err 5% on simulated normal rounds: 98.96% for 7 looks);
  robust20 is the same with a budget of 20 rounds (pyperf's own processes per benchmark). Its
  difference from robust is what a smaller budget costs: verdicts left inconclusive near the
  threshold.

Each simulated experiment takes one result of the faster-cpython seed files (tests/data/seed,
20 worker processes per result) and a true ratio r: every round draws one base and one head
process mean from that result's process means, independently and with replacement, the head
multiplied by r. All rules see the same sequence of pairs (common random numbers), so their
difference is the rule's, not the draw's. There is no drift in this model, so pairing neither
helps nor hurts: what is measured is the price of looking often.

Reading the table against the 5% threshold: at r = 1.00 and 1.03 a REGRESSION is a false
failure; at r = 1.05 (exactly the threshold) too, and a 95% interval promises it at most 2.5% of
the time (its one-sided error); at r = 1.07 and 1.10 a pass is a missed regression.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_cpybench.measure.interleaved import MIN_ROUNDS
from pytest_cpybench.measure.processes import MODE_PROCESSES
from pytest_cpybench.options import Budget
from pytest_cpybench.verdict import looks, stats

from .common import SEED_DIR, Context, Goal, SectionResult, Table, seed_results
from .plan import THRESHOLD

NAME = "stopping_rule"
TITLE = "Stopping rule: errors and rounds of checking every round vs a few looks, Bonferroni's or at their joint error"

SEED = 20240611
RATIOS = (1.00, 1.03, 1.05, 1.07, 1.10)
BUDGET = Budget().processes  # the plugin's default budget: 40 rounds
# A small budget, pyperf's 20 processes (--cpython-budget=auto before its time cap): what it costs near the threshold.
SHORT_BUDGET = MODE_PROCESSES["default"]
MIN_PROCESSES = 10  # results with fewer process means say little about their distribution
# Experiments per result and ratio, by variant. Every result rather than more experiments on fewer:
# how often a rule errs can depend on the result's distribution (its tails, its skew), and the section
# reports the average over the suite. The standard variant takes about 30 s on one core, nearly all of
# it at r = 1.05, where the old rule looks up to 36 times (statistics.stdev computes in fractions).
EXPERIMENTS = {"quick": 10, "standard": 40, "full": 200}
# The error a 95% interval promises for "regression" when the true ratio is at the threshold.
PROMISED_ERROR = (1 - stats.DEFAULT_CONFIDENCE) / 2
V = stats.Verdict
DEFAULT_RULE = "robust"  # the rule of default_rules() the gate uses by default


@dataclass(frozen=True)
class Rule:
    """When a sequential measurement looks at its interval, and at what confidence."""

    name: str
    checks: tuple[int, ...]  # rounds after which the verdict is looked at; the last is the budget
    confidence: float  # of every look, the final one included
    trim: float = 0.0  # of the rounds cut at each end (stats.paired_ratio_interval); 0: the t-interval
    # Rounds cut short here whatever the data (as the cost cap does), the last look at the error the
    # looks not made left (looks.final_look_confidence); None: never cut.
    cut_at: int | None = None

    def last_look_confidence(self) -> float:
        """The confidence of the look after rounds cut short at ``cut_at``: the error the looks not
        made left over (looks.final_look_confidence)."""
        assert self.cut_at is not None
        return looks.final_look_confidence(stats.DEFAULT_CONFIDENCE, self.checks, self.cut_at, cut_short=True,
                                           trim=self.trim)


def old_rule(budget: int = BUDGET) -> Rule:
    return Rule("old", tuple(range(MIN_ROUNDS, budget + 1)), stats.DEFAULT_CONFIDENCE)


def new_rule(budget: int = BUDGET, name: str = "new", trim: float = 0.0) -> Rule:
    checks = looks.check_rounds(MIN_ROUNDS, budget)
    return Rule(name, checks, looks.bonferroni_confidence(stats.DEFAULT_CONFIDENCE, len(checks)), trim)


def gate_rule(budget: int = BUDGET, name: str = "robust", cut_at: int | None = None,
              trim: float = stats.PAIRED_TRIM) -> Rule:
    """The gate's rule: the looks of ``budget`` at their joint confidence, the trimmed interval."""
    checks = looks.check_rounds(MIN_ROUNDS, budget)
    return Rule(name, checks, looks.look_confidence(stats.DEFAULT_CONFIDENCE, checks, trim), trim, cut_at)


def capped_rule(cut_at: int, budget: int = BUDGET) -> Rule:
    """The gate's rule with its rounds cut short at ``cut_at`` by something that reads no ratio (the
    cost cap of --cpython-budget=auto)."""
    return gate_rule(budget, f"robust cut at {cut_at}", cut_at)


def default_rules() -> tuple[Rule, ...]:
    """old and new (the t-interval at every round, then at Bonferroni looks), bonferroni (the same
    looks with the trimmed interval), and the gate's rule: the same looks at their joint confidence,
    at the default budget and at a budget of 20."""
    return (old_rule(), new_rule(),
            new_rule(name="bonferroni", trim=stats.PAIRED_TRIM),
            gate_rule(),
            gate_rule(SHORT_BUDGET, "robust20"))


@dataclass(frozen=True)
class Sample:
    """One result's process means, as measured in one seed file."""

    label: str  # "<python version>:<result name>"
    means: tuple[float, ...]


@dataclass
class Tally:
    """What one rule concluded over many experiments of one true ratio."""

    regression: int = 0
    inconclusive: int = 0
    passed: int = 0  # any verdict other than REGRESSION and INCONCLUSIVE
    rounds: list[int] = field(default_factory=list)

    @property
    def experiments(self) -> int:
        return len(self.rounds)

    def add(self, verdict: stats.Verdict, rounds: int) -> None:
        if verdict is V.REGRESSION:
            self.regression += 1
        elif verdict is V.INCONCLUSIVE:
            self.inconclusive += 1
        else:
            self.passed += 1
        self.rounds.append(rounds)

    def merge(self, other: Tally) -> None:
        self.regression += other.regression
        self.inconclusive += other.inconclusive
        self.passed += other.passed
        self.rounds.extend(other.rounds)

    def rate(self, count: int) -> float:
        return count / self.experiments if self.experiments else math.nan

    @property
    def p_regression(self) -> float:
        return self.rate(self.regression)

    @property
    def mean_rounds(self) -> float:
        return sum(self.rounds) / self.experiments if self.experiments else math.nan

    @property
    def p95_rounds(self) -> int:
        """Nearest rank: a number of rounds some experiment actually ran."""
        ordered = sorted(self.rounds)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] if ordered else 0

    def summary(self) -> dict[str, float | int]:
        return {"experiments": self.experiments, "p_regression": self.p_regression,
                "p_inconclusive": self.rate(self.inconclusive), "p_pass": self.rate(self.passed),
                "mean_rounds": self.mean_rounds, "p95_rounds": self.p95_rounds}


# -- the simulation ---------------------------------------------------------------------


def load_samples(seed_dir: Path = SEED_DIR, min_processes: int = MIN_PROCESSES) -> list[Sample]:
    """Every result of every seed file with at least ``min_processes`` process means."""
    samples = []
    for label, bench in seed_results(seed_dir):
        means = stats.process_means(bench)
        if len(means) >= min_processes:
            samples.append(Sample(label, tuple(means)))
    return samples


def draw_pairs(means: Sequence[float], ratio: float, rounds: int, rng: random.Random) -> list[tuple[float, float]]:
    """The ``(base, head)`` process means of ``rounds`` rounds with a true head/base of ``ratio``."""
    return [(rng.choice(means), rng.choice(means) * ratio) for _ in range(rounds)]


def sequential_verdict(rule: Rule, pairs: Sequence[tuple[float, float]],
                       threshold: float = THRESHOLD) -> tuple[stats.Verdict, int]:
    """The verdict ``rule`` reaches on the rounds ``pairs`` (at least its budget), and the rounds it ran.

    It stops at the first look that is clear; at the budget the verdict stands, inconclusive or not.
    """
    verdict = V.INCONCLUSIVE
    for rounds in rule.checks:
        if rule.cut_at is not None and rounds > rule.cut_at:
            break
        verdict = stats.verdict(stats.paired_ratio_interval(pairs[:rounds], rule.confidence, trim=rule.trim), threshold)
        if verdict is not V.INCONCLUSIVE:
            return verdict, rounds
    if rule.cut_at is None or rule.cut_at in rule.checks:
        return verdict, min(rule.checks[-1], rule.cut_at or rule.checks[-1])
    estimate = stats.paired_ratio_interval(pairs[:rule.cut_at], rule.last_look_confidence(), trim=rule.trim)
    return stats.verdict(estimate, threshold), rule.cut_at


def simulate(sample: Sample, ratio: float, rules: Sequence[Rule], experiments: int, *,
             seed: int = SEED, threshold: float = THRESHOLD) -> dict[str, Tally]:
    """``experiments`` sequential measurements of ``sample`` at ``ratio``, each judged by every rule.

    The generator is seeded per sample and ratio, so any one cell reproduces on its own (a test
    can rerun the section's numbers for one result without the others).
    """
    rng = random.Random(f"{seed}:{sample.label}:{ratio!r}")
    budget = max(rule.checks[-1] for rule in rules)
    tallies = {rule.name: Tally() for rule in rules}
    with _cached_t_quantile():
        for _ in range(experiments):
            pairs = draw_pairs(sample.means, ratio, budget, rng)
            for rule in rules:
                tallies[rule.name].add(*sequential_verdict(rule, pairs, threshold))
    return tallies


@contextlib.contextmanager
def _cached_t_quantile() -> Iterator[None]:
    """``stats.t_quantile`` memoised for the duration: it bisects on every call, and the simulation
    asks for the same few (confidence, degrees of freedom) hundreds of thousands of times. The values
    are identical, so the intervals are exactly the engine's; it saves about half of an uncached call."""
    original = stats.t_quantile
    stats.t_quantile = functools.lru_cache(maxsize=None)(original)
    try:
        yield
    finally:
        stats.t_quantile = original


# -- the section ------------------------------------------------------------------------


def run(ctx: Context) -> SectionResult:
    return evaluate(EXPERIMENTS.get(ctx.plan.name, EXPERIMENTS["standard"]), ctx.log)


def evaluate(experiments: int, log: Callable[[str], None]) -> SectionResult:
    result = SectionResult(NAME, TITLE)
    samples = load_samples()
    rules = default_rules()
    log(f"{NAME}: {len(samples)} results x {len(RATIOS)} ratios x {experiments} experiments, "
        f"rules {', '.join(r.name for r in rules)}")
    totals = {(rule.name, ratio): Tally() for rule in rules for ratio in RATIOS}
    # REGRESSION verdicts by rule, ratio and result: where the errors come from.
    per_result: dict[str, dict[str, dict[str, int]]] = {rule.name: {} for rule in rules}
    started = time.monotonic()
    for ratio in RATIOS:
        for sample in samples:
            for name, tally in simulate(sample, ratio, rules, experiments).items():
                totals[name, ratio].merge(tally)
                per_result[name].setdefault(f"{ratio:.2f}", {})[sample.label] = tally.regression
        log(f"{NAME}: r = {ratio:.2f} done ({time.monotonic() - started:.0f} s)")
    result.tables.append(_table(rules, totals, len(samples), experiments))
    result.goals.extend(_goals(totals))
    result.notes.extend(_notes(rules, per_result, experiments))
    result.data = {
        "seed": SEED, "threshold": THRESHOLD, "budget": BUDGET, "short_budget": SHORT_BUDGET, "min_rounds": MIN_ROUNDS,
        "experiments_per_result_and_ratio": experiments, "results": len(samples),
        "rules": {rule.name: {"checks": list(rule.checks), "confidence": rule.confidence, "trim": rule.trim}
                  for rule in rules},
        "cells": {rule.name: {f"{ratio:.2f}": totals[rule.name, ratio].summary() for ratio in RATIOS}
                  for rule in rules},
        "regressions_per_result": per_result,
    }
    return result


def _table(rules: Sequence[Rule], totals: dict[tuple[str, float], Tally], results: int, experiments: int) -> Table:
    rows: list[list[object]] = []
    for rule in rules:
        for ratio in RATIOS:
            tally = totals[rule.name, ratio]
            rows.append([rule.name, f"{ratio:.2f}", _percent(tally.p_regression),
                         _percent(tally.rate(tally.inconclusive)), _percent(tally.rate(tally.passed)),
                         f"{tally.mean_rounds:.1f}", str(tally.p95_rounds)])
    describe = {rule.name: f"{len(rule.checks)} looks to round {rule.checks[-1]} at {rule.confidence:.2%}"
                for rule in rules}
    return Table(f"{results} seed results x {experiments} simulated measurements per true ratio, threshold "
                 f"{THRESHOLD:.0%}; " + ", ".join(f"{k}: {v}" for k, v in describe.items()),
                 ["rule", "true ratio", "P(REGRESSION)", "P(INCONCLUSIVE)", "P(pass)", "mean rounds",
                  "p95 rounds"], rows)


def _goals(totals: dict[tuple[str, float], Tally]) -> list[Goal]:
    gate = DEFAULT_RULE  # what the gate does by default
    at_threshold = totals[gate, 1.05].p_regression
    unchanged = totals[gate, 1.00]
    old_at_threshold = totals["old", 1.05].p_regression
    return [
        Goal(f"{gate} rule: P(REGRESSION) at r = 1.05 <= {PROMISED_ERROR:.1%} (what a 95% interval promises)",
             _percent(at_threshold), at_threshold <= PROMISED_ERROR),
        Goal(f"{gate} rule: no REGRESSION at r = 1.00", f"{unchanged.regression}/{unchanged.experiments}",
             unchanged.regression == 0),
        Goal(f"{gate} rule: P(INCONCLUSIVE) at r = 1.00 <= 5% (issue 11's A/A target)",
             _percent(unchanged.rate(unchanged.inconclusive)), unchanged.rate(unchanged.inconclusive) <= 0.05),
        # Reported, not required: what trimming and a budget of 20 rounds change for a 7% slowdown.
        Goal(f"{gate} rule: P(REGRESSION) at r = 1.07 (new: {_percent(totals['new', 1.07].p_regression)}, "
             f"bonferroni: {_percent(totals['bonferroni', 1.07].p_regression)}, "
             f"robust20, budget {SHORT_BUDGET}: {_percent(totals['robust20', 1.07].p_regression)})",
             _percent(totals[gate, 1.07].p_regression), None, "report only"),
        # Reported, not required: what the looks' joint error buys over Bonferroni's split.
        Goal(f"{gate} rule: mean rounds at r = 1.00 / 1.03 / 1.07 (bonferroni: "
             + " / ".join(f"{totals['bonferroni', r].mean_rounds:.1f}" for r in (1.00, 1.03, 1.07)) + ")",
             " / ".join(f"{totals[gate, r].mean_rounds:.1f}" for r in (1.00, 1.03, 1.07)), None, "report only"),
        # Reported, not required: what the old rule did, the reason for the looks.
        Goal(f"old rule: P(REGRESSION) at r = 1.05 (above {PROMISED_ERROR:.1%}: optional stopping broke the promise)",
             _percent(old_at_threshold), None,
             "report only: " + ("exceeds the promise" if old_at_threshold > PROMISED_ERROR else "within the promise")),
    ]


def _notes(rules: Sequence[Rule], per_result: dict[str, dict[str, dict[str, int]]], experiments: int) -> list[str]:
    """Whether the errors at the threshold are spread over the suite or come from a few results
    (heavy tails make the t-interval's promise approximate, whatever the stopping rule)."""
    notes = []
    for rule in rules:
        counts = per_result[rule.name]["1.05"]
        worst = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:3]
        clean = sum(1 for count in counts.values() if count == 0)
        notes.append(f"{rule.name} rule at r = 1.05: {clean}/{len(counts)} results with no REGRESSION in "
                     f"{experiments}; most: " + ", ".join(f"{label} {count}/{experiments}" for label, count in worst))
    return notes


def _percent(rate: float) -> str:
    return f"{rate:.1%}"


def main(argv: list[str] | None = None) -> int:
    """The section on its own: no builds, no CPython repository."""
    from benchmarks import run as bench_run  # the command line's machinery (imports this module)

    parser = argparse.ArgumentParser(description="The stopping_rule section (see benchmarks/README.md).")
    parser.add_argument("--experiments", type=int, default=EXPERIMENTS["standard"],
                        help="simulated measurements per result and true ratio")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    args = parser.parse_args(argv)
    if args.experiments < 1:
        parser.error("--experiments: give at least 1")
    started = time.monotonic()
    result = evaluate(args.experiments, lambda message: print(f"[bench] {message}", file=sys.stderr, flush=True))
    return bench_run.finish_standalone(result, started, args.json, NAME, argv)


if __name__ == "__main__":
    sys.exit(main())
