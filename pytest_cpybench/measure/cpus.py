"""The CPUs a session may use, grouped by physical core: for pinning pyperf's worker processes.

Two benchmarks measured at once on one core disturb each other; so each local xdist worker gets
CPUs no other worker uses (:func:`cpu_groups`), and the sides of an interleaved round measured at
the same time get a physical core each (:func:`parallel_cpus`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from pytest_cpybench.errors import CpybenchError

_CPU_RANGE = re.compile(r"(\d+)(?:-(\d+))?")
MAX_CPU = 8191  # Linux's largest CPU count (NR_CPUS) less one


def parse_cpu_list(text: str) -> list[int]:
    """``"0-2,5"`` -> ``[0, 1, 2, 5]`` (the syntax of pyperf's --affinity and taskset -c); ValueError
    when it is not one."""
    cpus: list[int] = []
    for part in text.split(","):
        match = _CPU_RANGE.fullmatch(part.strip())
        if match is None or (match[2] is not None and int(match[2]) < int(match[1])):
            raise ValueError("is not a CPU list: give e.g. 1, 0-3 or 0,2")
        last = int(match[2]) if match[2] is not None else int(match[1])
        if last > MAX_CPU:
            raise ValueError(f"is not a CPU list of a machine: CPU numbers go up to {MAX_CPU}")
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
    """The CPUs a session may use: ``--cpython-affinity`` (refused when it names CPUs this process
    may not run on), else this process's own affinity."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(
        range(os.cpu_count() or 1))
    if not affinity:
        return allowed
    asked = parse_cpu_list(affinity)
    outside = sorted(set(asked) - set(allowed))
    if outside:
        raise CpybenchError(f"--cpython-affinity={affinity} names CPUs this process may not run on "
                            f"({format_cpu_list(outside)}); it may use {format_cpu_list(allowed)}")
    return asked



def cores_of(cpus: Sequence[int], siblings: Callable[[int], list[int]] | None = None) -> list[list[int]]:
    """``cpus`` grouped by physical core (hyperthreads of one core together), in CPU order;
    ``siblings(cpu)`` says which CPUs share ``cpu``'s core (default: Linux's sysfs topology)."""
    sibling_list = siblings or _sysfs_siblings
    chosen = set(cpus)
    cores: list[list[int]] = []
    seen: set[int] = set()
    for cpu in sorted(chosen):
        if cpu in seen:
            continue
        core = sorted((set(sibling_list(cpu)) | {cpu}) & chosen)
        seen.update(core)
        cores.append(core)
    return cores



def _sysfs_siblings(cpu: int) -> list[int]:
    try:
        text = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list").read_text().strip()
        return parse_cpu_list(text)
    except (OSError, ValueError):
        return [cpu]  # no topology (another system, a container hiding it): each CPU its own core



def cpu_groups(cores: Sequence[Sequence[int]], workers: int) -> list[list[int]]:
    """Disjoint CPU sets, one per local worker: whole cores (two hyperthreads of one core would slow
    each other's benchmarks down), as many each as the count allows, neighbours together (CPU
    numbers close together usually share caches)."""
    cpus = sorted(cpu for core in cores for cpu in core)
    if workers > len(cores):
        threads = f" ({len(cpus)} CPUs)" if len(cpus) > len(cores) else ""
        unit = "core" if threads else "CPU"
        raise CpybenchError(
            f"-n {workers}: {workers} workers would share the {len(cores)} {unit}{'s' if len(cores) > 1 else ''}"
            f"{threads} this session may use ({format_cpu_list(cpus)}), and benchmarks sharing a {unit} slow "
            f"each other down; give -n {len(cores)} or fewer" + ("" if len(cores) > 1 else " (or no -n)"))
    size, extra = divmod(len(cores), workers)
    groups, start = [], 0
    for index in range(workers):
        end = start + size + (1 if index < extra else 0)
        groups.append(sorted(cpu for core in cores[start:end] for cpu in core))
        start = end
    return groups


def parallel_cpus(affinity: str | None, sides: int) -> list[str] | None:
    """One physical core per side (its CPU list) when the CPUs this session may use (``affinity``,
    else the process's) hold one per side; None when they do not (the sides then take turns).

    A worker runs one thread: a core is all it can use. The last cores are taken, since the first
    CPU of a machine usually serves more interrupts and housekeeping than the others."""
    if sides < 2:
        return None
    cores = cores_of(usable_cpus(affinity))
    if len(cores) < sides:
        return None
    return [format_cpu_list(core) for core in cores[-sides:]]
