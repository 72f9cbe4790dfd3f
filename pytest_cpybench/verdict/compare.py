"""Compare two pyperf result suites: per-result ratios, intervals and verdicts, plus the headline.

The headline follows faster-cpython's results pages (and ``pyperf compare_to``): the geometric
mean of ``mean(head) / mean(base)`` over every result both sides have, significant or not; its
interval comes from the results' own intervals (:func:`stats.geometric_mean_estimate`). Tags
(pyperformance's groups: ``apps``, ``math`` ...) get the same, over their results.

Peak memory (:func:`compare_memory`) is compared the same way, per worker process.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import pyperf

from pytest_cpybench import _pyperf
from pytest_cpybench.results import metadata
from pytest_cpybench.results.naming import label_from_suite
from pytest_cpybench.verdict.stats import (
    DEFAULT_CONFIDENCE,
    MAX_INSTRUCTION_SPREAD,
    RatioEstimate,
    Verdict,
    count_interval,
    geometric_mean,
    geometric_mean_estimate,
    paired_ratio_interval,
    process_means,
    ratio_interval,
    verdict,
)

# Keys that tell machines apart; the first two name the machine in messages.
_MACHINE_NAME_KEYS = (metadata.MACHINE, "hostname")
_MACHINE_KEYS = (metadata.MACHINE, "hostname", "cpu_model_name", "platform")
# Peak RSS of a worker process, in bytes, in pyperf's run metadata: a "command" benchmark
# (python_startup, 2to3) records its command's own peak as command_max_rss, which bench_runner
# prefers (plots.py reads the same keys in the same order); every other worker has mem_max_rss.
MEMORY_KEYS = ("command_max_rss", "mem_max_rss")
MEMORY_UNIT = "byte"


# A result measured alongside other workers on one side and alone on the other: contention may
# have slowed the side measured alongside. Its verdict must hold for any such slowdown up to this
# margin (the interval widened by it on that side): a large change still counts. The alongside
# section measured no shift beyond its noise (pair SDs 0.5-4 %) on this project's 2-core VM;
# machines that share more between cores (caches, memory bandwidth, a clock budget) can shift more.
CONTENTION_MARGIN = 0.05


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
    tags: tuple[str, ...] = ()  # the result's "tags" metadata (the baseline's, as pyperf reads them)
    # Instruction counts only: the larger relative spread (max - min) / mean of the two sides' values;
    # above stats.MAX_INSTRUCTION_SPREAD the count is not deterministic and the verdict is inconclusive.
    spread: float | None = None
    # Measured alongside other workers on one side and alone on the other (stored results, not
    # paired): the verdict holds for the interval widened by CONTENTION_MARGIN.
    mixed_load: bool = False
    # Measuring stopped before this result was decided: another result of its benchmark had failed.
    partial: bool = False

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
    # The geometric mean with its interval (``headline.ratio == geometric_mean``); None with no results.
    headline: RatioEstimate | None = None

    @property
    def inconclusive(self) -> list[str]:
        return [rc.name for rc in self.results if rc.verdict is Verdict.INCONCLUSIVE]

    @property
    def regressions(self) -> list[ResultComparison]:
        return [rc for rc in self.results if rc.verdict is Verdict.REGRESSION]

    @property
    def warnings(self) -> list[str]:
        """What makes the ratios mix something other than the code: another machine, another load."""
        load = _load_warning([rc.name for rc in self.results if rc.mixed_load])
        return [text for text in (self.machine_mismatch, load) if text]

    def by_tag(self) -> dict[str, RatioEstimate]:
        """Geometric mean (with its interval) of the results of each tag, tags in name order."""
        return tag_estimates(self.results, self.confidence)


def tag_estimates(results: Iterable[ResultComparison], confidence: float) -> dict[str, RatioEstimate]:
    """Per tag, the geometric mean of its results' ratios with its interval, tags sorted by name."""
    grouped: dict[str, list[RatioEstimate]] = {}
    for rc in results:
        for tag in rc.tags:
            grouped.setdefault(tag, []).append(rc.estimate)
    return {tag: geometric_mean_estimate(grouped[tag], confidence) for tag in sorted(grouped)}


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
    base_load, head_load = load_of(base), load_of(head)
    mixed_load = not paired and base_load != head_load
    base, head = like_for_like(base, head)
    base_mean, head_mean = base.mean(), head.mean()
    ratio = head_mean / base_mean
    base_processes, head_processes = process_means(base), process_means(head)
    if paired and len(base_processes) == len(head_processes):
        pairs = list(zip(base_processes, head_processes, strict=True))
        estimate = paired_ratio_interval(pairs, confidence, ratio=ratio)
    else:
        estimate = ratio_interval(base_processes, head_processes, confidence, ratio=ratio)
    result_verdict = verdict(estimate, threshold)
    spread = None
    if metadata.metric_of(head.get_metadata()) == metadata.METRIC_INSTRUCTIONS:
        spread = max(relative_spread(base_processes), relative_spread(head_processes))
        # Repetitions have no order (nothing drifts between them to pair away): two independent samples.
        estimate = ratio_interval(base_processes, head_processes, confidence, ratio=ratio)
        if spread > MAX_INSTRUCTION_SPREAD:
            result_verdict = Verdict.INCONCLUSIVE  # not deterministic: its interval cannot be trusted
        else:
            # Never narrower than counts repeat; a side counted once has that alone.
            estimate = count_interval(estimate)
            result_verdict = verdict(estimate, threshold)
    if mixed_load and result_verdict is not Verdict.INCONCLUSIVE:
        result_verdict = verdict(contention_widened(estimate, base_load, head_load), threshold)
    return ResultComparison(
        name=head.get_name(),
        base_mean=base_mean,
        head_mean=head_mean,
        unit=head.get_unit(),
        estimate=estimate,
        verdict=result_verdict,
        threshold=threshold,
        base_text=mean_stdev_text(base),
        head_text=mean_stdev_text(head),
        tags=result_tags(base, head),
        spread=spread,
        mixed_load=mixed_load,
        partial=bool(head.get_metadata().get(metadata.PARTIAL)),
    )


