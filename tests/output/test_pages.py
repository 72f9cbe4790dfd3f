"""Results pages (pages.py) against faster-cpython's published pages for 3.12.0a1 (tests/data/seed).

The published ``…-vs-3.10.4.md`` and ``…-vs-3.11.0.md`` are parsed, and so are ours; they are
compared section by section (header list, each tag's table rows in order, geometric-mean rows,
hidden and ignored lines), never against numbers written into this file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pyperf
import pytest
from seed import BASE_3_10, BASE_3_11, HEAD_FILE, SEED

import pytest_cpybench.output
from pytest_cpybench import _pyperf
from pytest_cpybench.output import ci, pages, tables
from pytest_cpybench.output.formatting import format_headline, format_ratio, format_ratio_interval
from pytest_cpybench.results.files import load_suite
from pytest_cpybench.results.identity import RunIdentity, stamp
from pytest_cpybench.verdict import compare
from pytest_cpybench.verdict.stats import Verdict

BASES = {"3.10.4": BASE_3_10, "3.11.0": BASE_3_11}
PUBLISHED_FOLDER = "public/results"


@dataclass
class Section:
    title: str  # "Benchmarks with tag 'apps':", "All benchmarks:"
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (name, base cell, head cell), in order
    geometric_mean: tuple[str, str] | None = None
    hidden: list[str] = field(default_factory=list)


@dataclass
class Page:
    title: str
    header: list[tuple[str, str]]
    sections: list[Section]
    ignored: list[tuple[int, str, list[str]]]  # (count, file, names)
    rest: str  # what follows the published layout


_CELLS = re.compile(r"^\|(.*)\|$")


def parse_page(text: str) -> Page:
    published, _, rest = text.partition("\n" + pages.VERDICTS_TITLE)
    lines = published.splitlines()
    assert lines[0] == "", "bench_runner's pages start with an empty line"
    title = lines[1]
    header = []
    index = 3
    while lines[index].startswith("- "):
        key, _, value = lines[index][2:].partition(": ")
        header.append((key, value))
        index += 1
    sections: list[Section] = []
    ignored = []
    current = None
    for line in lines[index:]:
        if line.startswith("Benchmarks with tag ") or line == "All benchmarks:":
            current = Section(line)
            sections.append(current)
        elif match := _CELLS.match(line):
            assert current is not None
            cells = [cell.strip() for cell in match[1].split("|")]
            if cells[0] == "Benchmark":
                current.columns = cells[1:]
            elif set(cells[0]) == {"-"}:
                assert all(re.fullmatch(r":-+:", cell) for cell in cells[1:]), line
            elif cells[0] == "Geometric mean":
                current.geometric_mean = (cells[1], cells[2])
            else:
                current.rows.append((cells[0], cells[1], cells[2]))
        elif line.startswith("Benchmark hidden because not significant"):
            assert current is not None
            count, names = re.fullmatch(r"Benchmark hidden because not significant \((\d+)\): (.*)", line).groups()
            current.hidden = names.split(", ")
            assert len(current.hidden) == int(count)
        elif line.startswith("Ignored benchmarks"):
            count, path, names = re.fullmatch(r"Ignored benchmarks \((\d+)\) of (\S+): (.*)", line).groups()
            ignored.append((int(count), Path(path).name, names.split(", ")))
        else:
            assert line == "" or set(line) == {"="}, line
    return Page(title, header, sections, ignored, rest)


@pytest.fixture(scope="module")
def head() -> pyperf.BenchmarkSuite:
    return load_suite(HEAD_FILE)


@pytest.fixture(scope="module")
def bases() -> dict[str, pyperf.BenchmarkSuite]:
    return {version: load_suite(path) for version, path in BASES.items()}


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory, head, bases) -> tuple[Path, pages.RunPages]:
    out = tmp_path_factory.mktemp("report")
    written = pages.write_run(out, head, HEAD_FILE.name,
                              [pages.Side(bases[v], str(BASES[v]), v) for v in ("3.10.4", "3.11.0")], plots=False)
    return out, written


def published(version: str) -> str:
    return (SEED / f"{HEAD_FILE.stem}-vs-{version}.md").read_text()


@pytest.mark.parametrize("version", ["3.10.4", "3.11.0"])
def test_pages_match_the_published_pages_section_by_section(report_dir, version):
    out, written = report_dir
    ours_path = written.pages[version]
    assert ours_path.name == f"{HEAD_FILE.stem}-vs-{version}.md"  # the seed's file name
    assert ours_path.parent == out / "bm-20221025-3.12.0a1-4ae1a0e"  # the store's folder for the run
    ours, theirs = parse_page(ours_path.read_text()), parse_page(published(version))
    assert ours.title == theirs.title == f"# Results vs. {version}"
    assert ours.header == theirs.header
    assert [s.title for s in ours.sections] == [s.title for s in theirs.sections]
    assert len(theirs.sections) == 7  # six tags, then all benchmarks
    for mine, yours in zip(ours.sections, theirs.sections, strict=True):
        assert mine.columns == yours.columns == [BASES[version].stem, HEAD_FILE.stem], mine.title
        assert mine.rows == yours.rows, mine.title  # the same rows, cells and order
        assert mine.geometric_mean == yours.geometric_mean, mine.title
        assert mine.hidden == yours.hidden, mine.title
    assert ours.ignored == theirs.ignored  # the file's name; its folder differs
    assert theirs.rest == ""  # the published page ends there; ours goes on with our sections
    assert ours.rest.startswith(" vs. ")


@pytest.mark.parametrize("version", ["3.10.4", "3.11.0"])
def test_the_published_layout_is_reproduced_byte_for_byte(report_dir, version):
    """Stronger than the section by section comparison: widths, blank lines, the file's start."""
    _, written = report_dir
    ours = written.pages[version].read_text().partition("\n" + pages.VERDICTS_TITLE)[0]
    theirs = published(version)
    published_path = re.search(rf"of ({PUBLISHED_FOLDER}/\S+\.json):", theirs)[1]
    assert ours == theirs.replace(published_path, str(BASES[version]))


