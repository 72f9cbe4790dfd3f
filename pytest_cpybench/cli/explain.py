"""``explain``: why a benchmark is slower on HEAD than on BASE, alone (no verdict): each result's
triage and its differential profiles and/or pystats comparison (``--explain``), as a failing item
shows them."""

from __future__ import annotations

import argparse
from dataclasses import replace

from pytest_cpybench.cli.arguments import add_option, progress, selected_benchmarks, settings_of
from pytest_cpybench.cli.build import BUILD_OPTIONS, add_build_options
from pytest_cpybench.output import explanations
from pytest_cpybench.session.gate import Gate

EXPLAIN_OPTIONS = ("cpython-benchmarks", "cpython-manifest", "cpython-metric", "cpython-timeout", "cpython-machine",
                   "cpython-results-dir", "cpython-parallel", "cpython-reload", "cpython-explain")


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = commands.add_parser(
        "explain", help="why benchmarks are slower on --head than on --base: triage and differential profiles",
        description="Build BASE and HEAD (cached) and explain each result of the benchmarks as a failing item "
                    "does, without measuring a verdict: its kind (code, environment, layout) and its profiles "
                    "(instructions per function under cachegrind; under --metric=time also perf samples per "
                    "symbol), with the raw files kept under the results store's explain/ folder. --explain=pystats: "
                    "the pystats comparison instead of the profiles (both commits built with --enable-pystats); "
                    "all: both; auto and profile: the profiles. Exit 0, 2 on a bad option, 8 when a build or a "
                    "benchmark fails.")
    cmd.add_argument("--base", required=True, help="the faster side: sha, tag, branch")
    cmd.add_argument("--head", required=True, help="the slower side: sha, tag, branch or WORKTREE")
    add_option(cmd, "cpython-benchmarks", "-b", required=True, metavar="BENCH[,BENCH...]")
    add_build_options(cmd)
    for name in EXPLAIN_OPTIONS[1:]:
        add_option(cmd, name)
    cmd.set_defaults(handler=explain_command)


def explain_command(args: argparse.Namespace) -> int:
    settings = settings_of(args, (*BUILD_OPTIONS, *EXPLAIN_OPTIONS))
    settings = replace(settings, ref=args.head, baselines=(args.base,), save="no")
    if settings.explain == "no":  # the command is explaining: "no" would explain nothing
        settings = replace(settings, explain="auto")
    benchmarks = selected_benchmarks(settings, ": name the benchmark(s) to explain")
    gate = Gate(settings, log=progress)
    gate.check_tools()
    gate.resolve()
    gate.build()
    for engine in gate.engines:
        for bench in benchmarks:
            for baseline in engine.baselines:
                for e in engine.explain_against(bench, baseline, []):
                    print(f"{e.result} vs {e.baseline} ({engine.settings.metric}):")
                    print("\n".join(explanations.item_lines([e], e.result, e.baseline, top=10)))
                    if e.folder:
                        print(f"  raw files: {e.folder}")
    return 0
