"""Benchmarks as pytest items, in every process of the session (controller and xdist workers).

A :class:`BenchmarkCollector` named ``pyperformance`` hangs below the session, so node ids such
as ``pyperformance::nbody`` work as arguments, with ``--lf``, ``--deselect`` and ``-k``. With
several build configurations (``--cpython-build=release,nogil``) a benchmark is an item per
configuration: ``release`` keeps the plain node id, the others add theirs
(``pyperformance::nbody[nogil]``), so ``--lf`` re-runs just the configuration that failed. An item
measures in ``setup`` (a crash or a hang is an *error*) and fails in ``runtest`` (a regression is
a *failure*); an inconclusive result is a warning, never a failure.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import Any, Protocol

import pytest

from pytest_cpybench.cpython.builds import DEFAULT_PRESET
from pytest_cpybench.errors import BenchmarkError, CpybenchError
from pytest_cpybench.output import junit, terminal
from pytest_cpybench.session.model import ItemOutcome
from pytest_cpybench.suite import definitions, selection
from pytest_cpybench.suite.definitions import BenchmarkDef

COLLECTOR_NAME = "pyperformance"
VERDICT_ATTR = "cpybench_verdict"  # report attribute: "inconclusive" when it is


class InconclusiveWarning(pytest.PytestWarning):
    """The data could not tell whether a result slowed down beyond its threshold."""


class Measures(Protocol):
    """What an item asks of its process's role: measure one benchmark."""

    def measure_item(self, bench: BenchmarkDef, preset: str | None = None) -> tuple[ItemOutcome, list[tuple[str, str]]]:
        """The outcome of ``bench`` built so, and the facts the item records beside its own (JUnit properties)."""


