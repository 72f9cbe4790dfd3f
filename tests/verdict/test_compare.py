"""compare.py against faster-cpython's published comparison of 3.12.0a1 (4ae1a0e).

The expected values come from the published .md tables in tests/data/seed, parsed here.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pyperf
import pytest
from seed import BASE_3_10, BASE_3_11, HEAD_FILE, SEED

from pytest_cpybench.errors import StoreError
from pytest_cpybench.measure import interleaved
from pytest_cpybench.output.formatting import format_ratio, format_result_line, format_summary_block
from pytest_cpybench.results.files import load_suite
from pytest_cpybench.results.naming import label_from_filename, label_from_suite
from pytest_cpybench.verdict.compare import (
    CONTENTION_MARGIN,
    MEMORY_KEYS,
    compare_benchmarks,
    compare_memory,
    compare_suites,
    first_values,
    like_for_like,
    mean_stdev_text,
)
from pytest_cpybench.verdict.stats import Verdict, geometric_mean, t_quantile

BASE_FILES = {
    "3.10.4": BASE_3_10,
    "3.11.0": BASE_3_11,
}


@dataclass
class PublishedTable:
    """What one published ``…-vs-<base>.md`` page says."""

    overall: str
    ratio_texts: dict[str, str] = field(default_factory=dict)  # result name -> "1.03x faster"
    base_means: dict[str, str] = field(default_factory=dict)  # result name -> "257 ms"
    head_means: dict[str, str] = field(default_factory=dict)
    tag_geometric_means: dict[str, str] = field(default_factory=dict)  # tag ("" for all) -> text
    hidden: list[str] = field(default_factory=list)  # not significant, in "All benchmarks"
    ignored: list[str] = field(default_factory=list)


_ROW = re.compile(r"^\| (?P<name>\S.*?) +\| (?P<base>[^|]*?) +\| (?P<head>[^|]*?) +\|$")
_SECTION = re.compile(r"^Benchmarks with tag '(?P<tag>\w+)':$|^All benchmarks:$")


def parse_published(base_version: str) -> PublishedTable:
    text = (SEED / f"{HEAD_FILE.stem}-vs-{base_version}.md").read_text()
    overall = re.search(r"^- overall geometric mean: (.+)$", text, re.M)
    table = PublishedTable(overall=overall[1])
    section = None
    for line in text.splitlines():
        if match := _SECTION.match(line):
            section = match["tag"] or ""
        elif (match := _ROW.match(line)) and match["name"] != "Benchmark":
            if match["name"] == "Geometric mean":
                table.tag_geometric_means[section] = match["head"]
            else:
                head_mean, _, ratio_text = match["head"].partition(": ")
                table.ratio_texts[match["name"]] = ratio_text
                table.base_means[match["name"]] = match["base"]
                table.head_means[match["name"]] = head_mean
        elif section == "" and line.startswith("Benchmark hidden because not significant"):
            table.hidden = line.partition(": ")[2].split(", ")
        elif line.startswith("Ignored benchmarks"):
            table.ignored = line.rpartition(": ")[2].split(", ")
    return table


@pytest.fixture(scope="module")
def head() -> pyperf.BenchmarkSuite:
    return load_suite(HEAD_FILE)


@pytest.fixture(scope="module")
def bases() -> dict[str, pyperf.BenchmarkSuite]:
    return {version: load_suite(path) for version, path in BASE_FILES.items()}


@pytest.fixture(scope="module")
def comparisons(bases, head):
    return {version: compare_suites(base, head) for version, base in bases.items()}


@pytest.mark.parametrize("version", ["3.10.4", "3.11.0"])
def test_headline_and_missing_benchmarks_match_the_published_page(comparisons, version):
    published = parse_published(version)
    cmp = comparisons[version]
    assert format_ratio(cmp.geometric_mean) == published.overall
    assert cmp.missing == sorted(published.ignored)
    assert cmp.new == []
    assert (cmp.base_label, cmp.head_label) == (version, "3.12.0a1")


def test_the_published_headlines_are_the_ones_on_the_seed_page(comparisons):
    assert format_ratio(comparisons["3.10.4"].geometric_mean) == "1.30x faster"
    assert format_ratio(comparisons["3.11.0"].geometric_mean) == "1.03x faster"
    for cmp in comparisons.values():
        assert cmp.missing == ["flaskblogging", "sqlalchemy_declarative", "sqlalchemy_imperative"]


@pytest.mark.parametrize("version", ["3.10.4", "3.11.0"])
def test_every_published_ratio_matches_ours(comparisons, version):
    published = parse_published(version)
    ours = {rc.name: rc for rc in comparisons[version].results}
    assert len(published.ratio_texts) > 80
    for name, ratio_text in published.ratio_texts.items():
        assert format_ratio(ours[name].ratio) == ratio_text, name
    # The published page covers every common result: shown or hidden as not significant.
    assert set(ours) == set(published.ratio_texts) | set(published.hidden)


@pytest.mark.parametrize("version", ["3.10.4", "3.11.0"])
def test_published_means_match_pyperfs_formatting_of_ours(comparisons, version):
    published = parse_published(version)
    ours = {rc.name: rc for rc in comparisons[version].results}
    for name in published.ratio_texts:
        assert ours[name].base_text.split(" ± ")[0] == published.base_means[name], name
        assert ours[name].head_text.split(" ± ")[0] == published.head_means[name], name


@pytest.mark.parametrize("version", ["3.10.4", "3.11.0"])
def test_published_geometric_means_per_tag_match_ours(comparisons, bases, version):
    published = parse_published(version)
    results = comparisons[version].results
    tags = {rc.name: bases[version].get_benchmark(rc.name).get_metadata().get("tags", []) for rc in results}
    assert set(published.tag_geometric_means) >= {"", "apps", "math", "serialize"}
    for tag, text in published.tag_geometric_means.items():
        ratios = [rc.ratio for rc in results if not tag or tag in tags[rc.name]]
        assert format_ratio(geometric_mean(ratios)) == text, tag or "all"


def test_results_carry_threshold_interval_and_process_counts(comparisons, bases, head):
    cmp = comparisons["3.11.0"]
    assert [rc.name for rc in cmp.results] == sorted(rc.name for rc in cmp.results)
    for rc in cmp.results:
        base_bench, head_bench = bases["3.11.0"].get_benchmark(rc.name), head.get_benchmark(rc.name)
        assert rc.ratio == head_bench.mean() / base_bench.mean()
        assert (rc.base_mean, rc.head_mean) == (base_bench.mean(), head_bench.mean())
        assert (rc.base_text, rc.head_text) == (mean_stdev_text(base_bench), mean_stdev_text(head_bench))
        assert rc.unit == "second"
        assert rc.threshold == 0.05
        assert rc.estimate.n_base == rc.estimate.n_head == 20
        assert rc.estimate.low <= rc.ratio <= rc.estimate.high
    # 3.12.0a1 is much faster than 3.10.4 and the page's biggest slowdown is coverage 1.44x.
    verdicts = [rc.verdict for rc in comparisons["3.10.4"].results]
    assert verdicts.count(Verdict.FASTER) > 0.8 * len(verdicts)


def test_threshold_overrides_are_keyed_by_result_name(bases, head):
    slowest = max(parse_published("3.10.4").ratio_texts.items(), key=lambda item: _slowdown(item[1]))
    name = slowest[0]
    default = {rc.name: rc for rc in compare_suites(bases["3.10.4"], head).results}
    relaxed = {
        rc.name: rc
        for rc in compare_suites(bases["3.10.4"], head, overrides={name: 0.6}).results
    }
    assert default[name].verdict is Verdict.REGRESSION
    assert relaxed[name].threshold == 0.6
    assert relaxed[name].verdict is Verdict.SLOWER_WITHIN_THRESHOLD
    assert all(relaxed[other].threshold == 0.05 for other in relaxed if other != name)


def _slowdown(ratio_text: str) -> float:
    value, _, direction = ratio_text.partition("x ")
    return float(value) if direction == "slower" else 1 / float(value)


def test_same_suite_same_machine_for_the_seed(comparisons):
    for cmp in comparisons.values():
        assert cmp.different_suites is False
        assert cmp.machine_mismatch is None


def edited_copy(source: Path, directory: Path, edit, name: str | None = None) -> pyperf.BenchmarkSuite:
    """A copy of a seed file with its JSON edited, loaded back through pyperf."""
    data = json.loads(source.read_text())
    edit(data)
    target = directory / (name or source.name)
    target.write_text(json.dumps(data))
    return load_suite(target)


def test_a_different_benchmark_hash_marks_different_suites(tmp_path, bases):
    def new_hash(data):
        data["metadata"]["benchmark_hash"] = "ffffff"

    head = edited_copy(HEAD_FILE, tmp_path, new_hash)
    assert compare_suites(bases["3.11.0"], head).different_suites is True


def test_a_suite_identity_key_absent_on_both_sides_does_not_count(tmp_path):
    def no_hash(data):
        del data["metadata"]["benchmark_hash"]

    base = edited_copy(BASE_FILES["3.11.0"], tmp_path, no_hash)
    head = edited_copy(HEAD_FILE, tmp_path, no_hash)
    assert compare_suites(base, head).different_suites is False
    # Present on one side only: nothing shows they ran the same suite.
    assert compare_suites(load_suite(BASE_FILES["3.11.0"]), head).different_suites is True


def test_another_machine_is_reported(tmp_path, bases):
    def other_machine(data):
        data["metadata"]["hostname"] = "ci-runner-7"
        data["metadata"]["cpu_model_name"] = "AMD EPYC 7763"

    head = edited_copy(HEAD_FILE, tmp_path, other_machine)
    message = compare_suites(bases["3.11.0"], head).machine_mismatch
    assert message == (
        "baseline was measured on another machine (pyperf, cpu Intel(R) Xeon(R) W-2255 CPU @ 3.70GHz) "
        "than this run (ci-runner-7, cpu AMD EPYC 7763): ratios mix machine and code differences"
    )


def test_labels_from_bench_runner_file_names():
    assert label_from_filename(BASE_FILES["3.10.4"]) == "3.10.4"
    assert label_from_filename(str(BASE_FILES["3.11.0"])) == "3.11.0"
    assert label_from_filename(HEAD_FILE) == "3.12.0a1"
    # A ref with dashes, a compressed file, flags after the sha:
    dashed_ref = "bm-20240101-linux-x86_64-python-my-feature-br-3.13.0a2+-abc1234.json.gz"
    assert label_from_filename(dashed_ref) == "3.13.0a2+"
    assert label_from_filename("bm-20240101-linux-x86_64-python-main-3.14.0a1-abc1234-JIT.json") == "3.14.0a1"
    assert label_from_filename("results.json") is None
    assert label_from_filename(SEED / f"{HEAD_FILE.stem}-vs-3.10.4.md") is None


def test_label_falls_back_to_metadata(tmp_path):
    suite = edited_copy(BASE_FILES["3.11.0"], tmp_path, lambda data: None, name="baseline.json")
    assert label_from_suite(suite) == "deaf509"  # the commit_id in the file's metadata

    def with_version(data):
        data["metadata"]["cpybench_python_version"] = "3.11.0"

    suite = edited_copy(BASE_FILES["3.11.0"], tmp_path, with_version, name="baseline.json")
    assert label_from_suite(suite) == "3.11.0 (deaf509)"
    assert compare_suites(suite, suite, base_label="v3.11.0").base_label == "v3.11.0"


def test_load_suite_reports_a_truncated_file_by_name(tmp_path):
    truncated = tmp_path / "bm-truncated.json"
    truncated.write_bytes(HEAD_FILE.read_bytes()[:50_000])
    with pytest.raises(StoreError) as excinfo:
        load_suite(truncated)
    message = str(excinfo.value)
    assert str(truncated) in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b'{"results": []}', b"[1, 2]", b"\xff\xfe\x00", b'{"version": "1.0", "benchmarks": []}'],
)
def test_load_suite_rejects_what_is_not_pyperf_json(tmp_path, content):
    path = tmp_path / "results.json"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=re.escape(str(path))) as excinfo:
        load_suite(path)
    assert "\n" not in str(excinfo.value)


def test_load_suite_reports_a_missing_file(tmp_path):
    with pytest.raises(StoreError, match=r"results file .*nowhere\.json does not exist"):
        load_suite(tmp_path / "nowhere.json")
    with pytest.raises(StoreError, match="is a directory"):
        load_suite(tmp_path)  # a directory


@pytest.mark.usefixtures("subprocesses")
def test_compare_command_prints_the_seed_page_headlines(tmp_path):
    files = [BASE_3_10, HEAD_FILE, BASE_3_11]
    done = subprocess.run([sys.executable, "-m", "pytest_cpybench", "compare", *map(str, files)],
                          capture_output=True, text=True)
    assert done.returncode == 1, done.stderr  # coverage: 1.44x slower than 3.10.4
    missing = "- missing benchmarks: flaskblogging, sqlalchemy_declarative, sqlalchemy_imperative"
    for version, headline in (("3.10.4", "1.30x faster"), ("3.11.0", "1.03x faster")):
        block = re.search(rf"^vs\. {re.escape(version)}\n- {headline} \[[^]]+\]\n- by tag: apps .*\n{missing}\n",
                          done.stdout, re.M)
        assert block, done.stdout
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    failed = subprocess.run([sys.executable, "-m", "pytest_cpybench", "compare", str(files[0]), str(broken)],
                            capture_output=True, text=True)
    assert failed.returncode == 8
    assert failed.stderr.count("\n") == 1 and str(broken) in failed.stderr


# --- the headline's interval ---------------------------------------------------------------------


@pytest.mark.parametrize("version", ["3.10.4", "3.11.0"])
def test_headline_interval_combines_the_results_own_intervals(comparisons, version):
    """The interval of the published headline, recomputed here from the per-result intervals:
    log(geometric mean) is the mean of the log ratios, whose variance is sum(se_i^2) / n^2."""
    cmp = comparisons[version]
    headline = cmp.headline
    assert headline.ratio == cmp.geometric_mean  # the published number, unchanged
    assert format_ratio(headline.ratio) == parse_published(version).overall
    n = len(cmp.results)
    standard_errors = []
    for rc in cmp.results:
        # Each result's standard error, read back from its own interval and degrees of freedom.
        half_width = math.log(rc.estimate.high / rc.estimate.ratio)
        assert half_width == pytest.approx(t_quantile(0.95, math.floor(rc.estimate.dof)) * rc.estimate.log_se)
        standard_errors.append(rc.estimate.log_se)
    log_se = math.sqrt(sum(se**2 for se in standard_errors)) / n
    assert headline.log_se == pytest.approx(log_se)
    assert n - 1 < headline.dof < sum(rc.estimate.dof for rc in cmp.results)
    t = t_quantile(0.95, math.floor(headline.dof))
    assert headline.low == pytest.approx(headline.ratio * math.exp(-t * log_se))
    assert headline.high == pytest.approx(headline.ratio * math.exp(t * log_se))
    # Much narrower than any one result's interval: 93 results of 20 processes each.
    widest = max(math.log(rc.estimate.high / rc.estimate.low) for rc in cmp.results)
    assert math.log(headline.high / headline.low) < widest / 5


def test_per_tag_geometric_means_match_the_published_tables(comparisons):
    for version, cmp in comparisons.items():
        published = parse_published(version)
        by_tag = cmp.by_tag()
        assert set(by_tag) == set(published.tag_geometric_means) - {""}
        for tag, estimate in by_tag.items():
            assert format_ratio(estimate.ratio) == published.tag_geometric_means[tag], tag
            assert estimate.low < estimate.ratio < estimate.high


# --- peak memory ---------------------------------------------------------------------------------


def process_peaks(bench: pyperf.Benchmark, key: str) -> list[float]:
    return [run.get_metadata()[key] for run in bench.get_runs() if run.values and key in run.get_metadata()]


def test_memory_ratio_is_the_ratio_of_mean_process_peaks(bases, head):
    memory = compare_memory(bases["3.11.0"], head, threshold=0.10)
    by_name = {rc.name: rc for rc in memory}
    assert len(memory) == len(compare_suites(bases["3.11.0"], head).results)  # every result has memory data
    for name in ("nbody", "python_startup", "2to3"):
        base_bench, head_bench = bases["3.11.0"].get_benchmark(name), head.get_benchmark(name)
        # A command benchmark (python_startup, 2to3) records its command's peak; the others their worker's.
        key = next(k for k in MEMORY_KEYS if process_peaks(base_bench, k))
        assert (key == "command_max_rss") == (name != "nbody")
        base_peaks, head_peaks = process_peaks(base_bench, key), process_peaks(head_bench, key)
        rc = by_name[name]
        assert len(base_peaks) == rc.estimate.n_base == 20
        assert rc.ratio == pytest.approx(statistics.fmean(head_peaks) / statistics.fmean(base_peaks))
        assert rc.unit == "byte" and rc.threshold == 0.10
        assert rc.base_text.endswith(("MiB", "KiB")) and " ± " in rc.base_text
        assert rc.tags == tuple(base_bench.get_metadata()["tags"])


def test_memory_growth_beyond_the_threshold_is_a_regression(tmp_path, bases):
    def more_memory(data):
        for bench in data["benchmarks"]:
            if bench["metadata"].get("name") == "nbody":
                for run in bench["runs"]:
                    if "mem_max_rss" in run.get("metadata", {}):
                        run["metadata"]["mem_max_rss"] = int(run["metadata"]["mem_max_rss"] * 1.5)

    grown = edited_copy(BASE_3_11, tmp_path, more_memory, name="grown.json")
    by_name = {rc.name: rc for rc in compare_memory(bases["3.11.0"], grown, threshold=0.10)}
    assert by_name["nbody"].verdict is Verdict.REGRESSION
    assert by_name["nbody"].ratio == pytest.approx(1.5, rel=1e-6)
    assert by_name["float"].verdict is Verdict.UNCHANGED  # the same file otherwise: identical peaks
    paired = {rc.name: rc for rc in compare_memory(bases["3.11.0"], grown, threshold=0.10, paired=True)}
    assert paired["nbody"].verdict is Verdict.REGRESSION
    assert paired["nbody"].estimate.low == pytest.approx(1.5, rel=1e-6)  # every pair grew by exactly 1.5x


def test_results_without_memory_data_on_either_side_are_left_out(tmp_path, bases, head):
    def no_memory_for_nbody(data):
        for bench in data["benchmarks"]:
            if bench["metadata"].get("name") == "nbody":
                for run in bench["runs"]:
                    run.get("metadata", {}).pop("mem_max_rss", None)

    base = edited_copy(BASE_3_11, tmp_path, no_memory_for_nbody, name="base.json")
    names = {rc.name for rc in compare_memory(base, head, threshold=0.1)}
    assert "nbody" not in names and "float" in names
    assert "nbody" not in {rc.name for rc in compare_memory(head, base, threshold=0.1)}


def test_processes_of_one_value_are_compared_with_first_values_only() -> None:
    """One-value processes (a measurement option) against pyperf's three: mypy2's first value after the warmup
    reads 40% over its process's mean of three in the 3.11 run: the two are not comparable."""
    three = load_suite(BASE_3_11).get_benchmark("mypy2")
    one = first_values(three)
    assert {len(run.values) for run in one.get_runs()} == {1}
    assert one.mean() / three.mean() > 1.3  # what a mean-of-three baseline would make of it
    result = compare_benchmarks(three, one)
    assert result.ratio == pytest.approx(1.0) and result.verdict is Verdict.UNCHANGED
    # Alike processes on both sides are compared as they are: every value counts (the published pages).
    head = load_suite(HEAD_FILE).get_benchmark("mypy2")
    assert like_for_like(three, head) == (three, head)


