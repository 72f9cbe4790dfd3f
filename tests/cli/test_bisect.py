"""``bisect``: find the commit that slowed a benchmark down, on real builds (issue 13).

The test repository's ``bisect`` branch (tests/support/cpython_repo.py): 17 commits on top of
v3.13.5; commit 8 does not build (9 repairs it), commit 12 slows copy.deepcopy about 1.10x.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cpython_repo
import pytest
from helpers import cli, pytest_run, sha

from pytest_cpybench.errors import EXIT_INFRASTRUCTURE

COMMITS, BROKEN, SLOWDOWN = cpython_repo.BISECT_COMMITS, cpython_repo.BISECT_BROKEN, cpython_repo.BISECT_SLOWDOWN


def _bisect(repo: Path, cache_dir: Path, tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return cli("bisect", f"--repo={repo}", f"--cache-dir={cache_dir}", f"--results-dir={tmp_path / 'results'}",
               *args, cwd=tmp_path)


@pytest.mark.slow
def test_bisect_finds_the_commit_past_one_that_does_not_build(repo: Path, cache_dir: Path, cpython_3135,
                                                              tmp_path: Path) -> None:
    first_bad = sha(repo, f"bisect~{COMMITS - SLOWDOWN}")
    broken = sha(repo, f"bisect~{COMMITS - BROKEN}")
    done = _bisect(repo, cache_dir, tmp_path, "--good=v3.13.5", "--bad=bisect", "-b", "deepcopy", "--mode=fast",
                   "--budget=40")  # a noisy CI machine needed 19 of the default 20 rounds to see the change
    assert done.returncode == 0
    assert f"first bad commit: {first_bad[:7]} Slow down copy.deepcopy (bisect test fixture)" in done.stdout
    assert f"step  2  {broken[:7]} ({BROKEN}/{COMMITS}) Break the build" in done.stdout  # after the ends
    assert "  skipped  does not build" in done.stdout
    (record_path,) = (tmp_path / "results" / "bisect").glob("*.json")
    record = json.loads(record_path.read_text())
    assert [[c["sha"] for c in culprit["candidates"]] for culprit in record["first_bad"]] == [[first_bad]]
    # ceil(log2 N) + 2 builds, the two ends and the commit that does not build included.
    assert len(record["builds"]) <= math.ceil(math.log2(COMMITS)) + 2
    assert record["builds"][broken] == "failed"
    (confirmation,) = record["confirmations"]
    assert confirmation["sha"] == first_bad and confirmation["parent"] == sha(repo, f"{first_bad}~1")
    # ~1.10x slower across the commit, measured again interleaved with its parent: the interval may be
    # wide on a noisy machine, but it must exclude "no change" for the commit to count as confirmed.
    assert confirmation["confirmed"] and not confirmation["note"]
    assert confirmation["changes"]["deepcopy"]["low"] > 1.0
    assert f"record: {record_path}" in done.stdout


@pytest.mark.parametrize(("args", "message", "status"), [
    (["--good=bisect", "--bad=v3.13.5"], "is not an ancestor of bad", EXIT_INFRASTRUCTURE),
    (["--good=slowdown", "--bad=bisect"], "is not an ancestor of bad", EXIT_INFRASTRUCTURE),
    (["--good=v3.13.5", "--bad=v3.13.5"], "good and bad are the same commit", EXIT_INFRASTRUCTURE),
    (["--good=no-such-ref", "--bad=bisect"], "unknown ref 'no-such-ref'", EXIT_INFRASTRUCTURE),
    (["--good=v3.13.5", "--bad=bisect", "--mode=debug"], "a bisection needs default, fast or rigorous", 2),
    (["--good=v3.13.5", "--bad=bisect", "--max-steps=0"], "--max-steps=0: give at least 1", 2),
    (["--good=v3.13.5", "--bad=bisect", "--budget=1"], "--budget='1' is too small", 2),
])
def test_bisect_refuses_bad_input_in_one_line(repo: Path, cache_dir: Path, tmp_path: Path, args: list[str],
                                             message: str, status: int) -> None:
    done = _bisect(repo, cache_dir, tmp_path, *args, "-b", "deepcopy")
    assert done.returncode == status
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()  # refused before anything was built or written


@pytest.mark.parametrize(("selection", "message"), [
    ("deepcopyy", "unknown benchmark or group: 'deepcopyy' (did you mean deepcopy?)"),
    ("-all", "leaves no benchmark to run"),
])
def test_bisect_refuses_a_selection_without_benchmarks(repo: Path, cache_dir: Path, tmp_path: Path,
                                                       selection: str, message: str) -> None:
    done = _bisect(repo, cache_dir, tmp_path, "--good=v3.13.5", "--bad=bisect", f"--benchmarks={selection}")
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_the_plugin_refuses_to_bisect_in_debug_mode(repo: Path, cache_dir: Path, tmp_path: Path) -> None:
    done = pytest_run("--cpython-ref=slowdown", f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}",
                      "--cpython-mode=debug", "--cpython-bisect=yes", cwd=tmp_path)
    assert done.returncode == 4
    assert "ERROR: --cpython-bisect=yes needs --cpython-mode default, fast or rigorous" in done.stderr


@pytest.mark.slow
def test_a_failing_item_is_bisected_after_the_session(repo: Path, cache_dir: Path, cpython_3135,
                                                      tmp_path: Path) -> None:
    # slowdown is one commit on top of v3.13.5: the bisection checks that the two differ and names it.
    done = pytest_run("--cpython-ref=slowdown", f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}",
                      "--cpython-baseline=v3.13.5", "--cpython-benchmarks=deepcopy", "--cpython-mode=fast",
                      "--cpython-budget=20",  # the session's budget is the bisection's (fast mode's auto: 10)
                      f"--cpython-results-dir={tmp_path / 'results'}", "--cpython-bisect=yes", cwd=tmp_path)
    assert done.returncode == 1  # the regression fails the item; the bisection only explains it
    assert "bisect deepcopy: v3.13.5 -> slowdown:" in done.stdout
    slowdown = sha(repo, "slowdown")
    assert f"first bad commit: {slowdown[:7]} Slow down copy.deepcopy (test fixture)" in done.stdout
    assert list((tmp_path / "results" / "bisect").glob("*.json"))
