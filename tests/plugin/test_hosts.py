"""gateways.py: which xdist distributions a session accepts, and the CPUs each local worker gets."""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import pytest_run

from pytest_cpybench.errors import CpybenchError
from pytest_cpybench.measure import cpus as machine_cpus
from pytest_cpybench.options import settings_from
from pytest_cpybench.plugin import gateways, hosts


@pytest.mark.parametrize(("text", "cpus", "normal"), [
    ("0", [0], "0"),
    ("0-3", [0, 1, 2, 3], "0-3"),
    ("3,0-1", [0, 1, 3], "0-1,3"),
    ("2-2, 5", [2, 5], "2,5"),
    ("0-1,1-2", [0, 1, 2], "0-2"),
])
def test_cpu_lists_parse_and_print_as_taskset_writes_them(text: str, cpus: list[int], normal: str) -> None:
    assert machine_cpus.parse_cpu_list(text) == cpus
    assert machine_cpus.format_cpu_list(cpus) == normal


@pytest.mark.parametrize("text", ["", "a", "0-", "3-1", "-1", "1;2", "0,,1"])
def test_a_cpu_list_that_is_not_one_says_so(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape("is not a CPU list: give e.g. 1, 0-3 or 0,2")):
        machine_cpus.parse_cpu_list(text)


def test_a_cpu_list_beyond_any_machine_is_refused_before_it_is_expanded() -> None:
    with pytest.raises(ValueError, match="CPU numbers go up to 8191"):
        machine_cpus.parse_cpu_list("0-20000000")


def test_affinity_naming_cpus_this_process_may_not_use_is_refused() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    assert machine_cpus.usable_cpus(None) == allowed
    assert machine_cpus.usable_cpus(str(allowed[0])) == [allowed[0]]
    beyond = max(allowed) + 1
    with pytest.raises(CpybenchError) as raised:
        machine_cpus.usable_cpus(f"{allowed[0]},{beyond}")
    assert str(raised.value) == (f"--cpython-affinity={allowed[0]},{beyond} names CPUs this process may not run on "
                                 f"({beyond}); it may use {machine_cpus.format_cpu_list(allowed)}")


FOUR_CORES_EIGHT_THREADS = {cpu: [cpu % 4, cpu % 4 + 4] for cpu in range(8)}  # Linux numbers siblings i, i+4


@pytest.mark.parametrize(("cpus", "siblings", "workers", "groups"), [
    ([0, 1], {}, 2, [[0], [1]]),
    ([0, 1, 2, 3, 4], {}, 2, [[0, 1, 2], [3, 4]]),
    ([4, 6, 5, 7], {}, 2, [[4, 5], [6, 7]]),
    ([0, 1, 2], {}, 3, [[0], [1], [2]]),
    # Hyperthreads of one core stay with one worker: never 0-3 and 4-7 (each core shared by both).
    (list(range(8)), FOUR_CORES_EIGHT_THREADS, 2, [[0, 1, 4, 5], [2, 3, 6, 7]]),
    ([0, 1, 4, 5], FOUR_CORES_EIGHT_THREADS, 2, [[0, 4], [1, 5]]),
])
def test_each_local_worker_gets_whole_cores_of_its_own(cpus: list[int], siblings: dict[int, list[int]],
                                                      workers: int, groups: list[list[int]]) -> None:
    cores = machine_cpus.cores_of(cpus, lambda cpu: siblings.get(cpu, [cpu]))
    found = machine_cpus.cpu_groups(cores, workers)
    assert found == groups
    flat = [cpu for group in found for cpu in group]
    assert sorted(flat) == sorted(cpus) and len(flat) == len(set(flat))  # disjoint, none left idle


def test_more_workers_than_cpus_or_cores_is_refused_with_what_to_give() -> None:
    with pytest.raises(CpybenchError) as raised:
        machine_cpus.cpu_groups(machine_cpus.cores_of([0, 1], lambda cpu: [cpu]), 3)
    assert str(raised.value) == ("-n 3: 3 workers would share the 2 CPUs this session may use (0-1), and "
                                 "benchmarks sharing a CPU slow each other down; give -n 2 or fewer")
    with pytest.raises(CpybenchError) as raised:
        machine_cpus.cpu_groups(machine_cpus.cores_of([0, 1, 4, 5], FOUR_CORES_EIGHT_THREADS.__getitem__), 3)
    assert str(raised.value) == ("-n 3: 3 workers would share the 2 cores (4 CPUs) this session may use (0-1,4-5), "
                                 "and benchmarks sharing a core slow each other down; give -n 2 or fewer")


