"""History: how often does ``history``'s change-point detection flag a series where nothing changed,
and how small a step does it find at the right commit? And what does a nightly run cost?

Two parts:

* ``replay`` (no builds, seconds): 20-commit series replayed, seeded, from the real measurements kept in
  ``benchmarks/results/``, each commit a new build. Time: each commit's processes are drawn from the
  process means of one real session (``noise-2026-11-30.json``: 5 results, 24 processes of each of two
  builds; ``alongside-2026-11-30.json``: 13 results, 8 processes of each build in turn and at once),
  and each commit's build is off by a real difference between two builds of the same code, over root 2
  (the ratios of ``neutral`` to ``v3.13.5`` measured interleaved in ``standard.json``'s 100 A/A
  verdicts and in the two files above). Instructions: each commit counted once, its repetition noise
  drawn from the repeated counts of v3.13.5 (``instructions-env.json``, ``instructions-slowdown-tiny.json``),
  its layout off by the result's own heap-layout shift (one environment variable more,
  ``instructions-env.json``) or by the ``neutral`` build's (``instructions.json``), over root 2. The
  detector is the plugin's (:func:`pytest_cpybench.history.detect.change_points`).
* ``cost`` (real builds and measurements): ``backfill`` then ``history --confirm`` on the test
  repository's ``bisect`` branch, as a nightly job runs them; their wall time, and the commit named.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_cpybench.history import detect
from pytest_cpybench.history.series import Group, Point, Series
from pytest_cpybench.results import metadata as md

from .common import Context, Goal, SectionResult, Stopwatch, Table, fmt_rate

NAME = "history"
TITLE = "History: change points on replayed real noise (false alarms, smallest step), and a nightly run's cost"
RESULTS = Path(__file__).resolve().parent / "results"
SEED = 20261207
COMMITS = 20
PROCESSES = 10  # fast mode's (what a backfill of the test uses); default mode has 20
STEP_AT = (4, 16)  # the step's first commit, uniform: four commits at least on each side
REPLAYS = {"quick": (200, 60), "standard": (1000, 300), "full": (4000, 1000)}  # (A/A series, series per step)
TIME_STEPS = (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.10, 0.15)
COUNT_STEPS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02)
EVERY = {"quick": 8, "standard": 3, "full": 1}  # the cost part's --every
TARGET_FALSE_ALARMS = 0.05
TARGET_FOUND = 0.9
GROUP = {m: Group("replay", m, "release", "", "fast", "alone") for m in md.METRICS}


# -- the real noise ---------------------------------------------------------------------------------


@dataclass
class Noise:
    """What a replayed commit is made of, per result: the pools its processes (or counts) come from,
    and the offsets of a commit's build."""

    processes: dict[str, list[list[float]]]  # result -> pools of log residuals (one per session and build)
    builds: dict[str, list[float]]  # result -> log differences between two builds of the same code ("*": any)
    drift: list[float]  # log differences of one build between two sessions (time only)
    sources: list[str]


def _load(name: str) -> dict[str, object]:
    data = json.loads((RESULTS / name).read_text())
    assert isinstance(data, dict)
    return data


def _residuals(values: Sequence[float]) -> list[float]:
    center = math.log(statistics.fmean(values))
    return [math.log(v) - center for v in values]


def time_noise() -> Noise:
    processes: dict[str, list[list[float]]] = {}
    builds: list[float] = []
    drift: list[float] = []
    noise = _load("noise-2026-11-30.json")["sections"]["noise"]["data"]["processes"]  # type: ignore[index]
    along = _load("alongside-2026-11-30.json")["sections"]["alongside"]["data"]["results"]  # type: ignore[index]
    for per_result in noise.values():
        for name, sides in per_result.items():
            means = {side: [statistics.fmean(p) for p in sides[side]] for side in ("head", "base")}
            processes.setdefault(name, []).extend(_residuals(m) for m in means.values())
            builds.append(math.log(statistics.fmean(means["head"]) / statistics.fmean(means["base"])))
            if name in along:  # the same builds measured in another session: drift
                for side, other in (("head", "head"), ("base", "v3.13.5")):
                    here = statistics.fmean(means[side])
                    drift += [math.log(statistics.fmean(along[name][way][other]) / here)
                              for way in ("turns", "together")]
    for name, result in along.items():
        for way in ("turns", "together"):
            processes.setdefault(name, []).extend(_residuals(result[way][side]) for side in ("head", "v3.13.5"))
            builds.append(math.log(statistics.fmean(result[way]["head"]) / statistics.fmean(result[way]["v3.13.5"])))
        drift.append(math.log(statistics.fmean(result["together"]["v3.13.5"]) /
                              statistics.fmean(result["turns"]["v3.13.5"])))
    verdicts = _load("standard.json")["sections"]["false_alarms"]["data"]["verdicts"]["interleaved"]  # type: ignore[index]
    builds += [math.log(v["ratio"]) for v in verdicts]
    return Noise(processes, {"*": builds}, drift,
                 ["noise-2026-11-30.json", "alongside-2026-11-30.json", "standard.json"])


