"""Whether the CPUs that would measure a round's sides at once slow each other down.

Measured at once, a round's sides run on two CPUs (swapping them round by round), so the round's
ratio carries the difference between those CPUs while both are busy. On a quiet night here probes
read it at 1.01-1.07x. On a VM whose host is busy it can be more: one evening, a CPU-bound loop
pinned to each of the two vCPUs took 172 ms on one and 100 ms on the other with both running it,
for a run of eight loops (1.23x over both runs recorded; docs/measurements/2026-12-07-contention.md).
Swapping CPUs keeps that out of the mean, not out of the noise: every round's ratio moves by the
whole difference, one way or the other, and verdicts come out inconclusive. In turn, a round's
processes run one after the other with the other CPU idle, as they did alone.

:func:`probe` times a short loop pinned to each CPU alone, then on all of them at once, twice over
(about a second); :meth:`Contention.slows` says whether the CPUs differ by more than
:data:`ASYMMETRY_LIMIT` while all are busy, and :func:`probe_and_confirm` confirms a probe that says
so with a second. :func:`current` keeps a check for :data:`MAX_AGE` seconds, since a host's load moves within
minutes, in the process and in the cache dir (so that sessions started one after another share one).
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_cpybench.measure import cpus as cpu_lists
from pytest_cpybench.results import files

# At 1.10 every round's ratio moves by about 10% one way or the other, several times a process
# mean's own noise here; the 20 probes of a quiet night read the cores 1.01-1.07x apart, bursts aside.
ASYMMETRY_LIMIT = 1.10
MAX_AGE = 300.0  # seconds: the host's load changed within minutes on the noisy evening
CYCLES = 2  # alone on each CPU, then all at once: twice, so that one burst of the host's load weighs less
LOOPS = 4  # timed loops per run after one warmup: 80 ms of both cores busy, a check about a second
ITERATIONS = 600_000  # about 20 ms of CPython here
TIMEOUT = 30.0  # a run takes a fraction of a second: a child still running then is stuck

# The child, isolated (-I -S: no site, no coverage hooks writing files or lines): pinned to its
# CPUs, it warms up, says so, waits for the parent to release every child at once, and prints each
# loop's seconds.
_LOOP = """\
import os, sys, time
os.sched_setaffinity(0, {int(cpu) for cpu in sys.argv[1].split(",")})
loops, iterations = int(sys.argv[2]), int(sys.argv[3])
def loop():
    started = time.perf_counter()
    total = 0
    for i in range(iterations):
        total += i * i
    return time.perf_counter() - started
