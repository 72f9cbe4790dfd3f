"""hosts.py: which xdist distributions a session accepts, and the CPUs each local worker gets."""

from __future__ import annotations

import re

import pytest

from pytest_cpybench import hosts
from pytest_cpybench.errors import CpybenchError


@pytest.mark.parametrize(("text", "cpus", "normal"), [
    ("0", [0], "0"),
    ("0-3", [0, 1, 2, 3], "0-3"),
    ("3,0-1", [0, 1, 3], "0-1,3"),
    ("2-2, 5", [2, 5], "2,5"),
    ("0-1,1-2", [0, 1, 2], "0-2"),
])
def test_cpu_lists_parse_and_print_as_taskset_writes_them(text: str, cpus: list[int], normal: str) -> None:
    assert hosts.parse_cpu_list(text) == cpus
    assert hosts.format_cpu_list(cpus) == normal


@pytest.mark.parametrize("text", ["", "a", "0-", "3-1", "-1", "1;2", "0,,1"])
def test_a_cpu_list_that_is_not_one_says_so(text: str) -> None:
    with pytest.raises(CpybenchError, match=re.escape("is not a CPU list: give e.g. 1, 0-3 or 0,2")):
        hosts.parse_cpu_list(text)


@pytest.mark.parametrize(("cpus", "workers", "groups"), [
    ([0, 1], 2, [[0], [1]]),
    ([0, 1, 2, 3, 4], 2, [[0, 1, 2], [3, 4]]),
    ([4, 6, 5, 7], 2, [[4, 5], [6, 7]]),
    ([0, 1, 2], 3, [[0], [1], [2]]),
])
def test_each_local_worker_gets_cpus_of_its_own(cpus: list[int], workers: int, groups: list[list[int]]) -> None:
    found = hosts.cpu_groups(cpus, workers)
    assert found == groups
    flat = [cpu for group in found for cpu in group]
    assert sorted(flat) == sorted(cpus) and len(flat) == len(set(flat))  # disjoint, none left idle


def test_more_workers_than_cpus_is_refused_with_what_to_give() -> None:
    with pytest.raises(CpybenchError) as raised:
        hosts.cpu_groups([0, 1], 3)
    assert str(raised.value) == ("-n 3: 3 workers would share the 2 CPUs this session may use (0-1), and "
                                 "benchmarks sharing a CPU slow each other down; give -n 2 or fewer")


def test_gateways_expand_xdist_shorthand_and_read_the_machine_name() -> None:
    found = hosts.gateways(["2*popen", "popen//env:CPYBENCH_MACHINE=alpha", "ssh=me@box//python=python3"])
    assert [(g.spec, g.local, g.machine) for g in found] == [
        ("popen", True, None), ("popen", True, None), ("popen//env:CPYBENCH_MACHINE=alpha", True, "alpha"),
        ("ssh=me@box//python=python3", False, None)]


def test_local_workers_are_pinned_only_when_there_are_several() -> None:
    assert hosts.local_worker_cpus(["popen"], "0-1") is None
    assert hosts.local_worker_cpus(["2*popen"], "0-3") == ["0-1", "2-3"]
    with pytest.raises(CpybenchError, match="-n 2: 2 workers would share the 1 CPU this session may use"):
        hosts.local_worker_cpus(["popen", "popen"], "3")


@pytest.mark.parametrize(("specs", "dist", "message"), [
    (["ssh=me@box//python=python3"], "load", "--tx ssh=me@box//python=python3 runs items on another machine"),
    (["popen//env:CPYBENCH_MACHINE=alpha", "popen//env:CPYBENCH_MACHINE=beta"], "each",
     "names another machine (CPYBENCH_MACHINE=alpha)"),
    (["popen", "popen"], "each", "--dist each runs every benchmark on each of 2 workers of this one machine"),
])
def test_distributions_that_would_mislabel_results_are_refused(specs: list[str], dist: str, message: str) -> None:
    with pytest.raises(CpybenchError) as raised:
        hosts.check_distribution(hosts.gateways(specs), dist, "here")
    assert message in str(raised.value)


@pytest.mark.parametrize(("specs", "dist"), [
    (["popen", "popen"], "load"),
    (["popen", "popen"], "loadscope"),
    (["popen//env:CPYBENCH_MACHINE=here", "popen"], "load"),  # names this very machine
    (["popen"], "each"),
])
def test_distributions_on_this_machine_are_accepted(specs: list[str], dist: str) -> None:
    hosts.check_distribution(hosts.gateways(specs), dist, "here")
