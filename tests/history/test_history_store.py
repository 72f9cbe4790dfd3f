"""History from the results store: files stored through ``ResultsStore.save`` (faster-cpython's seed
results and small synthetic suites) read back as series per machine, gaps said, pages and JSON
written (files, no subprocess)."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path

import pyperf
import pytest
from history_data import make_line, noisy_means, result, save
from seed import BASE_3_10, BASE_3_11, HEAD_FILE

from pytest_cpybench.history import collect, pages, text
from pytest_cpybench.history.changes import CONFIRMED, NOT_CONFIRMED, SLOWDOWN, Confirmation, History, analyse
from pytest_cpybench.history.series import GEOMETRIC_MEAN, LineCommit, series_of
from pytest_cpybench.results.identity import RunIdentity
from pytest_cpybench.results.store import ResultsStore


def _seed_line() -> list[LineCommit]:
    """A made-up first-parent line holding the three seed commits at 0, 2 and 5."""
    line = make_line(6)
    for index, path in ((0, BASE_3_10), (2, BASE_3_11), (5, HEAD_FILE)):
        metadata = pyperf.BenchmarkSuite.load(str(path)).get_metadata()
        line[index] = LineCommit(index, str(metadata["commit_branch"]), f"Python {path.stem.split('-')[6]}",
                                 str(metadata["commit_date"]))
    return line


def _store_seed(root: Path, line: list[LineCommit], machine: str, positions: tuple[int, ...]) -> None:
    store = ResultsStore(root)
    for index in positions:
        path = {0: BASE_3_10, 2: BASE_3_11, 5: HEAD_FILE}[index]
        suite = pyperf.BenchmarkSuite.load(str(path))
        identity = RunIdentity(commit_sha=line[index].sha, commit_date=line[index].date,
                               version=path.stem.split("-")[6], ref="main", machine=machine, arch="x86_64")
        store.save(identity, suite)


def test_the_seed_results_read_back_as_series_with_their_gaps(tmp_path: Path) -> None:
    line = _seed_line()
    _store_seed(tmp_path, line, "linux", (0, 2, 5))
    stored = collect.stored_runs(tmp_path, line)
    assert sorted(run.sha for run in stored.runs) == sorted(line[i].sha for i in (0, 2, 5))
    series = series_of(stored.runs, line)
    nbody = next(s for s in series if s.name == "nbody")
    assert [p.index for p in nbody.points] == [0, 2, 5]
    assert nbody.points[0].processes == 20 and nbody.group.mode == "unknown"  # bench_runner's: no mode stamped
    # faster-cpython's published numbers: nbody 3.12.0a1 against 3.10.4.
    published = pyperf.BenchmarkSuite.load(str(HEAD_FILE)).get_benchmark("nbody").mean() / \
        pyperf.BenchmarkSuite.load(str(BASE_3_10)).get_benchmark("nbody").mean()
    assert math.exp(nbody.points[2].estimate - nbody.points[0].estimate) == pytest.approx(published)
    (group,) = analyse(series, line)
    assert [[c.index for c in gap.commits] for gap in group.unmeasured] == [[1], [3, 4]]
    assert "nbody" in group.too_short and group.changes == []
    lines = text.summary_lines(History("main", "repo", line, [group]))
    assert any("not measured: " + line[1].short + "; " + line[3].short + ", " + line[4].short in x for x in lines)


def test_two_machines_in_one_store_are_two_series_never_mixed(tmp_path: Path) -> None:
    line = _seed_line()
    _store_seed(tmp_path, line, "alpha", (0, 2))
    _store_seed(tmp_path, line, "beta", (2, 5))
    series = series_of(collect.stored_runs(tmp_path, line).runs, line)
    chaos = [s for s in series if s.name == "chaos"]
    assert [(s.group.machine, [p.index for p in s.points]) for s in chaos] == [("alpha", [0, 2]), ("beta", [2, 5])]
    only_beta = series_of(collect.stored_runs(tmp_path, line, machine="beta").runs, line)
    assert {s.group.machine for s in only_beta} == {"beta"}


def _stepped_store(root: Path) -> list[LineCommit]:
    """20 commits on two machines: on alpha deepcopy's results 10% slower from commit 12, on beta flat."""
    line = make_line(20)
    rng = random.Random(7)
    store = ResultsStore(root)
    for commit in line:
        for machine in ("alpha", "beta"):
            slower = 1.1 if machine == "alpha" and commit.index >= 12 else 1.0
            build = math.exp(rng.gauss(0, 0.005))
            results = [result(name, noisy_means(rng, base * slower * build), benchmark="deepcopy")
                       for name, base in (("deepcopy", 1e-3), ("deepcopy_memo", 4e-5))]
            results.append(result("nbody", noisy_means(rng, 0.1 * build)))
            if commit.index not in (5, 6):
                save(store, commit, results, machine=machine)
    return line


