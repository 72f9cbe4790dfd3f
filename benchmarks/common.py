"""What every section shares: the run context, result tables, targets, and engine sessions."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyperf

from pytest_cpybench.cpython import builds, git
from pytest_cpybench.options import Budget, Settings
from pytest_cpybench.session.engine import Engine
from pytest_cpybench.session.model import MetricOutcome
from pytest_cpybench.session.plan import select_benchmarks
from pytest_cpybench.suite import definitions
from pytest_cpybench.suite.definitions import BenchmarkDef
from pytest_cpybench.verdict import stats

from .plan import BASE_REF, THRESHOLD, Plan


@dataclass
class Context:
    """Where things are and how loud to be; one per run of benchmarks/run.py."""

    plan: Plan
    repo: Path  # the local CPython repository of the test suite
    cache_dir: Path  # the plugin's build and venv cache (shared with the test suite)
    work_dir: Path  # kept across runs: pyperformance's venvs
    tmp: Path  # removed at the end: results stores, fresh build caches
    verbose: bool = False
    runs: int | None = None  # --runs: overrides the variant's repetitions of a repeated experiment
    parallel: str = "auto"  # --parallel: the sessions' --cpython-parallel (a section may name its own)

    def log(self, message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    def engine_log(self, message: str) -> None:
        if self.verbose:
            print(f"  [cpybench] {message}", file=sys.stderr, flush=True)

    def fresh_dir(self, prefix: str) -> Path:
        self.tmp.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=self.tmp))

    def build(self, ref: str, cache_dir: Path | None = None) -> builds.Build:
        cache = cache_dir or self.cache_dir
        commit = git.resolve(str(self.repo), ref, cache)
        return builds.ensure_build(builds.BuildRequest(commit=commit), cache, self.engine_log)

    def settings(self, **fields: object) -> Settings:
        base = Settings(repo=str(self.repo), cache_dir=self.cache_dir, threshold=THRESHOLD,
                        machine="cpybench-benchmarks", parallel=self.parallel)
        if self.plan.budget is not None:
            base = replace(base, budget=self.plan.budget)
        return replace(base, **fields)  # type: ignore[arg-type]


def variant_benchmarks(ctx: Context, by_variant: dict[str, str]) -> str:
    """A section's benchmarks for the run's variant (the standard ones for a variant it does not name)."""
    return by_variant.get(ctx.plan.name, by_variant["standard"])


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[object]]


@dataclass
class Goal:
    """A target from the issue, checked against what was measured."""

    name: str
    measured: str
    met: bool | None  # None: not enough data (or not the configuration the target is about)
    why: str = ""

    @property
    def status(self) -> str:
        if self.met is None:
            return "no verdict" + (f" ({self.why})" if self.why else "")
        return "met" if self.met else "MISSED" + (f" ({self.why})" if self.why else "")


@dataclass
class SectionResult:
    name: str
    title: str
    tables: list[Table] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, object] = field(default_factory=dict)  # raw measurements, for the JSON file
    seconds: float = 0.0
    error: str = ""


# -- descriptive statistics of what we measured -------------------------------------------


def cv(values: Sequence[float]) -> float:
    """Coefficient of variation: sample standard deviation over the mean."""
    return statistics.stdev(values) / statistics.fmean(values)


SEED_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "seed"


def seed_results(seed_dir: Path = SEED_DIR) -> Iterable[tuple[str, pyperf.Benchmark]]:
    """Every result of the faster-cpython seed files, labelled ``<python version>:<result name>``."""
    for path in sorted(seed_dir.glob("bm-*.json")):
        version = path.stem.split("-")[6]  # bm-DATE-OS-ARCH-python-SHA-VERSION-SHA7
        for bench in pyperf.BenchmarkSuite.load(str(path)).get_benchmarks():
            yield f"{version}:{bench.get_name()}", bench


def distribution(values: Sequence[float]) -> dict[str, float]:
    """min / p5 / median / p95 / max of a sample (inclusive quantiles: defined from n = 1)."""
    ordered = sorted(values)
    if not ordered:
        return {}
    if len(ordered) == 1:
        cuts = [ordered[0]] * 19
    else:
        cuts = statistics.quantiles(ordered, n=20, method="inclusive")
    return {"min": ordered[0], "p5": cuts[0], "median": statistics.median(ordered), "p95": cuts[-1],
            "max": ordered[-1], "n": len(ordered)}


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def fmt_rate(count: int, total: int) -> str:
    return f"{count}/{total} ({count / total:.0%})" if total else "0/0"


def fmt_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.started = time.monotonic()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self.started


# -- engine sessions --------------------------------------------------------------------


@dataclass
class Verdict:
    """One result's verdict against one baseline, with the numbers behind it."""

    benchmark: str
    result: str
    baseline: str
    verdict: str  # stats.Verdict name
    ratio: float
    low: float
    high: float
    rounds: int  # interleaved rounds (0: compared with a stored baseline as is)
    confirmed: bool  # re-measured interleaved because the stored comparison was not clear
    seconds: float  # the item's wall time divided among its results
    # Interleaved data only: the verdict if the processes were taken as two independent samples
    # (Welch) instead of pairs, to show what pairing changes on real data.
    unpaired_verdict: str = ""
    # Left undecided when another result of its benchmark failed and the item stopped (--cpython-decide=item).
    partial: bool = False

    @property
    def failed(self) -> bool:
        return self.verdict == stats.Verdict.REGRESSION.name


