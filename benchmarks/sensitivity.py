"""Sensitivity: does a real slowdown fail, and only where it is real?

The ``slowdown-small`` and ``slowdown`` branches make every ``copy.deepcopy`` call do extra
work (about 1.10x and 2x), so the three deepcopy results are slower while nbody (the
control) is untouched. First a reference ("true") ratio per result: head and baseline
interleaved for a fixed, large number of rounds (no early stop), with a paired interval.
Then the plugin's normal verdict, repeated: how often each result fails, and how the
reported ratio compares with the reference.
"""

from __future__ import annotations

import statistics

from pytest_cpybench.measure import interleaved
from pytest_cpybench.session.model import HEAD
from pytest_cpybench.verdict import stats

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
    repeated_verdicts,
)
from .plan import BASE_REF, CONTROL_BENCHMARKS, THRESHOLD

NAME = "sensitivity"
TITLE = f"Sensitivity: slowed deepcopy against {BASE_REF}"
DETECTION_RATE = 0.95
MIN_RUNS = 20  # fewer runs cannot show a 95% detection rate
MUST_FAIL = f"slowed >= {2 * THRESHOLD:.0%}: must fail"
MUST_PASS = "must not fail"
V = stats.Verdict

Reference = dict[str, object]  # benchmark, ratio, low, high, rounds


def reference_ratios(ctx: Context, head: str) -> dict[str, Reference]:
    """Per result: ratio and paired interval from ``true_rounds`` interleaved rounds."""
    plan = ctx.plan
    settings = ctx.settings(ref=head, baselines=(BASE_REF,), benchmarks=plan.sens_benchmarks,
                            mode=plan.true_mode, results_dir=ctx.fresh_dir("sens-reference"), save="no")
    engine, benches = open_session(ctx, settings)
    (baseline,) = engine.baselines
    assert engine.head is not None and baseline.target is not None
    base_target = baseline.target
    found: dict[str, Reference] = {}
    for bench in benches:
        sides = [engine.side(HEAD, engine.head, bench), engine.side(BASE_REF, base_target, bench)]
        suites, rounds = interleaved.measure(bench, sides, engine.run_options(), budget_for(plan.true_rounds),
                                         lambda _suites: False, ctx.engine_log)
        compared = engine.compare_pair(suites[BASE_REF], suites[HEAD], BASE_REF, paired=True)
        for rc in compared.results:
            found[rc.name] = {"benchmark": bench.name, "ratio": rc.ratio, "low": rc.estimate.low,
                              "high": rc.estimate.high, "rounds": rounds}
            ctx.log(f"sensitivity: {head} reference {rc.name} = {rc.ratio:.3f} [{rc.estimate.low:.3f}, "
                    f"{rc.estimate.high:.3f}] ({rounds} rounds)")
    return found


def repeated(ctx: Context, head: str) -> list[Verdict]:
    plan = ctx.plan
    return repeated_verdicts(ctx, head=head, benchmarks=plan.sens_benchmarks, mode=plan.sens_mode,
                             reps=plan.sens_reps, label=f"sensitivity {head}", folder="sens")


def expectation(benchmark: str, reference: Reference | None) -> str:
    """What a correct verdict is for this result, from the reference measurement."""
    if benchmark in CONTROL_BENCHMARKS:
        return f"control: {MUST_PASS}"
    if reference is None:
        return "unknown"
    ratio, low, high = (float(reference[key]) for key in ("ratio", "low", "high"))  # type: ignore[arg-type]
    if ratio >= 1 + 2 * THRESHOLD:
        # Only a reference that is itself sure of the slowdown can say a verdict must fail.
        return MUST_FAIL if low > 1 + THRESHOLD else "reference too noisy to say"
    if low > 1 + THRESHOLD:
        return f"slowed > {THRESHOLD:.0%}: should fail"
    if high < 1 + THRESHOLD:
        return f"below {THRESHOLD:.0%}: {MUST_PASS}"
    return "near the threshold: either"


def _detection_goal(must_fail: list[Verdict]) -> Goal:
    name = (f"a slowdown of >= {2 * THRESHOLD:.0%} fails its item in >= {DETECTION_RATE:.0%} of runs (failed, or "
            "left undecided when another result failed the item)")
    if not must_fail:
        return Goal(name, "no result slowed that much", None, "nothing to detect")
    detected = sum(1 for v in must_fail if v.failed or v.partial)
    partial = sum(1 for v in must_fail if v.partial)
    measured = fmt_rate(detected, len(must_fail))
    if partial:
        measured += f", {partial} of them undecided with their item"
    met = detected >= DETECTION_RATE * len(must_fail)
    # A miss counts even in a small sample; all detected in a few runs proves little.
    if met and len(must_fail) < MIN_RUNS:
        return Goal(name, measured, None, f"{len(must_fail)} < {MIN_RUNS} runs")
    return Goal(name, measured, met)


def _row(head: str, name: str, mine: list[Verdict], ref: Reference | None, expected: str) -> list[object]:
    ratios = [v.ratio for v in mine]
    median = statistics.median(ratios)
    return [head, name, expected,
            f"{ref['ratio']:.3f} [{ref['low']:.3f}, {ref['high']:.3f}]" if ref else "-",
            len(mine), fmt_rate(count(mine, V.REGRESSION.name), len(mine)), count(mine, V.INCONCLUSIVE.name),
            fmt_ratio(min(ratios)), fmt_ratio(median), fmt_ratio(max(ratios)),
            fmt_ratio(median / float(ref["ratio"])) if ref else "-",  # type: ignore[arg-type]
            f"{statistics.fmean(v.seconds for v in mine):.1f}"]


def run(ctx: Context) -> SectionResult:
    plan = ctx.plan
    section = SectionResult(NAME, TITLE)
    rows = []
    must_fail: list[Verdict] = []
    must_pass: list[Verdict] = []
    references: dict[str, dict[str, Reference]] = {}
    all_verdicts: dict[str, list[Verdict]] = {}
    for head in plan.sens_heads:
        references[head] = reference = reference_ratios(ctx, head)
        all_verdicts[head] = verdicts = repeated(ctx, head)
        for name in sorted({v.result for v in verdicts}):
            mine = [v for v in verdicts if v.result == name]
            ref = reference.get(name)
            expected = expectation(mine[0].benchmark, ref)
            if expected == MUST_FAIL:
                must_fail += mine
            elif expected.endswith(MUST_PASS):
                must_pass += mine
            rows.append(_row(head, name, mine, ref, expected))
    section.tables.append(Table(
        f"verdicts over {plan.sens_reps} runs per head ({plan.sens_mode} mode, threshold {THRESHOLD:.0%}); "
        f"reference: {plan.true_rounds} interleaved rounds, {plan.true_mode} mode",
        ["head", "result", "expected", "reference ratio [95% paired]", "runs", "failed", "inconclusive",
         "reported min", "median", "max", "median / reference", "s / verdict"], rows))
    section.goals.append(_detection_goal(must_fail))
    false_failures = count(must_pass, V.REGRESSION.name)
    section.goals.append(Goal("unchanged results (control) never fail", fmt_rate(false_failures, len(must_pass)),
                              false_failures == 0 if must_pass else None))
    section.notes.append(f"expected: from the reference ratio; '{MUST_FAIL}' results are the ones the "
                         "detection target counts")
    section.data = {"benchmarks": plan.sens_benchmarks, "mode": plan.sens_mode, "threshold": THRESHOLD,
                    "reference": references,
                    "verdicts": {head: [v.__dict__ for v in vs] for head, vs in all_verdicts.items()}}
    return section
