"""``backfill`` and ``history`` as a user (or a nightly job) runs them, on real builds of the test
repository (tests/support/cpython_repo.py): the ``bisect`` branch (commit 12 slows copy.deepcopy
~1.10x, commit 8 does not build) and the ``docs-only`` branch (nothing a build sees changes).

Kept short: ``--every``, fast mode, one tiny custom benchmark, counted in instructions where a step must
be found whatever the load. The detector's error rates are measured in benchmarks/history.py, not here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cpython_repo
import pytest
from helpers import TINYCOPY, cli, sha, write_manifest

COMMITS, BROKEN, SLOWDOWN = cpython_repo.BISECT_COMMITS, cpython_repo.BISECT_BROKEN, cpython_repo.BISECT_SLOWDOWN


@pytest.fixture(scope="module")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A benchmark of a few seconds per commit: where what is measured does not matter."""
    return write_manifest(tmp_path_factory.mktemp("manifest"),
                          {"tinyloop": "runner.bench_func('tinyloop', lambda: sum(range(2000)))"})


def _common(repo: Path, cache_dir: Path, results: Path) -> list[str]:
    return [f"--repo={repo}", f"--cache-dir={cache_dir}", f"--results-dir={results}", "--machine=history-test"]


def test_backfill_then_history_confirm_names_the_commit(repo: Path, cache_dir: Path, tmp_path: Path) -> None:
    results, pages = tmp_path / "results", tmp_path / "pages"
    # Instruction counts of a tiny deepcopy benchmark (1.17x at commit 12): a busy machine cannot hide
    # the step, nor make one. The detector on time, with real noise: benchmarks/history.py.
    manifest = write_manifest(tmp_path / "suite", {"tinycopy": TINYCOPY})
    common = [*_common(repo, cache_dir, results), "--metric=instructions", "-b", "tinycopy",
              f"--manifest={manifest}"]
    # v3.13.5, every 3rd commit after it (3, 6, 9, 12, 15) and the tip (17): commit 8 is not among them.
    done = cli("backfill", "--range=v3.13.5..bisect", "--every=3", "--mode=fast", *common, cwd=tmp_path)
    assert done.returncode == 0
    assert "7 of 18 commits chosen, 7 to measure (tinycopy)" in done.stdout
    assert "backfill: 7 commit(s) measured, 0 stored already, 0 do not build" in done.stdout
    assert "commits left, about" in done.stdout  # the estimate of the time left

    done = cli("history", "--branch=bisect", "-o", str(pages), "--confirm", *common, cwd=tmp_path)
    first_bad = sha(repo, f"bisect~{COMMITS - SLOWDOWN}")
    expected = f"confirmed, first bad commit {first_bad[:7]} 'Slow down copy.deepcopy (bisect test fixture)'"
    assert done.returncode == 1, "a confirmed regression fails the job"
    assert expected in done.stdout
    # Between the last commit measured before (9) and the first after (12, the slowdown itself).
    before, after = sha(repo, f"bisect~{COMMITS - 9}"), first_bad
    assert f"change between {before[:7]} 'Repair the build (bisect test fixture)' and {after[:7]}" in done.stdout
    page = (pages / "history-test" / "README.md").read_text()
    assert expected in page
    data = json.loads((pages / "history.json").read_text())
    (group,) = data["machines"]["history-test"]["groups"]
    changes = group["changes"]
    assert [c["confirmation"]["first_bad"][0]["sha"] for c in changes if c["confirmation"]] == [first_bad]
    # Commits 1-2, 4-5, 7-8, 10-11, 13-14 and 16 were not measured (commit k is bisect~(17 - k)).
    assert [(g["first"]["sha"], g["commits"]) for g in group["not_measured"]] == [
        (sha(repo, f"bisect~{COMMITS - first}"), count) for first, count in ((1, 2), (4, 2), (7, 2), (10, 2),
                                                                            (13, 2), (16, 1))]


def test_an_interrupted_backfill_measures_only_what_is_missing(repo: Path, cache_dir: Path, tmp_path: Path,
                                                               tiny_manifest: Path) -> None:
    results = tmp_path / "results"
    commits = tmp_path / "commits.txt"
    broken = sha(repo, f"bisect~{COMMITS - BROKEN}")
    commits.write_text(f"bisect\n{broken}  # does not build\nv3.13.5\n")
    argv = ["backfill", "--range=v3.13.5..bisect", f"--commits={commits}", "-b", "tinyloop",
            f"--manifest={tiny_manifest}", "--mode=fast", *_common(repo, cache_dir, results)]
    # Interrupted as Ctrl-C does (the whole process group) once the first commit is stored.
    env = {**os.environ}
    env.pop("PYTEST_ADDOPTS", None)
    process = subprocess.Popen([sys.executable, "-m", "pytest_cpybench", *argv], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 1800
    while not list(results.glob("bm-*/bm-*.json")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=600)
    print(out, err)
    stored_first = {path.parent.name for path in results.glob("bm-*/bm-*.json")}
    assert stored_first, "the first commit was stored before the interruption"
    if process.returncode == 130:
        assert "interrupted: the commits finished are stored" in err and "Traceback" not in err

    done = cli(*argv, cwd=tmp_path)
    assert done.returncode == 0
    tip = sha(repo, "bisect")
    (tip_line,) = [line for line in done.stdout.splitlines() if tip[:7] in line]  # not measured again
    assert tip_line.startswith(f"{tip[:7]} Neutral change 17 in tabnanny") and \
        tip_line.endswith("stored already (tinyloop): skipped")
    files = sorted(path.parent.name for path in results.glob("bm-*/bm-*.json"))
    assert len(files) == len(set(files)) == 2, "each commit stored once"
    assert list((results / "backfill" / "does-not-build").glob(f"{broken}-*.json"))

    again = cli(*argv, cwd=tmp_path)
    assert again.returncode == 0
    assert "0 to measure" in again.stdout
    (broken_line,) = [line for line in again.stdout.splitlines() if broken[:7] in line]
    assert broken_line.startswith(f"{broken[:7]} Break the build in Parser/token.c") and \
        ": does not build (recorded: make failed" in broken_line
    assert "backfill: 0 commit(s) measured, 2 stored already, 1 do not build" in again.stdout
    assert sorted(path.parent.name for path in results.glob("bm-*/bm-*.json")) == files


def test_a_documentation_only_branch_has_no_change_point(repo: Path, cache_dir: Path, tmp_path: Path,
                                                         tiny_manifest: Path) -> None:
    # Instruction counts: deterministic, so "nothing changed" holds every time (in time, the detector
    # flags some A/A series by chance: benchmarks/history.py measures how many).
    results, pages = tmp_path / "results", tmp_path / "pages"
    common = [*_common(repo, cache_dir, results), "--metric=instructions", "-b", "tinyloop",
              f"--manifest={tiny_manifest}"]
    done = cli("backfill", "--range=v3.13.5..docs-only", "--every=2", "--mode=fast", *common, cwd=tmp_path)
    assert done.returncode == 0
    assert f"4 of {cpython_repo.DOCS_ONLY_COMMITS + 1} commits chosen" in done.stdout
    done = cli("history", "--branch=docs-only", "-o", str(pages), "--confirm", *common, cwd=tmp_path)
    assert done.returncode == 0
    assert "history-test: 1 result series in 1 group(s) over 4 commits; 0 change points" in done.stdout
    page = (pages / "history-test" / "README.md").read_text()
    assert "## instructions, release build, fast mode, measured alone" in page
    assert "### Change points\n\nnone" in page
    assert "no change of history-test beyond the threshold to confirm" in done.stdout