loop()
print("ready", flush=True)
sys.stdin.readline()
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
    """One child per CPU list, released together once all have warmed up; each one's loop times."""
    children: list[subprocess.Popen[str]] = []
    timed_out: list[bool] = []

    def stop_all() -> None:
        timed_out.append(True)
        for child in children:
            child.kill()

    watchdog = threading.Timer(TIMEOUT, stop_all)
    try:
        for cpu in cpus:
            numbers = ",".join(str(n) for n in cpu_lists.parse_cpu_list(cpu))
            children.append(subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _LOOP, numbers, str(loops), str(iterations)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        watchdog.start()
        for cpu, child in zip(cpus, children, strict=True):
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise _failure(cpu, child, bool(timed_out))
        for cpu, child in zip(cpus, children, strict=True):
            assert child.stdin is not None
            try:
                child.stdin.write("go\n")
                child.stdin.flush()
            except BrokenPipeError:
                raise _failure(cpu, child, bool(timed_out)) from None
        return [_loop_times(cpu, child, loops, timed_out) for cpu, child in zip(cpus, children, strict=True)]
    finally:
        watchdog.cancel()
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()


def _loop_times(cpu: str, child: subprocess.Popen[str], loops: int, timed_out: list[bool]) -> list[float]:
    out, _err = child.communicate()
    if child.returncode != 0:
        raise _failure(cpu, child, bool(timed_out))
    try:
        times = [float(value) for value in out.split()]
    except ValueError:
        times = []
    if len(times) != loops or not all(0 < seconds < TIMEOUT for seconds in times):
        raise ProbeFailed(f"the test loop pinned to CPU {cpu} printed {out.strip()[:60]!r}, not {loops} loop times")
    return times


def _failure(cpu: str, child: subprocess.Popen[str], timed_out: bool) -> ProbeFailed:
    if timed_out:
        return ProbeFailed(f"the test loop pinned to CPU {cpu} did not finish in {TIMEOUT:g} s")
    if child.poll() is None:
        child.kill()
    _out, err = child.communicate()
    last = err.strip().splitlines()[-1:] or [f"exit status {child.returncode}"]
    return ProbeFailed(f"the test loop pinned to CPU {cpu} failed: {last[0]}")


def probe_and_confirm(cpus: Sequence[str]) -> tuple[Contention, Contention | None]:
    """A probe of ``cpus`` and, when it finds them apart, both probes' loops together (None otherwise).
    Of 40 single probes on a quiet night here, 6 read the cores more than 1.10x apart (up to 1.70x),
    bursts of the host's load gone a second later; confirmed, none was."""
    first = probe(cpus)
    return first, (first.merged(probe(cpus)) if first.slows() else None)


def checked(cpus: Sequence[str]) -> Contention:
    """What decides: a probe, or a probe and its confirmation together (:func:`probe_and_confirm`)."""
    first, confirmed = probe_and_confirm(cpus)
    return confirmed or first


FOLDER = "contention"  # in the cache dir, a file per machine and CPUs: sessions within MAX_AGE share a check
FORMAT = 1
_Key = tuple[str, str, tuple[str, ...]]  # cache dir, machine, CPUs
_checks: dict[_Key, tuple[float, Contention | str]] = {}  # this process's


def current(cpus: Sequence[str], cache_dir: Path | None = None, machine: str = "") -> Contention | str:
    """The last check of ``cpus`` if younger than MAX_AGE (this process's, else one kept in
    ``cache_dir`` by a session of ``machine``), else a new one (:func:`checked`), kept in both; a
    string says why it could not be made (the sides are then measured at once, as without a check)."""
    key: _Key = (str(cache_dir or ""), machine, tuple(cpus))
    now = time.time()
    made = _checks.get(key)
    if not _fresh(made, now) and cache_dir is not None:
        made = _load(kept_file(cache_dir, machine, key[2]), key[2])
    if made is not None and _fresh(made, now):
        _checks[key] = made
        return made[1]
    found: Contention | str
    try:
        found = checked(key[2])
    except (ProbeFailed, OSError, ValueError) as err:
        found = f"not checked whether they slow each other down ({err})"
    _checks[key] = (now, found)
    if cache_dir is not None and isinstance(found, Contention):
        _save(kept_file(cache_dir, machine, key[2]), now, found)
    return found


def apart(found: Contention | str) -> bool:
    """Whether a check (:func:`current`) found the cores slowing each other down: the sides then take
    turns. A check that could not be made did not."""
    return isinstance(found, Contention) and found.slows()


def describe(found: Contention | str) -> str:
    """A check's numbers, or why it could not be made, for a log or a header."""
    return found.text() if isinstance(found, Contention) else found


def kept_file(cache_dir: Path, machine: str, cpus: Sequence[str]) -> Path:
    """Where a check is kept: one file per machine and CPUs, so that sessions saving at once (xdist
    workers of other cores) never overwrite each other's."""
    name = "-".join((machine, *cpus))
    return cache_dir / FOLDER / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".json")


def _fresh(made: tuple[float, Contention | str] | None, now: float) -> bool:
    return made is not None and 0 <= now - made[0] < MAX_AGE


def _load(path: Path, cpus: tuple[str, ...]) -> tuple[float, Contention] | None:
    """A kept check, or None when there is none or it is not one (a cache: never an error)."""
    try:
        document = json.loads(path.read_text("utf-8"))
        if document["format"] != FORMAT or tuple(document["cpus"]) != cpus:
            return None
        at = float(document["at"])
        alone, together = (tuple(tuple(float(s) for s in times) for times in document[part])
                           for part in ("alone", "together"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    loops_ok = all(times and all(0 < s < TIMEOUT for s in times) for times in (*alone, *together))
    if len(alone) != len(cpus) or len(together) != len(cpus) or not loops_ok:
        return None
    return at, Contention(cpus, alone, together)


def _save(path: Path, at: float, found: Contention) -> None:
    """Keep ``found`` (best effort: a check that cannot be kept is made again)."""
    document = {"format": FORMAT, "at": at, "cpus": found.cpus, "alone": found.alone, "together": found.together}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_text_atomically(path, json.dumps(document, indent=1))
    except OSError:
        pass


__all__ = ["ASYMMETRY_LIMIT", "Contention", "ProbeFailed", "checked", "current", "kept_file", "probe",
           "probe_and_confirm"]
