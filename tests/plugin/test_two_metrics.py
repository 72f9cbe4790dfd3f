"""--cpython-metric=time,instructions: both gates in one session on real builds, each stored and
summarised on its own; a custom benchmark small enough to count quickly."""

from __future__ import annotations

from pathlib import Path

import pyperf
from helpers import pytest_run, write_manifest

from pytest_cpybench.results import metadata as md


def test_both_metrics_gate_one_item_and_store_apart(repo: Path, cache_dir: Path, cpython_3135, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "benches", {"tinysum": 'runner.bench_func("tinysum", sum, range(200))'})
    results = tmp_path / "results"
    done = pytest_run("--cpython-ref=neutral", "--cpython-baseline=v3.13.5", f"--cpython-repo={repo}",
                      f"--cpython-cache-dir={cache_dir}", f"--cpython-manifest={manifest}",
                      "--cpython-benchmarks=tinysum", "--cpython-mode=fast", f"--cpython-results-dir={results}",
                      "--cpython-metric=time,instructions", "-v", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "metric=time,instructions" in done.stdout and "threshold=time:5%,instructions:1%" in done.stdout
    assert "    time: tinysum: " in done.stdout and "    instructions: tinysum: " in done.stdout  # -v lines
    summary = done.stdout.split("= cpybench =")[1]
    assert "== time (threshold 5%)" in summary and "== instructions (threshold 1%)" in summary
    stored = sorted(results.rglob("bm-*.json"))
    metrics = sorted(md.metric_of(pyperf.BenchmarkSuite.load(str(path)).get_metadata()) for path in stored)
    assert metrics == ["instructions", "instructions", "time", "time"]  # head and baseline of each
    assert sum(path.stem.endswith("-INSTR") for path in stored) == 2
