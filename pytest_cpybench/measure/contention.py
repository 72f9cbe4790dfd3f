"""Whether the CPUs that would measure a round's sides at once slow each other down.

Measured at once, a round's sides run on two CPUs (swapping them round by round), so the round's
ratio carries the difference between those CPUs while both are busy. On a quiet machine that is a
percent or two. On a VM whose host is busy it is not: one evening here, a CPU-bound loop pinned to
each of the two vCPUs took about 100 ms on either alone, but 172 ms on one and 100 ms on the other
with both running it (docs/measurements/2026-12-07-contention.md). Swapping CPUs keeps that out of
the mean, not out of the noise: every round's ratio moves by the whole difference, one way or the
other, and the verdicts come out inconclusive. In turn, a round's processes run one after the other
with the other CPU idle, as they did alone.

:func:`probe` times a short loop pinned to each CPU alone, then on all of them at once, twice over
(about a second); :meth:`Contention.slows` says whether the CPUs differ by more than
:data:`ASYMMETRY_LIMIT` while all are busy, and :func:`checked` confirms a probe that says so with a
second. :func:`current` keeps a check for :data:`MAX_AGE` seconds, since a host's load moves within
minutes, in the process and in the cache dir (so that sessions started one after another share one).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_cpybench.measure import cpus as cpu_lists
from pytest_cpybench.results import files

# At 1.10 every round's ratio moves by about 10% one way or the other: far more than the 1-3% of a
# process mean's own noise, and the gate's 5% threshold then needs more rounds than its cap allows.
# Quiet hours here measured 1.00-1.03.
ASYMMETRY_LIMIT = 1.10
MAX_AGE = 300.0  # seconds a probe is trusted
CYCLES = 2  # alone on each CPU, then all at once: twice, so that one burst of the host's load does not decide
LOOPS = 4  # timed loops per run, after one warmup
ITERATIONS = 600_000  # about 20 ms of CPython here
TIMEOUT = 30.0

# The child: pinned to its CPUs, it waits for the common start, then prints each loop's seconds.
_LOOP = """\
import os, sys, time
os.sched_setaffinity(0, {int(cpu) for cpu in sys.argv[1].split(",")})
start_at, loops, iterations = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def loop():
    started = time.perf_counter()
    total = 0
    for i in range(iterations):
        total += i * i
    return time.perf_counter() - started
loop()
time.sleep(max(0.0, start_at - time.time()))
print(" ".join(repr(loop()) for _ in range(loops)))
"""


class ProbeFailed(RuntimeError):
    """A test loop could not run where it was pinned."""


@dataclass(frozen=True)
class Contention:
    """A loop's seconds on each CPU (a CPU list, as pyperf's --affinity takes), with the others idle
    and with every CPU running it."""

    cpus: tuple[str, ...]
    alone: tuple[tuple[float, ...], ...]  # per CPU, every timed loop
    together: tuple[tuple[float, ...], ...]

    def slowdowns(self) -> tuple[float, ...]:
        """Per CPU: its median loop with every CPU busy over its median alone."""
        return tuple(statistics.median(busy) / statistics.median(idle)
                     for busy, idle in zip(self.together, self.alone, strict=True))

    def asymmetry(self) -> float:
        """The slowest CPU's median loop over the fastest's, all busy: what a round measured at once
        carries into its ratio."""
        medians = [statistics.median(busy) for busy in self.together]
        return max(medians) / min(medians)

    def slows(self, limit: float = ASYMMETRY_LIMIT) -> bool:
        return self.asymmetry() > limit

    def merged(self, other: Contention) -> Contention:
        """Both probes' loops together (of the same CPUs)."""
        return Contention(self.cpus, tuple(a + b for a, b in zip(self.alone, other.alone, strict=True)),
                          tuple(a + b for a, b in zip(self.together, other.together, strict=True)))

    def text(self) -> str:
        """One line: how far apart the CPUs ran with all busy, and each against its time alone."""
        each = ", ".join(f"{cpu}: {slowdown:.2f}x" for cpu, slowdown in zip(self.cpus, self.slowdowns(), strict=True))
        return (f"busy together, one ran a test loop {self.asymmetry():.2f}x as long as the other "
                f"({each} its time alone)")


def probe(cpus: Sequence[str], cycles: int = CYCLES, loops: int = LOOPS,
          iterations: int = ITERATIONS) -> Contention:
    """Time the loop on each of ``cpus`` alone, then on all at once, ``cycles`` times over.
    ProbeFailed when a child fails (a CPU it may not use, a broken interpreter)."""
    alone: list[list[float]] = [[] for _ in cpus]
    together: list[list[float]] = [[] for _ in cpus]
    for _ in range(cycles):
        for index, cpu in enumerate(cpus):
            alone[index] += _run_together([cpu], loops, iterations)[0]
        for index, times in enumerate(_run_together(cpus, loops, iterations)):
            together[index] += times
    return Contention(tuple(cpus), tuple(map(tuple, alone)), tuple(map(tuple, together)))


