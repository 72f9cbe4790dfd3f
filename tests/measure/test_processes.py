"""Venvs and benchmark runs, for real, with the host interpreter as the target.

The tests of venvs create one (about 6 s, once: it is cached in the ``host_cache`` fixture's folder,
under $CPYBENCH_TEST_CACHE, default ~/.cache/pytest-cpybench-tests) and install packages with the
user's pip configuration.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyperf
import pytest

from pytest_cpybench.cpython import venvs
from pytest_cpybench.cpython.venvs import interpreter_version
from pytest_cpybench.errors import BenchmarkError, CpybenchError
from pytest_cpybench.measure.processes import RunOptions, WorkerRun, WorkerTask, run_benchmark, run_workers
from pytest_cpybench.suite._pyperformance import load_benchmarks, pyperformance_version
from pytest_cpybench.suite.definitions import BenchmarkDef

HOST_PYTHON = Path(sys.executable)
EXAMPLE_MANIFEST = (
    Path(__file__).resolve().parents[2] / "examples" / "custom-benchmarks" / "MANIFEST"
)


@pytest.fixture(scope="session")
def suite() -> dict[str, BenchmarkDef]:
    return {bench.name: bench for bench in load_benchmarks()}


@pytest.fixture(scope="session")
def venv_python(host_cache: Path) -> Path:
    return venvs.ensure_venv(HOST_PYTHON, host_cache, log=lambda message: None)


def write_benchmarks(
    folder: Path, scripts: dict[str, str], requirements: dict[str, str] | None = None
) -> list[BenchmarkDef]:
    """A manifest in ``folder`` with one benchmark per script; returns them, loaded."""
    lines = ["[benchmarks]", "", "name\tmetafile"]
    for name, script in scripts.items():
        bench_dir = folder / f"bm_{name}"
        bench_dir.mkdir(parents=True)
        (bench_dir / "pyproject.toml").write_text(
            f'[project]\nname = "t_{name}"\nversion = "1.0"\nrequires-python = ">=3.8"\n'
            f'[tool.pyperformance]\nname = "{name}"\n',
            "utf-8",
        )
        (bench_dir / "run_benchmark.py").write_text(textwrap.dedent(script), "utf-8")
        if requirements and name in requirements:
            (bench_dir / "requirements.txt").write_text(requirements[name], "utf-8")
        lines.append(f"{name}\t<local>")
    (folder / "MANIFEST").write_text("\n".join(lines) + "\n", "utf-8")
    loaded = load_benchmarks([folder / "MANIFEST"])
    return [bench for bench in loaded if bench.name in scripts]


def is_running(pid: int) -> bool:
    """True if ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


#######################################
# fast: options and arguments


def test_mode_flags_and_options():
    assert RunOptions().pyperf_args() == ["--timeout=900"]  # the option's default
    assert RunOptions(mode="fast").pyperf_args()[0] == "--fast"
    assert RunOptions(mode="rigorous").pyperf_args()[0] == "--rigorous"
    assert RunOptions(mode="debug").pyperf_args()[0] == "--debug-single-value"
    args = RunOptions(
        timeout=30,
        affinity="1",
        inherit_environ=["LD_LIBRARY_PATH"],
        env={"CPYBENCH_X": "1", "LD_LIBRARY_PATH": "/opt/lib"},
        processes=4,
        loops=16,
        values=2,
        warmups=0,
    ).pyperf_args()
    assert "--timeout=30" in args
    assert "--affinity=1" in args
    assert "--inherit-environ=LD_LIBRARY_PATH,CPYBENCH_X" in args
    assert {"--processes=4", "--loops=16", "--values=2", "--warmups=0"} <= set(args)


def test_bad_options_are_one_line_errors():
    with pytest.raises(CpybenchError, match="unknown benchmark mode 'quick'"):
        RunOptions(mode="quick")
    with pytest.raises(CpybenchError, match="timeout must be a positive"):
        RunOptions(timeout=0)


def test_kill_budget_leaves_a_margin():
    assert RunOptions(timeout=5).kill_after() == 10
    assert RunOptions(timeout=600).kill_after() == 660


def test_a_deadline_shares_the_timeout_between_commands():
    # --cpython-timeout bounds a whole item: each pyperf command gets what is left of it.
    options = RunOptions(timeout=600, deadline=time.monotonic() + 100)
    assert 95 <= options.remaining() <= 100
    assert "--timeout=100" in options.pyperf_args() or "--timeout=99" in options.pyperf_args()
    assert RunOptions(timeout=50, deadline=time.monotonic() + 100).remaining() == 50


