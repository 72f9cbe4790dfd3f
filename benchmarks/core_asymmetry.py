"""Core asymmetry: with the sides at once, does one core run slower than the other, and would an
interval that allows for it decide sooner?

Head ``neutral`` against ``v3.13.5``, both built, default mode, the sides at once (each on a core of
its own, swapping cores every round, as the gate measures them), a fixed number of rounds per
benchmark with no early stop and no cost cap. Per result, from the rounds' log-ratios in order:

* the **core effect**: half the difference between the mean log-ratio of the rounds with the head on
  the first core and of those with it on the second (a slower first core makes it positive); the
  swapping cancels it from the mean, but it widens the interval;
* the **lag-1 autocorrelation** of the log-ratios: a core effect alternates with the swap, so it
  makes neighbouring rounds anticorrelated;
* the half-width of the gate's interval (Yuen's 10% trimmed interval from 10 rounds, at the
  confidence of a look of the default grid) against the same interval on the log-ratios with the core
  effect taken out (one degree of freedom fewer), after 10, 14 and the fixed rounds.
"""

from __future__ import annotations

import itertools
import math
import statistics
import sys
from collections.abc import Sequence

from pytest_cpybench.measure import interleaved
from pytest_cpybench.options import Budget
from pytest_cpybench.session.model import HEAD
from pytest_cpybench.verdict import looks, stats

from .common import Context, Goal, SectionResult, Table, open_session, variant_benchmarks
from .plan import BASE_REF, NEIGHBOUR_REF

NAME = "core_asymmetry"
TITLE = "Core asymmetry: the sides at once, fixed rounds; the core each side ran on, and the interval"
# The full_suite section's spread subset without its three slowest (bpe_tokeniser, networkx_k_core, pprint).
BENCHMARKS = {"quick": "json_dumps,nbody",
              "standard": "concurrent_imap,deepcopy,dulwich_log,gc_collect,go,json_loads,meteor_contest,pickle_dict,"
                          "raytrace,regex_v8,spectral_norm,sqlglot_v2,sqlite_synth,tornado_http,unpickle_list"}
ROUNDS = {"quick": 10, "standard": 18}
LOOKS = (10, 14)  # the looks of the default grid at which the trimmed interval applies, then the last
CONFIDENCE = 0.95


def measure(ctx: Context, benchmarks: str, rounds: int) -> dict[str, list[float]]:
    """The log-ratios (head / base, round by round, in order) of every result."""
    settings = ctx.settings(ref=NEIGHBOUR_REF, baselines=(BASE_REF,), mode="default", benchmarks=benchmarks,
                            results_dir=ctx.fresh_dir(NAME), save="no", parallel="yes",
                            budget=Budget(processes=rounds))
    engine, benches = open_session(ctx, settings)
    assert engine.head is not None
    (baseline,) = engine.baselines
    assert baseline.target is not None
    logs: dict[str, list[float]] = {}
    for bench in benches:
        sides = [engine.side(HEAD, engine.head, bench), engine.side(baseline.label, baseline.target, bench)]
        done = engine.measure(bench, sides, engine.run_options(), lambda _suites: False)
        for result in done.suites[HEAD].get_benchmarks():
            pairs = zip(stats.process_means(done.suites[baseline.label].get_benchmark(result.get_name())),
                        stats.process_means(result), strict=True)
            logs[result.get_name()] = [round(math.log(h / b), 7) for b, h in pairs]
        ctx.log(f"{NAME}: {bench.name}: {done.rounds} rounds")
    return logs


def core_effect(logs: Sequence[float]) -> float:
    """Half the difference of the mean log-ratio with the head on the first core (even rounds) and on
    the second (odd rounds)."""
    return (statistics.fmean(logs[0::2]) - statistics.fmean(logs[1::2])) / 2


def without_core_effect(logs: Sequence[float]) -> list[float]:
    effect = core_effect(logs)
    return [value - effect if index % 2 == 0 else value + effect for index, value in enumerate(logs)]


def lag1_autocorrelation(logs: Sequence[float]) -> float:
    mean = statistics.fmean(logs)
    spread = math.fsum((value - mean) ** 2 for value in logs)
    return math.fsum((a - mean) * (b - mean) for a, b in itertools.pairwise(logs)) / spread if spread else 0.0


def half_width(logs: Sequence[float], confidence: float, fitted: int = 0) -> float:
    """The half-width (in log-ratio) of the gate's paired interval on ``logs``: Yuen's trimmed one from
    stats.TRIM_FROM_ROUNDS rounds, the t-interval before; ``fitted`` more parameters taken out of the
    degrees of freedom."""
    if stats.trimmed_count(len(logs), stats.PAIRED_TRIM):
        _, standard_error, dof = stats.trimmed_mean(logs, stats.PAIRED_TRIM)
    else:
        standard_error, dof = statistics.stdev(logs) / math.sqrt(len(logs)), len(logs) - 1
    return stats.t_quantile(confidence, dof - fitted) * standard_error


def summarize(logs: dict[str, list[float]]) -> SectionResult:
    section = SectionResult(NAME, TITLE, data={"log_ratios": logs})
    if not logs:
        return section
    rounds = min(len(series) for series in logs.values())
    at = [n for n in LOOKS if n < rounds] + [rounds]
    confidence = looks.look_confidence(CONFIDENCE, interleaved.checks(Budget()))
    widths: dict[int, list[float]] = {n: [] for n in at}
    rows = []
    for name, series in logs.items():
        row: list[object] = [name, f"{statistics.stdev(series) * 100:.2f}", f"{core_effect(series) * 100:+.2f}",
                             f"{lag1_autocorrelation(series):+.2f}"]
        for n in at:
            plain = half_width(series[:n], confidence)
            adjusted = half_width(without_core_effect(series[:n]), confidence, fitted=1)
            widths[n].append(adjusted / plain)
            row += [f"{plain * 100:.2f}", f"{adjusted * 100:.2f}"]
        rows.append(row)
    section.tables.append(Table(
        f"per result, {rounds} rounds at once (log-ratios in %; half-widths at a look's {confidence:.2%})",
        ["result", "round sd", "core effect", "lag-1 autocorr."]
        + [f"{label} {n}" for n in at for label in ("gate", "core out")], rows))
    effects = [core_effect(series) for series in logs.values()]
    section.goals.append(Goal(
        "core effect: results with the first core slower; median size",
        f"{sum(e > 0 for e in effects)} of {len(effects)}; {statistics.median(abs(e) for e in effects) * 100:.2f}%",
        None, "report only"))
    section.goals.append(Goal(
        "half-width with the core effect out against the gate's (median, by rounds)",
        ", ".join(f"{statistics.median(widths[n]):.2f} at {n}" for n in at), None,
        "report only: below 1 means an interval that allows for the cores would decide sooner"))
    return section


def run(ctx: Context) -> SectionResult:
    return summarize(measure(ctx, variant_benchmarks(ctx, BENCHMARKS), ROUNDS.get(ctx.plan.name, ROUNDS["standard"])))


def main(argv: list[str] | None = None) -> int:
    from benchmarks import run as bench_run

    return bench_run.measuring_main(argv, NAME, BENCHMARKS["standard"],
                                    lambda ctx, names: measure(ctx, names, ROUNDS["standard"]), summarize)


if __name__ == "__main__":
    sys.exit(main())
