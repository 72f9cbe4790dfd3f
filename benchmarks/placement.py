"""Placement: what the page cache's placement of an interpreter's code does to a verdict.

Head ``neutral`` against ``v3.13.5``: two builds whose machine code is the same byte for byte
(``neutral`` changes a Python file no benchmark imports), so the true ratio is 1. Per benchmark,
``SESSIONS`` sessions of ``ROUNDS`` rounds for each way of treating the page cache, alternating:

* ``never`` (``--cpython-reload=never``): the interpreters' files are dropped from the page cache
  once before the session (a session on another hour gets other pages too), then every round
  shares that placement;
* ``round`` (the default): dropped before every round, so each round runs in new pages.

Per session it makes the verdict the plugin makes from such rounds (the paired interval at 95%,
a 5% threshold) and asks whether the interval covers 1, the truth. An interval that misses the
truth more often than 5% of the time is one that a verdict cannot be trusted on; the spread of
the sessions' ratios against the spread of the rounds inside one says why.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import replace

from pytest_cpybench.measure import cpus, interleaved, pagecache
from pytest_cpybench.options import Budget
from pytest_cpybench.verdict import stats

from .common import Context, Goal, SectionResult, Table, open_session, variant_benchmarks
from .plan import BASE_REF, NEIGHBOUR_REF, THRESHOLD

NAME = "placement"
TITLE = "Placement: the interpreters' code reloaded every round, or kept in the page cache"
BENCHMARKS = {"quick": "nbody", "standard": "nbody,float,richards"}
RELOADS = ("never", "round")
ROUNDS = 20
SESSIONS = 6
CONFIDENCE = 0.95


def measure(ctx: Context, benchmarks: str) -> dict[str, object]:
    """Per result and reload mode: each session's (base, head) process-mean pairs."""
    settings = ctx.settings(ref=NEIGHBOUR_REF, baselines=(BASE_REF,), mode="default", benchmarks=benchmarks,
                            results_dir=ctx.fresh_dir(NAME), save="no")
    engine, benches = open_session(ctx, settings)
    assert engine.head is not None
    (baseline,) = engine.baselines
    assert baseline.target is not None
    side_cpus = cpus.parallel_cpus(settings.affinity, 2)  # what --cpython-parallel=auto chooses here
    calibration = interleaved.Calibration(ctx.cache_dir, settings.machine)
    sessions = ctx.runs or SESSIONS
    results: dict[str, dict[str, list[list[tuple[float, float]]]]] = {}
    for bench in benches:
        sides = [engine.side("head", engine.head, bench), engine.side(BASE_REF, baseline.target, bench)]
        code_files = pagecache.code_files(side.venv_python for side in sides)
        for session in range(sessions):
            for reload in RELOADS:
                pagecache.drop(code_files)  # a session of its own: new pages, as on another hour
                options = replace(engine.run_options(), reload=reload == "round")
                suites, _rounds = interleaved.measure(bench, sides, options, Budget(processes=ROUNDS),
                                                      lambda _s: False, calibration=calibration, cpus=side_cpus)
                for head in suites["head"].get_benchmarks():
                    base = suites[BASE_REF].get_benchmark(head.get_name())
                    pairs = list(zip(stats.process_means(base), stats.process_means(head), strict=True))
                    results.setdefault(head.get_name(), {}).setdefault(reload, []).append(pairs)
            ctx.log(f"{NAME}: {bench.name}: session {session + 1}/{sessions}")
    return {"results": results, "rounds": ROUNDS, "sessions": sessions, "at_once": side_cpus is not None}


def _session_row(pairs: list[tuple[float, float]]) -> tuple[float, float, bool, str]:
    """A session's ratio, its rounds' SD of log(head / base), whether its interval covers 1, its verdict."""
    estimate = stats.paired_ratio_interval(pairs, CONFIDENCE)
    spread = statistics.stdev(math.log(head / base) for base, head in pairs)
    return estimate.ratio, spread, estimate.low <= 1.0 <= estimate.high, stats.verdict(estimate, THRESHOLD).name


def most_misses(sessions: int, rate: float, confidence: float = 0.95) -> int:
    """The most misses that intervals missing at ``rate`` give in ``sessions`` sessions, ``confidence`` of the time."""
    total = 0.0
    for misses in range(sessions + 1):
        total += math.comb(sessions, misses) * rate**misses * (1 - rate) ** (sessions - misses)
        if total >= confidence:
            return misses
    return sessions