@pytest.mark.usefixtures("subprocesses")
def test_interpreter_version_of_the_host():
    major, minor, micro = sys.version_info[:3]
    expected = f"{major}.{minor}.{micro}"
    if sys.version_info.releaselevel != "final":  # pragma: no cover
        expected += {"alpha": "a", "beta": "b", "candidate": "rc"}[sys.version_info.releaselevel]
        expected += str(sys.version_info.serial)
    assert interpreter_version(HOST_PYTHON) == expected


@pytest.mark.usefixtures("subprocesses")
def test_missing_interpreter(tmp_path):
    with pytest.raises(CpybenchError, match="cannot run the interpreter"):
        interpreter_version(tmp_path / "python9")
    with pytest.raises(CpybenchError, match="does not exist or is not executable"):
        venvs.ensure_venv(tmp_path / "python9", tmp_path)


def test_target_environ_drops_host_module_paths(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/host/site-packages")
    monkeypatch.setenv("PIP_INDEX_URL", "file:///somewhere")
    environ = venvs.target_environ({"LD_LIBRARY_PATH": "/opt/python/lib"})
    assert "PYTHONPATH" not in environ
    assert environ["PIP_INDEX_URL"] == "file:///somewhere"  # the user's pip configuration stays
    assert environ["LD_LIBRARY_PATH"] == "/opt/python/lib"


@pytest.mark.usefixtures("subprocesses")
def test_killed_benchmark_names_the_signal(tmp_path):
    # No venv needed: a script that never reaches pyperf runs under any python.
    (bench,) = write_benchmarks(
        tmp_path, {"killed": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"}
    )
    with pytest.raises(BenchmarkError, match=r"^killed crashed \(killed by SIGKILL\)$"):
        run_benchmark(HOST_PYTHON, bench, RunOptions(mode="debug", timeout=30))


@pytest.mark.usefixtures("subprocesses")
def test_benchmark_without_results(tmp_path):
    (bench,) = write_benchmarks(tmp_path, {"silent": "print('nothing measured')\n"})
    with pytest.raises(BenchmarkError, match=r"^silent produced no results$"):
        run_benchmark(HOST_PYTHON, bench, RunOptions(mode="debug", timeout=30))


#######################################
# venvs of the host's interpreter


def test_venv_has_the_hosts_pyperf(venv_python, host_cache):
    started = time.monotonic()
    again = venvs.ensure_venv(HOST_PYTHON, host_cache, log=lambda message: None)
    assert again == venv_python
    assert time.monotonic() - started < 2  # cached: one probe of the interpreter
    assert (venv_python.parent.parent / venvs.COMPLETE_MARKER).is_file()
    version = subprocess.run(
        [str(venv_python), "-c", "import pyperf; print(pyperf.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == pyperf.__version__


@pytest.mark.usefixtures("subprocesses")
def test_concurrent_creation_and_incomplete_venv(tmp_path):
    # Two processes ask for the same venv at once: one builds, the other waits.
    script = (
        "import sys; from pathlib import Path; from pytest_cpybench.cpython import venvs; "
        "print(venvs.ensure_venv(Path(sys.argv[1]), Path(sys.argv[2]), key='concurrent', "
        "log=lambda m: print('LOG', m)))"
    )
    command = [sys.executable, "-c", script, str(HOST_PYTHON), str(tmp_path)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    paths = {output.strip().splitlines()[-1] for output in outputs}
    assert len(paths) == 1
    creations = sum(output.count("LOG creating the benchmark venv") for output in outputs)
    assert creations == 1
    venv_python = Path(paths.pop())
    root = venv_python.parent.parent
    assert subprocess.run([str(venv_python), "-c", "import pyperf"]).returncode == 0

    # A venv whose build did not finish (no marker) is thrown away and rebuilt.
    (root / venvs.COMPLETE_MARKER).unlink()
    leftover = root / "leftover-from-a-crash"
    leftover.write_text("x")
    messages: list[str] = []
    assert (
        venvs.ensure_venv(HOST_PYTHON, tmp_path, key="concurrent", log=messages.append)
        == venv_python
    )
    assert not leftover.exists()
    assert (root / venvs.COMPLETE_MARKER).is_file()
    assert any("removing the incomplete venv" in message for message in messages)


@pytest.mark.usefixtures("subprocesses")
def test_key_separates_venvs(tmp_path):
    first, _ = venvs.venv_dir(HOST_PYTHON, tmp_path, key="build-a")
    assert first == venvs.venv_dir(HOST_PYTHON, tmp_path, key="build-a")[0]
    assert first != venvs.venv_dir(HOST_PYTHON, tmp_path, key="build-b")[0]
    assert first.name.startswith(sys.implementation.cache_tag)


def test_install_requirements_once(venv_python, suite):
    bench = suite["crypto_pyaes"]
    venvs.install_requirements(venv_python, bench, log=lambda message: None)
    started = time.monotonic()
    messages: list[str] = []
    venvs.install_requirements(venv_python, bench, log=messages.append)
    assert time.monotonic() - started < 0.5
    assert messages == []
    result = run_benchmark(venv_python, bench, RunOptions(mode="debug"))
    assert result.get_benchmark_names() == ["crypto_pyaes"]


def test_failed_install_keeps_pips_last_lines(venv_python, tmp_path):
    (bench,) = write_benchmarks(
        tmp_path,
        {"broken_reqs": "import pyperf\n"},
        requirements={"broken_reqs": "./no_such_project_dir\n"},
    )
    with pytest.raises(
        BenchmarkError, match="could not install requirements of broken_reqs: "
    ) as excinfo:
        venvs.install_requirements(venv_python, bench, log=lambda message: None)
    assert "\n" not in str(excinfo.value)
    assert "no_such_project_dir" in excinfo.value.output_tail
    assert 0 < len(excinfo.value.output_tail.splitlines()) <= 15


def test_conflicting_pins_in_the_shared_venv(venv_python, suite, tmp_path):
    venvs.install_requirements(venv_python, suite["crypto_pyaes"], log=lambda message: None)
    (bench,) = write_benchmarks(
        tmp_path, {"old_pyaes": "import pyperf\n"}, requirements={"old_pyaes": "pyaes==1.6.0\n"}
    )
    with pytest.raises(
        BenchmarkError, match=r"pins pyaes==1\.6\.0 but crypto_pyaes pins pyaes==1\.6\.1"
    ):
        venvs.install_requirements(venv_python, bench, log=lambda message: None)


def test_script_importing_pyperformance_gets_it(venv_python, tmp_path):
    (bench,) = write_benchmarks(
        tmp_path,
        {
            "uses_helpers": """
                import pyperf
                import pyperformance

                def noop(loops):
                    return 1e-6 * loops

                if __name__ == "__main__":
                    runner = pyperf.Runner()
                    runner.metadata["helper_version"] = pyperformance.__version__
                    runner.bench_time_func("uses_helpers", noop)
            """
        },
    )
    venvs.install_requirements(venv_python, bench, log=lambda message: None)
    result = run_benchmark(venv_python, bench, RunOptions(mode="debug"))
    assert result.get_benchmarks()[0].get_metadata()["helper_version"] == pyperformance_version()


#######################################
# slow: runs


def test_nbody_debug_run(venv_python, suite, tmp_path):
    messages: list[str] = []
    result = run_benchmark(venv_python, suite["nbody"], RunOptions(mode="debug"), log=messages.append)
    assert result.get_benchmark_names() == ["nbody"]
    nbody = result.get_benchmark("nbody")
    assert len(nbody.get_values()) == 1 and nbody.get_values()[0] > 0
    assert nbody.get_metadata()["performance_version"] == pyperformance_version()
    assert nbody.get_metadata()["cpybench_venv"] == venvs.VENV_LAYOUT
    assert messages[0] == "nbody: running (debug mode)"
    assert messages[-1].startswith("nbody: 1 result(s) in ")


def test_deepcopy_gives_several_results(venv_python, suite):
    result = run_benchmark(venv_python, suite["deepcopy"], RunOptions(mode="debug"))
    names = result.get_benchmark_names()
    assert len(names) > 1
    assert set(names) == {"deepcopy", "deepcopy_reduce", "deepcopy_memo"}


def test_env_reaches_pyperf_workers(venv_python, tmp_path):
    (bench,) = write_benchmarks(
        tmp_path,
        {
            "reads_env": """
                import os
                import sys
                import pyperf

                def noop(loops):
                    return 1e-6 * loops

                if __name__ == "__main__":
                    runner = pyperf.Runner()
                    # Read in the worker: pyperf workers see only inherited variables.
                    if "--worker" in sys.argv:
                        runner.metadata["probe"] = os.environ.get("CPYBENCH_PROBE", "missing")
                    runner.bench_time_func("reads_env", noop)
            """
        },
    )
    result = run_benchmark(
        venv_python, bench, RunOptions(mode="debug", env={"CPYBENCH_PROBE": "seen"})
    )
    run_metadata = result.get_benchmarks()[0].get_runs()[0].get_metadata()
    assert run_metadata["probe"] == "seen"


CRASHES = """
    import pyperf

    def explode(loops):
        raise ValueError("boom from the benchmark")

    if __name__ == "__main__":
        pyperf.Runner().bench_time_func("crashes", explode)
"""

# Hangs inside the timed function: pyperf's own --timeout fires.
HANGS_IN_WORKER = """
    import os, time
    import pyperf

    def hang(loops):
        with open(os.environ["CPYBENCH_PIDFILE"], "w") as pidfile:
            pidfile.write(str(os.getpid()))
        time.sleep(3600)
        return 1.0

    if __name__ == "__main__":
        pyperf.Runner().bench_time_func("hangs_in_worker", hang)
"""

# Hangs before pyperf is even set up, with a child process: only our process-group kill helps.
HANGS_BEFORE_PYPERF = """
    import os, subprocess, sys, time

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    with open(os.environ["CPYBENCH_PIDFILE"], "w") as pidfile:
        pidfile.write(f"{os.getpid()} {child.pid}")
    time.sleep(3600)
"""


def test_crash_reports_the_traceback(venv_python, tmp_path):
    (bench,) = write_benchmarks(tmp_path, {"crashes": CRASHES})
    with pytest.raises(BenchmarkError, match=r"^crashes crashed \(exit \d+\)$") as excinfo:
        run_benchmark(venv_python, bench, RunOptions(mode="debug", timeout=60))
    assert "ValueError: boom from the benchmark" in excinfo.value.stderr_tail
    assert len(excinfo.value.stderr_tail.splitlines()) <= 20


@pytest.mark.parametrize("script", ["hangs_in_worker", "hangs_before_pyperf"])
def test_hang_is_cut_at_the_timeout(venv_python, tmp_path, script):
    source = {"hangs_in_worker": HANGS_IN_WORKER, "hangs_before_pyperf": HANGS_BEFORE_PYPERF}[
        script
    ]
    (bench,) = write_benchmarks(tmp_path, {script: source})
    pidfile = tmp_path / "pids"
    options = RunOptions(mode="debug", timeout=5, env={"CPYBENCH_PIDFILE": str(pidfile)})
    started = time.monotonic()
    with pytest.raises(BenchmarkError, match=rf"^{script} timed out after 5 s \(--cpython-timeout"):
        run_benchmark(venv_python, bench, options)
    elapsed = time.monotonic() - started
    assert 5 <= elapsed < options.kill_after() + 5
    pids = [int(pid) for pid in pidfile.read_text().split()]
    deadline = time.monotonic() + 5  # init may take a moment to reap orphans
    while any(is_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(is_running(pid) for pid in pids)


def test_the_example_manifest_runs(venv_python):
    examples = [
        b for b in load_benchmarks([EXAMPLE_MANIFEST]) if b.manifest == str(EXAMPLE_MANIFEST)
    ]
    assert [bench.name for bench in examples] == ["str_join", "dict_merge"]
    for bench in examples:
        venvs.install_requirements(venv_python, bench, log=lambda message: None)
        result = run_benchmark(venv_python, bench, RunOptions(mode="debug"))
        assert result.get_benchmark_names() == [bench.name]
        assert result.get_benchmarks()[0].get_values()[0] > 0


@pytest.mark.usefixtures("subprocesses")
def test_a_worker_error_printed_on_stdout_is_shown(tmp_path: Path) -> None:
    """pyperf prints its argument errors on stdout ("ERROR: --worker requires --loops=N …"):
    with nothing on stderr, the failure shows stdout's tail instead of nothing."""
    (bench,) = write_benchmarks(tmp_path, {"fine": """
        import pyperf
        pyperf.Runner().bench_func("fine", lambda: None)
    """})
    run = WorkerRun(Path(sys.executable), WorkerTask(0, "fine", loops=0), {}, label="head")
    with pytest.raises(BenchmarkError, match=r"^fine crashed \(exit 1\)$") as excinfo:
        run_workers(bench, [run], RunOptions(mode="fast", timeout=60), values=1, warmups=0)
    assert excinfo.value.stderr_tail.splitlines()[0] == "(stdout)"
    assert "ERROR: --worker requires --loops=N" in excinfo.value.stderr_tail
    assert excinfo.value.side == "head"
