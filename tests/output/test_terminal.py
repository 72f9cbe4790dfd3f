"""The pytest session's text (summary.py), on the published seed results."""

from __future__ import annotations

import pyperf
from seed import BASE_3_11, HEAD_FILE

from pytest_cpybench.cpython.targets import Target
from pytest_cpybench.options import Settings
from pytest_cpybench.output.formatting import format_comparisons
from pytest_cpybench.output.terminal import format_outcome_lines, format_session
from pytest_cpybench.results.files import load_suite
from pytest_cpybench.session.model import BaselineResult, Comparison, ItemOutcome, MetricOutcome, SessionResult
from pytest_cpybench.verdict.compare import compare_suites

HEAD = Target(label="head", python="python3", version="3.12.0a1")
SETTINGS = Settings(machine="pyperf")


def test_outcome_lines_give_each_result_then_each_comparison():
    names = ("deepcopy", "nbody")
    head = pyperf.BenchmarkSuite([load_suite(HEAD_FILE).get_benchmark(name) for name in names])
    base = pyperf.BenchmarkSuite([load_suite(BASE_3_11).get_benchmark(name) for name in names])
    stored = Comparison("3.11.0", base, head, compare_suites(base, head))
    confirmed = Comparison("main", base, head, compare_suites(base, head), confirmed=True, rounds=3)
    part = MetricOutcome("deepcopy", head, comparisons=[stored, confirmed])
    lines = format_outcome_lines(ItemOutcome("deepcopy", [part]))
    assert lines[:2] == [
        "deepcopy: 333 us ± 3 (20 processes, 60 values)",
        "nbody: 96.6 ms ± 1.9 (20 processes, 60 values)",
    ]
    assert [line.split(":")[0] for line in lines[2:]] == ["deepcopy", "nbody", "deepcopy", "nbody"]
    assert all(line.endswith(" vs 3.11.0 [stored baseline]") for line in lines[2:4])
    assert all(line.endswith(" vs main [confirmed by interleaved re-measurement, 3 rounds]") for line in lines[4:])


def test_session_summary_is_header_comparisons_errors_notes():
    base, head = load_suite(BASE_3_11), load_suite(HEAD_FILE)
    cmp = compare_suites(base, head, head_label="head")
    result = SessionResult(baselines=[BaselineResult("stored results: x.json", cmp, base, head, BASE_3_11.stem)],
                           notes=["results of head stored in y.json"])
    text = format_session([result], HEAD, SETTINGS, errors={"pyperformance::dask": "crashed"}, elapsed=12.4)
    assert text == "\n\n".join([
        "head: Python 3.12.0a1 (pyperf, default mode, 12 s)",
        format_comparisons([cmp], notes=["stored results: x.json"]),
        "benchmarks that errored (absent from the results):\n- pyperformance::dask: crashed",
        "results of head stored in y.json",
    ])


def test_without_a_baseline_the_summary_lists_the_heads_results():
    head = pyperf.BenchmarkSuite([load_suite(HEAD_FILE).get_benchmark(name) for name in ("nbody", "deepcopy")])
    lines = format_session([SessionResult(head_suite=head)], HEAD, SETTINGS, errors={}, elapsed=3).splitlines()
    assert lines[0] == "head: Python 3.12.0a1 (pyperf, default mode, 3 s)"
    assert lines[1:3] == ["", "result    mean ± stdev      processes"]
    assert lines[4].split() == ["deepcopy", "333", "us", "±", "3", "20"]
    assert lines[5].split() == ["nbody", "96.6", "ms", "±", "1.9", "20"]
    assert format_session([SessionResult()], HEAD, SETTINGS, errors={}, elapsed=3) == lines[0]
