"""The engine's rules for one benchmark, on faster-cpython's published results (tests/data/seed):
which stored results a head is compared with, when an item stops, what is "missing", and the
lines of a session gating two metrics."""

from __future__ import annotations

from pathlib import Path

import pyperf
import pytest
from seed import BASE_3_10, BASE_3_11, HEAD_FILE

from pytest_cpybench.cpython.targets import Target
from pytest_cpybench.measure.interleaved import alongside
from pytest_cpybench.options import settings_from
from pytest_cpybench.output import terminal
from pytest_cpybench.output.formatting import format_changes_table, format_result_line
from pytest_cpybench.results import metadata as md
from pytest_cpybench.results.files import load_suite
from pytest_cpybench.results.identity import RunIdentity, RunKey
from pytest_cpybench.results.store import ResultsStore
from pytest_cpybench.session.engine import Engine
from pytest_cpybench.session.measurement import Measured
from pytest_cpybench.session.model import HEAD, Baseline, BaselineKind, ItemOutcome, MetricOutcome
from pytest_cpybench.suite import _pyperformance
from pytest_cpybench.suite.definitions import BenchmarkDef
from pytest_cpybench.verdict import looks
from pytest_cpybench.verdict.stats import Verdict


@pytest.fixture(scope="module")
def benchmarks() -> dict[str, BenchmarkDef]:
    return {bench.name: bench for bench in _pyperformance.load_benchmarks()}


def _engine(**options: str) -> Engine:
    return Engine(settings_from({f"cpython-{k.replace('_', '-')}": v for k, v in options.items()}),
                  log=lambda _message: None)


def _stored(suite: pyperf.BenchmarkSuite) -> Baseline:
    return Baseline(label="3.11.0", kind=BaselineKind.STORED, note="stored", suite=suite)


def _marked_alongside(suite: pyperf.BenchmarkSuite, names: set[str]) -> pyperf.BenchmarkSuite:
    return pyperf.BenchmarkSuite([alongside(b, 1) if b.get_name() in names else b for b in suite.get_benchmarks()])


def test_stored_results_are_used_per_benchmark_when_measured_like_the_head(benchmarks) -> None:
    """A head measured alone compares with stored results measured alone; a benchmark whose stored
    results were measured alongside another side is measured again with the head (None here), and
    the other benchmarks of the same baseline keep their stored results."""
    stored = _marked_alongside(load_suite(BASE_3_11), {"nbody"})
    baseline = _stored(stored)
    engine = _engine()
    assert engine._stored_of(baseline, benchmarks["nbody"]) is None
    deepcopy = engine._stored_of(baseline, benchmarks["deepcopy"])
    assert deepcopy is not None  # the seed has no cpybench_benchmark stamp: results found by name
    assert sorted(deepcopy.get_benchmark_names()) == ["deepcopy", "deepcopy_memo", "deepcopy_reduce"]
    # Refusing to measure again: the stored results as they are (compared with a margin).
    kept = _engine(confirm="never")._stored_of(baseline, benchmarks["nbody"])
    assert kept is not None and kept.get_benchmark_names() == ["nbody"]
    # Instruction counts do not depend on what ran beside them: alike whatever the marks.
    assert _engine(metric="instructions")._stored_of(baseline, benchmarks["nbody"]) is not None


def _counts(per_loop: float, repetitions: int = 3) -> pyperf.BenchmarkSuite:
    runs = [pyperf.Run([per_loop + jitter], warmups=None, collect_metadata=False,
                       metadata={"name": "nbody", "unit": "integer", md.METRIC: md.METRIC_INSTRUCTIONS})
            for jitter in (0.0, 1.0, 2.0)[:repetitions]]
    return pyperf.BenchmarkSuite([pyperf.Benchmark(runs)])


@pytest.mark.parametrize("head, again", [(1_000_000, False), (1_005_000, True), (1_013_000, True),
                                         (1_050_000, False), (990_000, False)])
