"""One benchmarking session, without pytest: prepare the interpreters, run a benchmark,
compare it with its baselines, and at the end store everything and summarise.

The pytest plugin is a thin layer over this: the controller calls :meth:`Engine.resolve`
(cheap: git and the results store, enough to collect), :meth:`Engine.build` and
:meth:`Engine.finish`; every worker calls :meth:`Engine.run` once per item. Suites stay
pyperf objects here; they become JSON only on the xdist wire (:meth:`ItemOutcome.to_wire`,
:meth:`Engine.to_wire`) and in files.
"""

from __future__ import annotations

import copy
import enum
import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pyperf

from pytest_cpybench.cpython import targets, venvs
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.cpython.targets import Target
from pytest_cpybench.errors import BenchmarkError, CpybenchError, StoreError
from pytest_cpybench.measure import cpus, interleaved, processes
from pytest_cpybench.options import Settings
from pytest_cpybench.output import formatting, pages
from pytest_cpybench.results import metadata as md
from pytest_cpybench.results import store
from pytest_cpybench.results.files import load_suite
from pytest_cpybench.results.identity import RunIdentity, RunKey, default_arch
from pytest_cpybench.suite import _pyperformance
from pytest_cpybench.suite._pyperformance import BenchmarkDef
from pytest_cpybench.verdict import compare, stats

Log = Callable[[str], None]
HEAD = "head"


def dump_suite(suite: pyperf.BenchmarkSuite) -> str:
    buffer = io.StringIO()
    suite.dump(buffer)
    return buffer.getvalue()


def load_suite_text(text: str) -> pyperf.BenchmarkSuite:
    return pyperf.BenchmarkSuite.loads(text)


def merge_suites(suites: Iterable[pyperf.BenchmarkSuite | None]) -> pyperf.BenchmarkSuite | None:
    """A new suite holding copies of every result of ``suites`` (runs of a result measured
    twice are added); the inputs are left as they are."""
    merged: pyperf.BenchmarkSuite | None = None
    for suite in suites:
        if suite is None:
            continue
        benches = copy.deepcopy(list(suite.get_benchmarks()))
        if merged is None:
            merged = pyperf.BenchmarkSuite(benches)
            continue
        for bench in benches:
            if bench.get_name() in merged.get_benchmark_names():
                merged.add_runs(bench)
            else:
                merged.add_benchmark(bench)
    return merged


class BaselineKind(enum.Enum):
    STORED = "stored"  # results of the store, confirmed by re-measuring when they disagree
    MEASURE = "measure"  # built and measured in this session, interleaved with the head
    FILE = "file"  # --cpython-baseline-file: compared as it is


@dataclass
class Baseline:
    """What one ``--cpython-baseline`` entry (or the baseline file) compares against."""

    label: str
    kind: BaselineKind
    note: str
    commit: Commit | None = None
    suite: pyperf.BenchmarkSuite | None = None  # STORED / FILE: the results compared with
    target: Target | None = None  # MEASURE (after build): the interpreter
    paths: tuple[str, ...] = ()  # STORED / FILE: the files the results come from, newest first

    def to_wire(self) -> dict[str, object]:
        return {"label": self.label, "kind": self.kind.value, "note": self.note,
                "commit": asdict(self.commit) if self.commit else None,
                "suite": dump_suite(self.suite) if self.suite is not None else None,
                "target": self.target.to_wire() if self.target else None, "paths": list(self.paths)}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Baseline:
        return cls(label=data["label"], kind=BaselineKind(data["kind"]), note=data["note"],
                   commit=Commit(**data["commit"]) if data["commit"] else None,
                   suite=load_suite_text(data["suite"]) if data["suite"] else None,
                   target=Target.from_wire(data["target"]) if data["target"] else None,
                   paths=tuple(data["paths"]))


