"""Samples per symbol from real ``perf script`` output (tests/data/explain: v3.13.5, six times, and the
slowdown branch, five times, running copy.deepcopy under ``perf record -e cpu-clock --call-graph dwarf``
with CPython's perf trampoline)."""

import lzma
from pathlib import Path

import pytest

from pytest_cpybench.explain import samples

DATA = Path(__file__).parent.parent / "data" / "explain"
LOOPS = 100_000
PERIOD_MS = 1000 / 999


def _recorded(side: str, repetition: int) -> samples.Samples:
    text = lzma.decompress((DATA / f"perf-script.{side}.{repetition}.txt.xz").read_bytes()).decode()
    return samples.parse_script(text)


@pytest.fixture(scope="module")
def per_loop() -> dict[str, list[dict[str, float]]]:
    return {side: [samples.per_loop(_recorded(side, r), LOOPS, PERIOD_MS) for r in repetitions]
            for side, repetitions in (("base", range(6)), ("head", range(5)))}


def test_python_functions_are_named_by_their_file_in_the_standard_library():
    recorded = _recorded("head", 0)
    assert recorded.total > 100
    assert "py::deepcopy:Lib/copy.py" in recorded.inclusive
    # Most samples have copy.deepcopy on their stack: the statement does little else.
    assert recorded.inclusive["py::deepcopy:Lib/copy.py"] > recorded.total / 3
    assert not any("/install/" in name for name in recorded.inclusive)
    assert recorded.own.most_common(1)[0][0] == "_PyEval_EvalFrameDefault"


def test_the_slowdown_ranks_deepcopy_and_the_dict_iteration(per_loop):
    base_total, head_total, rows, tested = samples.difference(per_loop["base"][:5], per_loop["head"],
                                                              min_samples_ms=10 * PERIOD_MS / LOOPS)
    assert head_total > 1.2 * base_total and tested > 5
    names = [row.name for row in rows]
    assert "py::deepcopy:Lib/copy.py" in names[:3], rows
    assert "dictiter_iternextkey" in names, rows
    assert all(abs(row.change) > row.noise for row in rows)


def test_an_a_a_pair_ranks_nothing(per_loop):
    _base_total, _head_total, rows, tested = samples.difference(per_loop["base"][:3], per_loop["base"][3:],
                                                                min_samples_ms=10 * PERIOD_MS / LOOPS)
    assert tested > 5 and rows == []


def test_a_frame_line_gives_its_symbol():
    assert samples._symbol("\t    7f54d4db6d9a py::deepcopy:/x/install/lib/python3.13/copy.py (/tmp/perf-1.map)") == \
        "py::deepcopy:Lib/copy.py"
    assert samples._symbol("\t  ffffffff815bb1ae page_cache_ra_unbounded+0x1a ([kernel.kallsyms])") == \
        "page_cache_ra_unbounded"
    assert samples._symbol(" 5236 ") is None
