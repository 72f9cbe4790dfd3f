"""What ``history`` and ``backfill`` read: a branch's first-parent line (git), the results the
store holds for its commits, and the commits recorded as not building."""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyperf

from pytest_cpybench.cpython import git, targets
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.errors import RefError, StoreError
from pytest_cpybench.history.series import LineCommit, StoredRun, load_label, mode_of, safe_name
from pytest_cpybench.results import metadata as md
from pytest_cpybench.results import naming
from pytest_cpybench.results.files import load_suite, write_text_atomically
from pytest_cpybench.results.identity import RunKey, identity_from_suite
from pytest_cpybench.results.store import DEBUG_MODE

MARKERS = Path("backfill") / "does-not-build"  # under the results directory, beside the store's folders


def _log_records(git_dir: str, *args: str) -> list[LineCommit]:
    """``git log --first-parent`` of ``args``, oldest first (indexes from 0)."""
    # One field per line, a NUL between commits: subjects hold any text but newlines.
    out = git.git(git_dir, "log", "--first-parent", "-z", "--format=%H%n%cI%n%s", "--end-of-options", *args).stdout
    records = [[*record.split("\n", 2), "", ""][:3] for record in out.split("\0") if record.strip()]
    records.reverse()
    return [LineCommit(index, sha.strip(), subject, date) for index, (sha, date, subject) in enumerate(records)]


def branch_line(repo: str, branch: str, cache_dir: Path) -> tuple[Commit, list[LineCommit]]:
    """The branch's tip and its whole first-parent line, oldest first."""
    tip = targets.resolve(repo, branch, cache_dir)
    return tip, _log_records(tip.git_dir or tip.repo, tip.sha)


def range_line(repo: str, text: str, cache_dir: Path) -> tuple[Commit, list[LineCommit]]:
    """``A..B``: A, then B's first-parent commits after it up to B, oldest first; and B's commit."""
    start_ref, sep, end_ref = text.partition("..")
    if not sep or not start_ref or not end_ref or end_ref.startswith("."):
        raise RefError(f"--range={text!r}: give two refs as A..B (A older, on B's first-parent history)")
    start = targets.resolve(repo, start_ref, cache_dir)
    end = targets.resolve(repo, end_ref, cache_dir)
    if start.sha == end.sha:
        raise RefError(f"--range={text!r}: both ends are commit {start.short}: give an older commit first")
    try:
        git.first_parent_history(start, end)
    except RefError:
        raise RefError(f"--range={text!r}: {start_ref} ({start.short}) is not on the first-parent history of "
                       f"{end_ref} ({end.short}): give A..B with A an older commit of B's line, e.g. its merge "
                       "base") from None
    git_dir = end.git_dir or end.repo
    after = _log_records(git_dir, f"{start.sha}..{end.sha}")
    first = LineCommit(0, start.sha, git.describe(git_dir, start.sha).subject, start.date)
    return end, [first, *(LineCommit(c.index + 1, c.sha, c.subject, c.date) for c in after)]


@dataclass
class Stored:
    """The store's results for a line's commits, and what could not be read."""

    runs: list[StoredRun]
    warnings: list[str]


def stored_runs(root: Path, line: Sequence[LineCommit], machine: str | None = None,
                metrics: Collection[str] = ()) -> Stored:
    """Per commit of ``line``, machine, build configuration and metric the store holds: per benchmark
    and way of measuring (mode, alone or alongside), the results of the newest file that has usable
    ones (a run of a few benchmarks replaces only those). ``machine``: only that one's; ``metrics``:
    only those (empty: every metric).

    Usable is what a baseline reads, but one count or one process is a point too: a debug run, a
    partial result or a working tree's is left out; a result measured once is not."""
    shas = {commit.sha for commit in line}
    short = {sha[:7] for sha in shas}
    files: dict[RunKey, list[tuple[tuple[int, int, str], pyperf.BenchmarkSuite]]] = {}
    warnings: list[str] = []
    for folder in sorted(root.glob("bm-*")) if root.is_dir() else []:
        parsed = naming.parse_folder_name(folder.name)
        if parsed is None or parsed.sha7 not in short or not folder.is_dir():
            continue
        for path in sorted(folder.glob("bm-*.json")):
            try:
                suite = load_suite(path)
                order = (path.stat().st_mtime_ns, len(path.name), path.name)  # the store's newest first
            except (StoreError, OSError) as err:
                warnings.append(f"skipped a results file: {err}")
                continue
            identity = identity_from_suite(suite)
            if identity is None or identity.commit_sha not in shas:
                continue
            if (machine is None or identity.machine == machine) and (not metrics or identity.metric in metrics):
                files.setdefault(identity.key, []).append((order, suite))
    runs = []
    for key in sorted(files, key=lambda k: (k.machine, k.metric, k.preset, k.configure_flags, k.commit_sha)):
        # Per benchmark and way of measuring (mode, alone or alongside): a session measured otherwise
        # (a pre-merge check's merge base, alongside) adds a point to its own series, never hides one.
        chosen: dict[tuple[str, str, str], list[pyperf.Benchmark]] = {}
        for _, suite in sorted(files[key], key=lambda item: item[0], reverse=True):
            for owner, results in _by_benchmark(suite).items():
                how = (owner, mode_of(results[0]), load_label(results[0]))
                if how not in chosen and all(_usable(result) for result in results):
                    chosen[how] = results
        if chosen:
            runs.append(StoredRun(key.commit_sha, key.machine, key.metric, key.preset, key.configure_flags,
                                  tuple(result for results in chosen.values() for result in results)))
    return Stored(runs, warnings)


