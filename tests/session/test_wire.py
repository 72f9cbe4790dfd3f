"""The controller/worker seam: an item's outcome survives the xdist wire with its verdicts."""

from __future__ import annotations

import json

import pyperf
from seed import BASE_3_10, HEAD_FILE

from pytest_cpybench.measure import interleaved
from pytest_cpybench.options import Settings, settings_from
from pytest_cpybench.output import junit, terminal
from pytest_cpybench.results.files import load_suite
from pytest_cpybench.session import wire
from pytest_cpybench.session.engine import Engine
from pytest_cpybench.session.gate import Gate
from pytest_cpybench.session.model import Comparison, ItemOutcome, MetricOutcome
from pytest_cpybench.verdict import compare


def _subset(path: object, names: list[str]) -> pyperf.BenchmarkSuite:
    suite = load_suite(str(path))
    return pyperf.BenchmarkSuite([suite.get_benchmark(name) for name in names])


def _item(engine: Engine, head: pyperf.BenchmarkSuite, *comparisons: Comparison) -> ItemOutcome:
    return ItemOutcome("mixed", [MetricOutcome("mixed", head, comparisons=list(comparisons), seconds=1.5,
                                               metric=engine.settings.metric)])


def test_an_outcome_comes_back_from_the_wire_with_the_same_verdicts() -> None:
    gate = Gate(settings_from({"cpython-memory-threshold": "10%"}), log=lambda _message: None)
    engine = gate.engine
    names = ["coverage", "nbody", "json_dumps"]  # a regression, and two others, in the seed
    base, head = _subset(BASE_3_10, names), _subset(HEAD_FILE, names)
    comparison = engine._compare("3.10.4", base, head)
    outcome = _item(engine, head, comparison)

    sent = wire.dump_item(outcome)
    json.loads(sent)  # plain JSON, as execnet needs
    back = gate.outcome_from_wire(sent)

    assert terminal.failure_lines(back) == terminal.failure_lines(outcome)
    assert any("coverage" in line for line in terminal.failure_lines(back))
    assert terminal.inconclusive_lines(back) == terminal.inconclusive_lines(outcome)
    assert back.comparisons[0].verdicts == comparison.verdicts
    assert [rc.ratio for rc in back.comparisons[0].memory] == [rc.ratio for rc in comparison.memory]
    assert back.parts[0].head_suite.get_benchmark_names() == head.get_benchmark_names()
    assert junit.properties(back) == junit.properties(outcome)


def test_an_outcome_measured_alongside_keeps_its_marks_and_its_verdicts_over_the_wire() -> None:
    """A head measured alongside against a stored baseline measured alone: the verdicts the
    controller re-makes from the wire must be the worker's, so the marks must travel."""
    gate = Gate(settings_from({}), log=lambda _message: None)
    engine = gate.engine
    names = ["coverage", "nbody"]
    base = _subset(BASE_3_10, names)
    head = pyperf.BenchmarkSuite([interleaved.alongside(bench, 1)
                                  for bench in _subset(HEAD_FILE, names).get_benchmarks()])
    comparison = engine._compare("3.10.4", base, head)
    assert all(rc.mixed_load for rc in comparison.result.results)
    back = gate.outcome_from_wire(wire.dump_item(_item(engine, head, comparison)))
    assert back.comparisons[0].verdicts == comparison.verdicts
    for bench in back.parts[0].head_suite.get_benchmarks():
        assert compare.load_of(bench) == {1}, bench.get_name()
    assert compare.load_of(back.comparisons[0].base.get_benchmark("nbody")) == {0}


def test_junit_properties_say_when_the_sides_ran_at_once() -> None:
    engine = Engine(Settings(threshold=0.05), log=lambda _message: None)
    base, head = _subset(BASE_3_10, ["nbody"]), _subset(HEAD_FILE, ["nbody"])
    at_once = [pyperf.BenchmarkSuite([interleaved.alongside(suite.get_benchmark("nbody"), 1)])
               for suite in (base, head)]
    for suites, how in (((base, head), "interleaved, 5 rounds"), (at_once, "interleaved at once, 5 rounds")):
        comparison = engine._compare("3.10.4", *suites, rounds=5)
        outcome = _item(engine, suites[1], comparison)
        assert dict(junit.properties(outcome))["cpybench.nbody.vs.3.10.4.how"] == how
