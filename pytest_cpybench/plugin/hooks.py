"""pytest hooks: options, collection of benchmark items, verdicts, terminal.

Kept thin on purpose: the work happens in :mod:`engine` (plain Python). The controller
(or the only process, without xdist) resolves refs and builds the interpreters in
``pytest_sessionstart``, hands them to xdist workers through ``workerinput``, collects each
item's outcome from its report and writes results and the summary at the end.

Benchmarks are collected through pytest's own tree: a :class:`BenchmarkCollector` named
``pyperformance`` hangs below the session, so node ids such as ``pyperformance::nbody`` work
as arguments, with ``--lf``, ``--deselect`` and ``-k``.
"""

from __future__ import annotations

import re
import sys
import time
import warnings
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pytest_cpybench.bisect import bisector
from pytest_cpybench.errors import EXIT_INFRASTRUCTURE, BenchmarkError, BuildError, CpybenchError
from pytest_cpybench.measure import cpus
from pytest_cpybench.options import OPTIONS, Budget, Settings, settings_from
from pytest_cpybench.output import terminal
from pytest_cpybench.plugin import gateways, hosts
from pytest_cpybench.session.engine import Engine, ItemOutcome, SessionResult
from pytest_cpybench.suite import _pyperformance
from pytest_cpybench.suite._pyperformance import BenchmarkDef

COLLECTOR_NAME = "pyperformance"
WIRE_KEY = "cpybench_engine"  # workerinput: the controller's prepared engine
CPUS_KEY = "cpybench_cpus"  # workerinput: the CPUs a local worker's benchmarks are pinned to
PLAN_KEY = "cpybench_host_plan"  # workerinput: what a host builds and measures for itself
HOST_KEY = "cpybench_host"  # workeroutput (and the first report's attribute): a host's engine and error
OUTCOME_ATTR = "cpybench_outcome"  # report attribute: an item's outcome on the xdist wire
VERDICT_ATTR = "cpybench_verdict"  # report attribute: "inconclusive" when it is
PLUGIN_NAME = "cpybench-session"


