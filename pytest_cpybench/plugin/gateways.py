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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import execnet

from pytest_cpybench.cpython.git import WORKTREE
from pytest_cpybench.errors import CpybenchError
from pytest_cpybench.measure import cpus
from pytest_cpybench.results.identity import MACHINE_ENV

if TYPE_CHECKING:  # options imports this module
    from pytest_cpybench.options import Settings

REPO_ENV = "CPYBENCH_REPO"  # on a host: the CPython repository (path or URL) holding the commits



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


def local_worker_cpus(specs: Sequence[str], affinity: str | None) -> list[str] | None:
    """Per local gateway, in ``--tx`` order, the CPU list its pyperf processes are pinned to;
    None when at most one worker runs here (it keeps ``--cpython-affinity`` as given)."""
    local = [g for g in gateways(specs) if g.local]
    if len(local) < 2:
        return None
    cores = cpus.cores_of(cpus.usable_cpus(affinity))
    return [cpus.format_cpu_list(group) for group in cpus.cpu_groups(cores, len(local))]


def host_repo(repo_option: str | None) -> str | None:
    """The repository a host finds the session's commits in: its $CPYBENCH_REPO, else
    --cpython-repo as the host reads it (a URL works anywhere; a path must exist there)."""
    return os.environ.get(REPO_ENV, "").strip() or repo_option
