"""The tables faster-cpython publishes: what ``pyperf compare_to -G --table --table-format=md`` prints.

Two rules of that layout come from pyperf and are reproduced as pyperf applies them (the
significance test itself is pyperf's, through :mod:`pytest_cpybench._pyperf`):

* A result is *hidden* when pyperf's t-test over all values finds no significant difference.
  That test is not our verdict (ours is over process means, see :mod:`pytest_cpybench.verdict.stats`):
  a page can hide a result our verdicts call a regression, and the verdict section says so.
* Row order: ``-G`` sorts rows by ratio (fastest first), but pyperf sorts its list of results
  while drawing the *first* table, after that table's rows were picked: the first tag's table
  keeps the baseline file's order, every later table is sorted. Both published seed pages show
  it (``apps`` is in file order, ``math`` and the others by ratio).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyperf

from pytest_cpybench import _pyperf
from pytest_cpybench.output.formatting import format_ratio
from pytest_cpybench.results.naming import results_stem
from pytest_cpybench.verdict import compare

if TYPE_CHECKING:
    from pytest_cpybench.output.pages import Side


@dataclass(frozen=True)
class _Row:
    name: str
    base: pyperf.Benchmark
    head: pyperf.Benchmark
    ratio: float  # pyperf's "normalized mean": mean(head) / mean(base)
    significant: bool  # pyperf's test
    tags: tuple[str, ...]  # the baseline's, as pyperf reads them



def pyperf_tables(base: Side, head: Side) -> str:
    """What ``pyperf compare_to -G --table --table-format=md BASE HEAD`` prints (pyperf 2.4 to 2.11).

    One table per tag (tags from the baseline's results, in name order), then "All benchmarks:",
    each with a geometric mean row when it has two results or more and shows one, pyperf's
    "Benchmark hidden because not significant (N): …" line, then "Ignored benchmarks (N) of
    FILE: …" for the results only one side has. Rows and hidden names are in pyperf's order
    (see the module's docstring). Our code; only the significance test is pyperf's.
    """
    head_names = set(head.suite.get_benchmark_names())
    rows = []
    for name in base.suite.get_benchmark_names():  # pyperf keeps the first file's order
        if name not in head_names:
            continue
        # Different values per process on the two sides: each process's first value.
        base_bench, head_bench = compare.like_for_like(base.suite.get_benchmark(name), head.suite.get_benchmark(name))
        rows.append(_Row(name, base_bench, head_bench, head_bench.mean() / base_bench.mean(),
                         _pyperf.is_significant(base_bench, head_bench), compare.result_tags(base_bench)))
    if not rows:
        return "Benchmark suites have no benchmark in common\n"
    columns = _column_names(base.name, head.name)
    by_ratio = sorted(rows, key=lambda row: row.ratio)  # stable: ties keep the file's order
    tags = sorted({tag for row in rows for tag in row.tags})
    lines: list[str] = []
    for index, tag in enumerate(tags):
        title = f"Benchmarks with tag '{tag}':"
        lines += [title, "=" * len(title), ""]
        source = rows if index == 0 else by_ratio  # pyperf sorts its list while drawing the first table
        lines += _pyperf_table(columns, [row for row in source if tag in row.tags])
        lines.append("")
    if tags:
        lines += ["All benchmarks:", "=" * len("All benchmarks:"), ""]
    lines += _pyperf_table(columns, by_ratio)
    for side, other in ((base, head), (head, base)):
        ignored = sorted(set(side.suite.get_benchmark_names()) - set(other.suite.get_benchmark_names()))
        if ignored:
            lines.append(f"Ignored benchmarks ({len(ignored)}) of {_file_name(side.name)}: {', '.join(ignored)}")
    return "\n".join(lines) + "\n"



def overall_geometric_mean(table: str) -> str | None:
    """The geometric mean bench_runner shows for a table page (``Comparison.geometric_mean``): the
    head's cell of its last "Geometric mean" row, the one over all benchmarks when there are tags;
    None when pyperf wrote none (every result hidden, or a single result)."""
    found = None
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) > 3 and cells[1] == "Geometric mean":
            found = cells[3]
    return found


def _pyperf_table(columns: tuple[str, str], rows: Sequence[_Row]) -> list[str]:
    cells = []
    hidden = []
    for row in rows:
        if row.significant:
            cells.append([row.name, row.base.format_value(row.base.mean()),
                          f"{row.head.format_value(row.head.mean())}: {format_ratio(row.ratio)}"])
        else:
            hidden.append(row.name)
    if len(rows) > 1 and cells:
        cells.append(["Geometric mean", "(ref)", format_ratio(statistics.geometric_mean(r.ratio for r in rows))])
    lines = _markdown_table(["Benchmark", *columns], cells) if cells else []
    if hidden:
        if cells:
            lines.append("")
        lines.append(f"Benchmark hidden because not significant ({len(hidden)}): {', '.join(hidden)}")
    return lines



def _markdown_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """pyperf's markdown table: cells padded to the column, the first column left, others centered."""
    widths = [max(len(row[column]) for row in [headers, *rows]) for column in range(len(headers))]

    def render(row: list[str]) -> str:
        return "|" + "|".join(f" {cell.ljust(width)} " for cell, width in zip(row, widths, strict=True)) + "|"

    rule = "|" + "|".join("-" * (width + 2) if column == 0 else f":{'-' * width}:"
                          for column, width in enumerate(widths)) + "|"
    return [render(headers), rule, *(render(row) for row in rows)]



def _column_names(base_name: str, head_name: str) -> tuple[str, str]:
    """pyperf's names of the two files: stems, or more when the stems are alike."""
    if Path(base_name).name == Path(head_name).name:
        return base_name, head_name
    if results_stem(base_name) == results_stem(head_name):
        return Path(base_name).name, Path(head_name).name
    return results_stem(base_name), results_stem(head_name)



def _file_name(name: str) -> str:
    return name if name.endswith((".json", ".json.gz")) else f"{name}.json"
