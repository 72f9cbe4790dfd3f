"""Files that are never half written nor overwritten by accident, and the one reader of pyperf JSON."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import tempfile
from pathlib import Path

import pyperf

from pytest_cpybench.errors import StoreError

TMP_PREFIX = ".tmp-"
_MAX_REASON_LENGTH = 200
# Parse failures that mean "this file is not a readable pyperf suite" (JSONDecodeError and
# UnicodeDecodeError are ValueErrors).
_CORRUPT_CONTENT = (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError)


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


def write_temp_file(folder: Path, suite: pyperf.BenchmarkSuite) -> Path:
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


def link_without_overwriting(source: Path, target: Path) -> None:
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


def fsync_directory(folder: Path) -> None:
    # Makes the new name durable; some systems cannot open or sync a directory.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _describe_corruption(err: BaseException) -> str:
    if isinstance(err, json.JSONDecodeError):
        return f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}"
    if isinstance(err, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(err, KeyError):
        return f"not a pyperf results file: no {err.args[0]!r} entry"
    return f"not a pyperf results file: {type(err).__name__}: {one_line(err)}"


def one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    if len(text) > _MAX_REASON_LENGTH:
        text = text[: _MAX_REASON_LENGTH - 3] + "..."
    return text
