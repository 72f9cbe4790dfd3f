"""Text output, on the published seed results (tests/data/seed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyperf
import pytest
from seed import BASE_3_10, BASE_3_11, HEAD_FILE, SEED

from pytest_cpybench.output.formatting import (
    LEGEND,
    format_changes_table,
    format_comparisons,
    format_failure_message,
    format_headline,
    format_ratio,
    format_ratio_interval,
    format_result_line,
    format_summary_block,
)
from pytest_cpybench.results.files import load_suite
from pytest_cpybench.verdict.compare import compare_suites
from pytest_cpybench.verdict.stats import RatioEstimate, Verdict

MISSING = "- missing benchmarks: flaskblogging, sqlalchemy_declarative, sqlalchemy_imperative"


def published_tag_line(version: str) -> str:
    """ "- by tag: apps 1.03x faster, ...", from the Geometric mean rows of the published page's tag tables."""
    tag, means = None, []
    for line in (SEED / f"{HEAD_FILE.stem}-vs-{version}.md").read_text().splitlines():
        if match := re.fullmatch(r"Benchmarks with tag '(\w+)':", line):
            tag = match[1]
        elif line == "All benchmarks:":
            tag = None
        elif tag and line.startswith("| Geometric mean "):
            means.append(f"{tag} {line.split('|')[3].strip()}")
    assert len(means) == 6
    return "- by tag: " + ", ".join(means)


def headline_lines(cmp, version: str) -> str:
    """The first lines of a seed block: the published headline with our interval, the published tag means."""
    published = {"3.10.4": "1.30x faster", "3.11.0": "1.03x faster"}[version]
    return f"vs. {version}\n- {published} {format_ratio_interval(cmp.headline)}\n{published_tag_line(version)}"


@pytest.fixture(scope="module")
def vs_3_10():
    return compare_suites(load_suite(BASE_3_10), load_suite(HEAD_FILE))


@pytest.fixture(scope="module")
def vs_3_11():
    return compare_suites(load_suite(BASE_3_11), load_suite(HEAD_FILE))


def edited_copy(source: Path, directory: Path, edit) -> Path:
    data = json.loads(source.read_text())
    edit(data)
    target = directory / source.name
    target.write_text(json.dumps(data))
    return target


def other_suite_version(data) -> None:
    data["metadata"]["benchmark_hash"] = "ffffff"


def without_dask(data) -> None:
    data["benchmarks"] = [b for b in data["benchmarks"] if b["metadata"].get("name") != "dask"]


@pytest.mark.parametrize("ratio", [1.0, 0.5, 2.0, 0.97, 1.03, 0.995, 1.005, 1.4449, 1 / 1.4449, 0.77038743])
def test_format_ratio_is_pyperfs(ratio):
    from pyperf._compare import format_normalized_mean

    assert format_ratio(ratio) == format_normalized_mean(ratio)


def test_format_ratio_examples():
    assert format_ratio(1.0) == "no change"
    assert format_ratio(1 / 1.03) == "1.03x faster"
    assert format_ratio(1.02) == "1.02x slower"


def test_summary_blocks_of_the_seed_page(vs_3_10, vs_3_11):
    assert format_summary_block(vs_3_11) == f"{headline_lines(vs_3_11, '3.11.0')}\n{MISSING}"
    assert format_summary_block(vs_3_10) == f"{headline_lines(vs_3_10, '3.10.4')}\n{MISSING}"
    # The headline's interval: around the published number, and narrow (93 results, 20 processes each).
    assert vs_3_10.headline.low < vs_3_10.geometric_mean < vs_3_10.headline.high
    assert format_summary_block(vs_3_10).splitlines()[1] == "- 1.30x faster [1.297x, 1.299x]"


@pytest.mark.parametrize(("low", "high", "text"), [
    (1 / 1.04, 1 / 1.02, "[1.02x, 1.04x]"),  # faster: the factors, low to high
    (1.02, 1.04, "[1.02x, 1.04x]"),
    (1 / 1.01, 1.02, "[1.01x faster, 1.02x slower]"),  # straddles 1.0: say which side each end is on
    (1 / 1.2981, 1 / 1.2969, "[1.297x, 1.298x]"),  # more digits when two would print the same
    (1.0, 1.0, "[1.00x, 1.00x]"),
])
def test_format_ratio_interval(low, high, text):
    estimate = RatioEstimate((low * high) ** 0.5, low, high, 0.95, 20, 20)
    assert format_ratio_interval(estimate) == text


def test_headline_without_interval_is_the_ratio_alone():
    assert format_headline(RatioEstimate(0.97, 0.0, float("inf"), 0.95, 1, 1)) == "1.03x faster"
    assert format_ratio_interval(RatioEstimate(0.97, 0.0, float("inf"), 0.95, 1, 1)) == "n/a"


