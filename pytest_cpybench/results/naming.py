"""faster-cpython's bench_runner names, in one place: folders, results files and their fields.

A run of one commit, built one way, goes into a folder; each machine's results of it into a file::

    bm-<YYYYMMDD>-<version>-<sha7>[-<FLAGS>]/
        bm-<YYYYMMDD>-<machine>-<arch>-<fork>-<ref[:20]>-<version>-<sha7>[-<FLAGS>][-<n>].json

'-' separates the fields, so no field may contain one (as bench_runner's ``_clean``; a fork's
'-' is written ``%2d`` as its ``_clean_for_url`` does); the flags are joined with ','. Names are
lossy (a 7-character sha, truncated fields): the metadata inside a file (:mod:`.identity`)
decides what it holds; a name is a fast pre-filter and what pages show.

bench_runner (``bench_runner/result.py``: ``Result.from_filename``, ``Result.filename``) keeps the
flags in the folder's name only, and reads the fields after the sha of a file name as what the
file is (``vs-<base>`` a table or plot, ``pystats``). Ours also end a results file's name with the
build tag and a copy number, so these fields are kept apart as ``extra``.

A run's page names the machine as bench_runner's runners do, ``<system> <arch> (<nickname>)``
("darwin arm64 (darwin)"), the system being the OS in bench_runner's words (:func:`system_name`).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pyperf

from pytest_cpybench.results import metadata as md

# Must equal builds.DEFAULT_PRESET (kept here so that results do not import the builder).
DEFAULT_PRESET = "release"
# The build-tag token of instruction-count results (--cpython-metric=instructions).
INSTRUCTIONS_TAG = "INSTR"
REF_FIELD_LENGTH = 20  # bench_runner keeps ref[:20]
# Caps every other field so a name stays far below 255 bytes whatever the host name is.
FIELD_LENGTH = 32
_UNSAFE_FIELD_CHARS = re.compile(r"[^A-Za-z0-9._+]")
_UNSAFE_TAG_CHARS = re.compile(r"[^A-Z0-9]")
_HEX7 = re.compile(r"^[0-9a-f]{7}$")
_VERSION = re.compile(r"^\d+\.\d+")
_DATE = re.compile(r"^\d{8}$")
# bench_runner's runners are "linux", "darwin" or "windows"; pyperf's platform metadata starts
# with Python's platform.system() ("Linux", "Darwin", "Windows"), or "macOS" since Python 3.8.
_SYSTEMS = {"linux": "linux", "darwin": "darwin", "macos": "darwin", "windows": "windows"}
# The order of a run's machine sections (bench_runner's sort_runner_names): linux, the most
# reliable, first; an OS it does not know goes before them.
_SYSTEM_ORDER = ("linux", "windows", "darwin")


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


def folder_name(date_stamp: str, version: str, sha7: str, build_tag: str = "") -> str:
    """``bm-<YYYYMMDD>-<version>-<sha7>[-<FLAGS>]``: one commit built one way, every machine."""
    return "-".join(["bm", date_stamp, safe_name_field(version), sha7, *([build_tag] if build_tag else [])])


def fork_field(fork: str) -> str:
    """The fork as a field: a GitHub owner may hold '-', which bench_runner writes ``%2d`` so that
    the field still reads as the owner in a URL (:func:`parse_name` gives the owner back)."""
    return "%2d".join(safe_name_field(part) for part in fork[:FIELD_LENGTH].split("-"))


def file_stem(date_stamp: str, machine: str, arch: str, fork: str, ref: str, version: str, sha7: str,
              build_tag: str = "") -> str:
    """``bm-<YYYYMMDD>-<machine>-<arch>-<fork>-<ref[:20]>-<version>-<sha7>[-<FLAGS>]``."""
    return "-".join(["bm", date_stamp, safe_name_field(machine), safe_name_field(arch), fork_field(fork),
                     safe_name_field(ref, REF_FIELD_LENGTH), safe_name_field(version), sha7,
                     *([build_tag] if build_tag else [])])


def is_folder_of(name: str, commit_sha: str, build_tag: str) -> bool:
    """Whether a folder of ours (:func:`folder_name`) holds runs of that commit built that way."""
    parsed = parse_folder_name(name)
    return parsed is not None and parsed.sha7 == commit_sha[:7] and ",".join(parsed.flags) == build_tag


def is_file_of(stem: str, machine: str, commit_sha: str) -> bool:
    """Whether a results file of ours (:func:`file_stem`, numbered or not) may hold that machine's
    results of that commit."""
    parsed = parse_name(stem)
    return parsed is not None and parsed.nickname == safe_name_field(machine) and parsed.sha7 == commit_sha[:7]


def label_from_filename(path: str | os.PathLike[str]) -> str | None:
    """The Python version in a bench_runner results file's name (``.json`` or ``.json.gz``), or
    None if the name is not one."""
    name = Path(path).name
    if not name.endswith((".json", ".json.gz")):
        return None
    parsed = parse_name(results_stem(name))
    return parsed.version if parsed else None


def label_from_suite(suite: pyperf.BenchmarkSuite) -> str:
    """A short name for the interpreter a suite measured: its file's version, else metadata."""
    filename = getattr(suite, "filename", None)
    if filename:
        label = label_from_filename(filename)
        if label:
            return label
    version = md.suite_value(suite, md.PYTHON_VERSION)
    if version is None and (pyperf_version := md.suite_value(suite, "python_version")):
        version = str(pyperf_version).split()[0]  # "3.11.0 (64-bit) revision deaf509"
    commit = md.suite_value(suite, md.COMMIT_ID)
    if version and commit:
        return f"{version} ({commit})"
    if version or commit:
        return str(version or commit)
    return Path(filename).stem if filename else "unknown"


