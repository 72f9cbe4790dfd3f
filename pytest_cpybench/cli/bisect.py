"""``bisect``: find the commit between GOOD and BAD that changed some benchmarks."""

from __future__ import annotations

import argparse
import sys

from pytest_cpybench.bisect import report
from pytest_cpybench.cli.arguments import (
    EXIT_NOT_FOUND,
    UsageError,
    add_option,
    progress,
    selected_benchmarks,
    settings_of,
)
from pytest_cpybench.cli.build import BUILD_OPTIONS, add_build_options
from pytest_cpybench.options import Settings
from pytest_cpybench.suite import selection

MEASURE_OPTIONS = ("cpython-benchmarks", "cpython-manifest", "cpython-mode", "cpython-metric", "cpython-budget",
                   "cpython-timeout", "cpython-confidence", "cpython-machine", "cpython-results-dir")
# Fewer rounds than a session's: each step measures three commits, and the steps add up.
BISECT_BUDGET = "20"


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = commands.add_parser(
        "bisect", help="find the commit that changed a benchmark between --good and --bad",
        description="Build commits between GOOD and BAD (first-parent) through the build cache and find where "
                    "the benchmarks' change entered: each step measures a commit interleaved with both ends. "
                    "Exit 0 when the commit(s) were found, 1 when not (no change, or steps ran out), "
                    "2 on a bad option, 8 when a ref, an end's build or a benchmark fails.")
    cmd.add_argument("--good", required=True, help="a commit without the change (sha, tag, branch)")
    cmd.add_argument("--bad", required=True, help="a later commit with it, on whose first-parent history GOOD is")
    add_option(cmd, "cpython-benchmarks", "-b", required=True, metavar="BENCH[,BENCH...]")
    add_build_options(cmd)
    for name in MEASURE_OPTIONS[1:]:
        add_option(cmd, name, default=BISECT_BUDGET if name == "cpython-budget" else None)
    cmd.add_argument("--max-steps", type=int, default=None,
                     help="most steps, commits that do not build included (default: about twice log2 of the "
                          "number of commits, plus 4)")
    cmd.set_defaults(handler=bisect_command)


def _settings(args: argparse.Namespace) -> Settings:
    settings = settings_of(args, (*BUILD_OPTIONS, *MEASURE_OPTIONS))
    if args.max_steps is not None and args.max_steps < 1:
        raise UsageError(f"--max-steps={args.max_steps}: give at least 1")
    if settings.mode == "debug":
        raise UsageError("--mode=debug takes one value per side: a bisection needs default, fast or rigorous")
    return settings


def bisect_command(args: argparse.Namespace) -> int:
    from pytest_cpybench.bisect.bisector import Bisector, step_printer  # builds and measures: only this needs it

    settings = _settings(args)
    benchmarks = selected_benchmarks(settings, ": name the benchmark(s) that changed")
    asked = settings.benchmarks or ""
    # Result names (deepcopy_memo) narrow their benchmark to those results.
    words = {word.strip() for word in asked.split(",")}
    not_results = {b.name for b in benchmarks} | set(selection.known_tags()) | {"all", "default", ""}
    results = sorted(w for w in words if w not in not_results and not w.startswith("-"))
    bisector = Bisector(settings, benchmarks, log=progress, results=results,
                        on_step=step_printer(lambda line: print(line, flush=True)))
    try:
        found = bisector.run(args.good, args.bad, args.max_steps)
    except KeyboardInterrupt:
        print("interrupted: the steps so far are above; no record was written", file=sys.stderr)
        return 130
    print(report.format_bisection(found))
    return 0 if found.found else EXIT_NOT_FOUND
