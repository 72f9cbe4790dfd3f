"""Build configurations: what the presets other than ``release`` cost here, and whether their
verdicts hold.

Per preset that builds here (``pgo-lto``, ``nogil``), into an empty build cache:

* cold: ``v3.13.5`` built; the build's phases as the builder times them (a PGO build is three
  make passes: instrumented, CPython's own training run, profile-use with the LTO link), ccache's
  hits and misses per phase (from its global counters, read when the builder starts a phase), and
  the training run's own time as regrtest reports it in the build log;
* warm: the same request again (a cache hit), median of a few;
* neighbour: ``neutral`` (one comment in ``Lib/tabnanny.py``) right after, into the same cache: a
  new build entry, ccache warm from the cold build;
* A/A: a session of the gate with the plugin's default options and the preset, head ``neutral``
  against ``v3.13.5``, both measured in the session: every REGRESSION is a false failure.

Presets this machine cannot build (``jit``, ``tailcall``) get a row saying why, from the check the
plugin makes before it builds (``toolchain.check``). ``python benchmarks/run.py --only
configurations`` runs every preset (an hour and more on 2 cores); on its own, a preset at a time,
merged afterwards::

    python -m benchmarks.configurations --presets pgo-lto --json A.json
    python -m benchmarks.configurations --presets nogil,jit,tailcall --json B.json
    python -m benchmarks.configurations --merge A.json B.json --json benchmarks/results/OUT.json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_cpybench.cpython import builds, git, targets, toolchain
from pytest_cpybench.errors import BuildError, CpybenchError, ToolchainError

from .builds import ccache_counters, ccache_line
from .common import Context, Goal, SectionResult, Stopwatch, Table, fmt_seconds, open_session, verdicts_of
from .plan import BASE_REF, NEIGHBOUR_REF

NAME = "configurations"
TITLE = "Build configurations: pgo-lto and nogil built and gated, jit and tailcall checked"
BUILT_PRESETS = ("pgo-lto", "nogil")
REFUSED_PRESETS = ("jit", "tailcall")
PRESETS = (*BUILT_PRESETS, *REFUSED_PRESETS)
# Single-result benchmarks and deepcopy (three results); none needs a C extension, so all install
# under a free-threaded interpreter too.
AA_BENCHMARKS = "nbody,richards,json_loads,deepcopy"
HIT_REPEATS = 3
HITS = ("direct_cache_hit", "preprocessed_cache_hit")
_PHASE = re.compile(r"^(export|configure|install|make(?: \([^)]*\))?): ")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?) (hour|min|sec|ms)\b")
_UNIT_SECONDS = {"hour": 3600.0, "min": 60.0, "sec": 1.0, "ms": 0.001}


# -- pure pieces: the builder's progress, the build log, ccache's counters --------------------


def phase_of(message: str) -> str | None:
    """The build phase a builder progress message is about (``make (training run): 40 s ...``)."""
    match = _PHASE.match(message)
    return match[1] if match else None


def counter_delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {name: after.get(name, 0) - before.get(name, 0) for name in after}


def hits_and_misses(delta: Mapping[str, int]) -> tuple[int, int]:
    return sum(delta.get(name, 0) for name in HITS), delta.get("cache_miss", 0)


def fmt_ccache(delta: Mapping[str, int]) -> str:
    hits, misses = hits_and_misses(delta)
    return f"{hits} hits / {misses} misses" if hits + misses else "-"


@dataclass
class PhaseCounters:
    """A builder progress callback that reads ccache's counters when a phase starts, so each phase
    gets its own hits and misses (``snapshots``: the phase started and the counters then)."""

    read: Callable[[], dict[str, int]] = ccache_counters
    echo: Callable[[str], None] | None = None  # the context's engine_log: the builder's messages stay visible
    snapshots: list[tuple[str, dict[str, int]]] = field(default_factory=list)

    def __call__(self, message: str) -> None:
        phase = phase_of(message)
        if phase is not None and phase not in (name for name, _ in self.snapshots):
            self.snapshots.append((phase, self.read()))
        if self.echo is not None:
            self.echo(message)

    def per_phase(self, end: Mapping[str, int]) -> dict[str, dict[str, int]]:
        return per_phase(self.snapshots, end)


def per_phase(snapshots: Sequence[tuple[str, Mapping[str, int]]], end: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """Each phase's counter deltas, from the counters at each phase's start and at the end."""
    bounds = [*(counters for _, counters in snapshots[1:]), end]
    return {phase: counter_delta(before, after) for (phase, before), after in zip(snapshots, bounds, strict=True)}


def log_section(log_text: str, phase: str) -> str:
    """What a build log holds for one phase (the builder writes ``=== <phase>: <command>`` first)."""
    marker = f"\n=== {phase}: "
    start = log_text.find(marker)
    if start < 0:
        return ""
    end = log_text.find("\n=== ", start + len(marker))
    return log_text[start:end if end >= 0 else len(log_text)]


def parse_duration(text: str) -> float | None:
    """regrtest's durations: ``2 min 3 sec``, ``1 hour 2 min``, ``59.1 sec``, ``874 ms``."""
    parts = _DURATION_PART.findall(text)
    if not parts:
        return None
    return round(sum(float(value) * _UNIT_SECONDS[unit] for value, unit in parts), 3)


