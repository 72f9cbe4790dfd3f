"""A session's gate over its build configurations and metrics: one engine per (configuration, metric)
(``--cpython-build=release,nogil --cpython-metric=time,instructions``: four), one outcome per item
(a benchmark in one configuration) holding each metric's part, one result per engine at the end.

The plugin's roles talk to this; with one metric it is its one engine. Each engine resolves its own
baselines (a stored baseline is looked up per metric: counts are never the baseline of times) and
builds through the shared cache, so the second finds the first's builds there.
"""

from __future__ import annotations

import json
from dataclasses import replace

from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.cpython.targets import Target
from pytest_cpybench.measure.processes import Log
from pytest_cpybench.options import Settings
from pytest_cpybench.session import wire
from pytest_cpybench.session.engine import Engine
from pytest_cpybench.session.model import Baseline, ItemOutcome, SessionResult
from pytest_cpybench.suite.definitions import BenchmarkDef


class Gate:
    def __init__(self, settings: Settings, log: Log) -> None:
        self.log = log
        self.engines = [Engine(settings.for_preset(preset).for_metric(metric), log)
                        for preset in settings.presets for metric in settings.metrics]
        for engine in self.engines:
            engine.explaining = True
        self.settings = settings

    @property
    def presets(self) -> tuple[str, ...]:
        return self.settings.presets

    def engines_of(self, preset: str) -> list[Engine]:
        return [engine for engine in self.engines if engine.settings.preset == preset]

    def heads(self) -> list[tuple[str, Target | None]]:
        """Each configuration's head (its first metric's engine's)."""
        return [(preset, self.engines_of(preset)[0].head) for preset in self.presets]

    # -- what the roles read: the first engine's plan stands for the session's -------------------

    @property
    def engine(self) -> Engine:
        return self.engines[0]

    @property
    def head(self) -> Target | None:
        return self.engine.head

    @property
    def head_commit(self) -> Commit | None:
        return self.engine.head_commit

    @property
    def head_version(self) -> str | None:
        return self.engine.head_version

    @property
    def baselines(self) -> list[Baseline]:
        return self.engine.baselines

    def use(self, *, affinity: str | None = None, machine: str | None = None, arch: str | None = None) -> None:
        """Pin the benchmarks to ``affinity`` (an xdist worker's CPUs), name the machine measured."""
        for engine in self.engines:
            if affinity is not None:
                engine.settings = replace(engine.settings, affinity=affinity or None)
            if machine is not None:
                engine.settings = replace(engine.settings, machine=machine)
            if arch is not None:
                engine.arch = arch
        if affinity is not None:
            self.settings = replace(self.settings, affinity=affinity or None)
        if machine is not None:
            self.settings = replace(self.settings, machine=machine)

    # -- before measuring -------------------------------------------------------------------------

    def check_tools(self) -> None:
        for engine in self.engines:
            engine.check_tools()

    def resolve(self) -> None:
        for engine in self.engines:
            engine.resolve()

    def check_outputs(self) -> None:
        self.engine.check_outputs()

    def build(self, for_confirmations: bool = False) -> None:
        for engine in self.engines:
            engine.build(for_confirmations=for_confirmations)

    # -- the xdist wire ---------------------------------------------------------------------------

    def to_wire(self) -> str:
        return json.dumps([engine.to_wire() for engine in self.engines])

    def load_wire(self, text: str) -> None:
        for engine, plan in zip(self.engines, json.loads(text), strict=True):
            engine.load_wire(plan)

    def host_plan(self, machine: str, **extra: object) -> str:
        plans = [json.loads(engine.host_plan(machine)) for engine in self.engines]
        return json.dumps({**extra, "machine": machine, "plans": plans})

    def load_host_plan(self, text: str, repo: str) -> None:
        for engine, plan in zip(self.engines, json.loads(text)["plans"], strict=True):
            engine.load_host_plan(json.dumps(plan), repo)
        self.settings = replace(self.settings, machine=self.engine.settings.machine, repo=repo)

    def outcome_from_wire(self, text: str) -> ItemOutcome:
        benchmark, parts = wire.load_item(text)
        by_part = {(engine.settings.preset, engine.settings.metric): engine for engine in self.engines}
        return ItemOutcome(benchmark, [by_part[part.get("preset", self.settings.preset), part["metric"]]
                                       .outcome_from_wire(part) for part in parts])

    # -- measuring and the end --------------------------------------------------------------------

    def run(self, bench: BenchmarkDef, preset: str | None = None) -> ItemOutcome:
        """One item: ``bench`` in one build configuration (default: the first), every metric's
        verdicts, then (--cpython-explain) why its results are slower: after all the verdicts, never
        inside their measurements."""
        engines = self.engines_of(preset or self.presets[0])
        try:
            parts = [engine.run(bench) for engine in engines]
            for engine, part in zip(engines, parts, strict=True):
                part.explanations = engine.explain(bench, part)
        finally:
            for engine in engines:  # the counts' files kept for explaining (also on an error)
                engine.measurement.forget(bench.name)
        return ItemOutcome(bench.name, parts)

    def finish(self, outcomes: list[ItemOutcome], benchmarks: list[BenchmarkDef]) -> list[SessionResult]:
        """Each configuration's each metric stored and compared on its own."""
        return [engine.finish([part for o in outcomes for part in o.parts
                               if (part.preset, part.metric) == (engine.settings.preset, engine.settings.metric)],
                              benchmarks)
                for engine in self.engines]
