"""Shared fixtures: the local CPython repository and the persistent cache (end-to-end tests), the
host interpreter's cache (integration tests). Each test's tier (unit, integration, e2e) comes from
the fixtures it uses: tests/support/tiers.py."""

from __future__ import annotations

from pathlib import Path

import cpython_repo
import pytest
from helpers import build, sha

from pytest_cpybench.cpython import builds
from pytest_cpybench.measure import cpus

pytest_plugins = ["pytester", "tiers"]


@pytest.fixture(scope="session")
def test_cache() -> Path:
    """Persistent across runs (CI reruns reuse builds and venvs): see tests/support/cpython_repo.py."""
    root = cpython_repo.cache_root()
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="session")
def cache_dir(test_cache: Path) -> Path:
    """The plugin's cache directory used by every test that builds."""
    path = test_cache / "cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def host_cache(subprocesses: None) -> Path:
    """The plugin's cache for tests whose target is the host interpreter: its venvs, kept across runs
    like the builds, but no build (so these tests are integration tests, not end-to-end ones)."""
    path = cpython_repo.cache_root() / "host"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def repo() -> Path:
    try:
        return cpython_repo.ensure_repo()
    except SystemExit as exc:  # a one-line reason (e.g. no deb-src entry): say just that
        reason = exc.code
    pytest.fail(f"cannot make the test CPython repository: {reason}", pytrace=False)


@pytest.fixture(scope="session")
def shas(repo: Path) -> dict[str, str]:
    """Full sha of every tag and branch of the test repository (``shas["v3.13.5"][:7]``)."""
    refs = [release.tag for release in cpython_repo.RELEASES] + ["main", *cpython_repo.PERF_BRANCHES]
    return {ref: sha(repo, ref) for ref in refs}


@pytest.fixture(scope="session")
def cpython_3135(repo: Path, cache_dir: Path) -> builds.Build:
    return build(repo, "v3.13.5", cache_dir)


@pytest.fixture
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine of two CPUs, one core each (as this project's VMs are), whatever runs the tests."""
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda _pid: {0, 1})
    monkeypatch.setattr(cpus, "_sysfs_siblings", lambda cpu: [cpu])
