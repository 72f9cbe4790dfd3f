"""Benchmarks of pytest-cpybench itself, one table per section, results also in JSON.

    python benchmarks/run.py [--quick] [--only NAME,...] [--json OUT]

Sections: overhead, false_alarms, sensitivity, time_to_verdict, builds, instructions, bisection,
pinned_workers, stopping_rule, warmups, noise, history, full_suite, configurations
(benchmarks/README.md says what each measures and how to read it). Builds and venvs come from the test suite's
cache (tests/support/cpython_repo.py), so a machine that ran the slow tests starts warm.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make `benchmarks` and the test support importable
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

import cpython_repo  # noqa: E402
from tabulate import tabulate  # noqa: E402

from benchmarks import (  # noqa: E402
    alongside,
    bisection,
    builds,
    configurations,
    contention,
    core_asymmetry,
    explain_pystats,
    false_alarms,
    full_suite,
    history,
    instructions,
    machine,
    noise,
    overhead,
    pinned_workers,
    placement,
    round_cost,
    sensitivity,
    stopping_rule,
    time_to_verdict,
    warmups,
)
from benchmarks.common import Context, SectionResult  # noqa: E402
from benchmarks.plan import BASE_REF, PLANS  # noqa: E402
from pytest_cpybench.errors import BuildError, CpybenchError  # noqa: E402

SECTIONS = {module.NAME: module for module in (overhead, false_alarms, sensitivity, time_to_verdict, builds,
                                               instructions, bisection, pinned_workers, stopping_rule,
                                               warmups, noise, round_cost, alongside, placement, history, full_suite,
                                               configurations, explain_pystats, contention,
                                               core_asymmetry)}
# Sections that run only when named in --only: the whole suite takes hours, the configurations'
# PGO builds most of one.
OPT_IN = ("full_suite", "configurations", "explain_pystats", "placement", "core_asymmetry")
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "latest.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmarks of pytest-cpybench itself (see benchmarks/README.md).")
    variant = parser.add_mutually_exclusive_group()
    variant.add_argument("--quick", action="store_true",
                         help="a few minutes: checks every section end to end; too few runs for the targets")
    variant.add_argument("--full", action="store_true",
                         help="hours: more benchmarks and repetitions (default: the standard variant, < 1 h)")
    parser.add_argument("--only", default="",
                        help=f"comma-separated sections to run (default: all but {', '.join(OPT_IN)}): "
                             f"{', '.join(SECTIONS)}")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON,
                        help=f"where to write the results (default: {DEFAULT_JSON.relative_to(ROOT)})")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="the plugin's build and venv cache (default: the test suite's cache)")
    parser.add_argument("--runs", type=int, default=None,
                        help="repetitions of the sections that repeat one experiment (bisection, pinned_workers, "
                             "false_alarms' interleaved sessions); default: the variant's")
    parser.add_argument("--parallel", choices=("auto", "yes", "no"), default="auto",
                        help="--cpython-parallel of the engine sessions of false_alarms, sensitivity, "
                             "time_to_verdict, bisection and full_suite (default: auto, the plugin's: the sides at "
                             "the same time where there is a core per side; noise, round_cost, alongside and "
                             "core_asymmetry choose their own)")
    parser.add_argument("--verbose", "-v", action="store_true", help="show the engine's progress messages")
    args = parser.parse_args(argv)
    names = [name.strip().replace("-", "_") for name in args.only.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}: choose from {', '.join(SECTIONS)}")
    if args.runs is not None and args.runs < 1:
        parser.error(f"--runs={args.runs}: give at least 1")
    args.sections = names or [name for name in SECTIONS if name not in OPT_IN]
    return args


def print_section(result: SectionResult) -> None:
    print(f"\n== {result.title} ({result.seconds:.0f} s)")
    if result.error:
        print(f"ERROR: {result.error}")
    for table in result.tables:
        print(f"\n{table.title}")
        print(tabulate(table.rows, headers=table.headers, tablefmt="simple", disable_numparse=True))
    if result.goals:
        print()
        print(tabulate([[g.name, g.measured, g.status] for g in result.goals],
                       headers=["target", "measured", "status"], tablefmt="simple", disable_numparse=True))
    for note in result.notes:
        print(f"  note: {note}")
    sys.stdout.flush()


def write_json(path: Path, document: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document, indent=1, default=str) + "\n")
    os.replace(temporary, path)


def section_entry(result: SectionResult) -> dict[str, object]:
    """A section as the JSON file holds it: tables and targets as printed, notes, raw data."""
    return {"title": result.title, "seconds": round(result.seconds, 1), "error": result.error,
            "tables": [t.__dict__ for t in result.tables],
            "goals": [{**g.__dict__, "status": g.status} for g in result.goals],
            "notes": result.notes, "data": result.data}


@contextlib.contextmanager
def standalone_context(prefix: str, plan_name: str = "standard", verbose: bool = False) -> Iterator[Context]:
    """The context of a section run on its own (``python -m benchmarks.<section>``): the test
    suite's CPython repository, builds and venvs, and a scratch folder removed at the end."""
    cache_root = cpython_repo.cache_root()
    work_dir = cache_root / "benchmarks"
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=work_dir))
    try:
        yield Context(plan=PLANS[plan_name], repo=cpython_repo.ensure_repo(), cache_dir=cache_root / "cache",
                      work_dir=work_dir, tmp=tmp, verbose=verbose)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measuring_main(argv: list[str] | None, name: str, benchmarks: str,
                   measure: Callable[[Context, str], Any], summarize: Callable[[Any], SectionResult]) -> int:
    """The command line of a section that measures some benchmarks (``--benchmarks``) on the test
    repository's builds, then summarizes what it measured (round_cost, alongside)."""
    parser = argparse.ArgumentParser(description=f"The {name} section (see benchmarks/README.md).")
    parser.add_argument("--benchmarks", default=benchmarks)
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with standalone_context(name) as ctx:
        machine_details = machine.details(ctx.build(BASE_REF).version)
        data = measure(ctx, args.benchmarks)
    return finish_standalone(summarize(data), started, args.json, name, argv, {"machine": machine_details})


