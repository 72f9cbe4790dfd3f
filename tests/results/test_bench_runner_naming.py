"""bench_runner's names (results/naming.py) read from what bench_runner published for 3.12.0a1:
the file names its run README links, its machines' titles and platforms, its table pages' header."""

from __future__ import annotations

import re
from pathlib import Path

from seed import HEAD_FILE, SEED

from pytest_cpybench.results import naming

PUBLISHED = (SEED / "README.md").read_text(encoding="utf-8")
HEAD_SHA = "4ae1a0ecaffe4320fe9774fad1f395f732c17959"


def published_sections() -> dict[str, str]:
    """Each machine's section of the published README, by title (``linux x86_64 (linux)``)."""
    return {title: text for title, text in re.findall(r"^## (.+)\n((?:(?!## ).*\n)*)", PUBLISHED, re.MULTILINE)}


def test_every_file_the_published_readme_links_parses_as_its_machines():
    sections = published_sections()
    assert len(sections) == 4
    for title, text in sections.items():
        _, arch, nickname = re.fullmatch(r"(\S+) (\S+) \((\S+)\)", title).groups()
        links = re.findall(r"\]\((bm-[^)]+)\)", text)
        assert len(links) == 5  # the raw results, a table and a plot per baseline
        for link in links:
            parsed = naming.parse_name(naming.results_stem(Path(link).with_suffix("")))
            assert parsed is not None, link
            fields = (parsed.date, parsed.nickname, parsed.arch, parsed.fork, parsed.ref, parsed.version, parsed.sha7)
            assert fields == ("20221025", nickname, arch, "python", "4ae1a0ecaffe4320fe97", "3.12.0a1", "4ae1a0e")
            assert parsed.folder == "bm-20221025-3.12.0a1-4ae1a0e"
        raw, *pages = links
        assert naming.label_from_filename(raw) == "3.12.0a1" and naming.parse_name(naming.results_stem(raw)).extra == ()
        assert [naming.parse_name(Path(page).stem).extra for page in pages] == [
            ("vs", "3.10.4"), ("vs", "3.10.4"), ("vs", "3.11.0"), ("vs", "3.11.0")]


def test_machine_titles_come_from_the_platform_and_are_ordered_as_published():
    sections = published_sections()
    for title, text in sections.items():
        platform = re.search(r"^- platform: (.+)$", text, re.MULTILINE).group(1)
        _, arch, nickname = re.fullmatch(r"(\S+) (\S+) \((\S+)\)", title).groups()
        assert naming.runner_name(naming.system_name(platform), arch, nickname) == title
    assert sorted(reversed(list(sections)), key=naming.runner_order) == list(sections)
    assert naming.system_name("Darwin-21.6.0-x86_64-i386-64bit") == "darwin"  # before Python 3.8's "macOS"
    assert naming.system_name("") == "unknown"


def test_a_table_pages_machine_is_the_os_and_the_arch():
    page = (SEED / f"{HEAD_FILE.stem}-vs-3.10.4.md").read_text()
    platform = re.search(r"^- platform: (.+)$", published_sections()["linux x86_64 (linux)"], re.MULTILINE).group(1)
    assert f"\n- machine: {naming.machine_name(naming.system_name(platform), 'x86_64')}\n" in page


def test_fields_after_the_sha_do_not_move_the_sha():
    # A baseline label with dashes in a table page's name: the sha is still the 8th field.
    parsed = naming.parse_name(f"{HEAD_FILE.stem}-vs-3.11.0-deaf509")
    assert (parsed.version, parsed.sha7, parsed.extra) == ("3.12.0a1", "4ae1a0e", ("vs", "3.11.0", "deaf509"))
    assert naming.parse_name("bm-20221025-linux-x86_64-python-main") is None
    assert naming.parse_name(f"{HEAD_FILE.stem}.cpybench-report") is None


def test_a_fork_with_a_dash_is_written_as_bench_runner_does_and_read_back():
    stem = naming.file_stem("20221025", "linux", "x86_64", "faster-cpython", "main", "3.12.0a1", "4ae1a0e")
    assert stem == "bm-20221025-linux-x86_64-faster%2dcpython-main-3.12.0a1-4ae1a0e"
    assert naming.parse_name(stem).fork == "faster-cpython"


def test_the_flags_of_a_bench_runner_file_are_its_folders():
    folder = naming.parse_folder_name("bm-20221025-3.12.0a1-4ae1a0e-JIT,NOGIL")
    assert (folder.date, folder.version, folder.sha7, folder.flags) == ("20221025", "3.12.0a1", "4ae1a0e",
                                                                       ("JIT", "NOGIL"))
    assert naming.run_folder(Path("results/bm-20221025-3.12.0a1-4ae1a0e-JIT") / HEAD_FILE.name) == \
        "bm-20221025-3.12.0a1-4ae1a0e-JIT"
    # In a folder that is not the run's (the test data), the flags are unknown: none.
    assert naming.run_folder(HEAD_FILE) == "bm-20221025-3.12.0a1-4ae1a0e"
    assert naming.run_folder("results.json") is None


def test_the_store_finds_files_and_folders_with_the_same_parser():
    assert naming.is_file_of(HEAD_FILE.stem, "linux", HEAD_SHA)
    assert naming.is_file_of(f"{HEAD_FILE.stem}-PGO_LTO-2", "linux", HEAD_SHA)
    assert not naming.is_file_of(HEAD_FILE.stem, "pythonperf2", HEAD_SHA)
    assert not naming.is_file_of(HEAD_FILE.stem, "linux", "deaf509e8fc6e0363bd6f26d52ad42f976ec42f2")
    assert naming.is_folder_of("bm-20221025-3.12.0a1-4ae1a0e", HEAD_SHA, "")
    assert naming.is_folder_of("bm-20221025-3.12.0a1-4ae1a0e-PGO_LTO,INSTR", HEAD_SHA, "PGO_LTO,INSTR")
    assert not naming.is_folder_of("bm-20221025-3.12.0a1-4ae1a0e-JIT", HEAD_SHA, "")