def contention_widened(estimate: RatioEstimate, base_load: frozenset[int], head_load: frozenset[int],
                       margin: float = CONTENTION_MARGIN) -> RatioEstimate:
    """The head/base estimate widened by what contention may have added to the side measured
    alongside more workers: a head slowed by it reads too slow (the low end moves down), a
    baseline slowed by it makes the head read too fast (the high end moves up)."""
    head_busier = max(head_load, default=0) > min(base_load, default=0)
    base_busier = max(base_load, default=0) > min(head_load, default=0)
    return replace(estimate, low=estimate.low / (1 + margin) if head_busier else estimate.low,
                   high=estimate.high * (1 + margin) if base_busier else estimate.high)


def _load_warning(mixed: list[str]) -> str | None:
    if not mixed:
        return None
    names = ", ".join(mixed[:5]) + (", ..." if len(mixed) > 5 else "")
    return (f"{len(mixed)} result(s) measured alongside other workers on one side and alone on the other "
            f"({names}): contention may have slowed the side measured alongside, so their verdicts hold "
            f"only beyond {CONTENTION_MARGIN:.0%} on that side; compare with results measured alike (in a "
            "session, a stored baseline with a known commit is re-measured interleaved when unclear)")


def load_of(bench: pyperf.Benchmark) -> frozenset[int]:
    """How many other workers ran alongside the result's processes (0: alone), as a set: one
    session's rounds can fall back from alongside to alone (--cpython-parallel)."""
    return frozenset(int(run.get_metadata().get(metadata.ALONGSIDE, 0)) for run in bench.get_runs() if run.values)


def measured_alongside(suite: pyperf.BenchmarkSuite) -> bool:
    """Whether any result of ``suite`` has processes measured alongside other workers."""
    return any(load_of(bench) - {0} for bench in suite.get_benchmarks())


