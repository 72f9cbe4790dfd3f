"""Warmups: would a worker process without pyperf's warmup measure the same? Read from pyperf's own
data (the faster-cpython seed files), no builds; a few seconds.

Every worker process of pyperformance's default mode runs 1 warmup, then 3 values, each of the same
loops; pyperf keeps the warmup's value in the results file. Issue 11 asked whether the warmup can go
"where pyperf's own data shows the first value is already stable". Per result, over its worker
processes (medians, so one odd process does not decide):

* warmup / values: the warmup's value against the mean of the process's values;
* shift: what the process mean would become if the warmup were measured as a value, i.e. a process
  of 3 values without a warmup (the warmup and the first two values) against the one pyperf ran;
* noise: the result's process-to-process coefficient of variation, what a shift is small against;
  and the same of each process's first value alone: whether a process of one value instead of three
  (the other way to a cheaper process) would be much noisier.

A shift well inside the noise everywhere would make the warmup a cost without a use. Where it is
not, dropping it changes what is measured (the first call's caches, specialisation, allocation),
on both sides alike for an unchanged build but not for a change that moves warm-up cost.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyperf

from .common import SEED_DIR, Context, Goal, SectionResult, Table, cv, distribution, fmt_rate, seed_results

NAME = "warmups"
TITLE = "Warmups: does the first value of a worker process already measure what the others do?"

CUTS = (0.01, 0.02, 0.05)  # shifts worth reporting: 1%, 2%, the gate's 5% threshold
# Dropping the warmup is worth trying only if at most this share of results shifts by more than 2%.
TOLERATED_SHARE = 0.05


@dataclass(frozen=True)
class WarmupEffect:
    """One result's worker processes, summarised."""

    label: str  # "<python version>:<result name>"
    warmup_ratio: float  # median over processes of warmup / mean(values)
    shift: float  # median over processes of mean(warmup, values[:-1]) / mean(values) - 1
    noise: float  # coefficient of variation of the process means
    one_value_noise: float  # the same of each process's first value alone (a process of one value)
    first_shift: float = 0.0  # median over processes of values[0] / mean(values) - 1: what one value reads


def effect_of(label: str, bench: pyperf.Benchmark) -> WarmupEffect | None:
    """The warmup effect of one result; None without a warmup and two values in two processes."""
    ratios, shifts = [], []
    for run in bench.get_runs():
        if not run.warmups or len(run.values) < 2:  # calibration runs have warmups and no values
            continue
        warmup = run.warmups[-1][1]  # the last warmup: the one right before the values
        mean = statistics.fmean(run.values)
        ratios.append(warmup / mean)
        shifts.append(statistics.fmean([warmup, *run.values[:-1]]) / mean - 1)
    # The same processes for every figure: those with a warmup and two values.
    processes = [run for run in bench.get_runs() if run.warmups and len(run.values) >= 2]
    means = [statistics.fmean(run.values) for run in processes]
    firsts = [run.values[0] for run in processes]
    if len(ratios) < 2:
        return None
    first_shift = statistics.median(first / mean - 1 for first, mean in zip(firsts, means, strict=True))
    return WarmupEffect(label, statistics.median(ratios), statistics.median(shifts), cv(means), cv(firsts),
                        first_shift)


def load_effects(seed_dir: Path = SEED_DIR) -> list[WarmupEffect]:
    return [effect for label, bench in seed_results(seed_dir) if (effect := effect_of(label, bench)) is not None]


# -- the section ------------------------------------------------------------------------


def run(ctx: Context) -> SectionResult:
    return evaluate(ctx.log)


