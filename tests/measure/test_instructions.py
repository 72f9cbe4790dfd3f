"""--cpython-metric=instructions: instruction counts under valgrind's cachegrind.

The end-to-end tests run real valgrind on real builds, on a tiny custom benchmark (one copy.deepcopy of
a small structure per loop): a session counts it in about 20 s per interpreter.
"""

from __future__ import annotations

import re
import statistics
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pyperf
import pytest
from helpers import TINYCOPY, pytest_run, run, write_manifest

from pytest_cpybench.errors import EXIT_INFRASTRUCTURE
from pytest_cpybench.output import formatting
from pytest_cpybench.results import metadata as md
from pytest_cpybench.results import store
from pytest_cpybench.results.identity import RunIdentity, RunKey
from pytest_cpybench.verdict import compare
from pytest_cpybench.verdict.stats import MAX_INSTRUCTION_SPREAD, Verdict


def _counts(values: list[float], name: str = "tinycopy") -> pyperf.Benchmark:
    return pyperf.Benchmark([pyperf.Run([v], collect_metadata=False,
                                        metadata={"name": name, "unit": "integer",
                                                  md.METRIC: md.METRIC_INSTRUCTIONS}) for v in values])


def test_a_count_that_is_not_deterministic_is_inconclusive_never_a_failure() -> None:
    base = _counts([1_000_000, 1_000_010, 1_000_020])
    slower = compare.compare_benchmarks(base, _counts([1_050_000, 1_050_010, 1_050_020]), threshold=0.01)
    assert slower.verdict is Verdict.REGRESSION and slower.spread is not None and slower.spread < 1e-4
    noisy = compare.compare_benchmarks(base, _counts([1_050_000, 1_100_000, 1_020_000]), threshold=0.01)
    assert noisy.spread is not None and noisy.spread > MAX_INSTRUCTION_SPREAD
    assert noisy.verdict is Verdict.INCONCLUSIVE
    assert "instruction count is not deterministic, repetitions spread 7.57%" in formatting.format_result_line(noisy)


def test_the_store_keeps_instruction_counts_and_times_apart(tmp_path: Path) -> None:
    results = store.ResultsStore(tmp_path)
    sha = "287b767e9e4f97471f201df2be02d572baa774c6"
    identity = {"commit_sha": sha, "commit_date": "2025-06-11T12:00:00+00:00", "version": "3.13.5",
                "ref": "v3.13.5", "machine": "box"}
    timed = pyperf.BenchmarkSuite([pyperf.Benchmark([pyperf.Run([0.001, 0.0011], collect_metadata=False,
                                                                metadata={"name": "tinycopy"}),
                                                     pyperf.Run([0.001, 0.0012], collect_metadata=False,
                                                                metadata={"name": "tinycopy"})])])
    counted = pyperf.BenchmarkSuite([_counts([1_000_000, 1_000_001, 1_000_002])])
    time_path = results.save(RunIdentity(**identity), timed)
    instr_path = results.save(RunIdentity(**identity, metric=md.METRIC_INSTRUCTIONS), counted)
    assert time_path is not None and instr_path is not None
    assert instr_path.stem.endswith("-287b767-INSTR") and instr_path.parent.name.endswith("-287b767-INSTR")
    assert "INSTR" not in time_path.name
    found = results.baseline(RunKey(sha, "box", metric=md.METRIC_INSTRUCTIONS))
    assert found.paths == (instr_path,) and found.suite is not None
    assert found.suite.get_benchmark("tinycopy").get_unit() == "integer"
    assert results.baseline(RunKey(sha, "box")).paths == (time_path,)
    assert results.find(RunKey(sha, "box", metric=md.METRIC_INSTRUCTIONS)) == [instr_path]


@pytest.mark.usefixtures("subprocesses")
def test_instructions_without_valgrind_is_one_line_error(tmp_path: Path) -> None:
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    done = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--cpython-python={sys.executable}",
                "--cpython-metric=instructions", f"--cpython-results-dir={tmp_path / 'results'}",
                f"--cpython-cache-dir={tmp_path / 'cache'}", "--cpython-benchmarks=nbody"],
               cwd=tmp_path, env={"PATH": str(empty_path)})
    out = done.stdout + done.stderr
    assert done.returncode == EXIT_INFRASTRUCTURE, out
    line = next(line for line in out.splitlines() if "needs valgrind" in line)
    assert "sudo apt-get install valgrind" in line and "Traceback" not in out
    assert not (tmp_path / "results").exists()


@pytest.fixture
def tinycopy(tmp_path: Path) -> list[str]:
    manifest = write_manifest(tmp_path / "suite", {"tinycopy": TINYCOPY})
    return [f"--cpython-manifest={manifest}", "--cpython-benchmarks=tinycopy"]


