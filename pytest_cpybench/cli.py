"""Command line: ``python -m pytest_cpybench build|cache|compare|report|bisect``.

``build`` warms the build cache (CI) and prints the interpreter's path; ``cache list`` and
``cache prune`` look after the cache; ``compare`` prints the summary of stored pyperf JSON
files without building anything; ``report`` writes their results pages; ``bisect`` finds the
commit that changed a benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyperf

from pytest_cpybench import options
from pytest_cpybench.bisect import report
from pytest_cpybench.cpython import builds, git
from pytest_cpybench.errors import EXIT_INFRASTRUCTURE, BuildError, CpybenchError
from pytest_cpybench.options import default_cache_dir
from pytest_cpybench.output import formatting, pages
from pytest_cpybench.results import files
from pytest_cpybench.results import metadata as md
from pytest_cpybench.session import engine
from pytest_cpybench.suite import _pyperformance
from pytest_cpybench.verdict import compare, stats
from pytest_cpybench.verdict.stats import Verdict

EXIT_REGRESSION = 1  # as pytest's "tests failed": some result is slower than its threshold
EXIT_USAGE = 2  # as argparse: a bad option value
EXIT_NOT_FOUND = 1  # bisect: no commit found (no change between the ends, or the steps ran out)


class UsageError(CpybenchError):
    """A bad option value: exit 2, like argparse's own errors."""


def _add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """Where CPython comes from and how it is built (``build`` and ``bisect``)."""
    parser.add_argument("--repo", help="CPython repository, path or URL (default: . if a clone, else upstream)")
    parser.add_argument("--build", default=builds.DEFAULT_PRESET, choices=tuple(builds.PRESETS),
                        help=f"build preset (default {builds.DEFAULT_PRESET})")
    parser.add_argument("--configure", default="", help="extra ./configure flags, as one string")
    parser.add_argument("--cache-dir", type=Path, default=None, help="cache directory")
    parser.add_argument("--jobs", type=int, default=0, help="make -j (default: all cores)")


def _add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    """The files and the verdict options ``compare`` and ``report`` share (parsed as the plugin's)."""
    defaults = {option.name: option.default for option in options.OPTIONS}
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="BASE.json HEAD.json [BASE2.json ...]")
    parser.add_argument("--threshold", default=None,
                        help="slowdown that counts as a regression, as --cpython-threshold "
                             f"(default {options.DEFAULT_THRESHOLDS['time']}; "
                             f"{options.DEFAULT_THRESHOLDS['instructions']} for instruction counts)".replace("%", "%%"))
    parser.add_argument("--thresholds", action="append", default=[], metavar="'NAME: PCT'",
                        help="threshold for one result or one benchmark's results, e.g. 'pidigits: 15%%', as the "
                             "cpython_thresholds ini key; repeatable or comma separated")
    parser.add_argument("--confidence", default=None,
                        help="confidence level of the ratio intervals, as --cpython-confidence "
                             f"(default {defaults['cpython-confidence']})".replace("%", "%%"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pytest_cpybench",
                                     description="Build CPython at a git ref and compare benchmark results.")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build CPython at a ref (cached) and print the interpreter path")
    build.add_argument("--ref", required=True, help="sha, tag, branch, owner:branch or WORKTREE")
    _add_build_arguments(build)

    cache = commands.add_parser("cache", help="list or prune cached builds")
    cache.add_argument("action", choices=("list", "prune"))
    cache.add_argument("--cache-dir", type=Path, default=None)
    cache.add_argument("--keep", type=int, default=None, help="prune: keep the N most recently used builds")
    cache.add_argument("--older-than", type=float, default=None, metavar="DAYS",
                       help="prune: remove builds not used for DAYS days")
    cache.add_argument("--json", action="store_true", help="list: print JSON")

    cmp = commands.add_parser(
        "compare", help="compare pyperf JSON files: BASE HEAD [BASE2 ...]; exit 1 on a regression",
        description="Compare HEAD.json with each baseline file and gate like the pytest plugin: exit 1 when "
                    "a result is significantly slower than its threshold, 0 otherwise (inconclusive results "
                    "are warnings), 8 when a file cannot be read.")
    _add_gate_arguments(cmp)
    pages_cmd = commands.add_parser(
        "report", help="write results pages for pyperf JSON files: BASE HEAD [BASE2 ...] -o DIR",
        description="Write faster-cpython-style pages for HEAD.json against each baseline file into "
                    "DIR/<run folder>/ (a table page per baseline, plots, the run's README) and rebuild "
                    "DIR/README.md, the index of every run in DIR. A second call adds to DIR.")
    _add_gate_arguments(pages_cmd)
    pages_cmd.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="where the pages go")
    pages_cmd.add_argument("--memory-threshold", default=None,
                     help="peak-memory growth the pages call a regression "
                          f"(default {formatting.format_threshold(pages.DEFAULT_MEMORY_THRESHOLD)})".replace("%", "%%"))
    pages_cmd.add_argument("--no-plots", action="store_true", help="write no plots")
    _add_bisect_parser(commands)
    return parser