def test_this_machines_topology_is_read_from_sysfs() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    cores = machine_cpus.cores_of(cpus)
    assert sorted(cpu for core in cores for cpu in core) == cpus
    for core in cores:
        siblings = Path(f"/sys/devices/system/cpu/cpu{core[0]}/topology/thread_siblings_list")
        if siblings.exists():
            assert core == [cpu for cpu in machine_cpus.parse_cpu_list(siblings.read_text()) if cpu in cpus]


def test_gateways_expand_xdist_shorthand_and_read_the_machine_name() -> None:
    found = gateways.gateways(["2*popen", "popen//env:CPYBENCH_MACHINE= alpha ", "ssh=me@box//python=python3",
                            "popen//via=box"])
    assert [(g.spec, g.local, g.machine) for g in found] == [
        ("popen", True, None), ("popen", True, None), ("popen//env:CPYBENCH_MACHINE= alpha ", True, "alpha"),
        ("ssh=me@box//python=python3", False, None),
        ("popen//via=box", False, None)]  # a process on box, through xdist's proxy gateway


@pytest.mark.parametrize("spec", ["foo", "", "python=python3"])
def test_a_spec_that_names_no_gateway_says_so(spec: str) -> None:
    with pytest.raises(CpybenchError, match=re.escape(f"--tx {spec!r} is not an xdist gateway: give e.g. popen")):
        gateways.gateways([spec])


def test_local_workers_are_pinned_only_when_there_are_several() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    first = str(allowed[0])
    assert gateways.local_worker_cpus(["popen"], None) is None
    assert gateways.local_worker_cpus(["popen", "ssh=me@box"], None) is None  # one of them is here
    shared = f"2 workers would share the 1 CPU this session may use ({first})"
    with pytest.raises(CpybenchError, match=re.escape(shared)):
        gateways.local_worker_cpus(["popen", "popen"], first)
    if len(machine_cpus.cores_of(allowed)) >= 2:
        pinned = gateways.local_worker_cpus(["2*popen"], None)
        assert pinned is not None and len(pinned) == 2
        halves = [machine_cpus.parse_cpu_list(group) for group in pinned]
        assert not set(halves[0]) & set(halves[1]) and sorted(halves[0] + halves[1]) == allowed


@pytest.mark.parametrize(("specs", "dist", "message"), [
    (["ssh=me@box//python=python3"], "load", "--dist load would spread the benchmarks over machines"),
    (["popen", "popen//env:CPYBENCH_MACHINE=alpha"], "loadscope", "--dist loadscope would spread the benchmarks"),
    (["popen//env:CPYBENCH_MACHINE=alpha", "ssh=me@box//env:CPYBENCH_MACHINE=alpha"], "each",
     "--tx names machine alpha twice"),
    (["popen", "popen"], "each", "--dist each runs every benchmark on each of 2 workers of this one machine"),
    (["2*popen//via=box"], "load", "--dist load would spread the benchmarks over machines (--tx popen//via=box)"),
])
def test_distributions_that_would_mix_machines_or_repeat_one_are_refused(specs: list[str], dist: str,
                                                                         message: str) -> None:
    with pytest.raises(CpybenchError) as raised:
        gateways.check_distribution(gateways.gateways(specs), dist, "here")
    assert message in str(raised.value)


@pytest.mark.parametrize(("specs", "dist", "is_hosts"), [
    (["popen", "popen"], "load", False),
    (["popen", "popen"], "loadscope", False),
    (["popen//env:CPYBENCH_MACHINE=here", "popen"], "load", False),  # names this very machine
    (["popen"], "each", False),
    (["popen//env:CPYBENCH_MACHINE=alpha", "popen//env:CPYBENCH_MACHINE=beta"], "each", True),
    (["ssh=me@box//python=python3", "popen"], "each", True),  # this machine is one of the hosts
])
def test_distributions_kept_apart_by_machine_are_accepted(specs: list[str], dist: str, is_hosts: bool) -> None:
    assert gateways.check_distribution(gateways.gateways(specs), dist, "here") is is_hosts


