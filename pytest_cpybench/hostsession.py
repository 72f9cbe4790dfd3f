"""A session over hosts: xdist gateways to machines of their own, with ``--dist each``.

The controller resolves the commits and sends each host a plan (:meth:`Engine.host_plan`: the
commits, the baselines that machine's store holds). The host builds through its own cache and
measures every item; the controller keeps the outcomes apart by host, then stores, compares and
summarises each machine on its own, as faster-cpython's pages have one section per machine. A host
that cannot build errors its own items, is listed with why, and the others go on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

import pyperf

from . import hosts, summary
from ._pyperformance import BenchmarkDef
from .engine import Engine, ItemOutcome, Log, SessionResult
from .errors import BuildError, CpybenchError
from .options import Settings
from .store import MACHINE_ENV


@dataclass
class Host:
    """One gateway's machine and what came back from it."""

    machine: str
    spec: str
    outcomes: dict[str, ItemOutcome] = field(default_factory=dict)  # by node id
    errors: dict[str, str] = field(default_factory=dict)  # node id -> first line of its error
    engine_wire: str | None = None  # its engine after building: the targets its results came from
    error: str | None = None  # why it could not measure
    engine: Engine | None = None  # after finish
    result: SessionResult | None = None


class HostSessions:
    """The controller's side: a plan per host, outcomes by host, one result per machine."""

    def __init__(self, settings: Settings, log: Log) -> None:
        self.settings = settings
        self.log = log
        self.hosts: dict[str, Host] = {}  # by gateway id, in the order xdist set them up

    def plan_for(self, gateway: Any, engine: Engine) -> str:
        """The plan a host's worker receives (``workerinput``); asks a remote host its name."""
        machine = hosts.machine_of(gateway, self.settings.machine)
        taken = next((h for h in self.hosts.values() if h.machine == machine), None)
        # xdist puts its own execmodel in front of the user's spec.
        host = self.hosts[gateway.id] = Host(machine, re.sub(r"^execmodel=[^/]*//", "", str(gateway.spec)))
        if taken is not None:
            host.error = (f"machine {machine} could not measure: it is measured through {taken.spec} already: "
                          f"give each host a name of "
                          f"its own ({MACHINE_ENV} in its environment, e.g. --tx '…//env:{MACHINE_ENV}=NAME')")
            return json.dumps({"error": host.error})
        self.log(f"host {gateway.id} ({host.spec}): machine {machine}")
        return engine.host_plan(machine)

    def add_outcome(self, gateway_id: str, nodeid: str, outcome: ItemOutcome) -> None:
        self.hosts[gateway_id].outcomes[nodeid] = outcome

    def add_error(self, gateway_id: str, nodeid: str, line: str) -> None:
        self.hosts[gateway_id].errors[nodeid] = line

    def take_output(self, gateway_id: str, output: str | None, crash: object) -> None:
        """What a host's worker sent back when it finished (``workeroutput``), or why it did not."""
        host = self.hosts.get(gateway_id)
        if host is None:
            return
        if output is not None:
            data = json.loads(output)
            host.engine_wire = data["engine"]
            host.error = host.error or data["error"]
        if crash is not None or output is None:
            host.error = host.error or (f"machine {host.machine} could not measure: its worker stopped before "
                                        f"sending results back ({crash or 'no output'})")

    def finish(self, benchmarks: list[BenchmarkDef]) -> bool:
        """Store, compare and publish each machine's results; False when a host failed or a store did."""
        ok = True
        published = 0
        for host in self.hosts.values():
            if host.engine_wire is None or not host.outcomes:
                host.error = host.error or f"machine {host.machine} could not measure: no results came back"
                ok = False
                continue
            engine = Engine(replace(self.settings, machine=host.machine), log=self.log)
            engine.load_wire(host.engine_wire)
            host.engine, host.result = engine, engine.finish(list(host.outcomes.values()), benchmarks)
            engine.publish(host.result, heading=f"machine {host.machine}", append=published > 0)
            published += 1
            ok = ok and not host.result.errors and host.error is None
        return ok

    def summary_lines(self, elapsed: float) -> list[tuple[str, bool]]:
        """The terminal summary, one section per machine: (line, is an error)."""
        lines: list[tuple[str, bool]] = []
        for host in self.hosts.values():
            if host.result is None and host.error is None:
                continue  # interrupted before it finished: the session says so
            measured_on = _measured_on(host.result.head_suite if host.result else None)
            lines.append((f"== machine {host.machine} ({host.spec}){measured_on}", False))
            if host.result is not None and host.engine is not None:
                text = summary.format_session(host.result, host.engine, host.errors, elapsed=elapsed)
                lines += [(line, False) for line in text.splitlines()]
                lines += [(f"cpybench: {error}", True) for error in host.result.errors]
            if host.error:
                first, *rest = host.error.splitlines()
                lines.append((f"cpybench: {first}", True))
                lines += [(line, False) for line in rest]
        return lines


def _measured_on(suite: pyperf.BenchmarkSuite | None) -> str:
    """", CPU, platform" as pyperf recorded them on the host."""
    if suite is None or not suite.get_benchmarks():
        return ""
    metadata = suite.get_benchmarks()[0].get_metadata()
    found = [str(metadata[key]) for key in ("cpu_model_name", "platform") if metadata.get(key)]
    return "".join(f", {part}" for part in found)


# -- the host's side ---------------------------------------------------------------------


def prepare_host(engine: Engine, plan: str, build: bool = True) -> str | None:
    """Take the controller's plan and build for this host (unless only collecting); why it
    cannot measure, or None."""
    data = json.loads(plan)
    if data.get("error"):
        return str(data["error"])
    where = f"machine {data['machine']} could not measure"
    try:
        engine.load_host_plan(plan, hosts.host_repo(engine.settings.repo) or "")
    except CpybenchError as exc:
        return f"{where}: {exc} (a host finds the commits in its ${hosts.REPO_ENV}, else in --cpython-repo)"
    if not build:
        return None
    try:
        engine.check_tools()
        engine.build()
    except BuildError as exc:
        return f"{where}: {exc.details()}"
    except CpybenchError as exc:
        return f"{where}: {exc}"
    except OSError as exc:
        return f"{where}: {exc.strerror or exc}: {exc.filename or ''}"
    return None


def host_output(engine: Engine, error: str | None) -> str:
    """What a host sends back when its items are done (``workeroutput``)."""
    return json.dumps({"engine": engine.to_wire() if engine.head is not None else None, "error": error})