def test_summary_block_with_star_and_new_benchmarks(tmp_path):
    def older_suite(data):
        other_suite_version(data)
        without_dask(data)

    base = load_suite(edited_copy(BASE_3_11, tmp_path, older_suite))
    block = format_summary_block(compare_suites(base, load_suite(HEAD_FILE)))
    lines = block.splitlines()
    assert lines[0] == "vs. 3.11.0"
    assert re.fullmatch(r"- \d+\.\d\dx (faster|slower) \[\d\.\d+x, \d\.\d+x\] \*", lines[1])
    assert lines[2].startswith("- by tag: apps ")
    assert lines[3:] == [MISSING, "- new benchmarks: dask"]


def test_summary_block_warns_about_another_machine(tmp_path):
    def other_machine(data):
        data["metadata"]["hostname"] = "laptop"

    head = load_suite(edited_copy(HEAD_FILE, tmp_path, other_machine))
    block = format_summary_block(compare_suites(load_suite(BASE_3_11), head))
    assert block.splitlines()[-1].startswith("- warning: baseline was measured on another machine (pyperf, ")
    assert "than this run (laptop, " in block


def test_changes_table_lists_significant_changes_slowest_first(vs_3_11):
    table = format_changes_table(vs_3_11)
    lines = table.splitlines()
    header, rule = lines[0], lines[1]
    assert header.split() == ["result", "3.11.0", "3.12.0a1", "change", "95%", "interval", "verdict"]
    assert set(rule) <= {"-", " "}
    significant = [rc for rc in vs_3_11.results if rc.verdict.is_significant_change]
    rows = lines[2 : 2 + len(significant)]
    by_name = {rc.name: rc for rc in vs_3_11.results}
    names = [row.split()[0] for row in rows]
    assert sorted(names) == sorted(rc.name for rc in significant)
    ratios = [by_name[name].ratio for name in names]
    assert ratios == sorted(ratios, reverse=True)
    for row, name in zip(rows, names, strict=True):
        rc = by_name[name]
        assert rc.base_text in row and rc.head_text in row and format_ratio(rc.ratio) in row
        assert f"[{rc.estimate.low:.2f}, {rc.estimate.high:.2f}]" in row
    tail = lines[2 + len(significant) :]
    inconclusive = [rc.name for rc in vs_3_11.results if rc.verdict is Verdict.INCONCLUSIVE]
    unchanged = [rc.name for rc in vs_3_11.results if rc.verdict is Verdict.UNCHANGED]
    assert tail == [
        f"inconclusive ({len(inconclusive)}): {', '.join(inconclusive)}",
        f"not significant ({len(unchanged)}): {', '.join(unchanged)}",
    ]


def test_mean_and_stdev_use_pyperf_units(vs_3_11):
    texts = {rc.name: rc.base_text for rc in vs_3_11.results}
    bench = load_suite(BASE_3_11).get_benchmark("deepcopy_memo")
    mean_text, stdev_text = bench.format_values((bench.mean(), bench.stdev()))
    assert mean_text.endswith(" us") and stdev_text.endswith(" us")
    assert texts["deepcopy_memo"] == f"{mean_text} ± {stdev_text[:-3]}"  # unit written once


def test_failure_message_for_the_pages_biggest_slowdown(vs_3_10):
    coverage = next(rc for rc in vs_3_10.results if rc.name == "coverage")
    assert coverage.verdict is Verdict.REGRESSION
    message = format_failure_message(coverage, "v3.10.4")
    # "70.6 ms", "102 ms" and "1.44x slower" are on the published vs-3.10.4 page.
    assert re.fullmatch(
        r"coverage: 1\.44x slower than v3\.10\.4 \(70\.6 ms ± [\d.]+ -> 102 ms ± [\d.]+, "
        r"threshold 5%, 95% interval 1\.\d\dx-1\.\d\dx\)",
        message,
    ), message


def test_result_lines_say_what_the_verdict_means(vs_3_10, vs_3_11):
    lines = {}
    for rc in vs_3_10.results + vs_3_11.results:
        line = format_result_line(rc)
        assert "\n" not in line
        assert line.startswith(f"{rc.name}: {format_ratio(rc.ratio)} (")
        lines.setdefault(rc.verdict, line)
    assert set(lines) == set(Verdict)
    assert "(not significant, 95% interval " in lines[Verdict.UNCHANGED]
    assert "within the 5% threshold" in lines[Verdict.SLOWER_WITHIN_THRESHOLD]
    assert "inconclusive: the 95% interval " in lines[Verdict.INCONCLUSIVE]
    assert "includes the 5% threshold" in lines[Verdict.INCONCLUSIVE]
    assert "regression beyond the 5% threshold" in lines[Verdict.REGRESSION]


def test_result_line_for_a_single_process_explains_why_it_is_inconclusive(tmp_path):
    def single_process(data):  # what pyperf --debug-single-value writes
        for bench in data["benchmarks"]:
            bench["runs"] = [run for run in bench["runs"] if run.get("values")][:1]

    head = load_suite(edited_copy(HEAD_FILE, tmp_path, single_process))
    cmp = compare_suites(load_suite(BASE_3_11), head)
    assert {rc.verdict for rc in cmp.results} == {Verdict.INCONCLUSIVE}
    rc = cmp.results[0]
    assert format_result_line(rc) == (
        f"{rc.name}: {format_ratio(rc.ratio)} (inconclusive: 20 baseline and 1 head processes, "
        "at least 2 on each side are needed for an interval)"
    )
    assert "n/a" in format_failure_message(rc, "3.11.0")


