"""Loops per benchmark result, calibrated once and kept in the cache (as bench_runner keeps a loops file).

pyperf calibrates how many loops make one value last at least 100 ms in a process of its own
before it measures. Interleaved measurement runs many short sessions of workers; calibrating in
each would cost a process per result per round. So the loops are calibrated once per machine,
benchmark definition and calibrating interpreter, and kept in ``<cache>/loops.json``: every later
round and session reuses them, and both sides of a comparison run the same loops.

The file is a cache: a missing, unreadable or corrupt file, or a missing entry, means
"calibrate again", never an error; a write replaces the file atomically, so two sessions at
once can at worst both calibrate.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from pytest_cpybench import locks
from pytest_cpybench.errors import CpybenchError
from pytest_cpybench.measure.processes import WorkerTask

FILE_NAME = "loops.json"
FORMAT = 1
LOCK_WAIT = 30.0  # seconds; saving takes milliseconds
MAX_LOOPS = 2**32  # more is a corrupt file: the worker would run until --cpython-timeout


def key(machine: str, benchmark: str, definition_hash: str, interpreter: str, purpose: str = "") -> str:
    """What a calibration depends on: the machine, the benchmark's code and the interpreter; and what
    the loops are for, when not the time metric's 100 ms values (``purpose``: counting instructions
    calibrates a shorter block, :mod:`pytest_cpybench.measure.cachegrind`)."""
    return "|".join((machine, benchmark, definition_hash[:12], interpreter, *([purpose] if purpose else [])))


def load(cache_dir: Path, entry: str) -> list[WorkerTask] | None:
    """The tasks stored under ``entry``, or None (calibrate)."""
    tasks = _read(cache_dir / FILE_NAME).get(entry)
    if not isinstance(tasks, list) or not tasks:
        return None
    try:
        found = [WorkerTask(int(t["index"]), str(t["name"]), int(t["loops"]), int(t.get("inner_loops", 1)))
                 for t in tasks]
    except (TypeError, KeyError, ValueError, OverflowError):  # 1e999 in the file: int(inf)
        return None
    if [t.index for t in found] != list(range(len(found))) or any(
            not (1 <= t.loops <= MAX_LOOPS and 1 <= t.inner_loops <= MAX_LOOPS) for t in found):
        return None
    return found


def save(cache_dir: Path, entry: str, tasks: list[WorkerTask]) -> None:
    """Store ``tasks`` under ``entry`` (best effort: a cache that cannot be written is recalibrated)."""
    path = cache_dir / FILE_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Read, add, replace under a lock: two xdist workers saving at once keep both entries.
        with locks.exclusive(path.with_name(f"{FILE_NAME}.lock"), purpose="saving calibrated loops",
                             waiting_for="another process saving calibrated loops", timeout=LOCK_WAIT,
                             log=lambda _message: None):
            entries = _read(path)
            entries[entry] = [{"index": t.index, "name": t.name, "loops": t.loops, "inner_loops": t.inner_loops}
                              for t in tasks]
            handle, temporary = tempfile.mkstemp(prefix=f".{FILE_NAME}.", dir=path.parent)
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    json.dump({"format": FORMAT, "loops": entries}, out, indent=1, sort_keys=True)
                os.replace(temporary, path)
            finally:
                if os.path.exists(temporary):
                    os.unlink(temporary)
    except (OSError, CpybenchError):
        pass  # a cache that cannot be written (or stays locked) is recalibrated next time


def _read(path: Path) -> dict[str, object]:
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return {}
    if not isinstance(document.get("loops"), dict):
        return {}
    return dict(document["loops"])
