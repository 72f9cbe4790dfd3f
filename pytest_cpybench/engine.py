"""One benchmarking session, without pytest: prepare the interpreters, run a benchmark,
compare it with its baselines, and at the end store everything and summarise.

The pytest plugin is a thin layer over this: the controller calls :meth:`Engine.prepare`
and :meth:`Engine.finish`; every worker calls :meth:`Engine.run` once per item. What a
worker learns about an item travels back as an :class:`ItemOutcome` in JSON.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pyperf

from . import _pyperformance, compare, report, runner, sampler, stats, store, targets, venvs
from . import metadata as md
from ._pyperformance import BenchmarkDef
from .gitrepo import Commit
from .options import Settings
from .targets import Target

Log = Callable[[str], None]
HEAD = "head"


def dump_suite(suite: pyperf.BenchmarkSuite) -> str:
    buffer = io.StringIO()
    suite.dump(buffer)
    return buffer.getvalue()


def load_suite_text(text: str) -> pyperf.BenchmarkSuite:
    return pyperf.BenchmarkSuite.loads(text)


def merge_suites(texts: Iterable[str]) -> pyperf.BenchmarkSuite | None:
    merged: pyperf.BenchmarkSuite | None = None
    for text in texts:
        suite = load_suite_text(text)
        if merged is None:
            merged = suite
            continue
        for bench in suite.get_benchmarks():
            if bench.get_name() in merged.get_benchmark_names():
                merged.add_runs(bench)
            else:
                merged.add_benchmark(bench)
    return merged


@dataclass
class Baseline:
    """What one ``--cpython-baseline`` entry compares against."""

    label: str
    kind: str  # "stored": a results file of the store; "measure": built, measured now; "file"
    note: str
    suite_path: str = ""
    commit: dict[str, str] = field(default_factory=dict)
    target: dict[str, object] | None = None

    def commit_obj(self) -> Commit | None:
        return Commit(**self.commit) if self.commit else None


@dataclass
class Comparison:
    """One baseline compared with the head on the results of one benchmark."""

    baseline: str
    base_suite: str  # pyperf JSON actually compared (stored subset or interleaved measurement)
    head_suite: str
    verdicts: dict[str, str]  # result name -> Verdict name
    messages: list[str]  # one line per result
    failures: list[str]
    inconclusive: list[str]
    confirmed: bool = False
    rounds: int = 0


@dataclass
class ItemOutcome:
    benchmark: str
    head_suite: str
    measured_baselines: dict[str, str] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ItemOutcome:
        data = json.loads(text)
        data["comparisons"] = [Comparison(**c) for c in data.get("comparisons", [])]
        return cls(**data)

    @property
    def failures(self) -> list[str]:
        return [line for c in self.comparisons for line in c.failures]

    @property
    def inconclusive(self) -> list[str]:
        return [line for c in self.comparisons for line in c.inconclusive]


class Engine:
    def __init__(self, settings: Settings, log: Log = print) -> None:
        self.settings = settings
        self.log = log
        self.head: Target | None = None
        self.head_commit: Commit | None = None
        self.baselines: list[Baseline] = []
        self._venvs: dict[str, Path] = {}
        self._targets_by_label: dict[str, Target] = {}
        self._stored_cache: dict[str, pyperf.BenchmarkSuite] = {}
        self._store: store.ResultsStore | None = None

    # -- preparation (controller) -------------------------------------------------

    def prepare(self) -> None:
        settings = self.settings
        if settings.python:
            self.head = targets.from_python(settings.python)
        else:
            assert settings.ref
            self.head_commit = targets.resolve(settings, settings.ref)
            self.head = targets.build(settings, self.head_commit, self.log)
        self.head.label = settings.ref or self.head.label
        for ref in settings.baselines:
            self.baselines.append(self._prepare_baseline(ref))
        if settings.baseline_file:
            path = settings.baseline_file
            # Fail now, with the file's name, if it is unreadable; keep it for the comparisons.
            self._stored_cache[str(path)] = compare.load_suite(path)
            label = compare.label_from_filename(path) or Path(path).stem
            self.baselines.append(Baseline(label=label, kind="file", note=f"from file {path}",
                                           suite_path=str(path)))

    def _prepare_baseline(self, ref: str) -> Baseline:
        settings = self.settings
        commit = targets.resolve(settings, ref, self.head_commit)
        label = ref if ref != targets.MERGE_BASE else commit.ref
        results = self.results_store()
        seen = len(results.warnings)
        found = results.latest(commit.sha, settings.machine, settings.preset, " ".join(settings.configure_flags))
        for warning in results.warnings[seen:]:
            self.log(f"warning: {warning}")
        commit_data = asdict(commit)
        if found is not None:
            path, suite = found
            self._stored_cache[str(path)] = suite  # read once here; workers read their own copy
            return Baseline(label=label, kind="stored", note=f"stored results: {path}", suite_path=str(path),
                            commit=commit_data)
        target = targets.build(settings, commit, self.log)
        return Baseline(label=label, kind="measure", commit=commit_data, target=target.to_wire(),
                        note="not in the results store: built and measured in this session")

    def results_store(self) -> store.ResultsStore:
        if self._store is None:
            self._store = store.ResultsStore(self.settings.results_dir)
        return self._store

    # -- wire format for xdist workers ----------------------------------------------

    def to_wire(self) -> str:
        assert self.head is not None
        return json.dumps({"head": self.head.to_wire(), "baselines": [asdict(b) for b in self.baselines]})

    def load_wire(self, text: str) -> None:
        data = json.loads(text)
        self.head = Target.from_wire(data["head"])
        self.baselines = [Baseline(**b) for b in data["baselines"]]

    # -- running one benchmark (any worker) -------------------------------------------

    def run_options(self) -> runner.RunOptions:
        s = self.settings
        return runner.RunOptions(mode=s.mode, timeout=s.timeout, affinity=s.affinity,
                                 inherit_environ=list(s.inherit_env))

    def venv_for(self, target: Target, bench: BenchmarkDef) -> Path:
        venv_python = self._venvs.get(target.python)
        if venv_python is None:
            venv_python = venvs.ensure_venv(Path(target.python), self.settings.cache_dir, log=self.log,
                                            env=target.env or None, key=target.build_key or None)
            self._venvs[target.python] = venv_python
        venvs.install_requirements(venv_python, bench, log=self.log, env=target.env or None)
        return venv_python

    def side(self, label: str, target: Target, bench: BenchmarkDef) -> sampler.Side:
        return sampler.Side(label=label, venv_python=self.venv_for(target, bench), env=target.env)

    def run(self, bench: BenchmarkDef) -> ItemOutcome:
        assert self.head is not None
        started = time.monotonic()
        measured = [b for b in self.baselines if b.kind == "measure"]
        options = self.run_options()
        if measured:
            sides = [self.side(HEAD, self.head, bench)]
            sides += [self.side(b.label, Target.from_wire(b.target or {}), bench) for b in measured]
            suites, rounds = sampler.measure(bench, sides, options, self.settings.budget,
                                             self._decided(measured), self.log)
        else:
            head_venv = self.venv_for(self.head, bench)
            head_options = replace(options, env=self.head.env)
            suites = {HEAD: runner.run_benchmark(head_venv, bench, head_options, log=self.log)}
            rounds = 0
        outcome = ItemOutcome(benchmark=bench.name, head_suite=dump_suite(suites[HEAD]),
                              measured_baselines={b.label: dump_suite(suites[b.label]) for b in measured})
        for baseline in self.baselines:
            if baseline.kind == "measure":
                outcome.comparisons.append(self._compare(baseline.label, suites[baseline.label],
                                                         suites[HEAD], rounds=rounds))
            else:
                outcome.comparisons.append(self._compare_stored(baseline, bench, suites[HEAD]))
        outcome.seconds = round(time.monotonic() - started, 2)
        return outcome

    def _decided(self, measured: list[Baseline]) -> Callable[[dict[str, pyperf.BenchmarkSuite]], bool]:
        def decided(suites: dict[str, pyperf.BenchmarkSuite]) -> bool:
            for baseline in measured:
                cmp = self.compare_pair(suites[baseline.label], suites[HEAD], baseline.label, paired=True)
                if any(rc.verdict is stats.Verdict.INCONCLUSIVE for rc in cmp.results):
                    return False
            return True
        return decided

    def compare_pair(self, base: pyperf.BenchmarkSuite, head: pyperf.BenchmarkSuite, label: str,
                     paired: bool | set[str] = False) -> compare.SuiteComparison:
        s = self.settings
        # An override may name a result (deepcopy_memo) or the benchmark producing it (deepcopy).
        overrides = dict(s.thresholds)
        for result in head.get_benchmarks():
            owner = result.get_metadata().get(md.BENCHMARK_NAME)
            if owner in s.thresholds:
                overrides.setdefault(result.get_name(), s.thresholds[owner])
        return compare.compare_suites(base, head, threshold=s.threshold, overrides=overrides,
                                      confidence=s.confidence, base_label=label, head_label=HEAD,
                                      paired=paired)

    def _compare(self, label: str, base: pyperf.BenchmarkSuite, head: pyperf.BenchmarkSuite, *,
                 confirmed: bool = False, rounds: int = 0) -> Comparison:
        cmp = self.compare_pair(base, head, label, paired=rounds > 0)
        failures, inconclusive, messages, verdicts = [], [], [], {}
        for rc in cmp.results:
            verdicts[rc.name] = rc.verdict.name
            if rc.verdict is stats.Verdict.REGRESSION:
                line = report.format_failure_message(rc, label)
                failures.append(line)
            else:
                line = report.format_result_line(rc) + f" vs {label}"
                if rc.verdict is stats.Verdict.INCONCLUSIVE:
                    inconclusive.append(line)
            messages.append(line)
        return Comparison(baseline=label, base_suite=dump_suite(base), head_suite=dump_suite(head),
                          verdicts=verdicts, messages=messages, failures=failures, inconclusive=inconclusive,
                          confirmed=confirmed, rounds=rounds)

    def stored_suite(self, baseline: Baseline) -> pyperf.BenchmarkSuite:
        if baseline.suite_path not in self._stored_cache:
            self._stored_cache[baseline.suite_path] = compare.load_suite(baseline.suite_path)
        return self._stored_cache[baseline.suite_path]

    def _compare_stored(self, baseline: Baseline, bench: BenchmarkDef,
                        head: pyperf.BenchmarkSuite) -> Comparison:
        names = set(head.get_benchmark_names())
        stored = self.stored_suite(baseline)
        base = _subset(stored, names)
        if base is None:
            if baseline.commit and self.settings.confirm != "never":
                # The stored run did not include this benchmark: measure it now, interleaved.
                return self._confirm(baseline, bench)
            return Comparison(baseline=baseline.label, base_suite="", head_suite=dump_suite(head), verdicts={},
                              messages=[f"{bench.name}: not in baseline {baseline.label}"], failures=[],
                              inconclusive=[])
        result = self._compare(baseline.label, base, head)
        # A stored baseline carries the drift of the day it was measured: it is trusted only to
        # say "no significant change". Anything else (a regression, but also a "faster" that
        # could hide a real slowdown behind drift) is re-measured interleaved before it counts.
        significant = any(v != stats.Verdict.UNCHANGED.name for v in result.verdicts.values())
        needs_confirmation = self.settings.confirm == "always" or (
            self.settings.confirm == "auto" and significant)
        if needs_confirmation and baseline.commit:
            return self._confirm(baseline, bench)
        return result

    def _confirm(self, baseline: Baseline, bench: BenchmarkDef) -> Comparison:
        """Re-measure baseline and head interleaved: drift since the stored run cancels out."""
        assert self.head is not None
        target = self._targets_by_label.get(baseline.label)
        if target is None:
            commit = baseline.commit_obj()
            assert commit is not None
            self.log(f"{bench.name}: confirming against {baseline.label} by interleaved re-measurement")
            target = targets.build(self.settings, commit, self.log)
            self._targets_by_label[baseline.label] = target
        sides = [self.side(HEAD, self.head, bench), self.side(baseline.label, target, bench)]
        check = Baseline(label=baseline.label, kind="measure", note="")
        suites, rounds = sampler.measure(bench, sides, self.run_options(), self.settings.budget,
                                         self._decided([check]), self.log)
        return self._compare(baseline.label, suites[baseline.label], suites[HEAD], confirmed=True,
                             rounds=rounds)

    # -- the end of the session (controller) -------------------------------------------

    def finish(self, outcomes: list[ItemOutcome], benchmarks: list[BenchmarkDef]) -> SessionResult:
        assert self.head is not None
        result = SessionResult()
        head_suite = merge_suites(o.head_suite for o in outcomes)
        suite_meta = {md.PERFORMANCE_VERSION: _pyperformance.pyperformance_version(),
                      md.BENCHMARK_HASH: _pyperformance.suite_hash(benchmarks)}
        if head_suite is not None:
            result.head_path = self._save(self.head, head_suite, suite_meta, result)
        for baseline in self.baselines:
            if baseline.kind == "measure" and baseline.target:
                suite = merge_suites(o.measured_baselines[baseline.label] for o in outcomes
                                     if baseline.label in o.measured_baselines)
                target = Target.from_wire(baseline.target)
                if suite is not None and target.build_key != self.head.build_key:
                    self._save(target, suite, suite_meta, result)
            comparison = self._session_comparison(baseline, outcomes, head_suite, suite_meta)
            if comparison is None:
                result.notes.append(f"nothing to compare with {baseline.label}: no benchmark produced results")
            else:
                result.comparisons.append((baseline.note, comparison))
        return result

    def _save(self, target: Target, suite: pyperf.BenchmarkSuite, suite_meta: dict[str, str],
              result: SessionResult) -> str:
        stamped = _stamp(suite, {**target.metadata(self.settings.machine), **suite_meta})
        saved = ""
        if target.built:
            identity = store.RunIdentity(
                commit_sha=target.commit_sha, commit_date=target.commit_date, version=target.version,
                fork=target.fork, ref=target.ref, machine=self.settings.machine, arch=targets.machine_arch(),
                preset=target.preset, configure_flags=" ".join(target.configure_flags))
            path = self.results_store().save(identity, stamped, self.settings.save)
            if path is not None:
                saved = str(path)
                result.notes.append(f"results of {target.label} stored in {path}")
        if target is self.head and self.settings.json_path:
            self.settings.json_path.parent.mkdir(parents=True, exist_ok=True)
            stamped.dump(str(self.settings.json_path), replace=True)
            result.notes.append(f"results written to {self.settings.json_path}")
            saved = saved or str(self.settings.json_path)
        return saved

    def _session_comparison(self, baseline: Baseline, outcomes: list[ItemOutcome],
                            head_suite: pyperf.BenchmarkSuite | None,
                            suite_meta: dict[str, str]) -> compare.SuiteComparison | None:
        """The baseline as a whole, with each benchmark compared on the data its verdict used."""
        used = [c for o in outcomes for c in o.comparisons if c.baseline == baseline.label and c.base_suite]
        base = merge_suites(c.base_suite for c in used)
        head = merge_suites(c.head_suite for c in used)
        if baseline.kind in ("stored", "file"):
            # Results the baseline has but this run does not are the "missing benchmarks".
            full = self.stored_suite(baseline)
            base = _overlay(full, base)
        head = head or head_suite
        if head is None or base is None:
            return None
        head_stamped = _stamp(head, {**self.head.metadata(self.settings.machine), **suite_meta})
        if baseline.kind == "measure":
            base = _stamp(base, {md.MACHINE: self.settings.machine, **suite_meta})
        # Interleaved results are paired process by process (merging benchmarks keeps them aligned).
        paired = {name for c in used if c.rounds > 0 for name in c.verdicts}
        return self.compare_pair(base, head_stamped, baseline.label, paired=paired)


@dataclass
class SessionResult:
    head_path: str = ""
    comparisons: list[tuple[str, compare.SuiteComparison]] = field(default_factory=list)  # (note, comparison)
    notes: list[str] = field(default_factory=list)


def _stamp(suite: pyperf.BenchmarkSuite, meta: dict[str, object]) -> pyperf.BenchmarkSuite:
    clean = {k: v for k, v in meta.items() if v not in ("", None)}
    for bench in suite.get_benchmarks():
        current = bench.get_metadata()
        bench.update_metadata({k: v for k, v in clean.items() if current.get(k, v) == v})
    return suite


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
