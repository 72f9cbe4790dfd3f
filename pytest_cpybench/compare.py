"""Compare two pyperf result suites: per-result ratios, intervals and verdicts, plus the headline.

The headline follows faster-cpython's results pages (and ``pyperf compare_to``): the geometric
mean of ``mean(head) / mean(base)`` over every result both sides have, significant or not.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pyperf

from . import metadata
from .stats import (
    DEFAULT_CONFIDENCE,
    RatioEstimate,
    Verdict,
    geometric_mean,
    paired_ratio_interval,
    process_means,
    ratio_interval,
    verdict,
)

# Keys that tell machines apart; the first two name the machine in messages.
_MACHINE_NAME_KEYS = (metadata.MACHINE, "hostname")
_MACHINE_KEYS = (metadata.MACHINE, "hostname", "cpu_model_name", "platform")
_HEX7 = re.compile(r"^[0-9a-f]{7}$")
_VERSION = re.compile(r"^\d+\.\d+")


@dataclass(frozen=True)
class ResultComparison:
    """One pyperf result (e.g. ``deepcopy_memo``) compared between base and head."""

    name: str
    base_mean: float  # pyperf's mean of all values, in ``unit``
    head_mean: float
    unit: str  # pyperf's unit: "second", "byte" or "integer"
    estimate: RatioEstimate
    verdict: Verdict
    threshold: float
    # pyperf's own rendering of "mean ± stdev" in the result's unit, e.g. "27.2 us ± 0.4".
    base_text: str = ""
    head_text: str = ""

    @property
    def ratio(self) -> float:
        return self.estimate.ratio


@dataclass(frozen=True)
class SuiteComparison:
    base_label: str
    head_label: str
    geometric_mean: float | None  # None when the suites share no result
    results: list[ResultComparison]
    missing: list[str]  # in the baseline, not in the head
    new: list[str]  # in the head, not in the baseline
    different_suites: bool  # the two sides ran different benchmark definitions (the `*`)
    machine_mismatch: str | None = None
    threshold: float = 0.05
    confidence: float = DEFAULT_CONFIDENCE

    @property
    def inconclusive(self) -> list[str]:
        return [rc.name for rc in self.results if rc.verdict is Verdict.INCONCLUSIVE]


def label_from_filename(path: str | os.PathLike[str]) -> str | None:
    """The Python version in a bench_runner file name, or None if the name is not one.

    Names look like ``bm-<date>-<machine>-<arch>-<fork>-<ref[:20]>-<version>-<sha7>[-flags].json``;
    the ref may itself contain dashes, so the version is found as the part before the sha.
    """
    name = Path(path).name.removesuffix(".gz")
    if not name.endswith(".json"):
        return None
    parts = name.removesuffix(".json").split("-")
    if len(parts) < 8 or parts[0] != "bm":
        return None
    for index in range(len(parts) - 1, 6, -1):
        if _HEX7.match(parts[index]) and _VERSION.match(parts[index - 1]):
            return parts[index - 1]
    return None


def label_from_suite(suite: pyperf.BenchmarkSuite) -> str:
    """A short name for the interpreter a suite measured: its file's version, else metadata."""
    filename = getattr(suite, "filename", None)
    if filename:
        label = label_from_filename(filename)
        if label:
            return label
    version = _suite_metadata(suite, metadata.PYTHON_VERSION)
    if version is None and (pyperf_version := _suite_metadata(suite, "python_version")):
        version = str(pyperf_version).split()[0]  # "3.11.0 (64-bit) revision deaf509"
    commit = _suite_metadata(suite, metadata.COMMIT_ID)
    if version and commit:
        return f"{version} ({commit})"
    if version or commit:
        return str(version or commit)
    return Path(filename).stem if filename else "unknown"


def compare_benchmarks(
    base: pyperf.Benchmark,
    head: pyperf.Benchmark,
    *,
    threshold: float = 0.05,
    confidence: float = DEFAULT_CONFIDENCE,
    paired: bool = False,
) -> ResultComparison:
    """Compare one result measured on both sides (the same pyperf benchmark name).

    ``paired``: the i-th processes of both sides ran back to back (interleaved measurement),
    so their ratios are paired and drift between pairs cancels out.
    """
    base_mean, head_mean = base.mean(), head.mean()
    ratio = head_mean / base_mean
    base_processes, head_processes = process_means(base), process_means(head)
    if paired and len(base_processes) == len(head_processes):
        pairs = list(zip(base_processes, head_processes, strict=True))
        estimate = paired_ratio_interval(pairs, confidence, ratio=ratio)
    else:
        estimate = ratio_interval(base_processes, head_processes, confidence, ratio=ratio)
    return ResultComparison(
        name=head.get_name(),
        base_mean=base_mean,
        head_mean=head_mean,
        unit=head.get_unit(),
        estimate=estimate,
        verdict=verdict(estimate, threshold),
        threshold=threshold,
        base_text=mean_stdev_text(base),
        head_text=mean_stdev_text(head),
    )


