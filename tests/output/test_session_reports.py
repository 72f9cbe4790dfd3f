"""Reports from a real session: pages, plots, CI summaries, and the peak-memory gate."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import run


@pytest.fixture
def base_args(repo: Path, cache_dir: Path, tmp_path: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--cpython-repo={repo}",
            f"--cpython-cache-dir={cache_dir}", "--cpython-mode=fast", "--cpython-budget=8",
            f"--cpython-results-dir={tmp_path / 'results'}", "-v"]


def test_a_session_writes_the_whole_report_and_ci_summaries(base_args: list[str], tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    step_summary = tmp_path / "step-summary.md"
    step_summary.write_text("earlier step\n")
    comment = tmp_path / "comment.md"
    done = run([*base_args, "--cpython-ref=slowdown", "--cpython-baseline=v3.13.5",
                "--cpython-benchmarks=deepcopy,nbody", f"--cpython-report={report_dir}",
                f"--cpython-pr-comment={comment}"],
               cwd=tmp_path, env={"GITHUB_STEP_SUMMARY": str(step_summary)})
    assert done.returncode == 1, done.stdout  # deepcopy is slower
    pages = sorted(p.relative_to(report_dir).as_posix() for p in report_dir.rglob("*") if p.is_file())
    assert any(p.endswith("-vs-v3.13.5.md") for p in pages), pages
    assert any(p.endswith(".png") for p in pages) and any(p.endswith(".svg") for p in pages), pages
    assert any(p.endswith("README.md") and "/" in p for p in pages), pages  # the run's page
    assert "README.md" in pages or "index.md" in pages, pages  # the index of the folder
    table = next(report_dir.rglob("*-vs-v3.13.5.md")).read_text()
    assert "# Results vs. v3.13.5" in table and "deepcopy" in table
    assert "slower" in table
    assert f"report written to {report_dir}" in done.stdout or str(report_dir) in done.stdout
    summary = step_summary.read_text()
    assert summary.startswith("earlier step\n")  # appended, not replaced
    assert "v3.13.5" in summary and "slower" in summary and "deepcopy" in summary
    body = comment.read_text()
    assert "v3.13.5" in body and "deepcopy" in body
    assert len(body.splitlines()) < 60  # short enough for a PR comment


def test_peak_memory_growth_fails_only_with_a_memory_threshold(base_args: list[str], tmp_path: Path) -> None:
    # The `memory` branch keeps 64 MB alive in the copy module: deepcopy's peak RSS grows, its speed not.
    args = [*base_args, "--cpython-ref=memory", "--cpython-baseline=v3.13.5", "--cpython-benchmarks=deepcopy",
            "--cpython-save=no", "--cpython-threshold=50%"]
    gated = run([*args, "--cpython-memory-threshold=10%"], cwd=tmp_path)
    assert gated.returncode == 1, gated.stdout
    assert "pyperformance::deepcopy FAILED" in gated.stdout
    assert "peak memory" in gated.stdout and "x that of v3.13.5" in gated.stdout
    reported = run(args, cwd=tmp_path)
    assert reported.returncode == 0, reported.stdout

