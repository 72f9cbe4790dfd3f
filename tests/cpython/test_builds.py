"""The build manager on real CPython sources: a build that works, cache hits, two processes racing
for one build, bad refs and configure flags, working trees and repositories given by URL."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from helpers import build, cli, pytest_run

from pytest_cpybench.cpython import builds, git
from pytest_cpybench.errors import EXIT_INFRASTRUCTURE, RefError


def _complete_entries(cache_dir: Path) -> set[str]:
    return {entry.key for entry in builds.list_entries(cache_dir)}


def test_build_v3135_runs_with_ssl_sqlite_ctypes(cpython_3135: builds.Build) -> None:
    done = subprocess.run(
        [str(cpython_3135.python), "-c",
         "import platform, ssl, sqlite3, ctypes; print(platform.python_version())"],
        capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3.13.5"
    record = json.loads((cpython_3135.path / "build.json").read_text())
    assert record["commit"]["date"].startswith("2025-06-11")
    assert record["version"] == "3.13.5"
    assert {"configure", "make", "install"} <= set(record["timings"])


def test_second_request_is_a_cache_hit_without_build_steps(repo: Path, cache_dir: Path,
                                                           cpython_3135: builds.Build) -> None:
    log_before = cpython_3135.log.read_bytes()
    done = cli("build", "--repo", str(repo), "--ref", "v3.13.5", "--cache-dir", str(cache_dir), cwd=repo)
    assert done.returncode == 0
    assert done.stdout.strip() == str(cpython_3135.python)
    assert "cache hit" in done.stderr
    for phase in ("configure:", "make:", "install:"):
        assert phase not in done.stderr
    assert cpython_3135.log.read_bytes() == log_before  # no step appended to the log


def test_two_processes_racing_build_once(repo: Path, tmp_path: Path) -> None:
    # A fresh cache directory: the key is cold, so both processes want to build it.
    # (ccache, when installed, keeps this to a minute or two.)
    cache_dir = tmp_path / "cache"
    argv = [sys.executable, "-m", "pytest_cpybench", "build", "--repo", str(repo), "--ref", "neutral",
            "--cache-dir", str(cache_dir)]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [proc.communicate(timeout=3600) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        print(out, err)
        assert proc.returncode == 0
    paths = {out.strip() for out, _ in outputs}
    assert len(paths) == 1
    (entry,) = builds.list_entries(cache_dir)
    assert entry.log.read_text().count("=== configure") == 1
    assert any("waiting up to 1 h for another session building" in err for _, err in outputs)

    listed = cli("cache", "list", "--cache-dir", str(cache_dir), cwd=tmp_path)
    assert listed.returncode == 0 and f"{entry.key}  {entry.commit['sha'][:7]}  neutral" in listed.stdout
    (cache_dir / "builds" / ".tmp-deadbeef-1").mkdir()  # left by a killed build
    pruned = cli("cache", "prune", "--keep", "0", "--cache-dir", str(cache_dir), cwd=tmp_path)
    assert pruned.returncode == 0
    assert builds.list_entries(cache_dir) == []
    assert not list((cache_dir / "builds").glob(".tmp-*"))


def test_unknown_ref_is_one_line_error_with_infrastructure_exit(repo: Path, cache_dir: Path,
                                                                tmp_path: Path) -> None:
    before = _complete_entries(cache_dir)
    done = cli("build", "--repo", str(repo), "--ref", "no-such-branch", "--cache-dir", str(cache_dir),
               cwd=tmp_path)
    assert done.returncode == EXIT_INFRASTRUCTURE
    assert done.stderr.strip().splitlines() == [
        f"error: unknown ref 'no-such-branch' in {repo}: check the name, or fetch it into that repository"]
    assert _complete_entries(cache_dir) == before

    session = pytest_run("--cpython-ref=no-such-branch", f"--cpython-repo={repo}",
                         f"--cpython-cache-dir={cache_dir}", cwd=tmp_path)
    assert session.returncode == EXIT_INFRASTRUCTURE
    assert "cpybench: unknown ref 'no-such-branch'" in session.stdout + session.stderr
    assert "Traceback" not in session.stdout + session.stderr


def _ambiguous_commit_prefix(clone: Path) -> str:
    """Add commits until two share a 4-character prefix; return that prefix."""
    tree = git.git(clone, "rev-parse", "HEAD^{tree}").stdout.strip()
    by_prefix: dict[str, list[str]] = defaultdict(list)
    for sha in git.git(clone, "rev-list", "--all").stdout.split():
        by_prefix[sha[:4]].append(sha)
    parent = git.git(clone, "rev-parse", "HEAD").stdout.strip()
    for number in range(5000):
        sha = git.git(clone, "commit-tree", tree, "-p", parent, "-m", f"filler {number}").stdout.strip()
        by_prefix[sha[:4]].append(sha)
        if len(by_prefix[sha[:4]]) > 1:
            git.git(clone, "branch", f"filler-{number}", sha)
            git.git(clone, "branch", f"filler-other-{number}", by_prefix[sha[:4]][0])
            return sha[:4]
    raise AssertionError("no collision in 5000 commits")


def test_ambiguous_short_sha_is_a_clear_error(repo: Path, cache_dir: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(repo), str(clone)], check=True)
    prefix = _ambiguous_commit_prefix(clone)
    with pytest.raises(RefError, match=f"short sha '{prefix}' is ambiguous"):
        git.resolve(str(clone), prefix, cache_dir)
    done = cli("build", "--repo", str(clone), "--ref", prefix, "--cache-dir", str(cache_dir), cwd=tmp_path)
    assert done.returncode == EXIT_INFRASTRUCTURE
    assert len(done.stderr.strip().splitlines()) == 1


def test_rejected_configure_flag_fails_cleanly(repo: Path, cache_dir: Path, tmp_path: Path,
                                               shas: dict[str, str]) -> None:
    before = _complete_entries(cache_dir)
    session = pytest_run("--cpython-ref=v3.13.5", f"--cpython-repo={repo}", f"--cpython-cache-dir={cache_dir}",
                         "--cpython-configure=--with-hash-algorithm=bogus", cwd=tmp_path)
    output = session.stdout + session.stderr
    assert session.returncode == EXIT_INFRASTRUCTURE
    assert f"cpybench: configure failed for v3.13.5 ({shas['v3.13.5'][:7]})" in output
    assert "unknown hash algorithm 'bogus'" in output  # the log's last lines
    assert "full build log:" in output
    assert "Traceback" not in output
    log_path = Path(output.split("full build log: ")[1].split()[0])
    assert "unknown hash algorithm" in log_path.read_text()
    assert _complete_entries(cache_dir) == before
    assert not list(builds.builds_dir(cache_dir).glob(".tmp-*"))


@pytest.mark.parametrize("ref", ["$(touch PWNED); echo x", "../../../etc/passwd", "v3.13.5;ls", "-rf"])
def test_refs_are_data_not_commands(ref: str, repo: Path, cache_dir: Path, tmp_path: Path) -> None:
    done = cli("build", "--repo", str(repo), f"--ref={ref}", "--cache-dir", str(cache_dir), cwd=tmp_path)
    assert done.returncode == EXIT_INFRASTRUCTURE
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "PWNED").exists()
    assert not list(tmp_path.iterdir())


def test_worktree_with_uncommitted_edit_builds_something_else(repo: Path, cache_dir: Path, tmp_path: Path,
                                                              cpython_3135: builds.Build) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--shared", "--branch", "v3.13.5", str(repo), str(clone)],
                   check=True, capture_output=True)
    clean = git.resolve(str(clone), "WORKTREE", cache_dir)
    marker = "CPYBENCH_WORKTREE_EDIT = 1\n"
    with open(clone / "Lib" / "this.py", "a") as this:
        this.write(marker)
    (clone / "Lib" / "cpybench_untracked.py").write_text("UNTRACKED = True\n")
    dirty = git.resolve(str(clone), "WORKTREE", cache_dir)
    assert dirty.sha == clean.sha == cpython_3135.commit["sha"]
    assert dirty.worktree_hash != clean.worktree_hash

    built = build(clone, "WORKTREE", cache_dir)
    assert built.key != cpython_3135.key
    lib = built.path / "install" / "lib" / "python3.13"
    assert marker in (lib / "this.py").read_text()
    assert (lib / "cpybench_untracked.py").exists()
    assert marker not in (cpython_3135.path / "install" / "lib" / "python3.13" / "this.py").read_text()


def test_url_repositories_are_mirrored_and_fork_refs_fetched(repo: Path, tmp_path: Path,
                                                             cpython_3135: builds.Build) -> None:
    # Two "hosts" on the file system: upstream at .../python/cpython and a fork at .../someone/cpython.
    upstream = tmp_path / "hosting" / "python" / "cpython"
    fork = tmp_path / "hosting" / "someone" / "cpython"
    for path in (upstream, fork):
        subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(path)], check=True)
    tip = git.git(repo, "rev-parse", "slowdown").stdout.strip()
    git.git(fork, "branch", "faster-cpython-idea", tip)
    git.git(upstream, "branch", "-D", "slowdown")  # only the fork has it now
    cache_dir = tmp_path / "cache"
    url = upstream.as_uri()

    tag = git.resolve(url, "v3.13.5", cache_dir)
    assert tag.sha == cpython_3135.commit["sha"]
    assert Path(tag.git_dir) == git.mirror_dir(cache_dir, url)
    forked = git.resolve(url, "someone:faster-cpython-idea", cache_dir)
    assert (forked.sha, forked.fork) == (tip, "someone")
    with pytest.raises(RefError, match="unknown ref 'slowdown'"):
        git.resolve(url, "slowdown", cache_dir)
    # The mirror exports the same sources as the local clone: the same build key, a cache hit.
    request = builds.BuildRequest(commit=tag)
    assert builds.build_key(request) == cpython_3135.key