def test_a_fast_mode_run_against_a_default_one_is_compared_on_first_values() -> None:
    """fast mode's processes measure two values, the default's three: neither mean is the other's."""
    three = load_suite(BASE_3_11).get_benchmark("nbody")
    two = pyperf.Benchmark([pyperf.Run(run.values[:2], warmups=run.warmups, metadata=run.get_metadata(),
                                       collect_metadata=False) for run in three.get_runs() if run.values])
    base, head = like_for_like(three, two)
    assert [run.values for run in base.get_runs()] == [run.values[:1] for run in three.get_runs() if run.values]
    assert [run.values for run in head.get_runs()] == [run.values[:1] for run in two.get_runs()]


def _suite_alongside(suite: pyperf.BenchmarkSuite, names: set[str]) -> pyperf.BenchmarkSuite:
    """A copy of ``suite`` whose results ``names`` read as measured with the sides at the same time."""
    return pyperf.BenchmarkSuite([interleaved.alongside(bench, 1) if bench.get_name() in names else bench
                                  for bench in suite.get_benchmarks()])


def _scaled(bench: pyperf.Benchmark, factor: float) -> pyperf.Benchmark:
    """``bench`` with every value (and warmup) ``factor`` times as long: a known change."""
    return pyperf.Benchmark([pyperf.Run([value * factor for value in run.values],
                                        warmups=[(loops, value * factor) for loops, value in run.warmups],
                                        metadata=run.get_metadata(), collect_metadata=False)
                             for run in bench.get_runs() if run.values])