@pytest.mark.parametrize(("fields", "message"), [
    ({"python": Path("/usr/bin/python3"), "ref": None}, "--cpython-python names an interpreter of this machine"),
    ({"ref": "WORKTREE"}, "WORKTREE is this machine's working tree"),
    ({"json_path": Path("out.json")}, "--cpython-json names one file"),
    ({"bisect": True}, "--cpython-bisect=yes builds on this machine"),
    ({"manifests": (Path("MANIFEST"),)}, "--cpython-manifest names files of this machine"),
])
def test_hosts_refuse_what_names_this_machine_only(fields: dict[str, object], message: str) -> None:
    settings = replace(settings_from({"cpython-ref": "main"}), **fields)  # type: ignore[arg-type]
    with pytest.raises(CpybenchError, match=re.escape(message)):
        gateways.check_host_settings(settings, remote=True)
    gateways.check_host_settings(settings_from({"cpython-ref": "main"}), remote=True)
    # Local hosts (popen gateways naming other machines) read this machine's files.
    gateways.check_host_settings(replace(settings_from({"cpython-ref": "main"}), manifests=(Path("M"),)), remote=False)


@pytest.mark.parametrize(("spec", "shown"), [
    ("execmodel=main_thread_only//popen//env:CPYBENCH_MACHINE=alpha", "popen//env:CPYBENCH_MACHINE=alpha"),
    ("ssh=box//env:CPYBENCH_REPO=https://me:s3cret@example.org/cpython.git",
     "ssh=box//env:CPYBENCH_REPO=https://***@example.org/cpython.git"),
])
def test_specs_are_shown_without_xdists_prefix_or_credentials(spec: str, shown: str) -> None:
    assert hosts.display_spec(spec) == shown


# -- sessions over hosts: real builds, real benchmarks ----------------------------------------

ALPHA, BETA = "popen//env:CPYBENCH_MACHINE=alpha", "popen//env:CPYBENCH_MACHINE=beta"


def _outcomes(stdout: str) -> dict[str, int]:
    """pytest's last line as counts: one item per host, none failed (an A/A) or errored."""
    last = stdout.strip().splitlines()[-1]
    return {word: int(number) for number, word in re.findall(r"(\d+) (passed|failed|errors?|inconclusive)", last)}


def _stored(results: Path) -> list[str]:
    return sorted(path.name for path in results.rglob("bm-*.json"))


def test_each_host_measures_for_itself_against_its_own_baselines(repo: Path, cache_dir: Path, cpython_3135,
                                                                 tmp_path: Path) -> None:
    results = tmp_path / "results"
    common = [f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}", f"--cpython-results-dir={results}",
              "--cpython-mode=fast", "--cpython-benchmarks=nbody", "--dist", "each"]
    # Only alpha has stored results of v3.13.5 ...
    first = pytest_run("--cpython-ref=v3.13.5", "--tx", ALPHA, *common, cwd=tmp_path)
    assert first.returncode == 0, first.stdout
    assert _stored(results) == ["bm-20250611-alpha-x86_64-python-v3.13.5-3.13.5-287b767.json"]
    # ... so against v3.13.5, alpha compares with them and beta measures v3.13.5 in the session.
    comment, report = tmp_path / "comment.md", tmp_path / "report"
    done = pytest_run("--cpython-ref=neutral", "--cpython-baseline=v3.13.5", "--tx", ALPHA, "--tx", BETA, *common,
                      f"--cpython-pr-comment={comment}", f"--cpython-report={report}", cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert _outcomes(done.stdout) in ({"passed": 2}, {"passed": 1, "inconclusive": 1}, {"inconclusive": 2})
    # Each section is headed by the host's machine, spec, CPU and platform (pyperf's, measured there).
    for name, spec in (("alpha", ALPHA), ("beta", BETA)):
        assert re.search(rf"^== machine {name} \({re.escape(spec)}\), [^,]+, Linux-\S+$", done.stdout, re.MULTILINE)
    alpha, beta = done.stdout.split("== machine alpha")[1].split("== machine beta")
    assert "neutral: Python 3.13.5 (alpha" in alpha and "stored results:" in alpha and "-alpha-" in alpha
    assert "neutral: Python 3.13.5 (beta" in beta and "not in the results store: built and measured" in beta
    assert "2 workers, each pinned to its own CPUs" in done.stdout
    assert [name for name in _stored(results) if "neutral" in name] == [
        "bm-20250612-alpha-x86_64-python-neutral-3.13.5-7d5d924.json",
        "bm-20250612-beta-x86_64-python-neutral-3.13.5-7d5d924.json"]
    # One part per machine in the pull-request comment and in the report's pages.
    text = comment.read_text()
    assert text.index("## machine alpha") < text.index("## machine beta")
    pages = {path.name for path in report.rglob("*.md")}
    assert {"bm-20250612-alpha-x86_64-python-neutral-3.13.5-7d5d924-vs-v3.13.5.md",
            "bm-20250612-beta-x86_64-python-neutral-3.13.5-7d5d924-vs-v3.13.5.md"} <= pages, pages


def _two_hosts(repo: Path, cache_dir: Path, tmp_path: Path, beta: str):  # type: ignore[no-untyped-def]
    return pytest_run("--cpython-ref=v3.13.5", f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}",
                      f"--cpython-results-dir={tmp_path / 'results'}", "--cpython-mode=debug",
                      "--cpython-benchmarks=nbody", f"--cpython-pr-comment={tmp_path / 'comment.md'}",
                      "--tx", ALPHA, "--tx", beta, "--dist", "each", cwd=tmp_path)


