"""Statistics for comparing two interpreters: ratios, their confidence intervals, verdicts.

The statistical unit is the *worker process*, not the single value. pyperf runs each benchmark
in several worker processes and takes a few values in each; values from one process share its
memory layout, hash seed and CPU placement, so they are not independent. Tests that treat them
as independent (pyperf's own t-test) call 10% differences between two identical interpreters
"significant" on a small VM. Every interval here is therefore computed over process means.
"""

from __future__ import annotations

import enum
import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyperf

DEFAULT_CONFIDENCE = 0.95
# Instruction counts (--cpython-metric=instructions) of one interpreter repeat within about 1e-5
# (docs/measurements/2026-11-29.md); a result whose repetitions spread more than this, (max - min) / mean,
# is not deterministic (threads, timers, I/O) and gets "inconclusive", never a failure.
MAX_INSTRUCTION_SPREAD = 0.005
# The most one instruction count of a deterministic result moves between repetitions on one interpreter
# in one environment, relative to the others, with a margin: in the instructions section's stored
# repetitions (60 pairs of sides), one side's three counts spread 2.1e-6 (median) to 4.1e-5 (and
# 1.5e-4 for counts rounded to 0.1 of an instruction, before they were kept to 0.001), and a ratio
# of two single counts was at most 1.0e-4 from the ratio of the means (docs/measurements/2026-12-07.md).
# Two counts of one side further apart are not deterministic (cachegrind.repetitions_wanted counts a
# third); a ratio of two single counts is within 2 * MAX_COUNT_DEVIATION (count_interval).
MAX_COUNT_DEVIATION = 1e-4
# The degrees of freedom given to that interval, so a headline can combine it (geometric_mean_estimate).
COUNTED_ONCE_DOF = 100
# The interleaved (paired) interval trims this share of its rounds at each end, once it has
# TRIM_FROM_ROUNDS rounds (see paired_ratio_interval).
PAIRED_TRIM = 0.1
TRIM_FROM_ROUNDS = 10


def process_means(benchmark: pyperf.Benchmark) -> list[float]:
    """The mean of the values of each worker process, in run order.

    Runs without values (pyperf's calibration runs, which only hold warmups) are skipped.
    """
    return [statistics.fmean(run.values) for run in benchmark.get_runs() if run.values]


@dataclass(frozen=True)
class RatioEstimate:
    """head time / base time, with a confidence interval.

    ``ratio`` is the point estimate (pyperf's ``mean(head) / mean(base)`` over all values when
    the caller passes it); ``low``/``high`` bound it, except a trimmed paired interval
    (:func:`paired_ratio_interval` from 10 rounds), which bounds the typical round and may leave
    ``ratio`` out (:func:`verdict` then holds every verdict to both). ``low=0, high=inf`` means
    no interval could be computed (fewer than two processes on a side).
    """

    ratio: float
    low: float
    high: float
    confidence: float
    n_base: int
    n_head: int
    # The standard error of log(ratio) and its degrees of freedom, when an interval was computed
    # (what :func:`geometric_mean_estimate` combines; untrimmed even when ``low``/``high`` are
    # trimmed, since the headline is the geometric mean of the ratios of means); NaN otherwise.
    log_se: float = math.nan
    dof: float = math.nan

    @property
    def has_interval(self) -> bool:
        return math.isfinite(self.high) and self.low > 0