def _run_together(cpus: Sequence[str], loops: int, iterations: int) -> list[list[float]]:
    """One child per CPU list, started together; each one's loop times."""
    start_at = time.time() + 0.1  # after every child has started and warmed up
    children = []
    for cpu in cpus:
        numbers = ",".join(str(n) for n in cpu_lists.parse_cpu_list(cpu))
        children.append(subprocess.Popen(
            [sys.executable, "-c", _LOOP, numbers, repr(start_at), str(loops), str(iterations)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    times = []
    try:
        for cpu, child in zip(cpus, children, strict=True):
            out, err = child.communicate(timeout=TIMEOUT)
            if child.returncode != 0:
                last = err.strip().splitlines()[-1:] or [f"exit status {child.returncode}"]
                raise ProbeFailed(f"the test loop pinned to CPU {cpu} failed: {last[0]}")
            times.append([float(value) for value in out.split()])
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    return times


def checked(cpus: Sequence[str]) -> Contention:
    """A probe of ``cpus``; one that finds them apart is confirmed by a second, both probes' loops
    deciding together. Of 20 single probes of a quiet machine here, one read 1.12x (the others
    1.01-1.07x): a burst of the host's load must not send a session's sides to take turns."""
    found = probe(cpus)
    return found.merged(probe(cpus)) if found.slows() else found


FILE_NAME = "contention.json"  # in the cache dir: sessions started within MAX_AGE share a check
FORMAT = 1
_probes: dict[tuple[str, ...], tuple[float, Contention | str]] = {}  # this process's, by CPUs


def current(cpus: Sequence[str], cache_dir: Path | None = None, machine: str = "") -> Contention | str:
    """The last check of ``cpus`` if younger than MAX_AGE (this process's, else one kept in
    ``cache_dir`` by a session of ``machine``), else a new one (:func:`checked`), kept in both; a
    string says why it could not be made (the sides are then measured at once, as without a check)."""
    key = tuple(cpus)
    now = time.time()
    made = _probes.get(key)
    if not _fresh(made, now) and cache_dir is not None:
        made = _load(cache_dir / FILE_NAME, machine, key)
    if made is not None and _fresh(made, now):
        _probes[key] = made
        return made[1]
    found: Contention | str
    try:
        found = checked(key)
    except (ProbeFailed, OSError, ValueError, subprocess.TimeoutExpired) as err:
        found = f"not checked whether they slow each other down ({err})"
    _probes[key] = (now, found)
    if cache_dir is not None and isinstance(found, Contention):
        _save(cache_dir / FILE_NAME, machine, now, found)
    return found


def _fresh(made: tuple[float, Contention | str] | None, now: float) -> bool:
    return made is not None and 0 <= now - made[0] < MAX_AGE


def _entry(machine: str, cpus: tuple[str, ...]) -> str:
    return "|".join((machine, *cpus))


def _load(path: Path, machine: str, cpus: tuple[str, ...]) -> tuple[float, Contention] | None:
    """A kept check, or None when there is none or it is not one (a cache: never an error)."""
    try:
        entry = json.loads(path.read_text("utf-8"))["checks"][_entry(machine, cpus)]
        at = float(entry["at"])
        alone, together = (tuple(tuple(float(s) for s in times) for times in entry[part])
                           for part in ("alone", "together"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    loops_ok = all(times and all(s > 0 for s in times) for times in (*alone, *together))
    if len(alone) != len(cpus) or len(together) != len(cpus) or not loops_ok:
        return None
    return at, Contention(cpus, alone, together)


def _save(path: Path, machine: str, at: float, found: Contention) -> None:
    """Keep ``found`` (best effort: two sessions saving at once keep one of theirs)."""
    try:
        document = json.loads(path.read_text("utf-8"))
        checks = document["checks"] if document.get("format") == FORMAT and isinstance(document["checks"], dict) \
            else {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        checks = {}
    checks[_entry(machine, found.cpus)] = {"at": at, "alone": found.alone, "together": found.together}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_text_atomically(path, json.dumps({"format": FORMAT, "checks": checks}, indent=1))
    except OSError:
        pass


__all__ = ["ASYMMETRY_LIMIT", "Contention", "ProbeFailed", "checked", "current", "probe"]
