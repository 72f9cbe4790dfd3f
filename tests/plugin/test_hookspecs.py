"""The hooks a project's conftest.py implements (pytest_cpybench/plugin/hookspecs.py), in a real
session on a real build: the machine name a conftest gives is the one results are stored under, and
a publish hook sees the stored results."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pyperf
import pytest
from helpers import pytest_run, write_manifest

from pytest_cpybench.results import metadata as md

CONFTEST = """
import json
from pathlib import Path


def pytest_cpybench_machine_info(config, machine_info):
    machine_info["machine"] = "rack-7-box"
    machine_info["arch"] = "testarch"


def pytest_cpybench_publish(config, result, settings):
    Path("published.json").write_text(json.dumps({
        "head_path": result.head_path, "machine": settings.machine,
        "results": sorted(result.head_suite.get_benchmark_names())}))
"""


def test_a_conftest_names_the_machine_and_sees_what_was_published(repo: Path, cache_dir: Path, cpython_3135,
                                                                   tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "benches", {"tiny": 'runner.bench_func("tiny", sum, range(100))'})
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    results = tmp_path / "results"
    done = pytest_run("--cpython-ref=v3.13.5", f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}",
                      f"--cpython-manifest={manifest}", "--cpython-benchmarks=tiny", "--cpython-mode=debug",
                      f"--cpython-results-dir={results}", "--cpython-machine=ignored-by-the-conftest",
                      cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "machine=rack-7-box" in done.stdout  # the report header
    (stored,) = results.rglob("bm-*.json")
    assert "-rack_7_box-testarch-" in stored.name  # "-" separates the fields of a name
    suite = pyperf.BenchmarkSuite.load(str(stored))
    assert suite.get_benchmark("tiny").get_metadata()[md.MACHINE] == "rack-7-box"
    published = json.loads((tmp_path / "published.json").read_text())
    assert published == {"head_path": str(stored), "machine": "rack-7-box", "results": ["tiny"]}


@pytest.mark.usefixtures("subprocesses")
def test_a_machine_name_from_a_conftest_is_checked_like_the_option(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "def pytest_cpybench_machine_info(config, machine_info):\n    machine_info['machine'] = 'two\\nlines'\n")
    done = pytest_run("--cpython-python=/usr/bin/python3", "--collect-only", f"--cpython-cache-dir={tmp_path}",
                      cwd=tmp_path)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "pytest_cpybench_machine_info's machine='two\\nlines' is not a machine name" in done.stderr
