"""``backfill``: measure first-parent commits of a range into the results store (resumable)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pytest_cpybench.cli.arguments import UsageError, add_option, progress, selected_benchmarks, settings_of
from pytest_cpybench.cli.build import BUILD_OPTIONS, add_build_options
from pytest_cpybench.cpython import targets
from pytest_cpybench.history import collect
from pytest_cpybench.history.series import LineCommit
from pytest_cpybench.options import Settings
from pytest_cpybench.output.formatting import format_duration
from pytest_cpybench.session.plan import repo_of

MEASURE_OPTIONS = ("cpython-benchmarks", "cpython-manifest", "cpython-mode", "cpython-metric", "cpython-timeout",
                   "cpython-parallel", "cpython-reload", "cpython-machine", "cpython-results-dir")


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = commands.add_parser(
        "backfill", help="measure first-parent commits of a range into the results store (resumable)",
        description="Build A and the first-parent commits after it up to B (every one; A, every N-th after it "
                    "and B; or those a file names), the tip first then spread over the range, measure each "
                    "alone and store its results as a session does: what `history` reads. Resumable: benchmarks "
                    "stored already for a commit (this machine, build, metric and mode, measured alone) are "
                    "skipped, and so are commits recorded "
                    "as not building (--retry-failed builds them again). Exit 0 when done, 2 on a bad option, "
                    "8 when a ref cannot be resolved or a result cannot be stored.")
    cmd.add_argument("--range", required=True, metavar="A..B", help="A and the commits after it on B's first-parent "
                                                                     "line, up to B")
    choice = cmd.add_mutually_exclusive_group()
    choice.add_argument("--every", type=int, default=None, metavar="N",
                        help="A, every N-th commit after it, and B (the same commits night after night as B "
                             "moves on); default: every commit")
    choice.add_argument("--commits", type=Path, default=None, metavar="FILE",
                        help="a file naming the commits to measure, one ref per line (# starts a comment)")
    cmd.add_argument("--retry-failed", action="store_true", help="build again the commits recorded as not building")
    cmd.add_argument("--dry-run", action="store_true", help="say what would be measured, build nothing")
    add_build_options(cmd)
    add_option(cmd, "cpython-benchmarks", "-b", metavar="BENCH[,BENCH...]")
    for name in MEASURE_OPTIONS[1:]:
        add_option(cmd, name)
    cmd.set_defaults(handler=backfill_command)


def _settings(args: argparse.Namespace) -> Settings:
    settings = settings_of(args, (*BUILD_OPTIONS, *MEASURE_OPTIONS))
    if args.every is not None and args.every < 1:
        raise UsageError(f"--every={args.every}: give at least 1")
    start, sep, end = args.range.partition("..")
    if not (start and sep and end) or end.startswith("."):
        raise UsageError(f"--range={args.range!r}: give two refs as A..B (A older, on B's first-parent history)")
    if len(settings.metrics) > 1:
        raise UsageError("backfill measures one metric: give --metric=time or --metric=instructions (run it once "
                         "per metric)")
    if settings.mode == "debug":
        raise UsageError("--mode=debug measures one value: a series needs default, fast or rigorous")
    return settings


def _wanted(path: Path, settings: Settings, line: list[LineCommit], span: str) -> list[str]:
    """The full shas the --commits file names, each on the range's line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"--commits={path}: cannot read it ({err.strerror or err})") from None
    refs = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    on_line = {c.sha for c in line}
    shas = []
    for ref in filter(None, refs):
        sha = targets.resolve(repo_of(settings), ref, settings.cache_dir).sha
        if sha not in on_line:
            raise UsageError(f"--commits: {ref} ({sha[:7]}) is not on the first-parent line of {span}: name commits "
                             "of the range")
        shas.append(sha)
    if not shas:
        raise UsageError(f"--commits={path} names no commit: one ref per line")
    return shas


def backfill_command(args: argparse.Namespace) -> int:
    from pytest_cpybench.history.backfill import Backfill, choose  # builds and measures: only this needs it

    settings = _settings(args)
    benchmarks = selected_benchmarks(settings)
    tip, line = collect.range_line(repo_of(settings), args.range, settings.cache_dir)
    wanted = _wanted(args.commits, settings, line, args.range) if args.commits else None
    chosen = choose(line, args.every, wanted)
    backfill = Backfill(settings, benchmarks, log=progress, say=lambda text: print(text, flush=True),
                        retry_failed=args.retry_failed)
    todo = backfill.plan(chosen)
    work = [t for t in todo if t.missing and not t.build_failure]
    print(f"backfill {args.range} on {settings.machine} ({settings.metric}, {settings.mode} mode, "
          f"{settings.preset} build): {len(chosen)} of {len(line)} commits chosen, {len(work)} to measure "
          f"({', '.join(b.name for b in benchmarks)})", flush=True)
    if args.dry_run:
        for t in todo:
            state = ("does not build (recorded)" if t.build_failure else
                     f"measure {', '.join(b.name for b in t.missing)}" if t.missing else "stored already")
            print(f"  {t.commit.short} {t.commit.subject}: {state}")
        return 0
    try:
        report = backfill.run(tip, todo)
    except KeyboardInterrupt:
        print("interrupted: the commits finished are stored; run the same command again to measure the rest",
              file=sys.stderr)
        return 130
    print(f"backfill: {len(report.measured)} commit(s) measured, {len(report.skipped)} stored already, "
          f"{len(report.failed_builds)} do not build; {format_duration(report.seconds)}; "
          f"results in {settings.results_dir}")
    for line_text in report.failed_benchmarks:
        print(f"failed: {line_text}")
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    return 8 if report.errors else 0