class Regression(Exception):
    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class BenchmarkItem(pytest.Item):
    def __init__(self, *, bench: BenchmarkDef, role: Measures, preset: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bench = bench
        self.role = role
        self.preset = preset  # the build configuration (None: the session's only one)
        self.outcome: ItemOutcome | None = None
        for tag in bench.tags:
            self.add_marker(tag)

    def setup(self) -> None:
        # Measuring happens in setup so that a crash or hang is an *error*, while a
        # regression found in runtest is a *failure*.
        self.outcome, facts = self.role.measure_item(self.bench, self.preset)
        self.user_properties.extend(facts)
        self.user_properties.extend(junit.properties(self.outcome))

    def runtest(self) -> None:
        assert self.outcome is not None
        failures = terminal.failure_lines(self.outcome)
        if failures:
            raise Regression(failures)
        with warnings.catch_warnings():
            # Inconclusive is a warning, never a failure: not even under `-W error`.
            warnings.simplefilter("default", InconclusiveWarning)
            for line in terminal.inconclusive_lines(self.outcome):
                warnings.warn(InconclusiveWarning(line), stacklevel=1)

    def reportinfo(self) -> tuple[Path, int, str]:
        return Path(self.bench.runscript), 0, f"pyperformance benchmark {self.bench.name}"


class BenchmarkCollector(pytest.Collector):
    """The benchmarks of the session, below the session in pytest's collection tree."""

    def __init__(self, *, collection: Collection, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.collection = collection

    def collect(self) -> list[pytest.Item]:
        c = self.collection
        version = c.target_version()
        items: list[pytest.Item] = []
        # Node ids name benchmarks explicitly: they are collected whatever the selection says.
        benches = c.selected if c.requested is None else [b for b in c.known if b.name in c.requested]
        presets = c.presets()
        for bench in benches:
            wanted = c.requested.get(bench.name) if c.requested is not None else None
            for preset in presets:
                if wanted is not None and preset not in wanted:
                    continue
                name = item_name(bench.name, preset, presets)
                # The node id given as text: pytest 9 reads "nbody[nogil]" as nbody with parameters
                # "nogil" (so --lf finds the item again), which a child named so is not.
                item = BenchmarkItem.from_parent(self, name=name, nodeid=f"{COLLECTOR_NAME}::{name}", bench=bench,
                                                 role=c.role, preset=preset)
                reason = definitions.supports(bench, version) if version else None
                if reason:
                    item.add_marker(pytest.mark.skip(reason=f"{reason} (target is {version})"))
                items.append(item)
        return items


def item_name(benchmark: str, preset: str, presets: tuple[str, ...]) -> str:
    """``nbody`` (the only configuration, or release among several), else ``nbody[nogil]``."""
    return benchmark if len(presets) == 1 or preset == DEFAULT_PRESET else f"{benchmark}[{preset}]"


class Collection:
    """The hooks that make and report benchmark items, the same in every process."""

    def __init__(self, role: Any, selected: list[BenchmarkDef], known: list[BenchmarkDef],
                 requested: dict[str, set[str] | None] | None) -> None:
        self.role = role  # the process's role: it measures items and knows the target's version
        self.selected = selected  # what --cpython-benchmarks selects
        self.known = known  # every benchmark of the manifests
        # names given as pyperformance::NAME[PRESET] arguments, if any, with their configurations (None: all)
        self.requested = requested

    def target_version(self) -> str | None:
        return self.role.gate.head_version

    def presets(self) -> tuple[str, ...]:
        return tuple(self.role.settings.presets)

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        if isinstance(collector, pytest.Session) and report.passed:
            report.result.append(BenchmarkCollector.from_parent(
                collector, name=COLLECTOR_NAME, nodeid=COLLECTOR_NAME, collection=self))
        return report

    @pytest.hookimpl(tryfirst=True)  # before pytest applies -k
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        # The summary names results (logging_format); -k with a result name selects the
        # benchmark producing it.
        words = set(re.findall(r"[A-Za-z_]\w*", config.getoption("keyword") or "")) - {"and", "or", "not"}
        for word in sorted(words):
            if any(word.lower() in bench.name.lower() for bench in self.known):
                continue
            producer = selection.producer_of(word, self.known)
            for item in items:
                if isinstance(item, BenchmarkItem) and producer is not None and item.bench is producer:
                    item.extra_keyword_matches.add(word)
                    self.role.log(f"-k {word}: a result of benchmark {producer.name}")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if not isinstance(item, BenchmarkItem):
            return report
        if call.excinfo is not None and report.failed:
            text = _known_failure_text(call.excinfo.value)
            if text:
                report.longrepr = text
        if call.when == "call" and item.outcome is not None:
            if item.outcome.undecided and not item.outcome.failed:
                setattr(report, VERDICT_ATTR, "inconclusive")
            self.role.item_reported(item, item.outcome, report)
        return report

    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        if report.when == "call" and report.passed and getattr(report, VERDICT_ATTR, None):
            return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
        return None

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        self.role.in_item = True

    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        self.role.in_item = False


def take_benchmark_args(config: pytest.Config, known: list[BenchmarkDef],
                        presets: tuple[str, ...] = (DEFAULT_PRESET,)) -> dict[str, set[str] | None] | None:
    """Take ``pyperformance[::NAME[[PRESET]]]`` arguments out of pytest's path arguments.

    Returns the benchmark names asked for, each with the configurations asked for (None: every
    configuration, as ``test_x`` selects every ``test_x[...]``); None: no such argument, collect
    the selection.
    Without explicit arguments only benchmarks are items, whatever ``testpaths`` says: a
    session in a CPython clone or a project with tests of its own must not run those.
    """
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    ours = [arg for arg in config.args if arg == COLLECTOR_NAME or arg.startswith(COLLECTOR_NAME + "::")]
    config.args[:] = [arg for arg in config.args if arg not in ours] if explicit else []
    if not ours or COLLECTOR_NAME in ours:
        return None
    names: dict[str, set[str] | None] = {}
    by_name = {bench.name.lower(): bench.name for bench in known}
    for arg in ours:
        name, _, suffix = arg.split("::")[1].partition("[")
        producer = by_name.get(name.lower()) or getattr(selection.producer_of(name, known), "name", None)
        if producer is None:
            raise CpybenchError(f"{arg}: no pyperformance benchmark (or result) is called {name!r}; "
                                "`pytest --cpython-ref=X --collect-only -q` lists them")
        preset = suffix.rstrip("]")
        if preset and preset not in presets:
            raise CpybenchError(f"{arg}: {preset!r} is not a build configuration of this session "
                                f"(--cpython-build={','.join(presets)})")
        earlier = names.get(producer, set())
        names[producer] = None if not preset or earlier is None else earlier | {preset}
    return names


def benchmark_of(nodeid: str, known: list[BenchmarkDef]) -> BenchmarkDef | None:
    """The benchmark of an item's node id (``pyperformance::nbody``), or None for other items."""
    collector, _, name = nodeid.partition("::")
    if collector != COLLECTOR_NAME:
        return None
    return next((bench for bench in known if bench.name == name.split("[")[0]), None)


def error_line(report: pytest.TestReport) -> str:
    """The first line of an item's error, for the summary's list of benchmarks that errored."""
    return str(report.longrepr).splitlines()[0] if report.longrepr else "error"


def _known_failure_text(exc: BaseException) -> str | None:
    """What a user needs to read for a failure or error we understand (no call stack)."""
    if isinstance(exc, Regression):
        return "\n".join(exc.lines)
    if isinstance(exc, BenchmarkError):
        tail = exc.stderr_tail or exc.output_tail
        where = f" (on {exc.side})" if exc.side else ""  # interleaved: which interpreter it failed on
        return str(exc) + where + (f"\n{tail}" if tail else "")
    if isinstance(exc, CpybenchError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    return None
