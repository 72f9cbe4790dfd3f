"""Progress a person can read: the session's benchmarks done of its own with the time left, and a
build's object files against the last build's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_cpybench.cpython import builds
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.plugin.controller import Progress


def test_the_session_says_benchmarks_done_of_its_own_and_the_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("pytest_cpybench.plugin.controller.time.monotonic", lambda: clock[0])
    progress = Progress()
    progress.total = 10
    clock[0] += 45
    assert progress.item_done() == "1 of 10 benchmarks in 45 s; about 6 min 45 s left at this pace"
    clock[0] += 10
    assert progress.item_done() is None  # under half a minute since the last line
    clock[0] += 70
    assert progress.item_done() == "3 of 10 benchmarks in 2 min 5 s; about 4 min 52 s left at this pace"
    progress.done = 9
    assert progress.item_done() == "10 of 10 benchmarks in 2 min 5 s"  # the last one always says so


def _entry(cache_dir: Path, key: str, objects: int, make: float) -> None:
    entry = builds.builds_dir(cache_dir) / key
    entry.mkdir(parents=True)
    (entry / "build.json").write_text(json.dumps({
        "key": key, "version": "3.13.5", "commit": {"sha": "a" * 40, "ref": "v3.13.5"}, "preset": "release",
        "configure_flags": [], "timings": {"configure": 21.0, "make": make, "total": make + 40}, "objects": objects}))


def test_a_build_counts_its_object_files_against_the_last_builds(tmp_path: Path) -> None:
    _entry(tmp_path / "cache", "k1", objects=400, make=160.0)
    expected = builds.Expected.from_cache(tmp_path / "cache", "release")
    assert expected.objects == 400 and expected.timings["configure"] == 21.0
    commit = Commit(repo="r", ref="v3.13.5", sha="a" * 40, date="2025-06-11T12:00:00+00:00", fork="python")
    steps = builds._Steps(builds.BuildRequest(commit), tmp_path / "log", print, expected)
    src = tmp_path / "src"
    (src / "Objects").mkdir(parents=True)
    for number in range(100):
        (src / "Objects" / f"o{number}.o").touch()
    assert steps._how_far("make", 40.0, src) == "100 of about 400 object files (25%), 40 s; about 120 s left"
    assert steps._how_far("configure", 30.0, src) == "30 s (the last build's configure took 21 s)"
    first = builds._Steps(builds.BuildRequest(commit), tmp_path / "log", print, builds.Expected())
    assert first._how_far("make", 40.0, src) == "100 object files compiled, 40 s"
    assert first._how_far("install", 30.0, src) == "still running, 30 s"