class InconclusiveWarning(pytest.PytestWarning):
    """The data could not tell whether a result slowed down beyond its threshold."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cpybench", "pytest-cpybench: benchmark a CPython build")
    for option in OPTIONS:
        if option.ini_type != "linelist" or option.name == "cpython-manifest":
            group.addoption(f"--{option.name}", dest=option.ini,
                            action="append" if option.ini_type == "linelist" else "store",
                            default=None, help=option.help.replace("%", "%%"))  # argparse formats help
        parser.addini(option.ini, option.help, type=option.ini_type, default=None)


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
        known = _pyperformance.load_benchmarks(settings.manifests)
        selected = _pyperformance.select(known, settings.benchmarks)
        notes = _pyperformance.selection_notes(known, settings.benchmarks)
        requested = _take_benchmark_args(config, known)
        hosts_mode, worker_cpus = (False, None) if hasattr(config, "workerinput") else _check_workers(config, settings)
    except CpybenchError as exc:
        raise pytest.UsageError(str(exc)) from None
    for tag in _pyperformance.known_tags(known):
        config.addinivalue_line("markers", f"{tag}: pyperformance benchmarks tagged {tag!r}")
    plugin = CpybenchPlugin(config, settings, selected, known, requested, notes)
    plugin.worker_cpus, plugin.hosts_mode = worker_cpus, hosts_mode
    config.pluginmanager.register(plugin, PLUGIN_NAME)


def _check_workers(config: pytest.Config, settings: Settings) -> tuple[bool, list[str] | None]:
    """Refuse xdist distributions the results would not survive. Returns whether the workers are
    hosts (other machines, each measuring for itself) and the CPUs per local worker, if pinned."""
    specs = getattr(config.option, "tx", None) or []  # xdist sets it from -n or --tx
    dist = getattr(config.option, "dist", "no")
    if settings.affinity:
        cpus.usable_cpus(settings.affinity)  # CPUs this process may not use: refused now, not per item
    if not specs or dist == "no":
        return False, None
    found = gateways.gateways(specs)
    hosts_mode = gateways.check_distribution(found, dist, settings.machine)
    if hosts_mode:
        gateways.check_host_settings(settings, remote=not all(gateway.local for gateway in found))
    return hosts_mode, gateways.local_worker_cpus(specs, settings.affinity)


@pytest.hookimpl(wrapper=True)
def pytest_sessionstart(session: pytest.Session) -> Generator[None, None, None]:
    """xdist reaches its ``--tx`` hosts when the session starts: one it cannot reach is a one-line
    error, not a page of INTERNALERROR."""
    try:
        return (yield)
    except hosts.GATEWAY_ERRORS as exc:
        if session.config.pluginmanager.get_plugin(PLUGIN_NAME) is None:
            raise
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        pytest.exit(f"cpybench: cannot reach an xdist host ({reason}): check its --tx spec, that ssh to it works "
                    "without a password, and that python= names an interpreter with this plugin there",
                    returncode=EXIT_INFRASTRUCTURE)


def _take_benchmark_args(config: pytest.Config, known: list[BenchmarkDef]) -> set[str] | None:
    """Take ``pyperformance[::NAME]`` arguments out of pytest's path arguments.

    Returns the benchmark names asked for (None: no such argument, collect the selection).
    Without explicit arguments only benchmarks are items, whatever ``testpaths`` says: a
    session in a CPython clone or a project with tests of its own must not run those.
    """
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    ours = [arg for arg in config.args if arg == COLLECTOR_NAME or arg.startswith(COLLECTOR_NAME + "::")]
    config.args[:] = [arg for arg in config.args if arg not in ours] if explicit else []
    if not ours or COLLECTOR_NAME in ours:
        return None
    names: set[str] = set()
    by_name = {bench.name.lower(): bench.name for bench in known}
    for arg in ours:
        name = arg.split("::")[1].split("[")[0]
        producer = by_name.get(name.lower()) or getattr(_pyperformance.producer_of(name, known), "name", None)
        if producer is None:
            raise CpybenchError(f"{arg}: no pyperformance benchmark (or result) is called {name!r}; "
                                "`pytest --cpython-ref=X --collect-only -q` lists them")
        names.add(producer)
    return names


class BenchmarkItem(pytest.Item):
    def __init__(self, *, bench: BenchmarkDef, engine: Engine, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bench = bench
        self.engine = engine
        self.outcome: ItemOutcome | None = None
        for tag in bench.tags:
            self.add_marker(tag)

    def setup(self) -> None:
        # Measuring happens in setup so that a crash or hang is an *error*, while a
        # regression found in runtest is a *failure*.
        plugin = self.config.pluginmanager.get_plugin(PLUGIN_NAME)
        if plugin is not None and plugin.host_error:  # a host whose build failed
            raise CpybenchError(plugin.host_error)
        self.outcome = self.engine.run(self.bench)
        if plugin is not None and plugin.host_machine:  # one JUnit file holds every machine's items
            self.user_properties.append(("cpybench.machine", plugin.host_machine))
        self.user_properties.extend(self.outcome.properties())

    def runtest(self) -> None:
        assert self.outcome is not None
        if self.outcome.failures:
            raise Regression(self.outcome.failures)
        with warnings.catch_warnings():
            # Inconclusive is a warning, never a failure: not even under `-W error`.
            warnings.simplefilter("default", InconclusiveWarning)
            for line in self.outcome.inconclusive:
                warnings.warn(InconclusiveWarning(line), stacklevel=1)

    def reportinfo(self) -> tuple[Path, int, str]:
        return Path(self.bench.runscript), 0, f"pyperformance benchmark {self.bench.name}"


class Regression(Exception):
    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


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


def _local_index(node: Any) -> int:
    """Which local worker an xdist node is: its spec's place among the local specs, so that a
    worker xdist restarts after a crash gets the CPUs of the one it replaces."""
    specs = [spec for spec in getattr(getattr(node, "nodemanager", None), "specs", []) if gateways.is_local(spec)]
    index = next((i for i, spec in enumerate(specs) if spec is node.gateway.spec), None)
    if index is not None:
        return index
    return int(re.sub(r"\D", "", node.gateway.id) or 0)  # "gw1": xdist numbers gateways in --tx order


class BenchmarkCollector(pytest.Collector):
    """The benchmarks of the session, below the session in pytest's collection tree."""

    def __init__(self, *, plugin: CpybenchPlugin, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plugin = plugin

    def collect(self) -> list[pytest.Item]:
        plugin = self.plugin
        version = plugin.engine.head_version
        items: list[pytest.Item] = []
        # Node ids name benchmarks explicitly: they are collected whatever the selection says.
        benches = plugin.selected if plugin.requested is None else [
            bench for bench in plugin.known if bench.name in plugin.requested]
        for bench in benches:
            item = BenchmarkItem.from_parent(self, name=bench.name, bench=bench, engine=plugin.engine)
            reason = _pyperformance.supports(bench, version) if version else None
            if reason:
                item.add_marker(pytest.mark.skip(reason=f"{reason} (target is {version})"))
            items.append(item)
        return items


class CpybenchPlugin:
    def __init__(self, config: pytest.Config, settings: Settings, selected: list[BenchmarkDef],
                 known: list[BenchmarkDef], requested: set[str] | None, notes: list[str]) -> None:
        self.config = config
        self.settings = settings
        self.selected = selected  # what --cpython-benchmarks selects
        self.known = known  # every benchmark of the manifests
        self.requested = requested  # names given as pyperformance::NAME arguments, if any
        self.notes = notes
        self.engine = Engine(settings, log=self._log)
        self.outcomes: dict[str, ItemOutcome] = {}
        self.errors: dict[str, str] = {}
        self.infrastructure_error: str | None = None
        self.result: SessionResult | None = None
        self.is_worker = hasattr(config, "workerinput")
        self.worker_cpus: list[str] | None = None  # controller, -n N: per local worker, in --tx order
        self.hosts_mode = False  # controller: the workers are machines of their own (--dist each)
        self.host_error: str | None = None  # a host: why it cannot measure (its build failed)
        self.host_machine = ""  # a host: its machine name
        self.host_output_sent = False  # a host: its engine went back with a report
        self.host_sessions = hosts.HostSessions(settings, self._log)  # controller, hosts mode
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

    # -- session start: resolve, then build ------------------------------------------

    @pytest.hookimpl(tryfirst=True)  # before xdist starts its workers: they need the interpreters
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.is_worker:
            self._start_worker(self.config.workerinput)  # type: ignore[attr-defined]  # set by xdist
            return
        for note in self.notes:
            self._log(note)
        if self.worker_cpus:
            self._log(f"{len(self.worker_cpus)} workers, each pinned to its own CPUs: {', '.join(self.worker_cpus)}")
        try:
            self.engine.resolve()
            if self.config.option.collectonly:
                return  # collecting builds nothing: the version came from the sources
            if not self.hosts_mode:  # a host checks its own tools
                self.engine.check_tools()
            self.engine.check_outputs()
            if self.hosts_mode:
                self._log("hosts: each machine builds and measures the whole selection for itself")
                return
            self.engine.build(for_confirmations=bool(self.worker_cpus))
        except BuildError as exc:
            self._abort(exc.details())
        except CpybenchError as exc:
            self._abort(str(exc))
        except OSError as exc:
            self._abort(f"{exc.strerror or exc}: {exc.filename or ''}")
        head = self.engine.head
        assert head is not None
        self._log(f"target: {head.label} -> Python {head.version} at {head.python}"
                  + (" (cached build)" if head.cache_hit else ""))
        for baseline in self.engine.baselines:
            self._log(f"baseline {baseline.label}: {baseline.note}")

    def _start_worker(self, workerinput: dict[str, Any]) -> None:
        if CPUS_KEY in workerinput:  # "" on another machine: the controller's CPU list means nothing there
            self.engine.settings = replace(self.engine.settings, affinity=workerinput[CPUS_KEY] or None)
        if PLAN_KEY not in workerinput:
            self.engine.load_wire(workerinput[WIRE_KEY])
            return
        # A host: build for itself through its own cache; a failure errors this host's items only.
        self.host_error = hosts.prepare_host(self.engine, workerinput[PLAN_KEY],
                                                   build=not self.config.option.collectonly)
        self.host_machine = self.engine.settings.machine

    def _abort(self, message: str) -> None:
        lines = message.splitlines()
        if len(lines) > 1:
            sys.stderr.write("\n".join(lines[1:]) + "\n")
        pytest.exit(f"cpybench: {lines[0]}", returncode=EXIT_INFRASTRUCTURE)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:  # an xdist WorkerController
        if self.hosts_mode:
            node.workerinput[PLAN_KEY] = self.host_sessions.plan_for(node.gateway, self.engine)
        else:
            node.workerinput[WIRE_KEY] = self.engine.to_wire()
        if not gateways.is_local(node.gateway.spec):
            node.workerinput[CPUS_KEY] = ""  # a host of its own: pyperf's default CPUs there
        elif self.worker_cpus:
            node.workerinput[CPUS_KEY] = self.worker_cpus[_local_index(node) % len(self.worker_cpus)]

    # -- collection --------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        if isinstance(collector, pytest.Session) and report.passed:
            report.result.append(BenchmarkCollector.from_parent(
                collector, name=COLLECTOR_NAME, nodeid=COLLECTOR_NAME, plugin=self))
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
            producer = _pyperformance.producer_of(word, self.known)
            for item in items:
                if isinstance(item, BenchmarkItem) and producer is not None and item.bench is producer:
                    item.extra_keyword_matches.add(word)
                    self._log(f"-k {word}: a result of benchmark {producer.name}")

    # -- reports -----------------------------------------------------------------

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
            if item.outcome.inconclusive and not item.outcome.failures:
                setattr(report, VERDICT_ATTR, "inconclusive")
            if self.is_worker:
                setattr(report, OUTCOME_ATTR, item.outcome.to_wire())
                if self.host_machine and not self.host_output_sent:  # a crash later must not lose it all
                    setattr(report, HOST_KEY, hosts.host_output(self.engine, self.host_error))
                    self.host_output_sent = True
            else:
                self.outcomes[item.nodeid] = item.outcome
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        if self.hosts_mode:
            self._take_host_report(report)
            return
        if report.when == "call":
            wire = getattr(report, OUTCOME_ATTR, None)
            if wire is not None:
                self.outcomes[report.nodeid] = self.engine.outcome_from_wire(wire)
            outcome = self.outcomes.get(report.nodeid)
            if outcome is not None and self.config.option.verbose > 0:
                self._write_result_lines(outcome)
        elif report.when == "setup" and report.failed:
            self.errors[report.nodeid] = error_line(report)

    def _take_host_report(self, report: pytest.TestReport) -> None:
        gateway_id = report.node.gateway.id  # xdist: the worker the report came from
        self.host_sessions.take_output(gateway_id, getattr(report, HOST_KEY, None))
        wire = getattr(report, OUTCOME_ATTR, None)
        if report.when == "call" and wire is not None:
            outcome = self.engine.outcome_from_wire(wire)
            self.host_sessions.add_outcome(gateway_id, report.nodeid, outcome)
            if self.config.option.verbose > 0:
                self._write_result_lines(outcome, prefix=f"[{self.host_sessions.hosts[gateway_id].machine}] ")
        elif report.when == "setup" and report.failed:
            self.host_sessions.add_error(gateway_id, report.nodeid, error_line(report))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:  # an xdist worker is done
        if self.hosts_mode:
            self.host_sessions.take_output(node.gateway.id, getattr(node, "workeroutput", {}).get(HOST_KEY), error)

    def _write_result_lines(self, outcome: ItemOutcome, prefix: str = "") -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        for line in terminal.format_outcome_lines(outcome):
            reporter.write_line(f"    {prefix}{line}")

    def pytest_report_teststatus(
        self, report: pytest.TestReport, config: pytest.Config
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        if report.when == "call" and report.passed and getattr(report, VERDICT_ATTR, None):
            return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
        return None

    # -- the end ------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker:
            if PLAN_KEY in self.config.workerinput:  # type: ignore[attr-defined]  # set by xdist
                self.config.workeroutput[HOST_KEY] = hosts.host_output(  # type: ignore[attr-defined]
                    self.engine, self.host_error)
            return
        if self.config.option.collectonly or (self.engine.head is None and not self.hosts_mode):
            return
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            # Half a session is not a baseline anyone should compare with later.
            self.infrastructure_error = "interrupted: nothing was stored"
            return
        if self.hosts_mode:
            if not self.host_sessions.finish(self.selected):
                session.exitstatus = EXIT_INFRASTRUCTURE
            return
        try:
            self.result = self.engine.finish(list(self.outcomes.values()), self.selected)
            self.engine.publish(self.result)
            if self.settings.bisect:
                self.result.bisections = bisector.bisect_failures(self.engine, list(self.outcomes.values()),
                                                                  self.known)
            if self.result.errors:
                session.exitstatus = EXIT_INFRASTRUCTURE
        except CpybenchError as exc:
            self.infrastructure_error = str(exc)
            session.exitstatus = EXIT_INFRASTRUCTURE
        except OSError as exc:
            self.infrastructure_error = f"{exc.strerror or exc}: {exc.filename or ''}: nothing was stored"
            session.exitstatus = EXIT_INFRASTRUCTURE

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter, exitstatus: int,
                                config: pytest.Config) -> None:
        if self.is_worker or config.option.collectonly or (self.engine.head is None and not self.hosts_mode):
            return
        terminalreporter.section("cpybench")
        if self.infrastructure_error:
            terminalreporter.write_line(f"cpybench: {self.infrastructure_error}", red=True)
        if self.hosts_mode:
            for line, is_error in self.host_sessions.summary_lines(elapsed=time.monotonic() - self.started):
                terminalreporter.write_line(line, red=is_error)
            return
        if self.result is None:
            return
        text = terminal.format_session(self.result, self.engine, self.errors,
                                      elapsed=time.monotonic() - self.started)
        for line in text.splitlines():
            terminalreporter.write_line(line)
        for error in self.result.errors:
            terminalreporter.write_line(f"cpybench: {error}", red=True)


def _budget_text(budget: Budget) -> str:
    if budget.pyperformance_multiple is not None:
        return f"auto ({budget.processes} rounds, {budget.pyperformance_multiple:g}x pyperformance per side)"
    return f"{budget.seconds:g}s" if budget.seconds is not None else str(budget.processes)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if plugin is None:
        return None
    s = plugin.settings
    return [f"cpybench: ref={s.ref or '-'} python={s.python or '-'} build={s.preset} "
            f"{'metric=instructions (cachegrind)' if s.metric == 'instructions' else 'mode=' + s.mode} "
            f"threshold={s.threshold:.0%} budget={_budget_text(s.budget)} baselines={','.join(s.baselines) or '-'} "
            f"cache={s.cache_dir} results={s.results_dir}"]
