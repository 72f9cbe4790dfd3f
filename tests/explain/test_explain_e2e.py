"""Why it is slower, end to end on real builds of the test repository: the failing items of
``slowdown`` (copy.deepcopy builds a tuple of its dispatch table per call) and ``slowdown-c`` (json's C
scanner spins per value) name what grew; an A/A pair (``neutral``: a comment in tabnanny, against
v3.13.5) ranks nothing and is triaged as layout; without perf or valgrind, one line each and the
verdict unchanged."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import TINYCOPY, cli, pytest_run, run, write_manifest

from pytest_cpybench.explain import profiler


@pytest.fixture(scope="module")
def perf_records() -> None:
    """The time profiles need perf to record here (installed, and perf_event_paranoid letting it)."""
    problem = profiler.perf_problem()
    if problem:
        pytest.skip(f"no time profile on this machine: {problem}")


def _common(repo: Path, cache_dir: Path, tmp_path: Path) -> list[str]:
    return [f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}",
            f"--cpython-results-dir={tmp_path / 'results'}", "--cpython-save=no",
            f"--junitxml={tmp_path / 'junit.xml'}", f"--cpython-report={tmp_path / 'report'}",
            f"--cpython-pr-comment={tmp_path / 'comment.md'}", "--cpython-explain=auto", "-v"]


def _properties(junit_xml: Path) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in ET.parse(junit_xml).getroot().iter("property")}


def _why(props: dict[str, str], result: str, metric: str) -> list[str]:
    """The contributors of ``result``'s profile in ``metric`` (JUnit ``cpybench.<result>.why.N``), ranked."""
    found = [(int(m[1]), value) for name, value in props.items()
             if (m := re.fullmatch(rf"cpybench\.{result}\.why\.(\d+)", name)) and value.startswith(f"{metric}: ")]
    return [value.removeprefix(f"{metric}: ").split(": ")[0] for _n, value in sorted(found)]


