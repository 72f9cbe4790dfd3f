"""Cache hygiene with real processes and real files: last use, entries in use, bounded lock
waits, and fetches into a shared git mirror. Cheap: cache entries are fake (no CPython build),
repositories are tiny."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import cli

from pytest_cpybench import locks
from pytest_cpybench.cpython import builds, git
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.errors import EXIT_INFRASTRUCTURE, RefError

pytestmark = pytest.mark.usefixtures("subprocesses")  # every test here starts processes

DAY = 86400
GIT_IDENTITY = ("-c", "user.name=cpybench tests", "-c", "user.email=tests@cpybench.invalid")


@pytest.fixture(autouse=True)
def _release_use_locks() -> Iterator[None]:
    yield
    builds.release_all()


def _commit(number: int) -> Commit:
    sha = f"{number:040x}"
    return Commit(repo="/nowhere/cpython", ref=f"fake-{number}", sha=sha, date="2024-01-01T00:00:00+00:00",
                  fork="python")


def _fake_entry(cache_dir: Path, commit: Commit, *, old_layout: bool = False) -> tuple[builds.BuildRequest, Path]:
    """A complete cache entry for ``commit`` (the host's python stands in for the build);
    ``old_layout``: as made before entries recorded their last use."""
    request = builds.BuildRequest(commit=commit)
    key = builds.build_key(request)
    path = builds.builds_dir(cache_dir) / key
    (path / "install" / "bin").mkdir(parents=True)
    (path / "install" / "bin" / "python3").symlink_to(sys.executable)
    record = {"key": key, "version": "3.13.5", "commit": {"repo": commit.repo, "ref": commit.ref, "sha": commit.sha,
                                                          "date": commit.date, "fork": commit.fork,
                                                          "worktree_hash": ""},
              "preset": request.preset, "configure_flags": [], "timings": {"total": 1.0}, "ccache": False}
    (path / "build.json").write_text(json.dumps(record))
    if not old_layout:
        (path / builds.LAST_USED).touch()
    assert builds.load_entry(path) is not None
    return request, path


def _age(path: Path, days: float) -> None:
    """Make an entry look built ``days`` ago: its folder and every file in it."""
    stamp = time.time() - days * DAY
    for item in [*path.rglob("*"), path]:
        os.utime(item, (stamp, stamp), follow_symlinks=False)


def test_prune_older_than_keeps_a_recently_used_build_with_an_old_folder(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    used_request, used = _fake_entry(cache_dir, _commit(1))
    _, unused = _fake_entry(cache_dir, _commit(2), old_layout=True)  # its build time counts
    _age(used, 30)
    _age(unused, 30)

    hit = builds.ensure_build(used_request, cache_dir, progress=print)
    assert hit.cache_hit and hit.path == used
    assert time.time() - hit.last_used < 60
    assert used.stat().st_mtime < time.time() - 29 * DAY  # the folder still looks old
    builds.release_all()  # this process no longer uses it: only its last use protects it

    pruned = cli("cache", "prune", "--older-than", "7", "--cache-dir", str(cache_dir), cwd=tmp_path)
    assert pruned.returncode == 0
    assert used.is_dir()
    assert not unused.exists()
    assert pruned.stdout.splitlines() == [f"removed {unused}"]

    listed = cli("cache", "list", "--cache-dir", str(cache_dir), cwd=tmp_path)
    (line,) = listed.stdout.splitlines()
    assert line.startswith(used.name)
    assert f"last used {time.strftime('%Y-%m-%d')}" in line
    (summary,) = json.loads(cli("cache", "list", "--json", "--cache-dir", str(cache_dir), cwd=tmp_path).stdout)
    assert summary["last_used"].startswith(time.strftime("%Y-%m-%dT"))


_USE_ENTRY = """
import json, sys
from collections.abc import Iterator
from pathlib import Path
from pytest_cpybench.cpython import builds
from pytest_cpybench.cpython.git import Commit
request = builds.BuildRequest(commit=Commit(**json.loads(sys.argv[2])))
build = builds.ensure_build(request, Path(sys.argv[1]), progress=lambda message: None)
print("using", build.path, flush=True)
sys.stdin.read()  # use it until the test closes stdin
"""


def test_prune_skips_a_build_another_process_uses(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    commit = _commit(3)
    _, entry = _fake_entry(cache_dir, commit)
    commit_json = json.dumps({"repo": commit.repo, "ref": commit.ref, "sha": commit.sha, "date": commit.date,
                              "fork": commit.fork})
    user = subprocess.Popen([sys.executable, "-c", _USE_ENTRY, str(cache_dir), commit_json],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert user.stdout is not None and user.stdin is not None
        assert user.stdout.readline().strip() == f"using {entry}"

        pruned = cli("cache", "prune", "--keep", "0", "--cache-dir", str(cache_dir), cwd=tmp_path)
        assert pruned.returncode == 0
        assert pruned.stdout.splitlines() == [f"skipped {entry}: in use by another process"]
        assert builds.load_entry(entry) is not None
    finally:
        user.communicate(timeout=60)  # closes stdin: the process exits and its lock goes
    assert user.returncode == 0

    pruned = cli("cache", "prune", "--keep", "0", "--cache-dir", str(cache_dir), cwd=tmp_path)
    assert pruned.stdout.splitlines() == [f"removed {entry}"]
    assert not entry.exists()


def _git_repo(path: Path, files: dict[str, str]) -> Path:
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    for name, text in files.items():
        (path / name).write_text(text)
        (path / name).chmod(0o755)
    subprocess.run(["git", "-C", str(path), "add", "."], check=True)
    subprocess.run(["git", "-C", str(path), *GIT_IDENTITY, "commit", "-q", "-m", "sources"], check=True)
    return path


# A configure that runs until the test creates a file, then fails: a build that holds its lock
# for as long as the test wants.
_SLOW_CONFIGURE = """#!/bin/sh
while [ ! -e "$CPYBENCH_TEST_RELEASE" ]; do sleep 0.1; done
exit 1
"""


def test_waiting_for_a_build_lock_is_bounded_and_names_the_holder(tmp_path: Path) -> None:
    repo = _git_repo(tmp_path / "sources", {"configure": _SLOW_CONFIGURE})
    cache_dir = tmp_path / "cache"
    release = tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, "-m", "pytest_cpybench", "build", "--repo", str(repo), "--ref", "main",
         "--cache-dir", str(cache_dir)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "CPYBENCH_TEST_RELEASE": str(release)})
    try:
        assert holder.stderr is not None
        for line in holder.stderr:  # the build lock is held from before the export to the end
            if line.startswith("[cpybench] configure:"):
                break
        else:  # the holder ended before configuring: waiting for its lock would build (and hang) here
            pytest.fail(f"the holding build ended before its configure (exit {holder.wait()})")
        commit = git.resolve(str(repo), "main", cache_dir)
        request = builds.BuildRequest(commit=commit)
        lock_path = builds.builds_dir(cache_dir) / f"{builds.build_key(request)}.lock"
        lines: list[str] = []
        started = time.monotonic()
        with pytest.raises(locks.LockTimeout) as raised:
            builds.ensure_build(request, cache_dir, progress=lines.append, wait=1)
        waited = time.monotonic() - started
    finally:
        release.touch()
        holder.communicate(timeout=120)
    assert holder.returncode == EXIT_INFRASTRUCTURE  # the configure that failed on purpose

    holder_text = f"pid {holder.pid} on {socket.gethostname()} (building {commit.short}"
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"gave up after 1 s waiting for another session building {commit.short}")
    assert holder_text in message
    assert f"remove {lock_path} if that process is gone" in message
    assert len(lines) == 1
    assert lines[0].startswith(f"waiting up to 1 s for another session building {commit.short}")
    assert holder_text in lines[0]
    assert 1 <= waited < 30


# Each process resolves the same new ref in the same mirror; they start fetching together.
_RESOLVE = """
import sys, time
from collections.abc import Iterator
from pathlib import Path
from pytest_cpybench.cpython import git
go = Path(sys.argv[3])
while not go.exists():
    time.sleep(0.005)
print(git.resolve(sys.argv[1], "new-feature", Path(sys.argv[2])).sha)
"""


# git gives up on a ref another git process has locked after 100 ms (core.filesRefLockTimeout).
# This hook keeps each ref update's locks for half a second, as a slow disk or a big fetch does.
_SLOW_REF_UPDATES = """#!/bin/sh
[ "$1" = prepared ] && sleep 0.5
exit 0
"""


def test_concurrent_fetches_of_a_new_ref_into_one_mirror_all_succeed(tmp_path: Path) -> None:
    work = _git_repo(tmp_path / "work", {"README": "tiny\n"})
    upstream = tmp_path / "hosting" / "python" / "cpython"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(upstream)], check=True)
    url = upstream.as_uri()
    cache_dir = tmp_path / "cache"
    base = git.resolve(url, "main", cache_dir)  # the mirror exists and knows main
    hook = Path(base.git_dir) / "hooks" / "reference-transaction"
    hook.write_text(_SLOW_REF_UPDATES)
    hook.chmod(0o755)
    # Upstream moves on: a branch the mirror has not seen yet.
    new = git.git(upstream, *GIT_IDENTITY, "commit-tree", f"{base.sha}^{{tree}}", "-p", base.sha,
                      "-m", "new feature").stdout.strip()
    subprocess.run(["git", "-C", str(upstream), "branch", "new-feature", new], check=True, capture_output=True)

    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _RESOLVE, url, str(cache_dir), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    time.sleep(1)  # all of them imported and waiting
    go.touch()
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        print(out, err)
        assert proc.returncode == 0, err
        assert out.strip() == new


def test_unknown_ref_after_a_failed_fetch_says_why(tmp_path: Path) -> None:
    work = _git_repo(tmp_path / "work", {"README": "tiny\n"})
    upstream = tmp_path / "hosting" / "python" / "cpython"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(upstream)], check=True)
    url = upstream.as_uri()
    cache_dir = tmp_path / "cache"
    git.resolve(url, "main", cache_dir)
    upstream.rename(upstream.with_name("moved"))  # the host is unreachable now

    with pytest.raises(RefError) as raised:
        git.resolve(url, "new-feature", cache_dir)
    message = str(raised.value)
    assert message.startswith(f"unknown ref 'new-feature' in {url} (fetch failed: ")
    assert "does not appear to be a git repository" in message or "not found" in message
    assert "\n" not in message
