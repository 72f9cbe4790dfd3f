"""False alarms (A/A): head ``neutral`` (one comment changed on top of the baseline, nothing benchmarked
touches it) against baseline ``v3.13.5``, so every REGRESSION is a false failure. (The same commit as
its own baseline is refused by the plugin.)

Two variants, both through the Engine API as the plugin uses it:

* interleaved: a fresh results store per repetition, so the baseline is not stored and is
  measured in the session, interleaved with the head (the engine's adaptive sampler);
* stored: the baseline is measured and stored once, then each repetition measures the head
  alone and compares it with the stored results; with confirm=auto a comparison that is not
  clear is re-measured interleaved before it may fail.
"""

from __future__ import annotations

import statistics

from pytest_cpybench.session.model import BaselineKind
from pytest_cpybench.verdict import stats

from .common import (
    Context,
    Goal,
    SectionResult,
    Table,
    Verdict,
    count,
    distribution,
    fmt_rate,
    fmt_ratio,
    open_session,
    repeated_verdicts,
    run_items,
    verdicts_of,
)
from .plan import BASE_REF, NEIGHBOUR_REF, THRESHOLD

NAME = "false_alarms"
TITLE = f"False alarms (A/A): {NEIGHBOUR_REF} (a comment changed) against {BASE_REF}"
MIN_VERDICTS = 100
MAX_INCONCLUSIVE = 0.10
TARGET_MODE = "default"

V = stats.Verdict


def interleaved(ctx: Context) -> list[Verdict]:
    plan = ctx.plan
    return repeated_verdicts(ctx, head=NEIGHBOUR_REF, benchmarks=plan.aa_benchmarks, mode=plan.aa_mode,
                             reps=ctx.runs or plan.aa_reps, label="A/A interleaved", folder="aa-interleaved")


def stored(ctx: Context) -> tuple[list[Verdict], float]:
    """Verdicts against a baseline stored once, and the seconds that storing took."""
    plan = ctx.plan
    results_dir = ctx.fresh_dir("aa-stored")
    common = dict(benchmarks=plan.aa_benchmarks, mode=plan.aa_mode, results_dir=results_dir)
    engine, benches = open_session(ctx, ctx.settings(**common, ref=BASE_REF, save="new"))
    outcomes = run_items(ctx, engine, benches, "A/A storing the baseline")
    stored_result = engine.finish(outcomes, benches)
    if not stored_result.head_path:
        raise RuntimeError(f"the baseline run stored nothing in {results_dir}: {stored_result.notes}")
    store_seconds = sum(o.seconds for o in outcomes)
    found: list[Verdict] = []
    for rep in range(1, plan.aa_stored_reps + 1):
        engine, benches = open_session(ctx, ctx.settings(**common, ref=NEIGHBOUR_REF, baselines=(BASE_REF,),
                                                         confirm="auto", save="no"))
        kinds = {b.kind for b in engine.baselines}
        if kinds != {BaselineKind.STORED}:
            raise RuntimeError(f"expected the stored baseline to be found, got {kinds}")
        for outcome in run_items(ctx, engine, benches, f"A/A stored {rep}/{plan.aa_stored_reps}"):
            found.extend(verdicts_of(engine, outcome))
    return found, store_seconds


def _summary_row(variant: str, verdicts: list[Verdict]) -> list[object]:
    ratios = distribution([v.ratio for v in verdicts])
    seconds = [v.seconds for v in verdicts]
    others = len(verdicts) - count(verdicts, V.REGRESSION.name) - count(verdicts, V.INCONCLUSIVE.name)
    return [variant, len(verdicts), count(verdicts, V.REGRESSION.name),
            fmt_rate(count(verdicts, V.INCONCLUSIVE.name), len(verdicts)), others,
            fmt_ratio(ratios.get("min")), fmt_ratio(ratios.get("p5")), fmt_ratio(ratios.get("median")),
            fmt_ratio(ratios.get("p95")), fmt_ratio(ratios.get("max")),
            f"{statistics.fmean(seconds):.1f}" if seconds else "-",
            sum(1 for v in verdicts if v.confirmed)]


