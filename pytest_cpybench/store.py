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
import gzip
import hashlib
import itertools
import json
import os
import platform
import re
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, Union

import filelock
import pyperf

from . import metadata as md
from .errors import StoreError

SaveMode = Literal["new", "replace", "no"]
SAVE_MODES: tuple[str, ...] = ("new", "replace", "no")

# Must equal builder.DEFAULT_PRESET (kept here so the store does not import the builder).
DEFAULT_PRESET = "release"
DEFAULT_FORK = "python"
# metadata.py has no key for the architecture; the file name needs it to be read back.
ARCH = "cpybench_arch"
# The build-tag token of instruction-count results (--cpython-metric=instructions).
INSTRUCTIONS_TAG = "INSTR"
# pyperf refuses empty metadata values.
NO_CONFIGURE_FLAGS = "none"
# A run in this pyperf mode (md.MODE) measures one value: never a baseline.
DEBUG_MODE = "debug"
# Fewer values, or fewer runs (processes) with values, than this cannot be a baseline.
MIN_BASELINE_VALUES = 2
MIN_BASELINE_RUNS = 2

LOCK_NAME = ".cpybench-store.lock"
TMP_PREFIX = ".tmp-"
STALE_TMP_SECONDS = 3600
LOCK_TIMEOUT_SECONDS = 600

REF_FIELD_LENGTH = 20  # bench_runner keeps ref[:20]
# Caps every other field so a name stays far below 255 bytes whatever the host name is.
FIELD_LENGTH = 32
# '-' separates the fields, so (as bench_runner's _clean) no field may contain one.
_UNSAFE_FIELD_CHARS = re.compile(r"[^A-Za-z0-9._+]")
_UNSAFE_TAG_CHARS = re.compile(r"[^A-Z0-9]")
_FULL_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_MAX_REASON_LENGTH = 200

# Parse failures that mean "this file is not a readable pyperf suite" (JSONDecodeError and
# UnicodeDecodeError are ValueErrors).
_CORRUPT_CONTENT = (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError)


MACHINE_ENV = "CPYBENCH_MACHINE"


def default_machine() -> str:
    """$CPYBENCH_MACHINE (one name for a machine whatever its host name, e.g. per xdist gateway),
    else the host name."""
    return os.environ.get(MACHINE_ENV, "").strip() or socket.gethostname() or "unknown"


def default_arch() -> str:
    return platform.machine() or "unknown"


def safe_name_field(value: str, max_length: int = FIELD_LENGTH) -> str:
    """``value`` as one '-'-separated field of a file name: no separators, no path tricks."""
    return _UNSAFE_FIELD_CHARS.sub("_", value[:max_length])


def normalize_preset(preset: str) -> str:
    return preset.strip().lower()


def normalize_configure_flags(configure_flags: str) -> str:
    # Whitespace between flags does not change the build; order does (the last flag wins).
    return " ".join(configure_flags.split())


def build_config_tag(preset: str, configure_flags: str, metric: str = md.METRIC_TIME) -> str:
    """The build-configuration part of folder and file names ("" for a default build timed).

    Tokens are joined with ',' as bench_runner joins its flags ("JIT,NOGIL"), because '-'
    separates the fields of a name: preset "pgo-lto" gives "PGO_LTO"; extra configure flags
    add "CFG" and a short hash of the flags; instruction counts add "INSTR" (they are never
    a baseline of times, nor times of them).
    """
    tokens = []
    preset = normalize_preset(preset)
    if preset and preset != DEFAULT_PRESET:
        tokens.append(_UNSAFE_TAG_CHARS.sub("_", preset.upper())[:FIELD_LENGTH])
    flags = normalize_configure_flags(configure_flags)
    if flags:
        tokens.append("CFG" + hashlib.sha256(flags.encode("utf-8")).hexdigest()[:8])
    if metric != md.METRIC_TIME:
        tokens.append(INSTRUCTIONS_TAG)
    return ",".join(tokens)