def _add_bisect_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    defaults = {option.name: option.default for option in options.OPTIONS}
    cmd = commands.add_parser(
        "bisect", help="find the commit that changed a benchmark between --good and --bad",
        description="Build commits between GOOD and BAD (first-parent) through the build cache and find where "
                    "the benchmarks' change entered: each step measures a commit interleaved with both ends. "
                    "Exit 0 when the commit(s) were found, 1 when not (no change, or steps ran out), "
                    "2 on a bad option, 8 when a ref, an end's build or a benchmark fails.")
    cmd.add_argument("--good", required=True, help="a commit without the change (sha, tag, branch)")
    cmd.add_argument("--bad", required=True, help="a later commit with it, on whose first-parent history GOOD is")
    cmd.add_argument("-b", "--benchmarks", required=True, metavar="BENCH[,BENCH...]",
                     help="benchmarks that changed (pyperformance names, or result names such as deepcopy_memo)")
    _add_build_arguments(cmd)
    cmd.add_argument("--mode", default="default", help="pyperf mode: default, fast or rigorous (default: default)")
    cmd.add_argument("--metric", default="time", help="time or instructions (default: time)")
    cmd.add_argument("--max-steps", type=int, default=None,
                     help="most steps, commits that do not build included (default: about twice log2 of the "
                          "number of commits, plus 4)")
    cmd.add_argument("--budget", default="20",
                     help="most rounds (or seconds, e.g. 300s; or auto: up to 40, at most pyperformance's time "
                          "per side measured) of one step (default 20)")
    cmd.add_argument("--timeout", default=defaults["cpython-timeout"],
                     help=f"seconds one benchmark may take in one step (default {defaults['cpython-timeout']})")
    cmd.add_argument("--confidence", default=None, help="confidence level of the intervals (default 95%%)")
    cmd.add_argument("--manifest", action="append", default=[], help="extra benchmark manifest; repeatable")
    cmd.add_argument("--machine", default=None, help="machine name in the record (default: the host name)")
    cmd.add_argument("--results-dir", default=None,
                     help="where the bisect/ record goes (default: the results store of the plugin)")


def _progress(message: str) -> None:
    print(f"[cpybench] {message}", file=sys.stderr, flush=True)


def _build(args: argparse.Namespace) -> int:
    cache_dir = args.cache_dir or default_cache_dir()
    repo = args.repo or git.default_repo(Path.cwd())
    builds.check_preset(args.build)
    commit = git.resolve(repo, args.ref, cache_dir)
    request = builds.BuildRequest(commit=commit, preset=args.build,
                                   configure_flags=builds.parse_configure_flags(args.configure), jobs=args.jobs)
    build = builds.ensure_build(request, cache_dir, _progress)
    if build.cache_hit:
        _progress(f"cache hit: {build.path}")
    print(build.python)
    return 0


def _cache(args: argparse.Namespace) -> int:
    cache_dir = args.cache_dir or default_cache_dir()
    if args.action == "prune":
        pruned = builds.prune(cache_dir, keep=args.keep, older_than_days=args.older_than)
        for path in pruned.removed:
            print(f"removed {path}")
        for path in pruned.skipped:
            print(f"skipped {path}: in use by another process")
        return 0
    entries = builds.list_entries(cache_dir)
    if args.json:
        print(json.dumps([builds.entry_summary(e) for e in entries], indent=2))
        return 0
    if not entries:
        print(f"no builds in {cache_dir}")
    for entry in entries:
        commit = entry.commit
        dirty = " +worktree" if commit.get("worktree_hash") else ""
        flags = " ".join(entry.configure_flags)
        print(f"{entry.key}  {commit['sha'][:7]}{dirty}  {commit['ref']:<20} Python {entry.version:<10} "
              f"{entry.preset}{' ' + flags if flags else ''}  built in {entry.timings.get('total', 0):.0f} s  "
              f"last used {builds.format_time(entry.last_used)}")
    return 0


@dataclass
class _Compared:
    """The files of ``compare`` / ``report`` (the second is the head), read and compared."""

    settings: options.Settings
    head_path: Path
    head: pyperf.BenchmarkSuite
    base_paths: list[Path]
    bases: list[pyperf.BenchmarkSuite]
    comparisons: list[compare.SuiteComparison]


def _compared(args: argparse.Namespace) -> _Compared:
    """Parse the gate's options as the plugin does, read every file before any output, compare."""
    if len(args.files) < 2:
        raise UsageError(f"{args.command} needs at least two files: BASE.json HEAD.json [BASE2.json ...]")
    try:
        settings = options.settings_from({
            "cpython-threshold": args.threshold,
            "cpython-thresholds": [line for value in args.thresholds for line in re.split(r"[,\n]", value)],
            "cpython-confidence": args.confidence,
            "cpython-memory-threshold": getattr(args, "memory_threshold", None),
        })
    except CpybenchError as exc:  # the plugin's message, in this command's option names
        raise UsageError(str(exc).replace("--cpython-", "--").replace("cpython_thresholds", "--thresholds")) \
            from None
    head_path, base_paths = args.files[1], [args.files[0], *args.files[2:]]
    head = files.load_suite(head_path)
    bases = [files.load_suite(path) for path in base_paths]
    metric = md.metric_of(head.get_metadata())
    for path, base in zip(base_paths, bases, strict=True):
        if md.metric_of(base.get_metadata()) != metric:
            raise UsageError(f"{path} holds {md.metric_of(base.get_metadata())} results and {head_path} "
                             f"{metric} results: compare files of the same metric")
    threshold = settings.threshold if args.threshold else stats.parse_threshold(options.DEFAULT_THRESHOLDS[metric])
    overrides = compare.expand_overrides(head, settings.thresholds)
    comparisons = [compare.compare_suites(base, head, threshold=threshold, overrides=overrides,
                                          confidence=settings.confidence) for base in bases]
    return _Compared(settings, head_path, head, base_paths, bases, comparisons)


