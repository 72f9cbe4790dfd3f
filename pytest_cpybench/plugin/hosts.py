"""A session over hosts: xdist gateways to machines of their own, with ``--dist each``.

The controller (:class:`HostsController`) resolves the commits and sends each host a plan
(:meth:`Gate.host_plan`: the commits, the baselines that machine's store holds). The host
(:class:`HostWorker`) builds through its own cache and measures every item; the controller keeps
the outcomes apart by host (:class:`HostSessions`), then stores, compares and summarises each
machine on its own, as faster-cpython's pages have one section per machine. A host that cannot
build errors its own items, is listed with why, and the others go on.
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import execnet
import pyperf
import pytest

from pytest_cpybench import __version__
from pytest_cpybench.errors import EXIT_INFRASTRUCTURE, BuildError, CpybenchError, ToolchainError
from pytest_cpybench.measure.processes import Log
from pytest_cpybench.options import Settings
from pytest_cpybench.output import terminal
from pytest_cpybench.output.publish import publish
from pytest_cpybench.plugin import gateways
from pytest_cpybench.plugin.controller import ControllerRole
from pytest_cpybench.plugin.items import error_line
from pytest_cpybench.plugin.role import OUTCOME_ATTR, Role, assign_cpus, take_cpus
from pytest_cpybench.results.identity import MACHINE_ENV
from pytest_cpybench.session import wire
from pytest_cpybench.session.gate import Gate
from pytest_cpybench.session.model import ItemOutcome, SessionResult
from pytest_cpybench.suite.definitions import BenchmarkDef

# What asking a host its name can raise: it is unreachable, it answered nothing, or it failed.
GATEWAY_ERRORS = (execnet.HostNotFound, execnet.TimeoutError, execnet.RemoteError, EOFError, OSError)


@dataclass
class Host:
    """One gateway's machine and what came back from it."""

    machine: str
    spec: str  # as shown: the user's spec, credentials in URLs masked
    spec_object: object = None  # xdist's spec: a worker restarted after a crash has the same one
    outcomes: dict[str, ItemOutcome] = field(default_factory=dict)  # by node id
    errors: dict[str, str] = field(default_factory=dict)  # node id -> first line of its error
    plan_wire: str | None = None  # its plan after building: the interpreters its results came from
    arch: str = ""  # its CPU architecture (platform.machine() there)
    error: str | None = None  # why it could not measure
    gate: Gate | None = None  # after finish
    results: list[SessionResult] = field(default_factory=list)  # after finish: one per metric