@pytest.mark.usefixtures("subprocesses")
def test_the_tables_are_what_pyperf_compare_to_prints(head, bases):
    """Our code, pyperf's rules: the installed pyperf prints the same tables for the same files."""
    done = subprocess.run([sys.executable, "-m", "pyperf", "compare_to", "-G", "--table", "--table-format=md",
                           str(BASE_3_11), str(HEAD_FILE)], capture_output=True, text=True, check=True)
    ours = tables.pyperf_tables(pages.Side(bases["3.11.0"], str(BASE_3_11)), pages.Side(head, str(HEAD_FILE)))
    assert ours == done.stdout


def test_rows_are_sorted_by_ratio_except_the_first_tags_table(head, bases):
    page = tables.pyperf_tables(pages.Side(bases["3.10.4"], "base.json"), pages.Side(head, "head.json"))
    sections = parse_page("\n# t\n\n- a: b\n\n" + page).sections
    order = bases["3.10.4"].get_benchmark_names()
    ratios = {name: head.get_benchmark(name).mean() / bases["3.10.4"].get_benchmark(name).mean()
              for name in head.get_benchmark_names() if name in order}
    first, *others = sections
    names = [row[0] for row in first.rows]
    assert names == sorted(names, key=order.index)  # pyperf sorts after picking the first table's rows
    for section in others:
        shown = [ratios[row[0]] for row in section.rows]
        assert shown == sorted(shown), section.title
        assert [ratios[name] for name in section.hidden] == sorted(ratios[name] for name in section.hidden)


def test_hidden_results_are_pyperfs_not_significant_ones(head, bases):
    text = tables.pyperf_tables(pages.Side(bases["3.11.0"], "a.json"), pages.Side(head, "b.json"))
    all_section = parse_page("\n# t\n\n- a: b\n\n" + text).sections[-1]
    for name in all_section.hidden:
        assert not _pyperf.is_significant(bases["3.11.0"].get_benchmark(name), head.get_benchmark(name))
    for name, _, _ in all_section.rows:
        assert _pyperf.is_significant(bases["3.11.0"].get_benchmark(name), head.get_benchmark(name))