@dataclass(frozen=True)
class RunIdentity:
    """What was measured: one commit, built one way, on one machine.

    Values are normalised on creation (stripped, lower-case sha and preset, single spaces
    between configure flags) so an identity read back from a results file compares equal.
    """

    commit_sha: str
    commit_date: str  # ISO 8601 committer date, in the committer's time zone
    version: str  # e.g. "3.13.5"
    ref: str  # the ref as the user gave it
    fork: str = DEFAULT_FORK
    machine: str = field(default_factory=default_machine)
    arch: str = field(default_factory=default_arch)
    preset: str = DEFAULT_PRESET
    configure_flags: str = ""
    metric: str = md.METRIC_TIME  # what the values are (md.METRICS)

    def __post_init__(self) -> None:
        for item in fields(self):
            object.__setattr__(self, item.name, str(getattr(self, item.name)).strip())
        object.__setattr__(self, "commit_sha", self.commit_sha.lower())
        object.__setattr__(self, "preset", normalize_preset(self.preset))
        object.__setattr__(self, "configure_flags", normalize_configure_flags(self.configure_flags))
        self._validate()

    def _validate(self) -> None:
        if not _FULL_SHA.fullmatch(self.commit_sha):
            raise StoreError(
                f"invalid commit sha {self.commit_sha!r} for the results store: "
                "expected the full hexadecimal sha"
            )
        if not _ISO_DATE.match(self.commit_date):
            raise StoreError(
                f"invalid commit date {self.commit_date!r} for the results store: "
                "expected ISO 8601 (YYYY-MM-DDTHH:MM:SS+HH:MM)"
            )
        for item in fields(self):
            value = getattr(self, item.name)
            if "\n" in value or "\r" in value:
                raise StoreError(f"run identity {item.name} {value!r} contains a newline")
            if not value and item.name != "configure_flags":
                raise StoreError(f"run identity {item.name} is empty")

    @property
    def sha7(self) -> str:
        return self.commit_sha[:7]

    @property
    def date_stamp(self) -> str:
        """YYYYMMDD of the commit date as written (bench_runner does not convert to UTC)."""
        match = _ISO_DATE.match(self.commit_date)
        assert match is not None  # checked in _validate
        return "".join(match.groups())

    @property
    def build_tag(self) -> str:
        return build_config_tag(self.preset, self.configure_flags, self.metric)

    def _tag_fields(self) -> list[str]:
        tag = self.build_tag
        return [tag] if tag else []

    def folder_name(self) -> str:
        return "-".join(
            ["bm", self.date_stamp, safe_name_field(self.version), self.sha7, *self._tag_fields()]
        )

    def file_stem(self) -> str:
        return "-".join(
            [
                "bm",
                self.date_stamp,
                safe_name_field(self.machine),
                safe_name_field(self.arch),
                safe_name_field(self.fork),
                safe_name_field(self.ref, REF_FIELD_LENGTH),
                safe_name_field(self.version),
                self.sha7,
                *self._tag_fields(),
            ]
        )

    def metadata(self) -> dict[str, str]:
        """The metadata stamped on every benchmark of a results file."""
        return {
            md.COMMIT_ID: self.sha7,
            md.COMMIT_FORK: self.fork,
            md.COMMIT_BRANCH: self.ref,
            md.COMMIT_DATE: self.commit_date,
            md.FULL_SHA: self.commit_sha,
            md.MACHINE: self.machine,
            ARCH: self.arch,
            md.BUILD_PRESET: self.preset,
            md.CONFIGURE_FLAGS: self.configure_flags or NO_CONFIGURE_FLAGS,
            md.PYTHON_VERSION: self.version,
            md.METRIC: self.metric,
        }

    def is_build(self, commit_sha: str, machine: str, preset: str, configure_flags: str,
                 metric: str = md.METRIC_TIME) -> bool:
        """Whether this identity is that commit, built that way, on that machine, measured in that metric."""
        return (
            self.commit_sha == commit_sha.strip().lower()
            and self.machine == machine.strip()
            and self.preset == normalize_preset(preset)
            and self.configure_flags == normalize_configure_flags(configure_flags)
            and self.metric == metric
        )


# RunIdentity field -> metadata key.
_IDENTITY_KEYS = {
    "commit_sha": md.FULL_SHA,
    "commit_date": md.COMMIT_DATE,
    "version": md.PYTHON_VERSION,
    "ref": md.COMMIT_BRANCH,
    "fork": md.COMMIT_FORK,
    "machine": md.MACHINE,
    "arch": ARCH,
    "preset": md.BUILD_PRESET,
    "configure_flags": md.CONFIGURE_FLAGS,
}


def identity_from_metadata(metadata: Mapping[str, object]) -> RunIdentity | None:
    """The identity stamped in ``metadata``, or None when it is missing or inconsistent."""
    if any(key not in metadata for key in _IDENTITY_KEYS.values()):
        return None
    values = {name: str(metadata[key]) for name, key in _IDENTITY_KEYS.items()}
    if values["configure_flags"] == NO_CONFIGURE_FLAGS:
        values["configure_flags"] = ""
    values["metric"] = md.metric_of(metadata)
    try:
        identity = RunIdentity(**values)
    except StoreError:
        return None
    if str(metadata.get(md.COMMIT_ID, identity.sha7)) != identity.sha7:
        return None
    return identity


def identity_from_suite(suite: pyperf.BenchmarkSuite) -> RunIdentity | None:
    """The identity shared by every benchmark of ``suite`` (None if any lacks it)."""
    return identity_from_metadata(suite.get_metadata())