def like_for_like(base: pyperf.Benchmark, head: pyperf.Benchmark) -> tuple[pyperf.Benchmark, pyperf.Benchmark]:
    """Both results as they are when every process of both measured as many values; else both
    reduced to each process's first value.

    Processes of different value counts (a fast-mode run's two against a default run's three,
    one-value processes: ``Budget.values``) read differently, since a process's later values need
    not run like its first (mypy2's first, after pyperf's warmup, reads 40% over its process's
    mean of three in the seed's 3.11 run): a stored run of one kind against one of the other
    would report that difference as a change."""
    per_side = [{len(run.values) for run in bench.get_runs() if run.values} for bench in (base, head)]
    if not all(per_side) or len(per_side[0] | per_side[1]) <= 1:  # a side without values: nothing to align
        return base, head
    return first_values(base), first_values(head)


def first_values(bench: pyperf.Benchmark) -> pyperf.Benchmark:
    """The result with each process's first value alone (pyperf's calibration runs left out)."""
    return pyperf.Benchmark([pyperf.Run(run.values[:1], warmups=run.warmups, metadata=run.get_metadata(),
                                        collect_metadata=False) for run in bench.get_runs() if run.values])


def relative_spread(values: Sequence[float]) -> float:
    """(max - min) / mean: how far apart repeated instruction counts of one interpreter are."""
    return (max(values) - min(values)) / statistics.fmean(values) if len(values) > 1 else 0.0


def result_tags(base: pyperf.Benchmark, head: pyperf.Benchmark | None = None) -> tuple[str, ...]:
    """The result's ``tags`` metadata: the baseline's (as ``pyperf compare_to`` reads them), else the head's."""
    for bench in (base, head):
        if bench is None:
            continue
        tags = bench.get_metadata().get("tags")
        if tags:
            return tuple(str(tag) for tag in tags) if isinstance(tags, (list, tuple)) else (str(tags),)
    return ()


def memory_key(bench: pyperf.Benchmark) -> str | None:
    """Which of :data:`MEMORY_KEYS` the result's worker processes recorded (None: neither)."""
    for key in MEMORY_KEYS:
        if any(key in run.get_metadata() for run in bench.get_runs() if run.values):
            return key
    return None


def memory_values(bench: pyperf.Benchmark, key: str) -> list[float]:
    """Peak RSS in bytes of each worker process that measured values and recorded ``key``
    (calibration runs are left out, as in :func:`stats.process_means`), in run order."""
    values = []
    for run in bench.get_runs():
        value = run.get_metadata().get(key) if run.values else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            values.append(float(value))
    return values


def compare_memory(
    base: pyperf.BenchmarkSuite,
    head: pyperf.BenchmarkSuite,
    *,
    threshold: float,
    confidence: float = DEFAULT_CONFIDENCE,
    paired: bool | Collection[str] = False,
) -> list[ResultComparison]:
    """Peak memory of every result both suites have, compared like time (unit ``"byte"``).

    Per result: the ratio of the mean peak RSS of the worker processes (head / base), its
    interval from the per-process values (:func:`stats.ratio_interval`, or
    :func:`stats.paired_ratio_interval` when ``paired`` and both sides have as many processes),
    and the same verdict logic with ``threshold`` (a regression is a significant growth beyond
    it). Results whose worker processes did not record peak memory on either side (pyperf's
    ``mem_max_rss``, or ``command_max_rss`` for a command benchmark; the same key on both sides)
    are left out. Results are in name order.
    """
    comparisons = []
    for name in sorted(set(base.get_benchmark_names()) & set(head.get_benchmark_names())):
        base_bench, head_bench = base.get_benchmark(name), head.get_benchmark(name)
        key = memory_key(base_bench)
        if key is None or memory_key(head_bench) != key:
            continue
        base_values, head_values = memory_values(base_bench, key), memory_values(head_bench, key)
        if not base_values or not head_values:
            continue
        pair = paired if isinstance(paired, bool) else name in paired
        if pair and len(base_values) == len(head_values):
            # Untrimmed: a process's peak memory is not slowed down by another job, and a growth
            # that only some processes show is still a growth.
            estimate = paired_ratio_interval(list(zip(base_values, head_values, strict=True)), confidence,
                                             trim=0.0)
        else:
            estimate = ratio_interval(base_values, head_values, confidence)
        comparisons.append(ResultComparison(
            name=name,
            base_mean=statistics.fmean(base_values),
            head_mean=statistics.fmean(head_values),
            unit=MEMORY_UNIT,
            estimate=estimate,
            verdict=verdict(estimate, threshold),
            threshold=threshold,
            base_text=_memory_text(base_values),
            head_text=_memory_text(head_values),
            tags=result_tags(base_bench, head_bench),
        ))
    return comparisons


