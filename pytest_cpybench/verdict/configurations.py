"""One change in several build configurations (``--cpython-build=release,nogil``): where the
configurations' verdicts disagree, and each configuration's effect against ``release`` (pure).

A change can speed the default build and slow the free-threaded one; each configuration is gated on
its own, and these say what a reader of the summary would otherwise piece together: the results
whose direction differs between configurations, and, as bench_runner's flag-effect plot, how each
configuration's head compares with the release build of the same commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyperf

from pytest_cpybench.verdict.compare import ResultComparison, SuiteComparison, compare_suites
from pytest_cpybench.verdict.stats import Verdict

DEFAULT_PRESET = "release"


def direction(rc: ResultComparison) -> str:
    """``faster``, ``slower`` or ``unchanged``; ``inconclusive`` when the data could not tell."""
    if rc.verdict is Verdict.FASTER:
        return "faster"
    if rc.verdict in (Verdict.REGRESSION, Verdict.SLOWER_WITHIN_THRESHOLD):
        return "slower"
    if rc.verdict is Verdict.INCONCLUSIVE:
        return "inconclusive"
    return "unchanged"


@dataclass(frozen=True)
class Disagreement:
    """One result whose verdicts differ between configurations, against one baseline."""

    result: str
    baseline: str
    by_preset: dict[str, ResultComparison]  # in the session's order of configurations

    @property
    def failed_in(self) -> list[str]:
        return [preset for preset, rc in self.by_preset.items() if rc.verdict is Verdict.REGRESSION]


def disagreements(by_preset: Mapping[str, SuiteComparison]) -> list[Disagreement]:
    """The results (against one baseline) compared in more than one configuration whose decided
    directions differ (one faster, another slower or unchanged; or one fails and another does not).
    Results only some configurations decided count on those: an inconclusive one disagrees with
    nothing."""
    names: dict[str, dict[str, ResultComparison]] = {}
    for preset, comparison in by_preset.items():
        for rc in comparison.results:
            names.setdefault(rc.name, {})[preset] = rc
    baseline = next((c.base_label for c in by_preset.values()), "")
    found = []
    for name in sorted(names):
        results = names[name]
        decided = {direction(rc) for rc in results.values()} - {"inconclusive"}
        failures = {rc.verdict is Verdict.REGRESSION for rc in results.values()}
        if len(results) > 1 and (len(decided) > 1 or len(failures) > 1):
            found.append(Disagreement(name, baseline, results))
    return found


def flag_effect(release: pyperf.BenchmarkSuite, configured: pyperf.BenchmarkSuite, preset: str, *,
                threshold: float = 0.05, confidence: float = 0.95) -> SuiteComparison:
    """The ``preset`` build of a commit against its release build (bench_runner's flag effect):
    ratios configured/release per result, and their geometric mean."""
    return compare_suites(release, configured, threshold=threshold, confidence=confidence,
                          base_label=DEFAULT_PRESET, head_label=preset)