def test_counts_of_one_interpreter_repeat_within_a_tiny_spread(
        repo: Path, cache_dir: Path, cpython_3135, tinycopy: list[str], tmp_path: Path) -> None:
    values = []
    # The second session's environment has one more 100-byte variable: it must not move the counts
    # (it moved deepcopy_memo's by 0.7% while workers inherited the caller's environment).
    for session, extra in (("first", {}), ("second", {"CPYBENCH_TEST_PADDING": "x" * 100})):
        out = tmp_path / f"{session}.json"
        done = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--cpython-repo={repo}",
                    f"--cpython-cache-dir={cache_dir}", "--cpython-ref=v3.13.5", "--cpython-metric=instructions",
                    "--cpython-save=no", f"--cpython-json={out}", *tinycopy], cwd=tmp_path, env=extra)
        assert done.returncode == 0, done.stdout
        result = pyperf.BenchmarkSuite.load(str(out)).get_benchmark("tinycopy")
        assert result.get_unit() == "integer" and result.get_metadata()[md.METRIC] == md.METRIC_INSTRUCTIONS
        # A head with no baseline is counted once (tinycopy is deterministic), and says so.
        assert len(result.get_runs()) == 1 and result.get_metadata()[md.REPETITIONS] == 1
        values += result.get_values()
    mean = statistics.fmean(values)
    print(f"tinycopy: {mean:.0f} instructions per loop, spread {(max(values) - min(values)) / mean:.2e}")
    assert 10_000 < mean < 10_000_000
    assert (max(values) - min(values)) / mean < 1e-4


def test_slowdown_small_fails_at_1_percent_and_a_time_result_is_never_its_baseline(
        repo: Path, cache_dir: Path, cpython_3135, tinycopy: list[str], tmp_path: Path) -> None:
    common = [f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}",
              f"--cpython-results-dir={tmp_path / 'results'}", *tinycopy, "-v"]
    # A time result of v3.13.5 in the store ...
    timed = pytest_run(*common, "--cpython-ref=v3.13.5", "--cpython-mode=fast", cwd=tmp_path)
    assert timed.returncode == 0, timed.stdout
    # ... is not the baseline of instruction counts: v3.13.5 is counted in this session.
    done = pytest_run(*common, "--cpython-ref=slowdown-small", "--cpython-baseline=v3.13.5",
                      "--cpython-metric=instructions", cwd=tmp_path)
    out = done.stdout
    assert done.returncode == 1, out
    assert "pyperformance::tinycopy FAILED" in out
    assert "baseline v3.13.5: not in the results store: built and measured in this session" in out
    assert "threshold 1%" in out
    stored = sorted(p.name for p in (tmp_path / "results").rglob("*.json"))
    assert sum("INSTR" in name for name in stored) == 2 and sum("INSTR" not in name for name in stored) == 1
    # The next session takes the stored count as the baseline (counts do not drift: no re-measurement).
    again = pytest_run(*common, "--cpython-ref=slowdown-small", "--cpython-baseline=v3.13.5",
                       "--cpython-metric=instructions", "--cpython-save=no", cwd=tmp_path)
    assert again.returncode == 1, again.stdout
    assert "baseline v3.13.5: stored results:" in again.stdout and "-INSTR" in again.stdout


def _verdicts(junit_xml: Path) -> dict[str, str]:
    """Every result's verdict, ``"deepcopy_memo vs v3.13.5" -> "regression"``, from the JUnit XML's properties."""
    found = {}
    for prop in ET.parse(junit_xml).getroot().iter("property"):
        match = re.fullmatch(r"cpybench\.(\w+)(?:\.instructions)?\.vs\.(.+)\.verdict", prop.get("name", ""))
        if match:
            found[f"{match[1]} vs {match[2]}"] = prop.get("value", "")
    return found


def test_slowdown_tiny_fails_the_results_slowed_beyond_1_percent(
        repo: Path, cache_dir: Path, shas: dict[str, str], cpython_3135, tinycopy: list[str], tmp_path: Path) -> None:
    """slowdown-tiny loads one more global per copy.deepcopy call: about 1.6% more instructions per
    loop of tinycopy, a change wall time cannot see, beyond the default 1%: it fails. (On deepcopy's
    three results, 1.0-2.5% more, in several environments: the benchmarks' instructions section,
    benchmarks/instructions.py, whose heads part counts slowdown-tiny.)"""
    out = tmp_path / "head.json"
    done = pytest_run(f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}",
                      f"--cpython-results-dir={tmp_path / 'results'}", "--cpython-ref=slowdown-tiny",
                      "--cpython-baseline=v3.13.5", "--cpython-metric=instructions", *tinycopy,
                      "--cpython-save=no", f"--cpython-json={out}", "-v", cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    assert "pyperformance::tinycopy FAILED" in done.stdout
    failures = done.stdout.split("= FAILURES =")[1]
    assert re.search(r"tinycopy: 1\.0[12]x slower than v3\.13\.5 \(.*threshold 1%", failures), failures
    head = pyperf.BenchmarkSuite.load(str(out))
    assert {b.get_metadata()[md.FULL_SHA] for b in head.get_benchmarks()} == {shas["slowdown-tiny"]}