def training_run(log_text: str) -> dict[str, object]:
    """The PGO training run as CPython's regrtest reports it in the build log: its own duration
    (``Total duration:``), its tests and its result; empty when the log has no training run."""
    section = log_section(log_text, builds.PGO_TRAINING)
    found: dict[str, object] = {}
    for line in section.splitlines():
        line = line.strip()
        if line.startswith("Total duration:"):
            found["seconds"] = parse_duration(line.removeprefix("Total duration:"))
        elif line.startswith("Total tests:"):
            found["tests"] = line.removeprefix("Total tests:").strip()
        elif line.startswith("Result:"):
            found["result"] = line.removeprefix("Result:").strip()
    return found


# -- measuring ----------------------------------------------------------------------------


def _request(ctx: Context, ref: str, preset: str, cache_dir: Path) -> builds.BuildRequest:
    return builds.BuildRequest(commit=git.resolve(str(ctx.repo), ref, cache_dir), preset=preset)


def interpreter_facts(python: Path) -> dict[str, object]:
    """What the built interpreter says it is: its configure arguments and whether the GIL is on."""
    script = ("import json, sys, sysconfig; print(json.dumps({'config_args': sysconfig.get_config_var('CONFIG_ARGS'),"
              " 'gil_disabled_build': bool(sysconfig.get_config_var('Py_GIL_DISABLED')),"
              " 'gil_enabled': getattr(sys, '_is_gil_enabled', lambda: True)(),"
              " 'version': sys.version.split()[0]}))")
    done = subprocess.run([str(python), "-c", script], capture_output=True, text=True, timeout=60)
    return json.loads(done.stdout) if done.returncode == 0 else {"error": done.stderr.strip()[-500:]}


def timed_build(ctx: Context, ref: str, preset: str, cache_dir: Path, label: str) -> dict[str, object]:
    """One build into ``cache_dir`` (which must not have it): wall time, the builder's phases,
    ccache per phase, the training run if there was one."""
    request = _request(ctx, ref, preset, cache_dir)
    counters = PhaseCounters(echo=ctx.engine_log)
    ctx.log(f"configurations: {preset} {label} build of {ref}")
    with Stopwatch() as watch:
        build = builds.ensure_build(request, cache_dir, counters)
    if build.cache_hit:
        raise RuntimeError(f"{preset} {ref}: the fresh cache already had this build")
    end = ccache_counters()
    log_text = build.log.read_text(errors="replace")
    record: dict[str, object] = {
        "ref": ref, "sha": request.commit.sha, "seconds": round(watch.seconds, 1), "timings": build.timings,
        "version": build.version, "ccache": ccache_line(build),
        "ccache_per_phase": counters.per_phase(end),
        "facts": interpreter_facts(build.python), "key": build.key,
    }
    training = training_run(log_text)
    if training:
        record["training_run"] = training
    ctx.log(f"configurations: {preset} {label}: {watch.seconds:.0f} s, phases {build.timings}")
    return record