@dataclass
class Comparison:
    """One baseline compared with the head on the results of one benchmark."""

    baseline: str
    base: pyperf.BenchmarkSuite | None  # the data compared (stored subset or interleaved measurement)
    head: pyperf.BenchmarkSuite
    result: compare.SuiteComparison | None  # None: the baseline has no result of this benchmark
    confirmed: bool = False  # re-measured interleaved because the stored data was not clear
    rounds: int = 0  # interleaved rounds (0: compared with stored data as it is)
    memory: list[compare.ResultComparison] = field(default_factory=list)  # with --cpython-memory-threshold

    @property
    def verdicts(self) -> dict[str, str]:
        return {rc.name: rc.verdict.name for rc in self.result.results} if self.result else {}

    @property
    def failures(self) -> list[str]:
        if self.result is None:
            return []
        return [formatting.format_failure_message(rc, self.baseline) for rc in self.result.results
                if rc.verdict is stats.Verdict.REGRESSION] + [
                _memory_failure(rc, self.baseline) for rc in self.memory if rc.verdict is stats.Verdict.REGRESSION]

    @property
    def inconclusive(self) -> list[str]:
        if self.result is None:
            return []
        return [f"{formatting.format_result_line(rc)} vs {self.baseline}" for rc in self.result.results
                if rc.verdict is stats.Verdict.INCONCLUSIVE] + [
                f"{rc.name} peak memory: {rc.ratio:.2f}x, inconclusive: the {formatting.format_interval(rc.estimate)} "
                f"interval includes the {formatting.format_threshold(rc.threshold)} threshold vs {self.baseline}"
                for rc in self.memory if rc.verdict is stats.Verdict.INCONCLUSIVE]

    @property
    def messages(self) -> list[str]:
        if self.result is None:
            return [f"{', '.join(self.head.get_benchmark_names())}: not in baseline {self.baseline}"]
        return [formatting.format_failure_message(rc, self.baseline) if rc.verdict is stats.Verdict.REGRESSION
                else f"{formatting.format_result_line(rc)} vs {self.baseline}" for rc in self.result.results]

    def to_wire(self) -> dict[str, object]:
        return {"baseline": self.baseline, "base": dump_suite(self.base) if self.base else None,
                "head": dump_suite(self.head), "confirmed": self.confirmed, "rounds": self.rounds}


@dataclass
class ItemOutcome:
    """What measuring one benchmark produced: the head's results and each baseline's verdicts."""

    benchmark: str
    head_suite: pyperf.BenchmarkSuite
    measured_baselines: dict[str, pyperf.BenchmarkSuite] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self) -> list[str]:
        return [line for c in self.comparisons for line in c.failures]

    @property
    def inconclusive(self) -> list[str]:
        return [line for c in self.comparisons for line in c.inconclusive]

    def to_wire(self) -> str:
        """JSON for the xdist wire (a report attribute); :meth:`Engine.outcome_from_wire` reads it."""
        return json.dumps({
            "benchmark": self.benchmark, "head_suite": dump_suite(self.head_suite),
            "measured_baselines": {label: dump_suite(s) for label, s in self.measured_baselines.items()},
            "comparisons": [c.to_wire() for c in self.comparisons], "seconds": self.seconds})

    def properties(self) -> list[tuple[str, str]]:
        """Per-result facts for JUnit XML ``<property>`` entries: what CI dashboards chart."""
        props: list[tuple[str, str]] = []
        for c in self.comparisons:
            how = _how(c)
            for rc in c.result.results if c.result else []:
                prefix = f"cpybench.{rc.name}.vs.{c.baseline}"
                props += [(f"{prefix}.ratio", f"{rc.ratio:.4f}"),
                          (f"{prefix}.interval", formatting.format_interval(rc.estimate)),
                          (f"{prefix}.verdict", rc.verdict.value),
                          (f"{prefix}.base_mean", repr(rc.base_mean)),
                          (f"{prefix}.head_mean", repr(rc.head_mean)),
                          (f"{prefix}.unit", rc.unit),
                          (f"{prefix}.how", how)]
        return props


def _memory_failure(rc: compare.ResultComparison, baseline: str) -> str:
    return (f"{rc.name}: peak memory {rc.ratio:.2f}x that of {baseline} "
            f"({rc.base_mean / 2**20:.1f} MiB -> {rc.head_mean / 2**20:.1f} MiB, memory threshold "
            f"{formatting.format_threshold(rc.threshold)}, {formatting.format_confidence(rc.estimate.confidence)} interval "
            f"{formatting.format_interval(rc.estimate)})")


def _how(comparison: Comparison) -> str:
    at_once = " at once" if comparison.rounds and compare.measured_alongside(comparison.head) else ""
    if comparison.confirmed:
        return f"confirmed interleaved{at_once}, {comparison.rounds} rounds"
    return f"interleaved{at_once}, {comparison.rounds} rounds" if comparison.rounds else "stored baseline"


