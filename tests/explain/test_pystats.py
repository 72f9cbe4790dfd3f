"""pystats comparisons on real data: summarize_stats.py's comparison tables of v3.13.5 against the test
repository's ``despecialize`` branch (LOAD_ATTR never specializes) running richards, recorded in
tests/data/explain (README.md there says how): ranked per loop, shown under a failing item's verdict,
in JUnit properties, the pages and the comment, carried over the xdist wire; which CPython versions
can be compared at all."""

from __future__ import annotations

import json
import lzma
from pathlib import Path
from typing import Any

import pytest

from pytest_cpybench.errors import CpybenchError
from pytest_cpybench.explain import pystats, pystats_tables
from pytest_cpybench.explain.model import (
    CODE,
    Explanation,
    PystatsChange,
    PystatsDiff,
    explanation_data,
    explanation_from,
)
from pytest_cpybench.options import settings_from
from pytest_cpybench.output import explanations

DATA = Path(__file__).parent.parent / "data" / "explain"


def _recorded(name: str) -> dict[str, Any]:
    return json.loads(lzma.decompress((DATA / name).read_bytes()))


def _diff() -> PystatsDiff:
    recorded = _recorded("richards.pystats-comparison.json.xz")
    loops = recorded["loops"]
    return PystatsDiff("richards", "v3.13.5", "despecialize",
                       pystats_tables.changes_from_tables(recorded["tables"], loops["base"], loops["head"]),
                       results=["richards"], loops=loops,
                       files={"base": "/r/explain/x/richards.base.pystats.json",
                              "head": "/r/explain/x/richards.head.pystats.json"})


def test_the_largest_change_is_load_attr_failing_to_specialize() -> None:
    diff = _diff()
    top = diff.changes[0]
    assert (top.section, top.family) == ("specialization", "LOAD_ATTR")
    # Every one of the top five is about LOAD_ATTR's specialization: hits and misses of its specialized
    # forms gone, no success, more deferred, failures up from nothing.
    assert [c.label for c in diff.changes[:5]] == [
        "LOAD_ATTR specialization hit", "LOAD_ATTR specialization miss", "LOAD_ATTR specialization success",
        "LOAD_ATTR specialization deferred", "LOAD_ATTR specialization failure (other)"]
    by_label = {c.label: c for c in diff.changes}
    assert by_label["LOAD_ATTR specialization success"].head == 0 < by_label["LOAD_ATTR specialization success"].base
    assert by_label["LOAD_ATTR specialization failure (other)"].base == 0
    deferred = by_label["LOAD_ATTR specialization deferred"]
    assert deferred.head > 2 * deferred.base
    # The executions they drive come right after, the largest first, then the other sections.
    assert [c.label for c in diff.changes[8:11]] == [
        "LOAD_ATTR executions", "LOAD_ATTR_INSTANCE_VALUE executions", "LOAD_ATTR_METHOD_WITH_VALUES executions"]
    assert {c.section for c in diff.changes[13:]} <= {"specialization effectiveness", "objects"}
    # Nothing unchanged is listed, and the instructions nobody's specialization changed are not there.
    assert all(c.base != c.head for c in diff.changes)
    assert not [c for c in diff.changes if c.family in ("STORE_ATTR", "CALL", "BINARY_OP")]


def test_scores_are_ratios_with_a_floor() -> None:
    # From nothing to a handful ranks below a doubling of a count the size of the floor's scale.
    assert pystats_tables.score(0, 5, 1_000_000) < pystats_tables.score(1_000, 2_000, 1_000_000)
    assert pystats_tables.score(10, 20, 0) == pytest.approx(pystats_tables.score(20, 10, 0))
    assert pystats_tables.score(7, 7, 1_000) == 0


def test_an_execution_count_belongs_to_the_longest_family_naming_it() -> None:
    families = {"CALL", "CALL_KW", "LOAD_ATTR"}

    def execution(name: str) -> PystatsChange:
        return PystatsChange("execution", name, "execution count", 1, 2)

    assert pystats_tables.family_of(execution("CALL_KW_PY"), families) == "CALL_KW"
    assert pystats_tables.family_of(execution("CALL_PY_EXACT_ARGS"), families) == "CALL"
    assert pystats_tables.family_of(execution("LOAD_FAST"), families) == ""
    assert pystats_tables.family_of(PystatsChange("objects", "", "increfs", 1, 2), families) == ""


