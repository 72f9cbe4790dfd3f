"""A run's README.md against the one bench_runner published for 3.12.0a1 (tests/data/seed/README.md).

bench_runner wrote it with ``generate_directory_indices`` (scripts/generate_results.py of
faster-cpython/bench_runner, spring 2023): the run's facts, then a section per machine titled
``<os> <arch> (<nickname>)``, in it a list per baseline. Only the linux machine's results are in
the seed, so that section is compared line for line; the other machines' sections are made from
the linux head renamed and re-labelled as they were, and their titles and platform lines compared.
Our own lines (intervals, verdicts, by tag, memory) follow bench_runner's in each list.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyperf
import pytest
from seed import BASE_3_10, BASE_3_11, HEAD_FILE, SEED

from pytest_cpybench.output import pages
from pytest_cpybench.results.files import load_suite

PUBLISHED = (SEED / "README.md").read_text(encoding="utf-8")
OUR_LINES = ("- 95% interval of the geometric mean: ", "- by tag: ", "- verdicts (threshold ", "- peak memory: ")
LINUX = "## linux x86_64 (linux)"
DARWIN_PLATFORM = "macOS-13.2.1-arm64-arm-64bit"
WINDOWS_PLATFORM = "Windows-11-10.0.22000-SP0"


def run_facts(readme: str) -> list[str]:
    """The ``# Results`` list: the run's fork, version, commit hash, commit date and ref."""
    return readme.split("\n## ")[0].splitlines()


def section(readme: str, title: str) -> list[str]:
    """A machine's section: the lines after its ``## `` title, up to the next one."""
    return readme.split(f"\n{title}\n", 1)[1].split("\n## ", 1)[0].splitlines()


def block(lines: list[str], title: str | None) -> list[str]:
    """A list of a machine's section: its machine list (``None``) or a ``### vs. X`` list, without the
    blank lines around it."""
    text = "\n".join(lines)
    part = text.split("\n### ", 1)[0] if title is None else text.split(f"\n{title}\n", 1)[1].split("\n### ", 1)[0]
    return [line for line in part.splitlines() if line]


def bench_runners_then_ours(ours: list[str], published: list[str]) -> list[str]:
    """bench_runner's lines come first and in order; what follows is ours. Returns ours."""
    assert ours[: len(published)] == published
    extra = ours[len(published):]
    assert extra and all(line.startswith(OUR_LINES) for line in extra), extra
    return extra


def renamed(head_data: dict, tmp_path: Path, nickname: str, arch: str, platform: str, *,
            cpu: bool = True) -> tuple[pyperf.BenchmarkSuite, str]:
    """The linux head as if measured by another of the published machines."""
    data = json.loads(json.dumps(head_data))
    data["metadata"]["platform"] = platform
    if not cpu:
        del data["metadata"]["cpu_model_name"]
    name = HEAD_FILE.name.replace("-linux-x86_64-", f"-{nickname}-{arch}-")
    (tmp_path / name).write_text(json.dumps(data))
    return load_suite(tmp_path / name), name


@pytest.fixture(scope="module")
def reported(tmp_path_factory, subprocesses) -> Path:
    """What ``python -m pytest_cpybench report BASE HEAD BASE2 -o DIR`` writes for the seed (with plots:
    bench_runner's list links the time plot)."""
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "pytest_cpybench", "report", str(BASE_3_10), str(HEAD_FILE),
                           str(BASE_3_11), "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out / "bm-20221025-3.12.0a1-4ae1a0e"