def ratio_interval(
    base_process_means: Sequence[float],
    head_process_means: Sequence[float],
    confidence: float = DEFAULT_CONFIDENCE,
    *,
    ratio: float | None = None,
) -> RatioEstimate:
    """Confidence interval of mean(head) / mean(base) from two independent samples of processes.

    Welch t-interval on the log of the ratio of means (delta method): the variance of
    log(mean) is estimated as (stdev / mean)^2 / n on each side, the degrees of freedom by
    Welch-Satterthwaite, so the two sides may have different process counts and variances.
    The interval is multiplicative around ``ratio`` (by default the ratio of process means).

    Why not a percentile bootstrap over processes: on the seed results, splitting each
    benchmark's 20 processes into two halves of one run (identical interpreters), the
    bootstrap's 95% interval excluded 1.0 for 10% of benchmarks at 10 vs 10 processes and 32%
    at 2 vs 2; this interval did for 5% and 1%. It is also exact and deterministic, with no
    seed and no resampling cost.
    """
    n_base, n_head = len(base_process_means), len(head_process_means)
    if ratio is None:
        ratio = _ratio_of_means(base_process_means, head_process_means)
    if n_base < 2 or n_head < 2:
        return RatioEstimate(ratio, 0.0, math.inf, confidence, n_base, n_head)
    base_var = _relative_variance(base_process_means) / n_base
    head_var = _relative_variance(head_process_means) / n_head
    total_var = base_var + head_var
    if total_var == 0:
        return RatioEstimate(ratio, ratio, ratio, confidence, n_base, n_head, 0.0, n_base + n_head - 2)
    dof = total_var**2 / (base_var**2 / (n_base - 1) + head_var**2 / (n_head - 1))
    low, high = _log_interval(ratio, math.sqrt(total_var), dof, confidence)
    return RatioEstimate(ratio, low, high, confidence, n_base, n_head, math.sqrt(total_var), dof)


def count_interval(estimate: RatioEstimate) -> RatioEstimate:
    """The interval of a ratio of instruction counts: the estimate's, and never narrower than
    ``2 * MAX_COUNT_DEVIATION`` each way of the ratio; with a side counted once (no spread, no
    interval), that alone.

    A count of a deterministic result repeats within MAX_COUNT_DEVIATION on each side, so a ratio
    of single counts is that close to the ratio of repeated ones: the width is a bound from the
    measured determinism, not a statistical interval. It is also the floor of an interval from a
    few repetitions: three counts spread 6e-7 apart (async_tree_none) make a paired t-interval
    that calls an A/A "slower" at 1.0000005, which the next counts need not repeat. The floor
    carries the standard error of a t-interval of its width at COUNTED_ONCE_DOF degrees of
    freedom, so that a headline can combine it. A result that is not deterministic has no valid
    interval from one count: it must be counted three times (cachegrind.NONDETERMINISTIC,
    cachegrind.repetitions_wanted), and its spread decides.
    """
    half_width = math.log1p(2 * MAX_COUNT_DEVIATION)
    floor_se = half_width / t_quantile(estimate.confidence, COUNTED_ONCE_DOF)
    ratio = estimate.ratio
    low, high = ratio * math.exp(-half_width), ratio * math.exp(half_width)
    if not estimate.has_interval:
        return replace(estimate, low=low, high=high, log_se=floor_se, dof=COUNTED_ONCE_DOF)
    if estimate.low <= low and estimate.high >= high:
        return estimate
    wider = math.isnan(estimate.log_se) or estimate.log_se < floor_se
    return replace(estimate, low=min(estimate.low, low), high=max(estimate.high, high),
                   log_se=floor_se if wider else estimate.log_se, dof=COUNTED_ONCE_DOF if wider else estimate.dof)


