"""Sensitivity: does a real slowdown fail, and only where it is real?

The ``slowdown`` branch makes every ``copy.deepcopy`` call do extra work, so the three
deepcopy results are slower while nbody (the control) is untouched. First a reference
("true") ratio per result: both interpreters interleaved for a fixed, large number of
rounds (no early stop). Then the plugin's normal verdict, repeated: how often each result
fails, and how the reported ratio compares with the reference.
"""

from __future__ import annotations

import statistics

from pytest_cpybench import sampler, stats
from pytest_cpybench.engine import HEAD
from pytest_cpybench.targets import Target

from .common import (
    Context,
    Goal,
    SectionResult,
    Table,
    Verdict,
    budget_for,
    count,
    fmt_rate,
    fmt_ratio,
    open_session,
    run_items,
    verdicts_of,
)
from .plan import BASE_REF, CONTROL_BENCHMARKS, SLOW_REF, THRESHOLD

NAME = "sensitivity"
TITLE = f"Sensitivity: {SLOW_REF} against {BASE_REF}"
DETECTION_RATE = 0.95
MIN_RUNS = 20
V = stats.Verdict


def reference_ratios(ctx: Context) -> dict[str, dict[str, float]]:
    """Per result: ratio and paired interval from ``true_rounds`` interleaved rounds."""
    plan = ctx.plan
    settings = ctx.settings(ref=SLOW_REF, baselines=(BASE_REF,), benchmarks=plan.sens_benchmarks,
                            mode=plan.true_mode, results_dir=ctx.fresh_dir("sens-reference"), save="no")
    engine, benches = open_session(ctx, settings)
    (baseline,) = engine.baselines
    assert engine.head is not None and baseline.target is not None
    base_target = Target.from_wire(baseline.target)
    found: dict[str, dict[str, float]] = {}
    for bench in benches:
        sides = [engine.side(HEAD, engine.head, bench), engine.side(BASE_REF, base_target, bench)]
        suites, rounds = sampler.measure(bench, sides, engine.run_options(), budget_for(plan.true_rounds),
                                         lambda _suites: False, ctx.engine_log)
        compared = engine.compare_pair(suites[BASE_REF], suites[HEAD], BASE_REF)
        for rc in compared.results:
            base_means = stats.process_means(suites[BASE_REF].get_benchmark(rc.name))
            head_means = stats.process_means(suites[HEAD].get_benchmark(rc.name))
            paired = stats.paired_ratio_interval(list(zip(base_means, head_means)), settings.confidence,
                                                 ratio=rc.ratio)
            found[rc.name] = {"benchmark": bench.name, "ratio": rc.ratio, "low": paired.low, "high": paired.high,
                              "rounds": rounds}  # type: ignore[dict-item]
            ctx.log(f"sensitivity: reference {rc.name} = {rc.ratio:.3f} [{paired.low:.3f}, {paired.high:.3f}] "
                    f"({rounds} rounds)")
    return found


def repeated(ctx: Context) -> list[Verdict]:
    plan = ctx.plan
    found: list[Verdict] = []
    for rep in range(1, plan.sens_reps + 1):
        settings = ctx.settings(ref=SLOW_REF, baselines=(BASE_REF,), benchmarks=plan.sens_benchmarks,
                                mode=plan.sens_mode, results_dir=ctx.fresh_dir("sens"), save="no")
        engine, benches = open_session(ctx, settings)
        for outcome in run_items(ctx, engine, benches, f"sensitivity {rep}/{plan.sens_reps}"):
            found.extend(verdicts_of(engine, outcome))
    return found


def expectation(name: str, benchmark: str, reference: dict[str, float] | None) -> str:
    """What a correct verdict is for this result, from the reference measurement."""
    if benchmark in CONTROL_BENCHMARKS:
        return "control: must not fail"
    if reference is None:
        return "unknown"
    if reference["low"] > 1 + 2 * THRESHOLD:
        return f"slowed > {2 * THRESHOLD:.0%}: must fail"
    if reference["low"] > 1 + THRESHOLD:
        return f"slowed > {THRESHOLD:.0%}: should fail"
    if reference["high"] < 1 + THRESHOLD:
        return f"below {THRESHOLD:.0%}: must not fail"
    return "near the threshold"


def _detection_goal(must_fail: list[Verdict]) -> Goal:
    name = f"a slowdown of > {2 * THRESHOLD:.0%} fails in >= {DETECTION_RATE:.0%} of runs"
    if not must_fail:
        return Goal(name, "no result slowed that much", None, "nothing to detect")
    detected = count(must_fail, V.REGRESSION.name)
    met = detected >= DETECTION_RATE * len(must_fail)
    # A miss counts even in a small sample; all detected in a few runs proves little.
    if met and len(must_fail) < MIN_RUNS:
        return Goal(name, fmt_rate(detected, len(must_fail)), None, f"{len(must_fail)} < {MIN_RUNS} runs")
    return Goal(name, fmt_rate(detected, len(must_fail)), met)


def run(ctx: Context) -> SectionResult:
    plan = ctx.plan
    section = SectionResult(NAME, TITLE)
    reference = reference_ratios(ctx)
    verdicts = repeated(ctx)
    rows = []
    must_fail: list[Verdict] = []
    must_pass: list[Verdict] = []
    for name in sorted({v.result for v in verdicts}):
        mine = [v for v in verdicts if v.result == name]
        ref = reference.get(name)
        expected = expectation(name, mine[0].benchmark, ref)
        if expected.endswith("must fail"):
            must_fail += mine
        elif expected.endswith("must not fail"):
            must_pass += mine
        ratios = [v.ratio for v in mine]
        rows.append([name, expected,
                     f"{ref['ratio']:.3f} [{ref['low']:.3f}, {ref['high']:.3f}]" if ref else "-",
                     len(mine), fmt_rate(count(mine, V.REGRESSION.name), len(mine)),
                     count(mine, V.INCONCLUSIVE.name), fmt_ratio(min(ratios)), fmt_ratio(statistics.median(ratios)),
                     fmt_ratio(max(ratios)),
                     fmt_ratio(statistics.median(ratios) / ref["ratio"]) if ref else "-",
                     f"{statistics.fmean(v.seconds for v in mine):.1f}"])
    section.tables.append(Table(
        f"verdicts over {plan.sens_reps} runs ({plan.sens_mode} mode, threshold {THRESHOLD:.0%}); reference: "
        f"{plan.true_rounds} interleaved rounds, {plan.true_mode} mode",
        ["result", "expected", "reference ratio [95% paired]", "runs", "failed", "inconclusive", "reported min",
         "median", "max", "median / reference", "s / verdict"], rows))
    section.goals.append(_detection_goal(must_fail))
    false_failures = count(must_pass, V.REGRESSION.name)
    section.goals.append(Goal("unchanged results (control) never fail", fmt_rate(false_failures, len(must_pass)),
                              false_failures == 0 if must_pass else None))
    section.data = {"benchmarks": plan.sens_benchmarks, "mode": plan.sens_mode, "threshold": THRESHOLD,
                    "reference": reference, "verdicts": [v.__dict__ for v in verdicts]}
    return section
