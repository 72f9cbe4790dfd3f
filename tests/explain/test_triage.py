"""Triage on real data: faster-cpython's published results (3.11.0's mypy2 has a slow first value in
every process)."""

import statistics

import pyperf
import pytest
from seed import BASE_3_11, HEAD_FILE

from pytest_cpybench.explain import triage
from pytest_cpybench.explain.model import BIMODAL, CODE, ENVIRONMENT, LAYOUT


@pytest.fixture(scope="module")
def suites() -> tuple[pyperf.BenchmarkSuite, pyperf.BenchmarkSuite]:
    return pyperf.BenchmarkSuite.load(str(BASE_3_11)), pyperf.BenchmarkSuite.load(str(HEAD_FILE))


def test_mypy2_of_3_11_as_the_head_is_bimodal_its_first_values(suites):
    v311, v312 = suites
    # 3.11.0 as the head, 3.12.0a1 as the base: its mean is 1.28x, its median barely moved.
    reason = triage.bimodal_reason(v312.get_benchmark("mypy2"), v311.get_benchmark("mypy2"), 0.05)
    assert reason is not None
    assert "(1.28x)" in reason and "medians" in reason and "(1.03x)" in reason
    assert "value 1 of each head process is slow" in reason
    kind, why = triage.classify(environment=[], bimodal=reason, instructions=None, metric="time")
    assert (kind, why) == (BIMODAL, reason)


def test_a_result_whose_median_moved_as_far_is_never_bimodal(suites):
    v311, v312 = suites
    names = sorted(set(v311.get_benchmark_names()) & set(v312.get_benchmark_names()))
    checked = 0
    for base, head in ((v311, v312), (v312, v311)):
        for name in names:
            b, h = base.get_benchmark(name).get_values(), head.get_benchmark(name).get_values()
            if statistics.median(h) / statistics.median(b) >= 1.05:
                checked += 1
                assert triage.bimodal_reason(base.get_benchmark(name), head.get_benchmark(name), 0.05) is None, name
    assert checked > 10  # json_dumps, unpickle_pure_python, xml_etree_parse, ... slowed down whole


def test_position_means_are_the_means_of_each_value_position(suites):
    v311, _ = suites
    means = triage.position_means(v311.get_benchmark("mypy2"))
    assert len(means) == 3 and means[0] > 1.5 * means[1] and abs(means[1] / means[2] - 1) < 0.02


def test_groups_split_at_the_largest_gap():
    assert triage.groups([1.0] * 10 + [2.0] * 3) == (1.0, 2.0, 3)
    assert triage.groups([1.0, 1.01, 1.02, 1.03, 1.04]) is None
    assert triage.groups([1.0] * 40 + [2.0]) is None  # one value in 41: not a group


def test_environment_differences_list_versions_and_compiled_wheels():
    base = {"mypy": "1.0 (compiled)", "pyperf": "2.11.0", "six": "1.16"}
    head = {"mypy": "1.0", "pyperf": "2.11.0", "attrs": "23.1"}
    assert triage.environment_differences(base, head) == [
        "attrs: 23.1 on the head only", "mypy: 1.0 (compiled) on the base, 1.0 on the head",
        "six: 1.16 on the base only"]
    kind, reason = triage.classify(environment=triage.environment_differences(base, head), bimodal="x",
                                   instructions=(1.0, 2.0), metric="time")
    assert kind == ENVIRONMENT and reason.startswith("the benchmark environments differ: attrs")


def test_code_when_instructions_grew_layout_when_they_did_not_under_time():
    assert triage.classify(environment=[], bimodal=None, instructions=(1000.0, 1100.0), metric="time") == (
        CODE, "the interpreter does more work: instructions per loop 1,000 -> 1,100 (1.1000x)")
    # --cpython-explain=profile explains faster results too.
    assert triage.classify(environment=[], bimodal=None, instructions=(1100.0, 1000.0), metric="time")[1].startswith(
        "the interpreter does less work")
    kind, reason = triage.classify(environment=[], bimodal=None, instructions=(1000.0, 1001.0), metric="time")
    assert kind == LAYOUT and "1.0010x" in reason
    # Under the instruction metric a failure is more instructions by definition: never layout.
    assert triage.classify(environment=[], bimodal=None, instructions=(1000.0, 1001.0),
                           metric="instructions")[0] == CODE
    assert triage.classify(environment=[], bimodal=None, instructions=None, metric="time",
                           profile_moved=True) == (CODE, "the time profile moved (instructions not counted)")