def _only_alpha_measured(done: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    assert done.returncode == 8, done.stdout  # infrastructure: a host could not measure
    assert _outcomes(done.stdout) == {"passed": 1, "error": 1}
    assert "results of v3.13.5 stored in" in done.stdout.split("== machine alpha")[1].split("== machine beta")[0]
    assert _stored(tmp_path / "results") == ["bm-20250611-alpha-x86_64-python-v3.13.5-3.13.5-287b767.json"]
    assert "Traceback" not in done.stdout + done.stderr
    comment = (tmp_path / "comment.md").read_text()  # the CI summary shows the broken host too
    assert "## machine alpha" in comment and "## machine beta\n\n**could not measure**: machine beta" in comment


def test_a_host_whose_build_fails_errors_its_items_with_the_log_and_the_others_go_on(
        repo: Path, cache_dir: Path, cpython_3135, tmp_path: Path) -> None:
    # A compiler flag that does not exist, in beta's environment only: its configure fails (and the
    # flags are part of the build key, so the cached build does not hide it).
    done = _two_hosts(repo, cache_dir, tmp_path, f"{BETA}//env:CFLAGS=-fcpybench-no-such-flag")
    _only_alpha_measured(done, tmp_path)
    beta = done.stdout.split("== machine beta")[1]
    assert "cpybench: machine beta could not measure: configure failed" in beta
    assert "last lines of the build log:" in beta and "-fcpybench-no-such-flag" in beta


def test_a_host_without_the_commits_errors_its_items_and_the_others_go_on(
        repo: Path, cache_dir: Path, cpython_3135, tmp_path: Path) -> None:
    missing = tmp_path / "no-clone-here"
    done = _two_hosts(repo, cache_dir, tmp_path, f"{BETA}//env:CPYBENCH_REPO={missing}")
    _only_alpha_measured(done, tmp_path)
    assert f"cpybench: machine beta could not measure: {missing} is not a git repository" in done.stdout
    assert "a host finds the commits in its $CPYBENCH_REPO, else in --cpython-repo" in done.stdout


@pytest.fixture
def loopback_ssh(tmp_path: Path) -> Iterator[Path]:
    """An sshd on 127.0.0.1 with keys made here, for this user only; yields an ssh_config naming it
    ``cpybench-loopback`` (that host's CPYBENCH_MACHINE is ``faraway``, passed with SetEnv)."""
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd).exists():
        if os.environ.get("CI"):
            pytest.fail("sshd is missing: .ci/run installs openssh-server", pytrace=False)
        pytest.skip("sshd is not installed (Debian: openssh-server)")
    folder = tmp_path / "ssh"
    folder.mkdir()
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / key)], check=True)
    authorized = folder / "authorized_keys"
    authorized.write_text((folder / "client_key.pub").read_text())
    authorized.chmod(0o600)
    with socket.socket() as probe:  # a free port (the race with another process is harmless here)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (folder / "sshd_config").write_text(textwrap.dedent(f"""\
        Port {port}
        ListenAddress 127.0.0.1
        HostKey {folder / 'host_key'}
        PidFile {folder / 'sshd.pid'}
        AuthorizedKeysFile {authorized}
        StrictModes no
        UsePAM no
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        PermitRootLogin prohibit-password
        AcceptEnv CPYBENCH_MACHINE
        LogLevel ERROR
        """))
    (folder / "ssh_config").write_text(textwrap.dedent(f"""\
        Host cpybench-loopback
          HostName 127.0.0.1
          Port {port}
          User {getpass.getuser()}
          IdentityFile {folder / 'client_key'}
          IdentitiesOnly yes
          StrictHostKeyChecking no
          UserKnownHostsFile /dev/null
          BatchMode yes
          ConnectTimeout 10
          SetEnv CPYBENCH_MACHINE=faraway
          LogLevel ERROR
        """))
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    server = subprocess.Popen([sshd, "-D", "-e", "-f", str(folder / "sshd_config")], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"sshd did not start: {server.stderr.read() if server.stderr else ''}", pytrace=False)
            time.sleep(0.1)
        yield folder / "ssh_config"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def test_a_benchmark_runs_on_a_host_reached_over_ssh(loopback_ssh: Path, repo: Path, cache_dir: Path,
                                                     cpython_3135, tmp_path: Path) -> None:
    spec = f"ssh=cpybench-loopback//ssh_config={loopback_ssh}//python={sys.executable}"
    done = pytest_run("--cpython-ref=v3.13.5", f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}",
                      f"--cpython-results-dir={tmp_path / 'results'}", "--cpython-mode=debug",
                      "--cpython-benchmarks=nbody", "--tx", spec, "--dist", "each", cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout
    assert _outcomes(done.stdout) == {"passed": 1}
    assert f"host gw0 ({spec}): machine faraway" in done.stdout  # the host said its name
    assert "v3.13.5: Python 3.13.5 (faraway, debug mode" in done.stdout
    assert _stored(tmp_path / "results") == ["bm-20250611-faraway-x86_64-python-v3.13.5-3.13.5-287b767.json"]


def test_a_host_that_cannot_be_reached_is_one_line(repo: Path, cache_dir: Path, tmp_path: Path) -> None:
    unreachable = "ssh=-oBatchMode=yes -oConnectTimeout=5 -p 1 nobody@127.0.0.1//python=python3"
    done = pytest_run("--cpython-ref=v3.13.5", f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}",
                      f"--cpython-results-dir={tmp_path / 'results'}", "--cpython-mode=debug",
                      "--cpython-benchmarks=nbody", "--tx", unreachable, "--tx", ALPHA, "--dist", "each",
                      cwd=tmp_path, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 8, out
    assert "cpybench: cannot reach an xdist host (-oBatchMode=yes -oConnectTimeout=5 -p 1 nobody@127.0.0.1)" in out
    assert "INTERNALERROR" not in out and "Traceback" not in out
    assert not (tmp_path / "results").exists() or not _stored(tmp_path / "results")


def test_a_host_worker_that_crashes_is_replaced_and_its_machine_goes_on(repo: Path, cache_dir: Path, cpython_3135,
                                                                         tmp_path: Path) -> None:
    # alpha's worker dies in its first item, once; xdist starts another worker for the same gateway.
    crashed = tmp_path / "crashed-once"
    (tmp_path / "conftest.py").write_text(textwrap.dedent(f"""\
        import os

        def pytest_runtest_setup(item):
            if os.environ.get("CPYBENCH_MACHINE") == "alpha" and not os.path.exists({str(crashed)!r}):
                open({str(crashed)!r}, "w").close()
                os._exit(1)
        """))
    done = pytest_run("--cpython-ref=v3.13.5", f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}",
                      f"--cpython-results-dir={tmp_path / 'results'}", "--cpython-mode=debug",
                      "--cpython-benchmarks=nbody,richards", "--tx", ALPHA, "--tx", BETA, "--dist", "each",
                      cwd=tmp_path)
    assert crashed.exists()
    assert done.returncode == 1, done.stdout  # the item that crashed fails; nothing else is wrong
    assert _outcomes(done.stdout) == {"passed": 3, "failed": 1}
    assert done.stdout.count("== machine alpha") == 1 and done.stdout.count("== machine beta") == 1
    out = done.stdout + done.stderr  # the restart is said while an item is under way: on stderr
    assert "machine alpha, restarted" in out and "could not measure" not in out
    assert _stored(tmp_path / "results") == ["bm-20250611-alpha-x86_64-python-v3.13.5-3.13.5-287b767.json",
                                             "bm-20250611-beta-x86_64-python-v3.13.5-3.13.5-287b767.json"]