def test_the_lines_per_loop() -> None:
    lines = _diff().lines()
    assert lines[0] == "LOAD_ATTR specialization hit: 867,361 -> 0 per loop (-867,361)"
    assert lines[4] == "LOAD_ATTR specialization failure (other): 0 -> 367 per loop (+367)"
    assert len(lines) == 5
    assert PystatsDiff("b", "x", "y").lines() == ["pystats: no count changed between x and y"]


def _explained(diff: PystatsDiff) -> Explanation:
    return Explanation("richards", "v3.13.5", CODE, "the result is slower and nothing else explains it",
                       folder="/r/explain/x", pystats=diff)


def test_the_failing_items_message_has_the_top_five_under_its_verdict() -> None:
    lines = explanations.item_lines([_explained(_diff())], "richards", "v3.13.5")
    assert lines[0].startswith("  why (code): ")
    assert lines[1] == "    pystats: counts per loop, v3.13.5 -> despecialize (one run per side, 12 loops)"
    assert lines[2] == "      LOAD_ATTR specialization hit: 867,361 -> 0 per loop (-867,361)"
    assert len(lines) == 7


def test_what_cannot_be_done_is_one_line_under_the_verdict() -> None:
    line = pystats.cannot_compare("3.11.2")
    diff = PystatsDiff("richards", "v3.11.2", "v3.13.5", unavailable=line)
    assert explanations.item_lines([_explained(diff)], "richards", "v3.13.5")[1:] == [f"    {line}"]
    props = dict(explanations.properties([_explained(diff)]))
    assert props["cpybench.richards.why.pystats.1"] == line and "cpybench.richards.why.pystats.2" not in props


def test_junit_properties_number_the_pystats_lines() -> None:
    props = dict(explanations.properties([_explained(_diff())]))
    assert props["cpybench.richards.why.pystats.1"] == "LOAD_ATTR specialization hit: 867,361 -> 0 per loop (-867,361)"
    assert "cpybench.richards.why.pystats.5" in props and "cpybench.richards.why.pystats.6" not in props
    assert props["cpybench.richards.why.pystats.files"] == ("/r/explain/x/richards.base.pystats.json "
                                                           "/r/explain/x/richards.head.pystats.json")


def test_the_pages_and_the_comment_show_the_pystats() -> None:
    page = explanations.markdown_section([_explained(_diff())])
    assert "**pystats: counts per loop, v3.13.5 -> despecialize" in page
    assert "| LOAD_ATTR specialization hit | 867,361 | 0 | -867,361 |" in page
    assert page.count("| LOAD_ATTR") == 10  # the pages show ten
    assert "summarize_stats.py BASE.json HEAD.json" in page
    assert "cachegrind" not in page  # no profile was made: its raw files are not offered
    comment = explanations.comment_section([_explained(_diff())])
    assert "  - pystats: LOAD_ATTR specialization hit: 867,361 -> 0 per loop (-867,361); " in comment


def test_a_pystats_diff_crosses_the_wire() -> None:
    explained = _explained(_diff())
    back = explanation_from(json.loads(json.dumps(explanation_data(explained))))
    assert back == explained and back.pystats is not None and back.pystats.changes[0] == explained.pystats.changes[0]
    plain = Explanation("richards", "v3.13.5", CODE, "r")
    assert explanation_from(json.loads(json.dumps(explanation_data(plain)))) == plain


@pytest.mark.parametrize(("version", "line"), [
    ("3.13.5", ""), ("3.12.0", ""), ("3.14.0a1", ""),
    ("3.11.2", "cannot compare pystats on CPython 3.11: summarize_stats.py compares two runs from 3.12"),
    ("3.10.4", "cannot compare pystats on CPython 3.10: summarize_stats.py compares two runs from 3.12"),
])
def test_which_versions_summarize_stats_compares(version: str, line: str) -> None:
    assert pystats.cannot_compare(version) == line


def test_the_explain_modes() -> None:
    assert settings_from({}).explain == "auto"
    assert settings_from({"cpython-explain": "pystats"}).explain == "pystats"
    assert settings_from({"cpython-explain": "all"}).explain == "all"
    with pytest.raises(CpybenchError, match="choose one of no, auto, profile, pystats, all"):
        settings_from({"cpython-explain": "stats"})
