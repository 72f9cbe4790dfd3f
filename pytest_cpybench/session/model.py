"""What a session works with and produces, as plain data: baselines, each item's outcome, the
session's result. Text for people is made from these in :mod:`pytest_cpybench.output`; JSON for
the xdist wire in :mod:`.wire`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import pyperf

from pytest_cpybench.cpython.builds import DEFAULT_PRESET
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.cpython.targets import Target
from pytest_cpybench.explain.model import Explanation
from pytest_cpybench.verdict.compare import ResultComparison, SuiteComparison, measured_alongside
from pytest_cpybench.verdict.stats import Verdict

HEAD = "head"  # the label of the session's own interpreter among the sides measured


class BaselineKind(enum.Enum):
    STORED = "stored"  # results of the store, confirmed by re-measuring when they disagree
    MEASURE = "measure"  # built and measured in this session, interleaved with the head
    FILE = "file"  # --cpython-baseline-file: compared as it is


@dataclass
class Baseline:
    """What one ``--cpython-baseline`` entry (or the baseline file) compares against."""

    label: str
    kind: BaselineKind
    note: str  # where its data comes from, for people
    commit: Commit | None = None
    suite: pyperf.BenchmarkSuite | None = None  # STORED / FILE: the results compared with
    target: Target | None = None  # MEASURE (after build): the interpreter
    paths: tuple[str, ...] = ()  # STORED / FILE: the files the results come from, newest first

    @property
    def measured(self) -> bool:
        return self.kind is BaselineKind.MEASURE


@dataclass
class Comparison:
    """One baseline compared with the head on the results of one benchmark."""

    baseline: str
    base: pyperf.BenchmarkSuite | None  # the data compared (stored subset or interleaved measurement)
    head: pyperf.BenchmarkSuite
    result: SuiteComparison | None  # None: the baseline has no result of this benchmark
    confirmed: bool = False  # re-measured interleaved because the stored data was not clear
    rounds: int = 0  # interleaved rounds (0: compared with stored data as it is)
    memory: list[ResultComparison] = field(default_factory=list)  # with --cpython-memory-threshold
    metric: str = "time"  # what was compared: "time" or "instructions"

    @property
    def results(self) -> list[ResultComparison]:
        return self.result.results if self.result else []

    @property
    def verdicts(self) -> dict[str, str]:
        return {rc.name: rc.verdict.name for rc in self.results}

    def with_verdict(self, verdict: Verdict) -> list[ResultComparison]:
        """Time results with that verdict (then peak-memory ones, when the baseline has the result)."""
        if self.result is None:
            return []
        return [rc for rc in self.results + self.memory if rc.verdict is verdict]

    @property
    def failed(self) -> bool:
        return bool(self.with_verdict(Verdict.REGRESSION))

    @property
    def undecided(self) -> bool:
        """Some result (time or memory) is inconclusive: more rounds may decide it."""
        return bool(self.with_verdict(Verdict.INCONCLUSIVE))

    @property
    def measured_at_once(self) -> bool:
        return bool(self.rounds) and measured_alongside(self.head)


@dataclass
class MetricOutcome:
    """What measuring one benchmark in one metric produced: the head's results and each baseline's
    verdicts (one engine's part of an item)."""

    benchmark: str
    head_suite: pyperf.BenchmarkSuite
    measured_baselines: dict[str, pyperf.BenchmarkSuite] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    seconds: float = 0.0
    metric: str = "time"
    preset: str = DEFAULT_PRESET  # the build configuration measured
    notes: list[str] = field(default_factory=list)  # what the summary reports beside verdicts (thread scaling)
    # Why results are slower (--cpython-explain), measured after their verdicts.
    explanations: list[Explanation] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(c.failed for c in self.comparisons)

    @property
    def undecided(self) -> bool:
        return any(c.undecided for c in self.comparisons)


@dataclass
class ItemOutcome:
    """One benchmark in every metric of the session (``--cpython-metric=time,instructions``: two
    parts): what its item reports. It fails when any part does."""

    benchmark: str
    parts: list[MetricOutcome] = field(default_factory=list)

    @property
    def comparisons(self) -> list[Comparison]:
        return [c for part in self.parts for c in part.comparisons]

    @property
    def failed(self) -> bool:
        return any(part.failed for part in self.parts)

    @property
    def undecided(self) -> bool:
        return any(part.undecided for part in self.parts)

    @property
    def seconds(self) -> float:
        return sum(part.seconds for part in self.parts)

    @property
    def several_metrics(self) -> bool:
        return len({part.metric for part in self.parts}) > 1

    @property
    def preset(self) -> str:
        """The build configuration of the item (one per item)."""
        return self.parts[0].preset if self.parts else DEFAULT_PRESET

    @property
    def explanations(self) -> list[Explanation]:
        return [e for part in self.parts for e in part.explanations]


@dataclass
class BaselineResult:
    """One baseline against the session's head, as a whole: what the summary and pages show."""

    note: str  # where the baseline's data came from
    comparison: SuiteComparison
    base: pyperf.BenchmarkSuite  # the data each verdict used, plus what the baseline has and the head lacks
    head: pyperf.BenchmarkSuite
    base_name: str  # the file the baseline's results are in (a bench_runner stem), for pages


@dataclass
class SessionResult:
    """One metric's results of the session: stored, compared with each baseline, published."""

    metric: str = "time"
    preset: str = DEFAULT_PRESET  # the build configuration: results are compared only within one
    head_path: str = ""
    head_suite: pyperf.BenchmarkSuite | None = None  # every result of the head, as stored
    baselines: list[BaselineResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # results that could not be stored (exit 8)
    bisections: list[str] = field(default_factory=list)  # --cpython-bisect=yes: what each bisection found
    explanations: list[Explanation] = field(default_factory=list)  # --cpython-explain: why results are slower

    @property
    def comparisons(self) -> list[tuple[str, SuiteComparison]]:
        return [(b.note, b.comparison) for b in self.baselines]
