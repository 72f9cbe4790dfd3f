"""``compare``: the plugin's summary and gate on stored pyperf JSON files; ``report``: their
results pages. The second file is the head, all others are baselines."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import pyperf

from pytest_cpybench.cli.arguments import EXIT_REGRESSION, UsageError, add_option, settings_of
from pytest_cpybench.options import Settings
from pytest_cpybench.output import formatting, pages
from pytest_cpybench.results import metadata as md
from pytest_cpybench.results.files import load_suite
from pytest_cpybench.verdict import compare
from pytest_cpybench.verdict.stats import Verdict

GATE_OPTIONS = ("cpython-threshold", "cpython-thresholds", "cpython-confidence")


def _add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="BASE.json HEAD.json [BASE2.json ...]")
    add_option(parser, "cpython-threshold")
    add_option(parser, "cpython-thresholds", metavar="'NAME: PCT'")
    add_option(parser, "cpython-confidence")


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmp = commands.add_parser(
        "compare", help="compare pyperf JSON files: BASE HEAD [BASE2 ...]; exit 1 on a regression",
        description="Compare HEAD.json with each baseline file and gate like the pytest plugin: exit 1 when "
                    "a result is significantly slower than its threshold, 0 otherwise (inconclusive results "
                    "are warnings), 8 when a file cannot be read.")
    _add_gate_arguments(cmp)
    cmp.set_defaults(handler=compare_command)
    report = commands.add_parser(
        "report", help="write results pages for pyperf JSON files: BASE HEAD [BASE2 ...] -o DIR",
        description="Write faster-cpython-style pages for HEAD.json against each baseline file into "
                    "DIR/<run folder>/ (a table page per baseline, plots, the run's README) and rebuild "
                    "DIR/README.md, the index of every run in DIR. A second call adds to DIR.")
    _add_gate_arguments(report)
    report.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="where the pages go")
    add_option(report, "cpython-memory-threshold", default=formatting.format_threshold(pages.DEFAULT_MEMORY_THRESHOLD))
    report.add_argument("--no-plots", action="store_true", help="write no plots")
    report.set_defaults(handler=report_command)


@dataclass
class _Compared:
    """The files of ``compare`` / ``report`` (the second is the head), read and compared."""

    settings: Settings
    head_path: Path
    head: pyperf.BenchmarkSuite
    base_paths: list[Path]
    bases: list[pyperf.BenchmarkSuite]
    comparisons: list[compare.SuiteComparison]


def _compared(args: argparse.Namespace) -> _Compared:
    """Parse the gate's options as the plugin does, read every file before any output, compare."""
    if len(args.files) < 2:
        raise UsageError(f"{args.command} needs at least two files: BASE.json HEAD.json [BASE2.json ...]")
    settings = settings_of(args, (*GATE_OPTIONS, "cpython-memory-threshold"))
    head_path, base_paths = args.files[1], [args.files[0], *args.files[2:]]
    head = load_suite(head_path)
    bases = [load_suite(path) for path in base_paths]
    metric = md.metric_of(head.get_metadata())
    for path, base in zip(base_paths, bases, strict=True):
        if md.metric_of(base.get_metadata()) != metric:
            raise UsageError(f"{path} holds {md.metric_of(base.get_metadata())} results and {head_path} "
                             f"{metric} results: compare files of the same metric")
    gate = settings.for_metric(metric)  # the files' metric decides the threshold, not an option
    overrides = compare.expand_overrides(head, gate.thresholds)
    comparisons = [compare.compare_suites(base, head, threshold=gate.threshold, overrides=overrides,
                                          confidence=settings.confidence) for base in bases]
    return _Compared(settings, head_path, head, base_paths, bases, comparisons)


def compare_command(args: argparse.Namespace) -> int:
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


def report_command(args: argparse.Namespace) -> int:
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
