"""Bisection: does ``bisect`` find the commit, how many builds, how long.

The test repository's ``bisect`` branch (tests/support/cpython_repo.py): 17 commits on top of
v3.13.5; commit 8 does not build (9 repairs it), commit 12 makes copy.deepcopy about 1.10x
slower, every other commit touches a comment. Each run bisects ``deepcopy`` between v3.13.5
(good) and the branch's tip (bad) from scratch with an empty results store; builds come from
the shared build cache after the first run (the first run's build time is reported apart).

The whole branch is this section's. The test suite's end-to-end tier keeps quick variants
(tests/cli/test_bisect.py, on a tiny deepcopy benchmark): two steps over commits 6 to 12 in
instructions (the ends, then commit 8, which does not build and is skipped), and a one-commit
bisection (the plugin's --cpython-bisect on ``slowdown``) that names the commit and confirms the
change across it.
"""

from __future__ import annotations

import math
import statistics
import subprocess
from dataclasses import asdict, dataclass, replace

import cpython_repo

from pytest_cpybench.bisect import report
from pytest_cpybench.bisect.bisector import Bisector
from pytest_cpybench.bisect.search import Step
from pytest_cpybench.cpython.git import LogEntry
from pytest_cpybench.session.plan import select_benchmarks

from .common import Context, Goal, SectionResult, Stopwatch, Table, fmt_rate, fmt_seconds

NAME = "bisection"
TITLE = "Bisection: the first bad commit of a ~1.10x deepcopy slowdown in 17 commits"
GOOD, BAD, BENCHMARK = "v3.13.5", "bisect", "deepcopy"
MODE = "fast"  # what the test uses; pyperf's fast mode: 2 values per process
RUNS = {"quick": 1, "standard": 10, "full": 10}
ROUNDS_PER_STEP = 20  # the bisect command's default --budget


@dataclass
class Run:
    correct: bool
    culprits: list[list[str]]
    seconds: float
    steps: int
    builds: list[str]  # per commit built: "built", "cached" or "failed"
    rounds: list[int]  # per step, the most rounds any benchmark needed
    decisions: list[str]
    ratio_across: float | None  # the confirmation: first bad commit / its parent
    confirmed: bool  # that ratio's interval excludes "no change" (the record's confirmation says so)
    skipped_broken: bool  # the commit that does not build was tried, failed to build and was skipped
    record: str


def run(ctx: Context) -> SectionResult:
    result = SectionResult(NAME, TITLE)
    commits = cpython_repo.BISECT_COMMITS
    target = _sha(ctx, f"{BAD}~{commits - cpython_repo.BISECT_SLOWDOWN}")
    build_limit = math.ceil(math.log2(commits)) + 2
    runs = [_bisect_once(ctx, number, target) for number in range(1, (ctx.runs or RUNS[ctx.plan.name]) + 1)]
    rows = [[number, "yes" if r.correct else "NO: " + ", ".join(c[0][:7] for c in r.culprits), r.steps,
             f"{len(r.builds)} ({r.builds.count('built')} new, {r.builds.count('failed')} failed)",
             " ".join(map(str, r.rounds)), "-" if r.ratio_across is None else f"{r.ratio_across:.3f}",
             fmt_seconds(r.seconds)] for number, r in enumerate(runs, 1)]
    result.tables.append(Table(f"{BENCHMARK}, {MODE} mode, good {GOOD}, bad {BAD} ({commits} commits), first bad "
                               f"{target[:7]}", ["run", "correct", "steps", "builds", "rounds per step",
                                                 "ratio across", "seconds"], rows))
    correct = sum(r.correct for r in runs)
    enough = len(runs) >= 10
    result.goals.append(Goal("correct commit in >= 9 of 10 runs", fmt_rate(correct, len(runs)),
                             correct >= 0.9 * len(runs) if enough else None, "" if enough else "fewer than 10 runs"))
    most_builds = max(len(r.builds) for r in runs)
    result.goals.append(Goal(f"builds <= ceil(log2 {commits}) + 2 = {build_limit} (ends included)",
                             str(most_builds), most_builds <= build_limit))
    # What the test suite checked on every run of this bisection before it moved here.
    right = [r for r in runs if r.correct]
    result.goals.append(Goal("the commit that does not build is skipped, never named",
                             fmt_rate(sum(r.skipped_broken for r in runs), len(runs)),
                             all(r.skipped_broken for r in runs)))
    result.goals.append(Goal("the change across the commit found is confirmed (interval above 1)",
                             fmt_rate(sum(r.confirmed for r in right), len(right)),
                             all(r.confirmed for r in right) if right else None, "" if right else "no run was right"))
    warm = [r.seconds for r in runs if "built" not in r.builds]
    if warm:
        result.notes.append(f"warm build cache: median {statistics.median(warm):.0f} s per bisection "
                            f"(min {min(warm):.0f}, max {max(warm):.0f})")
    result.data = {"runs": [asdict(r) for r in runs], "target": target, "mode": MODE, "commits": commits}
    return result


def _bisect_once(ctx: Context, number: int, target: str) -> Run:
    settings = ctx.settings(mode=MODE, benchmarks=BENCHMARK, results_dir=ctx.fresh_dir("bisect-results"))
    settings = replace(settings, budget=replace(settings.budget, processes=ROUNDS_PER_STEP))
    printed = 0

    def show_step(step: Step, history: list[LogEntry]) -> None:  # as the bisect command prints it
        nonlocal printed
        printed += 1
        ctx.log(f"run {number}: {report.format_bisect_step(printed, step, history)}")

    bisector = Bisector(settings, select_benchmarks(settings), log=ctx.engine_log, on_step=show_step)
    with Stopwatch() as watch:
        found = bisector.run(GOOD, BAD)
    for line in report.format_bisection(found).splitlines():
        ctx.log(f"run {number}: {line}")
    culprits = [[found.history[i].sha for i in c.commits] for c in found.search.culprits]
    steps = found.search.steps
    confirmation = found.confirmations[0] if found.confirmations else None
    broken = _sha(ctx, f"{BAD}~{cpython_repo.BISECT_COMMITS - cpython_repo.BISECT_BROKEN}")
    done = Run(correct=culprits == [[target]], culprits=culprits, seconds=round(watch.seconds, 1), steps=len(steps),
               builds=list(found.builds.values()),
               rounds=[max((p.rounds for p in s.positions.values()), default=0) for s in steps],
               decisions=[s.decision.value for s in steps],
               ratio_across=confirmation.changes[BENCHMARK].ratio if confirmation else None,
               confirmed=confirmation is not None and confirmation.confirmed and not confirmation.note
               and confirmation.changes[BENCHMARK].low > 1.0,
               skipped_broken=found.builds.get(broken) == "failed" and all(broken not in c for c in culprits),
               record=str(found.record))
    ctx.log(f"bisection run {number}: {'correct' if done.correct else 'WRONG'} in {watch.seconds:.0f} s")
    return done


def _sha(ctx: Context, ref: str) -> str:
    return subprocess.run(["git", "-C", str(ctx.repo), "rev-parse", ref], capture_output=True, text=True,
                          check=True).stdout.strip()
