"""Where items run under xdist: which machine each gateway is, and which CPUs each local worker gets.

A verdict compares runs of one machine, and two benchmarks measured at once on one CPU disturb
each other. So a session refuses the distributions whose results it would mislabel (items on
another machine stored under this machine's name, or every item measured once per local worker
and kept once), and pins the pyperf processes of each local worker (``-n N``) to CPUs no other
worker uses, refusing ``-n N`` when there are fewer CPUs than workers.

Plain Python: the plugin passes in xdist's ``--tx`` specs (``-n 2`` is ``["popen", "popen"]``)
and ``--dist`` mode; execnet's public :class:`execnet.XSpec` parses the specs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import execnet

from .errors import CpybenchError
from .store import MACHINE_ENV

_CPU_RANGE = re.compile(r"(\d+)(?:-(\d+))?")


@dataclass(frozen=True)
class Gateway:
    """One ``--tx`` spec as this plugin sees it."""

    spec: str
    local: bool  # popen: a process on this machine
    machine: str | None  # what CPYBENCH_MACHINE says in the spec's env, if it says anything


def gateways(specs: Sequence[str]) -> list[Gateway]:
    """One per worker xdist starts: ``--tx 3*popen`` is three (xdist's own shorthand)."""
    found: list[Gateway] = []
    for spec in specs:
        count, star, rest = spec.partition("*")
        repeat, one = (int(count), rest) if star and count.isdigit() else (1, spec)
        parsed = execnet.XSpec(one)
        machine = parsed.env.get(MACHINE_ENV)
        found += [Gateway(one, bool(parsed.popen), str(machine) if machine else None)] * repeat
    return found


def check_distribution(found: Sequence[Gateway], dist: str, machine: str) -> None:
    """Refuse what would store another machine's runs under ``machine``, or keep one of N runs."""
    for gateway in found:
        elsewhere = ("runs items on another machine" if not gateway.local
                     else f"names another machine ({MACHINE_ENV}={gateway.machine})"
                     if gateway.machine not in (None, machine) else "")
        if elsewhere:
            raise CpybenchError(
                f"--tx {gateway.spec} {elsewhere}: this version measures on the machine pytest runs on "
                f"({machine}) only, and would store those results under its name; run pytest on each "
                "machine with --cpython-machine=NAME instead")
    if dist == "each" and len(found) > 1:
        raise CpybenchError(f"--dist each runs every benchmark on each of {len(found)} workers of this one "
                            "machine, at the same time; use -n N (--dist load) to share the benchmarks out")


def parse_cpu_list(text: str) -> list[int]:
    """``"0-2,5"`` -> ``[0, 1, 2, 5]`` (the syntax of pyperf's --affinity and taskset -c)."""
    cpus: list[int] = []
    for part in text.split(","):
        match = _CPU_RANGE.fullmatch(part.strip())
        if match is None or (match[2] is not None and int(match[2]) < int(match[1])):
            raise CpybenchError(f"--cpython-affinity={text!r} is not a CPU list: give e.g. 1, 0-3 or 0,2")
        last = int(match[2]) if match[2] is not None else int(match[1])
        cpus.extend(range(int(match[1]), last + 1))
    return sorted(set(cpus))


def format_cpu_list(cpus: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    parts: list[str] = []
    ordered = sorted(set(cpus))
    start = 0
    for index in range(1, len(ordered) + 1):
        if index == len(ordered) or ordered[index] != ordered[index - 1] + 1:
            first, last = ordered[start], ordered[index - 1]
            parts.append(str(first) if first == last else f"{first}-{last}")
            start = index
    return ",".join(parts)


def usable_cpus(affinity: str | None) -> list[int]:
    """The CPUs a session may use: ``--cpython-affinity``, else this process's own affinity."""
    if affinity:
        return parse_cpu_list(affinity)
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def cpu_groups(cpus: Sequence[int], workers: int) -> list[list[int]]:
    """Disjoint CPU sets, one per local worker, as equal as the count allows (neighbours together:
    on most machines CPU numbers close together share caches)."""
    if workers > len(cpus):
        listed = format_cpu_list(cpus)
        raise CpybenchError(
            f"-n {workers}: {workers} workers would share the {len(cpus)} CPU{'s' if len(cpus) > 1 else ''} "
            f"this session may use ({listed}), and benchmarks sharing a CPU slow each other down; "
            f"give -n {len(cpus)} or fewer" + ("" if len(cpus) > 1 else " (or no -n)"))
    ordered = sorted(cpus)
    size, extra = divmod(len(ordered), workers)
    groups, start = [], 0
    for index in range(workers):
        end = start + size + (1 if index < extra else 0)
        groups.append(ordered[start:end])
        start = end
    return groups


def local_worker_cpus(specs: Sequence[str], affinity: str | None) -> list[str] | None:
    """Per local gateway, in ``--tx`` order, the CPU list its pyperf processes are pinned to;
    None when at most one worker runs here (it keeps ``--cpython-affinity`` as given)."""
    local = [g for g in gateways(specs) if g.local]
    if len(local) < 2:
        return None
    return [format_cpu_list(group) for group in cpu_groups(usable_cpus(affinity), len(local))]