def test_slowdown_under_instructions_names_the_c_functions_that_grew(repo: Path, cache_dir: Path, cpython_3135,
                                                                     tmp_path: Path) -> None:
    done = pytest_run(*_common(repo, cache_dir, tmp_path), "--cpython-ref=slowdown", "--cpython-baseline=v3.13.5",
                      "--cpython-metric=instructions", "--cpython-benchmarks=deepcopy", cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    failures = done.stdout.split("= FAILURES =")[1]
    assert "why (code): the interpreter does more work: instructions per loop" in failures
    assert "Objects/dictobject.c:dictiter_iternextkey: 0 -> " in failures
    props = _properties(tmp_path / "junit.xml")
    failed = [name.split(".")[1] for name, value in props.items()
              if name.endswith(".verdict") and value == "regression"]
    assert failed, props
    for result in failed:
        assert props[f"cpybench.{result}.why.kind"] == "code"
        top = _why(props, result, "instructions")
        # tuple(_deepcopy_dispatch): iterating a dict and building a tuple, per call.
        assert {"Objects/dictobject.c:dictiter_iternextkey", "Objects/abstract.c:PySequence_Tuple"} <= set(top), top
    page = next((tmp_path / "report").rglob("*-vs-v3.13.5.md")).read_text()
    assert "## Why it is slower" in page and "dictiter_iternextkey" in page
    assert "**Why it is slower**" in (tmp_path / "comment.md").read_text()
    # The raw files, where cg_annotate opens them.
    folder = Path(props[f"cpybench.{failed[0]}.why.files"])
    assert folder.parent == tmp_path / "results" / "explain"
    kept = sorted((folder / "cachegrind" / "head").rglob("cachegrind.*"))
    assert kept, list(folder.rglob("*"))
    # The largest: the interpreter's own (pyperf's metadata also runs `file`, counted too).
    largest = max(kept, key=lambda path: path.stat().st_size)
    annotated = subprocess.run(["cg_annotate", str(largest)], capture_output=True, text=True, check=False)
    assert annotated.returncode == 0 and "dictiter_iternextkey" in annotated.stdout


def test_slowdown_c_names_the_json_scanner_first(repo: Path, cache_dir: Path, cpython_3135, tmp_path: Path) -> None:
    done = pytest_run(*_common(repo, cache_dir, tmp_path), "--cpython-ref=slowdown-c", "--cpython-baseline=v3.13.5",
                      "--cpython-metric=instructions", "--cpython-benchmarks=json_loads", cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    props = _properties(tmp_path / "junit.xml")
    assert props["cpybench.json_loads.why.kind"] == "code"
    assert _why(props, "json_loads", "instructions")[0] == "Modules/_json.c:scan_once_unicode"


def test_slowdown_under_time_names_deepcopy_in_copy_py(repo: Path, cache_dir: Path, cpython_3135,
                                                       perf_records: None, tmp_path: Path) -> None:
    done = pytest_run(*_common(repo, cache_dir, tmp_path), "--cpython-ref=slowdown", "--cpython-baseline=v3.13.5",
                      "--cpython-benchmarks=deepcopy", "--cpython-mode=fast", cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    props = _properties(tmp_path / "junit.xml")
    failed = [name.split(".")[1] for name, value in props.items()
              if name.endswith(".verdict") and value == "regression"]
    assert failed, props
    # What the slowdown added: copy.deepcopy's time, and the C functions that building the tuple runs.
    slowdown = {"py::deepcopy:Lib/copy.py", "dictiter_iternextkey", "PySequence_Tuple", "tupledealloc"}
    for result in failed:
        assert props[f"cpybench.{result}.why.kind"] == "code"
        assert slowdown & set(_why(props, result, "time")), props
        assert "Objects/dictobject.c:dictiter_iternextkey" in _why(props, result, "instructions")
    # deepcopy_reduce grows by about 1 us a loop: perf's samples of it name the C functions for sure,
    # deepcopy's own time only on a quiet machine. The two larger results name it every time.
    for result in {"deepcopy", "deepcopy_memo"} & set(failed):
        assert "py::deepcopy:Lib/copy.py" in _why(props, result, "time"), props
    folder = Path(props[f"cpybench.{failed[0]}.why.files"])
    assert list((folder / "perf" / "head").glob("perf.*.data")) and list((folder / "perf" / "head").glob("perf-*.map"))


def test_an_a_a_pair_ranks_nothing_and_is_layout(repo: Path, cache_dir: Path, cpython_3135, perf_records: None,
                                                 tmp_path: Path) -> None:
    done = cli("explain", f"--repo={repo}", f"--cache-dir={cache_dir}", f"--results-dir={tmp_path / 'results'}",
               "--base=v3.13.5", "--head=neutral", "-b", "deepcopy", "--metric=time", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    results = re.findall(r"^(\w+) vs v3\.13\.5 \(time\):$", out, re.MULTILINE)
    assert sorted(results) == ["deepcopy", "deepcopy_memo", "deepcopy_reduce"], out
    assert out.count("why (layout): ") == 3, out
    assert out.count("nothing changed beyond its noise") == 6, out  # a time and an instruction profile each


def _path_without(tmp_path: Path, tool: str) -> str:
    """A PATH with every command of /usr/bin and /bin but ``tool`` (on a merged /usr, /bin is
    /usr/bin: it cannot stay on the PATH itself)."""
    folder = tmp_path / f"bin-without-{tool}"
    folder.mkdir()
    for directory in (Path("/usr/bin"), Path("/bin")):
        for entry in directory.iterdir():
            if entry.name != tool and not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry)
    return str(folder)


def test_without_perf_or_valgrind_one_line_each_and_the_same_verdict(repo: Path, cache_dir: Path, cpython_3135,
                                                                    tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "suite", {"tinycopy": TINYCOPY})
    for tool, line in (("perf", "no time profile: perf is not installed (Debian: apt-get install linux-perf); "
                                "the instruction profile stands in for it"),
                       ("valgrind", "no instruction profile: valgrind is not installed (Debian: apt-get install "
                                    "valgrind)")):
        out = tmp_path / tool
        out.mkdir()
        done = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *_common(repo, cache_dir, out),
                    "--cpython-ref=slowdown", "--cpython-baseline=v3.13.5", f"--cpython-manifest={manifest}",
                    "--cpython-benchmarks=tinycopy", "--cpython-mode=fast"], cwd=out,
                   env={"PATH": _path_without(out, tool), "HOME": os.environ.get("HOME", "/root")})
        assert done.returncode == 1, done.stdout
        assert "pyperformance::tinycopy FAILED" in done.stdout
        failures = done.stdout.split("short test summary info")[0]  # the summary may repeat the message
        assert failures.count(line) == 1, done.stdout
        assert _properties(out / "junit.xml")["cpybench.tinycopy.vs.v3.13.5.verdict"] == "regression"
