"""The session's controller when it measures on this machine: alone, or handing items to local
xdist workers (``-n N``), each pinned to CPUs of its own.

It resolves refs and builds the interpreters in ``pytest_sessionstart`` (before xdist starts its
workers: they need them), hands the plan to the workers through ``workerinput``, collects each
item's outcome from its report, and at the end stores, compares, publishes and summarises.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest

from pytest_cpybench.bisect import bisector
from pytest_cpybench.errors import EXIT_INFRASTRUCTURE, BuildError, CpybenchError, ToolchainError
from pytest_cpybench.options import Settings
from pytest_cpybench.output import terminal
from pytest_cpybench.output.formatting import format_duration
from pytest_cpybench.output.publish import publish, publish_configurations
from pytest_cpybench.plugin.items import benchmark_of, error_line
from pytest_cpybench.plugin.role import OUTCOME_ATTR, Role, assign_cpus
from pytest_cpybench.session.model import ItemOutcome, SessionResult
from pytest_cpybench.suite.definitions import BenchmarkDef

WIRE_KEY = "cpybench_engine"  # workerinput: the controller's plan, its interpreters built


class Progress:
    """Benchmarks done of the session's, and the time left at the pace so far: pytest's own
    progress counts items, and a benchmark can take seconds or many minutes."""

    QUIET_SECONDS = 30.0  # at most one line this often: short items need no news

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.total = 0  # the session's benchmark items, once collected
        self.done = 0
        self.said = self.started

    def item_done(self) -> str | None:
        self.done += 1
        now = time.monotonic()
        if now - self.said < self.QUIET_SECONDS and self.done < self.total:
            return None
        self.said = now
        return self.line(now - self.started)

    def line(self, spent: float) -> str:
        text = f"{self.done} of {self.total or '?'} benchmarks in {format_duration(spent)}"
        left = self.total - self.done
        if left > 0 and self.done:
            text += f"; about {format_duration(spent / self.done * left)} left at this pace"
        return text



class ControllerRole(Role):
    """What every controller does: say what it does, stop the session in one line when it cannot."""

    writes_terminal = True
    each_node_runs_all = False  # xdist: does every worker run every item (hosts), or a share (-n N)?

    def __init__(self, config: pytest.Config, settings: Settings, known: list[BenchmarkDef], notes: list[str],
                 worker_cpus: list[str] | None) -> None:
        super().__init__(config, settings)
        self.known = known
        self.notes = notes
        self.worker_cpus = worker_cpus  # -n N: per local worker, in --tx order
        self.infrastructure_error: str | None = None
        self.started = time.monotonic()
        self.session_benchmarks: dict[str, BenchmarkDef] = {}  # the items that ran or were skipped
        self.progress = Progress()
        self.collected: dict[str, int] = {}  # xdist: benchmark items each worker collected

    def saw(self, report: pytest.TestReport) -> None:
        """Keep the benchmark of an item of this session (whatever -k, -m or --lf left), and say
        how far the session is when an item ends."""
        bench = benchmark_of(report.nodeid, self.known)
        if bench is not None:
            self.session_benchmarks.setdefault(bench.name, bench)
            if report.when == "teardown":
                line = self.progress.item_done()
                if line:
                    self.log(line)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.progress.total = sum(1 for item in session.items if benchmark_of(item.nodeid, self.known))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.collected[node.gateway.id] = sum(1 for nodeid in ids if benchmark_of(nodeid, self.known))
        # -n N shares one selection out; hosts (--dist each) each measure all of it.
        counts = self.collected.values()
        self.progress.total = sum(counts) if self.each_node_runs_all else max(counts)

    def say_notes(self) -> None:
        for note in self.notes:
            self.log(note)
        if self.worker_cpus:
            self.log(f"{len(self.worker_cpus)} workers, each pinned to its own CPUs: {', '.join(self.worker_cpus)}")

    def refuse(self, exc: ToolchainError) -> None:
        """A build this machine cannot make: a usage error (exit 4), before anything is built."""
        raise pytest.UsageError(f"cpybench: {exc}") from None

    def abort(self, message: str) -> None:
        lines = message.splitlines()
        if len(lines) > 1:
            sys.stderr.write("\n".join(lines[1:]) + "\n")
        pytest.exit(f"cpybench: {lines[0]}", returncode=EXIT_INFRASTRUCTURE)

    def write_result_lines(self, outcome: ItemOutcome, prefix: str = "") -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or self.config.option.verbose <= 0:
            return
        for line in terminal.format_outcome_lines(outcome):
            reporter.write_line(f"    {prefix}{line}")

    @property
    def nothing_to_summarise(self) -> bool:
        return bool(self.config.option.collectonly)

    def interrupted(self, exitstatus: int) -> bool:
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            # Half a session is not a baseline anyone should compare with later.
            self.infrastructure_error = "interrupted: nothing was stored"
            return True
        return False


class Controller(ControllerRole):
    """The controller of a session measured on this machine."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outcomes: dict[str, ItemOutcome] = {}
        self.errors: dict[str, str] = {}
        self.results: list[SessionResult] = []  # one per metric

    @pytest.hookimpl(tryfirst=True)  # before xdist starts its workers: they need the interpreters
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.say_notes()
        try:
            self.gate.resolve()
            if self.config.option.collectonly:
                return  # collecting builds nothing: the version came from the sources
            self.gate.check_tools()
            self.gate.check_outputs()
            self.gate.build(for_confirmations=bool(self.worker_cpus))
        except BuildError as exc:
            self.abort(exc.details())
        except ToolchainError as exc:
            self.refuse(exc)
        except CpybenchError as exc:
            self.abort(str(exc))
        except OSError as exc:
            self.abort(f"{exc.strerror or exc}: {exc.filename or ''}")
        several = len(self.gate.presets) > 1
        for preset, head in self.gate.heads():
            assert head is not None
            self.log(f"target{' ' + preset if several else ''}: {head.label} -> Python {head.version} at "
                     f"{head.python}" + (" (cached build)" if head.cache_hit else ""))
        for baseline in self.gate.baselines:
            self.log(f"baseline {baseline.label}: {baseline.note}")

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:  # an xdist WorkerController
        node.workerinput[WIRE_KEY] = self.gate.to_wire()
        assign_cpus(node, self.worker_cpus)

    def item_reported(self, item: pytest.Item, outcome: ItemOutcome, report: pytest.TestReport) -> None:
        self.outcomes[item.nodeid] = outcome

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.saw(report)
        if report.when == "call":
            sent = getattr(report, OUTCOME_ATTR, None)  # from an xdist worker
            if sent is not None:
                self.outcomes[report.nodeid] = self.gate.outcome_from_wire(sent)
            outcome = self.outcomes.get(report.nodeid)
            if outcome is not None:
                self.write_result_lines(outcome)
        elif report.when == "setup" and report.failed:
            self.errors[report.nodeid] = error_line(report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.nothing_to_summarise or self.gate.head is None or self.interrupted(exitstatus):
            return
        outcomes = list(self.outcomes.values())
        try:
            self.results = self.gate.finish(outcomes, list(self.session_benchmarks.values()))
            for result in self.results:
                publish(result, self.settings, self.gate.head_version)
                self.config.hook.pytest_cpybench_publish(config=self.config, result=result, settings=self.settings)
            publish_configurations(self.results, self.settings, self.gate.head_version)
            if self.settings.bisect:  # one metric (the options refuse more)
                self.results[0].bisections = bisector.bisect_failures(
                    self.gate.engine, [part for o in outcomes for part in o.parts], self.known)
            if any(result.errors for result in self.results):
                session.exitstatus = EXIT_INFRASTRUCTURE
        except CpybenchError as exc:
            self.infrastructure_error = str(exc)
            session.exitstatus = EXIT_INFRASTRUCTURE
        except OSError as exc:
            self.infrastructure_error = f"{exc.strerror or exc}: {exc.filename or ''}: nothing was stored"
            session.exitstatus = EXIT_INFRASTRUCTURE

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter, exitstatus: int,
                                config: pytest.Config) -> None:
        if self.nothing_to_summarise or self.gate.head is None:
            return
        terminalreporter.section("cpybench")
        if self.infrastructure_error:
            terminalreporter.write_line(f"cpybench: {self.infrastructure_error}", red=True)
        if not self.results or self.gate.head is None:
            return
        text = terminal.format_session(self.results, self.gate.head, self.settings, self.errors,
                                       elapsed=time.monotonic() - self.started)
        for line in text.splitlines():
            terminalreporter.write_line(line)
        for error in (error for result in self.results for error in result.errors):
            terminalreporter.write_line(f"cpybench: {error}", red=True)