def paired_ratio_interval(
    pairs: Sequence[tuple[float, float]],
    confidence: float = DEFAULT_CONFIDENCE,
    *,
    ratio: float | None = None,
    trim: float = PAIRED_TRIM,
) -> RatioEstimate:
    """Confidence interval of head / base from interleaved ``(base, head)`` process pairs.

    Below :data:`TRIM_FROM_ROUNDS` pairs: a paired t-interval on the log of the ratio of means
    (delta method on the per-pair differences of relative values), around ``ratio``. Drift that
    affects both members of a pair (the machine warming up, another job starting) cancels out
    instead of widening the interval.

    From :data:`TRIM_FROM_ROUNDS` pairs on: Yuen's trimmed-mean interval on the pairs' log-ratios
    (:func:`trimmed_log_interval`), ``trim`` of the pairs cut at each end (0: never). On a
    shared host the noise of a round is mostly a few processes slowed down whole by another job
    (up to 1.8x, docs/measurements/2026-11-30.md, noise); one such round inflates the t-interval's standard
    deviation for the rest of the measurement, and the gate runs to its budget and says
    "inconclusive". Trimming is what keeps those rounds from deciding (docs/measurements/2026-11-30.md:
    noise, its replay; the stopping_rule section, ``robust``). 10% is the trade measured there: 20% decided
    a little sooner but passed a slowdown that only some processes show twice as often. It
    starts at 10 rounds, where 10% first cuts a round (a larger trim of fewer rounds leaves too
    few degrees of freedom). The interval is then around the trimmed ratio, the typical round;
    ``ratio`` (pyperf's ratio of means, what reports print) stays the point estimate, and
    :func:`verdict` holds every verdict to it too. The standard error the estimate carries (for
    the headline) stays the untrimmed one. Values that are not positive (no log) get the
    t-interval.
    """
    n = len(pairs)
    base_means = [base for base, _ in pairs]
    head_means = [head for _, head in pairs]
    if ratio is None:
        ratio = _ratio_of_means(base_means, head_means)
    if n < 2:
        return RatioEstimate(ratio, 0.0, math.inf, confidence, n, n)
    base_mean, head_mean = statistics.fmean(base_means), statistics.fmean(head_means)
    differences = [head / head_mean - base / base_mean for base, head in pairs]
    standard_error = math.sqrt(sample_variance(differences) / n)
    if trimmed_count(n, trim) and all(base > 0 and head > 0 for base, head in pairs):
        low, high, _, _ = trimmed_log_interval([math.log(head / base) for base, head in pairs], confidence, trim)
        return RatioEstimate(ratio, low, high, confidence, n, n, standard_error, n - 1)
    if standard_error == 0:
        return RatioEstimate(ratio, ratio, ratio, confidence, n, n, 0.0, n - 1)
    low, high = _log_interval(ratio, standard_error, n - 1, confidence)
    return RatioEstimate(ratio, low, high, confidence, n, n, standard_error, n - 1)


def trimmed_count(rounds: int, trim: float) -> int:
    """How many pairs :func:`paired_ratio_interval` cuts at each end of ``rounds`` pairs."""
    if not 0 <= trim < 0.5:
        raise ValueError(f"trim is the share cut at each end, from 0 to below 0.5; got {trim}")
    return int(trim * rounds) if rounds >= TRIM_FROM_ROUNDS else 0


def trimmed_log_interval(
    logs: Sequence[float], confidence: float, trim: float
) -> tuple[float, float, float, int]:
    """Yuen's interval of the trimmed mean of ``logs`` (log-ratios), as ratios: (low, high,
    standard error of the trimmed mean, degrees of freedom); see :func:`trimmed_mean`."""
    centre, standard_error, dof = trimmed_mean(logs, trim)
    half_width = t_quantile(confidence, dof) * standard_error
    return math.exp(centre - half_width), math.exp(centre + half_width), standard_error, dof


def trimmed_mean(values: Sequence[float], trim: float) -> tuple[float, float, int]:
    """The trimmed mean of ``values``, its standard error and degrees of freedom, by Yuen's method.

    ``g = trimmed_count(n, trim)`` values are cut at each end; the standard error comes from the
    winsorised sample (the cut values replaced by the nearest kept one), with ``n - 2g - 1``
    degrees of freedom (Yuen 1974; Wilcox, *Introduction to Robust Estimation*, 4.3).
    """
    n = len(values)
    cut = trimmed_count(n, trim)
    ordered = sorted(values)
    kept = n - 2 * cut
    if kept < 2:
        raise ValueError(f"trimming {cut} of {n} values at each end leaves fewer than two")
    centre = math.fsum(ordered[cut:n - cut]) / kept
    winsorised = [ordered[cut]] * cut + ordered[cut:n - cut] + [ordered[n - cut - 1]] * cut
    standard_error = math.sqrt((n - 1) * sample_variance(winsorised) / (kept * (kept - 1)))
    return centre, standard_error, kept - 1


def sample_variance(values: Sequence[float]) -> float:
    """The sample variance (n - 1) in floating point: ``statistics.variance`` computes in exact
    fractions, a hundred times slower, for digits no interval here needs."""
    mean = math.fsum(values) / len(values)
    return math.fsum((value - mean) ** 2 for value in values) / (len(values) - 1)


def _ratio_of_means(base: Sequence[float], head: Sequence[float]) -> float:
    if not base or not head:
        raise ValueError("cannot compute a ratio without values on both sides")
    return statistics.fmean(head) / statistics.fmean(base)


def _relative_variance(sample: Sequence[float]) -> float:
    return sample_variance(sample) / statistics.fmean(sample) ** 2