def test_comparisons_report_each_baseline_in_order(vs_3_10, vs_3_11):
    text = format_comparisons([vs_3_10, vs_3_11])
    blocks = text.split("\n\n")
    assert blocks[0] == f"{headline_lines(vs_3_10, '3.10.4')}\n{MISSING}"
    assert blocks[1] == f"{headline_lines(vs_3_11, '3.11.0')}\n{MISSING}"
    assert blocks[2] == f"Changes vs. 3.10.4 (threshold 5%):\n{format_changes_table(vs_3_10)}"
    assert blocks[3] == f"Changes vs. 3.11.0 (threshold 5%):\n{format_changes_table(vs_3_11)}"
    assert LEGEND not in text
    assert len(blocks) == 4 and not text.endswith("\n")


def test_comparisons_say_where_each_baseline_came_from(vs_3_10, vs_3_11):
    text = format_comparisons([vs_3_10, vs_3_11], notes=["from file a.json", ""])
    blocks = text.split("\n\n")
    assert blocks[0] == f"{headline_lines(vs_3_10, '3.10.4')}\n{MISSING}\n  (from file a.json)"
    assert blocks[1] == f"{headline_lines(vs_3_11, '3.11.0')}\n{MISSING}"
    with pytest.raises(ValueError, match="1 notes for 2 comparisons"):
        format_comparisons([vs_3_10, vs_3_11], notes=["a"])


def test_comparisons_print_the_legend_once_when_any_baseline_is_starred(tmp_path, vs_3_10):
    old_base = load_suite(edited_copy(BASE_3_11, tmp_path, other_suite_version))
    text = format_comparisons([vs_3_10, compare_suites(old_base, load_suite(HEAD_FILE))])
    blocks = text.split("\n\n")
    assert blocks[0].splitlines()[1] == f"- 1.30x faster {format_ratio_interval(vs_3_10.headline)}"
    assert blocks[1].splitlines()[1].startswith("- 1.03x faster [") and blocks[1].splitlines()[1].endswith("] *")
    assert blocks[2] == LEGEND
    assert text.count(LEGEND) == 1
    assert "\n" not in LEGEND and LEGEND.startswith("* ")


def test_comparisons_show_the_threshold_and_overrides():
    strict = compare_suites(load_suite(BASE_3_11), load_suite(HEAD_FILE), threshold=0.01, overrides={"pickle": 0.1})
    text = format_comparisons([strict])
    assert "Changes vs. 3.11.0 (threshold 1%):" in text
    pickle_row = next(line for line in text.splitlines() if line.startswith("pickle "))
    assert pickle_row.endswith("slower, within 10%")


def test_no_significant_changes():
    suite = load_suite(BASE_3_11)
    one_result = pyperf.BenchmarkSuite([suite.get_benchmark("2to3")])
    cmp = compare_suites(one_result, one_result, base_label="a", head_label="b")
    assert format_changes_table(cmp) == "no significant changes\nnot significant (1): 2to3"
    assert format_summary_block(cmp) == (
        f"vs. a\n- no change {format_ratio_interval(cmp.headline)}\n- by tag: apps no change")
    assert format_ratio_interval(cmp.headline).endswith(" slower]")  # an interval around 1.0


def test_a_trimmed_interval_on_the_other_side_of_its_ratio_says_so():
    """From 10 interleaved rounds the interval is of the trimmed rounds and may leave the ratio of
    means out (stats.paired_ratio_interval): its ends are then named, and the line says why."""
    faster_rounds = RatioEstimate(1.01, 1 / 1.03, 1 / 1.01, 0.99, 20, 20)
    assert format_ratio_interval(faster_rounds) == "[1.03x faster, 1.01x faster]"
    # 2 rounds in 20 slowed 1.6x: 6% on the mean; the 10% trim cuts both.
    pairs = [(0.02, 0.02 * (1.6 if i % 10 == 0 else 1.0) * (1 + 0.001 * (i % 3))) for i in range(20)]
    rc = compare_suites_of_pairs(pairs)
    assert rc.verdict is Verdict.INCONCLUSIVE and rc.estimate.high < 1.05 < rc.ratio
    line = format_result_line(rc)
    assert "inconclusive: the ratio is beyond the 5% threshold, its 99% interval " in line
    assert line.endswith(
        "is not; the interval, of the rounds without the most extreme, leaves this ratio of means out)")


def compare_suites_of_pairs(pairs):
    """One interleaved result of these (base, head) process means, one value per process."""
    from pytest_cpybench.verdict.compare import compare_benchmarks

    def bench(values):
        runs = [pyperf.Run([value], metadata={"name": "bimodal", "unit": "second"}, collect_metadata=False)
                for value in values]
        return pyperf.Benchmark(runs)

    return compare_benchmarks(bench([b for b, _ in pairs]), bench([h for _, h in pairs]), confidence=0.99,
                              paired=True)
