"""The results store: every session's pyperf JSON, named as faster-cpython's bench_runner names them.

Layout (one folder per commit and build configuration, shared by every machine)::

    <root>/bm-<YYYYMMDD>-<version>-<sha7>[-<tag>]/
        bm-<YYYYMMDD>-<machine>-<arch>-<fork>-<ref[:20]>-<version>-<sha7>[-<tag>][-<n>].json

File names are only a fast pre-filter: they are lossy (a 7-character sha, truncated and
sanitised fields), so the identity stamped in the metadata of every benchmark decides what a
file holds. Files are written atomically and never overwritten by accident; a file we cannot
read is reported and left exactly as it is.

A baseline is read per benchmark over every stored run of one build (``ResultsStore.baseline``),
so a quick run of a few benchmarks, or a debug run, never hides an earlier full run.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

import filelock
import pyperf

from pytest_cpybench.errors import StoreError
from pytest_cpybench.results import metadata as md
from pytest_cpybench.results import naming
from pytest_cpybench.results.files import (
    TMP_PREFIX,
    fsync_directory,
    link_without_overwriting,
    load_suite,
    write_temp_file,
)
from pytest_cpybench.results.identity import RunIdentity, RunKey, identity_from_suite, stamp

SaveMode = Literal["new", "replace", "no"]
SAVE_MODES: tuple[str, ...] = ("new", "replace", "no")

# A run in this pyperf mode (md.MODE) measures one value: never a baseline.
DEBUG_MODE = "debug"
# Fewer values, or fewer runs (processes) with values, than this cannot be a baseline.
MIN_BASELINE_VALUES = 2
MIN_BASELINE_RUNS = 2

LOCK_NAME = ".cpybench-store.lock"
STALE_TMP_SECONDS = 3600
LOCK_TIMEOUT_SECONDS = 600


@dataclass(frozen=True)
class StoredBaseline:
    """What the store holds as the baseline of one build, as ``ResultsStore.baseline()`` reads it.

    ``suite`` has each benchmark from the newest file holding a usable result of it (None when
    no file does); ``paths`` are the files it came from, newest first; ``skipped`` are one-line
    warnings: files that cannot be read, results that cannot be a baseline and were ignored.
    """

    suite: pyperf.BenchmarkSuite | None
    paths: tuple[Path, ...] = ()
    skipped: tuple[str, ...] = ()


# A cached answer to "whose results are in this file?": an identity, None (not ours) or the
# error that made it unreadable.
_FileIdentity = Union[RunIdentity, None, StoreError]  # noqa: UP007 (a runtime alias on 3.10)


class ResultsStore:
    """The results files under ``root`` (nothing is created until the first save)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._identities: dict[Path, tuple[tuple[int, int, int], _FileIdentity]] = {}

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_NAME

    # -- writing -----------------------------------------------------------------------

    def save(
        self, identity: RunIdentity, suite: pyperf.BenchmarkSuite, mode: SaveMode = "new"
    ) -> Path | None:
        """Stamp ``suite`` with ``identity`` and store it; return the path written.

        "new" adds a file (numbered when the name is taken), "replace" replaces the newest
        readable file holding the same identity (or adds one), "no" writes nothing.
        """
        if mode not in SAVE_MODES:
            raise StoreError(f"unknown save mode {mode!r}: use one of {', '.join(SAVE_MODES)}")
        if mode == "no":
            return None
        stamped = stamp(suite, identity)
        folder = self.root / identity.folder_name()
        tmp: Path | None = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = write_temp_file(folder, stamped)
            with self._locked():
                self._remove_stale_temp_files()
                return self._publish(tmp, folder, identity, mode)
        except OSError as err:
            raise StoreError(
                f"cannot write results in {folder} ({err.strerror or err}): "
                "check that the results directory is writable and the disk has space"
            ) from None
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)  # gone already after os.replace

    def _publish(self, tmp: Path, folder: Path, identity: RunIdentity, mode: SaveMode) -> Path:
        if mode == "replace":
            target = self._replace_target(folder, identity)
            if target is not None:
                os.replace(tmp, target)
                fsync_directory(folder)
                return target
        stem = identity.file_stem()
        for number in itertools.count(_next_number(folder, stem)):
            candidate = folder / _numbered_name(stem, number)
            try:
                link_without_overwriting(tmp, candidate)
            except FileExistsError:
                continue
            fsync_directory(folder)
            return candidate
        raise AssertionError("unreachable")

    def _replace_target(self, folder: Path, identity: RunIdentity) -> Path | None:
        # Sanitised names can collide: only a readable file stamped with this very identity
        # may be replaced; corrupt files are never touched.
        for path in _newest_first(_family(folder, identity.file_stem())):
            if self._identity_of(path) == identity:
                return path
        return None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock = filelock.FileLock(str(self.lock_path), timeout=LOCK_TIMEOUT_SECONDS)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise StoreError(
                f"another session has held the results store lock {self.lock_path} for "
                f"{LOCK_TIMEOUT_SECONDS} s: wait for it to finish, then rerun"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def _remove_stale_temp_files(self) -> None:
        # Left by sessions killed mid-write; a live session's temp file is seconds old.
        deadline = time.time() - STALE_TMP_SECONDS
        for folder in [self.root, *self._folders()]:
            for path in folder.glob(TMP_PREFIX + "*"):
                with contextlib.suppress(OSError):
                    if path.is_file() and path.stat().st_mtime < deadline:
                        path.unlink()

    # -- reading -----------------------------------------------------------------------

    def load(self, path: Path | str) -> pyperf.BenchmarkSuite:
        return load_suite(path)

    def find(self, key: RunKey) -> list[Path]:
        """Files for that commit, machine, build configuration and metric, newest first.

        Files whose name matches but which cannot be read are included (their content cannot
        rule them out, and the caller must hear about them); files stamped with another
        identity are not.
        """
        matches = []
        for path in self._named_like(key):
            identity = self._identity_of(path)
            if isinstance(identity, StoreError) or (
                identity is not None and identity.is_build(key)
            ):
                matches.append(path)
        return _newest_first(matches)

    def baseline(self, key: RunKey) -> StoredBaseline:
        """The stored baseline of that build, read per benchmark over every stored run of it.

        Only results of ``metric`` are read: instruction counts are never the baseline of times,
        nor times of instruction counts (their files are also named apart: ``INSTR``).

        Each pyperformance benchmark (its results grouped by ``md.BENCHMARK_NAME``, or by their
        own name without it) comes whole from the newest readable file holding a usable result
        of it: a later run of a few benchmarks replaces only those, and a multi-result benchmark
        (deepcopy, deepcopy_reduce, deepcopy_memo) is never split across files. A result
        measured in debug mode, or with fewer than two values or two runs with values, is never
        a baseline. Unreadable files are skipped with a warning and left as they are.
        """
        chosen: dict[str, list[pyperf.Benchmark]] = {}
        taken_names: set[str] = set()
        paths: list[Path] = []
        skipped: list[str] = []
        unusable: dict[str, tuple[Path, str]] = {}  # group -> the newest file with it, why not usable
        for path in _newest_first(self._named_like(key)):
            try:
                suite = self._read(path)
            except StoreError as err:
                skipped.append(f"skipped a results file: {err}")
                continue
            identity = identity_from_suite(suite)
            if identity is None or not identity.is_build(key):
                continue
            used = False
            for group, results in _benchmark_groups(suite).items():
                if group in chosen:
                    continue
                if taken_names.intersection(result.get_name() for result in results):
                    # Grouped otherwise in a newer file (one without md.BENCHMARK_NAME): that
                    # file already gave these results, and a benchmark is never split.
                    continue
                reason = _not_a_baseline(results)
                if reason is not None:
                    unusable.setdefault(group, (path, reason))
                    continue
                chosen[group] = results
                taken_names.update(result.get_name() for result in results)
                used = True
            if used:
                paths.append(path)
        skipped.extend(_ignored_warnings(unusable, chosen))
        benchmarks = [copy.deepcopy(result) for results in chosen.values() for result in results]
        return StoredBaseline(
            suite=pyperf.BenchmarkSuite(benchmarks) if benchmarks else None,
            paths=tuple(paths),
            skipped=tuple(skipped),
        )

    def _named_like(self, key: RunKey) -> list[Path]:
        """Files whose name fits that build (a pre-filter: names are lossy)."""
        matches = []
        for folder in self._folders():
            if not naming.is_folder_of(folder.name, key.commit_sha, key.build_tag):
                continue
            matches += [path for path in _result_files(folder)
                        if naming.is_file_of(path.stem, key.machine, key.commit_sha)]
        return matches

    def _read(self, path: Path) -> pyperf.BenchmarkSuite:
        """``load``, remembering whose results the file holds for later ``find`` calls."""
        key = _stat_key(path)
        try:
            suite = self.load(path)
        except StoreError as err:
            if key is not None:
                self._identities[path] = (key, err)
            raise
        if key is not None:
            self._identities[path] = (key, identity_from_suite(suite))
        return suite

    def _identity_of(self, path: Path) -> _FileIdentity:
        key = _stat_key(path)
        cached = self._identities.get(path)
        if key is not None and cached is not None and cached[0] == key:
            return cached[1]
        try:
            return identity_from_suite(self._read(path))
        except StoreError as err:
            return err

    def _folders(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(path for path in self.root.iterdir() if path.name.startswith("bm-") and path.is_dir())


def _numbered_name(stem: str, number: int) -> str:
    return f"{stem}.json" if number == 1 else f"{stem}-{number}.json"


def _family(folder: Path, stem: str) -> list[Path]:
    """The files of one stem: ``stem.json``, ``stem-2.json``, ..."""
    return [path for path in _result_files(folder) if _family_number(path.name, stem) is not None]


def _family_number(name: str, stem: str) -> int | None:
    if name == f"{stem}.json":
        return 1
    match = re.fullmatch(re.escape(stem) + r"-(\d+)\.json", name)
    return int(match.group(1)) if match else None


def _next_number(folder: Path, stem: str) -> int:
    numbers = [_family_number(path.name, stem) for path in _family(folder, stem)]
    return max((number for number in numbers if number is not None), default=0) + 1


def _result_files(folder: Path) -> list[Path]:
    # Temp files start with '.', tables and plots are not .json.
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    return [
        path for path in entries if path.name.startswith("bm-") and path.suffix == ".json" and path.is_file()
    ]


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    """What changes when a file is rewritten or replaced (None if it cannot be stat'ed)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _benchmark_groups(suite: pyperf.BenchmarkSuite) -> dict[str, list[pyperf.Benchmark]]:
    """The results of ``suite`` by the pyperformance benchmark that produced them, in file order."""
    groups: dict[str, list[pyperf.Benchmark]] = {}
    for result in suite.get_benchmarks():
        owner = result.get_metadata().get(md.BENCHMARK_NAME)
        groups.setdefault(str(owner) if owner else result.get_name(), []).append(result)
    return groups


def _not_a_baseline(results: list[pyperf.Benchmark]) -> str | None:
    """Why these results of one benchmark cannot be a baseline, or None if they can."""
    for result in results:
        if result.get_metadata().get(md.MODE) == DEBUG_MODE:
            return "a debug-mode run is never a baseline"
        if result.get_metadata().get(md.PARTIAL):
            return "a result measured until another of its benchmark failed (partial) is never a baseline"
        if md.WORKTREE_HASH in result.get_metadata():
            # WORKTREE runs share the commit's identity but measured other sources.
            return "a run of a working tree (uncommitted changes) is never a baseline of its commit"
        runs_with_values = sum(1 for run in result.get_runs() if run.values)
        if result.get_nvalue() < MIN_BASELINE_VALUES or runs_with_values < MIN_BASELINE_RUNS:
            return f"a baseline needs {MIN_BASELINE_VALUES} values from {MIN_BASELINE_RUNS} runs at least"
    return None


def _ignored_warnings(unusable: Mapping[str, tuple[Path, str]], chosen: Mapping[str, object]) -> list[str]:
    """One line per file and reason, naming the benchmarks that no stored file can give."""
    ignored: dict[tuple[Path, str], list[str]] = {}
    for group, (path, reason) in unusable.items():
        if group not in chosen:
            ignored.setdefault((path, reason), []).append(group)
    return [
        f"ignored the stored results of {', '.join(sorted(groups))} in {path}: {reason}"
        for (path, reason), groups in ignored.items()
    ]


def _newest_first(paths: list[Path]) -> list[Path]:
    # Ties in mtime (coarse clocks) go to the higher number: "stem-10" after "stem-9".
    def key(path: Path) -> tuple[int, int, str]:
        try:
            mtime_ns = path.stat().st_mtime_ns
        except OSError:
            mtime_ns = 0
        return (mtime_ns, len(path.name), path.name)

    return sorted(paths, key=key, reverse=True)


