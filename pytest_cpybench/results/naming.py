"""faster-cpython's bench_runner names, in one place: folders, results files and their fields.

A run of one commit, built one way, goes into a folder; each machine's results of it into a file::

    bm-<YYYYMMDD>-<version>-<sha7>[-<FLAGS>]/
        bm-<YYYYMMDD>-<machine>-<arch>-<fork>-<ref[:20]>-<version>-<sha7>[-<FLAGS>][-<n>].json

'-' separates the fields, so no field may contain one (as bench_runner's ``_clean``); the flags
are joined with ','. Names are lossy (a 7-character sha, truncated fields): the metadata inside a
file (:mod:`.identity`) decides what it holds; a name is a fast pre-filter and what pages show.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

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


def file_stem(date_stamp: str, machine: str, arch: str, fork: str, ref: str, version: str, sha7: str,
              build_tag: str = "") -> str:
    """``bm-<YYYYMMDD>-<machine>-<arch>-<fork>-<ref[:20]>-<version>-<sha7>[-<FLAGS>]``."""
    return "-".join(["bm", date_stamp, safe_name_field(machine), safe_name_field(arch), safe_name_field(fork),
                     safe_name_field(ref, REF_FIELD_LENGTH), safe_name_field(version), sha7,
                     *([build_tag] if build_tag else [])])


def is_folder_of(name: str, commit_sha: str, build_tag: str) -> bool:
    """Whether a folder of ours (:func:`folder_name`) holds runs of that commit built that way."""
    return name.split("-")[3:] == [commit_sha[:7], *([build_tag] if build_tag else [])]


def is_file_of(stem: str, machine: str, commit_sha: str) -> bool:
    """Whether a results file of ours (:func:`file_stem`, numbered or not) may hold that machine's
    results of that commit (our fields hold no '-', so they are found by position)."""
    fields = stem.split("-")
    return len(fields) >= 8 and fields[2] == safe_name_field(machine) and fields[7] == commit_sha[:7]


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
    """The fields of a bench_runner file name, ``bm-<date>-<nick>-<arch>-<fork>-<ref>-<version>-<sha7>[-flags]``."""

    date: str  # YYYYMMDD
    nickname: str
    arch: str
    fork: str
    ref: str
    version: str
    sha7: str
    flags: tuple[str, ...]


def parse_name(stem: str) -> ParsedName | None:
    """The fields of a results file's stem, or None if it is not a bench_runner name. The ref may
    itself hold dashes: the version is the field before the 7-character sha."""
    parts = stem.split("-")
    if len(parts) < 8 or parts[0] != "bm" or not re.fullmatch(r"\d{8}", parts[1]):
        return None
    for index in range(len(parts) - 1, 6, -1):
        if _HEX7.match(parts[index]) and _VERSION.match(parts[index - 1]):
            return ParsedName(parts[1], parts[2], parts[3], parts[4], "-".join(parts[5 : index - 1]),
                              parts[index - 1], parts[index], tuple(parts[index + 1 :]))
    return None