def untagged_copy(source: Path, folder: Path, names: tuple[str, ...], name: str) -> pyperf.BenchmarkSuite:
    data = json.loads(source.read_text())
    data["benchmarks"] = [b for b in data["benchmarks"] if b["metadata"].get("name") in names]
    for bench in data["benchmarks"]:
        bench["metadata"].pop("tags", None)
    (folder / name).write_text(json.dumps(data))
    return load_suite(folder / name)


def test_a_suite_without_tags_gets_one_table_and_new_results_are_ignored_too(tmp_path):
    base = untagged_copy(BASE_3_11, tmp_path, ("nbody", "float", "deepcopy"), "old.json")
    head = untagged_copy(HEAD_FILE, tmp_path, ("nbody", "float", "go"), "new.json")
    text = tables.pyperf_tables(pages.Side(base, "old.json"), pages.Side(head, "new"))
    lines = text.splitlines()
    assert lines[0].split() == ["|", "Benchmark", "|", "old", "|", "new", "|"]
    assert "All benchmarks:" not in text and "Benchmarks with tag" not in text
    assert lines[-2:] == ["Ignored benchmarks (1) of old.json: deepcopy", "Ignored benchmarks (1) of new.json: go"]


def test_verdict_section_follows_the_published_layout(report_dir, head, bases):
    _, written = report_dir
    cmp = compare.compare_suites(bases["3.10.4"], head)
    rest = written.pages["3.10.4"].read_text().partition("\n" + pages.VERDICTS_TITLE)[2]
    assert rest.startswith(" vs. 3.10.4\n")
    assert f"- geometric mean: {format_headline(cmp.headline)}\n" in rest
    by_tag = cmp.by_tag()
    assert set(by_tag) == {"apps", "math", "regex", "serialize", "startup", "template"}
    for tag, estimate in by_tag.items():
        assert f"{tag} {format_headline(estimate)}" in rest
    regressions = sorted(cmp.regressions, key=lambda rc: rc.ratio, reverse=True)
    assert [rc.name for rc in regressions][:1] == ["coverage"]  # 1.44x slower on the published page
    assert "- regressions ({}): {}\n".format(len(regressions), ", ".join(
        f"{rc.name} {format_ratio(rc.ratio)} {format_ratio_interval(rc.estimate)}" for rc in regressions)) in rest
    rows = [line for line in rest.splitlines() if line.startswith("| coverage |")]
    assert rows and "**regression** (> 5%)" in rows[0]
    if cmp.inconclusive:
        assert f"- inconclusive ({len(cmp.inconclusive)}): {', '.join(cmp.inconclusive)}\n" in rest


def test_memory_section_per_result_and_per_tag(report_dir, head, bases):
    _, written = report_dir
    text = written.pages["3.11.0"].read_text()
    memory_part = text.partition(pages.MEMORY_TITLE)[2]
    assert memory_part.startswith(" vs. 3.11.0\n")
    memory = compare.compare_memory(bases["3.11.0"], head, threshold=pages.DEFAULT_MEMORY_THRESHOLD)
    rows = {line.split(" | ")[0][2:]: line for line in memory_part.splitlines() if line.startswith("| ")}
    assert set(rows) - {"Benchmark", "---"} == {rc.name for rc in memory}
    for rc in memory:
        assert f"| {rc.base_text} | {rc.head_text} | {rc.ratio:.2f}x |" in rows[rc.name]
    tags = compare.tag_estimates(memory, 0.95)
    assert "- by tag: " + ", ".join(f"{tag} {estimate.ratio:.2f}x" for tag, estimate in tags.items()) in memory_part


