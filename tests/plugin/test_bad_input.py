"""Every bad input of README's table: one clear line, exit 4 (usage) or 8 (infrastructure), no
traceback, nothing half-written, and what was stored before left byte for byte as it was.

Each row runs pytest with the plugin in a subprocess, as a user would, against a results store
and a cache that already hold something.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import pytest_run, run, write_manifest
from seed import BASE_3_11

from pytest_cpybench.errors import EXIT_INFRASTRUCTURE

pytestmark = pytest.mark.usefixtures("subprocesses")  # every test here starts processes

USAGE = int(pytest.ExitCode.USAGE_ERROR)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A results store holding one earlier result."""
    root = tmp_path / "results"
    folder = root / "bm-20221024-3.11.0-deaf509"
    folder.mkdir(parents=True)
    shutil.copy(BASE_3_11, folder / BASE_3_11.name)
    return root


def _snapshot(*roots: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for root in roots if root.exists() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _check(done: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    out = done.stdout + done.stderr
    assert done.returncode == code, out
    assert message in out, out
    for marker in ("Traceback", "INTERNALERROR", "test session starts" if code == USAGE else "\0"):
        assert marker not in out, out
    line = next(line for line in out.splitlines() if message in line)
    assert len(line) < 400, line  # one line a person reads, not a dump


def _run(tmp_path: Path, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cache = tmp_path / "cache"
    before = _snapshot(store)
    done = pytest_run(f"--cpython-results-dir={store}", f"--cpython-cache-dir={cache}", *args, cwd=tmp_path)
    assert _snapshot(store) == before  # nothing lost, nothing added
    assert not (cache / "builds").exists() or not [p for p in (cache / "builds").iterdir()
                                                    if not p.name.endswith((".lock", ".owner"))]
    return done


# -- option values: usage errors before any session output (exit 4) ----------------------

USAGE_ROWS = [
    (["--cpython-ref=main", "--cpython-threshold=abc"], "--cpython-threshold='abc'"),
    (["--cpython-ref=main", "--cpython-threshold=-5%"], "--cpython-threshold='-5%'"),
    (["--cpython-ref=main", "--cpython-threshold=500%"], "--cpython-threshold='500%' is out of range"),
    (["--cpython-ref=main", "--cpython-budget=0"], "--cpython-budget='0' is too small"),
    (["--cpython-ref=main", "--cpython-budget=-3s"], "--cpython-budget='-3s' must be positive"),
    (["--cpython-ref=main", "--cpython-mode=quick"], "--cpython-mode='quick' is not valid"),
    (["--cpython-ref=main", "--cpython-parallel=sometimes"], "--cpython-parallel='sometimes' is not valid: choose "
                                                             "one of auto, yes, no"),
    (["--cpython-ref=main", "--cpython-decide=never"],
     "--cpython-decide='never' is not valid: choose one of item, all"),
    (["--cpython-ref=main", "--cpython-metric=time,time"], "name each metric once"),
    (["--cpython-ref=main", "--cpython-threshold=cycles:5%"], "'cycles' is not a metric"),
    (["--cpython-ref="], "--cpython-ref is empty"),
    (["--cpython-ref=main", "--cpython-timeout=inf"], "--cpython-timeout='inf' must be a finite number"),
    (["--cpython-ref=main", "--cpython-timeout=0"], "--cpython-timeout='0' must be more than 0 seconds"),
    (["--cpython-ref=main", "--cpython-budget=nans"], "--cpython-budget='nans' must be positive"),
    (["--cpython-ref=main", "--cpython-machine=  "], "is not a machine name"),
    (["--cpython-ref=main", "--cpython-baseline=v1,v1"], "names a baseline twice"),
    (["--cpython-ref=main..slowdown"], "is a range"),
    (["--cpython-ref=main; rm -rf ~"], "is not a git ref"),
    (["--cpython-ref=main branch"], "is not a git ref"),
    (["--cpython-ref=-x"], "--cpython-ref='-x' is not a git ref"),
    (["--cpython-ref=main", "--cpython-baseline=v1..v2"], "--cpython-baseline='v1..v2' is a range"),
    (["--cpython-ref=main", "--cpython-benchmarks=nbdy"], "unknown benchmark or group: 'nbdy'"),
    (["--cpython-ref=main", "pyperformance::nope"], "no pyperformance benchmark (or result) is called 'nope'"),
    (["--cpython-ref=main", "--cpython-affinity=0-"], "--cpython-affinity='0-' is not a CPU list"),
    (["--cpython-ref=main", "--cpython-affinity=0", "-n", "2"], "-n 2: 2 workers would share the 1 CPU"),
    (["--cpython-ref=main", "--cpython-affinity=8191"], "--cpython-affinity=8191 names CPUs this process may not"),
    (["--cpython-ref=main", "--cpython-affinity=0-20000000"], "CPU numbers go up to 8191"),
    (["--cpython-ref=main", "--tx", "ssh=nobody@127.0.0.1//python=python3", "--dist", "load"],
     "--dist load would spread the benchmarks over machines"),
    (["--cpython-ref=main", "--tx", "popen//env:CPYBENCH_MACHINE=alpha", "--tx", "popen//env:CPYBENCH_MACHINE=alpha",
      "--dist", "each"], "--tx names machine alpha twice"),
    (["--cpython-ref=WORKTREE", "--tx", "popen//env:CPYBENCH_MACHINE=alpha", "--dist", "each"],
     "--cpython-ref=WORKTREE is this machine's working tree"),
    (["--cpython-ref=main", "--tx", "2*popen", "--dist", "each"], "--dist each runs every benchmark on each of 2"),
]


@pytest.mark.parametrize(("args", "message"), USAGE_ROWS, ids=[" ".join(a) for a, _ in USAGE_ROWS])
def test_bad_option_values_are_usage_errors(args: list[str], message: str, tmp_path: Path, store: Path) -> None:
    _check(_run(tmp_path, store, *args), USAGE, message)


def test_custom_manifest_with_a_syntax_error(tmp_path: Path, store: Path) -> None:
    manifest = tmp_path / "MANIFEST"
    manifest.write_text("[benchmarks]\nname\tmetafile\nbroken line without a tab\n")
    done = _run(tmp_path, store, "--cpython-ref=main", f"--cpython-manifest={manifest}")
    _check(done, USAGE, f"invalid benchmark manifest {manifest}")


# -- inputs found wrong when the session starts (exit 8) -------------------------------------

def test_repo_path_that_does_not_exist(tmp_path: Path, store: Path) -> None:
    missing = tmp_path / "no-such-clone"
    done = _run(tmp_path, store, f"--cpython-repo={missing}", "--cpython-ref=main")
    _check(done, EXIT_INFRASTRUCTURE, f"{missing} is not a git repository")


def test_git_repo_that_is_not_cpython(tmp_path: Path, store: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    git = ["git", "-C", str(other), "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    (other / "README").write_text("not CPython\n")
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    done = _run(tmp_path, store, f"--cpython-repo={other}", "--cpython-ref=HEAD")
    _check(done, EXIT_INFRASTRUCTURE, f"has no Include/patchlevel.h: is {other} a CPython repository?")


def test_unknown_ref_with_shell_characters(repo: Path, tmp_path: Path, store: Path) -> None:
    done = _run(tmp_path, store, f"--cpython-repo={repo}", "--cpython-ref=main;true")
    _check(done, EXIT_INFRASTRUCTURE, "unknown ref 'main;true'")


def test_baseline_equal_to_the_ref(repo: Path, tmp_path: Path, store: Path) -> None:
    done = _run(tmp_path, store, f"--cpython-repo={repo}", "--cpython-ref=v3.13.5", "--cpython-baseline=main")
    _check(done, EXIT_INFRASTRUCTURE, "--cpython-baseline=main is the same commit as --cpython-ref=v3.13.5")


def test_python_that_is_not_an_interpreter(tmp_path: Path, store: Path) -> None:
    fake = tmp_path / "python-fake"
    fake.write_text("#!/bin/sh\necho 'hello'\nexit 3\n")
    fake.chmod(0o755)
    done = _run(tmp_path, store, f"--cpython-python={fake}")
    _check(done, EXIT_INFRASTRUCTURE, f"--cpython-python={fake} is not a working Python interpreter")


def test_python_that_is_not_executable(tmp_path: Path, store: Path) -> None:
    plain = tmp_path / "python3"
    plain.write_text("print('hi')\n")
    plain.chmod(0o644)
    done = _run(tmp_path, store, f"--cpython-python={plain}")
    _check(done, EXIT_INFRASTRUCTURE, f"--cpython-python={plain} is not an executable file")


@contextlib.contextmanager
def _tmpfs(path: Path, options: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}): run as root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_read_only_results_dir_is_refused_before_measuring(tmp_path: Path) -> None:
    # chmod does not stop root (CI runs as root): a read-only file system does.
    with _tmpfs(tmp_path / "ro", "ro,size=1m") as read_only:
        done = pytest_run(f"--cpython-python={sys.executable}", f"--cpython-results-dir={read_only}",
                          f"--cpython-cache-dir={tmp_path / 'cache'}", "--cpython-benchmarks=nbody",
                          cwd=tmp_path)
    _check(done, EXIT_INFRASTRUCTURE, f"--cpython-results-dir: cannot write in {read_only}")
    assert "nbody: running" not in done.stdout + done.stderr
    assert not (tmp_path / "cache" / "venvs").exists()  # refused before anything was set up


def test_json_path_that_cannot_be_created_is_refused_before_measuring(tmp_path: Path, store: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = _run(tmp_path, store, f"--cpython-python={sys.executable}", "--cpython-benchmarks=nbody",
                f"--cpython-json={blocker / 'out.json'}")
    _check(done, EXIT_INFRASTRUCTURE, f"--cpython-json: cannot write in {blocker}")


# -- trouble while running (slow: real benchmarks) ---------------------------------------------

def test_disk_full_while_storing_keeps_earlier_results(repo: Path, cpython_3135: object, tmp_path: Path,
                                                       cache_dir: Path) -> None:
    with _tmpfs(tmp_path / "small", "size=64k") as small:
        store = small / "results"
        folder = store / "bm-20221024-3.11.0-deaf509"
        folder.mkdir(parents=True)
        earlier = folder / "bm-20221024-earlier.json"
        earlier.write_text('{"version": "1.0", "benchmarks": []}\n')
        with contextlib.suppress(OSError), open(small / "filler", "wb") as filler:
            while True:  # fill the file system; an empty file still fits (the check before measuring)
                filler.write(b"\0" * 4096)
                filler.flush()
        before = _snapshot(store)
        done = pytest_run(f"--cpython-repo={repo}", "--cpython-ref=v3.13.5", f"--cpython-results-dir={store}",
                          f"--cpython-cache-dir={cache_dir}", "--cpython-benchmarks=nbody",
                          "--cpython-mode=debug", cwd=tmp_path)
        after = _snapshot(store)
    _check(done, EXIT_INFRASTRUCTURE, "results of v3.13.5 not stored: cannot write results in")
    assert "No space left on device" in done.stdout
    summary = done.stdout.split("== cpybench ==")[1]
    assert any(line.startswith("nbody ") for line in summary.splitlines())  # what was measured is still shown
    assert after == before  # no half-written file, the earlier one intact


def test_benchmark_whose_requirements_cannot_be_installed(tmp_path: Path, host_cache: Path) -> None:
    manifest = write_manifest(tmp_path / "suite", {name: f"runner.bench_func('{name}', sum, range(100))"
                                                   for name in ("needsmissing", "fine")},
                              requirements={"needsmissing": "cpybench-no-such-package-anywhere==0.0.1\n"})
    done = pytest_run(f"--cpython-python={sys.executable}", f"--cpython-manifest={manifest}",
                      f"--cpython-cache-dir={host_cache}", f"--cpython-results-dir={tmp_path / 'results'}",
                      "--cpython-benchmarks=needsmissing,fine", "--cpython-mode=debug", "-v", cwd=tmp_path)
    out = done.stdout
    assert done.returncode == 1, out
    assert "pyperformance::needsmissing ERROR" in out and "pyperformance::fine PASSED" in out
    assert "could not install requirements of needsmissing" in out
    errored = out.split("benchmarks that errored")[1]
    assert "pyperformance::needsmissing" in errored
    assert "Traceback" not in out and "INTERNALERROR" not in out


def test_help_works_with_the_plugin_installed(tmp_path: Path) -> None:
    done = pytest_run("--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--cpython-threshold" in done.stdout and "e.g. 5%" in done.stdout


def test_git_not_installed(tmp_path: Path, store: Path) -> None:
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    before = _snapshot(store)
    done = run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--cpython-results-dir={store}",
                f"--cpython-cache-dir={tmp_path / 'cache'}", f"--cpython-repo={tmp_path}", "--cpython-ref=main"],
               cwd=tmp_path, env={"PATH": str(empty_path)})
    _check(done, EXIT_INFRASTRUCTURE, "git is not installed (or not on PATH)")
    assert _snapshot(store) == before


def test_the_same_commit_as_two_baselines(repo: Path, tmp_path: Path, store: Path) -> None:
    done = _run(tmp_path, store, f"--cpython-repo={repo}", "--cpython-ref=slowdown",
                "--cpython-baseline=v3.13.5,main")
    _check(done, EXIT_INFRASTRUCTURE, "twice (v3.13.5 and main): name each commit once")