def stamp(
    suite: pyperf.BenchmarkSuite,
    identity: RunIdentity,
    extra: Mapping[str, str | int | float] | None = None,
) -> pyperf.BenchmarkSuite:
    """A copy of ``suite`` with the identity and ``extra`` stamped on every benchmark."""
    identity_metadata = identity.metadata()
    extra = dict(extra or {})
    clashes = sorted(
        key for key, value in extra.items() if identity_metadata.get(key, value) != value
    )
    if clashes:
        raise StoreError(f"extra metadata {', '.join(clashes)} contradicts the run identity")
    stamped = copy.deepcopy(suite)
    try:
        md.add_to_results(stamped, {**extra, **identity_metadata})
    except (ValueError, TypeError) as err:
        raise StoreError(f"cannot stamp metadata on the results: {_one_line(err)}") from None
    return stamped


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
            tmp = _write_temp_file(folder, stamped)
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
                _fsync_directory(folder)
                return target
        stem = identity.file_stem()
        for number in itertools.count(_next_number(folder, stem)):
            candidate = folder / _numbered_name(stem, number)
            try:
                _link_without_overwriting(tmp, candidate)
            except FileExistsError:
                continue
            _fsync_directory(folder)
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

    def find(
        self,
        commit_sha: str,
        machine: str,
        preset: str = DEFAULT_PRESET,
        configure_flags: str = "",
        metric: str = md.METRIC_TIME,
    ) -> list[Path]:
        """Files for that commit, machine, build configuration and metric, newest first.

        Files whose name matches but which cannot be read are included (their content cannot
        rule them out, and the caller must hear about them); files stamped with another
        identity are not.
        """
        matches = []
        for path in self._named_like(commit_sha, machine, preset, configure_flags, metric):
            identity = self._identity_of(path)
            if isinstance(identity, StoreError) or (
                identity is not None and identity.is_build(commit_sha, machine, preset, configure_flags, metric)
            ):
                matches.append(path)
        return _newest_first(matches)

    def baseline(
        self,
        commit_sha: str,
        machine: str,
        preset: str = DEFAULT_PRESET,
        configure_flags: str = "",
        metric: str = md.METRIC_TIME,
    ) -> StoredBaseline:
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
        for path in _newest_first(self._named_like(commit_sha, machine, preset, configure_flags, metric)):
            try:
                suite = self._read(path)
            except StoreError as err:
                skipped.append(f"skipped a results file: {err}")
                continue
            identity = identity_from_suite(suite)
            if identity is None or not identity.is_build(commit_sha, machine, preset, configure_flags, metric):
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

    def _named_like(self, commit_sha: str, machine: str, preset: str, configure_flags: str,
                    metric: str = md.METRIC_TIME) -> list[Path]:
        """Files whose name fits that build (a pre-filter: names are lossy)."""
        sha7 = commit_sha.strip().lower()[:7]
        tag = build_config_tag(preset, configure_flags, metric)
        folder_tail = [sha7, tag] if tag else [sha7]
        machine_field = safe_name_field(machine.strip())
        matches = []
        for folder in self._folders():
            if folder.name.split("-")[3:] != folder_tail:
                continue
            for path in _result_files(folder):
                name_fields = path.stem.split("-")
                if len(name_fields) >= 8 and name_fields[2] == machine_field and name_fields[7] == sha7:
                    matches.append(path)
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


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: a reader (or a crash)
    never sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def load_suite(path: Path | str) -> pyperf.BenchmarkSuite:
    """Read a pyperf JSON file (``.json`` or ``.json.gz``) or raise a one-line StoreError.

    The one loader: for the store, ``--cpython-baseline-file`` and ``compare`` alike.
    """
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"results file {path} is a directory: give the path of a pyperf JSON file")
    try:
        return pyperf.BenchmarkSuite.load(str(path))
    except FileNotFoundError:
        raise StoreError(f"results file {path} does not exist: check the path, or measure that "
                         "interpreter again") from None
    except (*_CORRUPT_CONTENT, EOFError, gzip.BadGzipFile) as err:
        raise StoreError(
            f"results file {path} is corrupt ({_describe_corruption(err)}): "
            "restore it, move it away, or measure that interpreter again"
        ) from None
    except OSError as err:
        raise StoreError(
            f"results file {path} cannot be read ({err.strerror or err}): check its permissions"
        ) from None


def _write_temp_file(folder: Path, suite: pyperf.BenchmarkSuite) -> Path:
    """``suite`` written and flushed to disk under a name find() ignores."""
    fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".part", dir=folder)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            suite.dump(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are meant to be shared
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _link_without_overwriting(source: Path, target: Path) -> None:
    """Give ``source`` the name ``target``; FileExistsError if that name is taken."""
    try:
        # A hard link fails when the name exists, even across machines sharing the store.
        os.link(source, target)
    except FileExistsError:
        raise
    except OSError:
        # No hard links on this file system: the store lock guards the check.
        if target.exists():
            raise FileExistsError(str(target)) from None
        os.replace(source, target)


def _fsync_directory(folder: Path) -> None:
    # Makes the new name durable; some systems cannot open or sync a directory.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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


def _describe_corruption(err: BaseException) -> str:
    if isinstance(err, json.JSONDecodeError):
        return f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}"
    if isinstance(err, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(err, KeyError):
        return f"not a pyperf results file: no {err.args[0]!r} entry"
    return f"not a pyperf results file: {type(err).__name__}: {_one_line(err)}"


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    if len(text) > _MAX_REASON_LENGTH:
        text = text[: _MAX_REASON_LENGTH - 3] + "..."
    return text
