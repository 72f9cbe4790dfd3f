"""File locks for the shared cache: wait with a bound, and say who holds the lock.

``exclusive`` is the one lock-and-wait helper (builds, venvs, git mirrors). It tries without
waiting; if another process holds the lock it logs one line naming what it waits for and who
holds it (pid, host and purpose, read from the sidecar file ``<lock>.owner`` that every holder
writes), then waits at most ``timeout`` seconds and raises a one-line ``LockTimeout`` after that.

``hold_shared`` / ``unused`` are the "in use" locks on cache entries: a process that uses an
entry holds a shared ``flock`` on a file next to it until it exits; pruning takes the lock
exclusively without waiting and leaves the entry alone when it cannot.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import filelock

from pytest_cpybench.errors import CpybenchError

try:
    import fcntl
except ImportError:  # Windows: no shared locks, nothing is protected from pruning
    fcntl = None  # type: ignore[assignment]

Log = Callable[[str], None]

# How long a process waits for another one before giving up (seconds).
BUILD_WAIT = 60 * 60  # a cold CPython build with PGO takes most of an hour
VENV_WAIT = 35 * 60  # creating a venv, or one pip install (which gives up after 30 min)
MIRROR_WAIT = 10 * 60  # a fetch into a git mirror
SHARED_WAIT = 60  # taking an "in use" lock waits only for a prune that removes that entry

OWNER_SUFFIX = ".owner"
_POLL_SECONDS = 0.05


class LockTimeout(CpybenchError):
    """Another process held a lock longer than the caller was willing to wait."""


def owner_path(lock: Path) -> Path:
    return Path(f"{lock}{OWNER_SUFFIX}")


@contextlib.contextmanager
def exclusive(path: Path, *, purpose: str, waiting_for: str, timeout: float, log: Log) -> Iterator[None]:
    """Hold the exclusive file lock ``path`` for the ``with`` body.

    ``purpose`` (e.g. "building 287b767") is what this process writes into the owner file;
    ``waiting_for`` (e.g. "another session building 287b767") is how the waiting line and the
    timeout error describe the holder's work.
    """
    path = Path(path)
    lock = filelock.FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        log(f"waiting up to {_duration(timeout)} for {waiting_for}: {holder(path)} holds {path}")
        try:
            lock.acquire(timeout=timeout, poll_interval=_POLL_SECONDS)
        except filelock.Timeout:
            raise LockTimeout(
                f"gave up after {_duration(timeout)} waiting for {waiting_for}: {holder(path)} holds {path}; "
                f"wait for it to finish and retry, or remove {path} if that process is gone") from None
    with _owned(lock, path, purpose):
        yield


@contextlib.contextmanager
def try_exclusive(path: Path, *, purpose: str) -> Iterator[bool]:
    """The exclusive lock ``path`` if it is free right now: yields True, else False at once."""
    path = Path(path)
    lock = filelock.FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        yield False
        return
    with _owned(lock, path, purpose):
        yield True


@contextlib.contextmanager
def _owned(lock: filelock.BaseFileLock, path: Path, purpose: str) -> Iterator[None]:
    """An acquired ``lock``: say who holds it while the body runs, then release it."""
    try:
        _write_owner(path, purpose)
        yield
    finally:
        with contextlib.suppress(OSError):
            owner_path(path).unlink()
        lock.release()


def holder(path: Path) -> str:
    """Who holds the lock ``path``, as its owner file says: "pid 123 on host (building 287b767)"."""
    try:
        owner = json.loads(owner_path(path).read_text())
        pid, host, purpose = int(owner["pid"]), str(owner["host"]), str(owner["purpose"])
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
    since = time.strftime("%H:%M:%S", time.localtime(owner.get("since", 0)))
    gone = " (no longer running)" if host == socket.gethostname() and not _alive(pid) else ""
    return f"pid {pid} on {host}{gone} ({purpose}, since {since})"


def _write_owner(path: Path, purpose: str) -> None:
    record = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": purpose, "since": time.time()}
    target = owner_path(path)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(record))
        os.replace(tmp, target)
    except OSError:  # only a nicer message for waiters is lost
        with contextlib.suppress(OSError):
            tmp.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by another user
        return True
    return True


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:.0f} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:g} s"


#######################################
# "in use" locks: shared while used, exclusive to remove

_SHARED: dict[str, IO[bytes]] = {}


def hold_shared(path: Path, *, timeout: float = SHARED_WAIT) -> None:
    """Hold a shared lock on ``path`` (created if needed) until this process exits.

    Any number of processes can hold it at once; ``unused`` fails while one does. Holding it
    twice in one process is a no-op. Waits (up to ``timeout``) only while a prune holds it.
    """
    key = str(path)
    if fcntl is None or key in _SHARED:
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            handle = open(path, "ab")
        except OSError:  # a read-only shared cache: nobody can prune it either
            return
        try:
            _wait_shared(handle, path, deadline, timeout)
        except BaseException:
            handle.close()
            raise
        # A prune may have removed the file while we waited (and someone made a new one):
        # only a lock on the file that is at ``path`` now counts.
        if _same_file(path, handle):
            _SHARED[key] = handle
            return
        handle.close()


def _wait_shared(handle: IO[bytes], path: Path, deadline: float, timeout: float) -> None:
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise LockTimeout(f"gave up after {_duration(timeout)} waiting for {path}: a cache prune "
                                  f"holds it; retry, or remove {path} if no prune is running") from None
            time.sleep(_POLL_SECONDS)


def _same_file(path: Path, handle: IO[bytes]) -> bool:
    try:
        return os.path.samestat(os.stat(path), os.fstat(handle.fileno()))
    except FileNotFoundError:
        return False


def release_shared() -> None:
    """Let go of every lock ``hold_shared`` took in this process."""
    while _SHARED:
        _, handle = _SHARED.popitem()
        handle.close()


@contextlib.contextmanager
def unused(path: Path) -> Iterator[bool]:
    """True (and ``path`` locked exclusively for the ``with`` body) when no process holds it
    shared, else False at once. The body may delete ``path``."""
    if fcntl is None:
        yield True
        return
    # Created when missing, so a process starting to use the entry right now locks this same file.
    with open(path, "ab") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