@dataclass
class BaselineResult:
    """One baseline against the session's head, as a whole: what the summary and pages show."""

    note: str  # where the baseline's data came from
    comparison: compare.SuiteComparison
    base: pyperf.BenchmarkSuite  # the data each verdict used, plus what the baseline has and the head lacks
    head: pyperf.BenchmarkSuite
    base_name: str  # the file the baseline's results are in (a bench_runner stem), for pages


@dataclass
class SessionResult:
    head_path: str = ""
    head_suite: pyperf.BenchmarkSuite | None = None  # every result of the head, as stored
    baselines: list[BaselineResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # results that could not be stored (exit 8)
    bisections: list[str] = field(default_factory=list)  # --cpython-bisect=yes: what each bisection found

    @property
    def comparisons(self) -> list[tuple[str, compare.SuiteComparison]]:
        return [(b.note, b.comparison) for b in self.baselines]


class Engine:
    def __init__(self, settings: Settings, log: Log = print) -> None:
        self.settings = settings
        self.log = log
        self.head: Target | None = None  # after build (or at once for --cpython-python)
        self.head_commit: Commit | None = None
        self.head_version: str | None = None  # known after resolve, before any build
        self.baselines: list[Baseline] = []
        self._venvs: dict[str, Path] = {}
        self._confirm_targets: dict[str, Target] = {}
        self._store: store.ResultsStore | None = None
        self.arch = default_arch()  # of the machine measured (a host's, for its results)

    # -- preparation (controller) -------------------------------------------------

    def prepare(self) -> None:
        """Everything a session needs before measuring: resolve, check, build."""
        self.check_tools()
        self.resolve()
        self.check_outputs()
        self.build()

    def resolve(self) -> None:
        """Resolve refs and look up stored baselines; no build (``--collect-only`` stops here)."""
        settings = self.settings
        if settings.python:
            self.head = targets.from_python(settings.python)
            self.head_version = self.head.version
        else:
            assert settings.ref
            self.head_commit = targets.resolve(settings, settings.ref)
            self.head_version = targets.source_version(self.head_commit)
        for ref in settings.baselines:
            baseline = self._resolve_baseline(ref)
            twin = next((b for b in self.baselines if _same_sources(b.commit, baseline.commit)), None)
            if twin is not None and baseline.commit is not None:
                raise CpybenchError(f"--cpython-baseline names {baseline.commit.short} twice ({twin.label} and "
                                    f"{baseline.label}): name each commit once")
            self.baselines.append(baseline)
        if settings.baseline_file:
            path = settings.baseline_file
            suite = load_suite(path)  # fails now, with the file's name, if unreadable
            if md.metric_of(suite.get_metadata()) != settings.metric:
                raise CpybenchError(f"--cpython-baseline-file={path} holds {md.metric_of(suite.get_metadata())} "
                                    f"results, this session measures {settings.metric}: give a file of the same "
                                    "metric, or the matching --cpython-metric")
            label = compare.label_from_filename(path) or Path(path).stem
            self.baselines.append(Baseline(label=label, kind=BaselineKind.FILE, note=f"from file {path}",
                                           suite=suite, paths=(str(path),)))

    def _resolve_baseline(self, ref: str) -> Baseline:
        settings = self.settings
        commit = targets.resolve(settings, ref, self.head_commit)
        if _same_sources(commit, self.head_commit):
            raise CpybenchError(f"--cpython-baseline={ref} is the same commit as --cpython-ref="
                                f"{settings.ref} ({commit.short}): name a different baseline ref")
        label = ref if ref != targets.MERGE_BASE else commit.ref
        return self._stored_or_measured(label, commit, settings.machine)

    def _stored_or_measured(self, label: str, commit: Commit, machine: str) -> Baseline:
        """The baseline ``machine``'s stored results of ``commit``, or one to measure in the session."""
        settings = self.settings
        found = self.results_store().baseline(RunKey(commit.sha, machine, settings.preset,
                                                     " ".join(settings.configure_flags), settings.metric))
        for warning in found.skipped:
            self.log(f"warning: {warning}")
        if found.suite is not None and (settings.confirm == "never" or not compare.measured_alongside(found.suite)):
            sources = ", ".join(str(p) for p in found.paths)
            return Baseline(label=label, kind=BaselineKind.STORED, note=f"stored results: {sources}",
                            commit=commit, suite=found.suite, paths=tuple(str(p) for p in found.paths))
        # Stored results measured alongside (--cpython-parallel) would be compared with a head
        # measured alone, with a margin that leaves most of them inconclusive and re-measured:
        # measuring the baseline with the head costs less (unless re-measuring is refused).
        note = ("its stored results were measured alongside other workers: built and measured in this session"
                if found.suite is not None else "not in the results store: built and measured in this session")
        return Baseline(label=label, kind=BaselineKind.MEASURE, commit=commit, note=note)

    def check_tools(self) -> None:
        """Refuse at once what cannot work on this machine: instruction counts without valgrind."""
        if self.settings.metric == md.METRIC_INSTRUCTIONS:
            processes.check_valgrind()

    def check_outputs(self) -> None:
        """Refuse before measuring, not after: an unwritable results store or JSON path."""
        if self.settings.save != "no":
            _check_writable_dir(self.settings.results_dir, "--cpython-results-dir",
                                "or --cpython-save=no to store nothing")
        if self.settings.json_path:
            _check_writable_dir(self.settings.json_path.parent, "--cpython-json", "")

    def build(self, for_confirmations: bool = False) -> None:
        """Build (or find in the cache) the head and every baseline measured in this session; with
        ``for_confirmations`` also the stored baselines a confirmation would re-measure (xdist
        workers: a build inside an item would run beside another worker's measurements)."""
        if self.head is None:
            assert self.head_commit is not None
            self.head = targets.build(self.settings, self.head_commit, self.log)
            self.head.label = self.settings.ref or self.head.label
        # Instruction counts do not drift: a stored count is never re-measured.
        confirms = (for_confirmations and self.settings.confirm != "never"
                    and self.settings.metric != md.METRIC_INSTRUCTIONS)
        for baseline in self.baselines:
            measured = baseline.kind is BaselineKind.MEASURE
            if baseline.target is None and baseline.commit is not None and (measured or confirms):
                if not measured:
                    self.log(f"baseline {baseline.label}: built now for confirmations, before the workers start")
                baseline.target = targets.build(self.settings, baseline.commit, self.log)

    def results_store(self) -> store.ResultsStore:
        if self._store is None:
            self._store = store.ResultsStore(self.settings.results_dir)
        return self._store

    # -- another machine (an xdist host): its plan, then its own builds ----------------

    def host_plan(self, machine: str) -> str:
        """What a host needs to measure this session for itself (after :meth:`resolve`): the
        commits, and the baselines as ``machine``'s store has them; no local path."""
        assert self.head_commit is not None, "hosts build at a ref: --cpython-python names a local file"
        baselines = [b if b.commit is None else self._stored_or_measured(b.label, b.commit, machine)
                     for b in self.baselines]
        return json.dumps({"machine": machine, "head": asdict(self.head_commit),
                           "baselines": [b.to_wire() for b in baselines]})

    def load_host_plan(self, text: str, repo: str) -> None:
        """A host: take the controller's plan and find its commits in ``repo``, this host's
        repository (by sha: the controller's refs may not exist here)."""
        data = json.loads(text)
        self.settings = replace(self.settings, machine=data["machine"], repo=repo)
        self.head_commit = self._here(Commit(**data["head"]))
        self.head_version = targets.source_version(self.head_commit)
        self.baselines = [Baseline.from_wire(b) for b in data["baselines"]]
        for baseline in self.baselines:
            if baseline.commit is not None:
                baseline.commit = self._here(baseline.commit)

    def _here(self, commit: Commit) -> Commit:
        found = targets.resolve(self.settings, commit.sha)
        return replace(commit, git_dir=found.git_dir)  # the controller's name for the repository stays

    # -- wire format for xdist workers ----------------------------------------------

    def to_wire(self) -> str:
        assert self.head is not None
        return json.dumps({"head": self.head.to_wire(), "baselines": [b.to_wire() for b in self.baselines]})

    def load_wire(self, text: str) -> None:
        data = json.loads(text)
        self.head = Target.from_wire(data["head"])
        self.head_version = self.head.version
        self.baselines = [Baseline.from_wire(b) for b in data["baselines"]]

    def outcome_from_wire(self, text: str) -> ItemOutcome:
        data = json.loads(text)
        comparisons = []
        for c in data["comparisons"]:
            head = load_suite_text(c["head"])
            comparisons.append(
                self._compare(c["baseline"], load_suite_text(c["base"]), head, confirmed=c["confirmed"],
                              rounds=c["rounds"]) if c["base"] else Comparison(c["baseline"], None, head, None))
        return ItemOutcome(
            benchmark=data["benchmark"], head_suite=load_suite_text(data["head_suite"]),
            measured_baselines={k: load_suite_text(v) for k, v in data["measured_baselines"].items()},
            comparisons=comparisons, seconds=data["seconds"])

    # -- running one benchmark (any worker) -------------------------------------------

    def run_options(self, deadline: float | None = None) -> processes.RunOptions:
        s = self.settings
        return processes.RunOptions(mode=s.mode, timeout=s.timeout, affinity=s.affinity,
                                 inherit_environ=list(s.inherit_env), deadline=deadline)

    def venv_for(self, target: Target, bench: BenchmarkDef) -> Path:
        venv_python = self._venvs.get(target.python)
        if venv_python is None:
            venv_python = venvs.ensure_venv(Path(target.python), self.settings.cache_dir, log=self.log,
                                            env=target.env or None, key=target.build_key or None)
            self._venvs[target.python] = venv_python
        venvs.install_requirements(venv_python, bench, log=self.log, env=target.env or None)
        return venv_python

    def side(self, label: str, target: Target, bench: BenchmarkDef) -> interleaved.Side:
        return interleaved.Side(label=label, venv_python=self.venv_for(target, bench), env=target.env,
                            identity=target.build_key or target.python)

    def run(self, bench: BenchmarkDef) -> ItemOutcome:
        """Measure one benchmark on the head (and the measured baselines) and compare."""
        assert self.head is not None
        started = time.monotonic()
        # --cpython-timeout bounds the whole item: every process of every side, confirmations included.
        options = self.run_options(deadline=started + self.settings.timeout)
        measured = [b for b in self.baselines if b.kind is BaselineKind.MEASURE]
        if measured:
            sides = [self.side(HEAD, self.head, bench)]
            sides += [self.side(b.label, _target(b), bench) for b in measured]
            suites, rounds = self._measure(bench, sides, options, [b.label for b in measured])
        elif self.settings.metric == md.METRIC_INSTRUCTIONS:
            suites, _ = self._measure(bench, [self.side(HEAD, self.head, bench)], options, [])
            rounds = 0
        else:
            head_venv = self.venv_for(self.head, bench)
            suites = {HEAD: processes.run_benchmark(head_venv, bench, replace(options, env=self.head.env),
                                                 log=self.log)}
            rounds = 0
        outcome = ItemOutcome(benchmark=bench.name, head_suite=suites[HEAD],
                              measured_baselines={b.label: suites[b.label] for b in measured})
        for baseline in self.baselines:
            if baseline.kind is BaselineKind.MEASURE:
                outcome.comparisons.append(self._compare(baseline.label, suites[baseline.label],
                                                         suites[HEAD], rounds=rounds))
            else:
                outcome.comparisons.append(self._compare_stored(baseline, bench, suites[HEAD], options))
        outcome.seconds = round(time.monotonic() - started, 2)
        return outcome

    def _measure(self, bench: BenchmarkDef, sides: list[interleaved.Side], options: processes.RunOptions,
                 labels: list[str]) -> tuple[dict[str, pyperf.BenchmarkSuite], int]:
        return self.measure(bench, sides, options, self._decided(labels))

    def measure(self, bench: BenchmarkDef, sides: list[interleaved.Side], options: processes.RunOptions,
                decided: Callable[[dict[str, pyperf.BenchmarkSuite]], bool],
                ) -> tuple[dict[str, pyperf.BenchmarkSuite], int]:
        """Every side measured: interleaved adaptive rounds of time until ``decided`` (or the budget),
        or instruction counts (deterministic: a fixed number of repetitions per side, nothing to
        interleave); returns the suites by side label and the rounds."""
        if self.settings.metric == md.METRIC_INSTRUCTIONS:
            suites = {}
            for side in sides:
                try:
                    suites[side.label] = processes.count_instructions(
                        side.venv_python, bench, replace(options, env={**options.env, **side.env}), log=self.log)
                except BenchmarkError as err:
                    err.side = side.label
                    raise
            return suites, processes.INSTRUCTION_REPETITIONS
        return interleaved.measure(bench, sides, options, self.settings.budget, decided, self.log,
                               # Loops: calibrated once per benchmark and baseline interpreter, kept in the cache.
                               calibration=interleaved.Calibration(self.settings.cache_dir, self.settings.machine),
                               cpus=self._parallel_cpus(len(sides)))

    def _parallel_cpus(self, sides: int) -> list[str] | None:
        if self.settings.parallel != "yes":
            return None
        return cpus.parallel_cpus(self.settings.affinity, sides)

    def _decided(self, labels: list[str]) -> Callable[[dict[str, pyperf.BenchmarkSuite]], bool]:
        def decided(suites: dict[str, pyperf.BenchmarkSuite]) -> bool:
            for label in labels:
                comparison = self._compare(label, suites[label], suites[HEAD], rounds=1)
                if comparison.inconclusive:
                    return False
            return True
        return decided

    def compare_pair(self, base: pyperf.BenchmarkSuite, head: pyperf.BenchmarkSuite, label: str,
                     paired: bool | set[str] = False) -> compare.SuiteComparison:
        s = self.settings
        return compare.compare_suites(base, head, threshold=s.threshold,
                                      overrides=compare.expand_overrides(head, s.thresholds),
                                      confidence=s.confidence, base_label=label, head_label=HEAD,
                                      paired=paired, paired_confidence=self.interleaved_confidence())

    def interleaved_confidence(self) -> float:
        """The confidence of each check of interleaved rounds of time, such that all the checks of one
        measurement together keep --cpython-confidence (instruction counts are not checked as they go)."""
        if self.settings.metric == md.METRIC_INSTRUCTIONS:
            return self.settings.confidence
        return interleaved.check_confidence(self.settings.confidence, self.settings.budget)

    def _compare(self, label: str, base: pyperf.BenchmarkSuite, head: pyperf.BenchmarkSuite, *,
                 confirmed: bool = False, rounds: int = 0) -> Comparison:
        """Time (and, with a memory threshold, peak memory) of one benchmark against one baseline;
        ``rounds`` > 0: measured interleaved, so processes pair up."""
        result = self.compare_pair(base, head, label, paired=rounds > 0)
        memory = []
        if self.settings.memory_threshold is not None:
            confidence = self.interleaved_confidence() if rounds > 0 else self.settings.confidence
            memory = compare.compare_memory(base, head, threshold=self.settings.memory_threshold,
                                            confidence=confidence, paired=rounds > 0)
        return Comparison(label, base, head, result, confirmed=confirmed, rounds=rounds, memory=memory)

    def _compare_stored(self, baseline: Baseline, bench: BenchmarkDef, head: pyperf.BenchmarkSuite,
                        options: processes.RunOptions) -> Comparison:
        assert baseline.suite is not None
        base = _subset(baseline.suite, set(head.get_benchmark_names()))
        can_confirm = baseline.commit is not None and self.settings.confirm != "never"
        if base is None:
            if can_confirm:
                # The stored runs did not include this benchmark: measure it now, interleaved.
                return self._confirm(baseline, bench, options)
            return Comparison(baseline.label, None, head, None)
        result = self._compare(baseline.label, base, head)
        # A stored baseline carries the drift of the day it was measured: it is trusted only to
        # say "no significant change". Anything else (a regression, but also a "faster" that
        # could hide a real slowdown behind drift) is re-measured interleaved before it counts.
        significant = any(v != stats.Verdict.UNCHANGED.name for v in result.verdicts.values()) or any(
            rc.verdict in (stats.Verdict.REGRESSION, stats.Verdict.INCONCLUSIVE) for rc in result.memory)
        if self.settings.metric == md.METRIC_INSTRUCTIONS:
            return result  # counts do not drift: a stored count is as good as one made now
        if can_confirm and (self.settings.confirm == "always" or significant):
            return self._confirm(baseline, bench, options)
        return result

    def _confirm(self, baseline: Baseline, bench: BenchmarkDef, options: processes.RunOptions) -> Comparison:
        """Re-measure baseline and head interleaved: drift since the stored run cancels out."""
        assert self.head is not None and baseline.commit is not None
        target = self._confirm_targets.get(baseline.label) or baseline.target
        if target is None:
            self.log(f"{bench.name}: confirming against {baseline.label} by interleaved re-measurement")
            build_started = time.monotonic()
            target = targets.build(self.settings, baseline.commit, self.log)
            self._confirm_targets[baseline.label] = target
            if options.deadline is not None:  # --cpython-timeout bounds measuring, not building
                options = replace(options, deadline=options.deadline + time.monotonic() - build_started)
        sides = [self.side(HEAD, self.head, bench), self.side(baseline.label, target, bench)]
        suites, rounds = self._measure(bench, sides, options, [baseline.label])
        return self._compare(baseline.label, suites[baseline.label], suites[HEAD], confirmed=True,
                             rounds=rounds)

    # -- the end of the session (controller) -------------------------------------------

    def finish(self, outcomes: list[ItemOutcome], benchmarks: list[BenchmarkDef]) -> SessionResult:
        assert self.head is not None
        result = SessionResult()
        head_suite = merge_suites(o.head_suite for o in outcomes)
        suite_meta = {md.PERFORMANCE_VERSION: _pyperformance.pyperformance_version(),
                      md.BENCHMARK_HASH: _pyperformance.suite_hash(benchmarks),
                      md.MODE: self.settings.mode, md.METRIC: self.settings.metric}
        if head_suite is not None:
            result.head_path = self._save(self.head, head_suite, suite_meta, result)
            result.head_suite = head_suite
        for baseline in self.baselines:
            base_name = Path(baseline.paths[0]).stem if baseline.paths else baseline.label
            if baseline.kind is BaselineKind.MEASURE and baseline.target:
                suite = merge_suites(o.measured_baselines.get(baseline.label) for o in outcomes)
                if suite is not None and baseline.target.build_key != self.head.build_key:
                    base_name = Path(self._save(baseline.target, suite, suite_meta, result)).stem or base_name
            compared = self._session_comparison(baseline, outcomes, head_suite, suite_meta)
            if compared is None:
                result.notes.append(f"nothing to compare with {baseline.label}: no benchmark produced results")
            else:
                result.baselines.append(BaselineResult(baseline.note, *compared, base_name=base_name))
        return result

    def publish(self, result: SessionResult, heading: str = "", append: bool = False) -> None:
        """The report pages (--cpython-report) and the CI summaries (--cpython-pr-comment,
        $GITHUB_STEP_SUMMARY); what was written goes into ``result.notes``, failures into
        ``result.errors``. With several machines each publishes under a ``heading``, the later
        ones ``append``-ing to the pull-request comment."""
        s = self.settings
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if result.head_suite is None or not (s.report_dir or s.pr_comment or step_summary):
            return
        unstored = f"head-{s.machine}-" if heading else "head-"  # several machines: pages must not collide
        head_name = Path(result.head_path).stem if result.head_path else f"{unstored}{self.head_version or 'unknown'}"
        comparisons = [b.comparison for b in result.baselines]
        memory = [compare.compare_memory(b.base, b.head, threshold=s.memory_threshold or pages.DEFAULT_MEMORY_THRESHOLD,
                                         confidence=s.confidence) for b in result.baselines]
        links: dict[str, str] = {}
        try:
            if s.report_dir:
                written = pages.write_run(
                    s.report_dir, result.head_suite, head_name,
                    [pages.Side(b.base, b.base_name, b.comparison.base_label) for b in result.baselines],
                    comparisons, memory=memory, memory_threshold=s.memory_threshold or pages.DEFAULT_MEMORY_THRESHOLD,
                    # The head's JSON is copied into the report only when it was not stored there already.
                    copy_raw=not result.head_path or s.report_dir.resolve() != s.results_dir.resolve())
                result.notes.extend(written.notes)
                result.notes.append(f"report written to {written.folder} (index: {written.index or '-'})")
                links = written.links()
            text = pages.summary_markdown(head_name, comparisons, links, memory=memory)
            if heading:
                text = f"## {heading}\n\n{text}"
            if s.pr_comment:
                s.pr_comment.parent.mkdir(parents=True, exist_ok=True)
                with open(s.pr_comment, "a" if append else "w", encoding="utf-8") as comment_file:
                    comment_file.write(text if not append else "\n" + text)
                result.notes.append(f"pull-request comment written to {s.pr_comment}")
            if step_summary:
                with open(step_summary, "a", encoding="utf-8") as summary_file:
                    summary_file.write(text + "\n")
                result.notes.append("summary appended to $GITHUB_STEP_SUMMARY")
        except OSError as err:
            result.errors.append(f"report not written: {err.strerror or err}: {err.filename or ''}")

    def _save(self, target: Target, suite: pyperf.BenchmarkSuite, suite_meta: dict[str, str],
              result: SessionResult) -> str:
        """Store (and write --cpython-json); a failure is recorded, and the summary still made."""
        stamped = md.add_to_results(suite, {**target.metadata(self.settings.machine), **suite_meta},
                                     keep_existing=True)
        saved = ""
        try:
            if target.built:
                identity = RunIdentity(
                    commit_sha=target.commit_sha, commit_date=target.commit_date, version=target.version,
                    fork=target.fork, ref=target.ref, machine=self.settings.machine,
                    arch=self.arch, preset=target.preset,
                    configure_flags=" ".join(target.configure_flags), metric=self.settings.metric)
                path = self.results_store().save(identity, stamped, self.settings.save)
                if path is not None:
                    saved = str(path)
                    result.notes.append(f"results of {target.label} stored in {path}")
            if target is self.head and self.settings.json_path:
                try:
                    stamped.dump(str(self.settings.json_path), replace=True)
                except OSError as err:
                    raise StoreError(f"cannot write --cpython-json={self.settings.json_path} "
                                     f"({err.strerror or err}): choose a writable path") from None
                result.notes.append(f"results written to {self.settings.json_path}")
                saved = saved or str(self.settings.json_path)
        except StoreError as err:
            result.errors.append(f"results of {target.label} not stored: {err}")
        return saved

    def _session_comparison(
        self, baseline: Baseline, outcomes: list[ItemOutcome], head_suite: pyperf.BenchmarkSuite | None,
        suite_meta: dict[str, str],
    ) -> tuple[compare.SuiteComparison, pyperf.BenchmarkSuite, pyperf.BenchmarkSuite] | None:
        """The baseline as a whole, with each benchmark compared on the data its verdict used."""
        used = [c for o in outcomes for c in o.comparisons if c.baseline == baseline.label and c.base]
        base = merge_suites(c.base for c in used)
        head = merge_suites(c.head for c in used)
        if baseline.suite is not None:
            # Results the baseline has but this run does not are the "missing benchmarks".
            base = _overlay(baseline.suite, base)
        head = head or head_suite
        if head is None or base is None or self.head is None:
            return None
        head_stamped = md.add_to_results(head, {**self.head.metadata(self.settings.machine), **suite_meta},
                                         keep_existing=True)
        if baseline.kind is BaselineKind.MEASURE:
            base = md.add_to_results(base, {md.MACHINE: self.settings.machine, **suite_meta}, keep_existing=True)
        # Interleaved results are paired process by process (merging benchmarks keeps them aligned).
        paired = {name for c in used if c.rounds > 0 for name in c.verdicts}
        return self.compare_pair(base, head_stamped, baseline.label, paired=paired), base, head_stamped


def _same_sources(a: Commit | None, b: Commit | None) -> bool:
    return a is not None and b is not None and (a.sha, a.worktree_hash) == (b.sha, b.worktree_hash)


def _target(baseline: Baseline) -> Target:
    assert baseline.target is not None, f"baseline {baseline.label} was not built"
    return baseline.target


def _check_writable_dir(folder: Path, option: str, alternative: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        hint = f"choose a writable directory{' ' + alternative if alternative else ''}"
        raise StoreError(f"{option}: cannot write in {folder} ({err.strerror or err}): {hint}") from None


def _subset(suite: pyperf.BenchmarkSuite, names: set[str]) -> pyperf.BenchmarkSuite | None:
    benches = [b for b in suite.get_benchmarks() if b.get_name() in names]
    return pyperf.BenchmarkSuite(benches) if benches else None


def _overlay(full: pyperf.BenchmarkSuite, used: pyperf.BenchmarkSuite | None) -> pyperf.BenchmarkSuite:
    if used is None:
        return full
    replaced = set(used.get_benchmark_names())
    benches = list(used.get_benchmarks()) + [b for b in full.get_benchmarks() if b.get_name() not in replaced]
    return pyperf.BenchmarkSuite(benches)


def select_benchmarks(settings: Settings) -> list[BenchmarkDef]:
    return _pyperformance.select(_pyperformance.load_benchmarks(settings.manifests), settings.benchmarks)
