"""pystats for real: a gate session on the test repository's ``despecialize`` branch (LOAD_ATTR never
specializes) against v3.13.5 with ``--cpython-explain=pystats`` builds both with --enable-pystats, runs
the failing benchmark once per side with statistics on, and names LOAD_ATTR's specialization first; a
3.11 commit gets one line and no build."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from helpers import cli, pytest_run

from pytest_cpybench.cpython import builds, git
from pytest_cpybench.explain import pystats
from pytest_cpybench.suite._pyperformance import load_benchmarks

BENCHMARK = "richards"  # attribute loads on instances in its inner loop: despecialize slows it by far more than 5%


def _properties(junit_xml: Path) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in ET.parse(junit_xml).getroot().iter("property")}


def test_a_failing_item_names_load_attr_specialization_first(repo: Path, cache_dir: Path, cpython_3135,
                                                              tmp_path: Path) -> None:
    before = {path.name for path in pystats.STATS_DIR.iterdir()} if pystats.STATS_DIR.is_dir() else set()
    done = pytest_run(f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}",
                      f"--cpython-results-dir={tmp_path / 'results'}", "--cpython-save=no",
                      f"--junitxml={tmp_path / 'junit.xml'}", f"--cpython-report={tmp_path / 'report'}", "-v",
                      "--cpython-ref=despecialize", "--cpython-baseline=v3.13.5", f"--cpython-benchmarks={BENCHMARK}",
                      # Up to 20 rounds, not the default cap: fast mode's cap can stop a noisy richards early.
                      "--cpython-mode=fast", "--cpython-budget=20", "--cpython-explain=pystats", cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    failures = done.stdout.split("= FAILURES =")[1]
    # Under the verdict: the pystats title, then its top five, the largest first; no profile was made.
    title = re.search(r"^ {4}pystats: counts per loop, v3\.13\.5 -> despecialize .*$", failures, re.MULTILINE)
    assert title, failures
    shown = failures[title.end():].splitlines()[1:6]
    assert all(line.startswith("      ") for line in shown), shown
    assert shown[0].strip().startswith("LOAD_ATTR specialization "), failures
    assert "instructions profile" not in failures and "time profile" not in failures
    props = _properties(tmp_path / "junit.xml")
    assert props[f"cpybench.{BENCHMARK}.vs.v3.13.5.verdict"] == "regression"
    assert props[f"cpybench.{BENCHMARK}.why.pystats.1"] == shown[0].strip()
    assert f"cpybench.{BENCHMARK}.why.pystats.5" in props
    # The raw files beside the explanation's folder, opened by the head commit's summarize_stats.py.
    base_json, head_json = props[f"cpybench.{BENCHMARK}.why.pystats.files"].split(" ")
    folder = Path(props[f"cpybench.{BENCHMARK}.why.files"])
    assert folder.parent == tmp_path / "results" / "explain"
    assert (Path(base_json).name, Path(head_json).name) == (f"{BENCHMARK}.base.pystats.json",
                                                            f"{BENCHMARK}.head.pystats.json")
    assert Path(base_json).parent == folder and json.loads(Path(head_json).read_text())["__nfiles__"] >= 1
    head = git.resolve(str(repo), "despecialize", cache_dir)
    python = builds.ensure_build(builds.BuildRequest(commit=head, preset=pystats.PRESET), cache_dir).python
    script = pystats._script_tree(head, tmp_path / "src")
    compared = subprocess.run([str(python), str(script), base_json, head_json], capture_output=True, text=True,
                              timeout=300, check=False)
    assert compared.returncode == 0, compared.stderr
    assert "LOAD_ATTR" in compared.stdout
    page = next((tmp_path / "report").rglob("*-vs-v3.13.5.md")).read_text()
    assert "**pystats: counts per loop" in page and "| LOAD_ATTR specialization " in page
    # Files already in CPython's fixed folder were left alone.
    assert before <= {path.name for path in pystats.STATS_DIR.iterdir()}


def test_the_explain_command_compares_pystats_without_a_verdict(repo: Path, cache_dir: Path, cpython_3135,
                                                                tmp_path: Path) -> None:
    done = cli("explain", f"--repo={repo}", f"--cache-dir={cache_dir}", f"--results-dir={tmp_path / 'results'}",
               "--base=v3.13.5", "--head=despecialize", "-b", BENCHMARK, "--explain=pystats", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{BENCHMARK} vs v3.13.5 (time):", done.stdout
    assert lines[2].startswith("    pystats: counts per loop, v3.13.5 -> despecialize"), done.stdout
    assert lines[3].startswith("      LOAD_ATTR specialization "), done.stdout
    assert "profile" not in done.stdout
    folder = Path(lines[-1].removeprefix("  raw files: "))
    assert sorted(path.name for path in folder.iterdir()) == [
        f"{BENCHMARK}.base.pystats.json", f"{BENCHMARK}.head.pystats.json", f"{BENCHMARK}.pystats-comparison.json"]


def test_cpython_3_11_gets_one_line_and_no_build(repo: Path, cache_dir: Path, tmp_path: Path) -> None:
    base = git.resolve(str(repo), "v3.11.2", cache_dir)
    head = git.resolve(str(repo), "v3.13.5", cache_dir)
    bench = next(b for b in load_benchmarks() if b.name == BENCHMARK)
    before = builds.list_entries(cache_dir)

    diff = pystats.pystats_diff(base, head, bench, tmp_path, cache_dir=cache_dir)

    line = "cannot compare pystats on CPython 3.11: summarize_stats.py compares two runs from 3.12"
    assert diff.unavailable == line and diff.lines() == [line]
    assert diff.changes == [] and list(tmp_path.iterdir()) == []
    # Decided from the sources: nothing was built for it.
    assert [entry.key for entry in builds.list_entries(cache_dir)] == [entry.key for entry in before]
