"""pyperformance benchmarks as pytest items, run under a real built CPython."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyperf
import pytest
from helpers import CRASH_AND_HANG, pytest_run, write_manifest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from pytest_cpybench.measure import cpus
from pytest_cpybench.plugin import gateways
from pytest_cpybench.results import metadata as md
from pytest_cpybench.suite import _pyperformance, definitions


def _collected_ids(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if line.startswith("pyperformance::")]


@pytest.fixture(scope="module")
def ref_args(repo: Path, cache_dir: Path) -> list[str]:
    return ["--cpython-ref=v3.13.5", f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}"]


def test_collect_only_one_item_per_manifest_benchmark(ref_args: list[str], cpython_3135, tmp_path: Path) -> None:
    done = pytest_run(*ref_args, "--collect-only", "-q", cwd=tmp_path)
    assert done.returncode == 0
    expected = {f"pyperformance::{bench.name}" for bench in _pyperformance.load_benchmarks()}
    runnable = {f"pyperformance::{bench.name}" for bench in _pyperformance.load_benchmarks()
                if definitions.supports(bench, "3.13.5") is None}
    assert set(_collected_ids(done.stdout)) == expected
    assert f"{len(runnable)} tests collected" in done.stdout  # 3.13.5 can run every one


def test_markers_select_like_pyperformance_tags(ref_args: list[str], cpython_3135, tmp_path: Path) -> None:
    done = pytest_run(*ref_args, "--collect-only", "-q", "-m", "math", "--strict-markers", cwd=tmp_path)
    assert done.returncode == 0
    assert sorted(_collected_ids(done.stdout)) == [
        "pyperformance::float", "pyperformance::nbody", "pyperformance::pidigits"]
    selection = pytest_run(*ref_args, "--collect-only", "-q", "--cpython-benchmarks=math,-pidigits,json_dumps",
                           cwd=tmp_path)
    assert sorted(_collected_ids(selection.stdout)) == [
        "pyperformance::float", "pyperformance::json_dumps", "pyperformance::nbody"]


def test_run_cheap_benchmarks_writes_full_pyperf_json(ref_args: list[str], cpython_3135, tmp_path: Path) -> None:
    out = tmp_path / "session.json"
    done = pytest_run(*ref_args, "--cpython-mode=fast", "--cpython-benchmarks=nbody,richards,json_dumps,deepcopy",
                      f"--cpython-json={out}", f"--cpython-results-dir={tmp_path / 'results'}",
                      "--cpython-machine=ci-box", "-v", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert "4 passed" in done.stdout
    assert "deepcopy_memo:" in done.stdout and " ± " in done.stdout  # per-item result lines
    suite = pyperf.BenchmarkSuite.load(str(out))
    assert set(suite.get_benchmark_names()) == {
        "nbody", "richards", "json_dumps", "deepcopy", "deepcopy_reduce", "deepcopy_memo"}
    for bench in suite.get_benchmarks():
        meta = bench.get_metadata()
        assert meta[md.FULL_SHA] == cpython_3135.commit["sha"]
        assert meta[md.COMMIT_ID] == cpython_3135.commit["sha"][:7]
        assert meta[md.COMMIT_BRANCH] == "v3.13.5"
        assert meta[md.COMMIT_DATE].startswith("2025-06-11")
        assert meta[md.BUILD_PRESET] == "release"
        assert meta[md.MACHINE] == "ci-box"
        assert meta[md.PERFORMANCE_VERSION] == _pyperformance.pyperformance_version()
        assert len(meta[md.BENCHMARK_HASH]) == 6
        assert bench.get_nrun() >= 3  # fast mode: several worker processes
    stored = list((tmp_path / "results").rglob("bm-*.json"))
    assert len(stored) == 1 and "-ci_box-" in stored[0].name  # bench_runner: "-" separates fields
    shown = subprocess.run([sys.executable, "-m", "pyperf", "show", str(out)], capture_output=True, text=True)
    assert shown.returncode == 0 and "deepcopy_memo" in shown.stdout
    compared = subprocess.run([sys.executable, "-m", "pyperf", "compare_to", str(stored[0]), str(out)],
                              capture_output=True, text=True)
    assert compared.returncode == 0, compared.stderr


@pytest.mark.skipif(len(cpus.usable_cpus(None)) < 2, reason="-n 2 needs two CPUs: it is refused on one")
def test_xdist_workers_share_the_build_and_report_back(ref_args: list[str], cpython_3135,
                                                      tmp_path: Path) -> None:
    out = tmp_path / "xdist.json"
    done = pytest_run(*ref_args, "-n", "2", "--cpython-mode=debug", "--cpython-benchmarks=nbody,richards,deepcopy",
                      f"--cpython-json={out}", f"--cpython-results-dir={tmp_path / 'results'}", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert "3 passed" in done.stdout
    suite = pyperf.BenchmarkSuite.load(str(out))
    assert set(suite.get_benchmark_names()) == {"nbody", "richards", "deepcopy", "deepcopy_reduce", "deepcopy_memo"}
    # Each worker's benchmark processes ran on CPUs of their own: pyperf records the affinity it set.
    halves = gateways.local_worker_cpus(["popen", "popen"], None)
    assert halves is not None
    assert f"2 workers, each pinned to its own CPUs: {', '.join(halves)}" in done.stdout
    for bench in suite.get_benchmarks():  # every process of a benchmark on the one half of its worker
        pinned = {run.get_metadata().get("cpu_affinity") for run in bench.get_runs()}
        assert len(pinned) == 1 and pinned <= set(halves), (bench.get_name(), pinned)


def _host_version() -> str:
    """The host interpreter's version as the plugin reports a target's: "3.11.2", "3.14.0a1"."""
    v = sys.version_info
    tag = {"alpha": "a", "beta": "b", "candidate": "rc"}.get(v.releaselevel)
    return f"{v.major}.{v.minor}.{v.micro}" + (f"{tag}{v.serial}" if tag else "")


def test_existing_interpreter_and_version_filter(tmp_path: Path, host_cache: Path) -> None:
    # The host interpreter is a real target of its own: a benchmark whose requires-python excludes
    # it is skipped with the reason, whatever the host's version. pyperformance's manifest has such a
    # benchmark for hosts before 3.12 (dask and others need >=3.12); for newer hosts, where none
    # is excluded, an extra manifest declares one that needs the next minor version.
    version = _host_version()
    host = Version(version)
    excluded = [bench for bench in _pyperformance.load_benchmarks()
                if bench.requires_python and not SpecifierSet(bench.requires_python).contains(host, prereleases=True)]
    extra: list[str] = []
    if excluded:
        name, requires = excluded[0].name, excluded[0].requires_python
    else:
        name, requires = "nextversion", f">={sys.version_info[0]}.{sys.version_info[1] + 1}"
        manifest = write_manifest(tmp_path / "suite", {name: f"runner.bench_func('{name}', sum, range(100))"},
                                   requires_python=requires)
        extra = [f"--cpython-manifest={manifest}"]
    out = tmp_path / "host.json"
    done = pytest_run(f"--cpython-python={sys.executable}", f"--cpython-cache-dir={host_cache}", *extra,
                      "--cpython-mode=debug", f"--cpython-benchmarks=nbody,{name}", f"--cpython-json={out}",
                      f"--cpython-results-dir={tmp_path / 'results'}", "-rs", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert "1 passed, 1 skipped" in done.stdout
    assert f"requires Python {requires} (target is {version})" in done.stdout
    assert pyperf.BenchmarkSuite.load(str(out)).get_benchmark_names() == ["nbody"]


def test_crashing_and_hanging_benchmarks_error_and_the_session_goes_on(
        ref_args: list[str], cpython_3135, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "suite", CRASH_AND_HANG)
    out = tmp_path / "custom.json"
    done = pytest_run(*ref_args, f"--cpython-manifest={manifest}", "--cpython-benchmarks=good,crash,hang",
                      "--cpython-mode=debug", "--cpython-timeout=10", f"--cpython-json={out}",
                      f"--cpython-results-dir={tmp_path / 'results'}", cwd=tmp_path, timeout=600)
    assert done.returncode == 1
    assert "1 passed, 2 errors" in done.stdout
    assert "RuntimeError: this benchmark is broken" in done.stdout  # the crash's stderr tail
    assert "hang timed out after 10 s" in done.stdout
    assert "benchmarks that errored" in done.stdout
    assert pyperf.BenchmarkSuite.load(str(out)).get_benchmark_names() == ["good"]

