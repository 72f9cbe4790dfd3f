"""Time to verdict: a fixed measurement against a stored baseline vs adaptive interleaving.

Strategies, on the same benchmarks and heads, taking turns inside each repetition so that
machine drift hits them alike:

* fixed: the head measured once in the mode's fixed number of pyperf processes (the plain
  pyperf run; 20 processes in default mode) and compared with a baseline stored earlier,
  as is (confirm=never);
* stored + confirm=auto: the same, but a comparison that is not clear is re-measured
  interleaved before it counts (the plugin's default with a stored baseline);
* adaptive: nothing stored; head and baseline interleaved in rounds until every verdict
  is clear or the budget is spent (the plugin's default without a stored baseline).

Errors are counted against what is known: with head ``neutral`` (a comment changed on top of the
baseline) every REGRESSION is false; with a slowed head (``slowdown-small``, about 1.10x on
deepcopy) the non-control results are slowed (by how much: see the sensitivity section) and the
control benchmarks are not.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from pytest_cpybench.session.model import BaselineKind
from pytest_cpybench.verdict import stats

from .common import Context, SectionResult, Table, Verdict, count, fmt_rate, open_session, run_items, verdicts_of
from .plan import BASE_REF, CONTROL_BENCHMARKS, NEIGHBOUR_REF

UNCHANGED_HEADS = (BASE_REF, NEIGHBOUR_REF)  # heads whose every REGRESSION is false

NAME = "time_to_verdict"
TITLE = "Time to verdict: fixed vs adaptive measurement"
V = stats.Verdict

STRATEGIES = {
    "fixed (stored baseline, confirm=never)": "never",
    "stored baseline, confirm=auto": "auto",
    "adaptive (interleaved in session)": None,
}


@dataclass
class Tally:
    item_seconds: list[float] = field(default_factory=list)
    verdicts: list[tuple[str, Verdict]] = field(default_factory=list)  # (head ref, verdict)


def store_baseline(ctx: Context) -> tuple[Path, float]:
    plan = ctx.plan
    results_dir = ctx.fresh_dir("ttv-store")
    engine, benches = open_session(ctx, ctx.settings(ref=BASE_REF, benchmarks=plan.ttv_benchmarks,
                                                     mode=plan.ttv_mode, results_dir=results_dir, save="new"))
    outcomes = run_items(ctx, engine, benches, "time to verdict: storing the baseline")
    if not engine.finish(outcomes, benches).head_path:
        raise RuntimeError(f"the baseline run stored nothing in {results_dir}")
    return results_dir, sum(o.seconds for o in outcomes)


def one_run(ctx: Context, strategy: str, head: str, stored_dir: Path, tally: Tally, label: str) -> None:
    plan = ctx.plan
    confirm = STRATEGIES[strategy]
    results_dir = stored_dir if confirm else ctx.fresh_dir("ttv-adaptive")
    settings = ctx.settings(ref=head, baselines=(BASE_REF,), benchmarks=plan.ttv_benchmarks, mode=plan.ttv_mode,
                            results_dir=results_dir, save="no", confirm=confirm or "auto")
    engine, benches = open_session(ctx, settings)
    expected_kind = BaselineKind.STORED if confirm else BaselineKind.MEASURE
    if {b.kind for b in engine.baselines} != {expected_kind}:
        raise RuntimeError(f"{strategy}: expected a {expected_kind} baseline, got {engine.baselines}")
    for outcome in run_items(ctx, engine, benches, label):
        tally.item_seconds.append(outcome.seconds)
        tally.verdicts.extend((head, verdict) for verdict in verdicts_of(engine, outcome))


def _row(strategy: str, tally: Tally) -> list[object]:
    verdicts = [v for _, v in tally.verdicts]
    same = [v for head, v in tally.verdicts if head in UNCHANGED_HEADS]
    changed = [v for head, v in tally.verdicts if head not in UNCHANGED_HEADS]
    slowed = [v for v in changed if v.benchmark not in CONTROL_BENCHMARKS]
    control = [v for v in changed if v.benchmark in CONTROL_BENCHMARKS]
    false_failures = count(same, V.REGRESSION.name) + count(control, V.REGRESSION.name)
    seconds = tally.item_seconds
    return [strategy, len(seconds), f"{statistics.fmean(seconds):.1f}" if seconds else "-",
            f"{statistics.median(seconds):.1f}" if seconds else "-",
            f"{statistics.fmean(v.seconds for v in verdicts):.1f}" if verdicts else "-",
            fmt_rate(false_failures, len(same) + len(control)), _ratios(same),
            fmt_rate(count(slowed, V.REGRESSION.name), len(slowed)), _ratios(slowed),
            fmt_rate(count(verdicts, V.INCONCLUSIVE.name), len(verdicts)),
            sum(1 for v in verdicts if v.confirmed)]


def _ratios(verdicts: list[Verdict]) -> str:
    """Median and range of the reported ratios: shows a bias (drift) that verdicts hide."""
    if not verdicts:
        return "-"
    ratios = [v.ratio for v in verdicts]
    return f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})"


def run(ctx: Context) -> SectionResult:
    plan = ctx.plan
    section = SectionResult(NAME, TITLE)
    stored_dir, store_seconds = store_baseline(ctx)
    tallies = {strategy: Tally() for strategy in STRATEGIES}
    for rep in range(1, plan.ttv_reps + 1):
        for head in plan.ttv_heads:
            for strategy in STRATEGIES:
                one_run(ctx, strategy, head, stored_dir, tallies[strategy],
                        f"time to verdict {rep}/{plan.ttv_reps}, {head}, {strategy.split(' (')[0]}")
    section.tables.append(Table(
        f"{plan.ttv_benchmarks}; heads {', '.join(plan.ttv_heads)} vs {BASE_REF}; {plan.ttv_mode} mode; "
        f"{plan.ttv_reps} repetition(s)",
        ["strategy", "items", "s / benchmark (mean)", "median", "s / verdict", "false failures",
         "ratio, head unchanged", "slowed detected", "ratio, slowed", "inconclusive", "confirmed"],
        [_row(strategy, tally) for strategy, tally in tallies.items()]))
    section.notes.append(f"storing the baseline once took {store_seconds:.0f} s; the stored strategies do not "
                         "count it (it is paid once per baseline, not per run)")
    section.notes.append("false failures: REGRESSION with an unchanged head, or on a control benchmark; slowed "
                         f"detected: REGRESSION on the non-control results of a head other than {BASE_REF}; "
                         "ratio: median (min-max) of the reported ratios, where drift between a stored "
                         "baseline and now shows even when the verdicts look fine")
    section.data = {"benchmarks": plan.ttv_benchmarks, "mode": plan.ttv_mode, "heads": list(plan.ttv_heads),
                    "store_seconds": store_seconds,
                    "strategies": {strategy: {"item_seconds": tally.item_seconds,
                                              "verdicts": [{"head": head, **v.__dict__} for head, v in tally.verdicts]}
                                   for strategy, tally in tallies.items()}}
    return section