def test_counts_under_xdist_give_every_item_its_verdict_and_store_each_side_once(
        repo: Path, cache_dir: Path, cpython_3135, tinycopy: list[str], tmp_path: Path) -> None:
    # Two items on two workers, each counting head and baseline: tinycopy is slowed by slowdown-small
    # (about 1.2x: fails), unpack_sequence is not (passes).
    manifest, _ = tinycopy
    xml = tmp_path / "junit.xml"
    done = pytest_run(f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}",
                      f"--cpython-results-dir={tmp_path / 'results'}", "--cpython-ref=slowdown-small",
                      "--cpython-baseline=v3.13.5", "--cpython-metric=instructions", manifest,
                      "--cpython-benchmarks=tinycopy,unpack_sequence", "-n", "2", f"--junitxml={xml}", "-v",
                      cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    assert re.search(r"FAILED pyperformance::tinycopy", done.stdout), done.stdout
    assert re.search(r"PASSED pyperformance::unpack_sequence", done.stdout), done.stdout
    assert "1 failed, 1 passed" in done.stdout
    verdicts = _verdicts(xml)
    assert set(verdicts) == {"tinycopy vs v3.13.5", "unpack_sequence vs v3.13.5"}, verdicts
    assert verdicts["tinycopy vs v3.13.5"] == "regression"
    assert verdicts["unpack_sequence vs v3.13.5"] in ("unchanged", "faster", "slower within threshold")
    # One results file per side (head and the baseline counted in the session), each with both items'
    # results: the controller stored them once, the workers nothing. unpack_sequence was counted once per
    # side; tinycopy, beyond the threshold, twice (a failure never rests on one count).
    stored = sorted((tmp_path / "results").rglob("*.json"))
    assert len(stored) == 2 and all("-INSTR" in path.name for path in stored), stored
    for path in stored:
        suite = pyperf.BenchmarkSuite.load(str(path))
        assert sorted(suite.get_benchmark_names()) == ["tinycopy", "unpack_sequence"]
        runs = {bench.get_name(): len(bench.get_runs()) for bench in suite.get_benchmarks()}
        assert runs == {"tinycopy": 2, "unpack_sequence": 1}, (path.name, runs)
        assert all(bench.get_unit() == "integer" and bench.get_metadata()[md.REPETITIONS] == runs[bench.get_name()]
                   for bench in suite.get_benchmarks())


def test_the_metric_option_and_its_default_threshold() -> None:
    from pytest_cpybench.errors import CpybenchError
    from pytest_cpybench.options import settings_from

    assert settings_from({}).metric == "time" and settings_from({}).threshold == 0.05
    counted = settings_from({"cpython-metric": "instructions"})
    assert counted.metric == "instructions" and counted.threshold == 0.01
    assert settings_from({"cpython-metric": "instructions", "cpython-threshold": "2%"}).threshold == 0.02
    with pytest.raises(CpybenchError, match="--cpython-metric='cycles' is not valid: choose time, instructions or "
                                            "time,instructions"):
        settings_from({"cpython-metric": "cycles"})


@pytest.mark.usefixtures("subprocesses")
def test_compare_refuses_to_mix_metrics_and_gates_counts_at_1_percent(tmp_path: Path) -> None:
    from helpers import cli

    for name, values in {"base": [1_000_000, 1_000_001, 1_000_002], "head": [1_015_000, 1_015_001, 1_015_002]}.items():
        pyperf.BenchmarkSuite([_counts(values)]).dump(str(tmp_path / f"{name}.json"))
    timed = pyperf.Benchmark([pyperf.Run([0.001, 0.0011], collect_metadata=False, metadata={"name": "tinycopy"}),
                              pyperf.Run([0.001, 0.0012], collect_metadata=False, metadata={"name": "tinycopy"})])
    pyperf.BenchmarkSuite([timed]).dump(str(tmp_path / "timed.json"))
    done = cli("compare", "base.json", "head.json", cwd=tmp_path)
    assert done.returncode == 1 and "threshold 1%" in done.stdout, done.stdout
    mixed = cli("compare", "timed.json", "head.json", cwd=tmp_path)
    assert mixed.returncode == 2 and "holds time results and head.json instructions results" in mixed.stderr