def test_stored_counts_are_counted_again_only_near_their_threshold(head: float, again: bool) -> None:
    """Counts do not drift, but move up to 0.72% with their environment: a stored count compared
    within that of the 1% threshold is counted again on both sides, in this session."""
    engine = _engine(metric="instructions")
    comparison = engine._compare("v3.13.5", _counts(1_000_000), _counts(head))
    assert engine.measurement.needs_confirming(comparison) is again


@pytest.mark.parametrize("head, again", [(1_050_000, True), (1_007_000, True), (1_000_000, False),
                                         (990_000, False)])
def test_a_failure_on_one_count_of_a_side_is_counted_again(head: float, again: bool) -> None:
    """A head counted once against a stored count (a side counted alone): a ratio near or beyond the
    limit is counted again on both sides together, so that a failure never rests on one count."""
    engine = _engine(metric="instructions")
    comparison = engine._compare("v3.13.5", _counts(1_000_000, repetitions=1), _counts(head, repetitions=1))
    assert engine.measurement.needs_confirming(comparison) is again


def _deepcopy_suites() -> tuple[pyperf.BenchmarkSuite, pyperf.BenchmarkSuite]:
    """3.10.4 as the head against 3.12.0a1: deepcopy's three results 1.29x to 1.51x slower."""
    names = ["deepcopy", "deepcopy_memo", "deepcopy_reduce"]
    base, head = load_suite(HEAD_FILE), load_suite(BASE_3_10)
    return (pyperf.BenchmarkSuite([base.get_benchmark(n) for n in names]),
            pyperf.BenchmarkSuite([head.get_benchmark(n) for n in names]))


def test_an_item_stops_once_it_fails_and_its_undecided_results_are_partial(tmp_path: Path) -> None:
    base, head = _deepcopy_suites()
    # At 30%, deepcopy_memo (1.51x) is clearly beyond and deepcopy_reduce (1.31x) straddles it.
    engine = _engine(threshold="30%")
    first = engine._compare("3.12.0a1", base, head, rounds=20)
    verdicts = {rc.name: rc.verdict for rc in first.results}
    assert verdicts["deepcopy_memo"] is Verdict.REGRESSION
    undecided = [name for name, v in verdicts.items() if v is Verdict.INCONCLUSIVE]
    assert undecided == ["deepcopy_reduce"], verdicts
    suites = {"3.12.0a1": base, HEAD: head}
    assert engine._decided(["3.12.0a1"])(suites)  # the item fails whatever deepcopy_reduce does
    assert not _engine(threshold="30%", decide="all")._decided(["3.12.0a1"])(suites)
    # Rounds the cost cap cut short were not stopped by the failure: nothing is partial.
    engine._mark_undecided(Measured(suites, 18, cut_short=True), ["3.12.0a1"])
    assert not any(rc.partial for rc in engine._compare("3.12.0a1", base, head, rounds=18).results)
    engine._mark_undecided(Measured(suites, 20), ["3.12.0a1"])
    again = engine._compare("3.12.0a1", base, head, rounds=20)
    partial = [rc for rc in again.results if rc.partial]
    assert {rc.name for rc in partial} == set(undecided)
    assert "measuring stopped once another result of its benchmark failed" in format_result_line(partial[0])
    assert "undecided, their benchmark stopped once another of its results failed" in format_changes_table(
        again.result)
    # Never a baseline: the store skips the benchmark (its results, as a session stamps them) in that file.
    md.add_to_results(head, {md.BENCHMARK_NAME: "deepcopy"})
    identity = RunIdentity(commit_sha="9d38120e335357a3b2941b8b5d8b2c8f3d0e4b7a", commit_date="2022-03-23T00:00:00",
                           version="3.10.4", ref="v3.10.4", machine="box")
    store = ResultsStore(tmp_path)
    store.save(identity, head)
    found = store.baseline(RunKey(identity.commit_sha, "box"))
    assert found.suite is None
    assert any("partial" in warning for warning in found.skipped)


