"""``bisect``: find the commit that slowed a benchmark down, on real builds.

The test repository's ``bisect`` branch (tests/support/cpython_repo.py): 17 commits on top of
v3.13.5; commit 8 does not build (9 repairs it), commit 12 slows copy.deepcopy about 1.10x.
The whole branch is bisected, ten times over, by the benchmarks' bisection section
(benchmarks/bisection.py); here, two steps of a stretch of it, and a bisection of ``slowdown``
(one commit) after a session.
"""

from __future__ import annotations

import json
from pathlib import Path

import cpython_repo
import pytest
from helpers import TINYCOPY, cli, pytest_run, sha, write_manifest

from pytest_cpybench.errors import EXIT_INFRASTRUCTURE

COMMITS, BROKEN, SLOWDOWN = cpython_repo.BISECT_COMMITS, cpython_repo.BISECT_BROKEN, cpython_repo.BISECT_SLOWDOWN


def _bisect(repo: Path, cache_dir: Path, tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return cli("bisect", f"--repo={repo}", f"--cache-dir={cache_dir}", f"--results-dir={tmp_path / 'results'}",
               *args, cwd=tmp_path)


# Commits 6 to 12 of the branch: the middle one, probed first, is commit 8, which does not build.
GOOD = 5


def test_a_commit_that_does_not_build_is_skipped_and_the_steps_are_bounded(repo: Path, cache_dir: Path,
                                                                          tmp_path: Path) -> None:
    """After the ends (commits 5 and 12: 1.17x apart in instructions on a tiny deepcopy benchmark, so
    that the machine's load cannot hide the change), the middle commit is built, fails and is
    skipped; with two steps allowed, the rest is left unsearched, said and recorded. (The whole
    branch in time, the commit found past the one that does not build: the benchmarks' bisection
    section, benchmarks/bisection.py.)"""
    good, bad = sha(repo, f"bisect~{COMMITS - GOOD}"), sha(repo, f"bisect~{COMMITS - SLOWDOWN}")
    broken = sha(repo, f"bisect~{COMMITS - BROKEN}")
    manifest = write_manifest(tmp_path / "suite", {"tinycopy": TINYCOPY})
    done = _bisect(repo, cache_dir, tmp_path, f"--good={good}", f"--bad={bad}", f"--manifest={manifest}",
                   "-b", "tinycopy", "--metric=instructions", "--max-steps=2")
    assert done.returncode == 1  # nothing found: the steps ran out
    assert f"step  1  ends {good[:7]}..{bad[:7]}  changed" in done.stdout
    assert f"step  2  {broken[:7]} ({BROKEN - GOOD}/{SLOWDOWN - GOOD}) Break the build" in done.stdout
    assert "  skipped  does not build" in done.stdout
    assert f"not searched for lack of steps: {good[:7]}..{bad[:7]} (raise --max-steps)" in done.stdout
    (record_path,) = (tmp_path / "results" / "bisect").glob("*.json")
    record = json.loads(record_path.read_text())
    assert not record["first_bad"] and record["unresolved"] == [[good, bad]]
    assert record["builds"][broken] == "failed"
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


def test_a_failing_item_is_bisected_after_the_session(repo: Path, cache_dir: Path, cpython_3135,
                                                      tmp_path: Path) -> None:
    # slowdown is one commit on top of v3.13.5: the bisection checks that the two differ, names it and
    # confirms the change across it (on a tiny deepcopy benchmark, about 2x slower there).
    manifest = write_manifest(tmp_path / "suite", {"tinycopy": TINYCOPY})
    done = pytest_run("--cpython-ref=slowdown", f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}",
                      "--cpython-baseline=v3.13.5", f"--cpython-manifest={manifest}", "--cpython-benchmarks=tinycopy",
                      "--cpython-mode=fast", "--cpython-budget=20",  # the session's budget is the bisection's
                      f"--cpython-results-dir={tmp_path / 'results'}", "--cpython-bisect=yes", cwd=tmp_path)
    assert done.returncode == 1  # the regression fails the item; the bisection only explains it
    assert "bisect tinycopy: v3.13.5 -> slowdown:" in done.stdout
    slowdown = sha(repo, "slowdown")
    assert f"first bad commit: {slowdown[:7]} Slow down copy.deepcopy (test fixture)" in done.stdout
    (record_path,) = (tmp_path / "results" / "bisect").glob("*.json")
    record = json.loads(record_path.read_text())
    assert [[c["sha"] for c in culprit["candidates"]] for culprit in record["first_bad"]] == [[slowdown]]
    (confirmation,) = record["confirmations"]
    assert confirmation["parent"] == sha(repo, "v3.13.5")
    # Measured again interleaved with its parent: beyond "no change", or the commit is not confirmed.
    assert confirmation["confirmed"] and confirmation["changes"]["tinycopy"]["low"] > 1.0
