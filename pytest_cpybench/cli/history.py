"""``history``: a branch's stored results as series, their change points, pages; ``--confirm``
measures each change again and bisects the real ones."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pyperf

from pytest_cpybench.cli.arguments import EXIT_REGRESSION, add_option, progress, settings_of
from pytest_cpybench.cli.build import BUILD_OPTIONS, add_build_options
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.errors import EXIT_INFRASTRUCTURE, CpybenchError
from pytest_cpybench.history import collect, detect, text
from pytest_cpybench.history.changes import FAILED, SLOWDOWN, History, analyse, beyond_threshold
from pytest_cpybench.history.series import LineCommit, series_of
from pytest_cpybench.options import Settings
from pytest_cpybench.results import metadata as md
from pytest_cpybench.session.plan import repo_of, select_benchmarks
from pytest_cpybench.suite.definitions import BenchmarkDef

MEASURE_OPTIONS = ("cpython-benchmarks", "cpython-manifest", "cpython-metric", "cpython-machine", "cpython-results-dir",
                   "cpython-threshold", "cpython-confidence", "cpython-budget", "cpython-timeout", "cpython-parallel",
                   "cpython-reload")
# Fewer rounds than a session's, as the bisect command's: a confirmation is followed by a bisection.
CONFIRM_BUDGET = "20"
BOTH_METRICS = f"{md.METRIC_TIME},{md.METRIC_INSTRUCTIONS}"


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = commands.add_parser(
        "history", help="series of a branch's stored results, their change points, pages (-o DIR)",
        description="Read the results the store holds for the first-parent commits of BRANCH, one series per "
                    "result and per machine, metric, build, mode and load, find their change points "
                    "(ruptures' PELT) and write pages, plots and JSON into DIR. --confirm measures both ends of "
                    "each change beyond the threshold interleaved (this machine's changes), and bisects the real "
                    "ones. Exit 1 when a confirmed regression is found, 0 otherwise, 2 on a bad option, 8 when "
                    "the store or the repository cannot be read, or a change could not be confirmed (a build or a "
                    "benchmark failed).")
    cmd.add_argument("--branch", required=True, help="the branch (or any ref) whose first-parent line is read")
    cmd.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="where the pages go")
    cmd.add_argument("--confirm", nargs="?", const="slowdowns", choices=("slowdowns", "all"), default=None,
                     help="measure again each change beyond the threshold, slowdowns only (or all: speedups too), "
                          "and bisect the confirmed ones")
    cmd.add_argument("--no-plots", action="store_true", help="write no plots")
    add_build_options(cmd)
    add_option(cmd, "cpython-benchmarks", "-b", metavar="BENCH[,BENCH...]")
    for name in MEASURE_OPTIONS[1:]:
        default = BOTH_METRICS if name == "cpython-metric" else CONFIRM_BUDGET if name == "cpython-budget" else None
        add_option(cmd, name, default=default)
    cmd.set_defaults(handler=history_command)


def _wanted(settings: Settings) -> Callable[[pyperf.Benchmark], bool] | None:
    """-b as a filter of stored results: the benchmarks it selects, and result names it gives."""
    if not settings.benchmarks:
        return None
    words = {word.strip() for word in settings.benchmarks.split(",") if word.strip()}
    try:
        names = {bench.name for bench in select_benchmarks(settings)}
    except CpybenchError:  # names the suite does not know (yet, or any more): what the store calls them
        names = {word for word in words if not word.startswith("-")}

    def wanted(result: pyperf.Benchmark) -> bool:
        owner = result.get_metadata().get(md.BENCHMARK_NAME)
        return result.get_name() in words or (str(owner) in names if owner else result.get_name() in names)
    return wanted


def _from(line: Sequence[LineCommit], first: int) -> list[LineCommit]:
    """The line from ``first`` on, indexes counted from there."""
    return [replace(commit, index=commit.index - first) for commit in line[first:]]


def history_command(args: argparse.Namespace) -> int:
    machine_given = getattr(args, "cpython-machine", None) is not None
    build_given = any(getattr(args, name, None) is not None for name in ("cpython-build", "cpython-configure"))
    settings = settings_of(args, (*BUILD_OPTIONS, *MEASURE_OPTIONS))
    detect.check_available()
    wanted = _wanted(settings)
    tip, line = collect.branch_line(repo_of(settings), args.branch, settings.cache_dir)
    machine = settings.machine if machine_given else None
    stored = collect.stored_runs(settings.results_dir, line, machine, settings.metrics)
    build = (settings.preset, " ".join(settings.configure_flags)) if build_given else None
    if build is not None:  # only that build configuration's series
        stored.runs = [run for run in stored.runs if (run.preset, run.configure_flags) == build]
    for warning in stored.warnings:
        progress(f"warning: {warning}")
    failed = collect.failed_builds(settings.results_dir, line, machine, build)
    by_sha = {commit.sha: commit.index for commit in line}
    held = [by_sha[run.sha] for run in stored.runs] + [c.index for commits in failed.values() for c in commits]
    if not held:
        where = f" for {settings.machine}" if machine_given else ""
        raise CpybenchError(f"the results store {settings.results_dir} holds no results of {args.branch}'s "
                            f"first-parent commits{where}: run `python -m pytest_cpybench backfill` first")
    line = _from(line, min(held))
    failed = collect.failed_builds(settings.results_dir, line, machine, build)
    series = series_of(stored.runs, line, wanted)
    history = History(args.branch, repo_of(settings), line, analyse(series, line), failed)
    status = 0
    if args.confirm:
        status = _confirm(history, settings, tip, args.confirm == "all")
    written = _write(history, args.output, not args.no_plots)
    for line_text in text.summary_lines(history, str(written)):
        print(line_text)
    return status


def _write(history: History, output: Path, plots: bool) -> Path:
    from pytest_cpybench.history import pages

    try:
        written = pages.write(history, output, plots=plots)
    except OSError as err:
        raise CpybenchError(f"cannot write the pages in {output} ({err.strerror or err}): choose a writable "
                            "directory") from None
    for note in written.notes:
        progress(note)
    return written.index


def _confirm(history: History, settings: Settings, tip: Commit, speedups: bool) -> int:
    """Confirm this machine's changes beyond the threshold; 1 when a slowdown is confirmed, else 8
    when a confirmation could not be made (a build, a benchmark)."""
    from pytest_cpybench.history.confirm import Confirmer  # builds and measures: only this needs it

    def select(chosen: Settings, names: Sequence[str]) -> list[BenchmarkDef]:
        return select_benchmarks(replace(chosen, benchmarks=",".join(names)))

    confirmer = Confirmer(settings, tip, log=progress, select=select)
    status = 0
    checked = 0
    for group in history.of_machine(settings.machine):
        for change in group.changes:
            chosen = beyond_threshold(change, settings.metric_thresholds, speedups)
            if not chosen:
                continue
            checked += 1
            try:
                change.confirmation = confirmer.confirm(change, chosen)
            except KeyboardInterrupt:
                print("interrupted: changes not confirmed yet are marked so", file=sys.stderr)
                return 130
            print(text.change_line(change), flush=True)
            if change.confirmation.confirmed and change.confirmation.direction == SLOWDOWN:
                status = EXIT_REGRESSION
            elif change.confirmation.state == FAILED and status == 0:
                status = EXIT_INFRASTRUCTURE
    if not checked:
        history.notes.append(f"--confirm: no change of {settings.machine} beyond the threshold to confirm")
    return status