def expand_overrides(head: pyperf.BenchmarkSuite, thresholds: Mapping[str, float]) -> dict[str, float]:
    """Per-result thresholds from overrides that name a result or the benchmark producing it.

    ``thresholds`` maps names to thresholds, as ``cpython_thresholds`` / ``--thresholds`` give
    them: ``deepcopy_memo: 10%`` names one result, ``deepcopy: 15%`` names a pyperformance
    benchmark and covers every result whose ``cpybench_benchmark`` metadata is ``deepcopy``.
    A result's own entry wins over its benchmark's. Returns result name -> threshold (the
    given names are kept as they are).
    """
    overrides = dict(thresholds)
    for result in head.get_benchmarks():
        owner = result.get_metadata().get(metadata.BENCHMARK_NAME)
        if owner in thresholds:
            overrides.setdefault(result.get_name(), thresholds[owner])
    return overrides


def compare_suites(
    base: pyperf.BenchmarkSuite,
    head: pyperf.BenchmarkSuite,
    *,
    threshold: float = 0.05,
    overrides: Mapping[str, float] | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    base_label: str | None = None,
    head_label: str | None = None,
    paired: bool | Collection[str] = False,
) -> SuiteComparison:
    """Compare every result both suites have.

    ``overrides``: thresholds by result name (:func:`expand_overrides` makes them from names of
    results or benchmarks); every other result gets ``threshold``.
    ``paired``: True when all results were measured interleaved, or the names of those that were.
    """
    overrides = overrides or {}
    base_names = set(base.get_benchmark_names())
    head_names = set(head.get_benchmark_names())
    shared = sorted(base_names & head_names)
    results = [
        compare_benchmarks(
            base.get_benchmark(name),
            head.get_benchmark(name),
            threshold=overrides.get(name, threshold),
            confidence=confidence,
            paired=paired if isinstance(paired, bool) else name in paired,
        )
        for name in shared
    ]
    return SuiteComparison(
        base_label=base_label or label_from_suite(base),
        head_label=head_label or label_from_suite(head),
        geometric_mean=geometric_mean(rc.ratio for rc in results) if results else None,
        results=results,
        missing=sorted(base_names - head_names),
        new=sorted(head_names - base_names),
        different_suites=_different_suites(base, head, shared),
        machine_mismatch=_machine_mismatch(base, head),
        threshold=threshold,
        confidence=confidence,
    )


def mean_stdev_text(bench: pyperf.Benchmark) -> str:
    """pyperf's formatting of mean and stdev, unit written once: "27.2 us ± 0.4"."""
    stdev = _stdev(bench)
    if stdev is None:
        return bench.format_value(bench.mean())
    mean_text, stdev_text = bench.format_values((bench.mean(), stdev))
    mean_unit, stdev_unit = mean_text.rpartition(" ")[2], stdev_text.rpartition(" ")
    if stdev_unit[1] and stdev_unit[2] == mean_unit:
        stdev_text = stdev_unit[0]
    return f"{mean_text} ± {stdev_text}"


def _stdev(bench: pyperf.Benchmark) -> float | None:
    return bench.stdev() if bench.get_nvalue() >= 2 else None


def _suite_metadata(suite: pyperf.BenchmarkSuite, key: str) -> object | None:
    """A metadata value shared by the suite, else the first benchmark's."""
    value = suite.get_metadata().get(key)
    if value is None:
        value = suite.get_benchmarks()[0].get_metadata().get(key)
    return value


def _identity_value(suite: pyperf.BenchmarkSuite, bench: pyperf.Benchmark, key: str) -> object | None:
    value = bench.get_metadata().get(key)
    return suite.get_metadata().get(key) if value is None else value


def _different_suites(base: pyperf.BenchmarkSuite, head: pyperf.BenchmarkSuite, names: Iterable[str]) -> bool:
    """Did any shared result come from a different benchmark definition (the ``*``)?"""
    for name in names:
        base_bench, head_bench = base.get_benchmark(name), head.get_benchmark(name)
        keys = list(metadata.SUITE_IDENTITY_KEYS)
        if all(metadata.DEFINITION_HASH in b.get_metadata() for b in (base_bench, head_bench)):
            keys = [metadata.PERFORMANCE_VERSION, metadata.DEFINITION_HASH]
        for key in keys:
            base_value = _identity_value(base, base_bench, key)
            head_value = _identity_value(head, head_bench, key)
            # Present on one side only: we cannot show they are the same, so they count as different.
            if (base_value is not None or head_value is not None) and base_value != head_value:
                return True
    return False


def _machine_mismatch(base: pyperf.BenchmarkSuite, head: pyperf.BenchmarkSuite) -> str | None:
    base_machine = {key: _suite_metadata(base, key) for key in _MACHINE_KEYS}
    head_machine = {key: _suite_metadata(head, key) for key in _MACHINE_KEYS}
    differing = [
        key
        for key in _MACHINE_KEYS
        if base_machine[key] is not None
        and head_machine[key] is not None
        and base_machine[key] != head_machine[key]
    ]
    if not differing:
        return None
    show_platform = "platform" in differing
    return (
        f"baseline was measured on another machine ({_describe_machine(base_machine, show_platform)}) "
        f"than this run ({_describe_machine(head_machine, show_platform)}): "
        "ratios mix machine and code differences"
    )


def _describe_machine(machine: dict[str, object | None], show_platform: bool) -> str:
    name = next((machine[key] for key in _MACHINE_NAME_KEYS if machine[key] is not None), "unknown")
    parts = [str(name)]
    if machine["cpu_model_name"] is not None:
        parts.append(f"cpu {machine['cpu_model_name']}")
    if show_platform and machine["platform"] is not None:
        parts.append(str(machine["platform"]))
    return ", ".join(parts)
