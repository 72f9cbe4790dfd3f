"""benchmarks/configurations.py: the builder's phases and ccache's counters per phase, the PGO
training run read from a build log, PGO's make passes split from v3.13.5's configured Makefile (the
builder's ``make_steps``), and the tables of the committed results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cpython_repo
import pytest

from benchmarks import configurations
from pytest_cpybench.cpython import builds, git

# -- unit: pure pieces ---------------------------------------------------------------------


@pytest.mark.parametrize(("message", "phase"), [
    ("export: 7d5d924", "export"),
    ("configure: 7d5d924 (log: /c/builds/.tmp-k-1/entry/build.log)", "configure"),
    ("make (instrumented): 214 object files compiled, 90 s", "make (instrumented)"),
    ("make (training run): 120 s (the last build's make (training run) took 301 s)", "make (training run)"),
    ("make (profile-use): done in 412.3 s", "make (profile-use)"),
    ("make: still running, 30 s", "make"),
    ("install: done in 20.1 s", "install"),
    ("built 7d5d924 (Python 3.13.5) in 900 s", None),
    ("waiting for another session building 7d5d924", None),
])
def test_the_phase_a_builder_message_is_about(message: str, phase: str | None) -> None:
    assert configurations.phase_of(message) == phase


def test_each_phase_gets_the_counters_between_its_start_and_the_next_phases() -> None:
    readings = iter([{"direct_cache_hit": 10, "cache_miss": 5},   # configure starts
                     {"direct_cache_hit": 10, "cache_miss": 6},   # make (instrumented) starts
                     {"direct_cache_hit": 300, "cache_miss": 20},  # make (training run) starts
                     {"direct_cache_hit": 300, "cache_miss": 20}])  # make (profile-use) starts
    counters = configurations.PhaseCounters(read=lambda: next(readings))
    for message in ("configure: abc (log: x)", "configure: done in 20 s", "make (instrumented): abc (log: x)",
                    "make (instrumented): 100 object files compiled, 30 s", "make (training run): abc (log: x)",
                    "make (profile-use): abc (log: x)", "make (profile-use): done in 400 s"):
        counters(message)
    per = counters.per_phase({"direct_cache_hit": 301, "cache_miss": 420})
    assert list(per) == ["configure", "make (instrumented)", "make (training run)", "make (profile-use)"]
    assert configurations.hits_and_misses(per["make (instrumented)"]) == (290, 14)
    assert configurations.hits_and_misses(per["make (training run)"]) == (0, 0)
    assert configurations.fmt_ccache(per["make (profile-use)"]) == "1 hits / 400 misses"
    assert configurations.fmt_ccache(per["make (training run)"]) == "-"


@pytest.mark.parametrize(("text", "seconds"), [
    # regrtest's format_duration: the two largest units, seconds with a decimal only when alone
    (" 2 min 34 sec", 154.0), ("1 hour 2 min", 3720.0), ("59.1 sec", 59.1), ("874 ms", 0.874), ("soon", None),
])
def test_regrtest_durations(text: str, seconds: float | None) -> None:
    assert configurations.parse_duration(text) == seconds


def test_a_log_section_stops_at_the_next_phase() -> None:
    log = ("pytest-cpybench build k\n\n=== configure: ./configure\nchecking...\n"
           "\n=== make (training run): make -j2 profile-run-stamp\nTotal duration: 3 min 1 sec\n"
           "\n=== make (profile-use): make -j2\nTotal duration: 9 sec\n")
    assert configurations.log_section(log, "make (training run)").count("Total duration") == 1
    assert configurations.training_run(log) == {"seconds": 181.0}
    assert configurations.training_run(log.replace("training run", "other")) == {}


# -- integration: the builder's real messages, v3.13.5's real sources -------------------------


def _commit() -> git.Commit:
    return git.Commit(repo="r", ref="v3.13.5", sha="0" * 40, date="2025-06-11T00:00:00+00:00", fork="python")


def test_the_builders_own_messages_split_the_counters_by_phase(subprocesses: None, tmp_path: Path) -> None:
    counter = iter(range(100))
    counters = configurations.PhaseCounters(read=lambda: {"cache_miss": next(counter)})
    steps = builds._Steps(builds.BuildRequest(commit=_commit()), tmp_path / "build.log", counters, builds.Expected())
    steps.timed("export", lambda: None)
    for phase, _target in builds.PGO_STEPS:
        steps.run(phase, [sys.executable, "-c", "pass"], tmp_path, {})
    per = counters.per_phase({"cache_miss": 10})
    assert list(per) == ["export", *(phase for phase, _ in builds.PGO_STEPS)]
    assert [delta["cache_miss"] for delta in per.values()] == [1, 1, 1, 7]


@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    repo = cpython_repo.ensure_repo()
    show = ["git", "-C", str(repo), "show", "v3.13.5:Makefile.pre.in"]
    return {"Makefile.pre.in": subprocess.run(show, capture_output=True, text=True, check=True).stdout}


def _configured(sources: dict[str, str], folder: Path, all_rule: str) -> Path:
    """v3.13.5's Makefile as ./configure writes it: `all` is `profile-opt` with --enable-optimizations."""
    folder.mkdir()
    text = sources["Makefile.pre.in"].replace("@DEF_MAKE_ALL_RULE@", all_rule).replace("@DEF_MAKE_RULE@", "build_all")
    (folder / "Makefile").write_text(text)
    return folder


def test_a_pgo_build_runs_makes_three_passes_apart(subprocesses: None, sources: dict[str, str],
                                                    tmp_path: Path) -> None:
    pgo = builds.make_steps(_configured(sources, tmp_path / "pgo", "profile-opt"), "2")
    assert pgo == [("make (instrumented)", ["make", "-j2", "profile-gen-stamp"]),
                   ("make (training run)", ["make", "-j2", "profile-run-stamp"]),
                   ("make (profile-use)", ["make", "-j2"])]
    assert builds.make_steps(_configured(sources, tmp_path / "plain", "build_all"), "2") == [("make", ["make", "-j2"])]
    assert builds.make_steps(tmp_path / "not-configured", "2") == [("make", ["make", "-j2"])]
