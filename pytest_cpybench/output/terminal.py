"""Text for the terminal: an item's verdict lines (its failure message, its warnings) and the
session's summary at the end.

Single comparisons are written by :mod:`.formatting`; this module puts an item and a whole
session together (blocks per baseline as on faster-cpython's results pages, the tables of
significant changes, errors, and where the results were stored).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tabulate import tabulate

from pytest_cpybench.output import explanations, formatting
from pytest_cpybench.output.formatting import (
    format_confidence,
    format_failure_message,
    format_interval,
    format_result_line,
    format_threshold,
)
from pytest_cpybench.session.model import Comparison, ItemOutcome, SessionResult
from pytest_cpybench.verdict import compare, configurations, stats
from pytest_cpybench.verdict.compare import ResultComparison, SuiteComparison
from pytest_cpybench.verdict.stats import Verdict

if TYPE_CHECKING:
    from pytest_cpybench.cpython.targets import Target
    from pytest_cpybench.options import Settings


def failure_lines(outcome: ItemOutcome) -> list[str]:
    """Why an item failed: one line per result beyond its threshold, against each baseline (with
    several metrics, each line starts with its metric), each followed by why it is slower when it
    was explained (--cpython-explain: its kind and each profile's top contributors)."""
    lines = []
    for part in outcome.parts:
        for c in part.comparisons:
            prefix = _metric_prefix(outcome, c)
            for rc in c.results:
                if rc.verdict is Verdict.REGRESSION:
                    lines.append(prefix + format_failure_message(rc, c.baseline))
                    lines += explanations.item_lines(part.explanations, rc.name, c.baseline)
            lines += [prefix + _memory_failure(rc, c.baseline) for rc in c.memory if rc.verdict is Verdict.REGRESSION]
    return lines


def inconclusive_lines(outcome: ItemOutcome) -> list[str]:
    """One warning per result the data could not decide, against each baseline."""
    return [_metric_prefix(outcome, c) + line for c in outcome.comparisons for line in _inconclusive_lines(c)]


def _metric_prefix(outcome: ItemOutcome, comparison: Comparison) -> str:
    return f"{comparison.metric}: " if outcome.several_metrics else ""


def _inconclusive_lines(c: Comparison) -> list[str]:
    return [f"{format_result_line(rc)} vs {c.baseline}" for rc in c.results
            if rc.verdict is Verdict.INCONCLUSIVE] + [
        f"{rc.name} peak memory: {rc.ratio:.2f}x, inconclusive: the {format_interval(rc.estimate)} "
        f"interval includes the {format_threshold(rc.threshold)} threshold vs {c.baseline}"
        for rc in c.memory if rc.verdict is Verdict.INCONCLUSIVE]


def _memory_failure(rc: ResultComparison, baseline: str) -> str:
    return (f"{rc.name}: peak memory {rc.ratio:.2f}x that of {baseline} "
            f"({rc.base_mean / 2**20:.1f} MiB -> {rc.head_mean / 2**20:.1f} MiB, memory threshold "
            f"{format_threshold(rc.threshold)}, {format_confidence(rc.estimate.confidence)} interval "
            f"{format_interval(rc.estimate)})")


def comparison_lines(c: Comparison) -> list[str]:
    """Every result's line against one baseline (a failure's is its failure message)."""
    if c.result is None:
        return [f"{', '.join(c.head.get_benchmark_names())}: not in baseline {c.baseline}"]
    return [format_failure_message(rc, c.baseline) if rc.verdict is Verdict.REGRESSION
            else f"{format_result_line(rc)} vs {c.baseline}" for rc in c.results]


def how_measured(c: Comparison) -> str:
    """How the data of a comparison was measured: ``interleaved at once, 5 rounds``."""
    at_once = " at once" if c.measured_at_once else ""
    if c.confirmed:
        return f"confirmed by interleaved re-measurement{at_once}, {c.rounds} rounds"
    return f"interleaved{at_once}, {c.rounds} rounds" if c.rounds else "stored baseline"


def format_outcome_lines(outcome: ItemOutcome) -> list[str]:
    """Per metric, ``mean ± stdev`` of each result, then one line per baseline comparison."""
    lines = []
    for part in outcome.parts:
        prefix = f"{part.metric}: " if outcome.several_metrics else ""
        for bench in part.head_suite.get_benchmarks():
            lines.append(f"{prefix}{bench.get_name()}: {compare.mean_stdev_text(bench)} "
                         f"({len(stats.process_means(bench))} processes, {len(bench.get_values())} values)")
        for comparison in part.comparisons:
            how = how_measured(comparison)
            lines.extend(f"{prefix}{message} [{how}]" for message in comparison_lines(comparison))
        lines.extend(f"{prefix}{note}" for note in part.notes)
    return lines


def _results_table(result: SessionResult) -> str:
    """The head's results when there is no baseline: ``mean ± stdev`` and process count."""
    if result.head_suite is None:
        return ""
    rows = []
    for bench in sorted(result.head_suite.get_benchmarks(), key=lambda b: b.get_name()):
        rows.append((bench.get_name(), compare.mean_stdev_text(bench), len(stats.process_means(bench))))
    return tabulate(rows, headers=("result", "mean ± stdev", "processes"))


def disagreement_lines(by_preset: dict[str, SuiteComparison], metric: str = "time") -> list[str]:
    """One line per result whose verdicts differ between configurations (against one baseline):
    ``deepcopy: release 1.02x faster, nogil 1.04x slower (vs v3.13.5)``."""
    what = "" if metric == "time" else f" ({metric})"
    lines = []
    for found in configurations.disagreements(by_preset):
        verdicts = ", ".join(f"{preset} {_ratio_verdict(rc)}" for preset, rc in found.by_preset.items())
        lines.append(f"{found.result}{what}: {verdicts} (vs {found.baseline})")
    return lines


def _ratio_verdict(rc: ResultComparison) -> str:
    text = formatting.format_ratio(rc.ratio) if rc.ratio != 1.0 else "1.00x"
    if rc.verdict is Verdict.REGRESSION:
        return f"{text} (fails)"
    if rc.verdict is Verdict.INCONCLUSIVE:
        return f"{text} (inconclusive)"
    if rc.verdict is Verdict.UNCHANGED:
        return f"{text} (unchanged)"
    return text


def disagreement_blocks(results: list[SessionResult]) -> list[str]:
    """Where the configurations of a session disagree, per metric and baseline (none: nothing)."""
    blocks = []
    for metric in dict.fromkeys(result.metric for result in results):
        by_baseline: dict[str, dict[str, SuiteComparison]] = {}
        for result in results:
            if result.metric == metric:
                for baseline in result.baselines:
                    by_baseline.setdefault(baseline.comparison.base_label, {})[result.preset] = baseline.comparison
        lines = [line for by_preset in by_baseline.values() for line in disagreement_lines(by_preset, metric)]
        if lines:
            blocks.append("configurations disagree:\n" + "\n".join(f"- {line}" for line in lines))
    return blocks


def format_session(results: list[SessionResult], head: Target, settings: Settings, errors: dict[str, str],
                   elapsed: float) -> str:
    """The session's summary: its head, then per metric the blocks of its baselines (or the head's
    results), the benchmarks that errored, bisections, and where results went."""
    parts = [f"{head.label}: Python {head.version} ({settings.machine}, {settings.mode} mode, {elapsed:.0f} s)"]
    several_presets = len({result.preset for result in results}) > 1
    several_metrics = len({result.metric for result in results}) > 1
    for result in results:
        if several_presets or several_metrics:
            threshold = formatting.format_threshold(settings.metric_thresholds.get(result.metric, settings.threshold))
            what = [result.preset] if several_presets else []
            what += [result.metric] if several_metrics else []
            parts.append(f"== {', '.join(what)} (threshold {threshold})")
        if result.comparisons:
            parts.append(formatting.format_comparisons([cmp for _, cmp in result.comparisons],
                                                       notes=[note for note, _ in result.comparisons]))
        else:
            table = _results_table(result)
            if table:
                parts.append(table)
    if several_presets:
        parts.extend(disagreement_blocks(results))
    if errors:
        parts.append("benchmarks that errored (absent from the results):\n"
                     + "\n".join(f"- {nodeid}: {reason}" for nodeid, reason in sorted(errors.items())))
    for result in results:
        if result.bisections:
            parts.append("\n".join(result.bisections))
        parts.extend(result.notes)
    return "\n\n".join(parts)