def test_pages_show_the_change_what_moved_and_the_gaps(tmp_path: Path) -> None:
    line = _stepped_store(tmp_path / "store")
    series = series_of(collect.stored_runs(tmp_path / "store", line).runs, line)
    history = History("main", "https://example.invalid/cpython", line, analyse(series, line))
    (change,) = history.changes
    assert change.group.machine == "alpha" and (change.before.index, change.after.index) == (11, 12)
    assert {m.name for m in change.members} == {"deepcopy", "deepcopy_memo", GEOMETRIC_MEAN}
    change.confirmation = Confirmation(CONFIRMED, SLOWDOWN, first_bad=[line[12]])
    written = pages.write(history, tmp_path / "pages")
    page = written.pages["alpha"].read_text()
    assert f"confirmed, first bad commit {line[12].short} 'Commit number 12'" in page
    assert f"{line[11].short} 'Commit number 11' .. {line[12].short} 'Commit number 12'" in page
    assert "deepcopy_memo 1.1" in page and "x slower" in page
    assert f"{line[5].short}, {line[6].short}: not measured" in page
    assert "### Change points\n\nnone" in written.pages["beta"].read_text()
    index = written.index.read_text()
    assert "| [alpha](alpha/README.md) |" in index and "| [beta](beta/README.md) |" in index
    data = json.loads(written.data.read_text())
    (group,) = data["machines"]["alpha"]["groups"]
    (moved,) = group["changes"]
    assert moved["first_after"]["sha"] == line[12].sha and moved["confirmation"]["state"] == CONFIRMED
    assert group["not_measured"] == [{"first": text.commit_data(line[5]), "last": text.commit_data(line[6]),
                                      "commits": 2}]
    if "plots skipped" not in " ".join(written.notes):
        assert (tmp_path / "pages" / "alpha" / change.group.slug / "geometric_mean.svg").is_file()
        assert f"{change.group.slug}/geometric_mean.svg" in page


def test_confirmation_lines() -> None:
    commit = make_line(3)[2]
    assert text.confirmation_text(None) == "not checked"
    assert text.confirmation_text(Confirmation(NOT_CONFIRMED, SLOWDOWN)) == "not confirmed"
    found = Confirmation(CONFIRMED, SLOWDOWN, first_bad=[commit])
    assert text.confirmation_text(found) == f"confirmed, first bad commit {commit.short} 'Commit number 2'"
    several = replace(found, first_bad=[commit, replace(commit, sha="f" * 40)])
    assert text.confirmation_text(several) == f"confirmed, first bad commit one of {commit.short}, fffffff"


def test_commits_that_do_not_build_are_read_back_per_machine(tmp_path: Path) -> None:
    line = make_line(4)
    collect.write_marker(tmp_path, line[2], "alpha", "release", "", "make failed", None)
    assert collect.read_marker(tmp_path, line[2].sha, "alpha", "release", "")["error"] == "make failed"
    assert collect.read_marker(tmp_path, line[2].sha, "beta", "release", "") is None
    assert collect.failed_builds(tmp_path, line) == {"alpha": [line[2]]}
    assert collect.failed_builds(tmp_path, line, machine="beta") == {}
    assert collect.failed_builds(tmp_path, line, build=("release", "")) == {"alpha": [line[2]]}
    assert collect.failed_builds(tmp_path, line, build=("nogil", "")) == {}
    collect.clear_marker(tmp_path, line[2].sha, "alpha", "release", "")  # it built since
    assert collect.failed_builds(tmp_path, line) == {}


def test_a_commit_measured_alone_then_alongside_keeps_a_point_in_each_series(tmp_path: Path) -> None:
    """A nightly backfill measures a commit alone; a later pre-merge session stores it again measured
    alongside (its merge base): the alone point stays, the alongside one is a series of its own."""
    line = make_line(3)
    store = ResultsStore(tmp_path)
    for commit in line:
        save(store, commit, [result("nbody", [1.0, 1.01, 0.99])])
    save(store, line[1], [result("nbody", [1.2, 1.21, 1.19], alongside=1)])
    stored = collect.stored_runs(tmp_path, line)
    (run,) = [r for r in stored.runs if r.sha == line[1].sha]
    assert sorted(len(r.get_runs()) for r in run.results) == [3, 3]
    by_load = {s.group.load: s for s in series_of(stored.runs, line) if not s.is_geometric_mean}
    assert [p.index for p in by_load["alone"].points] == [0, 1, 2]
    assert [p.index for p in by_load["alongside"].points] == [1]
