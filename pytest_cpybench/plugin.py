"""pytest hooks: options, collection of benchmark items, verdicts, summary.

Kept thin on purpose: the work happens in :mod:`engine` (plain Python). The controller
(or the only process, without xdist) builds the interpreters in ``pytest_sessionstart``,
hands them to xdist workers through ``workerinput``, collects each item's outcome from its
report and writes results and the summary at the end.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import pytest

from . import _pyperformance, summary
from .engine import Engine, ItemOutcome, select_benchmarks
from .errors import EXIT_INFRASTRUCTURE, BenchmarkError, BuildError, CpybenchError
from .options import OPTIONS, Settings, settings_from

OUTCOME_KEY = "cpybench_outcome"
VERDICT_KEY = "cpybench_verdict"
WIRE_KEY = "cpybench_engine"
COLLECTOR_NAME = "pyperformance"


class InconclusiveWarning(pytest.PytestWarning):
    """The data could not tell whether a result slowed down beyond its threshold."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cpybench", "pytest-cpybench: benchmark a CPython build")
    for option in OPTIONS:
        if option.ini_type != "linelist" or option.name == "cpython-manifest":
            group.addoption(f"--{option.name}", dest=option.ini,
                            action="append" if option.ini_type == "linelist" else "store",
                            default=None, help=option.help.replace("%", "%%"))
        parser.addini(option.ini, option.help, type=option.ini_type or "string", default=None)


def _raw_options(config: pytest.Config) -> dict[str, object]:
    raw: dict[str, object] = {}
    for option in OPTIONS:
        value = config.getoption(option.ini, default=None)
        raw[option.name] = value if value not in (None, []) else (config.getini(option.ini) or None)
    return raw


def pytest_configure(config: pytest.Config) -> None:
    try:
        settings = settings_from(_raw_options(config))
        if not settings.enabled:  # installed but not asked for: cost nothing
            return
        tags = _pyperformance.known_tags(_pyperformance.load_benchmarks(settings.manifests))
    except CpybenchError as exc:
        raise pytest.UsageError(str(exc)) from None
    for tag in tags:
        config.addinivalue_line("markers", f"{tag}: pyperformance benchmarks tagged {tag!r}")
    config.pluginmanager.register(CpybenchPlugin(config, settings), "cpybench-session")


