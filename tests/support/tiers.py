"""The three tiers of the test suite, given to each test by the fixtures it uses.

* ``e2e``: it uses the test CPython repository or the build cache (``test_cache``, ``repo``, ``shas``,
  ``cache_dir``, ``cpython_3135``, or a fixture that needs one of them): it builds CPython, or may.
* ``integration``: otherwise, it starts processes: ``subprocesses`` (which the fixtures that start
  processes request, e.g. ``host_cache``: the host interpreter's venvs) or ``pytester``.
* ``unit``: neither; pure logic on real data (the seed results, the default manifest). A unit test
  that starts a process fails, saying which fixture to use instead.

A mark given by hand would let a test sit in the wrong tier, so it is refused. The tests run tier
by tier (unit first: a broken change fails in seconds), and the summary says what each tier took.
Loaded by tests/conftest.py and benchmarks/tests/conftest.py (``pytest_plugins``).

    pytest -m unit          # seconds
    pytest -m integration   # a few minutes
    pytest -m e2e           # builds CPython: minutes with warm caches, more on a cold machine
"""

from __future__ import annotations

import _posixsubprocess  # type: ignore[import-not-found]
import contextlib
import os
import re
import subprocess
from collections.abc import Callable, Iterator

import pytest

TIERS = ("unit", "integration", "e2e")
E2E_FIXTURES = frozenset({"test_cache", "repo", "shas", "cache_dir", "cpython_3135"})
INTEGRATION_FIXTURES = frozenset({"subprocesses", "pytester"})
_TIER = pytest.StashKey[str]()
_STARTED = pytest.StashKey[list[str]]()  # what a unit test tried to start
_REPORTED = pytest.StashKey[bool]()  # and that a failure of one of its phases says so


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Clock(), "tiers-clock")
    if re.search(r"\bslow\b", config.option.markexpr or ""):  # it would select every test now, builds too
        raise pytest.UsageError(f"-m {config.option.markexpr!r}: there is no slow mark; the tiers are -m unit "
                                "(no process, no build), -m integration and -m e2e (builds CPython): "
                                "tests/support/tiers.py")


def tier_of(fixturenames: set[str] | frozenset[str]) -> str:
    if fixturenames & E2E_FIXTURES:
        return "e2e"
    if fixturenames & INTEGRATION_FIXTURES:
        return "integration"
    return "unit"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier (before -m deselects by it)."""
    by_hand = [f"{item.nodeid}: marked {mark.name!r}" for item in items for mark in item.iter_markers()
               if mark.name in TIERS]
    if by_hand:
        raise pytest.UsageError("a test's tier comes from the fixtures it uses, not from a mark "
                                "(tests/support/tiers.py):\n  " + "\n  ".join(by_hand))
    for item in items:
        tier = tier_of(set(getattr(item, "fixturenames", ())))
        item.add_marker(tier)
        item.stash[_TIER] = tier


class _Clock:
    """What a session ran, per tier: the time of its tests (setup, call, teardown) and how many."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        tier = next((name for name in TIERS if name in report.keywords), None)
        if tier is not None:
            self.seconds[tier] = self.seconds.get(tier, 0.0) + report.duration
            if report.when == "call" or (report.when == "setup" and not report.passed):
                self.counts[tier] = self.counts.get(tier, 0) + 1

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.counts:
            terminalreporter.write_line("tiers: " + ", ".join(
                f"{tier} {self.counts[tier]} tests in {self.seconds.get(tier, 0.0):.0f} s"
                for tier in TIERS if tier in self.counts))


@pytest.fixture(scope="session")
def subprocesses() -> None:
    """Request this (directly or through a fixture) in a test that starts processes: it makes the
    test an integration test, where starting them is allowed."""


class ProcessInUnitTest(RuntimeError):
    """Not an OSError, so that code handling a failed start does not take it for one."""


def _refuse(what: str, started: list[str]) -> Callable[..., object]:
    def refused(*args: object, **kwargs: object) -> object:
        argv = args[1] if what == "subprocess.Popen" and len(args) > 1 else kwargs.get("args", args[:2])
        message = (f"a unit test started a process ({what}: {argv!r}). Unit tests start none: request the "
                   f"`subprocesses` fixture (or `pytester`, or a fixture that requests it) to make this an "
                   f"integration test; see tests/support/tiers.py")
        started.append(message)
        raise ProcessInUnitTest(message)
    return refused


# Every way a process starts: subprocess (and os.popen, asyncio) through Popen; multiprocessing's spawn
# and forkserver through _posixsubprocess.fork_exec; its fork context, os.spawn* and pty through fork.
_STARTS = [(subprocess.Popen, "__init__", "subprocess.Popen"), (_posixsubprocess, "fork_exec", "fork_exec")] + [
    (os, name, f"os.{name}") for name in ("posix_spawn", "posix_spawnp", "fork", "forkpty", "system", "execv",
                                          "execve") if hasattr(os, name)]


@contextlib.contextmanager
def _guarded(item: pytest.Item) -> Iterator[None]:
    """Starting a process fails while a unit test runs: its setup (the fixtures it makes, of any
    scope), its call and its teardown."""
    if item.stash.get(_TIER, "") != "unit":
        yield
        return
    started = item.stash.setdefault(_STARTED, [])
    with pytest.MonkeyPatch.context() as patch:
        for owner, name, what in _STARTS:
            patch.setattr(owner, name, _refuse(what, started))
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _guarded(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _guarded(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    with _guarded(item):
        result = yield
    started = item.stash.get(_STARTED, [])
    if started and not item.stash.get(_REPORTED, False):  # the code under test caught the exception
        pytest.fail(started[0], pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    if report.failed and item.stash.get(_STARTED, []):  # the exception reached pytest: reported as it is
        item.stash[_REPORTED] = True
    return report


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Unit tests first, then integration, then end to end; within a tier, the order pytest chose.
    And matplotlib's font cache made now, if unit tests will run: on a fresh machine, making it runs
    fc-list, which no unit test may start."""
    session.items.sort(key=lambda item: TIERS.index(item.stash.get(_TIER, "e2e")))
    if not session.config.option.collectonly and any(item.stash.get(_TIER, "") == "unit" for item in session.items):
        with contextlib.suppress(ImportError):
            import matplotlib.font_manager  # noqa: F401