def test_run_readme_in_the_seeds_format(report_dir):
    out, written = report_dir
    readme = written.readme.read_text()
    assert written.readme == out / "bm-20221025-3.12.0a1-4ae1a0e" / "README.md"
    head = readme.split("\n## ")[0]
    assert head == ("# Results\n\n- fork: python\n- version: 3.12.0a1\n"
                    "- commit hash: [4ae1a0e](https://github.com/python/cpython/commit/4ae1a0e)\n"
                    "- commit date: 2022-10-25T00:08:22+02:00\n- ref: 4ae1a0ecaffe4320fe97\n")
    machine = readme.split("\n## ")[1]
    assert machine.startswith("linux x86_64 (linux)\n\n- [GitHub Action run](https://github.com/")
    assert "- cpu model: Intel(R) Xeon(R) W-2255 CPU @ 3.70GHz\n" in machine
    assert "- platform: Linux-5.4.0-122-generic-x86_64-with-glibc2.31\n" in machine
    assert f"- [raw results]({HEAD_FILE.name})\n" in machine
    assert (written.folder / HEAD_FILE.name).is_file()  # the link works: the raw results are copied
    missing = "- missing benchmarks: flaskblogging, sqlalchemy_declarative, sqlalchemy_imperative"
    for version, headline in (("3.10.4", "1.30x faster"), ("3.11.0", "1.03x faster")):
        block = readme.split(f"### vs. {version}\n\n")[1].split("\n\n")[0]
        assert block.startswith(f"- {headline}\n{missing}\n- [table]({HEAD_FILE.stem}-vs-{version}.md)\n")
        assert "% interval of the geometric mean: [" in block and "- verdicts (threshold 5%): " in block


def test_index_lists_every_run_newest_first(report_dir, tmp_path, head, bases):
    out, written = report_dir
    index = written.index.read_text()
    assert written.index == out / "README.md"
    assert "[4ae1a0e](bm-20221025-3.12.0a1-4ae1a0e/README.md)" in index
    # Another run (3.11.0 against 3.10.4) and a stored run with no pages yet.
    second = pages.write_run(out, bases["3.11.0"], str(BASE_3_11), [(bases["3.10.4"], str(BASE_3_10), "3.10.4")],
                             plots=False)
    assert second.folder.name == "bm-20221024-3.11.0-deaf509"
    lonely = out / "bm-20230101-3.12.0a4-abcdef1"
    lonely.mkdir()
    (lonely / "bm-20230101-box-x86_64-python-main-3.12.0a4-abcdef1.json").write_text("{}")
    rows = [line for line in pages.write_index(out).read_text().splitlines() if line.startswith("| 20")]
    assert [row.split(" | ")[0] for row in rows] == ["| 2023-01-01", "| 2022-10-25", "| 2022-10-24"]
    assert "1.03x faster vs. [3.11.0](bm-20221025-3.12.0a1-4ae1a0e/" in rows[1]
    assert "(bm-20230101-3.12.0a4-abcdef1/bm-20230101-box-x86_64-python-main-3.12.0a4-abcdef1.json)" in rows[0]


def test_a_second_machine_adds_a_section_to_the_runs_readme(tmp_path, head, bases):
    data = json.loads(HEAD_FILE.read_text())
    data["metadata"]["cpu_model_name"] = "AMD EPYC"
    other_name = HEAD_FILE.name.replace("-linux-x86_64-", "-box2-aarch64-")
    (tmp_path / other_name).write_text(json.dumps(data))
    other = load_suite(tmp_path / other_name)
    out = tmp_path / "out"
    pages.write_run(out, head, HEAD_FILE.name, [(bases["3.11.0"], BASE_3_11.name, "3.11.0")], plots=False)
    written = pages.write_run(out, other, other_name, [(bases["3.11.0"], BASE_3_11.name, "3.11.0")], plots=False)
    readme = written.readme.read_text()
    assert readme.count("\n## ") == 2 and "(box2)" in readme and "(linux)" in readme
    assert readme.count("### vs. 3.11.0") == 2


