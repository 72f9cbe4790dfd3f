"""The plugin's entry point: options, the choice of this process's role, the report header.

Kept thin on purpose: each process registers :class:`~.items.Collection` (benchmarks as items)
and one role (:mod:`.controller`, :mod:`.worker`, :mod:`.hosts`); the work happens in the plain
modules of :mod:`pytest_cpybench.session`.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace

import pytest

from pytest_cpybench.errors import EXIT_INFRASTRUCTURE, CpybenchError
from pytest_cpybench.measure import cpus
from pytest_cpybench.options import OPTIONS, Budget, Settings, check_machine, settings_from
from pytest_cpybench.plugin import gateways, hookspecs
from pytest_cpybench.plugin.controller import Controller
from pytest_cpybench.plugin.hosts import GATEWAY_ERRORS, PLAN_KEY, HostsController, HostWorker
from pytest_cpybench.plugin.items import Collection, take_benchmark_args
from pytest_cpybench.plugin.role import ROLE_KEY, Role
from pytest_cpybench.plugin.worker import Worker
from pytest_cpybench.results.identity import default_arch
from pytest_cpybench.session.measurement import sides_line
from pytest_cpybench.suite import _pyperformance, definitions, selection


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cpybench", "pytest-cpybench: benchmark a CPython build")
    for option in OPTIONS:
        if not option.ini_only:
            group.addoption(option.flag, dest=option.ini,
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
        settings, arch = _machine_info(config, settings)
        known = _pyperformance.load_benchmarks(settings.manifests)
        selected = selection.select(known, settings.benchmarks)
        notes = selection.selection_notes(known, settings.benchmarks)
        requested = take_benchmark_args(config, known, settings.presets)
        role = _role(config, settings, known, notes)
    except CpybenchError as exc:
        raise pytest.UsageError(str(exc)) from None
    role.gate.use(arch=arch)
    for tag in selection.known_tags(known):
        config.addinivalue_line("markers", f"{tag}: pyperformance benchmarks tagged {tag!r}")
    config.stash[ROLE_KEY] = role
    config.pluginmanager.register(Collection(role, selected, known, requested), "cpybench-collection")
    config.pluginmanager.register(role, "cpybench-session")


def _machine_info(config: pytest.Config, settings: Settings) -> tuple[Settings, str]:
    """The machine's name and architecture, after the project's ``pytest_cpybench_machine_info``."""
    info = {"machine": settings.machine, "arch": default_arch()}
    config.hook.pytest_cpybench_machine_info(config=config, machine_info=info)
    machine = check_machine(str(info.get("machine", "")), "pytest_cpybench_machine_info's machine")
    return replace(settings, machine=machine), str(info.get("arch") or default_arch())


def _role(config: pytest.Config, settings: Settings, known: list[definitions.BenchmarkDef],
          notes: list[str]) -> Role:
    """This process's part: an xdist worker's (sent by its controller), else a controller's, which
    refuses the xdist distributions the results would not survive."""
    if hasattr(config, "workerinput"):
        return HostWorker(config, settings) if PLAN_KEY in config.workerinput else Worker(config, settings)
    specs = getattr(config.option, "tx", None) or []  # xdist sets it from -n or --tx
    dist = getattr(config.option, "dist", "no")
    if settings.affinity:
        cpus.usable_cpus(settings.affinity)  # CPUs this process may not use: refused now, not per item
    hosts_mode, worker_cpus = False, None
    if specs and dist != "no":
        found = gateways.gateways(specs)
        hosts_mode = gateways.check_distribution(found, dist, settings.machine)
        if hosts_mode:
            gateways.check_host_settings(settings, remote=not all(gateway.local for gateway in found))
        worker_cpus = gateways.local_worker_cpus(specs, settings.affinity)
    kind = HostsController if hosts_mode else Controller
    return kind(config, settings, known, notes, worker_cpus)


@pytest.hookimpl(wrapper=True)
def pytest_sessionstart(session: pytest.Session) -> Generator[None, None, None]:
    """xdist reaches its ``--tx`` hosts when the session starts: one it cannot reach is a one-line
    error, not a page of INTERNALERROR."""
    try:
        return (yield)
    except GATEWAY_ERRORS as exc:
        if not isinstance(session.config.stash.get(ROLE_KEY, None), HostsController):
            raise
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        pytest.exit(f"cpybench: cannot reach an xdist host ({reason}): check its --tx spec, that ssh to it works "
                    "without a password, and that python= names an interpreter with this plugin there",
                    returncode=EXIT_INFRASTRUCTURE)


def _budget_text(budget: Budget) -> str:
    if budget.pyperformance_multiple is not None:
        return (f"auto (at most {budget.processes} rounds and {budget.pyperformance_multiple:g}x "
                f"pyperformance's time per side)")
    return f"{budget.seconds:g}s" if budget.seconds is not None else str(budget.processes)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    role = config.stash.get(ROLE_KEY, None)
    if role is None:
        return None
    s = role.settings
    thresholds = ",".join(f"{m}:{s.metric_thresholds[m]:.0%}" for m in s.metrics) if len(s.metrics) > 1 \
        else f"{s.threshold:.0%}"
    lines = [f"cpybench: ref={s.ref or '-'} python={s.python or '-'} build={','.join(s.presets)} "
             f"metric={','.join(s.metrics)} mode={s.mode} threshold={thresholds} budget={_budget_text(s.budget)} "
             f"baselines={','.join(s.baselines) or '-'} machine={s.machine} cache={s.cache_dir} "
             f"results={s.results_dir}"]
    if isinstance(role, HostsController):
        lines.append("cpybench: each host measures its sides at once or in turn, as its cores allow "
                     "and whether they slow each other down")
    elif isinstance(role, Controller):
        lines.append(f"cpybench: {sides_line(s, role.worker_cpus, check=not config.option.collectonly)}")
    return lines
