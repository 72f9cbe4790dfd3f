"""pyperformance's manifests, read into plain frozen records (:class:`BenchmarkDef`).

This is the only module that touches pyperformance's private API (``_manifest``); pyproject.toml
pins the range of pyperformance versions it was checked against. Everything it hands out is a
:class:`BenchmarkDef`, so the rest of the package never sees a pyperformance object.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyperformance
from pyperformance import _manifest

from pytest_cpybench.errors import CpybenchError
from pytest_cpybench.suite.definitions import ALL_GROUP, DEFAULT_GROUP, BenchmarkDef

# Files that say nothing about what a benchmark measures.
_IGNORED_DIRS = frozenset({"__pycache__", ".git", ".mypy_cache", ".pytest_cache"})
_IGNORED_SUFFIXES = (".pyc", ".pyo")


def pyperformance_version() -> str:
    return pyperformance.__version__


def default_manifest() -> Path:
    return Path(_manifest.DEFAULT_MANIFEST)


def load_benchmarks(extra_manifests: Iterable[Path | str] = ()) -> list[BenchmarkDef]:
    """pyperformance's default suite followed by the benchmarks of ``extra_manifests``.

    An extra manifest may ``[includes] <default>`` itself: a benchmark declared twice by the
    same file is kept once; two different benchmarks with one name are an error.
    """
    manifest_paths = [default_manifest()] + [_checked_manifest_path(p) for p in extra_manifests]
    by_name: dict[str, BenchmarkDef] = {}
    for manifest_path in dict.fromkeys(manifest_paths):  # dedupe, keep order
        for bench in _load_manifest_benchmarks(str(manifest_path)):
            known = by_name.get(bench.name)
            if known is None:
                by_name[bench.name] = bench
            elif known.metafile != bench.metafile:
                raise CpybenchError(
                    f"benchmark {bench.name!r} is declared by both {known.manifest} and "
                    f"{bench.manifest}; rename one of them"
                )
    return list(by_name.values())


#######################################
# loading


def _checked_manifest_path(path: Path | str) -> Path:
    manifest_path = Path(path).expanduser()
    if manifest_path.is_dir():
        manifest_path = manifest_path / "MANIFEST"
    if not manifest_path.is_file():
        raise CpybenchError(
            f"benchmark manifest {manifest_path} does not exist; "
            "pass the path of a pyperformance MANIFEST file"
        )
    return manifest_path.resolve()


def _load_manifest_benchmarks(manifest_path: str) -> tuple[BenchmarkDef, ...]:
    manifest = _parse_manifest(manifest_path)
    declared_in = {spec.name: filename for spec, _, filename in manifest._raw_benchmarks}
    benchmarks = []
    for bench in manifest.benchmarks:
        try:
            benchmarks.append(_to_def(bench, declared_in.get(bench.name) or manifest_path))
        except CpybenchError:
            raise
        except Exception as exc:  # pyperformance raises anything from ValueError to KeyError
            raise CpybenchError(
                f"invalid benchmark {bench.name!r} in {manifest_path}: {_describe(exc)}{_hint(exc)}"
            ) from None
    return tuple(benchmarks)


def _parse_manifest(manifest_path: str) -> _manifest.BenchmarksManifest:
    try:
        mtime_ns = os.stat(manifest_path).st_mtime_ns
    except OSError:
        raise CpybenchError(f"benchmark manifest {manifest_path} is gone or unreadable") from None
    return _parse_manifest_version(manifest_path, mtime_ns)


@functools.cache
def _parse_manifest_version(manifest_path: str, mtime_ns: int) -> _manifest.BenchmarksManifest:
    # pyperformance prints diagnostics to stdout for some bad metadata: keep them out of
    # the user's terminal and turn the failure into one line.
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            if manifest_path == str(default_manifest()):
                return _manifest.load_manifest(None)
            return _manifest.load_manifest(manifest_path)
        except FileNotFoundError as exc:
            missing = exc.filename or manifest_path
            raise CpybenchError(
                f"benchmark manifest {manifest_path} refers to {missing}, which does not exist"
            ) from None
        except Exception as exc:
            hint = ""
            if "table header" in str(exc):
                hint = " (the [benchmarks] table starts with 'name<TAB>metafile')"
            raise CpybenchError(
                f"invalid benchmark manifest {manifest_path}: {_describe(exc)}{hint}"
            ) from None


def _to_def(bench: _manifest.BenchmarksManifest, manifest_path: str) -> BenchmarkDef:
    with contextlib.redirect_stdout(io.StringIO()):
        runscript = bench.runscript
        requires_python = str(bench.python)
        tags = tuple(bench.tags or ())
        extra_opts = tuple(bench.extra_opts or ())
        lockfile = bench.requirements_lockfile
    if not runscript or not os.path.isfile(runscript):
        raise CpybenchError(
            f"benchmark {bench.name!r} in {manifest_path} has no run script "
            "(add run_benchmark.py next to its pyproject.toml)"
        )
    requirements_file = lockfile if lockfile and os.path.isfile(lockfile) else None
    metafile = os.path.abspath(bench.metafile)
    runscript = os.path.abspath(runscript)
    return BenchmarkDef(
        name=bench.name,
        tags=tags,
        requires_python=requires_python,
        runscript=runscript,
        extra_opts=extra_opts,
        requirements_file=requirements_file,
        metafile=metafile,
        manifest=os.path.abspath(manifest_path),
        definition_hash=_definition_hash(
            bench.name, runscript, metafile, requirements_file, extra_opts, requires_python
        ),
    )


def _hint(exc: BaseException) -> str:
    """What to change for the metadata errors pyperformance words for its developers."""
    if "version" in str(exc):
        return ' (add version = "1.0" to [project] in its pyproject.toml)'
    if isinstance(exc, AttributeError) and "NoneType" in str(exc):
        return " (its pyproject.toml needs a [tool.pyperformance] table with the benchmark's name)"
    return ""


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


#######################################
# groups and selection


#######################################
# definition hashes


def _definition_hash(
    name: str,
    runscript: str,
    metafile: str,
    requirements_file: str | None,
    extra_opts: tuple[str, ...],
    requires_python: str,
) -> str:
    """sha256 over everything that defines what a benchmark measures.

    The whole folder of the run script (code, data files, every .toml: benchmarks that share
    a folder share their code), the metafile's folder if different, the requirements file,
    and the benchmark's own options. Folder digests are cached; the whole default suite
    (about 30 MB) takes well under a second the first time.
    """
    digest = hashlib.sha256()
    digest.update(f"name={name}\nopts={list(extra_opts)}\npython={requires_python}\n".encode())
    folders = dict.fromkeys([os.path.dirname(runscript), os.path.dirname(metafile)])
    for folder in folders:
        digest.update(_folder_digest(folder).encode())
    if requirements_file and not any(_is_inside(requirements_file, f) for f in folders):
        digest.update(_file_digest(requirements_file).encode())
    return digest.hexdigest()


def _is_inside(path: str, folder: str) -> bool:
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == os.path.abspath(
        folder
    )


# folder -> (the stat signature of its files, their digest): re-read only what changed.
_folder_digests: dict[str, tuple[tuple[tuple[str, int, int], ...], str]] = {}


def _folder_digest(folder: str) -> str:
    files = _folder_files(folder)
    signature = tuple((relpath, stat.st_size, stat.st_mtime_ns) for relpath, _, stat in files)
    cached = _folder_digests.get(folder)
    if cached is not None and cached[0] == signature:
        return cached[1]
    digest = hashlib.sha256()
    for relpath, path, _ in files:
        digest.update(f"{relpath}\0{_file_digest(path)}\n".encode())
    _folder_digests[folder] = (signature, digest.hexdigest())
    return digest.hexdigest()


def _folder_files(folder: str) -> list[tuple[str, str, os.stat_result]]:
    """(relative path, path, stat) of the files that define a benchmark, sorted."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _IGNORED_DIRS)
        for filename in sorted(files):
            if filename.endswith(_IGNORED_SUFFIXES):
                continue
            path = os.path.join(root, filename)
            relpath = os.path.relpath(path, folder).replace(os.sep, "/")
            found.append((relpath, path, os.stat(path)))
    return found


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def group_members(benchmarks: Sequence[BenchmarkDef]) -> dict[str, set[str]]:
    """Lower-cased group name -> names of the member benchmarks among ``benchmarks``."""
    present = {bench.name for bench in benchmarks}
    members: dict[str, set[str]] = {ALL_GROUP: set(present), DEFAULT_GROUP: set()}
    for bench in benchmarks:
        for tag in bench.tags:
            members.setdefault(tag.lower(), set()).add(bench.name)
    for manifest_path in dict.fromkeys(bench.manifest for bench in benchmarks):
        manifest = _parse_manifest(manifest_path)
        for group in manifest.groups - {ALL_GROUP}:
            names = {b.name for b in manifest.resolve_group(group, fail=False)} & present
            members.setdefault(group.lower(), set()).update(names)
    return members
