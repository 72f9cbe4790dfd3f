"""What a session measures, decided before anything is measured: the head and its baselines.

:func:`resolve` is cheap (git and the results store: enough to collect); :func:`build` builds
(or finds in the cache) every interpreter the session measures. A host of a session over several
machines gets the plan as its controller resolved it (:func:`for_machine`) and finds the commits
in its own repository (:func:`on_this_host`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from pytest_cpybench.cpython import git, targets
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.cpython.targets import Target
from pytest_cpybench.errors import CpybenchError, StoreError
from pytest_cpybench.measure.processes import Log
from pytest_cpybench.options import Settings
from pytest_cpybench.results import metadata as md
from pytest_cpybench.results import naming
from pytest_cpybench.results.files import load_suite
from pytest_cpybench.results.identity import RunKey
from pytest_cpybench.results.store import ResultsStore
from pytest_cpybench.session.model import Baseline, BaselineKind
from pytest_cpybench.suite import _pyperformance, selection
from pytest_cpybench.suite.definitions import BenchmarkDef


@dataclass
class Plan:
    """The head and its baselines: resolved first, their interpreters once built."""

    head_commit: Commit | None = None  # None: --cpython-python, an interpreter of the user's
    head_version: str | None = None  # known after resolving, before any build
    head: Target | None = None  # after building (at once for --cpython-python)
    baselines: list[Baseline] = field(default_factory=list)

    @property
    def measured(self) -> list[Baseline]:
        """The baselines measured in this session, interleaved with the head."""
        return [b for b in self.baselines if b.measured]


def repo_of(settings: Settings) -> str:
    return settings.repo or git.default_repo(Path.cwd())


def resolve(settings: Settings, store: ResultsStore, log: Log) -> Plan:
    """Resolve refs and look up stored baselines; no build (``--collect-only`` stops here)."""
    plan = Plan()
    if settings.python:
        plan.head = targets.from_python(settings.python)
        plan.head_version = plan.head.version
    else:
        assert settings.ref
        plan.head_commit = targets.resolve(repo_of(settings), settings.ref, settings.cache_dir)
        plan.head_version = targets.source_version(plan.head_commit)
    for ref in settings.baselines:
        baseline = _resolve_baseline(settings, store, log, plan.head_commit, ref)
        twin = next((b for b in plan.baselines if _same_sources(b.commit, baseline.commit)), None)
        if twin is not None and baseline.commit is not None:
            raise CpybenchError(f"--cpython-baseline names {baseline.commit.short} twice ({twin.label} and "
                                f"{baseline.label}): name each commit once")
        plan.baselines.append(baseline)
    if settings.baseline_file:
        plan.baselines.append(_baseline_file(settings.baseline_file, settings.metric))
    check_toolchain(plan, settings.preset)
    return plan


def check_toolchain(plan: Plan, preset: str) -> None:
    """Refuse now, before anything is built, a build of the plan's commits this machine cannot make
    (every baseline's: a stored one is built again to confirm a slowdown)."""
    if plan.head_commit is not None:
        assert plan.head_version is not None
        targets.check_buildable(preset, plan.head_commit, plan.head_version)
    for baseline in plan.baselines:
        if baseline.commit is not None:
            targets.check_buildable(preset, baseline.commit)


def _resolve_baseline(settings: Settings, store: ResultsStore, log: Log, head: Commit | None, ref: str) -> Baseline:
    commit = targets.resolve(repo_of(settings), ref, settings.cache_dir, head)
    if _same_sources(commit, head):
        raise CpybenchError(f"--cpython-baseline={ref} is the same commit as --cpython-ref="
                            f"{settings.ref} ({commit.short}): name a different baseline ref")
    label = ref if ref != targets.MERGE_BASE else commit.ref
    return stored_or_measured(settings, store, log, label, commit, settings.machine)


def _baseline_file(path: Path, metric: str) -> Baseline:
    suite = load_suite(path)  # fails now, with the file's name, if unreadable
    if md.metric_of(suite.get_metadata()) != metric:
        raise CpybenchError(f"--cpython-baseline-file={path} holds {md.metric_of(suite.get_metadata())} "
                            f"results, this session measures {metric}: give a file of the same "
                            "metric, or the matching --cpython-metric")
    label = naming.label_from_filename(path) or Path(path).stem
    return Baseline(label=label, kind=BaselineKind.FILE, note=f"from file {path}", suite=suite, paths=(str(path),))


def stored_or_measured(settings: Settings, store: ResultsStore, log: Log, label: str, commit: Commit,
                       machine: str) -> Baseline:
    """The baseline ``machine``'s stored results of ``commit``, or one to measure in the session."""
    key = RunKey(commit.sha, machine, settings.preset, " ".join(settings.configure_flags), settings.metric)
    found = store.baseline(key)
    for warning in found.skipped:
        log(f"warning: {warning}")
    if found.suite is not None:
        # Used per benchmark: one the store lacks, or holds measured otherwise than the head will
        # be, is measured with the head (session.engine.Engine.run).
        sources = ", ".join(str(p) for p in found.paths)
        return Baseline(label=label, kind=BaselineKind.STORED, note=f"stored results: {sources}",
                        commit=commit, suite=found.suite, paths=tuple(str(p) for p in found.paths))
    return Baseline(label=label, kind=BaselineKind.MEASURE, commit=commit,
                    note="not in the results store: built and measured in this session")


def check_outputs(settings: Settings) -> None:
    """Refuse before measuring, not after: an unwritable results store or JSON path."""
    if settings.save != "no":
        _check_writable_dir(settings.results_dir, "--cpython-results-dir", "or --cpython-save=no to store nothing")
    if settings.json_path:
        _check_writable_dir(settings.json_path.parent, "--cpython-json", "")


def build(plan: Plan, settings: Settings, log: Log, *, confirm_stored: bool = False) -> None:
    """Build (or find in the cache) the head and every baseline measured in this session; with
    ``confirm_stored`` also the stored baselines a confirmation would re-measure (xdist workers: a
    build inside an item would run beside another worker's measurements)."""
    if plan.head is None:
        assert plan.head_commit is not None
        plan.head = targets.build(plan.head_commit, settings.build_config, settings.cache_dir, log)
        plan.head.label = settings.ref or plan.head.label
    for baseline in plan.baselines:
        if baseline.target is None and baseline.commit is not None and (baseline.measured or confirm_stored):
            if not baseline.measured:
                log(f"baseline {baseline.label}: built now for confirmations, before the workers start")
            baseline.target = targets.build(baseline.commit, settings.build_config, settings.cache_dir, log)


def for_machine(plan: Plan, settings: Settings, store: ResultsStore, log: Log, machine: str) -> Plan:
    """The plan of another machine (an xdist host): the same commits, the baselines as ``machine``'s
    store has them, no interpreter of this one."""
    assert plan.head_commit is not None, "hosts build at a ref: --cpython-python names a local file"
    baselines = [b if b.commit is None else stored_or_measured(settings, store, log, b.label, b.commit, machine)
                 for b in plan.baselines]
    return Plan(head_commit=plan.head_commit, head_version=plan.head_version, baselines=baselines)


def on_this_host(plan: Plan, repo: str, cache_dir: Path) -> Plan:
    """A host's plan with its commits found in ``repo``, this host's repository (by sha: the
    controller's refs may not exist here)."""
    assert plan.head_commit is not None

    def here(commit: Commit) -> Commit:
        found = targets.resolve(repo, commit.sha, cache_dir)
        return replace(commit, git_dir=found.git_dir)  # the controller's name for the repository stays

    head = here(plan.head_commit)
    baselines = [replace(b, commit=here(b.commit)) if b.commit is not None else b for b in plan.baselines]
    return Plan(head_commit=head, head_version=targets.source_version(head), baselines=baselines)


def _same_sources(a: Commit | None, b: Commit | None) -> bool:
    return a is not None and b is not None and (a.sha, a.worktree_hash) == (b.sha, b.worktree_hash)


def _check_writable_dir(folder: Path, option: str, alternative: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        hint = f"choose a writable directory{' ' + alternative if alternative else ''}"
        raise StoreError(f"{option}: cannot write in {folder} ({err.strerror or err}): {hint}") from None


def select_benchmarks(settings: Settings) -> list[BenchmarkDef]:
    return selection.select(_pyperformance.load_benchmarks(settings.manifests), settings.benchmarks)
