"""A local xdist worker (``-n N``): it takes the controller's plan, measures the items it is given
on its own CPUs, and sends each outcome back on the item's report."""

from __future__ import annotations

import pytest

from pytest_cpybench.plugin.controller import WIRE_KEY
from pytest_cpybench.plugin.role import OUTCOME_ATTR, Role, take_cpus
from pytest_cpybench.session import wire
from pytest_cpybench.session.model import ItemOutcome


class Worker(Role):
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        workerinput = self.config.workerinput  # type: ignore[attr-defined]  # set by xdist
        take_cpus(self.gate, workerinput)
        self.gate.load_wire(workerinput[WIRE_KEY])

    def item_reported(self, item: pytest.Item, outcome: ItemOutcome, report: pytest.TestReport) -> None:
        setattr(report, OUTCOME_ATTR, wire.dump_item(outcome))
