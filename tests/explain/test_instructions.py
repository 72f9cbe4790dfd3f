"""Per-function instructions per loop from real cachegrind files (tests/data/explain: v3.13.5 and the
test repository's slowdown branch running copy.deepcopy at 100 and 200 loops)."""

import itertools
import lzma
from pathlib import Path

import pytest

from pytest_cpybench.explain import instructions
from pytest_cpybench.explain.model import Contributor

DATA = Path(__file__).parent.parent / "data" / "explain"


def _counts(side: str, loops: int) -> dict[str, int]:
    return instructions.parse(lzma.decompress((DATA / f"cachegrind.{side}.L{loops}.out.xz").read_bytes()).decode())


@pytest.fixture(scope="module")
def per_loop() -> tuple[dict[str, float], dict[str, float]]:
    return tuple(instructions.per_loop(_counts(side, 100), _counts(side, 200), 100) for side in ("base", "head"))


def test_the_parse_adds_up_to_cachegrinds_summary():
    text = lzma.decompress((DATA / "cachegrind.base.L100.out.xz").read_bytes()).decode()
    summary = int(text.rsplit("summary:", 1)[1].split()[0])
    assert sum(instructions.parse(text).values()) == summary == 45_117_952


def test_names_are_relative_to_the_source_tree_with_inlined_headers_folded_in():
    counts = _counts("base", 100)
    assert "Python/ceval.c:_PyEval_EvalFrameDefault" in counts
    assert not any(".tmp-" in name for name in counts)
    lines = instructions.parse_lines(lzma.decompress((DATA / "cachegrind.base.L100.out.xz").read_bytes()).decode())
    pieces = [value for (_file, function), value in lines.items() if function == "_PyEval_EvalFrameDefault"]
    assert len(pieces) > 1 and counts["Python/ceval.c:_PyEval_EvalFrameDefault"] == sum(pieces)


def test_the_slowdown_names_the_c_functions_that_grew(per_loop):
    base, head = per_loop
    base_total, head_total, rows = instructions.difference(base, head, top=5)
    assert 1.35 < head_total / base_total < 1.45
    assert [row.name for row in rows[:3]] == ["Objects/dictobject.c:dictiter_iternextkey",
                                              "Objects/abstract.c:PySequence_Tuple",
                                              "Objects/tupleobject.c:tupledealloc"]
    assert rows[0].base == 0 and rows[0].head == 7007
    assert 0.45 < rows[0].share < 0.5
    assert all(a.change >= b.change for a, b in itertools.pairwise(rows))


def test_a_profile_against_itself_ranks_nothing(per_loop):
    base, _ = per_loop
    assert instructions.difference(base, dict(base))[2] == []


def test_changes_within_noise_are_not_ranked():
    base = {"a.c:f": 1_000_000.0, "a.c:g": 500.0}
    head = {"a.c:f": 1_000_000.0, "a.c:g": 550.0}  # +50 of 1,000,500: under 1e-4 of the total
    assert instructions.difference(base, head)[2] == []
    head["a.c:g"] = 800.0
    assert instructions.difference(base, head)[2] == [Contributor("a.c:g", 500.0, 800.0, 1.0)]
