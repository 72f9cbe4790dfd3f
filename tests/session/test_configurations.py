"""Several build configurations in one session, end to end: ``--cpython-build=release,nogil`` on the
test repository's ``slowdown`` branch (copy.deepcopy ~2x slower) against v3.13.5, both builds of each
side real (the nogil ones ``--disable-gil``): deepcopy fails in each configuration, each is stored
under its own build tag and summarised in a block of its own, and the report gets the configurations
section with the flag-effect plot. Node ids: ``pyperformance::deepcopy`` and
``pyperformance::deepcopy[nogil]``, which ``--lf`` selects one by one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyperf
from helpers import pytest_run, run

from pytest_cpybench.results import metadata as md
from pytest_cpybench.results import naming


def test_slowdown_fails_deepcopy_in_release_and_nogil(repo: Path, cache_dir: Path, tmp_path: Path) -> None:
    results, report = tmp_path / "results", tmp_path / "report"
    done = pytest_run(f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}", "--cpython-mode=fast",
                      "--cpython-budget=12", f"--cpython-results-dir={results}", f"--cpython-report={report}",
                      "--cpython-ref=slowdown", "--cpython-baseline=v3.13.5", "--cpython-build=release,nogil",
                      "--cpython-benchmarks=deepcopy", "-v", cwd=tmp_path)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "pyperformance::deepcopy FAILED" in out and "pyperformance::deepcopy[nogil] FAILED" in out
    assert "2 failed" in out
    assert "build=release,nogil" in out
    assert "target nogil: slowdown -> Python 3.13.5" in out
    summary = out.split("= cpybench =")[1]
    release, nogil = summary.index("== release (threshold 5%)"), summary.index("== nogil (threshold 5%)")
    assert "vs. v3.13.5\n- " in summary[release:nogil] and "vs. v3.13.5\n- " in summary[nogil:]
    # Four results files: head and baseline of each configuration, the nogil ones under their tag.
    stored = sorted(results.rglob("bm-*.json"))
    tags = sorted(list(naming.parse_name(naming.results_stem(path.name)).extra) for path in stored)  # type: ignore[union-attr]
    assert tags == [[], [], ["NOGIL"], ["NOGIL"]], stored
    for path in stored:
        suite = pyperf.BenchmarkSuite.load(str(path))
        preset = suite.get_benchmarks()[0].get_metadata()[md.BUILD_PRESET]
        assert (preset == "nogil") == path.stem.endswith("-NOGIL")
    # The report: the configurations section in the release run's README, its page and plot.
    folders = sorted(p.name for p in report.glob("bm-*") if p.is_dir())
    # A run folder per configuration's head (its baselines are pages in it), bench_runner's flags in the name.
    assert len(folders) == 2 and folders[1] == folders[0] + "-NOGIL", folders
    pages = list(report.rglob("bm-*-configurations.md"))
    assert len(pages) == 1 and not pages[0].parent.name.endswith("-NOGIL")
    readme = (pages[0].parent / "README.md").read_text()
    section = readme.split("## Configurations\n")[1]
    assert "| [nogil](../" in section and "than release (3 results)" in section
    assert section.count("deepcopy") >= 2  # the regressions of each configuration
    assert list(pages[0].parent.glob("bm-*-configurations.png"))
    record = json.loads((pages[0].parent / ".cpybench-configurations.json").read_text())
    assert [row["preset"] for row in record["rows"]] == ["release", "nogil"]


def test_node_ids_per_configuration_and_last_failed(repo: Path, tmp_path: Path) -> None:
    args = [f"--cpython-repo={repo}", "--cpython-ref=slowdown", "--cpython-build=release,nogil",
            f"--cpython-cache-dir={tmp_path / 'cache'}", "--cpython-benchmarks=deepcopy,nbody", "--collect-only", "-q"]
    done = pytest_run(*args, cwd=tmp_path)
    assert done.stdout.split("\n\n")[0].splitlines() == [
        "pyperformance::deepcopy", "pyperformance::deepcopy[nogil]", "pyperformance::nbody",
        "pyperformance::nbody[nogil]"]
    one = pytest_run(*args, "pyperformance::nbody[nogil]", cwd=tmp_path)
    assert one.stdout.split("\n\n")[0].splitlines() == ["pyperformance::nbody[nogil]"]
    # pytest's own --lf, from what it recorded: only the configuration that failed comes back.
    lastfailed = tmp_path / ".pytest_cache" / "v" / "cache" / "lastfailed"
    lastfailed.parent.mkdir(parents=True)
    lastfailed.write_text(json.dumps({"pyperformance::deepcopy[nogil]": True}))
    again = run([sys.executable, "-m", "pytest", *args, "--lf"], cwd=tmp_path)
    assert again.stdout.split("\n\n")[0].splitlines() == ["pyperformance::deepcopy[nogil]"], again.stdout
    unknown = pytest_run(*args, "pyperformance::nbody[jit]", cwd=tmp_path)
    assert unknown.returncode == 4
    assert "'jit' is not a build configuration of this session (--cpython-build=release,nogil)" in unknown.stderr