def evaluate(log: Callable[[str], None]) -> SectionResult:
    result = SectionResult(NAME, TITLE)
    effects = load_effects()
    log(f"{NAME}: {len(effects)} results of the seed files")
    shifts = [abs(e.shift) for e in effects]
    beyond_noise = [e for e in effects if abs(e.shift) > e.noise]
    rows: list[list[object]] = []
    for name, values in (("warmup / values", [e.warmup_ratio for e in effects]),
                         ("shift of the process mean", [1 + e.shift for e in effects]),
                         ("process CV (noise)", [1 + e.noise for e in effects])):
        spread = distribution(values)
        rows.append([name, *(f"{spread[key] - 1:+.1%}" for key in ("min", "p5", "median", "p95", "max"))])
    result.tables.append(Table(f"{len(effects)} seed results, medians over each result's worker processes "
                               "(as a difference from 1)", ["", "min", "p5", "median", "p95", "max"], rows))
    # The other way to a cheaper process: fewer values. What one value alone costs in precision.
    noise_ratios = [e.one_value_noise / e.noise for e in effects if e.noise > 0]
    spread = distribution(noise_ratios)
    result.tables.append(Table("a process of one value instead of three: its CV / the 3-value CV",
                               ["min", "p5", "median", "p95", "max"],
                               [[f"{spread[key]:.2f}" for key in ("min", "p5", "median", "p95", "max")]]))
    result.tables.append(Table("results whose process mean would shift without the warmup",
                               ["shift more than", "results"],
                               [[f"{cut:.0%}", fmt_rate(sum(s > cut for s in shifts), len(shifts))] for cut in CUTS]
                               + [["its own process CV", fmt_rate(len(beyond_noise), len(effects))]]))
    # What one-value processes (Budget.values = 1) would read against pyperf's mean of three.
    first_shifts = [abs(e.first_shift) for e in effects]
    first_beyond = [e for e in effects if abs(e.first_shift) > e.noise]
    result.tables.append(Table("results whose first value (after the warmup) differs from the process's mean of three",
                               ["differs by more than", "results"],
                               [[f"{cut:.0%}", fmt_rate(sum(s > cut for s in first_shifts), len(first_shifts))]
                                for cut in CUTS]
                               + [["its own process CV", fmt_rate(len(first_beyond), len(effects))]]))
    over_2 = sum(s > 0.02 for s in shifts) / len(shifts) if shifts else 0.0
    result.goals.append(Goal(f"drop the warmup only if <= {TOLERATED_SHARE:.0%} of results shift by more than 2%",
                             f"{over_2:.1%}", None,
                             "report only: " + ("the warmup could go" if over_2 <= TOLERATED_SHARE
                                                else "the warmup stays")))
    worst = sorted(effects, key=lambda e: -abs(e.shift))[:5]
    result.notes.append("largest shifts: " + ", ".join(f"{e.label} {e.shift:+.1%} (CV {e.noise:.1%})"
                                                       for e in worst))
    first_worst = sorted(effects, key=lambda e: -abs(e.first_shift))[:5]
    result.notes.append("first value against the mean of three, largest: " + ", ".join(
        f"{e.label} {e.first_shift:+.1%} (CV {e.noise:.1%})" for e in first_worst))
    result.data = {"results": len(effects), "share_shift_over": {f"{cut:.0%}": sum(s > cut for s in shifts)
                                                                  / len(shifts) for cut in CUTS},
                   "share_shift_beyond_noise": len(beyond_noise) / len(effects),
                   "one_value_noise_ratio": spread,
                   "effects": [e.__dict__ for e in effects]}
    return result


def main(argv: list[str] | None = None) -> int:
    """The section on its own: no builds, no CPython repository."""
    from benchmarks import run as bench_run  # the command line's machinery (imports this module)

    parser = argparse.ArgumentParser(description="The warmups section (see benchmarks/README.md).")
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    args = parser.parse_args(argv)
    started = time.monotonic()
    result = evaluate(lambda message: print(f"[bench] {message}", file=sys.stderr, flush=True))
    return bench_run.finish_standalone(result, started, args.json, NAME, argv)


if __name__ == "__main__":
    sys.exit(main())