def test_our_own_results_use_our_metadata_and_the_stores_folder(head, tmp_path):
    identity = RunIdentity(commit_sha="4ae1a0ecaffe4320fe9774fad1f395f732c17959",
                                 commit_date="2022-10-25T00:08:22+02:00", version="3.12.0a1", ref="main",
                                 fork="python", machine="mybox", arch="aarch64", preset="pgo-lto")
    ours = stamp(head, identity)
    info = pages.run_info(ours, identity.file_stem())
    assert info.folder == identity.folder_name() == "bm-20221025-3.12.0a1-4ae1a0e-PGO_LTO"
    assert (info.machine, info.ref, info.commit, info.date) == ("mybox-aarch64", "main", "4ae1a0e", "2022-10-25")
    # A name that is neither ours nor bench_runner's: the folder comes from the metadata, if it says enough.
    assert pages.run_info(head, "head.json").folder == "head"  # no version in the seed's metadata
    data = json.loads(HEAD_FILE.read_text())
    data["metadata"]["python_version"] = "3.12.0a1 (64-bit) revision 4ae1a0e"
    (tmp_path / "head.json").write_text(json.dumps(data))
    with_version = load_suite(tmp_path / "head.json")
    assert pages.run_info(with_version, "head.json").folder == "bm-20221025-3.12.0a1-4ae1a0e"


def test_plots_are_linked_and_a_skip_reason_is_said_once(tmp_path, monkeypatch, head, bases):
    calls = []

    def plot_comparison(base, head, comparison, *, title, out_stem, metric="time"):
        calls.append((metric, title, comparison.results[0].unit if comparison.results else None))
        files = [out_stem.parent / f"{out_stem.name}{suffix}" for suffix in (".png", ".svg")]
        for path in files:
            path.write_text("plot")
        return files, None

    fake = SimpleNamespace(plot_comparison=plot_comparison)
    monkeypatch.setitem(sys.modules, "pytest_cpybench.output.plots", fake)
    monkeypatch.setattr(pytest_cpybench.output, "plots", fake, raising=False)
    written = pages.write_run(tmp_path, head, HEAD_FILE.name, [(bases["3.11.0"], BASE_3_11.name, "3.11.0")])
    assert calls == [("time", "3.12.0a1 vs. 3.11.0", "second"),
                     ("memory", "peak memory of 3.12.0a1 vs. 3.11.0", "byte")]
    stem = f"{HEAD_FILE.stem}-vs-3.11.0"
    page = written.pages["3.11.0"].read_text()
    assert f"- plots: [time]({stem}.png) ([svg]({stem}.svg)), [peak memory]({stem}-mem.png)" in page
    assert f"- [plot]({stem}.png)\n" in written.readme.read_text()
    assert written.notes == []

    monkeypatch.setitem(sys.modules, "pytest_cpybench.output.plots", None)  # the module cannot be imported
    monkeypatch.delattr(pytest_cpybench.output, "plots", raising=False)
    two = [(bases["3.11.0"], BASE_3_11.name, "3.11.0"), (bases["3.10.4"], BASE_3_10.name, "3.10.4")]
    skipped = pages.write_run(tmp_path / "2", head, HEAD_FILE.name, two)
    assert len(skipped.notes) == 1 and skipped.notes[0].startswith("plots skipped: ")
    assert f"- {skipped.notes[0]}\n" in skipped.pages["3.10.4"].read_text()
    assert not list((tmp_path / "2").rglob("*.png"))


