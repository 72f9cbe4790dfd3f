"""Benchmarks are collected through pytest's own tree: node ids, --lf, --deselect, -k with result
names, testpaths, --collect-only without a build, JUnit XML, and a session in a CPython clone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import CRASH_AND_HANG, pytest_run, run, write_manifest

pytestmark = pytest.mark.usefixtures("subprocesses")  # every test here starts processes


def _ids(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if line.startswith("pyperformance::")]


@pytest.fixture
def host_args(tmp_path: Path, host_cache: Path) -> list[str]:
    """The host interpreter as the target: no build, real benchmarks."""
    return [f"--cpython-python={sys.executable}", f"--cpython-cache-dir={host_cache}",
            f"--cpython-results-dir={tmp_path / 'results'}", "--cpython-mode=debug"]


@pytest.fixture
def collect_args(tmp_path: Path) -> list[str]:
    return [f"--cpython-python={sys.executable}", f"--cpython-cache-dir={tmp_path / 'cache'}",
            f"--cpython-results-dir={tmp_path / 'results'}", "--collect-only", "-q"]


def test_node_ids_select_items(collect_args: list[str], tmp_path: Path) -> None:
    done = pytest_run(*collect_args, "pyperformance::nbody", "pyperformance::json_dumps", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert _ids(done.stdout) == ["pyperformance::json_dumps", "pyperformance::nbody"]


def test_a_result_name_selects_its_benchmark(collect_args: list[str], tmp_path: Path) -> None:
    by_option = pytest_run(*collect_args, "--cpython-benchmarks=logging_format,nbody", cwd=tmp_path)
    assert _ids(by_option.stdout) == ["pyperformance::logging", "pyperformance::nbody"], by_option.stdout
    assert "'logging_format' is a result of benchmark 'logging': selecting logging" in by_option.stdout
    by_k = pytest_run(*collect_args, "-k", "deepcopy_memo or many_optionals", cwd=tmp_path)
    assert _ids(by_k.stdout) == ["pyperformance::argparse", "pyperformance::deepcopy"], by_k.stdout
    by_id = pytest_run(*collect_args, "pyperformance::scimark_fft", cwd=tmp_path)
    assert _ids(by_id.stdout) == ["pyperformance::scimark"], by_id.stdout


def test_deselect_by_node_id(collect_args: list[str], tmp_path: Path) -> None:
    done = pytest_run(*collect_args, "--cpython-benchmarks=math", "--deselect", "pyperformance::nbody",
                      cwd=tmp_path)
    assert "pyperformance::nbody" not in _ids(done.stdout)
    assert "pyperformance::float" in _ids(done.stdout)


def test_testpaths_of_the_project_are_not_collected(collect_args: list[str], tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_own.py").write_text("def test_nbody_of_my_project():\n    pass\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    done = pytest_run(*collect_args, "-k", "nbody", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert "test_nbody_of_my_project" not in done.stdout
    assert _ids(done.stdout) == ["pyperformance::nbody"]
    explicit = pytest_run(*collect_args, "-k", "nbody", "tests", cwd=tmp_path)  # asked for by path: both
    assert "tests/test_own.py::test_nbody_of_my_project" in explicit.stdout


def test_collect_only_builds_nothing(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "fresh-cache"
    started = time.monotonic()
    done = pytest_run(f"--cpython-repo={repo}", "--cpython-ref=v3.11.2", "--cpython-baseline=slowdown",
                      f"--cpython-cache-dir={cache}", f"--cpython-results-dir={tmp_path / 'results'}",
                      "--collect-only", "-q", "-rs", cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout
    assert not (cache / "builds").exists(), "collecting built something"
    assert "pyperformance::nbody" in _ids(done.stdout)
    assert elapsed < 60, f"--collect-only took {elapsed:.0f} s"  # a build takes minutes
    # The skips need the target's version, read from the sources: 3.11 cannot run dask.
    full = pytest_run(f"--cpython-repo={repo}", "--cpython-ref=v3.11.2", f"--cpython-cache-dir={cache}",
                      "--collect-only", "-k", "dask", cwd=tmp_path)
    assert "pyperformance::dask" in full.stdout or "<BenchmarkItem dask>" in full.stdout


def test_last_failed_reruns_only_the_failed_items(host_args: list[str], tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "suite", {"good": CRASH_AND_HANG["good"],
                                                    "crash": CRASH_AND_HANG["crash"]})
    args = [sys.executable, "-m", "pytest", *host_args, f"--cpython-manifest={manifest}",
            "--cpython-benchmarks=good,crash", "-v"]
    first = run(args, cwd=tmp_path)
    assert first.returncode == 1, first.stdout
    assert "pyperformance::crash ERROR" in first.stdout and "pyperformance::good PASSED" in first.stdout
    again = run([*args, "--lf"], cwd=tmp_path)
    assert "pyperformance::crash ERROR" in again.stdout
    assert "pyperformance::good" not in again.stdout.split("test session starts")[1].split("short test summary")[0]
    single = run([*args, "pyperformance::good"], cwd=tmp_path)
    assert single.returncode == 0, single.stdout
    assert "1 passed" in single.stdout


def test_junit_xml_has_per_result_properties_and_no_pyperf_json(host_args: list[str], tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    first = pytest_run(*host_args, "--cpython-benchmarks=nbody", f"--cpython-json={base}", cwd=tmp_path)
    assert first.returncode == 0, first.stdout
    xml_path = tmp_path / "junit.xml"
    done = pytest_run(*host_args, "--cpython-benchmarks=nbody", f"--cpython-baseline-file={base}",
                      "--cpython-threshold=50%", f"--junitxml={xml_path}", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stdout
    text = xml_path.read_text()
    assert '"runs"' not in text and "&quot;runs&quot;" not in text  # no pyperf JSON inside
    (case,) = ET.parse(xml_path).getroot().iter("testcase")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    label = "base"
    for key in ("ratio", "interval", "verdict", "base_mean", "head_mean", "unit"):
        assert f"cpybench.nbody.vs.{label}.{key}" in props, props
    assert float(props[f"cpybench.nbody.vs.{label}.ratio"]) > 0
    assert props[f"cpybench.nbody.vs.{label}.unit"] == "second"


def test_a_session_in_a_cpython_clone_leaves_git_status_clean(repo: Path, cache_dir: Path,
                                                              tmp_path: Path) -> None:
    clone = tmp_path / "cpython"
    subprocess.run(["git", "clone", "-q", "--shared", str(repo), str(clone)], check=True)
    results = tmp_path / "user-data" / "results"
    env = {**os.environ, "CPYBENCH_RESULTS_DIR": str(results)}
    env.pop("PYTEST_ADDOPTS", None)
    # Defaults as a CPython developer has them: the clone is the repository, results go to the
    # per-user store, and pytest's own cache stays on (it ignores itself in git).
    done = subprocess.run([sys.executable, "-m", "pytest", "--cpython-ref=v3.13.5", f"--cpython-cache-dir={cache_dir}",
                           "--cpython-benchmarks=nbody", "--cpython-mode=debug"],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=1800)
    print(done.stdout, done.stderr)
    assert done.returncode == 0, done.stdout
    status = subprocess.run(["git", "-C", str(clone), "status", "--porcelain", "--ignored=no"],
                            capture_output=True, text=True, check=True).stdout
    assert status == "", status
    assert list(results.rglob("*.json")), "the results went to the per-user store"
    assert f"stored in {results}" in done.stdout


def test_a_node_id_outside_the_selection_is_still_collected(collect_args: list[str], tmp_path: Path) -> None:
    done = pytest_run(*collect_args, "--cpython-benchmarks=-nbody", "pyperformance::nbody", cwd=tmp_path)
    assert _ids(done.stdout) == ["pyperformance::nbody"], done.stdout
