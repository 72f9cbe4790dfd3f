"""Session-level text for the pytest terminal: per-item result lines and the final summary.

Formatting of single comparisons lives in :mod:`report`; this module puts a whole
session together (blocks per baseline as on faster-cpython's results pages, the tables of
significant changes, errors, and where the results were stored).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tabulate import tabulate

from pytest_cpybench.output import formatting
from pytest_cpybench.verdict import compare, stats

if TYPE_CHECKING:
    from pytest_cpybench.session.engine import Engine, ItemOutcome, SessionResult


def format_outcome_lines(outcome: ItemOutcome) -> list[str]:
    """``mean ± stdev`` of each result, then one line per baseline comparison."""
    lines = []
    for bench in outcome.head_suite.get_benchmarks():
        lines.append(f"{bench.get_name()}: {compare.mean_stdev_text(bench)} "
                     f"({len(stats.process_means(bench))} processes, {len(bench.get_values())} values)")
    for comparison in outcome.comparisons:
        how = (f"interleaved, {comparison.rounds} rounds" if comparison.rounds else "stored baseline")
        if comparison.confirmed:
            how = f"confirmed by interleaved re-measurement, {comparison.rounds} rounds"
        lines.extend(f"{message} [{how}]" for message in comparison.messages)
    return lines


def _results_table(result: SessionResult) -> str:
    """The head's results when there is no baseline: ``mean ± stdev`` and process count."""
    if result.head_suite is None:
        return ""
    rows = []
    for bench in sorted(result.head_suite.get_benchmarks(), key=lambda b: b.get_name()):
        rows.append((bench.get_name(), compare.mean_stdev_text(bench), len(stats.process_means(bench))))
    return tabulate(rows, headers=("result", "mean ± stdev", "processes"))


def format_session(result: SessionResult, engine: Engine, errors: dict[str, str], elapsed: float) -> str:
    parts: list[str] = []
    assert engine.head is not None
    parts.append(f"{engine.head.label}: Python {engine.head.version} "
                 f"({engine.settings.machine}, {engine.settings.mode} mode, {elapsed:.0f} s)")
    if result.comparisons:
        parts.append(formatting.format_comparisons([cmp for _, cmp in result.comparisons],
                                               notes=[note for note, _ in result.comparisons]))
    else:
        table = _results_table(result)
        if table:
            parts.append(table)
    if errors:
        parts.append("benchmarks that errored (absent from the results):\n"
                     + "\n".join(f"- {nodeid}: {reason}" for nodeid, reason in sorted(errors.items())))
    if result.bisections:
        parts.append("\n".join(result.bisections))
    parts.extend(result.notes)
    return "\n\n".join(parts)
