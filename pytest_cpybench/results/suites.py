"""pyperf result suites as the session handles them: merged, cut to some results, as text."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterable

import pyperf


def dump_suite(suite: pyperf.BenchmarkSuite) -> str:
    buffer = io.StringIO()
    suite.dump(buffer)
    return buffer.getvalue()



def load_suite_text(text: str) -> pyperf.BenchmarkSuite:
    return pyperf.BenchmarkSuite.loads(text)



def merge_suites(suites: Iterable[pyperf.BenchmarkSuite | None]) -> pyperf.BenchmarkSuite | None:
    """A new suite holding copies of every result of ``suites`` (runs of a result measured
    twice are added); the inputs are left as they are."""
    merged: pyperf.BenchmarkSuite | None = None
    for suite in suites:
        if suite is None:
            continue
        benches = copy.deepcopy(list(suite.get_benchmarks()))
        if merged is None:
            merged = pyperf.BenchmarkSuite(benches)
            continue
        for bench in benches:
            if bench.get_name() in merged.get_benchmark_names():
                merged.add_runs(bench)
            else:
                merged.add_benchmark(bench)
    return merged



def subset(suite: pyperf.BenchmarkSuite, names: set[str]) -> pyperf.BenchmarkSuite | None:
    """The results of ``suite`` named in ``names`` (None: none of them)."""
    benches = [b for b in suite.get_benchmarks() if b.get_name() in names]
    return pyperf.BenchmarkSuite(benches) if benches else None



def overlay(full: pyperf.BenchmarkSuite, used: pyperf.BenchmarkSuite | None) -> pyperf.BenchmarkSuite:
    """``used``'s results, then those of ``full`` that ``used`` lacks."""
    if used is None:
        return full
    replaced = set(used.get_benchmark_names())
    benches = list(used.get_benchmarks()) + [b for b in full.get_benchmarks() if b.get_name() not in replaced]
    return pyperf.BenchmarkSuite(benches)
