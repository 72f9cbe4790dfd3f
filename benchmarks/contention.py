"""Contention: what ``--cpython-parallel=auto``'s probe of the two cores measures, what it costs, and
how often it would send the sides to take turns.

Each check is the one a session makes (``pytest_cpybench.measure.contention.probe_and_confirm``): a 20 ms loop
pinned to each core alone, then on both at once, twice over; a probe that finds the cores apart is
confirmed by a second. The probes run back to back, or
``--every`` seconds apart to follow the host's load through an hour. On a quiet machine every probe
should keep the sides at once; a probe above the limit there would double a session's time for
nothing.

    python -m benchmarks.contention --probes 30 --json benchmarks/results/contention-DATE.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pytest_cpybench.measure import contention, cpus

from .common import Context, Goal, SectionResult, Table

NAME = "contention"
TITLE = "Contention: the probe of --cpython-parallel=auto on this machine's cores"
PROBES = {"quick": 3, "standard": 20, "full": 60}
TARGET_SECONDS = 2.0  # a probe a session makes every 5 minutes at most: well under 1% of them


@dataclass
class Probe:
    at: str
    seconds: float
    asymmetry: float  # of the first probe
    slowdowns: tuple[float, ...]
    confirmed: float | None = None  # a first probe above the limit: both probes' loops together


def measure(probes: int, every: float = 0.0) -> tuple[list[str], list[Probe]]:
    """``probes`` probes of the two cores a session would measure the sides on, ``every`` seconds apart."""
    found = cpus.parallel_cpus(None, 2)
    if found is None:
        return [], []
    made = []
    for index in range(probes):
        if index and every:
            time.sleep(every)
        started, at = time.monotonic(), time.strftime("%H:%M:%S")
        first, both = contention.probe_and_confirm(found)  # what a session's check does
        made.append(Probe(at, round(time.monotonic() - started, 3), round(first.asymmetry(), 4),
                          tuple(round(s, 4) for s in first.slowdowns()),
                          None if both is None else round(both.asymmetry(), 4)))
    return found, made


def summarize(found: list[str], probes: list[Probe]) -> SectionResult:
    section = SectionResult(NAME, TITLE, data={"cores": found, "limit": contention.ASYMMETRY_LIMIT,
                                               "probes": [vars(p) for p in probes]})
    if not probes:
        section.notes.append("fewer than 2 physical cores: the sides always take turns, nothing to probe")
        return section
    section.tables.append(Table(
        f"{len(probes)} probes of cores {' and '.join(found)} (limit {contention.ASYMMETRY_LIMIT:.2f}x)",
        ["at", "seconds", "apart, both busy", *(f"core {cpu} vs alone" for cpu in found), "confirmed by a second",
         "sides"],
        [[p.at, f"{p.seconds:.2f}", f"{p.asymmetry:.3f}x", *(f"{s:.3f}x" for s in p.slowdowns),
          "-" if p.confirmed is None else f"{p.confirmed:.3f}x", "in turn" if _in_turn(p) else "at once"]
         for p in probes]))
    seconds = [p.seconds for p in probes]
    section.goals.append(Goal(f"a probe costs at most {TARGET_SECONDS:g} s (median; max)",
                              f"{statistics.median(seconds):.2f} s; {max(seconds):.2f} s",
                              statistics.median(seconds) <= TARGET_SECONDS))
    over = sum(p.asymmetry > contention.ASYMMETRY_LIMIT for p in probes)
    turns = sum(_in_turn(p) for p in probes)
    apart = [p.asymmetry for p in probes]
    section.goals.append(Goal(
        "first probes above the limit; checks that would take turns (confirmed); median, max apart",
        f"{over} of {len(probes)}; {turns} of {len(probes)}; {statistics.median(apart):.3f}x, {max(apart):.3f}x",
        None, "report only: on a quiet machine it should be none, on a busy host the probe is meant to fire"))
    return section


def _in_turn(probe: Probe) -> bool:
    decided_by = probe.asymmetry if probe.confirmed is None else probe.confirmed
    return decided_by > contention.ASYMMETRY_LIMIT


def run(ctx: Context) -> SectionResult:
    return summarize(*measure(ctx.runs or PROBES[ctx.plan.name]))


def main(argv: list[str] | None = None) -> int:
    from benchmarks import run as bench_run

    parser = argparse.ArgumentParser(description="The contention section (see benchmarks/README.md).")
    parser.add_argument("--probes", type=int, default=PROBES["standard"])
    parser.add_argument("--every", type=float, default=0.0, help="seconds between probes (default: none)")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    args = parser.parse_args(argv)
    if args.probes < 1 or args.every < 0:
        parser.error("--probes must be at least 1 and --every at least 0")
    started = time.monotonic()
    return bench_run.finish_standalone(summarize(*measure(args.probes, args.every)), started, args.json, NAME, argv)


if __name__ == "__main__":
    sys.exit(main())