def results_stem(name: str | os.PathLike[str]) -> str:
    """A results file's name without folder and ``.json`` / ``.json.gz`` (pyperf's column names)."""
    base = Path(name).name
    for suffix in (".json.gz", ".json"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return base


@dataclass(frozen=True)
class ParsedName:
    """The fields of a bench_runner file name, ``bm-<date>-<nick>-<arch>-<fork>-<ref>-<version>-<sha7>[-extra]``."""

    date: str  # YYYYMMDD
    nickname: str
    arch: str
    fork: str  # the owner, '%2d' read back as '-'
    ref: str
    version: str
    sha7: str
    # The fields after the sha: bench_runner's "vs", "<base>"[, "mem"] or "pystats"; ours: the
    # build tag and a copy number. Never the build flags of a bench_runner file (its folder has them).
    extra: tuple[str, ...]

    @property
    def iso_date(self) -> str:
        """The commit's date, YYYY-MM-DD."""
        return f"{self.date[:4]}-{self.date[4:6]}-{self.date[6:]}"

    @property
    def folder(self) -> str:
        """The run's folder without flags (:func:`run_folder` also reads them from the path)."""
        return folder_name(self.date, self.version, self.sha7)


def parse_name(stem: str) -> ParsedName | None:
    """The fields of a results file's stem, or None if it is not a bench_runner name.

    The fields are where bench_runner puts them (the sha is the 8th); a ref holding dashes, which
    bench_runner never writes, is read up to the first 7-character sha after a version.
    """
    parts = stem.split("-")
    if len(parts) < 8 or parts[0] != "bm" or not _DATE.match(parts[1]):
        return None
    for index in range(7, len(parts)):
        if _HEX7.match(parts[index]) and (index == 7 or _VERSION.match(parts[index - 1])):
            return ParsedName(parts[1], parts[2], parts[3], unquote(parts[4]), "-".join(parts[5 : index - 1]),
                              parts[index - 1], parts[index], tuple(parts[index + 1 :]))
    return None


@dataclass(frozen=True)
class ParsedFolder:
    """The fields of a run folder's name, ``bm-<date>-<version>-<sha7>[-<FLAGS>]``."""

    date: str
    version: str
    sha7: str
    flags: tuple[str, ...]  # bench_runner's "JIT", ours "PGO_LTO", "CFG…", "INSTR"


def parse_folder_name(name: str) -> ParsedFolder | None:
    """The fields of a run folder's name, or None if it is not one."""
    parts = name.split("-")
    if not 4 <= len(parts) <= 5 or parts[0] != "bm" or not _DATE.match(parts[1]) or not _HEX7.match(parts[3]):
        return None
    flags = tuple(parts[4].split(",")) if len(parts) == 5 else ()
    return ParsedFolder(parts[1], parts[2], parts[3], flags)


def run_folder(path: str | os.PathLike[str]) -> str | None:
    """The run folder bench_runner files a results file under (None if its name is not one): the
    date, version and sha of the file's name, the flags of the folder it is in, if that folder is
    the run's (bench_runner writes the flags into the folder's name only)."""
    parsed = parse_name(results_stem(path))
    if parsed is None:
        return None
    folder = parse_folder_name(Path(path).parent.name)
    if folder is not None and (folder.date, folder.version, folder.sha7) == (parsed.date, parsed.version, parsed.sha7):
        return Path(path).parent.name
    return parsed.folder


def system_name(platform_text: str) -> str:
    """The OS as bench_runner names a runner's ("linux", "darwin", "windows") from pyperf's
    ``platform`` metadata ("macOS-13.2.1-arm64-arm-64bit"): bench_runner reads it from its runners'
    configuration by nickname, which a results file does not carry. Another OS: its own word."""
    word = platform_text.split("-", 1)[0].strip().lower()
    return _SYSTEMS.get(word, word or "unknown")


def runner_name(system: str, arch: str, nickname: str) -> str:
    """A machine's section title on a run's page: ``darwin arm64 (darwin)``."""
    return f"{system} {arch} ({nickname})"


def runner_order(name: str) -> tuple[int, str]:
    """Sort key of :func:`runner_name` titles: linux, windows, darwin (another OS first), then by name."""
    system = name.split(" ", 1)[0]
    return (_SYSTEM_ORDER.index(system) if system in _SYSTEM_ORDER else -1), name


def machine_name(system: str, arch: str) -> str:
    """The ``machine`` of a table page's header: ``linux-x86_64`` (the OS, not the nickname)."""
    return f"{system}-{arch}"