class BenchmarkItem(pytest.Item):
    def __init__(self, *, bench, engine: Engine, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.bench = bench
        self.engine = engine
        self.outcome: ItemOutcome | None = None
        for tag in bench.tags:
            self.add_marker(tag)

    def setup(self) -> None:
        # Measuring happens in setup so that a crash or hang is an *error*, while a
        # regression found in runtest is a *failure*.
        self.outcome = self.engine.run(self.bench)
        self.user_properties.append((OUTCOME_KEY, self.outcome.to_json()))

    def runtest(self) -> None:
        assert self.outcome is not None
        if self.outcome.failures:
            raise Regression(self.outcome.failures)
        if self.outcome.inconclusive:
            self.user_properties.append((VERDICT_KEY, "inconclusive"))
            for line in self.outcome.inconclusive:
                warnings.warn(InconclusiveWarning(line))

    def repr_failure(self, excinfo, style=None):  # type: ignore[no-untyped-def]
        return _known_failure_text(excinfo.value) or super().repr_failure(excinfo, style=style)

    def _repr_failure_py(self, excinfo, style=None):  # type: ignore[no-untyped-def]
        # pytest formats *setup* errors here rather than in repr_failure: a crashed benchmark
        # should show its stderr tail, not our call stack.
        return _known_failure_text(excinfo.value) or super()._repr_failure_py(excinfo, style=style)

    def reportinfo(self):  # type: ignore[no-untyped-def]
        return Path(self.bench.runscript), 0, f"pyperformance benchmark {self.bench.name}"


def _known_failure_text(exc: BaseException) -> str | None:
    if isinstance(exc, Regression):
        return "\n".join(exc.lines)
    if isinstance(exc, BenchmarkError):
        tail = exc.stderr_tail or exc.output_tail
        return str(exc) + (f"\n{tail}" if tail else "")
    if isinstance(exc, CpybenchError):
        return str(exc)
    return None


class Regression(Exception):
    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class BenchmarkCollector(pytest.Collector):
    def __init__(self, *, benches, engine: Engine, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.benches = benches
        self.engine = engine

    def collect(self) -> list[pytest.Item]:
        head = self.engine.head
        items = []
        for bench in self.benches:
            item = BenchmarkItem.from_parent(self, name=bench.name, bench=bench, engine=self.engine)
            reason = _pyperformance.supports(bench, head.version) if head else None
            if reason:
                item.add_marker(pytest.mark.skip(reason=f"{reason} (target is {head.version})"))
            items.append(item)
        return items


class CpybenchPlugin:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.engine = Engine(settings, log=self._log)
        self.outcomes: dict[str, ItemOutcome] = {}
        self.errors: dict[str, str] = {}
        self.infrastructure_error: str | None = None
        self.is_worker = hasattr(config, "workerinput")
        self.in_item = False
        self.started = time.monotonic()

    def _log(self, message: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        line = f"[cpybench] {message}"
        if reporter is not None and not self.is_worker and not self.in_item:
            reporter.write_line(line)
        else:
            # Inside an item pytest captures the output: the lines show with a failure or error
            # ("Captured stderr setup"), and do not break the progress line of the others.
            print(line, file=sys.stderr, flush=True)

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        self.in_item = True

    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        self.in_item = False

    # -- session start: build or load the interpreters ----------------------------

    @pytest.hookimpl(tryfirst=True)  # before xdist starts its workers: they need the interpreters
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.is_worker:
            self.engine.load_wire(self.config.workerinput[WIRE_KEY])  # type: ignore[attr-defined]
            return
        try:
            self.engine.prepare()
        except BuildError as exc:
            self._abort(exc.details())
        except CpybenchError as exc:
            self._abort(str(exc))
        head = self.engine.head
        assert head is not None
        self._log(f"target: {head.label} -> Python {head.version} at {head.python}"
                  + (" (cached build)" if head.cache_hit else ""))
        for baseline in self.engine.baselines:
            self._log(f"baseline {baseline.label}: {baseline.note}")

    def _abort(self, message: str) -> None:
        lines = message.splitlines()
        if len(lines) > 1:
            sys.stderr.write("\n".join(lines[1:]) + "\n")
        pytest.exit(f"cpybench: {lines[0]}", returncode=EXIT_INFRASTRUCTURE)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node) -> None:  # type: ignore[no-untyped-def]
        node.workerinput[WIRE_KEY] = self.engine.to_wire()

    # -- collection --------------------------------------------------------------

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        # `pytest --cpython-ref=X` inside a CPython clone must not collect CPython's own test
        # files with the host interpreter: without explicit paths, only benchmarks are items.
        if config.args_source == pytest.Config.ArgsSource.INVOCATION_DIR:
            return True
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, session: pytest.Session, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        try:
            benches = select_benchmarks(self.settings)
        except CpybenchError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.benchmarks = benches
        collector = BenchmarkCollector.from_parent(session, name=COLLECTOR_NAME, nodeid=COLLECTOR_NAME,
                                                   benches=benches, engine=self.engine)
        collected = collector.collect()
        # Report the collection like any other, so counts and --collect-only see the items.
        config.hook.pytest_collectreport(
            report=pytest.CollectReport(COLLECTOR_NAME, "passed", None, list(collected)))
        items.extend(collected)

    # -- reports -----------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        props = dict(report.user_properties)
        if report.when == "call" and OUTCOME_KEY in props:
            outcome = ItemOutcome.from_json(str(props[OUTCOME_KEY]))
            self.outcomes[report.nodeid] = outcome
            if self.config.option.verbose > 0:
                self._write_result_lines(outcome)
        elif report.when == "setup" and report.failed:
            self.errors[report.nodeid] = str(report.longrepr).splitlines()[0] if report.longrepr else "error"

    def _write_result_lines(self, outcome: ItemOutcome) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        for line in summary.format_outcome_lines(outcome):
            reporter.write_line(f"    {line}")

    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config):  # type: ignore[no-untyped-def]
        if report.when == "call" and report.passed and dict(report.user_properties).get(VERDICT_KEY):
            return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
        return None

    # -- the end ------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker or self.engine.head is None:
            return
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            # Half a session is not a baseline anyone should compare with later.
            self.infrastructure_error = "interrupted: nothing was stored"
            return
        try:
            self.result = self.engine.finish(list(self.outcomes.values()), getattr(self, "benchmarks", []))
        except CpybenchError as exc:
            self.infrastructure_error = str(exc)
            session.exitstatus = EXIT_INFRASTRUCTURE

    def pytest_terminal_summary(self, terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
        if self.is_worker or self.engine.head is None or config.option.collectonly:
            return
        terminalreporter.section("cpybench")
        result = getattr(self, "result", None)
        if self.infrastructure_error:
            terminalreporter.write_line(f"cpybench: {self.infrastructure_error}", red=True)
        if result is None:
            return
        text = summary.format_session(result, self.engine, self.errors,
                                     elapsed=time.monotonic() - self.started)
        for line in text.splitlines():
            terminalreporter.write_line(line)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    plugin = config.pluginmanager.get_plugin("cpybench-session")
    if plugin is None:
        return None
    s = plugin.settings
    return [f"cpybench: ref={s.ref or '-'} python={s.python or '-'} build={s.preset} mode={s.mode} "
            f"threshold={s.threshold:.0%} baselines={','.join(s.baselines) or '-'} "
            f"cache={s.cache_dir}"]