def count_noise() -> Noise:
    env = _load("instructions-env.json")["sections"]["instructions"]["data"]  # type: ignore[index]
    tiny = _load("instructions-slowdown-tiny.json")["sections"]["instructions"]["data"]  # type: ignore[index]
    heads = _load("instructions.json")["sections"]["instructions"]["data"]["heads"]  # type: ignore[index]
    processes: dict[str, list[list[float]]] = {}
    for counts in (env["base_counts"], env["env_counts"], tiny["base_counts"], *tiny["head_counts"].values()):
        for name, repeated in counts.items():
            processes.setdefault(name, []).append(_residuals(repeated))
    neutral = {row[1]: math.log(float(row[2])) for row in heads if row[0] == "neutral"}
    builds = {name: [shift, neutral.get(name, 0.0)] for name, shift in env["env_shifts"].items()}
    return Noise(processes, builds, [],
                 ["instructions-env.json", "instructions-slowdown-tiny.json", "instructions.json"])


# -- replays ----------------------------------------------------------------------------------------


def replay(rng: random.Random, noise: Noise, metric: str, *, commits: int = COMMITS, step: float = 0.0,
           at: int | None = None, drift: bool = False, processes: int = PROCESSES) -> Series:
    """One result's series: each commit a new build, measured in one real session's noise."""
    name = rng.choice(sorted(noise.processes))
    pool = rng.choice(noise.processes[name])
    offsets = noise.builds.get(name, noise.builds.get("*", [0.0]))
    counted_once = metric == md.METRIC_INSTRUCTIONS
    series = Series(GROUP[metric], name, name, "second")
    for index in range(commits):
        level = rng.choice(offsets) / math.sqrt(2) * rng.choice((-1, 1))
        if drift and noise.drift:
            level += rng.choice(noise.drift) / math.sqrt(2) * rng.choice((-1, 1))
        if at is not None and index >= at:
            level += math.log1p(step)
        draws = [rng.choice(pool) for _ in range(1 if counted_once else processes)]
        means = [math.exp(level + e) for e in draws]
        logs = [math.log(m) for m in means]
        spread = statistics.stdev(logs) / math.sqrt(len(logs)) if len(logs) > 1 else 0.0
        series.points.append(Point(index, f"{index:040x}", math.log(statistics.fmean(means)), spread, len(means)))
    return series


Finder = Callable[[Series], list[detect.ChangePoint]]


def process_spread_only(series: Series) -> list[int]:
    """The penalty from the commits' own process spread alone (no commit-to-commit scatter): what
    the detector would flag without the builds' noise in its scale."""
    points = series.points
    scale = max(statistics.median(p.noise for p in points), detect.NOISE_FLOOR[series.group.metric])
    origin = points[0].estimate
    return detect.breakpoints([(p.estimate - origin) / scale for p in points], detect.penalty(len(points)))


def false_alarms(rng: random.Random, noise: Noise, metric: str, replays: int, **kwargs: object) -> float:
    flagged = sum(bool(detect.change_points(replay(rng, noise, metric, **kwargs))) for _ in range(replays))  # type: ignore[arg-type]
    return flagged / replays


def found_rate(rng: random.Random, noise: Noise, metric: str, step: float, replays: int,
               **kwargs: object) -> tuple[float, float]:
    """(share with a change point at the right commit, share with another change point too)."""
    right = extra = 0
    for _ in range(replays):
        at = rng.randint(*STEP_AT)
        found = detect.change_points(replay(rng, noise, metric, step=step, at=at, **kwargs))  # type: ignore[arg-type]
        hit = any((c.before.index, c.after.index) == (at - 1, at) for c in found)
        right += hit
        extra += hit and len(found) > 1
    return right / replays, extra / replays