class HostSessions:
    """The controller's side: a plan per host, outcomes by host, one result per machine."""

    def __init__(self, settings: Settings, log: Log) -> None:
        self.settings = settings
        self.log = log
        self.hosts: dict[str, Host] = {}  # by gateway id, in the order xdist set them up

    def plan_for(self, gateway: Any, gate: Gate) -> str:
        """The plan a host's worker receives (``workerinput``); asks a remote host its name."""
        restarted = next((h for h in self.hosts.values() if h.spec_object is gateway.spec), None)
        if restarted is not None:  # xdist replaced a crashed worker: the same host goes on
            self.hosts[gateway.id] = restarted
            restarted.error = None
            self.log(f"host {gateway.id} ({restarted.spec}): machine {restarted.machine}, restarted")
            return self._plan(restarted, gateway, gate)
        shown = display_spec(str(gateway.spec))
        try:
            machine = gateways.machine_of(gateway, self.settings.machine)
        except GATEWAY_ERRORS as exc:
            host = self.hosts[gateway.id] = Host(shown, shown, gateway.spec)
            host.error = f"machine behind {shown} could not measure: it did not say its name ({exc})"
            return json.dumps({"error": host.error})
        taken = next((h for h in self.hosts.values() if h.machine == machine), None)
        host = self.hosts[gateway.id] = Host(machine, shown, gateway.spec)
        if taken is not None:
            host.error = (f"machine {machine} could not measure: it is measured through {taken.spec} already: "
                          f"give each host a name of its own ({MACHINE_ENV} in its environment, e.g. "
                          f"--tx '…//env:{MACHINE_ENV}=NAME')")
            return json.dumps({"error": host.error})
        self.log(f"host {gateway.id} ({host.spec}): machine {machine}")
        return self._plan(host, gateway, gate)

    @staticmethod
    def _plan(host: Host, gateway: Any, gate: Gate) -> str:
        # Local hosts share this machine: building inside an item would run beside another host's
        # measurement, so they build everything a confirmation may need first.
        return gate.host_plan(host.machine, local=gateways.is_local(gateway.spec), version=__version__)

    def add_outcome(self, gateway_id: str, nodeid: str, outcome: ItemOutcome) -> None:
        self.hosts[gateway_id].outcomes[nodeid] = outcome

    def add_error(self, gateway_id: str, nodeid: str, line: str) -> None:
        self.hosts[gateway_id].errors[nodeid] = line

    def take_output(self, gateway_id: str, output: str | None, crash: object = None) -> None:
        """What a host sent back (its first report carries it, and again when it finished), or
        why its worker stopped without finishing."""
        host = self.hosts.get(gateway_id)
        if host is None:
            return
        if output is not None:
            data = json.loads(output)
            host.plan_wire = data["plan"] or host.plan_wire
            host.arch = data.get("arch") or host.arch
            host.error = host.error or data["error"]
        if crash is not None:
            host.error = host.error or (f"machine {host.machine} could not measure: its worker stopped before "
                                        f"it finished ({crash})")

    def finish(self, benchmarks: list[BenchmarkDef], published: Callable[[SessionResult], None]) -> bool:
        """Store, compare and publish each machine's results (``published`` is told of each);
        False when a host failed or a store did."""
        ok = True
        self._start_comment()
        for host in self._distinct():
            if host.plan_wire is None:
                host.error = host.error or f"machine {host.machine} could not measure: no results came back"
            else:
                gate = Gate(replace(self.settings, machine=host.machine), log=self.log)
                gate.load_wire(host.plan_wire)
                gate.use(arch=host.arch or None)
                host.gate, host.results = gate, gate.finish(list(host.outcomes.values()), benchmarks)
                for result in host.results:
                    publish(result, gate.settings, gate.head_version, heading=f"machine {host.machine}",
                            append=True)
                    published(result)
                ok = ok and not any(result.errors for result in host.results)
            if host.error:
                ok = False
                self._publish_failure(host)
        return ok

    def _distinct(self) -> list[Host]:
        """Each host once (a restarted worker maps its new gateway id to the same host)."""
        return list({id(host): host for host in self.hosts.values()}.values())

    def _start_comment(self) -> None:
        """Every machine appends its part to the pull-request comment: it starts empty."""
        if self.settings.pr_comment:
            try:
                self.settings.pr_comment.parent.mkdir(parents=True, exist_ok=True)
                self.settings.pr_comment.write_text("")
            except OSError as err:
                self.log(f"warning: could not write {self.settings.pr_comment}: {err.strerror or err}")

    def _publish_failure(self, host: Host) -> None:
        """A failed host is part of the CI summaries too: a reader must see it broke."""
        assert host.error is not None
        text = f"\n## machine {host.machine}\n\n**could not measure**: {host.error.splitlines()[0]}\n"
        for target in (self.settings.pr_comment, os.environ.get("GITHUB_STEP_SUMMARY")):
            if not target:
                continue
            try:
                with open(target, "a", encoding="utf-8") as out:  # never truncate GitHub's step summary
                    out.write(text)
            except OSError as err:
                self.log(f"warning: could not write {target}: {err.strerror or err}")

    def summary_lines(self, elapsed: float) -> list[tuple[str, bool]]:
        """The terminal summary, one section per machine: (line, is an error)."""
        lines: list[tuple[str, bool]] = []
        for host in self._distinct():
            if not host.results and host.error is None:
                continue  # interrupted before it finished: the session says so
            measured_on = _measured_on(host.results[0].head_suite if host.results else None)
            lines.append((f"== machine {host.machine} ({host.spec}){measured_on}", False))
            if host.results and host.gate is not None and host.gate.head is not None:
                text = terminal.format_session(host.results, host.gate.head, host.gate.settings, host.errors,
                                               elapsed=elapsed)
                lines += [(line, False) for line in text.splitlines()]
                lines += [(f"cpybench: {error}", True) for result in host.results for error in result.errors]
            if host.error:
                first, *rest = host.error.splitlines()
                lines.append((f"cpybench: {first}", True))
                lines += [(line, False) for line in rest]
        return lines


def display_spec(spec: str) -> str:
    """A ``--tx`` spec as the session prints it: without xdist's execmodel prefix, and without the
    password or token of a URL in it (``https://user:token@host`` -> ``https://***@host``)."""
    shown = re.sub(r"^execmodel=[^/]*//", "", spec)
    return re.sub(r"(://)[^/@\s]+@", r"\1***@", shown)


def _measured_on(suite: pyperf.BenchmarkSuite | None) -> str:
    """", CPU, platform" as pyperf recorded them on the host."""
    if suite is None or not suite.get_benchmarks():
        return ""
    metadata = suite.get_benchmarks()[0].get_metadata()
    found = [str(metadata[key]) for key in ("cpu_model_name", "platform") if metadata.get(key)]
    return "".join(f", {part}" for part in found)


# -- the host's side ---------------------------------------------------------------------


