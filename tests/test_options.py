"""Option parsing and the small pure pieces of the build manager (no builds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_cpybench.cpython import builds, git
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.errors import CpybenchError, RefError
from pytest_cpybench.options import OPTIONS, Budget, parse_budget, settings_from


def test_defaults() -> None:
    settings = settings_from({})
    assert not settings.enabled
    assert settings.preset == "release"
    assert settings.threshold == pytest.approx(0.05)
    assert settings.confidence == pytest.approx(0.95)
    assert settings.mode == "default"
    # Outside the project (a CPython clone's `git clean -fdx` must not delete the baselines).
    assert not settings.results_dir.is_relative_to(Path.cwd())
    assert settings.results_dir.name == "results"
    # auto, whatever the mode (pyperf's values per process in it): 40 rounds, capped below pyperformance's time.
    assert settings.budget == Budget(processes=40, pyperformance_multiple=0.9)


@pytest.mark.parametrize("mode", ["default", "fast", "rigorous"])
def test_budget_auto_caps_the_time_at_pyperformances_per_side(mode: str) -> None:
    """auto (the default): the default rounds, and never more per side than pyperformance would spend on its one."""
    auto = settings_from({"cpython-mode": mode, "cpython-budget": "AUTO"}).budget
    assert auto == parse_budget("auto") == Budget(processes=40, pyperformance_multiple=0.9)
    assert settings_from({"cpython-mode": mode}).budget == auto
    assert settings_from({"cpython-mode": mode, "cpython-budget": "40"}).budget.pyperformance_multiple is None
    assert settings_from({"cpython-mode": mode, "cpython-budget": "33"}).budget == Budget(processes=33)


def test_values_are_parsed() -> None:
    settings = settings_from({
        "cpython-ref": "v3.13.5",
        "cpython-configure": "--with-lto 'CFLAGS=-O2 -g'",
        "cpython-baseline": "v3.11.2, merge-base",
        "cpython-threshold": "7%",
        "cpython-thresholds": ["pidigits: 15%", "# a comment", ""],
        "cpython-budget": "300s",
        "cpython-manifest": ["a/MANIFEST", "b/MANIFEST"],
    })
    assert settings.enabled
    assert settings.configure_flags == ("--with-lto", "CFLAGS=-O2 -g")
    assert settings.baselines == ("v3.11.2", "merge-base")
    assert settings.threshold == pytest.approx(0.07)
    assert settings.thresholds == {"pidigits": pytest.approx(0.15)}
    assert settings.budget.seconds == 300
    assert settings.manifests == (Path("a/MANIFEST"), Path("b/MANIFEST"))


def test_results_dir_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CPYBENCH_RESULTS_DIR", str(tmp_path / "store"))
    assert settings_from({}).results_dir == tmp_path / "store"
    assert settings_from({"cpython-results-dir": "elsewhere"}).results_dir == Path("elsewhere")


@pytest.mark.parametrize("name, value, message", [
    ("cpython-build", "fastest", "is not a build preset: choose among release, pgo-lto"),
    ("cpython-build", "release,release", "name each build preset once"),
    ("cpython-build", "release,fastest", "'fastest' is not a build preset"),
    ("cpython-mode", "quick", "not valid: choose one of default, fast, rigorous, debug"),
    ("cpython-threshold", "lots", "cpython-threshold"),
    ("cpython-timeout", "-5", "not negative"),
    ("cpython-budget", "1", "too small to estimate the noise"),
    ("cpython-configure", "--with-x='unterminated", "check the quotes"),
    ("cpython-save", "maybe", "choose one of new, replace, no"),
])
def test_bad_values_are_one_line_errors(name: str, value: str, message: str) -> None:
    with pytest.raises(CpybenchError, match=message) as info:
        settings_from({name: value})
    assert "\n" not in str(info.value)


def test_every_option_has_an_ini_key_of_the_same_name() -> None:
    assert all(option.ini == option.name.replace("-", "_") for option in OPTIONS)
    names = {option.name for option in OPTIONS}
    assert {"cpython-ref", "cpython-repo", "cpython-configure", "cpython-build", "cpython-python",
            "cpython-cache-dir", "cpython-jobs"} <= names


def test_budget() -> None:
    assert parse_budget("12").processes == 12
    assert parse_budget("90s").seconds == 90


def _commit(**changes: str) -> Commit:
    fields = dict(repo="r", ref="v3.13.5", sha="a" * 40, date="2025-06-11T12:00:00+00:00", fork="python")
    fields.update(changes)
    return Commit(**fields)


@pytest.mark.usefixtures("subprocesses")
def test_build_key_changes_with_everything_that_makes_builds_differ() -> None:
    base = builds.BuildRequest(_commit())
    keys = {
        builds.build_key(base),
        builds.build_key(builds.BuildRequest(_commit(sha="b" * 40))),
        builds.build_key(builds.BuildRequest(_commit(worktree_hash="1234"))),
        builds.build_key(builds.BuildRequest(_commit(), preset="jit")),
        builds.build_key(builds.BuildRequest(_commit(), configure_flags=("--with-lto",))),
    }
    assert len(keys) == 5
    # The ref name and the number of jobs do not change what is built.
    assert builds.build_key(builds.BuildRequest(_commit(ref="main"), jobs=7)) == builds.build_key(base)


def test_presets() -> None:
    assert builds.PRESETS["pgo-lto"] == ("--enable-optimizations", "--with-lto")
    assert builds.PRESETS["jit"] == ("--enable-experimental-jit",)
    assert builds.PRESETS["nogil"] == ("--disable-gil",)
    assert builds.PRESETS["tailcall"] == ("--with-tail-call-interp",)
    with pytest.raises(CpybenchError, match="choose one of release, pgo-lto, jit, nogil, tailcall, debug"):
        builds.check_preset("turbo")


def test_several_build_configurations() -> None:
    settings = settings_from({"cpython-build": "release, nogil"})
    assert settings.presets == ("release", "nogil") and settings.preset == "release"
    nogil = settings.for_preset("nogil")
    assert (nogil.preset, nogil.presets) == ("nogil", ("nogil",))
    assert settings_from({}).presets == ("release",)
    with pytest.raises(CpybenchError, match="bisects one build configuration"):
        settings_from({"cpython-build": "release,nogil", "cpython-bisect": "yes"})


def test_fork_urls() -> None:
    assert git._fork_url("https://github.com/python/cpython", "markshannon") == \
        "https://github.com/markshannon/cpython"
    with pytest.raises(RefError):
        git._fork_url("https://example.invalid", "someone")


@pytest.mark.parametrize("ref", ["", "-x", "a\nb", "--upload-pack=evil"])
def test_ref_text_that_is_no_ref(ref: str, tmp_path: Path) -> None:
    with pytest.raises(RefError, match="not a git ref"):
        git.resolve(str(tmp_path), ref, tmp_path)


@pytest.mark.usefixtures("subprocesses")
def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(CpybenchError, match="is not a git repository"):
        git.resolve(str(tmp_path), "main", tmp_path)


def test_both_metrics_each_with_its_threshold_and_overrides() -> None:
    both = settings_from({"cpython-metric": "time,instructions",
                          "cpython-thresholds": ["pidigits: 15%", "deepcopy_memo: instructions:2%"]})
    assert both.metrics == ("time", "instructions") and both.metric == "time"
    assert both.metric_thresholds == {"time": pytest.approx(0.05), "instructions": pytest.approx(0.01)}
    time, counts = both.for_metric("time"), both.for_metric("instructions")
    assert (time.metric, time.threshold, time.thresholds) == ("time", 0.05, {"pidigits": 0.15})
    assert counts.metrics == ("instructions",) and counts.threshold == pytest.approx(0.01)
    assert counts.thresholds == {"pidigits": 0.15, "deepcopy_memo": 0.02}  # a metric's own line wins
    given = settings_from({"cpython-metric": "time,instructions", "cpython-threshold": "time:7%,instructions:0.5%"})
    assert given.metric_thresholds == {"time": pytest.approx(0.07), "instructions": pytest.approx(0.005)}
    one = settings_from({"cpython-metric": "instructions", "cpython-threshold": "time:7%"})
    assert one.threshold == pytest.approx(0.01)  # the instructions' default: 7% is time's
    bare = settings_from({"cpython-metric": "time,instructions", "cpython-threshold": "3%"})
    assert bare.metric_thresholds == {"time": pytest.approx(0.03), "instructions": pytest.approx(0.03)}


@pytest.mark.parametrize("value, message", [
    ("time:5%,time:6%", "gives time threshold twice"),
    ("5%,6%", "gives the threshold twice"),
    ("time:500%", "out of range"),
])
def test_bad_metric_thresholds(value: str, message: str) -> None:
    with pytest.raises(CpybenchError, match=message):
        settings_from({"cpython-threshold": value})


def test_the_sides_at_once_and_deciding_per_item_are_the_defaults() -> None:
    settings = settings_from({})
    assert settings.parallel == "auto" and settings.decide == "item"