def _per_result_rows(verdicts: list[Verdict]) -> list[list[object]]:
    rows = []
    for name in sorted({v.result for v in verdicts}):
        mine = [v for v in verdicts if v.result == name]
        ratios = [v.ratio for v in mine]
        interleaved = [v for v in mine if v.unpaired_verdict]
        rows.append([name, len(mine), count(mine, V.REGRESSION.name), count(mine, V.INCONCLUSIVE.name),
                     count(mine, V.UNCHANGED.name), count(mine, V.SLOWER_WITHIN_THRESHOLD.name),
                     count(mine, V.FASTER.name), fmt_ratio(min(ratios)), fmt_ratio(statistics.median(ratios)),
                     fmt_ratio(max(ratios)), f"{statistics.fmean(v.rounds for v in mine):.1f}",
                     f"{sum(1 for v in interleaved if v.unpaired_verdict == V.INCONCLUSIVE.name)}/{len(interleaved)}"])
    return rows


def goals(variant: str, verdicts: list[Verdict], mode: str) -> list[Goal]:
    total = len(verdicts)
    failures = count(verdicts, V.REGRESSION.name)
    inconclusive = count(verdicts, V.INCONCLUSIVE.name)
    why = ""
    if mode != TARGET_MODE:
        why = f"{mode} mode; the target is about {TARGET_MODE} mode"
    elif total < MIN_VERDICTS:
        why = f"{total} < {MIN_VERDICTS} verdicts"
    zero_met = None if why and failures == 0 else failures == 0
    return [
        Goal(f"{variant}: 0 false failures in >= {MIN_VERDICTS} verdicts ({TARGET_MODE} mode, "
             f"{THRESHOLD:.0%} threshold)", f"{failures} in {total}", zero_met, why),
        Goal(f"{variant}: <= {MAX_INCONCLUSIVE:.0%} inconclusive", fmt_rate(inconclusive, total),
             None if why else inconclusive <= MAX_INCONCLUSIVE * total, why),
    ]


def run(ctx: Context) -> SectionResult:
    plan = ctx.plan
    section = SectionResult(NAME, TITLE)
    variants: dict[str, list[Verdict]] = {}
    variants["interleaved"] = interleaved(ctx)
    store_seconds = None
    if plan.aa_stored_reps:
        variants["stored, confirm=auto"], store_seconds = stored(ctx)

    section.tables.append(Table(
        f"verdicts ({plan.aa_benchmarks}; {plan.aa_mode} mode; threshold {THRESHOLD:.0%})",
        ["variant", "verdicts", "false failures", "inconclusive", "other", "ratio min", "p5", "median", "p95",
         "max", "s / verdict", "confirmed"],
        [_summary_row(name, verdicts) for name, verdicts in variants.items()]))
    for name, verdicts in variants.items():
        section.tables.append(Table(
            f"per result, {name}",
            ["result", "n", "REGRESSION", "INCONCLUSIVE", "UNCHANGED", "SLOWER<thr", "FASTER", "ratio min",
             "median", "max", "rounds (mean)", "inconclusive if unpaired"],
            _per_result_rows(verdicts)))
        section.goals.extend(goals(name, verdicts, plan.aa_mode))
    if store_seconds is not None:
        section.notes.append(f"storing the baseline once took {store_seconds:.0f} s (not in s / verdict)")
    section.notes.append("ratio = mean(head) / mean(baseline) as reported; 'confirmed' counts verdicts that "
                         "came from an interleaved re-measurement; 'inconclusive if unpaired' compares the same "
                         "interleaved processes as two independent samples (Welch) instead of pairs")
    section.data = {"benchmarks": plan.aa_benchmarks, "mode": plan.aa_mode, "threshold": THRESHOLD,
                    "store_seconds": store_seconds,
                    "verdicts": {name: [v.__dict__ for v in verdicts] for name, verdicts in variants.items()}}
    return section
