"""Overhead: the plugin against `pyperformance run` doing the same work on the same interpreter.

Both run in a subprocess, as a user would start them, with the same benchmarks and pyperf
mode. Each tool runs once untimed first, so venv creation and requirement installs are not
counted (pyperformance keeps its venvs under ``./venv`` of its working directory: a folder
of the benchmarks' work dir; the plugin keeps them in its cache). Then the two alternate,
plugin first in every pair, and the ratio of the summed wall times is the overhead.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

import pyperf

from .common import Context, Goal, SectionResult, Stopwatch, Table, fmt_seconds
from .plan import BASE_REF

NAME = "overhead"
TITLE = "Overhead: the plugin vs pyperformance run (same interpreter, benchmarks and mode)"
TARGET_RATIO = 1.02
TIMEOUT = 3 * 3600

_PYPERFORMANCE_MODE = {"default": [], "fast": ["--fast"], "rigorous": ["--rigorous"],
                       "debug": ["--debug-single-value"]}


def user_environ() -> dict[str, str]:
    """The environment a user's command runs in, without the user's pytest options."""
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)  # the user's pytest options would change what the plugin does
    return env


def plugin_command(ctx: Context, python: Path, output: Path) -> list[str]:
    plan = ctx.plan
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
            f"--cpython-python={python}", f"--cpython-benchmarks={plan.overhead_benchmarks}",
            f"--cpython-mode={plan.overhead_mode}", f"--cpython-cache-dir={ctx.cache_dir}",
            f"--cpython-json={output}", "--cpython-save=no"]


def pyperformance_command(ctx: Context, python: Path, output: Path) -> list[str]:
    plan = ctx.plan
    return [sys.executable, "-m", "pyperformance", "run", "-p", str(python), "-b", plan.overhead_benchmarks,
            *_PYPERFORMANCE_MODE[plan.overhead_mode], "-o", str(output)]


def _run(argv: list[str], cwd: Path, what: str) -> float:
    with Stopwatch() as watch:
        done = subprocess.run(argv, cwd=cwd, env=user_environ(), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=TIMEOUT)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{what} exited with {done.returncode}:\n{tail}")
    return watch.seconds


def _result_names(path: Path) -> list[str]:
    return sorted(pyperf.BenchmarkSuite.load(str(path)).get_benchmark_names())


def run(ctx: Context) -> SectionResult:
    plan = ctx.plan
    section = SectionResult(NAME, TITLE)
    python = ctx.build(BASE_REF).python
    pyperformance_cwd = ctx.work_dir / "pyperformance"  # its ./venv survives between runs
    pyperformance_cwd.mkdir(parents=True, exist_ok=True)
    plugin_cwd = ctx.fresh_dir("overhead-plugin")  # empty: the plugin must find no tests of its own
    outputs = ctx.fresh_dir("overhead-out")

    def once(tool: str, label: str) -> tuple[float, list[str]]:
        output = outputs / f"{tool}-{label}.json"
        if tool == "plugin":
            seconds = _run(plugin_command(ctx, python, output), plugin_cwd, "the plugin")
        else:
            seconds = _run(pyperformance_command(ctx, python, output), pyperformance_cwd, "pyperformance")
        names = _result_names(output)
        ctx.log(f"overhead: {tool} ({label}) {seconds:.1f} s, {len(names)} results")
        return seconds, names

    warm = {tool: once(tool, "warm-up") for tool in ("plugin", "pyperformance")}
    runs: list[dict[str, object]] = []
    for pair in range(1, plan.overhead_pairs + 1):
        for tool in ("plugin", "pyperformance"):
            seconds, names = once(tool, f"pair {pair}")
            runs.append({"pair": pair, "tool": tool, "seconds": round(seconds, 2), "results": names})

    plugin = [float(r["seconds"]) for r in runs if r["tool"] == "plugin"]  # type: ignore[arg-type]
    reference = [float(r["seconds"]) for r in runs if r["tool"] == "pyperformance"]  # type: ignore[arg-type]
    ratio = sum(plugin) / sum(reference)
    pair_ratios = [p / r for p, r in zip(plugin, reference, strict=True)]
    same_results = all(r["results"] == runs[0]["results"] for r in runs)

    section.tables.append(Table(
        f"wall time per run ({plan.overhead_benchmarks}, {plan.overhead_mode} mode)",
        ["pair", "plugin s", "pyperformance s", "plugin / pyperformance"],
        [[pair + 1, fmt_seconds(p), fmt_seconds(r), f"{p / r:.3f}"]
         for pair, (p, r) in enumerate(zip(plugin, reference, strict=True))]
        + [["warm-up (untimed)", fmt_seconds(warm["plugin"][0]), fmt_seconds(warm["pyperformance"][0]),
            "excluded"]]))
    section.tables.append(Table("summary", ["tool", "runs", "mean s", "median s", "min s", "results per run"], [
        ["plugin", len(plugin), fmt_seconds(statistics.fmean(plugin)), fmt_seconds(statistics.median(plugin)),
         fmt_seconds(min(plugin)), len(warm["plugin"][1])],
        ["pyperformance", len(reference), fmt_seconds(statistics.fmean(reference)),
         fmt_seconds(statistics.median(reference)), fmt_seconds(min(reference)), len(warm["pyperformance"][1])],
    ]))
    section.goals.append(Goal(f"plugin / pyperformance wall time <= {TARGET_RATIO}",
                              f"{ratio:.3f} (pairs: {', '.join(f'{r:.3f}' for r in pair_ratios)})",
                              ratio <= TARGET_RATIO))
    if not same_results or warm["plugin"][1] != warm["pyperformance"][1]:
        section.notes.append("the two tools produced different result names: the comparison is not like "
                             f"for like ({warm['plugin'][1]} vs {warm['pyperformance'][1]})")
    section.data = {"python": str(python), "benchmarks": plan.overhead_benchmarks, "mode": plan.overhead_mode,
                    "warm_up_seconds": {tool: round(w[0], 2) for tool, w in warm.items()}, "runs": runs,
                    "ratio": ratio, "pair_ratios": pair_ratios, "target": TARGET_RATIO,
                    "commands": {"plugin": plugin_command(ctx, python, Path("OUT.json")),
                                 "pyperformance": pyperformance_command(ctx, python, Path("OUT.json"))}}
    return section
