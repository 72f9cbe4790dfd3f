"""The whole suite (issue 11): the gate against ``pyperformance run`` measuring the head alone.

Every benchmark of pyperformance's default group that runs on the base's version, default mode,
warm build cache and venvs, in three parts:

* ``pyperformance``: ``pyperformance run`` on the head (``neutral``) alone, as its users run it;
  the per-benchmark seconds come from the time between its ``[i/N] name...`` lines;
* ``aa``: the gate, head ``neutral`` (a comment changed) against ``v3.13.5``, both built, measured
  interleaved in the session (nothing stored): every REGRESSION is a false failure;
* ``slowdown``: the gate, head ``slowdown`` (copy.deepcopy about 2x slower) against ``v3.13.5``:
  the three deepcopy results must fail and nothing else.

Each part takes most of an hour on 2 cores, so they can run on their own and be merged::

    python -m benchmarks.full_suite --parts pyperformance --json A.json
    python -m benchmarks.full_suite --parts aa,slowdown --json B.json
    python -m benchmarks.full_suite --merge A.json B.json --json benchmarks/results/full_suite.json

``python benchmarks/run.py --only full_suite`` runs all three in one go.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pyperf

from pytest_cpybench.errors import CpybenchError
from pytest_cpybench.options import OPTIONS, Settings, parse_budget

from . import overhead
from .common import Context, Goal, SectionResult, Table, fmt_rate, fmt_seconds, open_session, verdicts_of
from .plan import BASE_REF, NEIGHBOUR_REF, SLOW_REF

NAME = "full_suite"
TITLE = f"The whole suite: the gate ({NEIGHBOUR_REF} and {SLOW_REF} vs {BASE_REF}) against pyperformance run"
PARTS = ("pyperformance", "aa", "slowdown")
HEADS = {"aa": NEIGHBOUR_REF, "slowdown": SLOW_REF}
SLOWED_BENCHMARK = "deepcopy"  # the only benchmark the slowdown branch changes
TARGET_WALL_RATIO = 0.7
TARGET_BENCH_RATIO = 2.0
TARGET_INCONCLUSIVE = 0.05
TIMEOUT = 4 * 3600
DEFAULT_BUDGET = next(option.default for option in OPTIONS if option.name == "cpython-budget")
_PROGRESS = re.compile(r"^\[\s*(\d+)/(\d+)\] (\S+)\.\.\.$")


def _pyperformance(args: Sequence[str], cwd: Path) -> tuple[float, list[tuple[float, str]]]:
    """Run pyperformance; its wall time and its stdout lines, each with the seconds since the start."""
    lines: list[tuple[float, str]] = []
    started = time.monotonic()
    with subprocess.Popen([sys.executable, "-m", "pyperformance", *args], cwd=cwd, env=overhead.user_environ(),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append((time.monotonic() - started, line.rstrip("\n")))
        returncode = process.wait(timeout=TIMEOUT)
    seconds = time.monotonic() - started
    if returncode not in (0, 1):  # 1: some benchmark failed, the others are still measured
        tail = "\n".join(line for _, line in lines[-15:])
        raise RuntimeError(f"pyperformance {args[0]} exited with {returncode}:\n{tail}")
    return seconds, lines


def benchmark_seconds(lines: Sequence[tuple[float, str]], end: float) -> dict[str, float]:
    """Seconds per benchmark of a ``pyperformance run``: from its ``[i/N] name...`` line to the next
    (the last one to ``end``)."""
    starts = [(at, match[3]) for at, line in lines if (match := _PROGRESS.match(line))]
    ends = [at for at, _ in starts[1:]] + [end]
    return {name: round(stop - start, 2) for (start, name), stop in zip(starts, ends, strict=True)}


def pyperformance_part(ctx: Context, benchmarks: str | None = None) -> dict[str, object]:
    python = ctx.build(NEIGHBOUR_REF).python
    selection = ["-b", benchmarks] if benchmarks else []
    cwd = ctx.work_dir / "pyperformance"  # its ./venv survives between runs
    cwd.mkdir(parents=True, exist_ok=True)
    output = ctx.fresh_dir("full-suite-pyperformance") / "head.json"
    # Untimed: creating the venv and installing every benchmark's requirements.
    ctx.log("full suite: pyperformance venv (untimed)")
    _pyperformance(["venv", "create", "-p", str(python), *selection], cwd)
    ctx.log("full suite: pyperformance run, default mode")
    seconds, lines = _pyperformance(["run", "-p", str(python), *selection, "-o", str(output)], cwd)
    first = next((at for at, line in lines if _PROGRESS.match(line)), 0.0)
    last_output = lines[-1][0] if lines else seconds
    per_benchmark = benchmark_seconds(lines, last_output)
    suite = pyperf.BenchmarkSuite.load(str(output))
    errors = [line for _, line in lines if line.startswith("ERROR: Benchmark")]
    ctx.log(f"full suite: pyperformance {seconds:.0f} s ({seconds - first:.0f} s measuring), "
            f"{len(per_benchmark)} benchmarks, {len(suite.get_benchmark_names())} results")
    return {"python": str(python), "seconds": round(seconds, 1), "measuring_seconds": round(last_output - first, 1),
            "benchmark_seconds": per_benchmark, "results": sorted(suite.get_benchmark_names()), "errors": errors,
            "command": ["python", "-m", "pyperformance", "run", "-p", "PYTHON", *selection, "-o", "OUT.json"]}


Checkpoint = Callable[[dict[str, object]], None]


def gate_part(ctx: Context, head: str, benchmarks: str | None = None,
              checkpoint: Checkpoint = lambda _part: None, budget: str | None = None,
              values: int | None = None, parallel: str | None = None) -> dict[str, object]:
    """One session of the gate on the whole suite (or ``benchmarks``): ``head`` against BASE_REF measured
    in the session, with the default budget or ``budget`` (--cpython-budget's syntax), and
    pyperf's values per process or ``values`` (1: one-value processes), the sides in turn or
    as ``parallel`` says (--cpython-parallel; default: the context's, the plugin's auto). ``checkpoint``
    gets the part as measured so far after every benchmark (an interrupted part keeps what it
    measured: ``"complete": False``)."""
    started = time.monotonic()
    settings = ctx.settings(ref=head, baselines=(BASE_REF,), mode="default", benchmarks=benchmarks,
                            results_dir=ctx.fresh_dir(f"full-suite-{head}"), save="no",
                            budget=dataclasses.replace(parse_budget(budget or DEFAULT_BUDGET),
                                           **({"values": values} if values else {})),
                            **({"parallel": parallel} if parallel else {}))
    engine, benches = open_session(ctx, settings)
    prepared = time.monotonic() - started
    items = []
    for bench in benches:
        try:
            outcome = engine.run(bench)
        except Exception as exc:  # a benchmark that cannot run here is listed, the others go on
            ctx.log(f"full suite {head}: {bench.name} failed: {str(exc).splitlines()[0]}")
            items.append({"benchmark": bench.name, "error": str(exc).splitlines()[0]})
            checkpoint(_gate_record(head, started, prepared, items, complete=False, settings=settings))
            continue
        verdicts = verdicts_of(engine, outcome)
        rounds = max((c.rounds for c in outcome.comparisons), default=0)
        ctx.log(f"full suite {head}: {bench.name} in {outcome.seconds:.0f} s, {rounds} rounds -> "
                + ", ".join(f"{v.result}={v.verdict}" for v in verdicts))
        items.append({"benchmark": bench.name, "seconds": outcome.seconds, "rounds": rounds,
                      "verdicts": [{"result": v.result, "verdict": v.verdict, "ratio": round(v.ratio, 4),
                                    "low": round(v.low, 4), "high": round(v.high, 4)} for v in verdicts]})
        checkpoint(_gate_record(head, started, prepared, items, complete=False, settings=settings))
    return _gate_record(head, started, prepared, items, complete=True, settings=settings)


def _gate_record(head: str, started: float, prepared: float, items: list[dict[str, object]], *,
                 complete: bool, settings: Settings) -> dict[str, object]:
    return {"head": head, "seconds": round(time.monotonic() - started, 1), "prepare_seconds": round(prepared, 1),
            "items": list(items), "complete": complete, "budget": dataclasses.asdict(settings.budget),
            "parallel": settings.parallel}


def run_parts(ctx: Context, parts: Sequence[str], benchmarks: str | None = None,
              checkpoint: Checkpoint = lambda _data: None, budget: str | None = None,
              values: int | None = None, parallel: str | None = None) -> dict[str, object]:
    """The ``parts``, on every benchmark of the default group or on ``benchmarks`` (pyperformance's -b);
    ``checkpoint`` gets the data so far after every benchmark a gate part measured."""
    data: dict[str, object] = {}
    selection = benchmarks or "default"
    for part in parts:
        def keep(partial: dict[str, object], part: str = part) -> None:
            checkpoint({**data, part: {**partial, "benchmarks": selection}})

        measured = (pyperformance_part(ctx, benchmarks) if part == "pyperformance"
                    else gate_part(ctx, HEADS[part], benchmarks, keep, budget, values, parallel))
        data[part] = {**measured, "benchmarks": selection}
    return data


def run(ctx: Context) -> SectionResult:
    return summarize(run_parts(ctx, PARTS))


# -- tables and targets --------------------------------------------------------------------


def summarize(data: dict[str, object]) -> SectionResult:
    section = SectionResult(NAME, TITLE, data=data)
    for part in PARTS:
        if (selection := _selection(data, part)) not in (None, "default"):
            section.notes.append(f"{part}: a subset of the suite: {selection}")
        if part in data and data[part].get("complete") is False:  # type: ignore[attr-defined]
            section.notes.append(f"{part}: interrupted after {len(data[part]['items'])} benchmarks")  # type: ignore[index]
    reference = data.get("pyperformance")
    gates = {part: data[part] for part in ("aa", "slowdown") if part in data}
    per_bench_reference: dict[str, float] = reference["benchmark_seconds"] if reference else {}  # type: ignore[index]
    rows = []
    for part, gate in gates.items():
        items = [i for i in gate["items"] if "error" not in i]  # type: ignore[index]
        verdicts = [v for i in items for v in i["verdicts"]]
        failed = [f"{i['benchmark']}:{v['result']}" for i in items for v in i["verdicts"]
                  if v["verdict"] == "REGRESSION"]
        inconclusive = sum(1 for v in verdicts if v["verdict"] == "INCONCLUSIVE")
        rounds = [i["rounds"] for i in items]
        at_once = ", sides at once" if gate.get("parallel") != "no" else ""  # type: ignore[attr-defined]
        rows.append([f"{part} ({gate['head']}{at_once})", len(items), fmt_seconds(gate["seconds"]),  # type: ignore[index]
                     statistics.median(rounds) if rounds else "-", max(rounds, default="-"),
                     len(verdicts), len(failed), fmt_rate(inconclusive, len(verdicts))])
        if part == "aa":
            section.goals.append(Goal("A/A: 0 false failures", fmt_rate(len(failed), len(verdicts)) +
                                      (f" ({', '.join(failed)})" if failed else ""), not failed))
            section.goals.append(Goal(f"A/A: <= {TARGET_INCONCLUSIVE:.0%} inconclusive",
                                      fmt_rate(inconclusive, len(verdicts)),
                                      inconclusive <= TARGET_INCONCLUSIVE * len(verdicts)))
            # Over the benchmarks both measured (pyperformance's -b skips some names it lists).
            common = [i for i in items if i["benchmark"] in per_bench_reference]
            if reference and common:
                gate_seconds = gate["prepare_seconds"] + sum(i["seconds"] for i in common)  # type: ignore[index,operator]
                skipped = sorted({i["benchmark"] for i in items} - set(per_bench_reference))
                whole = (_selection(data, "aa") == _selection(data, "pyperformance")
                         and gate.get("complete", True))  # type: ignore[attr-defined]
                # Both whole runs: wall against wall. Else pyperformance's seconds for the same benchmarks.
                reference_seconds = (reference["seconds"] if whole  # type: ignore[index]
                                     else sum(per_bench_reference[i["benchmark"]] for i in common))
                ratio = gate_seconds / reference_seconds  # type: ignore[operator]
                section.goals.append(Goal(f"A/A wall time <= {TARGET_WALL_RATIO} x pyperformance run on the head",
                                          f"{gate_seconds:.0f} s / {reference_seconds:.0f} s = {ratio:.2f} "
                                          f"({len(common)} benchmarks both ran"
                                          + ("" if whole else "; pyperformance's seconds for those alone") + ")",
                                          ratio <= TARGET_WALL_RATIO if whole else None,
                                          "" if whole else "not the whole suite"))
                if skipped:
                    section.notes.append(f"pyperformance run did not run {', '.join(skipped)} (its -b did not "
                                         "select them): left out of the wall-time ratio")
                costly = [(i["benchmark"], i["seconds"] / per_bench_reference[i["benchmark"]]) for i in items
                          if per_bench_reference.get(i["benchmark"])]
                worst = sorted(costly, key=lambda pair: -pair[1])[:3]
                over = [name for name, ratio in costly if ratio > TARGET_BENCH_RATIO]
                section.goals.append(Goal(f"no benchmark > {TARGET_BENCH_RATIO} x its pyperformance time",
                                          "worst " + ", ".join(f"{n} {r:.2f}" for n, r in worst) +
                                          (f"; over: {', '.join(over)}" if over else ""), not over))
        if part == "slowdown":
            slowed = {f"{i['benchmark']}:{v['result']}" for i in items for v in i["verdicts"]
                      if i["benchmark"] == SLOWED_BENCHMARK}
            section.goals.append(Goal(f"slowdown: the {len(slowed)} {SLOWED_BENCHMARK} results fail, nothing else",
                                      ", ".join(failed) or "nothing failed",
                                      set(failed) == slowed if slowed else None,
                                      "" if slowed else f"{SLOWED_BENCHMARK} was not measured"))
    section.tables.append(Table("the gate, default mode, whole suite",
                                ["session", "benchmarks", "wall s", "median rounds", "max rounds", "verdicts",
                                 "failed", "inconclusive"], rows))
    if reference:
        section.tables.append(Table("pyperformance run on the head alone, default mode",
                                    ["benchmarks", "results", "wall s", "measuring s", "errors"],
                                    [[len(per_bench_reference), len(reference["results"]),  # type: ignore[index,arg-type]
                                      fmt_seconds(reference["seconds"]),  # type: ignore[index]
                                      fmt_seconds(reference["measuring_seconds"]),  # type: ignore[index]
                                      len(reference["errors"])]]))  # type: ignore[index,arg-type]
    section.tables.append(_per_benchmark_table(gates, per_bench_reference))
    return section


def _selection(data: dict[str, object], part: str) -> str | None:
    """The benchmarks ``part`` measured (pyperformance's -b, or "default"); None if it did not run.
    Parts measured apart may cover different selections (older files: one for all parts)."""
    if part not in data:
        return None
    return str(data[part].get("benchmarks", data.get("benchmarks", "default")))  # type: ignore[attr-defined]


def _per_benchmark_table(gates: dict[str, object], reference: dict[str, float]) -> Table:
    names = sorted({i["benchmark"] for g in gates.values() for i in g["items"]} | set(reference))  # type: ignore[index]
    by_part = {part: {i["benchmark"]: i for i in g["items"]} for part, g in gates.items()}  # type: ignore[index]
    rows = []
    for name in names:
        row: list[object] = [name, fmt_seconds(reference.get(name))]
        for part in gates:
            item = by_part[part].get(name)
            if item is None or "error" in item:
                row += ["error" if item else "-", "-", "-", "-"]
                continue
            ratio = item["seconds"] / reference[name] if reference.get(name) else None
            row += [fmt_seconds(item["seconds"]), f"{ratio:.2f}" if ratio else "-", item["rounds"],
                    " ".join(sorted({v["verdict"].lower() for v in item["verdicts"]}))]
        rows.append(row)
    headers = ["benchmark", "pyperformance s"]
    for part in gates:
        headers += [f"{part} s", f"{part} / pyperf.", f"{part} rounds", f"{part} verdicts"]
    return Table("per benchmark", headers, rows)


def main(argv: list[str] | None = None) -> int:
    """Some parts of the section, or the merge of parts run earlier (see the module's docstring)."""
    import json

    from benchmarks import run as bench_run

    parser = argparse.ArgumentParser(description="Parts of the full_suite section (see benchmarks/README.md).")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--merge", type=Path, nargs="+", default=[], help="JSON files of parts run earlier")
    parser.add_argument("--benchmarks", default=None,
                        help="a subset, in pyperformance's -b syntax (default: the whole default group)")
    parser.add_argument("--budget", default=None,
                        help="the gate parts' --cpython-budget, e.g. auto (default: the plugin's default)")
    parser.add_argument("--values", type=int, default=None,
                        help="values per worker process in the gate parts (default: pyperf's in the mode, 3; "
                             "1 for one-value processes)")
    parser.add_argument("--parallel", choices=("auto", "yes", "no"), default=None,
                        help="the gate parts' --cpython-parallel (default: the plugin's, auto)")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--verbose", "-v", action="store_true", help="show the engine's progress messages")
    args = parser.parse_args(argv)
    if args.values is not None and args.values < 1:
        parser.error("--values: give at least 1")
    if args.budget is not None:
        try:
            parse_budget(args.budget)
        except CpybenchError as err:
            parser.error(str(err))
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not args.merge and (not parts or any(p not in PARTS for p in parts)):
        parser.error(f"--parts: choose from {', '.join(PARTS)}")
    started = time.monotonic()
    documents = [json.loads(path.read_text()) for path in args.merge]
    if documents:
        data: dict[str, object] = {}
        for path, document in zip(args.merge, documents, strict=True):
            parts_of = document["sections"][NAME]["data"]
            for part in (p for p in PARTS if p in parts_of):
                if part in data:
                    parser.error(f"--merge: {path} has the {part} part a file before it has: give each part once")
                data[part] = {"benchmarks": parts_of.get("benchmarks", "default"), **parts_of[part]}
        machine_details = documents[0]["machine"]
        commands = [c for d in documents for c in d.get("commands") or [d.get("command", "")]]
    else:
        commands = [" ".join(["python -m benchmarks.full_suite", *(argv if argv is not None else sys.argv[1:])])]
        with bench_run.standalone_context("full-suite", verbose=args.verbose) as ctx:
            machine_details = bench_run.machine.details(ctx.build(BASE_REF).version)

            def checkpoint(partial: dict[str, object]) -> None:  # an interrupted run keeps what it measured
                result = summarize(partial)
                result.seconds = time.monotonic() - started
                bench_run.write_standalone(args.json, result, {"variant": "standard", "commands": commands,
                                                               "machine": machine_details, "complete": False})

            data = run_parts(ctx, parts, args.benchmarks, checkpoint, args.budget, args.values, args.parallel)
    result = summarize(data)
    result.seconds = time.monotonic() - started
    bench_run.print_section(result)
    bench_run.write_standalone(args.json, result, {"variant": "standard", "commands": commands,
                                                   "machine": machine_details})
    print(f"\n{result.seconds / 60:.1f} min; results in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