def finish_standalone(result: SectionResult, started: float, path: Path, module: str, argv: list[str] | None,
                      header: dict[str, object] | None = None) -> int:
    """Print a section run on its own and write its JSON file, with the command that ran it."""
    result.seconds = time.monotonic() - started
    print_section(result)
    command = " ".join([f"python -m benchmarks.{module}", *(argv if argv is not None else sys.argv[1:])])
    write_standalone(path, result, {"command": command, **(header or {"machine": machine.details()})})
    elapsed = f"{result.seconds / 60:.1f} min" if result.seconds >= 120 else f"{result.seconds:.0f} s"
    print(f"\n{elapsed}; results in {path}")
    return 0


def write_standalone(path: Path, result: SectionResult, header: dict[str, object]) -> None:
    """The JSON file of one section run on its own (``python -m benchmarks.<section>``)."""
    document = {**header, "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - result.seconds)),
                "seconds": round(result.seconds, 1), "load_average_at_end": machine.load_average(),
                "sections": {result.name: section_entry(result)}}
    write_json(path, document)


def run_section(ctx: Context, name: str) -> SectionResult:
    module = SECTIONS[name]
    started = time.monotonic()
    ctx.log(f"section {name}: starting")
    try:
        result = module.run(ctx)
    except BuildError as exc:
        print(exc.details(), file=sys.stderr)
        result = SectionResult(name, module.TITLE, error=f"{exc} (log: {exc.log_path})")
    except CpybenchError as exc:
        tail = getattr(exc, "stderr_tail", "") or getattr(exc, "output_tail", "")
        if tail:
            print(tail, file=sys.stderr)
        result = SectionResult(name, module.TITLE, error=str(exc))
    except Exception as exc:  # one broken section must not lose the others' results
        traceback.print_exc(file=sys.stderr)
        result = SectionResult(name, module.TITLE, error=f"{type(exc).__name__}: {exc}")
    result.seconds = time.monotonic() - started
    if ctx.plan.name == "quick":
        for goal in result.goals:  # too few runs, and a capped budget: the numbers only indicate
            goal.met, goal.why = None, "quick variant: indicative only"
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = PLANS["quick" if args.quick else "full" if args.full else "standard"]
    cache_root = cpython_repo.cache_root()
    work_dir = cache_root / "benchmarks"
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="run-", dir=work_dir))
    started = time.monotonic()
    document: dict[str, object] = {"variant": plan.name, "sections": {}}
    try:
        ctx = Context(plan=plan, repo=cpython_repo.ensure_repo(), cache_dir=args.cache_dir or cache_root / "cache",
                      work_dir=work_dir, tmp=tmp, verbose=args.verbose, runs=args.runs,
                      parallel=args.parallel)
        try:
            target_version = ctx.build(BASE_REF).version
        except CpybenchError as exc:
            print(f"error: cannot build {BASE_REF}: {str(exc).splitlines()[0]}", file=sys.stderr)
            return 1
        details = machine.details(target_version)
        print(f"pytest-cpybench benchmarks, {plan.name} variant, {time.strftime('%Y-%m-%d %H:%M:%S')}")
        print(tabulate(list(details.items()), tablefmt="plain"))
        document.update(machine=details, plan=plan.__dict__, parallel=ctx.parallel,
                        started=time.strftime("%Y-%m-%dT%H:%M:%S"))
        sections = document["sections"]
        assert isinstance(sections, dict)
        for name in args.sections:
            result = run_section(ctx, name)
            print_section(result)
            sections[name] = section_entry(result)
            write_json(args.json, document)  # after every section: an interrupted run keeps what it has
    except KeyboardInterrupt:
        print("\ninterrupted: the JSON file has the sections that finished", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = time.monotonic() - started
    document.update(seconds=round(total, 1), load_average_at_end=machine.load_average())
    write_json(args.json, document)
    print(f"\ntotal {total / 60:.1f} min; load average now {machine.load_average()}; results in {args.json}")
    errors = [name for name, s in document["sections"].items() if s["error"]]  # type: ignore[union-attr]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
