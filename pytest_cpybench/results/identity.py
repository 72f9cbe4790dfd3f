"""What a results file holds: one commit, built one way, on one machine, in one metric.

:class:`RunIdentity` is stamped on every benchmark of a stored file (:func:`stamp`) and read back
(:func:`identity_from_suite`); :class:`RunKey` is the part of it that says which results may
stand in for one another (a baseline is looked up by it).
"""

from __future__ import annotations

import copy
import os
import platform
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import pyperf

from pytest_cpybench.errors import StoreError
from pytest_cpybench.results import metadata as md
from pytest_cpybench.results import naming
from pytest_cpybench.results.files import one_line
from pytest_cpybench.results.naming import (
    DEFAULT_PRESET,
    build_config_tag,
    normalize_configure_flags,
    normalize_preset,
)

DEFAULT_FORK = "python"
# metadata.py has no key for the architecture; the file name needs it to be read back.
ARCH = "cpybench_arch"
# pyperf refuses empty metadata values.
NO_CONFIGURE_FLAGS = "none"
MACHINE_ENV = "CPYBENCH_MACHINE"
_FULL_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def default_machine() -> str:
    """$CPYBENCH_MACHINE (one name for a machine whatever its host name, e.g. per xdist gateway),
    else the host name."""
    return os.environ.get(MACHINE_ENV, "").strip() or socket.gethostname() or "unknown"



def default_arch() -> str:
    return platform.machine() or "unknown"



@dataclass(frozen=True)
class RunKey:
    """Which results may stand in for one another: one commit, built one way, on one machine, in
    one metric (what a stored baseline is looked up by). Normalised like :class:`RunIdentity`."""

    commit_sha: str
    machine: str
    preset: str = DEFAULT_PRESET
    configure_flags: str = ""
    metric: str = md.METRIC_TIME

    def __post_init__(self) -> None:
        object.__setattr__(self, "commit_sha", self.commit_sha.strip().lower())
        object.__setattr__(self, "machine", self.machine.strip())
        object.__setattr__(self, "preset", normalize_preset(self.preset))
        object.__setattr__(self, "configure_flags", normalize_configure_flags(self.configure_flags))

    @property
    def build_tag(self) -> str:
        return build_config_tag(self.preset, self.configure_flags, self.metric)


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

    def folder_name(self) -> str:
        return naming.folder_name(self.date_stamp, self.version, self.sha7, self.build_tag)

    def file_stem(self) -> str:
        return naming.file_stem(self.date_stamp, self.machine, self.arch, self.fork, self.ref, self.version,
                                self.sha7, self.build_tag)

    @property
    def key(self) -> RunKey:
        return RunKey(self.commit_sha, self.machine, self.preset, self.configure_flags, self.metric)

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

    def is_build(self, key: RunKey) -> bool:
        """Whether this identity is that commit, built that way, on that machine, measured in that metric."""
        return self.key == key



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
        raise StoreError(f"cannot stamp metadata on the results: {one_line(err)}") from None
    return stamped