def run_replays(plan: str, log: Callable[[str], None]) -> SectionResult:
    result = SectionResult(NAME, TITLE)
    aa, per_step = REPLAYS.get(plan, REPLAYS["standard"])
    data: dict[str, object] = {"seed": SEED, "commits": COMMITS, "processes": PROCESSES, "step_at": STEP_AT,
                               "replays": {"aa": aa, "per_step": per_step}, "penalty_factor": detect.PENALTY_FACTOR}
    rows: list[list[object]] = []
    step_rows: list[list[object]] = []
    smallest: dict[str, float | None] = {}
    for metric, noise, steps in ((md.METRIC_TIME, time_noise(), TIME_STEPS),
                                 (md.METRIC_INSTRUCTIONS, count_noise(), COUNT_STEPS)):
        rng = random.Random(f"{SEED}-{metric}")
        log(f"replaying {metric}: {aa} A/A series, {per_step} per step")
        rate = false_alarms(rng, noise, metric, aa)
        rows.append([metric, f"{COMMITS} commits", fmt_rate(round(rate * aa), aa)])
        data[f"{metric}_false_alarms"] = rate
        found = {}
        for step in steps:
            right, extra = found_rate(rng, noise, metric, step, per_step)
            found[step] = (right, extra)
            step_rows.append([metric, f"{step:.2%}", f"{right:.1%}", f"{extra:.1%}"])
        data[f"{metric}_found"] = {f"{s}": {"right_commit": r, "with_another": e} for s, (r, e) in found.items()}
        smallest[metric] = next((s for s in steps if found[s][0] >= TARGET_FOUND), None)
        data[f"{metric}_sources"] = noise.sources
        if metric == md.METRIC_TIME:
            data["time_found_10"] = found[0.10][0]
            for commits in (5, 10, 40):
                r = false_alarms(rng, noise, metric, aa // 2, commits=commits)
                rows.append([metric, f"{commits} commits", fmt_rate(round(r * (aa // 2)), aa // 2)])
                data[f"time_false_alarms_{commits}"] = r
            spread_only = sum(bool(process_spread_only(replay(rng, noise, metric))) for _ in range(aa // 2))
            rows.append([metric, "penalty from the process spread alone", fmt_rate(spread_only, aa // 2)])
            data["time_false_alarms_process_spread_only"] = spread_only / (aa // 2)
            drifted = false_alarms(rng, noise, metric, aa // 2, drift=True)
            drift_found, _ = found_rate(rng, noise, metric, 0.10, per_step, drift=True)
            rows.append([metric, "with drift between sessions hours apart",
                         fmt_rate(round(drifted * (aa // 2)), aa // 2) + f"; 10% step found {drift_found:.0%}"])
            data["time_with_drift"] = {"false_alarms": drifted, "found_10": drift_found}
            default_mode = false_alarms(rng, noise, metric, aa // 2, processes=20)
            rows.append([metric, "20 processes a commit (default mode)", fmt_rate(round(default_mode * (aa // 2)),
                                                                                  aa // 2)])
            data["time_false_alarms_default_mode"] = default_mode
    result.tables.append(Table("A/A series flagged (any change point), replayed from real noise",
                               ["metric", "series", "flagged"], rows))
    result.tables.append(Table(f"steps found at the right commit ({COMMITS} commits, the step at commit "
                               f"{STEP_AT[0]}-{STEP_AT[1]})", ["metric", "step", "right commit", "another too"],
                               step_rows))
    time_fa = float(data[f"{md.METRIC_TIME}_false_alarms"])  # type: ignore[arg-type]
    count_fa = float(data[f"{md.METRIC_INSTRUCTIONS}_false_alarms"])  # type: ignore[arg-type]
    found_10 = float(data["time_found_10"])  # type: ignore[arg-type]
    result.goals += [
        Goal("time: 20-commit A/A series flagged <= 5%", f"{time_fa:.1%}", time_fa <= TARGET_FALSE_ALARMS),
        Goal("instructions: 20-commit A/A series flagged <= 5%", f"{count_fa:.1%}", count_fa <= TARGET_FALSE_ALARMS),
        Goal("time: a 10% step found at the right commit >= 9 in 10", f"{found_10:.1%}", found_10 >= TARGET_FOUND),
    ]
    for metric, smallest_step in smallest.items():
        largest = (TIME_STEPS if metric == md.METRIC_TIME else COUNT_STEPS)[-1]
        text = f"{smallest_step:.2%}" if smallest_step is not None else f"none up to {largest:.0%}"
        result.notes.append(f"{metric}: the smallest step found at the right commit 9 times in 10: {text}")
        data[f"{metric}_smallest_step"] = smallest_step
    result.data = data
    return result


# -- a nightly run's cost ---------------------------------------------------------------------------


def run_cost(ctx: Context, result: SectionResult) -> None:
    every = EVERY.get(ctx.plan.name, EVERY["standard"])
    store, pages = ctx.fresh_dir("history-store"), ctx.fresh_dir("history-pages")
    common = [f"--repo={ctx.repo}", f"--cache-dir={ctx.cache_dir}", f"--results-dir={store}",
              "--machine=cpybench-benchmarks", "-b", "deepcopy"]
    backfill = [sys.executable, "-m", "pytest_cpybench", "backfill", "--range=v3.13.5..bisect", f"--every={every}",
                "--mode=fast", *common]
    history = [sys.executable, "-m", "pytest_cpybench", "history", "--branch=bisect", "-o", str(pages), "--confirm",
               "--budget=40", *common]
    runs = []
    for argv in (backfill, history):
        ctx.log(f"history cost: {' '.join(argv[3:5])}")
        with Stopwatch() as watch:
            done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if ctx.verbose:
            print(done.stderr, file=sys.stderr)
        runs.append((done, watch.seconds))
    (filled, fill_seconds), (confirmed, confirm_seconds) = runs
    first_bad = subprocess.run(["git", "-C", str(ctx.repo), "rev-parse", "bisect~5"], capture_output=True, text=True,
                               check=True).stdout.strip()
    named = re.search(r"confirmed, first bad commit ([0-9a-f]{7})", confirmed.stdout)
    built = filled.stdout.count("built in ")
    cached = filled.stdout.count("(cached build)")
    right = named is not None and named.group(1) == first_bad[:7]
    result.tables.append(Table(f"backfill --every {every} then history --confirm on the bisect branch (deepcopy, "
                               "fast mode)", ["command", "exit", "seconds", "what"], [
        ["backfill", str(filled.returncode), f"{fill_seconds:.0f}", f"{built} built, {cached} cached builds"],
        ["history --confirm", str(confirmed.returncode), f"{confirm_seconds:.0f}",
         named.group(0) if named else "no commit named"]]))
    result.goals.append(Goal("history --confirm names commit 12 of the bisect branch", "yes" if right else "no",
                             right))
    # What the series were: each commit's mean and noise (a busy machine shows here, not in the times).
    try:
        pages_data = json.loads((pages / "history.json").read_text())
        series = {s["name"]: [[p["sha"][:7], p["mean"], round(p["noise"], 4)] for p in s["points"]]
                  for machine in pages_data["machines"].values() for g in machine["groups"] for s in g["series"]}
    except (OSError, ValueError, KeyError):
        series = {}
    result.data["cost"] = {"series": series, "every": every, "backfill_seconds": round(fill_seconds, 1),
                           "history_seconds": round(confirm_seconds, 1), "built": built, "cached": cached,
                           "backfill_exit": filled.returncode, "history_exit": confirmed.returncode,
                           "named": named.group(1) if named else None, "expected": first_bad[:7],
                           "history_stdout": confirmed.stdout, "backfill_stdout": filled.stdout}


def run(ctx: Context) -> SectionResult:
    result = run_replays(ctx.plan.name, ctx.log)
    run_cost(ctx, result)
    return result


def main(argv: list[str] | None = None) -> int:
    from benchmarks import run as bench_run  # the command line's machinery (imports this module)

    parser = argparse.ArgumentParser(description="The history section (see benchmarks/README.md).")
    parser.add_argument("--parts", default="replay,cost", help="replay (seconds, no builds), cost (builds, minutes)")
    parser.add_argument("--variant", choices=sorted(REPLAYS), default="standard")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    if not parts <= {"replay", "cost"}:
        parser.error(f"--parts={args.parts}: choose replay, cost or both")
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    result = run_replays(args.variant, log) if "replay" in parts else SectionResult(NAME, TITLE)
    if "cost" in parts:
        with bench_run.standalone_context(NAME, args.variant, args.verbose) as ctx:
            run_cost(ctx, result)
    return bench_run.finish_standalone(result, started, args.json, NAME, argv)


if __name__ == "__main__":
    sys.exit(main())
