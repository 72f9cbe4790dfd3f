"""A session over several build configurations, on real measured suites (the published seed: 3.12.0a1
against 3.11.0 and against 3.10.4 stand for one change seen in two configurations, whose verdicts
differ on many results): a summary block per configuration, a line per result where they disagree,
and the results pages' configurations section with the flag-effect plot."""

from __future__ import annotations

import pyperf
from seed import BASE_3_10, BASE_3_11, HEAD_FILE

from pytest_cpybench.cpython.targets import Target
from pytest_cpybench.options import settings_from
from pytest_cpybench.output import pages, terminal
from pytest_cpybench.results.files import load_suite
from pytest_cpybench.session.model import BaselineResult, SessionResult
from pytest_cpybench.verdict import configurations
from pytest_cpybench.verdict.compare import compare_suites
from pytest_cpybench.verdict.stats import Verdict

HEAD = Target(label="slowdown", python="python3", version="3.12.0a1")
SETTINGS = settings_from({"cpython-build": "release,nogil", "cpython-machine": "pyperf"})


def _result(preset: str, base: pyperf.BenchmarkSuite, head: pyperf.BenchmarkSuite) -> SessionResult:
    comparison = compare_suites(base, head, base_label="main", head_label="slowdown")
    return SessionResult(preset=preset, head_suite=head,
                         baselines=[BaselineResult("stored results", comparison, base, head, "main")])


def _session() -> list[SessionResult]:
    head = load_suite(HEAD_FILE)
    return [_result("release", load_suite(BASE_3_11), head), _result("nogil", load_suite(BASE_3_10), head)]


def test_results_disagree_where_their_directions_differ() -> None:
    results = _session()
    by_preset = {r.preset: r.baselines[0].comparison for r in results}
    found = configurations.disagreements(by_preset)
    names = {d.result for d in found}
    assert "coverage" in names and "chameleon" in names  # 1.00x vs 1.44x slower (fails); unchanged vs faster
    for d in found:
        verdicts = [rc.verdict for rc in d.by_preset.values()]
        directions = {configurations.direction(rc) for rc in d.by_preset.values()} - {"inconclusive"}
        assert len(directions) > 1 or len({v is Verdict.REGRESSION for v in verdicts}) > 1
    agreeing = {rc.name for rc in by_preset["release"].results} - names
    assert agreeing  # the others agree: no line for them
    for name in agreeing:
        assert len({configurations.direction(c.results[[rc.name for rc in c.results].index(name)])
                    for c in by_preset.values()} - {"inconclusive"}) <= 1
    assert configurations.disagreements({"release": by_preset["release"]}) == []  # one configuration: nothing


def test_the_summary_has_a_block_per_configuration_and_the_disagreement_lines() -> None:
    text = terminal.format_session(_session(), HEAD, SETTINGS, errors={}, elapsed=3)
    blocks = text.split("\n\n")
    headers = [block for block in blocks if block.startswith("== ")]
    assert headers == ["== release (threshold 5%)", "== nogil (threshold 5%)"]
    release, nogil = blocks.index(headers[0]), blocks.index(headers[1])
    assert blocks[release + 1].startswith("vs. main") and blocks[nogil + 1].startswith("vs. main")
    disagree = next(block for block in blocks if block.startswith("configurations disagree:"))
    lines = disagree.splitlines()[1:]
    assert "- coverage: release 1.00x slower (unchanged), nogil 1.44x slower (fails) (vs main)" in lines
    assert "- chameleon: release 1.00x faster (unchanged), nogil 1.40x faster (vs main)" in lines
    assert "- pickle_dict: release 1.01x slower, nogil 1.12x slower (fails) (vs main)" in lines  # one fails
    assert not any(line.startswith("- deepcopy:") for line in lines)  # faster in both


def test_one_configuration_keeps_todays_summary() -> None:
    results = _session()[:1]
    text = terminal.format_session(results, HEAD, settings_from({"cpython-machine": "pyperf"}), errors={}, elapsed=3)
    assert "==" not in text and "configurations disagree" not in text


def test_the_pages_get_a_configurations_section_and_the_flag_effect_plot(tmp_path) -> None:
    # Two real measured suites stand for the release and nogil heads (3.12.0a1 and 3.11.0 as published).
    release_head, nogil_head = load_suite(HEAD_FILE), load_suite(BASE_3_11)
    base = load_suite(BASE_3_10)
    runs = [pages.ConfigurationRun("release", release_head, HEAD_FILE.stem,
                                   [compare_suites(base, release_head, base_label="3.10.4")]),
            pages.ConfigurationRun("nogil", nogil_head, BASE_3_11.stem,
                                   [compare_suites(base, nogil_head, base_label="3.10.4")])]
    written = pages.write_configurations(tmp_path, runs)
    assert written.folder.name == "bm-20221025-3.12.0a1-4ae1a0e"  # the release run's folder
    effect = configurations.flag_effect(release_head, nogil_head, "nogil")
    assert effect.geometric_mean is not None and effect.geometric_mean > 1.0  # 3.11.0 is slower than 3.12.0a1
    page = written.pages["configurations"].read_text()
    assert page.startswith("# Configurations of 3.12.0a1 (4ae1a0e)\n")
    table = [line for line in page.splitlines() if line.startswith("| ")]
    assert table[0] == ("| configuration | geometric mean vs. 3.10.4 | flag effect (vs. release of this commit) | "
                        "regressions |")
    release_row, nogil_row = table[1:]
    assert release_row == ("| [release](README.md) | 1.30x faster [1.297x, 1.299x] | (the reference) | "
                           "coverage, pickle_dict |")
    assert nogil_row.startswith("| [nogil](../bm-20221024-3.11.0-deaf509/README.md) | ")
    assert f"{terminal.formatting.format_ratio(effect.geometric_mean)}" in nogil_row
    assert "than release (93 results)" in nogil_row
    plots = sorted(path.name for path in written.folder.glob("bm-*-configurations.*"))
    assert plots == [f"{HEAD_FILE.stem}-configurations.{ext}" for ext in ("md", "png", "svg")]
    assert (written.folder / plots[1]).read_bytes().startswith(b"\x89PNG")
    assert "nogil" in (written.folder / plots[2]).read_text()
    readme = (written.folder / "README.md").read_text()
    section = readme.split("## Configurations\n")[1]
    assert nogil_row in section and f"![flag effect]({plots[1]})" in section
