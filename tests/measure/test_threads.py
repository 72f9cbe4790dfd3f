"""Thread scaling: pyperformance's own thread-using function (concurrent_imap's bench_thread_pool) at
1 and N threads, under the host interpreter (a GIL build: integration tier)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pytest_cpybench.measure import threads
from pytest_cpybench.suite import _pyperformance


def test_the_suites_thread_using_function_at_1_and_2_threads(subprocesses: None) -> None:
    bench = next(b for b in _pyperformance.load_benchmarks(()) if b.name == "concurrent_imap")
    assert "ThreadPool" in Path(bench.runscript).read_text()  # the function is the suite's, not ours
    # The runscript needs only pyperf, which the host interpreter has.
    scaling = threads.measure_scaling(Path(sys.executable), bench.runscript, "concurrent_imap", 2, repeats=5)
    assert scaling.gil is True  # the host interpreter is not free-threaded
    assert len(scaling.one) == len(scaling.many) == 5 and min(scaling.one + scaling.many) > 0
    assert scaling.ratio == pytest.approx(sorted(scaling.one)[2] / sorted(scaling.many)[2])
    text = scaling.text("head")
    assert text.startswith("head: concurrent_imap's bench_thread_pool at 1 and 2 threads (GIL enabled): ")
    assert text.endswith(f"scaling {scaling.ratio:.2f}x (5 calls each, medians)")


def test_a_failing_interpreter_is_one_line(subprocesses: None, tmp_path: Path) -> None:
    script = tmp_path / "run_benchmark.py"
    script.write_text("raise ImportError('no module named pyperf')\n")
    with pytest.raises(RuntimeError, match=r"bench_thread_pool failed at 1 and 2 threads: ImportError: no module"):
        threads.measure_scaling(Path(sys.executable), str(script), "concurrent_imap", 2, repeats=1)


def test_only_the_suites_thread_using_benchmarks_are_scaled() -> None:
    assert threads.thread_benchmark("concurrent_imap") == ("bench_thread_pool", (1000, 10))
    assert threads.thread_benchmark("nbody") is None