def _log_interval(
    ratio: float, log_standard_error: float, dof: float, confidence: float
) -> tuple[float, float]:
    # Rounding the degrees of freedom down widens the interval a little: errs on "inconclusive".
    half_width = t_quantile(confidence, max(1, math.floor(dof))) * log_standard_error
    return ratio * math.exp(-half_width), ratio * math.exp(half_width)


def t_quantile(confidence: float, dof: int) -> float:
    """The t such that a Student t variable with ``dof`` degrees of freedom is within ±t
    with probability ``confidence`` (1.96-ish for 0.95 and many degrees of freedom)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    low, high = 0.0, 1.0
    while t_central_probability(high, dof) < confidence:
        high *= 2
    for _ in range(60):  # bisection down to float precision
        middle = (low + high) / 2
        if t_central_probability(middle, dof) < confidence:
            low = middle
        else:
            high = middle
    return high


def t_central_probability(t: float, dof: int) -> float:
    """P(|T| < t) for Student's t with an integer ``dof`` (Abramowitz & Stegun 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(dof))
    cos_squared = math.cos(theta) ** 2
    if dof % 2 == 1:
        series = term = math.cos(theta) if dof > 1 else 0.0
        for k in range(3, dof - 1, 2):
            term *= cos_squared * (k - 1) / k
            series += term
        return 2 / math.pi * (theta + math.sin(theta) * series)
    series = term = 1.0
    for k in range(2, dof - 1, 2):
        term *= cos_squared * (k - 1) / k
        series += term
    return math.sin(theta) * series


class Verdict(enum.Enum):
    REGRESSION = "regression"
    FASTER = "faster"
    SLOWER_WITHIN_THRESHOLD = "slower within threshold"
    UNCHANGED = "unchanged"
    INCONCLUSIVE = "inconclusive"

    @property
    def is_significant_change(self) -> bool:
        return self in (Verdict.REGRESSION, Verdict.SLOWER_WITHIN_THRESHOLD, Verdict.FASTER)


def verdict(estimate: RatioEstimate, threshold: float) -> Verdict:
    """Classify a ratio estimate against a slowdown threshold (0.05 means 5% slower).

    In plain words, with ``limit = 1 + threshold``:

    - REGRESSION: even the most favourable end of the interval is slower than the limit, so we
      are confident the slowdown exceeds the threshold. Only this verdict fails.
    - INCONCLUSIVE: the interval straddles the limit (the data cannot tell whether the slowdown
      is beyond the threshold), or no interval could be computed (too few processes).
      Measure again with more processes rather than trusting either answer.
    - Otherwise we are confident the head is not slower than the limit, and say more:
      FASTER when the whole interval is below 1, SLOWER_WITHIN_THRESHOLD when it is entirely
      above 1, UNCHANGED when it contains 1 (no significant difference).

    Every verdict must also hold for the ratio itself (pyperf's ratio of means, what reports
    print), which a trimmed interval (:func:`paired_ratio_interval` from 10 rounds) need not
    contain. Otherwise it is INCONCLUSIVE (a regression or a pass that the printed ratio
    contradicts), or UNCHANGED (a significant difference in the other direction from it). This
    keeps trimming from passing a change that slows only some processes (a hash seed, a memory
    layout): when their share pulls the mean past the limit, the result cannot pass.
    """
    if not estimate.has_interval:
        return Verdict.INCONCLUSIVE
    limit = 1.0 + threshold
    ratio = estimate.ratio
    if estimate.low > limit:
        return Verdict.REGRESSION if ratio > limit else Verdict.INCONCLUSIVE
    if estimate.high >= limit or ratio >= limit:
        return Verdict.INCONCLUSIVE
    if estimate.high < 1.0 and ratio < 1.0:
        return Verdict.FASTER
    if estimate.low > 1.0 and ratio > 1.0:
        return Verdict.SLOWER_WITHIN_THRESHOLD
    return Verdict.UNCHANGED


def geometric_mean(ratios: Iterable[float]) -> float:
    """Geometric mean of ratios, as pyperf and bench_runner use for the headline number."""
    values = list(ratios)
    if not values:
        raise ValueError("geometric mean of no ratios")
    return statistics.geometric_mean(values)