def test_summary_markdown_for_ci(report_dir, head, bases):
    _, written = report_dir
    comparisons = [compare.compare_suites(bases[v], head) for v in ("3.10.4", "3.11.0")]
    links = written.links(base_url="https://example.org/report/")
    text = ci.summary_markdown("3.12.0a1", comparisons, links)
    lines = text.splitlines()
    assert lines[0] == "### pytest-cpybench: 3.12.0a1"
    assert len(lines) < 40
    vs_3_10 = comparisons[0]
    assert (f"**vs. 3.10.4**: **1.30x faster** {format_ratio_interval(vs_3_10.headline)} "
            f"([table](https://example.org/report/bm-20221025-3.12.0a1-4ae1a0e/{HEAD_FILE.stem}-vs-3.10.4.md))"
            in lines)
    assert "- by tag: apps 1.37x faster, math 1.31x faster, regex 1.13x faster," in text
    regression_line = next(line for line in lines if "regression" in line and line.startswith("- :x:"))
    assert "coverage 1.44x slower [" in regression_line
    assert f"{len(vs_3_10.inconclusive)} inconclusive (warnings, not failures)" in text
    assert "[Full report](https://example.org/report/bm-20221025-3.12.0a1-4ae1a0e/README.md)" in text
    memory = [compare.compare_memory(bases[v], head, threshold=0.05) for v in ("3.10.4", "3.11.0")]
    with_memory = ci.summary_markdown("3.12.0a1", comparisons, None, memory=memory)
    assert "- :x: peak memory grew beyond 5%: " in with_memory and "[table]" not in with_memory


@pytest.mark.usefixtures("subprocesses")
def test_report_command_writes_pages_and_adds_to_the_folder(tmp_path):
    out = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pytest_cpybench", "report", str(BASE_3_10), str(HEAD_FILE),
                           str(BASE_3_11), "-o", str(out), "--no-plots"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    printed = [Path(line) for line in done.stdout.splitlines()]
    assert all(path.is_file() for path in printed)
    assert {p.name for p in printed} >= {f"{HEAD_FILE.stem}-vs-3.10.4.md", f"{HEAD_FILE.stem}-vs-3.11.0.md",
                                         "README.md", HEAD_FILE.name}
    assert printed[-1] == out / "README.md"
    again = subprocess.run([sys.executable, "-m", "pytest_cpybench", "report", str(BASE_3_10), str(BASE_3_11),
                            "-o", str(out), "--no-plots", "--threshold=1%"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    index = (out / "README.md").read_text()
    assert "bm-20221025-3.12.0a1-4ae1a0e/README.md" in index and "bm-20221024-3.11.0-deaf509/README.md" in index
    bad = subprocess.run([sys.executable, "-m", "pytest_cpybench", "report", str(BASE_3_10), str(tmp_path / "no.json"),
                          "-o", str(out)], capture_output=True, text=True)
    assert bad.returncode == 8 and bad.stderr.count("\n") == 1 and "no.json" in bad.stderr


def test_private_pyperf_api_is_there():
    bench = load_suite(BASE_3_11).get_benchmark("nbody")
    assert _pyperf.is_significant(bench, bench) is False
    assert _pyperf.format_size(23851008) == "22.7 MiB"


def test_labels_become_safe_file_names(tmp_path, head, bases):
    twins = [(bases["3.11.0"], "a.json", "3.11.0 (deaf509)"), (bases["3.11.0"], "b.json", "3.11.0 (deaf509)")]
    written = pages.write_run(tmp_path, head, HEAD_FILE.name, twins, plots=False)
    names = sorted(path.name for path in written.folder.glob("*-vs-*.md"))
    assert names == [f"{HEAD_FILE.stem}-vs-3.11.0_deaf509-2.md", f"{HEAD_FILE.stem}-vs-3.11.0_deaf509.md"]


def test_comparisons_must_match_the_baselines(tmp_path, head, bases):
    with pytest.raises(ValueError, match="1 comparisons for 2 baselines"):
        pages.write_run(tmp_path, head, "h.json", [(bases["3.11.0"], "a", "a"), (bases["3.10.4"], "b", "b")],
                        [compare.compare_suites(bases["3.11.0"], head)], plots=False)


def test_verdict_words_cover_every_verdict(head, bases):
    cmp = compare.compare_suites(bases["3.11.0"], head, threshold=0.01)
    section = pages.verdict_section(cmp)
    assert "inconclusive (threshold 1%)" in section or "**regression** (> 1%)" in section
    assert {rc.verdict for rc in cmp.results} - {Verdict.UNCHANGED}
