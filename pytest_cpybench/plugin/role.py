"""What every process of a session shares, whatever its role: the settings, the engine, logging.

``pytest_configure`` registers one role per process, as pytest-xdist registers ``DSession`` only
on its controller: :class:`~.controller.Controller` (the session measured on this machine, alone
or with local ``-n`` workers), :class:`~.worker.Worker` (such a worker),
:class:`~.hosts.HostsController` and :class:`~.hosts.HostWorker` (``--dist each`` over machines of
their own).
"""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest

from pytest_cpybench.options import Settings
from pytest_cpybench.plugin import gateways
from pytest_cpybench.session.gate import Gate
from pytest_cpybench.session.model import ItemOutcome
from pytest_cpybench.suite.definitions import BenchmarkDef

ROLE_KEY = pytest.StashKey["Role"]()
CPUS_KEY = "cpybench_cpus"  # workerinput: the CPUs a local worker's benchmarks are pinned to
OUTCOME_ATTR = "cpybench_outcome"  # report attribute: an item's outcome on the xdist wire


class Role:
    """One process's part in the session."""

    #: Whether this process writes to the terminal (a worker's output is captured by xdist).
    writes_terminal = False

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.gate = Gate(settings, log=self.log)
        self.in_item = False

    def log(self, message: str) -> None:
        line = f"[cpybench] {message}"
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and self.writes_terminal and not self.in_item:
            reporter.write_line(line)
        else:
            # Inside an item pytest captures the output: the lines show with a failure or error
            # ("Captured stderr setup"), and do not break the progress line of the others.
            print(line, file=sys.stderr, flush=True)

    def measure_item(self, bench: BenchmarkDef, preset: str | None = None) -> tuple[ItemOutcome, list[tuple[str, str]]]:
        return self.gate.run(bench, preset), []

    def item_reported(self, item: pytest.Item, outcome: ItemOutcome, report: pytest.TestReport) -> None:
        """An item's call report was made in this process (a worker sends the outcome with it)."""


def assign_cpus(node: Any, worker_cpus: list[str] | None) -> None:
    """Tell an xdist worker the CPUs its benchmarks are pinned to (controller side)."""
    if not gateways.is_local(node.gateway.spec):
        node.workerinput[CPUS_KEY] = ""  # a host of its own: pyperf's default CPUs there
    elif worker_cpus:
        node.workerinput[CPUS_KEY] = worker_cpus[_local_index(node) % len(worker_cpus)]


def take_cpus(gate: Gate, workerinput: dict[str, Any]) -> None:
    """A worker: pin its benchmarks to the CPUs the controller gave it."""
    if CPUS_KEY in workerinput:  # "" on another machine: the controller's CPU list means nothing there
        gate.use(affinity=workerinput[CPUS_KEY])


def _local_index(node: Any) -> int:
    """Which local worker an xdist node is: its spec's place among the local specs, so that a
    worker xdist restarts after a crash gets the CPUs of the one it replaces."""
    specs = [spec for spec in getattr(getattr(node, "nodemanager", None), "specs", []) if gateways.is_local(spec)]
    index = next((i for i, spec in enumerate(specs) if spec is node.gateway.spec), None)
    if index is not None:
        return index
    return int(re.sub(r"\D", "", node.gateway.id) or 0)  # "gw1": xdist numbers gateways in --tx order