@pytest.fixture(scope="module")
def readme(reported: Path) -> str:
    return (reported / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def head_data() -> dict:
    return json.loads(HEAD_FILE.read_text())


def test_the_runs_facts_are_bench_runners_line_for_line(readme):
    assert run_facts(readme) == run_facts(PUBLISHED)
    # What bench_runner shows, from the file name: the 7-character sha linked, the ref as named.
    assert "- commit hash: [4ae1a0e](https://github.com/python/cpython/commit/4ae1a0e)" in run_facts(readme)


def test_the_linux_machine_list_is_bench_runners(readme):
    machine = block(section(readme, LINUX), None)
    assert machine == block(section(PUBLISHED, LINUX), None)
    # The GitHub Action run is the one the head's metadata records.
    assert machine[0] == f"- [GitHub Action run]({json.loads(HEAD_FILE.read_text())['metadata']['github_action_url']})"


def test_vs_3_10_4_is_bench_runners_list_then_ours(readme, reported):
    ours = block(section(readme, LINUX), "### vs. 3.10.4")
    published = block(section(PUBLISHED, LINUX), "### vs. 3.10.4")
    assert published[-1].startswith("- [plot](") and (reported / published[-1][len("- [plot]("):-1]).is_file()
    extra = bench_runners_then_ours(ours, published)
    assert [line.split(":")[0] for line in extra] == [
        "- 95% interval of the geometric mean", "- by tag", "- verdicts (threshold 5%)", "- peak memory"]
    # Blank lines and titles too: the section up to "### vs. 3.11.0" without our lines is the published one.
    until = "### vs. 3.11.0"
    ours_text = [line for line in section(readme, LINUX) if not line.startswith(OUR_LINES)]
    assert ours_text[: ours_text.index(until)] == section(PUBLISHED, LINUX)[: section(PUBLISHED, LINUX).index(until)]


def test_vs_3_11_0_is_what_bench_runner_makes_of_our_3_11_0_file(readme, reported):
    ours = block(section(readme, LINUX), "### vs. 3.11.0")
    published = block(section(PUBLISHED, LINUX), "### vs. 3.11.0")
    stem = HEAD_FILE.stem
    # bench_runner rewrites every README from the newest results each time; the published one was made
    # after a later 3.11.0 run replaced ours (tests/data/seed has the earlier one, the one its table
    # page was made from). That later file ran a newer benchmark suite: another benchmark_hash, hence
    # bench_runner's "\*", and four more benchmarks the head lacks (asyncio_tcp_ssl, richards_super,
    # tomli_loads, typing_runtime_protocols), hence its longer missing list. The headline is read from
    # the table page, which bench_runner does not remake: 1.03x faster on both.
    assert published[:2] == ["- 1.03x faster \\*",
                             "- missing benchmarks: asyncio_tcp_ssl, flaskblogging, richards_super, "
                             "sqlalchemy_declarative, sqlalchemy_imperative, tomli_loads, typing_runtime_protocols"]
    table_page = (SEED / f"{stem}-vs-3.11.0.md").read_text()
    assert "Ignored benchmarks (3) of " in table_page and table_page.rstrip().endswith(
        ": flaskblogging, sqlalchemy_declarative, sqlalchemy_imperative")
    extra = bench_runners_then_ours(ours, [
        "- 1.03x faster",
        "- missing benchmarks: flaskblogging, sqlalchemy_declarative, sqlalchemy_imperative",
        *published[2:],  # the table and plot links are the same
    ])
    assert extra[0].startswith("- 95% interval of the geometric mean: ")


def test_the_star_after_a_headline_is_escaped_as_bench_runner_does(tmp_path, head_data):
    # The later 3.11.0 file's benchmark_hash differed from the head's: bench_runner writes "\*".
    data = json.loads(BASE_3_11.read_text())
    data["metadata"]["benchmark_hash"] = "9d6c8a"
    (tmp_path / BASE_3_11.name).write_text(json.dumps(data))
    later = load_suite(tmp_path / BASE_3_11.name)
    written = pages.write_run(tmp_path / "out", load_suite(HEAD_FILE), HEAD_FILE.name,
                              [(later, BASE_3_11.name, "3.11.0")], plots=False)
    ours = block(section(written.readme.read_text(), LINUX), "### vs. 3.11.0")
    assert ours[0] == block(section(PUBLISHED, LINUX), "### vs. 3.11.0")[0] == "- 1.03x faster \\*"
    assert "- overall geometric mean: 1.03x faster \\*\n" in written.pages["3.11.0"].read_text()


def test_darwin_and_windows_sections_are_titled_and_ordered_as_bench_runners(tmp_path, head_data):
    out = tmp_path / "out"
    base = [(load_suite(BASE_3_10), BASE_3_10.name, "3.10.4")]
    darwin = renamed(head_data, tmp_path, "darwin", "arm64", DARWIN_PLATFORM, cpu=False)
    windows = renamed(head_data, tmp_path, "pythonperf1", "amd64", WINDOWS_PLATFORM, cpu=False)
    for suite, name in (darwin, (load_suite(HEAD_FILE), HEAD_FILE.name), windows):
        written = pages.write_run(out, suite, name, base, plots=False)
    readme = written.readme.read_text()
    titles = [line for line in readme.splitlines() if line.startswith("## ")]
    published_titles = [line for line in PUBLISHED.splitlines() if line.startswith("## ")]
    assert titles == ["## linux x86_64 (linux)", "## windows amd64 (pythonperf1)", "## darwin arm64 (darwin)"]
    assert titles == [title for title in published_titles if title != "## linux x86_64 (pythonperf2)"]
    for title in titles[1:]:
        # Our copies keep the linux run's GitHub Action link: the machine's other lines are the published ones.
        assert block(section(readme, title), None)[1:] == block(section(PUBLISHED, title), None)[1:]
    # A table page's "machine" is the OS and the arch, as bench_runner writes it, not the nickname.
    page = written.pages["3.10.4"].read_text()
    assert "\n- machine: windows-amd64\n" in page


def test_the_ref_line_has_every_machines_ref_and_the_hash_seven_characters(tmp_path):
    # 3.10.4 as published by three machines: two named it by its sha, one by its tag; one recorded a
    # longer commit_id. bench_runner shows the name's sha and every ref of the folder, sorted.
    out = tmp_path / "out"
    data = json.loads(BASE_3_10.read_text())
    data["metadata"]["commit_id"] = "9d38120e33"
    tagged = BASE_3_10.name.replace("-linux-x86_64-python-9d38120e335357a3b294-", "-pythonperf1-amd64-python-v3.10.4-")
    (tmp_path / tagged).write_text(json.dumps(data))
    for path in (BASE_3_10, tmp_path / tagged):
        written = pages.write_run(out, load_suite(path), path.name, [], plots=False)
    assert run_facts(written.readme.read_text()) == [
        "# Results", "", "- fork: python", "- version: 3.10.4",
        "- commit hash: [9d38120](https://github.com/python/cpython/commit/9d38120)",
        "- commit date: 2022-03-23T20:12:04+00:00", "- ref: 9d38120e335357a3b294, v3.10.4"]


def test_a_run_reported_by_an_older_version_keeps_its_section(tmp_path: Path) -> None:
    """Records of the pages' first format (before bench_runner's names were read as bench_runner
    reads them) are read again from the raw results beside them, not dropped."""
    out = tmp_path / "pages"
    first = pages.write_run(out, load_suite(HEAD_FILE), HEAD_FILE.name, [(load_suite(BASE_3_10), BASE_3_10.name,
                                                                           "3.10.4")], plots=False)
    (record_path,) = first.folder.glob(f".*{pages.SIDECAR_SUFFIX}")
    old = json.loads(record_path.read_text())
    old["version"] = 1
    old["run"]["commit"] = "4ae1a0ecaf"  # what the first format wrote: 10 characters
    record_path.write_text(json.dumps(old))
    readme = pages.write_run_readme(first.folder).read_text()
    assert "## linux x86_64 (linux)" in readme
    assert "- commit hash: [4ae1a0e](" in readme and "[4ae1a0ecaf]" not in readme