def test_the_missing_list_names_only_the_sessions_benchmarks(benchmarks) -> None:
    """A -k or -m session measures a few benchmarks against a stored baseline of many: the others
    are not "missing"; a benchmark of the session the head lacks is."""
    base, head = load_suite(BASE_3_11), load_suite(HEAD_FILE)
    engine = _engine()
    engine.plan.head = Target(label="head", python="python3", version="3.12.0a1")
    engine.plan.baselines = [_stored(base)]
    nbody = pyperf.BenchmarkSuite([head.get_benchmark("nbody")])
    outcome = MetricOutcome("nbody", nbody, comparisons=[engine._compare("3.11.0", pyperf.BenchmarkSuite(
        [base.get_benchmark("nbody")]), nbody)])
    alone = engine.finish([outcome], [benchmarks["nbody"]])
    assert alone.baselines[0].comparison.missing == []
    with_deepcopy = engine.finish([outcome], [benchmarks["nbody"], benchmarks["deepcopy"]])
    assert with_deepcopy.baselines[0].comparison.missing == ["deepcopy", "deepcopy_memo", "deepcopy_reduce"]


def test_with_two_metrics_each_line_says_which_failed() -> None:
    base, head = _deepcopy_suites()
    time_engine, count_engine = _engine(), _engine(metric="instructions")
    parts = [MetricOutcome("deepcopy", head, comparisons=[time_engine._compare("3.12.0a1", base, head)]),
             MetricOutcome("deepcopy", head, comparisons=[count_engine._compare("3.12.0a1", base, head)],
                           metric="instructions")]
    lines = terminal.failure_lines(ItemOutcome("deepcopy", parts))
    assert [line.split(": ")[0] for line in lines] == ["time"] * 3 + ["instructions"] * 3
    assert lines[0].startswith("time: deepcopy: 1.32x slower than 3.12.0a1 (")
    alone = terminal.failure_lines(ItemOutcome("deepcopy", parts[:1]))
    assert alone[0].startswith("deepcopy: 1.32x slower than 3.12.0a1 (")  # one metric: no prefix


def test_rounds_cut_short_are_judged_at_the_last_looks_confidence_in_the_item_and_the_session() -> None:
    """The cost cap stopped deepcopy's rounds at 18 of 40: the verdict's interval is at the error the
    checks at 20, 28 and 40 did not spend (looks.final_look_confidence), a check's while the rounds
    went on, and the session's table judges each benchmark at its own item's confidence."""
    base, head = _deepcopy_suites()
    engine = _engine()
    grid = looks.check_rounds(5, 40)
    per_check, last = looks.look_confidence(0.95, grid), looks.final_look_confidence(0.95, grid, 18, cut_short=True)
    assert last < per_check
    cut = engine._compare("3.12.0a1", base, head, rounds=18)
    assert [rc.estimate.confidence for rc in cut.results] == [last] * 3
    looked = engine._compare("3.12.0a1", base, head, rounds=1, looking=True)
    assert [rc.estimate.confidence for rc in looked.results] == [per_check] * 3
    at_check = engine._compare("3.12.0a1", base, head, rounds=20)
    assert [rc.estimate.confidence for rc in at_check.results] == [per_check] * 3
    outcome = MetricOutcome("deepcopy", head, comparisons=[cut])
    baseline = Baseline(label="3.12.0a1", kind=BaselineKind.MEASURE, note="measured", suite=None)
    engine.plan.head = Target(label="head", python="/usr/bin/python3", version="3.12.0a1")
    session = engine._session_comparison(baseline, [outcome], head, {}, [])
    assert session is not None
    assert [(rc.name, rc.verdict, rc.estimate.confidence) for rc in session[0].results] == [
        (rc.name, rc.verdict, rc.estimate.confidence) for rc in cut.results]
