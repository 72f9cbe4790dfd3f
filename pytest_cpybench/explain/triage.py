"""What kind of failure a result is, before it is profiled (pure: data in, one word and a reason out).

* environment: the two sides' benchmark environments differ (a dependency's version, a compiled
  wheel on one side only, another pyperformance): the interpreter is not to blame;
* bimodal: the mean moved while most values did not (one side's values form two groups, or a slow
  value sits at another position within the processes): the medians say so;
* code: the interpreter does more work (its instructions per loop grew, or the profile moved);
* layout: instructions per loop unchanged (within their spread) but time moved: code layout or
  alignment, not work.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

import pyperf

from pytest_cpybench.explain.model import BIMODAL, CODE, ENVIRONMENT, LAYOUT
from pytest_cpybench.verdict import stats

# Instructions per loop of two builds of the same code differ by up to the spread of one
# interpreter's counts in different environments (stats.MAX_INSTRUCTION_SPREAD): within it, the
# interpreter does the same work.
LAYOUT_TOLERANCE = stats.MAX_INSTRUCTION_SPREAD
# A side's sorted values form two groups when one gap between neighbours is at least this (relative
# to the median) and the smaller group holds at least MIN_GROUP of the values.
GROUP_GAP = 0.10
MIN_GROUP = 0.05


def _median_ratio(base: Sequence[float], head: Sequence[float]) -> float:
    return statistics.median(head) / statistics.median(base)


def position_means(benchmark: pyperf.Benchmark) -> list[float]:
    """The mean of each value position across the worker processes (the first value of every
    process, the second, ...), over the processes that have that many values."""
    runs = [run.values for run in benchmark.get_runs() if run.values]
    width = max((len(values) for values in runs), default=0)
    return [statistics.fmean(values[i] for values in runs if len(values) > i) for i in range(width)]


def groups(values: Sequence[float]) -> tuple[float, float, int] | None:
    """Two groups of values (fast median, slow median, how many slow), or None: the largest gap between
    sorted neighbours is under GROUP_GAP of the median, or a group holds under MIN_GROUP of them."""
    ordered = sorted(values)
    if len(ordered) < 4:
        return None
    middle = statistics.median(ordered)
    gap, at = max((ordered[i + 1] - ordered[i], i + 1) for i in range(len(ordered) - 1))
    if gap < GROUP_GAP * middle or min(at, len(ordered) - at) < MIN_GROUP * len(ordered):
        return None
    return statistics.median(ordered[:at]), statistics.median(ordered[at:]), len(ordered) - at


def bimodal_reason(base: pyperf.Benchmark, head: pyperf.Benchmark, threshold: float) -> str | None:
    """Why the mean moved while most values did not, or None: the means moved less than half the
    threshold, or the medians moved as they did (at least half as far, or beyond the threshold)."""
    base_values, head_values = base.get_values(), head.get_values()
    if len(base_values) < 4 or len(head_values) < 4:
        return None
    mean_ratio = statistics.fmean(head_values) / statistics.fmean(base_values)
    median_ratio = _median_ratio(base_values, head_values)
    if (mean_ratio - 1 < threshold / 2 or median_ratio >= 1 + threshold
            or median_ratio - 1 >= (mean_ratio - 1) / 2):
        return None
    fmt = head.format_value
    moved = (f"means {fmt(statistics.fmean(base_values))} -> {fmt(statistics.fmean(head_values))} "
             f"({mean_ratio:.2f}x), medians {fmt(statistics.median(base_values))} -> "
             f"{fmt(statistics.median(head_values))} ({median_ratio:.2f}x)")
    return f"{moved}: {_where(base, head)}"


def _where(base: pyperf.Benchmark, head: pyperf.Benchmark) -> str:
    """Which values moved the mean: a position within the processes, or a group of slow values."""
    fmt = head.format_value
    positions = [position_means(base), position_means(head)]
    if all(len(p) > 1 for p in positions):
        slowest = [max(range(len(p)), key=p.__getitem__) for p in positions]
        others = [statistics.median(v for i, v in enumerate(p) if i != s)
                  for p, s in zip(positions, slowest, strict=True)]
        slow = [p[s] / o - 1 for p, s, o in zip(positions, slowest, others, strict=True)]
        if slow[1] >= GROUP_GAP and (slowest[0] != slowest[1] or slow[1] > 2 * max(slow[0], 0)):
            where = (f"value {slowest[1] + 1} of each head process is slow ({fmt(positions[1][slowest[1]])} against "
                     f"{fmt(others[1])} for its others)")
            if slow[0] >= GROUP_GAP and slowest[0] != slowest[1]:
                where += f"; on the base it was value {slowest[0] + 1}"
            elif slow[0] < GROUP_GAP:
                where += "; no value of the base's processes is"
            return where
    for label, benchmark in (("head", head), ("base", base)):
        found = groups(benchmark.get_values())
        if found is not None:
            fast, slow_median, count = found
            return (f"the {label}'s values form two groups ({len(benchmark.get_values()) - count} around "
                    f"{fmt(fast)}, {count} around {fmt(slow_median)})")
    return "a few slow values moved the mean"


def environment_differences(base: Mapping[str, str], head: Mapping[str, str]) -> list[str]:
    """What differs between two benchmark environments (name -> version, a compiled wheel's version
    ending in " (compiled)"), one line each: ``mypy: 1.0 (compiled) on the base, 1.0 on the head``."""
    lines = []
    for name in sorted(set(base) | set(head)):
        if base.get(name) == head.get(name):
            continue
        if name not in head:
            lines.append(f"{name}: {base[name]} on the base only")
        elif name not in base:
            lines.append(f"{name}: {head[name]} on the head only")
        else:
            lines.append(f"{name}: {base[name]} on the base, {head[name]} on the head")
    return lines


def instructions_moved(base: float, head: float, tolerance: float = LAYOUT_TOLERANCE) -> bool:
    """Whether instructions per loop changed beyond the spread of counts of the same work."""
    return abs(head / base - 1) > tolerance


def classify(*, environment: Sequence[str], bimodal: str | None, instructions: tuple[float, float] | None,
             metric: str, profile_moved: bool = False) -> tuple[str, str]:
    """The kind of a failure and its reason, from what was found: the environments' differences, the
    bimodal reason, instructions per loop on each side (None: not counted) and whether a time profile
    ranked something."""
    if environment:
        return ENVIRONMENT, "the benchmark environments differ: " + "; ".join(environment)
    if bimodal is not None:
        return BIMODAL, bimodal
    if instructions is not None:
        base, head = instructions
        ratio = f"instructions per loop {base:,.0f} -> {head:,.0f} ({head / base:.4f}x)"
        if instructions_moved(base, head):
            return CODE, f"the interpreter does {'more' if head > base else 'less'} work: {ratio}"
        if metric == "time":
            return LAYOUT, (f"{ratio}, within {LAYOUT_TOLERANCE:.1%}, while time moved: likely code layout or "
                            "alignment, not more work")
    if profile_moved:
        return CODE, "the time profile moved (instructions not counted)"
    return CODE, "the result is slower and nothing else explains it (instructions not counted)"