def summarize(data: dict[str, object]) -> SectionResult:
    section = SectionResult(NAME, TITLE, data=data)
    results: dict[str, dict[str, list[list[tuple[float, float]]]]] = data["results"]  # type: ignore[assignment]
    rows: list[list[object]] = []
    covered = dict.fromkeys(RELOADS, 0)
    failed = dict.fromkeys(RELOADS, 0)
    total = dict.fromkeys(RELOADS, 0)
    excess: dict[str, list[float]] = {reload: [] for reload in RELOADS}
    for name, by_reload in sorted(results.items()):
        for reload in RELOADS:
            sessions = [_session_row(pairs) for pairs in by_reload[reload]]
            ratios = [ratio for ratio, _, _, _ in sessions]
            between = statistics.stdev(math.log(ratio) for ratio in ratios) if len(ratios) > 1 else math.nan
            within = statistics.fmean(spread for _, spread, _, _ in sessions)
            predicted = within / math.sqrt(len(by_reload[reload][0]))  # what each session's interval assumes
            excess[reload].append(between / predicted)
            covers = sum(1 for *_, cover, _ in sessions if cover)
            verdicts = [verdict for *_, verdict in sessions]
            covered[reload] += covers
            failed[reload] += verdicts.count("REGRESSION")  # the true ratio is 1: every one is false
            total[reload] += len(sessions)
            regressions, inconclusive = verdicts.count("REGRESSION"), verdicts.count("INCONCLUSIVE")
            rows.append([name, reload, len(sessions), f"{min(ratios):.3f}-{max(ratios):.3f}", f"{between:.2%}",
                         f"{within:.2%}", f"{between / predicted:.2f}", f"{covers}/{len(sessions)}", regressions,
                         inconclusive, len(verdicts) - regressions - inconclusive])
    section.tables.append(Table(
        f"per result and page cache: {data['sessions']} sessions of {data['rounds']} rounds "
        f"({'sides at once' if data['at_once'] else 'sides in turn'}), {NEIGHBOUR_REF} against {BASE_REF} "
        "(the same machine code)",
        ["result", "reload", "sessions", "session ratios", "SD between sessions", "SD of a round (mean)",
         "between / expected", "95% interval covers 1", "REGRESSION", "INCONCLUSIVE", "passed"], rows))
    for reload in RELOADS:
        if excess[reload]:
            section.goals.append(Goal(
                f"reload={reload}: sessions spread no more than their rounds predict (between / expected, "
                "the largest <= 1.5)", ", ".join(f"{value:.2f}" for value in excess[reload]),
                _judged(reload, max(excess[reload]) <= 1.5), _why(reload)))
        if total[reload]:
            allowed = most_misses(total[reload], 1 - CONFIDENCE)
            misses = total[reload] - covered[reload]
            section.goals.append(Goal(
                f"reload={reload}: the 95% intervals miss the true ratio 1 no more often than 95% intervals "
                f"may ({allowed} of {total[reload]}, binomial at 95%)",
                f"{misses} of {total[reload]}", _judged(reload, misses <= allowed), _why(reload)))
            section.goals.append(Goal(f"reload={reload}: 0 false failures (threshold {THRESHOLD:.0%})",
                                      f"{failed[reload]} in {total[reload]}", _judged(reload, failed[reload] == 0),
                                      _why(reload)))
    section.notes.append("between / expected: the SD of the sessions' log ratios over what their rounds predict "
                         "(a round's SD / sqrt(rounds)); above 1, something shared by a session's rounds moves "
                         "the ratio, which no session's interval sees.")
    section.notes.append("never: dropped once before each session, then kept; round: dropped before every round. "
                         "A session's verdict uses the plugin's paired interval at 95% without the looks' split.")
    return section


def _judged(reload: str, met: bool) -> bool | None:
    """Targets hold the default (round); ``never`` is reported, to show what the default avoids."""
    return met if reload == "round" else None


def _why(reload: str) -> str:
    return "" if reload == "round" else "report only: what the default avoids"


def run(ctx: Context) -> SectionResult:
    return summarize(measure(ctx, variant_benchmarks(ctx, BENCHMARKS)))


def main(argv: list[str] | None = None) -> int:
    from benchmarks import run as bench_run

    return bench_run.measuring_main(argv, NAME, BENCHMARKS["standard"], measure, summarize)


if __name__ == "__main__":
    raise SystemExit(main())
