"""Which benchmarks a session runs: pyperformance's ``-b`` syntax (names, groups and tags,
``-name`` to exclude), and the benchmark that produces a result name (``deepcopy_memo``).

An unknown name in a selection is an error with suggestions, not a logged warning (as
``pyperformance run`` has it)."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from pytest_cpybench.errors import CpybenchError
from pytest_cpybench.suite import _pyperformance
from pytest_cpybench.suite.definitions import DEFAULT_GROUP, BenchmarkDef


def select(benchmarks: Sequence[BenchmarkDef], selection: str | None) -> list[BenchmarkDef]:
    """The benchmarks named by ``selection``, in pyperformance's ``-b`` syntax.

    Comma-separated benchmark names and group names (tags, manifest groups, ``default``,
    ``all``); a leading ``-`` excludes. With no inclusion the ``default`` group is the start.
    Names match case-insensitively. The result keeps the order of ``benchmarks``.
    """
    by_name = {bench.name.lower(): bench.name for bench in benchmarks}
    group_members = _pyperformance.group_members(benchmarks)
    included: set[str] = set()
    excluded: set[str] = set()
    unknown: list[str] = []
    any_inclusion = False
    for raw_entry in (selection or "").split(","):
        entry = raw_entry.strip()
        if not entry:
            continue
        exclude = entry.startswith("-")
        name = entry[1:].strip().lower() if exclude else entry.lower()
        if name in by_name:
            names = {by_name[name]}
        elif name in group_members:
            names = group_members[name]
        elif producer := producer_of(name, benchmarks):
            names = {producer.name}
        else:
            unknown.append(name)
            continue
        if exclude:
            excluded |= names
        else:
            any_inclusion = True
            included |= names
    if unknown:
        raise CpybenchError(_unknown_names_message(unknown, list(by_name), list(group_members)))
    if not any_inclusion:
        included = group_members[DEFAULT_GROUP]
    chosen = [
        bench for bench in benchmarks if bench.name in included and bench.name not in excluded
    ]
    if not chosen:
        raise CpybenchError(f"benchmark selection {selection!r} leaves no benchmark to run")
    return chosen


def selection_notes(benchmarks: Sequence[BenchmarkDef], selection: str | None) -> list[str]:
    """What :func:`select` read as a result name rather than a benchmark or group, said once each."""
    known = {bench.name.lower() for bench in benchmarks} | set(_pyperformance.group_members(benchmarks))
    notes = []
    for raw_entry in (selection or "").split(","):
        name = raw_entry.strip().lstrip("-").strip().lower()
        if name and name not in known and (producer := producer_of(name, benchmarks)):
            notes.append(f"{name!r} is a result of benchmark {producer.name!r}: selecting {producer.name}")
    return notes


def producer_of(result_name: str, benchmarks: Sequence[BenchmarkDef]) -> BenchmarkDef | None:
    """The benchmark whose run produces the pyperf result ``result_name``, when it can be told
    without running anything.

    Results are named in the run scripts: either literally (``bench_time_func('deepcopy_memo',
    ...)``, ``"many_optionals"``, chosen by the benchmark's extra options when several
    benchmarks share one script) or as ``'<benchmark>_%s' % name`` (``logging_format``,
    ``scimark_fft``, ``xml_etree_parse``). A literal found in exactly one run script wins;
    otherwise the longest benchmark name followed by ``_`` that starts the result name.
    """
    name = result_name.strip().lower()
    literal = re.compile(r"""['"]""" + re.escape(name) + r"""['"]""", re.IGNORECASE)
    by_literal = [bench for bench in benchmarks if literal.search(_script_text(bench.runscript))]
    if len(by_literal) > 1:  # one script, several benchmarks: the options pick the result
        by_literal = [bench for bench in by_literal if name in (opt.lower() for opt in bench.extra_opts)]
    if len(by_literal) == 1:
        return by_literal[0]
    prefixed = [bench for bench in benchmarks if name.startswith(bench.name.lower() + "_")]
    return max(prefixed, key=lambda bench: len(bench.name), default=None)


@functools.cache
def _script_text(path: str) -> str:
    try:
        return Path(path).read_text("utf-8", errors="replace")
    except OSError:
        return ""


def known_tags(benchmarks: Iterable[BenchmarkDef] | None = None) -> list[str]:
    """Sorted tag names (apps, asyncio, math, …) of ``benchmarks`` (default: the default suite)."""
    if benchmarks is None:
        benchmarks = _pyperformance.load_benchmarks()
    return sorted({tag for bench in benchmarks for tag in bench.tags})


def _unknown_names_message(unknown: list[str], names: list[str], groups: list[str]) -> str:
    choices = [*names, *groups]
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
        suggestion = f" (did you mean {', '.join(close)}?)" if close else ""
        parts.append(f"{name!r}{suggestion}")
    noun = "benchmark or group" if len(unknown) == 1 else "benchmarks or groups"
    return (
        f"unknown {noun}: {'; '.join(parts)}; "
        f"use benchmark names or the groups {', '.join(sorted(groups))}"
    )