def geometric_mean_estimate(
    estimates: Sequence[RatioEstimate], confidence: float | None = None
) -> RatioEstimate:
    """The geometric mean of several results' ratios (the headline), with a confidence interval.

    The point estimate is exactly the headline of faster-cpython's pages and ``pyperf
    compare_to``: the geometric mean of the results' ratios. Its log is the mean of the n log
    ratios, so (results being measured in separate worker processes, hence independent) its
    variance is ``sum(se_i**2) / n**2``, where ``se_i`` is the standard error of result i's log
    ratio (Welch or paired, over process means; for a trimmed paired interval the untrimmed one,
    as the headline is of the ratios of means, outliers included). The degrees of freedom are
    combined by Welch-Satterthwaite, and the interval is a t-interval on the log scale, like
    every other interval here.

    Why from the per-result intervals and not a t-interval over the n log ratios: the latter
    measures how much the *benchmarks* differ from one another (3.12 vs 3.10 ranges from 2.2x
    faster to 1.4x slower), as if the suite were a random sample of programs. It does not
    shrink with more processes, and answers another question. The headline is a fixed suite's
    number; what is uncertain about it is measurement noise, which is what this interval
    carries: re-measuring the same benchmarks on the same machine, the headline would fall in
    it (95% of the time at 95%).

    What it does not cover, and nothing computed from one comparison can: a shift common to
    every result of one side (the machine was slower the day the baseline ran). Interleaved
    measurement removes that; a stored baseline does not.

    With no estimates, or any without an interval, the result has no interval either.
    """
    if not estimates:
        raise ValueError("geometric mean of no estimates")
    if confidence is None:
        confidence = estimates[0].confidence
    ratio = geometric_mean(e.ratio for e in estimates)
    n = len(estimates)
    n_base, n_head = sum(e.n_base for e in estimates), sum(e.n_head for e in estimates)
    if any(not e.has_interval or math.isnan(e.log_se) or math.isnan(e.dof) for e in estimates):
        return RatioEstimate(ratio, 0.0, math.inf, confidence, n_base, n_head)
    variances = [(e.log_se / n) ** 2 for e in estimates]
    total = math.fsum(variances)
    if total == 0:
        return RatioEstimate(ratio, ratio, ratio, confidence, n_base, n_head, 0.0, math.inf)
    dof = total**2 / math.fsum(v**2 / e.dof for v, e in zip(variances, estimates, strict=True) if v > 0)
    log_se = math.sqrt(total)
    low, high = _log_interval(ratio, log_se, dof, confidence)
    return RatioEstimate(ratio, low, high, confidence, n_base, n_head, log_se, dof)


_THRESHOLD_RE = re.compile(r"^\s*(?P<number>[0-9]*\.?[0-9]+)\s*(?P<percent>%?)\s*$")


def parse_threshold(text: str) -> float:
    """Parse a slowdown threshold into a fraction: "5%" -> 0.05, "0.05" -> 0.05, "5" -> 0.05.

    A bare number below 1 is a fraction; a bare number of 1 or more is a percentage (nobody
    means a 500% threshold when writing "5").
    """
    match = _THRESHOLD_RE.match(str(text))
    if match is None:
        raise ValueError(
            f"invalid threshold {text!r}: expected a percentage such as '5%', "
            "or a fraction such as '0.05'"
        )
    number = float(match["number"])
    if match["percent"] or number >= 1:
        return number / 100
    return number


def parse_threshold_overrides(lines: Iterable[str]) -> dict[str, float]:
    """Parse per-result thresholds, one ``NAME: THRESHOLD`` per line (e.g. ``pidigits: 15%``).

    Blank lines and lines starting with ``#`` are ignored.
    """
    overrides: dict[str, float] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name or not value.strip():
            raise ValueError(
                f"invalid threshold override {line!r}: expected 'NAME: THRESHOLD', "
                "e.g. 'pidigits: 15%'"
            )
        if name in overrides:
            raise ValueError(f"threshold override for {name!r} is given twice: keep one line")
        try:
            overrides[name] = parse_threshold(value)
        except ValueError as err:
            raise ValueError(f"invalid threshold override for {name!r}: {err}") from None
    return overrides