def test_results_measured_alongside_against_results_measured_alone_need_a_margin() -> None:
    """Contention may slow a worker when the other side runs at the same time: against a result
    measured alone, a verdict must hold however much (up to the margin) it slowed that side."""
    base = load_suite(BASE_3_11)
    nbody = base.get_benchmark("nbody")
    marked = interleaved.alongside(nbody, 1)
    assert [run.values for run in marked.get_runs()] == [run.values for run in nbody.get_runs()]
    assert compare_benchmarks(nbody, nbody).verdict is Verdict.UNCHANGED
    # The head alongside: it may read too slow, so "unchanged" still holds, a slowdown needs more.
    head_busy = compare_benchmarks(nbody, marked)
    assert head_busy.verdict is Verdict.UNCHANGED and head_busy.mixed_load
    assert format_result_line(head_busy).endswith(
        "; measured alongside other workers on one side only: held to the interval widened by 5%)")
    for factor, alone, busy in ((1.08, Verdict.REGRESSION, Verdict.INCONCLUSIVE),
                                (1.15, Verdict.REGRESSION, Verdict.REGRESSION)):
        slower = _scaled(nbody, factor)
        assert compare_benchmarks(nbody, slower).verdict is alone, factor
        assert compare_benchmarks(nbody, interleaved.alongside(slower, 1)).verdict is busy, factor
    # The baseline alongside: it may read too slow, hiding a slowdown, so "unchanged" cannot be said.
    base_busy = compare_benchmarks(marked, nbody)
    assert base_busy.ratio == pytest.approx(1.0) and base_busy.verdict is Verdict.INCONCLUSIVE
    assert format_result_line(base_busy) == (
        "nbody: no change (inconclusive: measured alongside other workers on one side and alone on the other; "
        "its 95% interval 0.99x-1.01x, widened by the 5% contention may add to the side measured alongside, "
        "includes the 5% threshold)")
    assert not compare_benchmarks(marked, marked).mixed_load  # alike: compared as usual
    assert compare_benchmarks(marked, marked).verdict is Verdict.UNCHANGED
    assert compare_benchmarks(marked, nbody, paired=True).verdict is Verdict.UNCHANGED  # one round, one load
    # Real differences, the seed head against 3.11.0 measured alongside: a clear speed-up stays one.
    head = load_suite(HEAD_FILE)
    alike = {rc.name: rc for rc in compare_suites(base, head).results}
    large = min(alike.values(), key=lambda rc: rc.estimate.high)
    assert large.estimate.high * (1 + CONTENTION_MARGIN) < 1 and large.verdict is Verdict.FASTER
    marked_base = _suite_alongside(base, {large.name, "nbody"})
    cmp = compare_suites(marked_base, head)
    by_name = {rc.name: rc for rc in cmp.results}
    assert by_name[large.name].verdict is Verdict.FASTER and by_name[large.name].mixed_load
    assert sorted(rc.name for rc in cmp.results if rc.mixed_load) == sorted([large.name, "nbody"])
    (warning,) = cmp.warnings
    assert warning.startswith("2 result(s) measured alongside other workers on one side and alone on the other (")
    assert f"- warning: {warning}" in format_summary_block(cmp).splitlines()
    assert compare_suites(base, head).warnings == []


def test_a_nondeterministic_instruction_count_stays_inconclusive_whatever_the_load() -> None:
    """The margin may only make a verdict more careful: it never overrides another reason to doubt."""
    nbody = load_suite(BASE_3_11).get_benchmark("nbody")
    counts = pyperf.Benchmark([pyperf.Run(run.values, warmups=run.warmups,
                                          metadata={**run.get_metadata(), "cpybench_metric": "instructions"},
                                          collect_metadata=False) for run in nbody.get_runs() if run.values])
    result = compare_benchmarks(counts, interleaved.alongside(counts, 1))
    assert result.spread is not None and result.spread > 0.01
    assert result.verdict is Verdict.INCONCLUSIVE
