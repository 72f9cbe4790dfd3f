"""One benchmark of a manifest as the rest of the package sees it: a plain frozen record, never a
pyperformance object; and what a record says about the interpreters it can run on."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from pytest_cpybench.errors import CpybenchError

# Groups every manifest has, whatever its sections say.
ALL_GROUP = "all"
DEFAULT_GROUP = "default"


@dataclass(frozen=True)
class BenchmarkDef:
    """One benchmark of a manifest, as needed to install and run it."""

    name: str
    tags: tuple[str, ...]
    requires_python: str  # a PEP 440 specifier set; "" means any version
    runscript: str
    extra_opts: tuple[str, ...]
    requirements_file: str | None
    metafile: str
    manifest: str
    definition_hash: str  # sha256 over the benchmark's files (see _definition_hash)


def supports(bench: BenchmarkDef, python_version: str) -> str | None:
    """None if the target interpreter ``python_version`` ("3.13.5", "3.14.0a1") may run
    ``bench``, else the reason it may not (e.g. "requires Python >=3.12")."""
    if not bench.requires_python:
        return None
    version = _parse_python_version(python_version)
    # Pre-releases count: a CPython built from main is an alpha, and ">=3.12" means it.
    if SpecifierSet(bench.requires_python).contains(version, prereleases=True):
        return None
    return f"requires Python {bench.requires_python}"


def suite_hash(benchmarks: Iterable[BenchmarkDef]) -> str:
    """A 6-hex-digit hash of the selected benchmarks' definitions (like bench_runner's)."""
    digest = hashlib.sha256()
    for bench in sorted(benchmarks, key=lambda b: b.name):
        digest.update(f"{bench.name}\0{bench.definition_hash}\n".encode())
    return digest.hexdigest()[:6]


def _parse_python_version(python_version: str) -> Version:
    # Accept what interpreters print: "3.14.0a1+", "3.13.5 (main, …)".
    match = re.match(r"\s*(\d+\.\d+(?:\.\d+)?(?:(?:a|b|rc)\d+)?)", python_version)
    try:
        if match is None:
            raise InvalidVersion(python_version)
        return Version(match.group(1))
    except InvalidVersion:
        raise CpybenchError(
            f"cannot read a Python version from {python_version!r} (expected e.g. 3.13.5)"
        ) from None
