"""One benchmarking session, without pytest: plan, measure each benchmark and compare it, store.

The pytest plugin is a thin layer over this: the controller calls :meth:`Engine.resolve` (cheap:
git and the results store, enough to collect), :meth:`Engine.build` and :meth:`Engine.finish`;
every worker calls :meth:`Engine.run` once per item. What to measure is the :class:`.plan.Plan`;
how, the :class:`.measurement.Measurement` the options ask for; what comes out, the data of
:mod:`.model` (text is made from it in :mod:`pytest_cpybench.output`).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyperf

from pytest_cpybench.cpython import targets, venvs
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.cpython.targets import Target
from pytest_cpybench.errors import CpybenchError, StoreError
from pytest_cpybench.explain import profiler, pystats
from pytest_cpybench.explain.model import UNEXPLAINED, Explanation, PystatsDiff
from pytest_cpybench.measure import cpus, threads
from pytest_cpybench.measure.interleaved import Side
from pytest_cpybench.measure.processes import Log, RunOptions
from pytest_cpybench.options import Settings
from pytest_cpybench.results import metadata as md
from pytest_cpybench.results.identity import RunIdentity, default_arch, stamp
from pytest_cpybench.results.store import ResultsStore
from pytest_cpybench.results.suites import merge_suites, overlay
from pytest_cpybench.session import plan as planning
from pytest_cpybench.session import wire
from pytest_cpybench.session.measurement import Decided, Measured, measurement_for
from pytest_cpybench.session.model import (
    HEAD,
    Baseline,
    BaselineKind,
    BaselineResult,
    Comparison,
    MetricOutcome,
    SessionResult,
)
from pytest_cpybench.session.plan import Plan
from pytest_cpybench.suite import _pyperformance, definitions, selection
from pytest_cpybench.suite.definitions import BenchmarkDef
from pytest_cpybench.verdict import compare
from pytest_cpybench.verdict.stats import Verdict

FREE_THREADED = "nogil"  # the preset whose thread-using benchmarks are also timed at 1 and N threads


class Engine:
    def __init__(self, settings: Settings, log: Log = print) -> None:
        self.log = log
        self.settings = settings
        self.plan = Plan()
        self.arch = default_arch()  # of the machine measured (a host's, for its results)
        self._venvs: dict[str, Path] = {}
        self._confirm_targets: dict[str, Target] = {}
        self._store: ResultsStore | None = None
        # Whether :meth:`explain` follows :meth:`run` (the gate's items): the counts' files are kept until then.
        self.explaining = False

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self._settings = settings
        self.measurement = measurement_for(settings, self.log)

    # The plan's parts, as the plugin and the harness read them.
    @property
    def head(self) -> Target | None:
        return self.plan.head

    @property
    def head_commit(self) -> Commit | None:
        return self.plan.head_commit

    @property
    def head_version(self) -> str | None:
        return self.plan.head_version

    @property
    def baselines(self) -> list[Baseline]:
        return self.plan.baselines

    def results_store(self) -> ResultsStore:
        if self._store is None:
            self._store = ResultsStore(self.settings.results_dir)
        return self._store

    # -- preparation (controller) -------------------------------------------------

    def prepare(self) -> None:
        """Everything a session needs before measuring: check, resolve, build."""
        self.check_tools()
        self.resolve()
        self.check_outputs()
        self.build()

    def check_tools(self) -> None:
        """Refuse at once what cannot work on this machine (instruction counts without valgrind)."""
        self.measurement.check_tools()

    def resolve(self) -> None:
        self.plan = planning.resolve(self.settings, self.results_store(), self.log)

    def check_outputs(self) -> None:
        planning.check_outputs(self.settings)

    def build(self, for_confirmations: bool = False) -> None:
        """Build the head and the baselines measured in this session; ``for_confirmations``: also
        the stored ones an item may measure (workers must not build beside each other's rounds)."""
        confirm_stored = for_confirmations and self.settings.confirm != "never"
        planning.build(self.plan, self.settings, self.log, confirm_stored=confirm_stored)

    # -- the plan on the xdist wire -------------------------------------------------

    def to_wire(self) -> str:
        assert self.head is not None
        return wire.dump_plan(self.plan)

    def load_wire(self, text: str) -> None:
        self.plan, _extra = wire.load_plan(text)

    def host_plan(self, machine: str) -> str:
        """What a host needs to measure this session for itself (after :meth:`resolve`)."""
        plan = planning.for_machine(self.plan, self.settings, self.results_store(), self.log, machine)
        return wire.dump_plan(plan, machine=machine)

    def load_host_plan(self, text: str, repo: str) -> dict[str, object]:
        """A host: take the controller's plan, find its commits in ``repo``; the plan's extra keys."""
        plan, extra = wire.load_plan(text)
        self.settings = replace(self.settings, machine=str(extra["machine"]), repo=repo)
        self.plan = planning.on_this_host(plan, repo, self.settings.cache_dir)
        return extra

    def outcome_from_wire(self, data: dict[str, Any]) -> MetricOutcome:
        """A worker's outcome, compared again with this engine's settings."""
        outcome, comparisons = wire.outcome_from(data)
        outcome.comparisons = [
            self._compare(c["baseline"], c["base"], c["head"], confirmed=c["confirmed"], rounds=c["rounds"])
            if c["base"] else Comparison(c["baseline"], None, c["head"], None, metric=self.settings.metric)
            for c in comparisons]
        return outcome

    # -- one benchmark (any worker) ---------------------------------------------------

    def run_options(self, deadline: float | None = None) -> RunOptions:
        s = self.settings
        return RunOptions(mode=s.mode, timeout=s.timeout, affinity=s.affinity, inherit_environ=list(s.inherit_env),
                          deadline=deadline, reload=s.reload == "round")

    def venv_for(self, target: Target, bench: BenchmarkDef) -> Path:
        venv_python = self._venvs.get(target.python)
        if venv_python is None:
            venv_python = venvs.ensure_venv(Path(target.python), self.settings.cache_dir, log=self.log,
                                            env=target.env or None, key=target.build_key or None)
            self._venvs[target.python] = venv_python
        venvs.install_requirements(venv_python, bench, log=self.log, env=target.env or None)
        return venv_python

    def side(self, label: str, target: Target, bench: BenchmarkDef) -> Side:
        return Side(label=label, venv_python=self.venv_for(target, bench), env=target.env,
                    identity=target.build_key or target.python)

    def run(self, bench: BenchmarkDef) -> MetricOutcome:
        """Measure one benchmark on the head and compare it with every baseline.

        The head is measured once: interleaved with the baselines measured in this session, and
        with any stored baseline whose store lacks this benchmark's results measured alike
        (:meth:`.measurement.Measurement.alike`); alone when none is."""
        assert self.head is not None
        started = time.monotonic()
        # --cpython-timeout bounds the whole item: every process of every side, confirmations included.
        options = self.run_options(deadline=started + self.settings.timeout)
        stored = {b.label: self._stored_of(b, bench) for b in self.baselines if not b.measured}
        now = [b for b in self.baselines if b.measured or (stored[b.label] is None and self._can_measure(b))]
        head = self.side(HEAD, self.head, bench)
        if now:
            sides = [head]
            for baseline in now:
                target, options = self._target_of(baseline, bench, options)
                sides.append(self.side(baseline.label, target, bench))
            done = self.measure(bench, sides, options, self._decided([b.label for b in now]))
            if self.settings.decide == "item":
                self._mark_undecided(done, [b.label for b in now])
        else:
            done = Measured({HEAD: self.measurement.measure_alone(bench, head, options)}, 0)
        outcome = MetricOutcome(benchmark=bench.name, head_suite=done.suites[HEAD],
                                measured_baselines={b.label: done.suites[b.label] for b in now if b.measured},
                                metric=self.settings.metric, preset=self.settings.preset)
        for baseline in self.baselines:
            if baseline.label in done.suites:
                outcome.comparisons.append(self._compare(baseline.label, done.suites[baseline.label],
                                                         done.suites[HEAD], rounds=done.rounds))
            else:
                outcome.comparisons.append(self._compare_stored(baseline, stored[baseline.label], bench,
                                                                done.suites[HEAD], options))
        if self.settings.preset == FREE_THREADED and self.settings.metric == md.METRIC_TIME:
            outcome.notes.extend(self.thread_scaling(bench, [(HEAD, self.head)] + [
                (b.label, b.target) for b in now if b.measured and b.target is not None]))
        outcome.seconds = round(time.monotonic() - started, 2)
        if not self.explaining:
            self.measurement.forget(bench.name)
        return outcome

    def thread_scaling(self, bench: BenchmarkDef, sides: list[tuple[str, Target]]) -> list[str]:
        """A free-threaded build: the benchmark's thread-using function at 1 and N threads on each
        side (N: the CPUs this session may use), one line each; nothing for other benchmarks."""
        if threads.thread_benchmark(bench.name) is None:
            return []
        count = len(cpus.usable_cpus(self.settings.affinity))
        if count < 2:
            return [f"thread scaling of {bench.name}: not measured, this session may use one CPU"]
        lines = []
        for label, target in sides:
            try:
                scaling = threads.measure_scaling(self.venv_for(target, bench), bench.runscript, bench.name, count,
                                                  env={**os.environ, **target.env} if target.env else None)
            except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as err:
                lines.append(f"thread scaling of {bench.name} on {label}: not measured: {err}")
                continue
            lines.append(f"thread scaling, {scaling.text(label)}")
        return lines
    # -- why a result is slower (--cpython-explain) ------------------------------------------

    def explain(self, bench: BenchmarkDef, outcome: MetricOutcome) -> list[Explanation]:
        """Triage, profiles and pystats of the results --cpython-explain asks for (auto: profiles of
        failing ones; profile: profiles of every significant one; pystats: pystats of failing ones; all:
        both of every significant one), against each baseline with an interpreter to run; what cannot be
        done is a note, and the verdicts stay as they are."""
        if self.settings.explain == "no" or self.head is None:
            return []
        every_significant = self.settings.explain in ("profile", "all")
        found: list[Explanation] = []
        for comparison in outcome.comparisons:
            wanted = [rc for rc in comparison.results
                      if rc.verdict is Verdict.REGRESSION or (every_significant and rc.verdict.is_significant_change)]
            if not wanted:
                continue
            baseline = next(b for b in self.baselines if b.label == comparison.baseline)
            threshold = max(rc.threshold for rc in wanted)
            found.extend(self.explain_against(bench, baseline, [rc.name for rc in wanted], threshold=threshold,
                                              base_suite=comparison.base, head_suite=comparison.head))
        return found

    def explain_against(self, bench: BenchmarkDef, baseline: Baseline, results: list[str], *,
                        threshold: float | None = None, base_suite: pyperf.BenchmarkSuite | None = None,
                        head_suite: pyperf.BenchmarkSuite | None = None) -> list[Explanation]:
        """``results`` of ``bench`` ([]: all of them) explained against ``baseline`` (built if it was
        not); with the suites of a verdict, the bimodal triage reads their values. What cannot be done
        is an "unexplained" explanation saying why, never an error."""
        assert self.head is not None
        if baseline.target is None and baseline.commit is None and baseline.label not in self._confirm_targets:
            return [Explanation(name, baseline.label, UNEXPLAINED, "not profiled: the baseline is a file, with no "
                                "interpreter to run") for name in results]
        options = self.run_options(deadline=time.monotonic() + self.settings.timeout)
        try:
            target, options = self._target_of(baseline, bench, options)
            pair = profiler.Pair(bench, self.side(baseline.label, target, bench), self.side(HEAD, self.head, bench),
                                 self.head.version, results, self.settings.metric,
                                 threshold=self.settings.threshold if threshold is None else threshold,
                                 base_suite=base_suite, head_suite=head_suite)
            pair.counted = self.measurement.kept_counts(bench.name)
            where = self._where(bench, baseline.label)
            return profiler.explain(pair, options, where, profiles=self._profiles(), log=self.log,
                                    pystats=self._pystats(bench, baseline, where.folder))
        except CpybenchError as err:
            self.log(f"{bench.name}: not explained against {baseline.label}: {err}")
            return [Explanation(name, baseline.label, UNEXPLAINED, f"not explained: {err}")
                    for name in results or [bench.name]]

    def _profiles(self) -> list[str]:
        """instructions always (under time it also tells code from layout); time under the time metric;
        none with --cpython-explain=pystats."""
        if self.settings.explain == "pystats":
            return []
        return ["instructions", "time"] if self.settings.metric == md.METRIC_TIME else ["instructions"]

    def _pystats(self, bench: BenchmarkDef, baseline: Baseline,
                 folder: Path) -> Callable[[Sequence[str]], PystatsDiff] | None:
        """How the pystats comparison of ``bench`` against ``baseline`` is made (--cpython-explain=pystats
        or all): both commits built with --enable-pystats, the JSON files kept in ``folder``."""
        if self.settings.explain not in ("pystats", "all"):
            return None
        s = self.settings
        base, head = baseline.commit, self.head_commit
        if base is None or head is None:
            which = baseline.label if base is None else HEAD
            line = f"no pystats: {which} is an interpreter, not a commit to build with --enable-pystats"
            return lambda results: PystatsDiff(bench.name, unavailable=line)
        return lambda results: pystats.pystats_diff(
            base, head, bench, folder, cache_dir=s.cache_dir, results=results, configure_flags=s.configure_flags,
            jobs=s.jobs, timeout=s.timeout, log=self.log)

    def _where(self, bench: BenchmarkDef, baseline: str) -> profiler.Where:
        """The raw files of one benchmark's explanation against one baseline, beside the results store:
        ``<results dir>/explain/<date>-<benchmark>-<head>-vs-<baseline>-<metric>/``."""
        assert self.head is not None
        head = self.head.commit_sha[:7] or Path(self.head.python).name
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = _safe(f"{stamp}-{bench.name}-{head}-vs-{baseline}-{self.settings.metric}")
        workers = 1 if self.settings.parallel == "no" else len(cpus.usable_cpus(self.settings.affinity))
        return profiler.Where(self.settings.cache_dir, self.settings.machine,
                              self.settings.results_dir / EXPLAIN_FOLDER / name, workers)

    def _stored_of(self, baseline: Baseline, bench: BenchmarkDef) -> pyperf.BenchmarkSuite | None:
        """The baseline's stored results of ``bench`` that a head measured alone compares with (all
        of them with --cpython-confirm=never: then unlike ones are compared with a margin)."""
        assert baseline.suite is not None
        results = [r for r in baseline.suite.get_benchmarks() if _produced_by(r, bench)]
        if not results:
            return None
        if self.settings.confirm != "never" and not all(self.measurement.alike(r) for r in results):
            self.log(f"{bench.name}: {baseline.label}'s stored results were measured otherwise than the head "
                     "is: measured again with it")
            return None
        return pyperf.BenchmarkSuite(results)

    def _can_measure(self, baseline: Baseline) -> bool:
        return baseline.commit is not None and self.settings.confirm != "never"

    def _target_of(self, baseline: Baseline, bench: BenchmarkDef, options: RunOptions) -> tuple[Target, RunOptions]:
        """The baseline's interpreter, built now if it was not (the options' deadline moved by the
        build's time: --cpython-timeout bounds measuring, not building)."""
        target = baseline.target or self._confirm_targets.get(baseline.label)
        if target is not None:
            return target, options
        assert baseline.commit is not None
        self.log(f"{bench.name}: building {baseline.label} to measure it beside the head")
        build_started = time.monotonic()
        target = targets.build(baseline.commit, self.settings.build_config, self.settings.cache_dir, self.log)
        self._confirm_targets[baseline.label] = target
        if options.deadline is not None:
            options = replace(options, deadline=options.deadline + time.monotonic() - build_started)
        return target, options

    def measure(self, bench: BenchmarkDef, sides: list[Side], options: RunOptions, decided: Decided) -> Measured:
        """Every side measured as the session's measurement does it (the harness and the bisector
        measure through this too); the counts' files are kept only for an engine that explains."""
        done = self.measurement.measure(bench, sides, options, decided)
        if not self.explaining:
            self.measurement.forget(bench.name)
        return done

    def _decided(self, labels: list[str]) -> Decided:
        """Whether the interleaved rounds may stop: every result decided, or (--cpython-decide=item)
        one failed, so that the item fails whatever the others do."""
        def decided(suites: dict[str, pyperf.BenchmarkSuite]) -> bool:
            comparisons = [self._compare(label, suites[label], suites[HEAD], rounds=1, looking=True)
                           for label in labels]
            if self.settings.decide == "item" and any(c.failed for c in comparisons):
                return True
            return not any(c.undecided for c in comparisons)
        return decided

    def _mark_undecided(self, done: Measured, labels: list[str]) -> None:
        """After rounds that stopped on a failure, mark the results left undecided as partial: they
        are reported as they stood and never become a baseline. Rounds the cost cap or the timeout
        cut short were not stopped by the failure: their undecided results are just inconclusive."""
        if done.cut_short:
            return
        comparisons = [self._compare(label, done.suites[label], done.suites[HEAD], rounds=done.rounds)
                       for label in labels]
        if not any(c.failed for c in comparisons):
            return
        undecided = {rc.name for c in comparisons for rc in c.with_verdict(Verdict.INCONCLUSIVE)}
        for suite in done.suites.values():
            md.mark_results(suite, undecided, {md.PARTIAL: 1})

    def compare_pair(self, base: pyperf.BenchmarkSuite, head: pyperf.BenchmarkSuite, label: str,
                     paired: bool | set[str] = False,
                     paired_confidence: float | Mapping[str, float] | None = None) -> compare.SuiteComparison:
        """``paired_confidence``: of the paired results' intervals (by result name, or one for all);
        None: a look's (:meth:`interleaved_confidence`)."""
        s = self.settings
        return compare.compare_suites(base, head, threshold=s.threshold,
                                      overrides=compare.expand_overrides(head, s.thresholds),
                                      confidence=s.confidence, base_label=label, head_label=HEAD, paired=paired,
                                      paired_confidence=paired_confidence or self.interleaved_confidence())

    def interleaved_confidence(self) -> float:
        """The confidence of each look at interleaved data, such that all the looks of one
        measurement together keep --cpython-confidence."""
        return self.measurement.check_confidence(self.settings.confidence)

    def final_confidence(self, rounds: int) -> float:
        """The confidence of the verdict of a measurement that stopped after ``rounds`` rounds."""
        return self.measurement.final_confidence(self.settings.confidence, rounds)

    def _compare(self, label: str, base: pyperf.BenchmarkSuite, head: pyperf.BenchmarkSuite, *,
                 confirmed: bool = False, rounds: int = 0, looking: bool = False) -> Comparison:
        """Time (and, with a memory threshold, peak memory) of one benchmark against one baseline;
        ``rounds`` > 0: measured interleaved, so processes pair up; ``looking``: a check while the
        rounds go on (its confidence a look's), else the verdict of the rounds that were made."""
        paired_confidence = self.interleaved_confidence() if looking or rounds == 0 else self.final_confidence(rounds)
        result = self.compare_pair(base, head, label, paired=rounds > 0, paired_confidence=paired_confidence)
        memory = []
        if self.settings.memory_threshold is not None:
            confidence = paired_confidence if rounds > 0 else self.settings.confidence
            memory = compare.compare_memory(base, head, threshold=self.settings.memory_threshold,
                                            confidence=confidence, paired=rounds > 0)
        return Comparison(label, base, head, result, confirmed=confirmed, rounds=rounds, memory=memory,
                          metric=self.settings.metric)

    def _compare_stored(self, baseline: Baseline, base: pyperf.BenchmarkSuite | None, bench: BenchmarkDef,
                        head: pyperf.BenchmarkSuite, options: RunOptions) -> Comparison:
        """The head against stored results of ``bench`` (None: the store has none), confirmed by
        measuring both sides again when the measurement says the stored data could mislead."""
        if base is None:
            return Comparison(baseline.label, None, head, None, metric=self.settings.metric)
        result = self._compare(baseline.label, base, head)
        if self._can_measure(baseline) and (self.settings.confirm == "always"
                                            or self.measurement.needs_confirming(result)):
            return self._confirm(baseline, bench, options)
        return result

    def _confirm(self, baseline: Baseline, bench: BenchmarkDef, options: RunOptions) -> Comparison:
        """Measure baseline and head again, interleaved: drift since the stored run cancels out."""
        assert self.head is not None
        self.log(f"{bench.name}: confirming against {baseline.label} by interleaved re-measurement")
        target, options = self._target_of(baseline, bench, options)
        sides = [self.side(HEAD, self.head, bench), self.side(baseline.label, target, bench)]
        done = self.measure(bench, sides, options, self._decided([baseline.label]))
        if self.settings.decide == "item":
            self._mark_undecided(done, [baseline.label])
        return self._compare(baseline.label, done.suites[baseline.label], done.suites[HEAD], confirmed=True,
                             rounds=done.rounds)

    # -- the end of the session (controller) -------------------------------------------

    def finish(self, outcomes: list[MetricOutcome], benchmarks: list[BenchmarkDef]) -> SessionResult:
        """Store the head's results (and those of the baselines measured with it), and compare each
        baseline with the head as a whole. ``benchmarks``: those of the session (after ``-k`` and
        ``-m``): a baseline's results of other benchmarks are not "missing"."""
        assert self.head is not None
        result = SessionResult(metric=self.settings.metric, preset=self.settings.preset,
                               explanations=[e for o in outcomes for e in o.explanations])
        result.notes.extend(note for o in outcomes for note in o.notes)
        head_suite = merge_suites(o.head_suite for o in outcomes)
        suite_meta = {md.PERFORMANCE_VERSION: _pyperformance.pyperformance_version(),
                      md.BENCHMARK_HASH: definitions.suite_hash(benchmarks),
                      md.MODE: self.settings.mode, md.METRIC: self.settings.metric}
        if head_suite is not None:
            result.head_path = self._save(self.head, head_suite, suite_meta, result)
            identity = self._identity(self.head)
            # The pages name the run's folder from its identity, build configuration included (-NOGIL).
            result.head_suite = head_suite
            if identity is not None:
                try:
                    result.head_suite = stamp(head_suite, identity)
                except StoreError:  # what could not be stamped was reported by _save; the pages still come
                    pass
        for baseline in self.baselines:
            base_name = Path(baseline.paths[0]).stem if baseline.paths else baseline.label
            if baseline.measured and baseline.target:
                suite = merge_suites(o.measured_baselines.get(baseline.label) for o in outcomes)
                if suite is not None and baseline.target.build_key != self.head.build_key:
                    base_name = Path(self._save(baseline.target, suite, suite_meta, result)).stem or base_name
            compared = self._session_comparison(baseline, outcomes, head_suite, suite_meta, benchmarks)
            if compared is None:
                result.notes.append(f"nothing to compare with {baseline.label}: no benchmark produced results")
            else:
                result.baselines.append(BaselineResult(baseline.note, *compared, base_name=base_name))
        return result

    def _identity(self, target: Target) -> RunIdentity | None:
        """What a built target's results are stored as (None: an interpreter given by path)."""
        if not target.built:
            return None
        return RunIdentity(commit_sha=target.commit_sha, commit_date=target.commit_date, version=target.version,
                           fork=target.fork, ref=target.ref, machine=self.settings.machine, arch=self.arch,
                           preset=target.preset, configure_flags=" ".join(target.configure_flags),
                           metric=self.settings.metric)

    def _save(self, target: Target, suite: pyperf.BenchmarkSuite, suite_meta: dict[str, str],
              result: SessionResult) -> str:
        """Store (and write --cpython-json); a failure is recorded, and the summary still made."""
        stamped = md.add_to_results(suite, {**target.metadata(self.settings.machine), **suite_meta},
                                    keep_existing=True)
        saved = ""
        try:
            identity = self._identity(target)
            if identity is not None:
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
        self, baseline: Baseline, outcomes: list[MetricOutcome], head_suite: pyperf.BenchmarkSuite | None,
        suite_meta: dict[str, str], benchmarks: list[BenchmarkDef],
    ) -> tuple[compare.SuiteComparison, pyperf.BenchmarkSuite, pyperf.BenchmarkSuite] | None:
        """The baseline as a whole, with each benchmark compared on the data its verdict used."""
        used = [c for o in outcomes for c in o.comparisons if c.baseline == baseline.label and c.base]
        base = merge_suites(c.base for c in used)
        head = merge_suites(c.head for c in used)
        selected = _of_benchmarks(baseline.suite, benchmarks) if baseline.suite is not None else None
        if selected is not None:
            # Results of the session's benchmarks the baseline has but this run does not are the
            # "missing benchmarks" (an item that errored, a result a benchmark no longer makes).
            base = overlay(selected, base)
        head = head or head_suite
        if head is None or base is None or self.head is None:
            return None
        head_stamped = md.add_to_results(head, {**self.head.metadata(self.settings.machine), **suite_meta},
                                         keep_existing=True)
        if baseline.kind is BaselineKind.MEASURE:
            base = md.add_to_results(base, {md.MACHINE: self.settings.machine, **suite_meta}, keep_existing=True)
        # Interleaved results are paired process by process (merging benchmarks keeps them aligned).
        paired = {name for c in used if c.rounds > 0 for name in c.verdicts}
        confidences = {name: self.final_confidence(c.rounds) for c in used if c.rounds > 0 for name in c.verdicts}
        return (self.compare_pair(base, head_stamped, baseline.label, paired=paired, paired_confidence=confidences),
                base, head_stamped)


EXPLAIN_FOLDER = "explain"  # in the results store: the raw files of explanations (not results: no bm- prefix)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _target(baseline: Baseline) -> Target:
    assert baseline.target is not None, f"baseline {baseline.label} was not built"
    return baseline.target




def _produced_by(result: pyperf.Benchmark, bench: BenchmarkDef) -> bool:
    """Whether a stored result comes from ``bench`` (deepcopy_memo from deepcopy): its stamp, or for
    results stored without one, its name."""
    owner = result.get_metadata().get(md.BENCHMARK_NAME)
    if owner is not None:
        return owner == bench.name
    return result.get_name() == bench.name or selection.producer_of(result.get_name(), [bench]) is bench


def _of_benchmarks(suite: pyperf.BenchmarkSuite, benchmarks: list[BenchmarkDef]) -> pyperf.BenchmarkSuite | None:
    """The results of ``suite`` produced by ``benchmarks`` (None: none)."""
    kept = [r for r in suite.get_benchmarks() if any(_produced_by(r, bench) for bench in benchmarks)]
    return pyperf.BenchmarkSuite(kept) if kept else None
