"""Interpreters to benchmark: a CPython built at a ref, or one the user already has.

A ``Target`` is what the rest of the session needs about an interpreter: where it is, its
version, the environment it needs, and the identity its results are stored under. It
travels to xdist workers as plain JSON.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pytest_cpybench.cpython import builds, git, toolchain, venvs
from pytest_cpybench.cpython.builds import Build, BuildConfig
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.errors import CpybenchError
from pytest_cpybench.results import metadata as md

MERGE_BASE = "merge-base"


@dataclass
class Target:
    label: str  # what the summary calls it: the ref, "WORKTREE", or the interpreter path
    python: str
    version: str
    env: dict[str, str] = field(default_factory=dict)
    commit_sha: str = ""
    commit_date: str = ""
    ref: str = ""
    repo: str = ""
    fork: str = "python"
    worktree_hash: str = ""
    preset: str = ""
    configure_flags: tuple[str, ...] = ()
    build_key: str = ""
    build_log: str = ""
    cache_hit: bool = False

    @property
    def built(self) -> bool:
        return bool(self.commit_sha)

    def metadata(self, machine: str) -> dict[str, str | int | float]:
        """What we stamp on every benchmark this target ran (pyperf: non-empty strings)."""
        data: dict[str, str | int | float] = {
            md.MACHINE: machine,
            md.PYTHON_VERSION: self.version,
            md.BUILD_PRESET: self.preset or "external",
            md.CONFIGURE_FLAGS: " ".join(self.configure_flags) or "none",
        }
        if self.commit_sha:
            data.update({
                md.COMMIT_ID: self.commit_sha[:7],
                md.FULL_SHA: self.commit_sha,
                md.COMMIT_FORK: self.fork,
                md.COMMIT_BRANCH: self.ref,
                md.COMMIT_DATE: self.commit_date,
                md.REPO: self.repo,
                md.BUILD_KEY: self.build_key,
            })
        if self.worktree_hash:
            data[md.WORKTREE_HASH] = self.worktree_hash
        return {key: value for key, value in data.items() if value != ""}


def from_python(python: Path) -> Target:
    path = python
    if not path.exists():
        raise CpybenchError(f"--cpython-python={python}: no such file; give the path of an interpreter")
    if not path.is_file() or not os.access(path, os.X_OK):
        raise CpybenchError(f"--cpython-python={python} is not an executable file; give the path of a "
                            "Python interpreter")
    try:
        version = venvs.interpreter_version(path)
    except CpybenchError as err:
        raise CpybenchError(f"--cpython-python={python} is not a working Python interpreter ({err})") from None
    return Target(label=str(path), python=str(path), version=version)


def from_build(build: Build, commit: Commit) -> Target:
    return Target(
        label=commit.ref, python=str(build.python), version=build.version, env=build.run_env(),
        commit_sha=commit.sha, commit_date=commit.date, ref=commit.ref, repo=commit.repo, fork=commit.fork,
        worktree_hash=commit.worktree_hash, preset=build.preset,
        configure_flags=tuple(build.configure_flags), build_key=build.key, build_log=str(build.log),
        cache_hit=build.cache_hit,
    )


def resolve(repo: str, ref: str, cache_dir: Path, head: Commit | None = None) -> Commit:
    """Resolve a ref of ``repo``; ``merge-base`` is relative to ``head``."""
    if ref == MERGE_BASE:
        if head is None:
            raise CpybenchError("merge-base needs --cpython-ref: it is the merge base of that ref with main")
        sha = git.merge_base(head)
        commit = git.resolve(head.git_dir or repo, sha, cache_dir)
        return Commit(repo=commit.repo, ref=f"merge-base ({sha[:7]})", sha=commit.sha, date=commit.date,
                      fork=commit.fork, git_dir=commit.git_dir)
    return git.resolve(repo, ref, cache_dir)


_PATCHLEVEL = "Include/patchlevel.h"
_RELEASE_TAGS = {"ALPHA": "a", "BETA": "b", "GAMMA": "rc", "FINAL": ""}


def source_version(commit: Commit) -> str:
    """The version a build of ``commit`` will have ("3.13.5", "3.14.0a1"), read from its
    ``Include/patchlevel.h`` through git: collection needs it, and must build nothing."""
    text = git.read_source_file(commit, _PATCHLEVEL)
    fields = dict(re.findall(r"^#define\s+PY_(MAJOR_VERSION|MINOR_VERSION|MICRO_VERSION|RELEASE_LEVEL|"
                             r"RELEASE_SERIAL)\s+(\S+)", text, re.MULTILINE))
    try:
        version = f"{int(fields['MAJOR_VERSION'])}.{int(fields['MINOR_VERSION'])}.{int(fields['MICRO_VERSION'])}"
        level = _RELEASE_TAGS[fields["RELEASE_LEVEL"].rsplit("_", 1)[-1]]
        serial = int(fields["RELEASE_SERIAL"])
    except (KeyError, ValueError):
        raise CpybenchError(f"cannot read the Python version from {_PATCHLEVEL} of {commit.ref} "
                            f"({commit.short}) in {commit.repo}: is it a CPython repository?") from None
    return f"{version}{level}{serial}" if level else version


def check_buildable(preset: str, commit: Commit, version: str | None = None) -> None:
    """Refuse (:class:`~pytest_cpybench.errors.ToolchainError`) a build of ``commit`` in ``preset`` this
    machine cannot make; the commit's version is read only for a preset that has requirements."""
    if toolchain.has_requirements(preset):
        toolchain.check(preset, commit, version or source_version(commit))


def build(commit: Commit, config: BuildConfig, cache_dir: Path, progress: builds.Progress) -> Target:
    """The interpreter of ``commit`` built so (from the build cache when it has it); a build this
    machine cannot make is refused first (:class:`~pytest_cpybench.errors.ToolchainError`)."""
    check_buildable(config.preset, commit)
    return from_build(builds.ensure_build(config.request(commit), cache_dir, progress), commit)
