"""``python -m pytest_cpybench compare``: the plugin's gate and summary, on the published seed results."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from seed import BASE_3_10, BASE_3_11, HEAD_FILE

from pytest_cpybench import cli
from pytest_cpybench.cli.arguments import spelling
from pytest_cpybench.cpython.targets import Target
from pytest_cpybench.errors import EXIT_INFRASTRUCTURE, CpybenchError
from pytest_cpybench.options import Settings, settings_from
from pytest_cpybench.output.terminal import format_session
from pytest_cpybench.results.files import load_suite
from pytest_cpybench.session.model import BaselineResult, SessionResult
from pytest_cpybench.verdict.compare import compare_suites, expand_overrides
from pytest_cpybench.verdict.stats import Verdict

MISSING = "- missing benchmarks: flaskblogging, sqlalchemy_declarative, sqlalchemy_imperative"


def run_compare(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest_cpybench", "compare", *map(str, args)],
                          capture_output=True, text=True)


def main(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = cli.main(["compare", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def regressions(base: Path, **options: object) -> list:
    cmp = compare_suites(load_suite(base), load_suite(HEAD_FILE), **options)
    return [rc for rc in cmp.results if rc.verdict is Verdict.REGRESSION]


def with_result_metadata(tmp_path: Path, source: Path, owners: dict[str, str]) -> Path:
    """A copy of a seed file whose results carry ``cpybench_benchmark`` (the producing benchmark)."""
    data = json.loads(source.read_text())
    for bench in data["benchmarks"]:
        name = bench["metadata"].get("name")
        if name in owners:
            bench["metadata"]["cpybench_benchmark"] = owners[name]
    target = tmp_path / source.name
    target.write_text(json.dumps(data))
    return target


@pytest.mark.usefixtures("subprocesses")
def test_compare_command_and_session_summary_print_the_same_comparisons():
    done = run_compare(BASE_3_10, HEAD_FILE, BASE_3_11)
    assert done.returncode == 1, done.stderr
    # The session summary of a plugin run against the same two baseline files.
    head = load_suite(HEAD_FILE)
    result = SessionResult(baselines=[
        BaselineResult(f"from file {path}", compare_suites(load_suite(path), head), load_suite(path), head, path.stem)
        for path in (BASE_3_10, BASE_3_11)])
    head_target = Target(label="3.12.0a1", python="python3", version="3.12.0a1")
    session = format_session([result], head_target, Settings(machine="pyperf"), errors={}, elapsed=60)
    header, comparison_part = session.split("\n\n", 1)
    assert header == "3.12.0a1: Python 3.12.0a1 (pyperf, default mode, 60 s)"
    assert done.stdout.startswith(comparison_part + "\n")
    blocks = comparison_part.split("\n\n")
    for block, version, path, headline in ((blocks[0], "3.10.4", BASE_3_10, "1.30x faster"),
                                           (blocks[1], "3.11.0", BASE_3_11, "1.03x faster")):
        assert block.startswith(f"vs. {version}\n- {headline} [")
        assert block.endswith(f"\n{MISSING}\n  (from file {path})")
    assert blocks[2].startswith("Changes vs. 3.10.4 (threshold 5%):\nresult ")
    assert blocks[3].startswith("Changes vs. 3.11.0 (threshold 5%):\nresult ")
    assert len(blocks) == 4


@pytest.mark.usefixtures("subprocesses")
def test_compare_exits_1_on_a_regression_and_0_when_each_has_a_threshold_above_it():
    done = run_compare(BASE_3_10, HEAD_FILE)
    assert done.returncode == 1, done.stderr
    regressed = regressions(BASE_3_10)
    assert "coverage" in [rc.name for rc in regressed]
    assert f"FAILED: {len(regressed)} regressions beyond the threshold" in done.stdout
    assert "\ncoverage: 1.44x slower than 3.10.4 (70.6 ms ± " in done.stdout
    # Whatever else regressed gets a threshold above the top of its interval, comma separated.
    others = ", ".join(f"{rc.name}: {math.ceil((rc.estimate.high - 1) * 100) + 1}%"
                       for rc in regressed if rc.name != "coverage")
    relaxed = run_compare(BASE_3_10, HEAD_FILE, "--thresholds", "coverage: 50%", "--thresholds", others)
    assert relaxed.returncode == 0, relaxed.stdout + relaxed.stderr
    coverage_row = next(line for line in relaxed.stdout.splitlines() if line.startswith("coverage "))
    assert coverage_row.endswith("slower, within 50%")
    assert "passed: no regression beyond the threshold" in relaxed.stdout
    # Relaxing coverage alone is not enough when something else regressed too.
    if others:
        assert run_compare(BASE_3_10, HEAD_FILE, "--thresholds", "coverage: 50%").returncode == 1


def test_inconclusive_results_are_warnings_not_failures(capsys):
    cmp = compare_suites(load_suite(BASE_3_11), load_suite(HEAD_FILE))
    assert not [rc for rc in cmp.results if rc.verdict is Verdict.REGRESSION]
    assert cmp.inconclusive
    code, out, _ = main(capsys, BASE_3_11, HEAD_FILE)
    assert code == 0
    assert out.endswith(f"passed: no regression beyond the threshold "
                        f"({len(cmp.inconclusive)} inconclusive: warnings, not failures)\n")


def test_threshold_applies_to_every_result(capsys):
    strict = regressions(BASE_3_11, threshold=0.01)
    assert strict  # 3.12.0a1 is more than 1% slower than 3.11.0 on a few results
    code, out, _ = main(capsys, BASE_3_11, HEAD_FILE, "--threshold", "1%")
    assert code == 1
    assert "Changes vs. 3.11.0 (threshold 1%):" in out
    assert f"FAILED: {len(strict)} regression" in out
    for rc in strict:
        assert f"\n{rc.name}: {rc.estimate.ratio:.2f}x slower than 3.11.0 (" in out


def test_confidence_sets_the_intervals(capsys):
    code, out, _ = main(capsys, BASE_3_11, HEAD_FILE, "--confidence", "99%")
    assert code == 0
    assert "99% interval" in out and "95% interval" not in out


def test_an_override_may_name_the_benchmark_that_produced_the_results(tmp_path, capsys):
    head = with_result_metadata(tmp_path, HEAD_FILE, {"coverage": "cov", "pickle_dict": "pickles",
                                                      "pickle_list": "pickles"})
    others = [rc.name for rc in regressions(BASE_3_10) if rc.name not in ("coverage", "pickle_dict")]
    relax_others = [arg for name in others for arg in ("--thresholds", f"{name}: 90%")]
    code, out, _ = main(capsys, BASE_3_10, head, "--thresholds", "cov: 50%, pickles: 20%", *relax_others)
    assert code == 0, out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("coverage ", "pickle_dict "))}
    assert rows["coverage"].endswith("slower, within 50%")
    assert rows["pickle_dict"].endswith("slower, within 20%")


def test_expand_overrides(tmp_path):
    owners = {"deepcopy": "deepcopy", "deepcopy_memo": "deepcopy", "deepcopy_reduce": "deepcopy"}
    head = load_suite(with_result_metadata(tmp_path, HEAD_FILE, owners))
    # A result's own entry wins over its benchmark's; names matching nothing are kept.
    assert expand_overrides(head, {"deepcopy": 0.15, "deepcopy_memo": 0.1, "nothing": 0.2}) == {
        "deepcopy": 0.15, "deepcopy_memo": 0.1, "deepcopy_reduce": 0.15, "nothing": 0.2}
    assert expand_overrides(head, {}) == {}
    # Without the metadata (files not written by cpybench), names are result names only.
    assert expand_overrides(load_suite(HEAD_FILE), {"deepcopy": 0.15}) == {"deepcopy": 0.15}


@pytest.mark.parametrize(
    "option, value, raw",
    [
        ("--threshold", "five", {"cpython-threshold": "five"}),
        ("--thresholds", "coverage 50%", {"cpython-thresholds": ["coverage 50%"]}),
        ("--thresholds", "coverage: lots", {"cpython-thresholds": ["coverage: lots"]}),
        ("--confidence", "20%", {"cpython-confidence": "20%"}),
    ],
)
def test_bad_options_give_the_plugins_message_and_exit_2(capsys, option, value, raw):
    with pytest.raises(CpybenchError) as excinfo:
        settings_from(raw, spell=spelling)
    code, out, err = main(capsys, BASE_3_11, HEAD_FILE, option, value)
    assert code == 2  # a usage error, as argparse's own
    assert err == f"error: {excinfo.value}\n"
    assert option in err and "cpython" not in err  # the option as this command spells it
    assert out == ""


def test_compare_needs_a_base_and_a_head(capsys):
    code, out, err = main(capsys, HEAD_FILE)
    assert code == 2
    assert "BASE.json HEAD.json" in err and out == ""


def test_an_unreadable_baseline_prints_nothing_but_the_error(tmp_path, capsys):
    truncated = tmp_path / BASE_3_11.name
    truncated.write_bytes(BASE_3_11.read_bytes()[:1000])
    code, out, err = main(capsys, BASE_3_10, HEAD_FILE, truncated)
    assert code == EXIT_INFRASTRUCTURE
    assert out == "" and str(truncated) in err and err.count("\n") == 1
