"""The docs: they build with warnings as errors, the options page says what the option rows say,
the README stays a page, and the prose speaks of the project, not of issues or sessions."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_cpybench.options import OPTIONS, Option

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
CHANGELOG = ROOT / "CHANGELOG.md"
RESULTS = ROOT / "benchmarks" / "results"
MEASUREMENTS = DOCS / "measurements"

README_MOST_LINES = 150
# An issue or a work session by number or ordinal: "issue 11", "(issue 13)", "issues 11 and 14",
# "issue #11", "the fourth session", "session 5". Not "a pytest session" nor "the session's baseline".
ORDINALS = "first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth"
HISTORY = re.compile(rf"\bissues? #?\d+\b|\b(?:{ORDINALS}) session\b|\bsession #?\d+\b", re.IGNORECASE)
TEXT_SUFFIXES = {".md", ".rst", ".txt", ".py"}
BUILD_OUTPUT = {"_build", "__pycache__"}


def _build(out: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", str(DOCS), str(out)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, subprocesses: None) -> Path:
    out = tmp_path_factory.mktemp("docs") / "html"
    done = _build(out)
    assert done.returncode == 0, f"sphinx-build failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    return out


def _text(fragment: str) -> str:
    """What a reader sees of some HTML: no tags, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _squeezed(text: str) -> str:
    return " ".join(text.split())


def _prose_files() -> list[Path]:
    files = [README, CHANGELOG]
    for path in sorted(DOCS.rglob("*")):
        if path.is_file() and path.suffix in TEXT_SUFFIXES and not BUILD_OUTPUT & set(path.relative_to(DOCS).parts):
            files.append(path)
    return files


def _history_mentions(path: Path) -> list[str]:
    """``line: 'phrase'`` for every mention of an issue or a session by number in a file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [f"{number}: {match.group(0)!r}" for number, line in enumerate(lines, 1) for match in HISTORY.finditer(line)]


# -- (a) the docs build strictly ----------------------------------------------------------------------


def test_the_docs_build_with_warnings_as_errors(built: Path) -> None:
    for page in ("index", "quickstart", "verdict", "metrics", "options", "results-store", "reports", "ci",
                 "xdist", "bisect", "errors", "architecture", "contributing", "changelog", "measurements/index"):
        assert (built / f"{page}.html").is_file(), page


# -- (b) the options page is the option rows ----------------------------------------------------------


def _row_text(page: str, option: Option) -> str:
    match = re.search(rf'<tr[^>]*\bid="option-{re.escape(option.name)}"[^>]*>(.*?)</tr>', page, re.DOTALL)
    assert match, f"the options page has no row for {option.name}"
    return _text(match.group(1))


def test_the_options_page_names_every_row_with_its_default_and_help(built: Path) -> None:
    page = (built / "options.html").read_text(encoding="utf-8")
    for option in OPTIONS:
        row = _row_text(page, option)
        assert (option.ini if option.ini_only else option.flag) in row, (option.name, row)
        assert option.ini in row, (option.name, row)
        assert _squeezed(option.shown_default()) in row, (option.name, option.shown_default(), row)
        assert _squeezed(option.help) in row, (option.name, row)
        for choice in option.choices:
            assert choice in row, (option.name, choice)
        if option.cli:
            assert f"--{option.cli}" in row, (option.name, option.cli)
    rows = re.findall(r'<tr[^>]*\bid="option-([a-z-]+)"', page)
    assert rows == [option.name for option in OPTIONS], "rows the code does not have, or in another order"


def test_every_option_the_prose_names_is_the_plugins() -> None:
    known = {option.name for option in OPTIONS}
    for path in _prose_files():
        named = set(re.findall(r"--(cpython-[a-z]+(?:-[a-z]+)*)", path.read_text(encoding="utf-8")))
        unknown = sorted(named - known)
        assert not unknown, f"{path.relative_to(ROOT)} names options the plugin does not have: {unknown}"


# -- (c) the README is a page -------------------------------------------------------------------------


def test_the_readme_is_at_most_a_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MOST_LINES, f"README.md has {len(lines)} lines: move the depth into docs/"


def test_the_readme_gives_the_test_command_ci_runs() -> None:
    """.ci/run runs "exactly the test command README.md gives"."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = re.findall(r"^\s*(\.venv/bin/python -m pytest\b.*)$", ci, re.MULTILINE)
    assert len(commands) == 1, commands
    assert commands[0].strip() in README.read_text(encoding="utf-8")


# -- (d) prose about the project, not about its history -----------------------------------------------


def test_the_pattern_finds_issues_and_sessions(tmp_path: Path) -> None:
    """The check below can fail: a page that speaks of an issue or a session by number fails it."""
    page = tmp_path / "page.md"
    page.write_text("Measured in the fourth session (issue 11).\nIssues 13 and 14 asked for it.\n"
                    "A pytest session ends with a summary; the session's baseline is stored.\n"
                    "Known issues: none. Five sessions per arm, as the previous session stored them.\n",
                    encoding="utf-8")
    assert _history_mentions(page) == ["1: 'fourth session'", "1: 'issue 11'", "2: 'Issues 13'"]


def test_the_prose_speaks_of_the_project_not_of_issues_or_sessions() -> None:
    paths = _prose_files()
    assert README in paths and CHANGELOG in paths and DOCS / "index.md" in paths
    found = [f"{path.relative_to(ROOT)}:{mention}" for path in paths for mention in _history_mentions(path)]
    assert not found, "rewrite these to speak of the project:\n" + "\n".join(found)


# -- the measurements name their files ----------------------------------------------------------------


def test_every_results_file_is_in_the_measurements_index() -> None:
    index = (MEASUREMENTS / "index.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([^`]+\.json)` \|", index, re.MULTILINE))
    kept = {path.name for path in RESULTS.glob("*.json")}
    assert kept <= listed, f"results files the index does not say the use of: {sorted(kept - listed)}"
    assert listed <= kept, f"the index lists files that are not in benchmarks/results: {sorted(listed - kept)}"


def test_every_results_file_a_page_names_exists() -> None:
    for page in sorted(MEASUREMENTS.glob("*.md")):
        for name in re.findall(r"benchmarks/results/([\w.-]+\.json)", page.read_text(encoding="utf-8")):
            assert (RESULTS / name).is_file(), f"{page.name} names {name}, which benchmarks/results does not have"


def test_dated_numbers_stay_out_of_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", readme), "dated measurements belong on docs/measurements/ pages"
