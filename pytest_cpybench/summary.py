"""Session-level text for the pytest terminal: per-item result lines and the final summary.

Formatting of single comparisons lives in :mod:`report`; this module puts a whole
session together (blocks per baseline as on faster-cpython's results pages, the tables of
significant changes, errors, and where the results were stored).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tabulate import tabulate

from . import compare, report, stats

if TYPE_CHECKING:
    from .engine import Engine, ItemOutcome, SessionResult


def format_outcome_lines(outcome: ItemOutcome) -> list[str]:
    """``mean ± stdev`` of each result, then one line per baseline comparison."""
    from .engine import load_suite_text

    lines = []
    for bench in load_suite_text(outcome.head_suite).get_benchmarks():
        lines.append(f"{bench.get_name()}: {compare.mean_stdev_text(bench)} "
                     f"({len(stats.process_means(bench))} processes, {len(bench.get_values())} values)")
    for comparison in outcome.comparisons:
        how = (f"interleaved, {comparison.rounds} rounds" if comparison.rounds else "stored baseline")
        if comparison.confirmed:
            how = f"confirmed by interleaved re-measurement, {comparison.rounds} rounds"
        lines.extend(f"{message} [{how}]" for message in comparison.messages)
    return lines


def _results_table(result: SessionResult) -> str:
    from .engine import load_suite_text

    rows = []
    path = result.head_path
    if not path:
        return ""
    suite = load_suite_text(open(path).read())
    for bench in sorted(suite.get_benchmarks(), key=lambda b: b.get_name()):
        rows.append((bench.get_name(), compare.mean_stdev_text(bench), len(stats.process_means(bench))))
    return tabulate(rows, headers=("result", "mean ± stdev", "processes"))


def format_session(result: SessionResult, engine: Engine, errors: dict[str, str], elapsed: float) -> str:
    parts: list[str] = []
    assert engine.head is not None
    parts.append(f"{engine.head.label}: Python {engine.head.version} "
                 f"({engine.settings.machine}, {engine.settings.mode} mode, {elapsed:.0f} s)")
    for note, cmp in result.comparisons:
        parts.append(report.format_summary_block(cmp) + f"\n  ({note})")
    if any(cmp.different_suites for _, cmp in result.comparisons):
        parts.append(report.format_legend())
    for _, cmp in result.comparisons:
        table = report.format_changes_table(cmp)
        if table.strip():
            parts.append(f"significant changes vs. {cmp.base_label}:\n{table}")
    if not result.comparisons:
        table = _results_table(result)
        if table:
            parts.append(table)
    if errors:
        parts.append("benchmarks that errored (absent from the results):\n"
                     + "\n".join(f"- {nodeid}: {reason}" for nodeid, reason in sorted(errors.items())))
    parts.extend(result.notes)
    return "\n\n".join(parts)
