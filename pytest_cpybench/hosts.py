"""Where items run under xdist: which machine each gateway is, and which CPUs each local worker gets.

A verdict compares runs of one machine, and two benchmarks measured at once on one CPU disturb
each other. So:

* gateways to other machines (``--tx ssh=…``, or ``popen//env:CPYBENCH_MACHINE=alpha``) are
  *hosts*: with ``--dist each`` every host builds and measures the whole selection for itself and
  its results are kept, compared and stored under its own machine name; spreading items over
  machines (``--dist load``) is refused, as is ``--dist each`` over workers of one machine;
* the pyperf processes of each local worker (``-n N``) are pinned to CPUs no other worker uses,
  and ``-n N`` with fewer CPUs than workers is refused.

Plain Python: the plugin passes in xdist's ``--tx`` specs (``-n 2`` is ``["popen", "popen"]``)
and ``--dist`` mode; execnet's public API parses the specs and asks a host its name.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import execnet

from .errors import CpybenchError
from .gitrepo import WORKTREE
from .store import MACHINE_ENV

if TYPE_CHECKING:  # options imports this module
    from .options import Settings

REPO_ENV = "CPYBENCH_REPO"  # on a host: the CPython repository (path or URL) holding the commits

_CPU_RANGE = re.compile(r"(\d+)(?:-(\d+))?")
MAX_CPU = 8191  # Linux's largest CPU count (NR_CPUS) less one


@dataclass(frozen=True)
class Gateway:
    """One ``--tx`` spec as this plugin sees it."""

    spec: str
    local: bool  # popen, not through a proxy (via=): a process on this machine
    machine: str | None  # what CPYBENCH_MACHINE says in the spec's env, if it says anything


def gateways(specs: Sequence[str]) -> list[Gateway]:
    """One per worker xdist starts: ``--tx 3*popen`` is three (xdist's own shorthand)."""
    found: list[Gateway] = []
    for spec in specs:
        count, star, rest = spec.partition("*")
        repeat, one = (int(count), rest) if star and count.isdigit() else (1, spec)
        parsed = _parse_spec(one)
        machine = str(parsed.env.get(MACHINE_ENV) or "").strip()
        found += [Gateway(one, is_local(parsed), machine or None)] * repeat
    return found


def _parse_spec(spec: str) -> execnet.XSpec:
    try:
        parsed = execnet.XSpec(spec)
    except (ValueError, IndexError, AttributeError):
        parsed = None
    if parsed is None or not any(getattr(parsed, kind) for kind in ("popen", "ssh", "socket", "vagrant_ssh")):
        raise CpybenchError(f"--tx {spec!r} is not an xdist gateway: give e.g. popen, ssh=user@host or "
                            "socket=host:port (with //python=… and //env:NAME=value parts if needed)")
    return parsed


def is_local(spec: execnet.XSpec) -> bool:
    """A process on this machine: ``popen``, but not ``popen//via=box`` (a process on box)."""
    return bool(spec.popen) and not spec.via


def is_elsewhere(gateway: Gateway, machine: str) -> bool:
    """Does the gateway measure on a machine other than ``machine`` (the controller's)?"""
    return not gateway.local or gateway.machine not in (None, machine)


def check_distribution(found: Sequence[Gateway], dist: str, machine: str) -> bool:
    """True when the gateways are hosts (machines of their own, ``--dist each``); refuse what would
    mix two machines' runs in one verdict, or measure each benchmark N times on one machine."""
    elsewhere = [gateway for gateway in found if is_elsewhere(gateway, machine)]
    if elsewhere and dist != "each":
        raise CpybenchError(
            f"--dist {dist} would spread the benchmarks over machines (--tx {elsewhere[0].spec}), and a verdict "
            "compares runs of one machine: use --dist each (every machine measures every benchmark)")
    if elsewhere:
        named = [gateway.machine for gateway in found if gateway.machine]
        twice = sorted({name for name in named if named.count(name) > 1})
        if twice:
            raise CpybenchError(f"--tx names machine {twice[0]} twice ({MACHINE_ENV}={twice[0]}): "
                                "give each host a name of its own")
        return True
    if dist == "each" and len(found) > 1:
        raise CpybenchError(f"--dist each runs every benchmark on each of {len(found)} workers of this one "
                            "machine, at the same time; use -n N (--dist load) to share the benchmarks out")
    return False


def check_host_settings(settings: Settings, remote: bool) -> None:
    """Refuse what names something on this machine only, when hosts measure for themselves
    (``remote``: some are other machines, where this machine's files do not exist)."""
    refused = ("--cpython-python names an interpreter of this machine: give --cpython-ref, every host builds it"
               if settings.python else
               "--cpython-ref=WORKTREE is this machine's working tree: commit it to a branch the hosts can fetch"
               if settings.ref == WORKTREE else
               "--cpython-json names one file: with hosts, each machine's results go to --cpython-results-dir"
               if settings.json_path else
               "--cpython-bisect=yes builds on this machine: bisect on the machine that regressed"
               if settings.bisect else
               "--cpython-manifest names files of this machine: install the benchmarks on each host and run "
               "there, or use pyperformance's own benchmarks"
               if settings.manifests and remote else "")
    if refused:
        raise CpybenchError(f"{refused} (--dist each over other machines)")


# Sent to a host through execnet (gateway.remote_exec): its machine name, as default_machine() there.
_MACHINE_QUERY = f"""
import os, socket
channel.send(os.environ.get({MACHINE_ENV!r}, "").strip() or socket.gethostname() or "unknown")
"""


def machine_of(gateway: execnet.Gateway, controller_machine: str, timeout: float = 60.0) -> str:
    """A host's machine name: the spec's CPYBENCH_MACHINE, this machine's name for a plain local
    gateway, else what the host says (its CPYBENCH_MACHINE, else its host name)."""
    spec = gateway.spec
    named = str(spec.env.get(MACHINE_ENV) or "").strip()
    if named:
        return named
    if is_local(spec):
        return controller_machine
    channel = gateway.remote_exec(_MACHINE_QUERY)
    try:
        return str(channel.receive(timeout))
    finally:
        channel.close()


def parse_cpu_list(text: str) -> list[int]:
    """``"0-2,5"`` -> ``[0, 1, 2, 5]`` (the syntax of pyperf's --affinity and taskset -c)."""
    cpus: list[int] = []
    for part in text.split(","):
        match = _CPU_RANGE.fullmatch(part.strip())
        if match is None or (match[2] is not None and int(match[2]) < int(match[1])):
            raise CpybenchError(f"--cpython-affinity={text!r} is not a CPU list: give e.g. 1, 0-3 or 0,2")
        last = int(match[2]) if match[2] is not None else int(match[1])
        if last > MAX_CPU:
            raise CpybenchError(f"--cpython-affinity={text!r}: CPU numbers go up to {MAX_CPU}")
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
    except (OSError, CpybenchError):
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


def local_worker_cpus(specs: Sequence[str], affinity: str | None) -> list[str] | None:
    """Per local gateway, in ``--tx`` order, the CPU list its pyperf processes are pinned to;
    None when at most one worker runs here (it keeps ``--cpython-affinity`` as given)."""
    local = [g for g in gateways(specs) if g.local]
    if len(local) < 2:
        return None
    return [format_cpu_list(group) for group in cpu_groups(cores_of(usable_cpus(affinity)), len(local))]


def host_repo(repo_option: str | None) -> str | None:
    """The repository a host finds the session's commits in: its $CPYBENCH_REPO, else
    --cpython-repo as the host reads it (a URL works anywhere; a path must exist there)."""
    return os.environ.get(REPO_ENV, "").strip() or repo_option