def cache_hits(ctx: Context, preset: str, cache_dir: Path) -> list[float]:
    request = _request(ctx, BASE_REF, preset, cache_dir)
    seconds = []
    for _ in range(HIT_REPEATS):
        with Stopwatch() as watch:
            build = builds.ensure_build(request, cache_dir, ctx.engine_log)
        if not build.cache_hit:
            raise RuntimeError(f"{preset} {BASE_REF} was rebuilt although the cache had it")
        seconds.append(round(watch.seconds, 4))
    return seconds


def aa_session(ctx: Context, preset: str, cache_dir: Path, benchmarks: str) -> dict[str, object]:
    """The gate with the plugin's defaults and ``preset``: ``neutral`` against ``v3.13.5``, both
    measured in the session, nothing stored."""
    started = time.monotonic()
    settings = ctx.settings(ref=NEIGHBOUR_REF, baselines=(BASE_REF,), benchmarks=benchmarks, mode="default",
                            cache_dir=cache_dir, results_dir=ctx.fresh_dir(f"aa-{preset}"),
                            save="no").for_preset(preset)  # --cpython-build=<preset>
    engine, benches = open_session(ctx, settings)
    prepared = time.monotonic() - started
    items: list[dict[str, object]] = []
    for bench in benches:
        try:
            outcome = engine.run(bench)
        except CpybenchError as exc:  # listed: a benchmark that cannot run under this build is a finding
            ctx.log(f"configurations: {preset} A/A {bench.name} failed: {str(exc).splitlines()[0]}")
            items.append({"benchmark": bench.name, "error": str(exc).splitlines()[0]})
            continue
        verdicts = verdicts_of(engine, outcome)
        rounds = max((c.rounds for c in outcome.comparisons), default=0)
        ctx.log(f"configurations: {preset} A/A {bench.name} in {outcome.seconds:.0f} s, {rounds} rounds -> "
                + ", ".join(f"{v.result}={v.verdict}" for v in verdicts))
        items.append({"benchmark": bench.name, "seconds": round(outcome.seconds, 1), "rounds": rounds,
                      "verdicts": [{"result": v.result, "verdict": v.verdict, "ratio": round(v.ratio, 4),
                                    "low": round(v.low, 4), "high": round(v.high, 4)} for v in verdicts]})
    return {"head": NEIGHBOUR_REF, "baseline": BASE_REF, "benchmarks": benchmarks, "mode": settings.mode,
            "budget": str(settings.budget), "parallel": settings.parallel,
            "prepare_seconds": round(prepared, 1), "seconds": round(time.monotonic() - started, 1), "items": items}


Keep = Callable[[dict[str, object]], None]