def open_session(ctx: Context, settings: Settings) -> tuple[Engine, list[BenchmarkDef]]:
    """A prepared engine and the benchmarks it will run (those the head's version supports)."""
    engine = Engine(settings, log=ctx.engine_log)
    engine.prepare()
    assert engine.head is not None
    benches = [b for b in select_benchmarks(settings)
               if definitions.supports(b, engine.head.version) is None]
    return engine, benches


def run_items(ctx: Context, engine: Engine, benches: Iterable[BenchmarkDef], label: str) -> list[MetricOutcome]:
    outcomes = []
    for bench in benches:
        outcome = engine.run(bench)
        verdicts = ", ".join(f"{name}={v}" for c in outcome.comparisons for name, v in c.verdicts.items())
        ctx.log(f"{label}: {bench.name} in {outcome.seconds:.0f} s" + (f" -> {verdicts}" if verdicts else ""))
        outcomes.append(outcome)
    return outcomes


def verdicts_of(engine: Engine, outcome: MetricOutcome) -> list[Verdict]:
    """Every verdict of an item, with the ratio and interval the engine's comparison computed."""
    found = []
    results_in_item = sum(len(c.verdicts) for c in outcome.comparisons) or 1
    for comparison in outcome.comparisons:
        if comparison.base is None:
            continue
        base, head = comparison.base, comparison.head
        interleaved = comparison.rounds > 0
        compared = engine.compare_pair(base, head, comparison.baseline, paired=interleaved,
                                       paired_confidence=engine.final_confidence(comparison.rounds))
        unpaired = engine.compare_pair(base, head, comparison.baseline) if interleaved else None
        for index, rc in enumerate(compared.results):
            reported = comparison.verdicts.get(rc.name)
            if reported != rc.verdict.name:
                raise RuntimeError(f"{rc.name}: the engine reported {reported} but its own comparison of the "
                                   f"same data gives {rc.verdict.name}")
            found.append(Verdict(
                benchmark=outcome.benchmark, result=rc.name, baseline=comparison.baseline,
                verdict=rc.verdict.name, ratio=rc.ratio, low=rc.estimate.low, high=rc.estimate.high,
                rounds=comparison.rounds, confirmed=comparison.confirmed, seconds=outcome.seconds / results_in_item,
                unpaired_verdict=unpaired.results[index].verdict.name if unpaired else "", partial=rc.partial))
    return found


def repeated_verdicts(ctx: Context, *, head: str, benchmarks: str, mode: str, reps: int, label: str,
                      folder: str) -> list[Verdict]:
    """``reps`` sessions of ``head`` against BASE_REF measured in the session (a fresh store each)."""
    found: list[Verdict] = []
    for rep in range(1, reps + 1):
        settings = ctx.settings(ref=head, baselines=(BASE_REF,), benchmarks=benchmarks, mode=mode,
                                results_dir=ctx.fresh_dir(folder), save="no")
        engine, benches = open_session(ctx, settings)
        for outcome in run_items(ctx, engine, benches, f"{label} {rep}/{reps}"):
            found.extend(verdicts_of(engine, outcome))
    return found


def count(verdicts: Iterable[Verdict], name: str) -> int:
    return sum(1 for v in verdicts if v.verdict == name)


def budget_for(rounds: int) -> Budget:
    return Budget(processes=rounds)
