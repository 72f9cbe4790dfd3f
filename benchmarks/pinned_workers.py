"""False alarms with ``-n 2`` (issue 14): does measuring two benchmarks at once, each worker pinned
to its own CPU, raise the A/A false-failure rate of one process measuring one benchmark at a time?

Each session is ``pytest`` as a user runs it: head ``neutral`` (one comment changed on top of
v3.13.5) against baseline ``v3.13.5``, both built, measured interleaved in the session (a fresh
results store each time, nothing saved); the verdicts come from the session's JUnit XML
(``cpybench.<result>.vs.<baseline>.verdict``). The two arms alternate session by session, so slow
drifts of the machine fall on both.
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

from .common import Context, Goal, SectionResult, Stopwatch, Table, fmt_rate, fmt_seconds
from .plan import BASE_REF, NEIGHBOUR_REF, THRESHOLD

NAME = "pinned_workers"
TITLE = f"False alarms with -n 2 (pinned workers): {NEIGHBOUR_REF} against {BASE_REF}"
ARMS = {"one process": [], "-n 2": ["-n", "2"]}
_VERDICT_PROPERTY = re.compile(r"cpybench\.(?P<result>.+)\.vs\.(?P<baseline>.+)\.verdict")


@dataclass
class Session:
    arm: str
    rep: int
    seconds: float
    returncode: int
    verdicts: dict[str, str]  # result -> verdict value ("unchanged", "regression", ...)


def run(ctx: Context) -> SectionResult:
    result = SectionResult(NAME, TITLE)
    plan = ctx.plan
    reps = ctx.runs or plan.xdist_reps
    sessions = [_session(ctx, arm, rep, reps) for rep in range(1, reps + 1) for arm in ARMS]
    rows = []
    for arm in ARMS:
        mine = [s for s in sessions if s.arm == arm]
        verdicts = [v for s in mine for v in s.verdicts.values()]
        failures, inconclusive = verdicts.count("regression"), verdicts.count("inconclusive")
        rows.append([arm, len(mine), len(verdicts), failures, fmt_rate(inconclusive, len(verdicts)),
                     fmt_seconds(sum(s.seconds for s in mine) / len(mine))])
        result.goals.append(Goal(f"{arm}: 0 false failures", fmt_rate(failures, len(verdicts)), failures == 0))
    result.tables.append(Table(f"{plan.xdist_benchmarks}, {plan.xdist_mode} mode, threshold {THRESHOLD:.0%}, "
                               f"{reps} sessions per arm",
                               ["arm", "sessions", "verdicts", "false failures", "inconclusive",
                                "seconds per session"], rows))
    result.data = {"sessions": [asdict(s) for s in sessions], "benchmarks": plan.xdist_benchmarks,
                   "mode": plan.xdist_mode}
    return result


def _session(ctx: Context, arm: str, rep: int, reps: int) -> Session:
    plan = ctx.plan
    xml = ctx.fresh_dir("xdist-junit") / "junit.xml"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
               f"--cpython-ref={NEIGHBOUR_REF}", f"--cpython-baseline={BASE_REF}", f"--cpython-repo={ctx.repo}",
               f"--cpython-cache-dir={ctx.cache_dir}", f"--cpython-results-dir={ctx.fresh_dir('xdist-results')}",
               "--cpython-save=no", "--cpython-machine=cpybench-benchmarks", f"--cpython-threshold={THRESHOLD:.0%}",
               f"--cpython-mode={plan.xdist_mode}", f"--cpython-benchmarks={plan.xdist_benchmarks}",
               f"--junitxml={xml}", *ARMS[arm]]
    if plan.budget is not None:
        command.append(f"--cpython-budget={plan.budget.processes}")
    with Stopwatch() as watch:
        done = subprocess.run(command, cwd=xml.parent, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1) or not xml.exists():
        raise RuntimeError(f"{arm} session {rep} ended with exit code {done.returncode}:\n{done.stdout[-2000:]}")
    verdicts = _verdicts(xml)
    ctx.log(f"{arm} {rep}/{reps}: {watch.seconds:.0f} s, "
            + ", ".join(f"{name}={verdict}" for name, verdict in sorted(verdicts.items())))
    return Session(arm, rep, round(watch.seconds, 1), done.returncode, verdicts)


def _verdicts(xml: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for prop in ET.parse(xml).iter("property"):
        match = _VERDICT_PROPERTY.fullmatch(prop.get("name", ""))
        if match:
            found[match["result"]] = prop.get("value", "")
    return found