def measure_built(ctx: Context, preset: str, benchmarks: str, aa: bool = True,
                  keep: Keep = lambda _record: None) -> dict[str, object]:
    """Cold, warm and neighbour builds of ``preset`` in an empty build cache, then its A/A;
    ``keep`` gets the record after every step (a failed or interrupted step keeps the others)."""
    fresh = ctx.fresh_dir(f"configurations-{preset}")
    record: dict[str, object] = {"preset": preset, "configure": list(builds.PRESETS[preset])}
    try:
        record["cold"] = timed_build(ctx, BASE_REF, preset, fresh, "cold")
        record["warm_seconds"] = cache_hits(ctx, preset, fresh)
        keep(record)
        record["neighbour"] = timed_build(ctx, NEIGHBOUR_REF, preset, fresh, "neighbour")
        keep(record)
        if aa:
            try:
                record["aa"] = aa_session(ctx, preset, fresh, benchmarks)
            except Exception as exc:  # the builds measured stay in the record
                ctx.log(f"configurations: {preset} A/A failed: {type(exc).__name__}: {exc}")
                record["aa_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    except BuildError as exc:  # a preset that does not build here is a finding: the others go on
        ctx.log(f"configurations: {preset}: {exc} (log: {exc.log_path})")
        record["error"] = f"{exc} (log: {exc.log_path})"
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    keep(record)
    return record


def refusal(ctx: Context, preset: str) -> dict[str, object]:
    """Why this machine cannot build ``preset`` for ``v3.13.5``: the plugin's own check, made
    before anything is built (``toolchain.check``, what a session and ``cpybench build`` run)."""
    commit = git.resolve(str(ctx.repo), BASE_REF, ctx.cache_dir)
    version = targets.source_version(commit)
    try:
        toolchain.check(preset, commit, version)
        refused = ""
    except ToolchainError as exc:
        refused = str(exc)
    return {"preset": preset, "configure": list(builds.PRESETS.get(preset, ())), "version": version,
            "refused": refused, "checked_by": "pytest_cpybench.cpython.toolchain.check"}


# -- tables -------------------------------------------------------------------------------


def _phases(record: Mapping[str, object]) -> str:
    timings = record.get("timings") or {}
    assert isinstance(timings, dict)
    return ", ".join(f"{phase} {value:.0f} s" for phase, value in timings.items() if phase != "total")


def _aa_summary(aa: Mapping[str, object] | None, error: object = None) -> str:
    if error:
        return f"did not run: {error}"
    if not aa:
        return "-"
    items = aa.get("items") or []
    assert isinstance(items, list)
    verdicts = [v for item in items for v in item.get("verdicts", [])]
    failed = sum(1 for v in verdicts if v["verdict"] == "REGRESSION")
    inconclusive = sum(1 for v in verdicts if v["verdict"] == "INCONCLUSIVE")
    errors = sum(1 for item in items if "error" in item)
    text = f"{len(verdicts)} verdicts, {failed} false failures, {inconclusive} inconclusive"
    return text + (f", {errors} benchmarks did not run" if errors else "")


def _training(record: Mapping[str, object]) -> str:
    training = record.get("training_run")
    timings = record.get("timings") or {}
    assert isinstance(timings, dict)
    if not isinstance(training, dict) or training.get("seconds") is None:
        return "-"
    step = timings.get(builds.PGO_TRAINING)
    return f"{training['seconds']:.0f} s" + (f" (make step {step:.0f} s)" if step else "")


def _ccache_by_phase(record: Mapping[str, object]) -> str:
    per = record.get("ccache_per_phase") or {}
    assert isinstance(per, dict)
    shown = [f"{phase}: {fmt_ccache(delta)}" for phase, delta in per.items() if phase.startswith("make")]
    return "; ".join(shown) or "-"


def summary_table(presets: Iterable[Mapping[str, object]]) -> Table:
    rows: list[list[object]] = []
    for record in presets:
        if record.get("refused") is not None and "cold" not in record:
            refused = record.get("refused") or "not refused: measure it"
            rows.append([record["preset"], record.get("version", "?"), f"refused here: {refused}", "-", "-", "-",
                         "-", "-"])
            continue
        if "cold" not in record:
            rows.append([record["preset"], "?", f"did not build: {record.get('error', 'interrupted')}", "-", "-", "-",
                         "-", "-"])
            continue
        cold = record["cold"]
        neighbour = record.get("neighbour") or {}
        assert isinstance(cold, dict) and isinstance(neighbour, dict)
        warm = record.get("warm_seconds") or []
        assert isinstance(warm, list)
        facts = cold.get("facts") or {}
        version = str(cold.get("version", "?")) + ("t (GIL off)" if facts.get("gil_enabled") is False else "")
        rows.append([record["preset"], version, f"{fmt_seconds(cold['seconds'])} s",
                     f"{statistics.median(warm) * 1000:.0f} ms" if warm else "-",
                     f"{fmt_seconds(neighbour.get('seconds'))} s" if neighbour else "-",
                     _training(cold) + (f" / {_training(neighbour)}" if neighbour else ""),
                     f"cold {_ccache_by_phase(cold)} | neighbour {_ccache_by_phase(neighbour)}",
                     _aa_summary(record.get("aa"), record.get("aa_error"))])  # type: ignore[arg-type]
    return Table("per preset: build time cold / warm (cache hit, median) / neighbour commit, the PGO training run "
                 "(regrtest's own time; cold / neighbour), ccache per make pass, the A/A",
                 ["preset", "CPython", "cold", "warm", "neighbour", "PGO training run", "ccache per pass", "A/A"],
                 rows)


def phase_table(presets: Iterable[Mapping[str, object]]) -> Table:
    rows: list[list[object]] = []
    for record in presets:
        for label in ("cold", "neighbour"):
            build = record.get(label)
            if not isinstance(build, dict):
                continue
            per = build.get("ccache_per_phase") or {}
            for phase, seconds in build["timings"].items():
                if phase == "total":
                    continue
                rows.append([record["preset"], label, phase, f"{seconds:.0f} s",
                             fmt_ccache(per.get(phase, {})) if phase.startswith("make") else "-"])
            rows.append([record["preset"], label, "total", f"{build['timings'].get('total', 0):.0f} s", "-"])
    return Table("per phase (the builder's timings; ccache's counters read when each phase starts)",
                 ["preset", "build", "phase", "time", "ccache"], rows)


def aa_table(presets: Iterable[Mapping[str, object]]) -> Table:
    rows: list[list[object]] = []
    for record in presets:
        aa = record.get("aa")
        if not isinstance(aa, dict):
            continue
        for item in aa["items"]:
            if "error" in item:
                rows.append([record["preset"], item["benchmark"], "-", f"did not run: {item['error']}", "-", "-", "-"])
                continue
            for v in item["verdicts"]:
                rows.append([record["preset"], item["benchmark"], v["result"], v["verdict"],
                             f"{v['ratio']:.3f} [{v['low']:.3f}, {v['high']:.3f}]", item["rounds"],
                             f"{item['seconds']:.0f} s"])
    return Table(f"A/A: {NEIGHBOUR_REF} against {BASE_REF} in each preset, the plugin's default options "
                 "(every REGRESSION is a false failure)",
                 ["preset", "benchmark", "result", "verdict", "ratio [interval]", "rounds", "item time"], rows)


def summarize(data: Mapping[str, object]) -> SectionResult:
    section = SectionResult(NAME, TITLE, data=dict(data))
    listed = data.get("presets")
    presets = [record for record in listed if isinstance(record, dict)] if isinstance(listed, list) else []
    section.tables = [summary_table(presets), phase_table(presets), aa_table(presets)]
    verdicts = [v for r in presets if isinstance(r.get("aa"), dict) for item in r["aa"]["items"]
                for v in item.get("verdicts", [])]
    if verdicts:
        failed = sum(1 for v in verdicts if v["verdict"] == "REGRESSION")
        section.goals.append(Goal("A/A per built preset: 0 false failures", f"{failed} in {len(verdicts)} verdicts",
                                  failed == 0))
    section.notes.append("ccache's counters are global: a build running elsewhere at the same time blurs them")
    section.notes.append("warm: ensure_build of the same request again (a cache hit), without the git resolve")
    return section


def measure(ctx: Context, presets: Sequence[str], benchmarks: str, aa: bool = True,
            checkpoint: Callable[[dict[str, object]], None] = lambda _data: None) -> dict[str, object]:
    """Every preset in turn; ``checkpoint`` gets the data so far after every step."""
    records: list[dict[str, object]] = []

    def data(current: dict[str, object] | None = None) -> dict[str, object]:
        return {"presets": [*records, *([current] if current else [])], "aa_benchmarks": benchmarks}

    for preset in presets:
        if preset in BUILT_PRESETS:
            records.append(measure_built(ctx, preset, benchmarks, aa, keep=lambda r: checkpoint(data(r))))
        else:
            records.append(refusal(ctx, preset))
            checkpoint(data())
    return data()


def run(ctx: Context) -> SectionResult:
    return summarize(measure(ctx, PRESETS, AA_BENCHMARKS))


def merge(documents: Iterable[Mapping[str, object]]) -> dict[str, object]:
    """The presets of several runs of this section, in PRESETS order (a later run's preset wins)."""
    by_preset: dict[str, object] = {}
    benchmarks = AA_BENCHMARKS
    for document in documents:
        data = document["sections"][NAME]["data"]  # type: ignore[index]
        benchmarks = data.get("aa_benchmarks", benchmarks)
        for record in data["presets"]:
            by_preset[record["preset"]] = record
    ordered = sorted(by_preset, key=lambda name: PRESETS.index(name) if name in PRESETS else len(PRESETS))
    return {"presets": [by_preset[name] for name in ordered], "aa_benchmarks": benchmarks}


def main(argv: list[str] | None = None) -> int:
    """Some presets, or the merge of runs made earlier (see the module's docstring)."""
    from benchmarks import run as bench_run

    parser = argparse.ArgumentParser(description="The configurations section (see benchmarks/README.md).")
    parser.add_argument("--presets", default=",".join(PRESETS),
                        help=f"comma-separated, from {', '.join(PRESETS)} (default: all)")
    parser.add_argument("--benchmarks", default=AA_BENCHMARKS, help=f"the A/A's (default: {AA_BENCHMARKS})")
    parser.add_argument("--no-aa", action="store_true", help="the builds only")
    parser.add_argument("--merge", nargs="+", type=Path, default=[], help="JSON files of this section to merge")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--verbose", "-v", action="store_true", help="show the builder's and engine's messages")
    args = parser.parse_args(argv)
    presets = [name.strip() for name in args.presets.split(",") if name.strip()]
    unknown = [name for name in presets if name not in PRESETS]
    if unknown:
        parser.error(f"--presets: unknown {', '.join(unknown)}: choose from {', '.join(PRESETS)}")
    started = time.monotonic()
    documents = [json.loads(path.read_text()) for path in args.merge]
    if documents:
        data = merge(documents)
        machine_details = documents[0]["machine"]
        commands = [c for d in documents for c in d.get("commands") or [d.get("command", "")]]
        seconds = sum(float(d.get("seconds", 0.0)) for d in documents)
    else:
        commands = [" ".join(["python -m benchmarks.configurations", *(argv if argv is not None else sys.argv[1:])])]
        with bench_run.standalone_context(NAME, verbose=args.verbose) as ctx:
            machine_details = bench_run.machine.details(ctx.build(BASE_REF).version)

            def checkpoint(partial: dict[str, object]) -> None:  # an interrupted run keeps what it measured
                result = summarize(partial)
                result.seconds = time.monotonic() - started
                bench_run.write_standalone(args.json, result, {"commands": commands, "machine": machine_details,
                                                               "complete": False})

            data = measure(ctx, presets, args.benchmarks, not args.no_aa, checkpoint)
        seconds = time.monotonic() - started
    result = summarize(data)
    result.seconds = seconds
    bench_run.print_section(result)
    bench_run.write_standalone(args.json, result, {"commands": commands, "machine": machine_details})
    print(f"\n{seconds / 60:.1f} min; results in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