def prepare_host(gate: Gate, plan: str, build: bool = True) -> str | None:
    """Take the controller's plan and build for this host (unless only collecting); why it
    cannot measure, or None."""
    data = json.loads(plan)
    if data.get("error"):
        return str(data["error"])
    where = f"machine {data['machine']} could not measure"
    if data.get("version") != __version__:
        return (f"{where}: pytest-cpybench {__version__} is installed there, {data.get('version')} on the "
                "controller: install the same version on every host")
    try:
        gate.load_host_plan(plan, gateways.host_repo(gate.settings.repo) or "")
    except CpybenchError as exc:
        return f"{where}: {exc} (a host finds the commits in its ${gateways.REPO_ENV}, else in --cpython-repo)"
    if not build:
        return None
    try:
        gate.check_tools()
        gate.build(for_confirmations=bool(data.get("local")))
    except BuildError as exc:
        return f"{where}: {exc.details()}"
    except CpybenchError as exc:
        return f"{where}: {exc}"
    except OSError as exc:
        return f"{where}: {exc.strerror or exc}: {exc.filename or ''}"
    return None


def host_output(gate: Gate, error: str | None) -> str:
    """What a host sends back (with its first report, and when its items are done)."""
    return json.dumps({"plan": gate.to_wire() if gate.head is not None else None, "error": error,
                       "arch": platform.machine()})


# -- the roles ---------------------------------------------------------------------------


PLAN_KEY = "cpybench_host_plan"  # workerinput: what a host builds and measures for itself
HOST_KEY = "cpybench_host"  # workeroutput (and the first report's attribute): a host's plan and error


class HostsController(ControllerRole):
    """The controller of a session whose workers are machines of their own."""

    each_node_runs_all = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.host_sessions = HostSessions(self.settings, self.log)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.say_notes()
        try:
            self.gate.resolve()
            if self.config.option.collectonly:
                return
            self.gate.check_outputs()  # a host checks its own tools
        except ToolchainError as exc:
            self.refuse(exc)
        except CpybenchError as exc:
            self.abort(str(exc))
        except OSError as exc:
            self.abort(f"{exc.strerror or exc}: {exc.filename or ''}")
        self.log("hosts: each machine builds and measures the whole selection for itself")

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:  # an xdist WorkerController
        node.workerinput[PLAN_KEY] = self.host_sessions.plan_for(node.gateway, self.gate)
        assign_cpus(node, self.worker_cpus)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.saw(report)
        gateway_id = report.node.gateway.id  # xdist: the worker the report came from
        self.host_sessions.take_output(gateway_id, getattr(report, HOST_KEY, None))
        sent = getattr(report, OUTCOME_ATTR, None)
        if report.when == "call" and sent is not None:
            outcome = self.gate.outcome_from_wire(sent)
            self.host_sessions.add_outcome(gateway_id, report.nodeid, outcome)
            self.write_result_lines(outcome, prefix=f"[{self.host_sessions.hosts[gateway_id].machine}] ")
        elif report.when == "setup" and report.failed:
            self.host_sessions.add_error(gateway_id, report.nodeid, error_line(report))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:  # an xdist worker is done
        self.host_sessions.take_output(node.gateway.id, getattr(node, "workeroutput", {}).get(HOST_KEY), error)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.nothing_to_summarise or self.interrupted(exitstatus):
            return

        def published(result: SessionResult) -> None:
            self.config.hook.pytest_cpybench_publish(config=self.config, result=result, settings=self.settings)

        if not self.host_sessions.finish(list(self.session_benchmarks.values()), published):
            session.exitstatus = EXIT_INFRASTRUCTURE

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter, exitstatus: int,
                                config: pytest.Config) -> None:
        if self.nothing_to_summarise:
            return
        terminalreporter.section("cpybench")
        if self.infrastructure_error:
            terminalreporter.write_line(f"cpybench: {self.infrastructure_error}", red=True)
        for line, is_error in self.host_sessions.summary_lines(elapsed=time.monotonic() - self.started):
            terminalreporter.write_line(line, red=is_error)


class HostWorker(Role):
    """A worker on a machine of its own: it builds for itself, and errors its items when it cannot."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        super().__init__(config, settings)
        self.host_error: str | None = None  # why it cannot measure (its build failed)
        self.output_sent = False  # its plan went back with a report

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        workerinput = self.config.workerinput  # type: ignore[attr-defined]  # set by xdist
        take_cpus(self.gate, workerinput)
        self.host_error = prepare_host(self.gate, workerinput[PLAN_KEY], build=not self.config.option.collectonly)

    def measure_item(self, bench: BenchmarkDef, preset: str | None = None) -> tuple[ItemOutcome, list[tuple[str, str]]]:
        if self.host_error:
            raise CpybenchError(self.host_error)
        # One JUnit file holds every machine's items.
        return self.gate.run(bench, preset), [("cpybench.machine", self.gate.settings.machine)]

    def item_reported(self, item: pytest.Item, outcome: ItemOutcome, report: pytest.TestReport) -> None:
        setattr(report, OUTCOME_ATTR, wire.dump_item(outcome))
        if not self.output_sent:  # a crash later must not lose it all
            setattr(report, HOST_KEY, host_output(self.gate, self.host_error))
            self.output_sent = True

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.config.workeroutput[HOST_KEY] = host_output(self.gate, self.host_error)  # type: ignore[attr-defined]
