"""Baselines, verdicts and the summary, end to end with real builds.

The local repository has three commits on top of v3.13.5 (tests/support/cpython_repo.py):
``slowdown`` makes copy.deepcopy slower, ``speedup`` faster, ``neutral`` touches nothing
benchmarked. deepcopy (three results) is the benchmark they change; nbody is the control.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyperf
import pytest
from helpers import pytest_run
from seed import BASE_3_11

from pytest_cpybench.errors import EXIT_INFRASTRUCTURE
from pytest_cpybench.measure import cpus
from pytest_cpybench.results import metadata as md

BENCHMARKS = "--cpython-benchmarks=deepcopy,nbody"


@pytest.fixture
def base_args(repo: Path, cache_dir: Path, tmp_path: Path) -> list[str]:
    # A budget of 12 process pairs keeps each benchmark under a minute; the changes made by the
    # test commits are far larger than what 12 pairs can resolve.
    return [f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}", "--cpython-mode=fast",
            "--cpython-budget=12", f"--cpython-results-dir={tmp_path / 'results'}", "-v"]


def _stored(tmp_path: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted((tmp_path / "results").rglob("*.json"))}


def test_slowdown_fails_exactly_the_slowed_items(base_args: list[str], tmp_path: Path) -> None:
    # Every result decided (not only until deepcopy fails): the results stored are whole, none partial,
    # so the next session finds all of deepcopy's in the store and confirms them.
    # The sides at once (as auto measures them where the cores do not slow each other down).
    done = pytest_run(*base_args, "--cpython-ref=slowdown", "--cpython-baseline=v3.13.5", BENCHMARKS,
                      "--cpython-decide=all", "--cpython-parallel=yes", cwd=tmp_path)
    out = done.stdout
    assert done.returncode == 1, out
    assert "pyperformance::deepcopy FAILED" in out
    assert "1 failed" in out  # nbody, untouched, passes (or, on a noisy machine, is inconclusive)
    assert "pyperformance::nbody FAILED" not in out
    assert "x slower than v3.13.5 (" in out  # the failure message with both means
    assert "vs. v3.13.5\n- " in out and "x slower" in out.split("vs. v3.13.5")[1]
    assert "not in the results store: built and measured in this session" in out
    # The baseline measured in this session was stored: the next session finds it.
    assert any("-v3.13.5-" in name for name in _stored(tmp_path))
    # With xdist workers, the controller builds what a confirmation re-measures before they start:
    # no build runs beside another worker's measurement.
    again = pytest_run(*base_args, "--cpython-ref=slowdown", "--cpython-baseline=v3.13.5", BENCHMARKS,
                       "-n", "2", cwd=tmp_path)
    assert again.returncode == 1
    assert "baseline v3.13.5: stored results:" in again.stdout
    before_workers = again.stdout.split("created: 2/2 workers")[0]
    assert "baseline v3.13.5: built now for confirmations, before the workers start" in before_workers
    # The first session measured the sides at once; with -n 2 they are measured in turn,
    # so the stored baseline, measured otherwise, is measured again in the head's rounds.
    assert "deepcopy: v3.13.5's stored results were measured otherwise than the head is: measured again " \
        "with it" in again.stdout
    assert "[interleaved, " in again.stdout  # deepcopy's result lines (-v)
    # An item that had to build says so in its captured output, shown with its failure.
    assert "confirming against v3.13.5 by interleaved re-measurement" not in again.stdout


def test_speedup_passes_as_faster(base_args: list[str], tmp_path: Path) -> None:
    done = pytest_run(*base_args, "--cpython-ref=speedup", "--cpython-baseline=v3.13.5",
                      "--cpython-benchmarks=deepcopy", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert "FAILED" not in done.stdout
    summary = done.stdout.split("vs. v3.13.5")[1]
    assert summary.startswith("\n- 1.") and "x faster" in summary.splitlines()[1]


def test_a_change_no_benchmark_exercises_fails_nothing(base_args: list[str], tmp_path: Path) -> None:
    # An A/A check: `neutral` touches only a comment. (The same commit as its own baseline is
    # refused: tests/plugin/test_bad_input.py.)
    done = pytest_run(*base_args, "--cpython-ref=neutral", "--cpython-baseline=v3.13.5", BENCHMARKS,
                      cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert "FAILED" not in done.stdout


def test_two_baselines_give_two_blocks(base_args: list[str], tmp_path: Path) -> None:
    done = pytest_run(*base_args, "--cpython-ref=neutral", "--cpython-baseline=v3.13.5,slowdown",
                      "--cpython-benchmarks=deepcopy", cwd=tmp_path)
    out = done.stdout
    assert done.returncode == 0, out  # neutral is not slower than either
    assert "\nvs. v3.13.5\n- " in out
    assert "\nvs. slowdown\n- " in out
    assert "x faster" in out.split("vs. slowdown")[1]  # neutral lacks the slowdown


def test_merge_base_is_the_fork_point_with_main(base_args: list[str], shas: dict[str, str],
                                                tmp_path: Path) -> None:
    done = pytest_run(*base_args, "--cpython-ref=slowdown", "--cpython-baseline=merge-base",
                      "--cpython-benchmarks=deepcopy", cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    assert f"vs. merge-base ({shas['v3.13.5'][:7]})" in done.stdout  # where the branch left main
    assert "pyperformance::deepcopy FAILED" in done.stdout


def test_corrupt_baseline_file_is_a_clear_error(base_args: list[str], tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"version": "1.0", "benchmarks": [{"metadata": ')
    done = pytest_run(*base_args, "--cpython-ref=v3.13.5", f"--cpython-baseline-file={corrupt}",
                      BENCHMARKS, cwd=tmp_path)
    assert done.returncode == EXIT_INFRASTRUCTURE
    assert f"cpybench: results file {corrupt} is corrupt" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert corrupt.read_text() == '{"version": "1.0", "benchmarks": [{"metadata": '


def test_corrupt_file_in_store_is_skipped_with_a_warning(base_args: list[str], tmp_path: Path) -> None:
    first = pytest_run(*base_args, "--cpython-ref=v3.13.5", "--cpython-benchmarks=nbody", cwd=tmp_path)
    assert first.returncode == 0
    (stored,) = _stored(tmp_path)
    Path(stored).write_text("{ truncated")
    done = pytest_run(*base_args, "--cpython-ref=neutral", "--cpython-baseline=v3.13.5",
                      "--cpython-benchmarks=nbody", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert f"warning: skipped a results file: results file {stored} is corrupt" in done.stdout
    assert Path(stored).read_text() == "{ truncated"  # never modified


def test_baseline_from_another_machine_says_so(base_args: list[str], tmp_path: Path) -> None:
    seed = BASE_3_11
    done = pytest_run(*base_args, "--cpython-ref=v3.13.5", f"--cpython-baseline-file={seed}",
                      "--cpython-confirm=never", "--cpython-benchmarks=nbody", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stdout
    assert "vs. 3.11.0" in done.stdout
    assert "another machine" in done.stdout


# A progress line printed while a benchmark is being measured (shown with -s): "deepcopy: running
# (default mode)" for one interpreter, "deepcopy: round 2 (5 s)" when baseline and head interleave.
MEASURING = re.compile(r"\[cpybench\] \w+: (running|round \d+)")


def _default_sigint() -> None:
    # A background job (`cmd &` in a script, as CI runners may start the suite) inherits SIGINT
    # ignored, and Python then never raises KeyboardInterrupt: give the session Ctrl-C back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_interrupted_session_leaves_the_store_intact(base_args: list[str], tmp_path: Path) -> None:
    first = pytest_run(*base_args, "--cpython-ref=v3.13.5", "--cpython-benchmarks=nbody", cwd=tmp_path)
    assert first.returncode == 0
    before = _stored(tmp_path)
    assert before
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *base_args, "-s",
                             "--cpython-ref=v3.13.5", "--cpython-baseline=neutral", BENCHMARKS],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, env=env, preexec_fn=_default_sigint)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []
    deadline = time.monotonic() + 3600  # a cold cache builds the baseline first
    try:
        while True:
            try:
                line = lines.get(timeout=max(1.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail("no benchmark started measuring within an hour:\n" + "".join(seen))
            if line is None:
                pytest.fail("the session ended before a benchmark was measured:\n" + "".join(seen))
            seen.append(line)
            if MEASURING.search(line):
                break
        os.kill(proc.pid, signal.SIGINT)  # in the middle of measuring
        returncode = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=30)
    while not lines.empty():
        rest = lines.get_nowait()
        if rest is not None:
            seen.append(rest)
    out = "".join(seen)
    print(out)
    assert returncode == pytest.ExitCode.INTERRUPTED, out
    assert "cpybench: interrupted: nothing was stored" in out
    assert "Traceback" not in out and "INTERNALERROR" not in out
    assert _stored(tmp_path) == before  # the same files, byte for byte
    assert not [p for p in (tmp_path / "results").rglob("*") if p.name.startswith(".tmp-")]


def test_ini_keys_and_per_benchmark_threshold_override(base_args: list[str], tmp_path: Path) -> None:
    # The same options as ini keys; a benchmark's threshold override covers all its results
    # (slowdown-small makes deepcopy about 1.10x slower: beyond 5%, within 50%).
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\ncpython_ref = slowdown-small\ncpython_baseline = v3.13.5\ncpython_benchmarks = deepcopy\n"
        "cpython_thresholds =\n    deepcopy: 50%\n")
    done = pytest_run(*base_args, cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert "pyperformance::deepcopy PASSED" in done.stdout
    assert "x slower" in done.stdout.split("vs. v3.13.5")[1]  # reported, within its threshold


def test_a_baseline_stored_alongside_is_measured_again_rather_than_compared_with_a_head_alone(
        base_args: list[str], tmp_path: Path) -> None:
    """--cpython-parallel=yes stores both sides measured alongside each other; a later session that
    would measure its head alone against them measures the baseline's benchmark with it instead."""
    if cpus.parallel_cpus(None, 2) is None:
        pytest.skip("fewer than 2 physical cores: the sides cannot run at the same time")
    first = pytest_run(*base_args, "--cpython-ref=neutral", "--cpython-baseline=v3.13.5", "--cpython-parallel=yes",
                       "--cpython-benchmarks=nbody", cwd=tmp_path)
    assert first.returncode == 0, first.stdout
    stored = _stored(tmp_path)
    assert len(stored) == 2  # head and baseline
    for name in stored:
        runs = [run for bench in pyperf.BenchmarkSuite.load(name).get_benchmarks() for run in bench.get_runs()]
        assert runs and all(run.get_metadata()[md.ALONGSIDE] == 1 for run in runs), name
    again = pytest_run(*base_args, "--cpython-ref=speedup", "--cpython-baseline=v3.13.5",
                       "--cpython-benchmarks=nbody", "--cpython-parallel=yes", "-v", cwd=tmp_path)
    assert again.returncode == 0, again.stdout
    assert "baseline v3.13.5: stored results: " in again.stdout
    # Per benchmark: nbody's stored results were measured alongside, the head would be measured alone:
    # the baseline is measured with the head in the same rounds, at once.
    assert "vs v3.13.5 [interleaved at once, " in again.stdout
    assert "alongside other workers on one side" not in again.stdout  # no mixed comparison was made