def memory_comparison(cmp: SuiteComparison, memory: list[ResultComparison]) -> SuiteComparison:
    """``cmp`` with its results replaced by peak-memory results: the same shape for pages and plots."""
    headline = geometric_mean_estimate([rc.estimate for rc in memory], cmp.confidence) if memory else None
    return replace(cmp, results=memory, geometric_mean=headline.ratio if headline else None, headline=headline,
                   threshold=memory[0].threshold if memory else cmp.threshold)


def _memory_text(values: list[float]) -> str:
    """ "24.3 MiB ± 0.2" (mean ± stdev of the processes' peaks), or the mean alone."""
    mean = _pyperf.format_size(statistics.fmean(values))
    if len(values) < 2:
        return mean
    stdev = _pyperf.format_size(statistics.stdev(values))
    mean_unit, (stdev_number, _, stdev_unit) = mean.rpartition(" ")[2], stdev.rpartition(" ")
    return f"{mean} ± {stdev_number if stdev_unit == mean_unit else stdev}"


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
    paired_confidence: float | Mapping[str, float] | None = None,
) -> SuiteComparison:
    """Compare every result both suites have.

    ``overrides``: thresholds by result name (:func:`expand_overrides` makes them from names of
    results or benchmarks); every other result gets ``threshold``.
    ``paired``: True when all results were measured interleaved, or the names of those that were.
    ``paired_confidence``: the confidence of those results' intervals, when not ``confidence``
    (interleaved measurement that checked its verdicts several times:
    :func:`pytest_cpybench.measure.interleaved.check_confidence`), one for all or by result name
    (a result it does not name keeps ``confidence``); the headline keeps ``confidence``.
    """
    def paired_level(name: str) -> float:
        if isinstance(paired_confidence, Mapping):
            return paired_confidence.get(name) or confidence
        return paired_confidence or confidence

    overrides = overrides or {}
    base_names = set(base.get_benchmark_names())
    head_names = set(head.get_benchmark_names())
    shared = sorted(base_names & head_names)
    results = [
        compare_benchmarks(
            base.get_benchmark(name),
            head.get_benchmark(name),
            threshold=overrides.get(name, threshold),
            confidence=paired_level(name) if is_paired else confidence,
            paired=is_paired,
        )
        for name in shared
        for is_paired in [paired if isinstance(paired, bool) else name in paired]
    ]
    headline = geometric_mean_estimate([rc.estimate for rc in results], confidence) if results else None
    return SuiteComparison(
        base_label=base_label or label_from_suite(base),
        head_label=head_label or label_from_suite(head),
        geometric_mean=geometric_mean(rc.ratio for rc in results) if results else None,
        headline=headline,
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
    if metadata.metric_of(bench.get_metadata()) == metadata.METRIC_INSTRUCTIONS:
        # pyperf prints integers with all their decimals: "1056666.6666666667 ± 40414.51884327381".
        text = f"{bench.mean():,.0f} instructions"
        return text if stdev is None else f"{text} ± {stdev:,.0f}"
    if stdev is None:
        return bench.format_value(bench.mean())
    mean_text, stdev_text = bench.format_values((bench.mean(), stdev))
    mean_unit, stdev_unit = mean_text.rpartition(" ")[2], stdev_text.rpartition(" ")
    if stdev_unit[1] and stdev_unit[2] == mean_unit:
        stdev_text = stdev_unit[0]
    return f"{mean_text} ± {stdev_text}"


def _stdev(bench: pyperf.Benchmark) -> float | None:
    return bench.stdev() if bench.get_nvalue() >= 2 else None


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
    base_machine = {key: metadata.suite_value(base, key) for key in _MACHINE_KEYS}
    head_machine = {key: metadata.suite_value(head, key) for key in _MACHINE_KEYS}
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