def _by_benchmark(suite: pyperf.BenchmarkSuite) -> dict[str, list[pyperf.Benchmark]]:
    """The suite's results by the pyperformance benchmark that made them (a benchmark's results are
    never taken from two files)."""
    groups: dict[str, list[pyperf.Benchmark]] = {}
    for result in suite.get_benchmarks():
        owner = result.get_metadata().get(md.BENCHMARK_NAME)
        groups.setdefault(str(owner) if owner else result.get_name(), []).append(result)
    return groups


def _usable(result: pyperf.Benchmark) -> bool:
    metadata = result.get_metadata()
    return (metadata.get(md.MODE) != DEBUG_MODE and not metadata.get(md.PARTIAL)
            and md.WORKTREE_HASH not in metadata and result.get_nvalue() >= 1)


# -- commits that do not build ------------------------------------------------------------------------


def marker_path(results_dir: Path, sha: str, machine: str, preset: str, configure_flags: str) -> Path:
    tag = naming.build_config_tag(preset, configure_flags) or "default"
    name = safe_name(f"{sha}-{machine}-{tag}")
    return results_dir / MARKERS / f"{name}.json"


def write_marker(results_dir: Path, commit: LineCommit, machine: str, preset: str, configure_flags: str,
                 error: str, log_path: Path | None) -> Path:
    """Record that ``commit`` does not build (so that a later backfill does not retry it forever)."""
    path = marker_path(results_dir, commit.sha, machine, preset, configure_flags)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"sha": commit.sha, "subject": commit.subject, "machine": machine, "preset": preset,
            "configure_flags": configure_flags, "error": error, "log": str(log_path or ""),
            "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_text_atomically(path, json.dumps(data, indent=2) + "\n")
    return path


def clear_marker(results_dir: Path, sha: str, machine: str, preset: str, configure_flags: str) -> None:
    """Forget that ``sha`` did not build (it has built since)."""
    marker_path(results_dir, sha, machine, preset, configure_flags).unlink(missing_ok=True)


def read_marker(results_dir: Path, sha: str, machine: str, preset: str, configure_flags: str) -> dict[str, str] | None:
    path = marker_path(results_dir, sha, machine, preset, configure_flags)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def failed_builds(results_dir: Path, line: Sequence[LineCommit], machine: str | None = None,
                  build: tuple[str, str] | None = None) -> dict[str, list[LineCommit]]:
    """Per machine, the commits of ``line`` recorded as not building in ``build`` (preset and configure
    flags; None: in any build configuration)."""
    by_sha = {commit.sha: commit for commit in line}
    found: dict[str, list[LineCommit]] = {}
    folder = results_dir / MARKERS
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        commit = by_sha.get(str(data.get("sha", ""))) if isinstance(data, dict) else None
        name = str(data.get("machine", "")) if isinstance(data, dict) else ""
        if commit is None or (machine is not None and name != machine):
            continue
        if build is not None and (str(data.get("preset", "")), str(data.get("configure_flags", ""))) != build:
            continue
        if commit not in found.setdefault(name, []):
            found[name].append(commit)
    return {name: sorted(commits, key=lambda c: c.index) for name, commits in found.items()}