def _compare(args: argparse.Namespace) -> int:
    """The plugin's gate on stored files: the second file is the head, all others are baselines."""
    done = _compared(args)
    comparisons = done.comparisons
    print(formatting.format_comparisons(comparisons, notes=[f"from file {path}" for path in done.base_paths]))
    failures = [formatting.format_failure_message(rc, cmp.base_label)
                for cmp in comparisons for rc in cmp.results if rc.verdict is Verdict.REGRESSION]
    inconclusive = sum(len(cmp.inconclusive) for cmp in comparisons)
    warning = f" ({inconclusive} inconclusive: warnings, not failures)" if inconclusive else ""
    print()
    if failures:
        print(f"FAILED: {len(failures)} regression{'s' if len(failures) > 1 else ''} "
              f"beyond the threshold{warning}")
        print("\n".join(failures))
        return EXIT_REGRESSION
    print(f"passed: no regression beyond the threshold{warning}")
    return 0


def _report(args: argparse.Namespace) -> int:
    """Pages for stored files: the second file is the head, all others are baselines (as compare)."""
    done = _compared(args)
    sides = [pages.Side(base, str(path), cmp.base_label)
             for base, path, cmp in zip(done.bases, done.base_paths, done.comparisons, strict=True)]
    written = pages.write_run(args.output, done.head, str(done.head_path), sides, done.comparisons,
                              memory_threshold=done.settings.memory_threshold or pages.DEFAULT_MEMORY_THRESHOLD,
                              plots=not args.no_plots)
    for path in written.paths:
        print(path)
    for note in written.notes:
        print(note, file=sys.stderr)
    return 0


def _bisect_settings(args: argparse.Namespace) -> options.Settings:
    raw: dict[str, object] = {
        "cpython-repo": args.repo, "cpython-build": args.build, "cpython-configure": args.configure,
        "cpython-cache-dir": str(args.cache_dir) if args.cache_dir else None, "cpython-jobs": str(args.jobs),
        "cpython-benchmarks": args.benchmarks, "cpython-manifest": args.manifest, "cpython-mode": args.mode,
        "cpython-metric": args.metric, "cpython-budget": args.budget, "cpython-timeout": args.timeout,
        "cpython-confidence": args.confidence, "cpython-machine": args.machine,
        "cpython-results-dir": args.results_dir,
    }
    try:
        settings = options.settings_from(raw)
    except CpybenchError as exc:
        raise UsageError(str(exc).replace("--cpython-", "--")) from None
    if args.max_steps is not None and args.max_steps < 1:
        raise UsageError(f"--max-steps={args.max_steps}: give at least 1")
    if settings.mode == "debug":
        raise UsageError("--mode=debug takes one value per side: a bisection needs default, fast or rigorous")
    return settings


def _bisect(args: argparse.Namespace) -> int:
    from pytest_cpybench.bisect.bisector import Bisector, step_printer

    settings = _bisect_settings(args)
    try:
        benchmarks = engine.select_benchmarks(settings)
    except CpybenchError as exc:
        raise UsageError(str(exc)) from None
    if not benchmarks:
        raise UsageError(f"-b {args.benchmarks} selects no benchmark: name the benchmark(s) that changed")
    # Result names (deepcopy_memo) narrow their benchmark to those results.
    words = {word.strip() for word in args.benchmarks.split(",")}
    not_results = {b.name for b in benchmarks} | set(_pyperformance.known_tags()) | {"all", "default", ""}
    results = sorted(w for w in words if w not in not_results and not w.startswith("-"))
    bisector = Bisector(settings, benchmarks, log=_progress, results=results,
                        on_step=step_printer(lambda line: print(line, flush=True)))
    try:
        found = bisector.run(args.good, args.bad, args.max_steps)
    except KeyboardInterrupt:
        print("interrupted: the steps so far are above; no record was written", file=sys.stderr)
        return 130
    print(report.format_bisection(found))
    return 0 if found.found else EXIT_NOT_FOUND


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"build": _build, "cache": _cache, "compare": _compare, "report": _report, "bisect": _bisect}
    try:
        return handlers[args.command](args)
    except BuildError as exc:
        print(f"error: {exc.details()}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CpybenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    except KeyboardInterrupt:
        print("interrupted: no partial build or result was kept", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader left; say nothing more, exit as a shell would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
