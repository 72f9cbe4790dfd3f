"""Statistics on real process means from the published seed results (tests/data/seed)."""

from __future__ import annotations

import math
import random
import statistics

import pyperf
import pytest
from seed import SEED

from pytest_cpybench.verdict import looks, stats
from pytest_cpybench.verdict.stats import (
    RatioEstimate,
    Verdict,
    geometric_mean,
    paired_ratio_interval,
    parse_threshold,
    parse_threshold_overrides,
    process_means,
    ratio_interval,
    t_quantile,
    verdict,
)


@pytest.fixture(scope="module")
def seed_benchmarks() -> list[pyperf.Benchmark]:
    """Every benchmark of the three seed files: 285 real samples of 20 worker processes."""
    benchmarks = []
    for path in sorted(SEED.glob("*.json")):
        benchmarks.extend(pyperf.BenchmarkSuite.load(str(path)).get_benchmarks())
    return benchmarks


def scaled(values: list[float], factor: float) -> list[float]:
    return [value * factor for value in values]


def test_process_means_skip_calibration_runs_and_average_each_process(seed_benchmarks):
    for bench in seed_benchmarks:
        runs_with_values = [run for run in bench.get_runs() if run.values]
        means = process_means(bench)
        assert len(means) == len(runs_with_values) < bench.get_nrun()  # seed runs start with calibration
        assert means == [statistics.fmean(run.values) for run in runs_with_values]
        # Every seed process has the same number of values, so the mean of means is pyperf's mean.
        assert statistics.fmean(means) == pytest.approx(bench.mean(), rel=1e-12)


def test_identical_interpreters_are_never_a_regression(seed_benchmarks):
    # Alternate processes of one run come from the same interpreter: an A/A comparison.
    verdicts = []
    for bench in seed_benchmarks:
        means = process_means(bench)
        splits = ((means[0::2], means[1::2]), (means[:10], means[10:]), (means[0:4:2], means[1:4:2]))
        for base, head in splits:
            verdicts.append(verdict(ratio_interval(base, head), threshold=0.05))
    assert Verdict.REGRESSION not in verdicts
    # A 95% interval should call about 5% of identical pairs different; a test that treats
    # values as independent (or a percentile bootstrap on 10 processes) calls 10% or more.
    called_different = sum(v in (Verdict.FASTER, Verdict.SLOWER_WITHIN_THRESHOLD) for v in verdicts)
    assert called_different / len(verdicts) < 0.08


@pytest.mark.parametrize("factor, expected", [(1.2, Verdict.REGRESSION), (0.8, Verdict.FASTER)])
def test_a_real_shift_is_detected_on_every_seed_benchmark(seed_benchmarks, factor, expected):
    for bench in seed_benchmarks:
        means = process_means(bench)
        estimate = ratio_interval(means[0::2], scaled(means[1::2], factor))
        assert verdict(estimate, threshold=0.05) is expected, bench.get_name()
        assert estimate.low < estimate.ratio < estimate.high


def test_unequal_process_counts(seed_benchmarks):
    for bench in seed_benchmarks:
        means = process_means(bench)
        estimate = ratio_interval(means[:15], scaled(means[15:], 1.2))
        assert (estimate.n_base, estimate.n_head) == (15, 5)
        assert verdict(estimate, threshold=0.05) is Verdict.REGRESSION, bench.get_name()


def test_a_single_process_gives_no_interval_and_an_inconclusive_verdict(seed_benchmarks):
    means = process_means(seed_benchmarks[0])
    for base, head in ((means[:1], scaled(means[1:2], 2.0)), (means, means[:1]), (means[:1], means)):
        estimate = ratio_interval(base, head)
        assert (estimate.low, estimate.high) == (0.0, math.inf)
        assert not estimate.has_interval
        assert verdict(estimate, threshold=0.05) is Verdict.INCONCLUSIVE
    assert verdict(paired_ratio_interval([(means[0], means[1] * 2)]), 0.05) is Verdict.INCONCLUSIVE


def test_same_input_same_interval(seed_benchmarks):
    means = process_means(seed_benchmarks[5])
    first = ratio_interval(means[0::2], means[1::2])
    assert ratio_interval(means[0::2], means[1::2]) == first
    # Nothing depends on the order of the processes either.
    again = ratio_interval(means[0::2][::-1], means[1::2][::-1])
    assert (again.low, again.high) == pytest.approx((first.low, first.high), rel=1e-12)


def test_the_caller_can_pass_pyperfs_all_values_ratio(seed_benchmarks):
    base, head = seed_benchmarks[0], seed_benchmarks[1]
    pyperf_ratio = head.mean() / base.mean()
    estimate = ratio_interval(process_means(base), process_means(head), ratio=pyperf_ratio)
    assert estimate.ratio == pyperf_ratio
    assert estimate.confidence == 0.95


def test_higher_confidence_gives_a_wider_interval(seed_benchmarks):
    means = process_means(seed_benchmarks[3])
    narrow = ratio_interval(means[0::2], means[1::2], confidence=0.9)
    wide = ratio_interval(means[0::2], means[1::2], confidence=0.99)
    assert wide.low < narrow.low and narrow.high < wide.high


def interleaved_pairs(seed: int, n: int, ratio: float, drift: float, noise: float) -> list[tuple[float, float]]:
    """``n`` (base, head) process means measured back to back, head ``ratio`` times slower.

    Each pair shares a drift factor (the machine's state while that pair ran: lognormal with
    sigma ``drift``), and each process has its own noise (lognormal, sigma ``noise``). The
    factors have the same distribution on both sides, so the true mean(head) / mean(base) is
    exactly ``ratio``.
    """
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        shared = rng.lognormvariate(0, drift)
        pairs.append((0.02 * shared * rng.lognormvariate(0, noise),
                      0.02 * ratio * shared * rng.lognormvariate(0, noise)))
    return pairs


def widths(estimate: RatioEstimate) -> float:
    return estimate.high - estimate.low


@pytest.mark.parametrize(
    "n, drift, noise",
    [(10, 0.05, 0.01), (20, 0.0, 0.03), (5, 0.10, 0.02), (40, 0.03, 0.02), (3, 0.05, 0.01)],
)
def test_paired_interval_covers_the_true_ratio(n, drift, noise):
    # A 95% interval must contain the true ratio in about 95% of repetitions: too narrow
    # (drift or noise ignored) covers less, not using the pairing (drift counted as noise)
    # covers nearly always. 400 trials: the binomial spread around 95% is about 1.1%.
    true_ratio, trials = 1.06, 400
    covered = 0
    for seed in range(trials):
        estimate = paired_ratio_interval(interleaved_pairs(seed, n, true_ratio, drift, noise))
        assert estimate.has_interval and estimate.low < estimate.ratio < estimate.high
        assert (estimate.n_base, estimate.n_head) == (n, n)
        covered += estimate.low <= true_ratio <= estimate.high
    assert 0.90 <= covered / trials <= 0.99


def test_paired_interval_cancels_drift_shared_by_a_pair():
    # Drift between pairs (5%) is five times the noise within a pair (1%): the paired
    # interval only sees the noise, the unpaired one sees both.
    trials = 400
    verdicts: dict[str, list[Verdict]] = {"paired": [], "unpaired": []}
    width_ratios = []
    for seed in range(trials):
        pairs = interleaved_pairs(seed, 10, 1.08, drift=0.05, noise=0.01)
        paired = paired_ratio_interval(pairs)
        unpaired = ratio_interval([base for base, _ in pairs], [head for _, head in pairs])
        assert paired.ratio == unpaired.ratio
        assert widths(paired) < widths(unpaired)
        width_ratios.append(widths(paired) / widths(unpaired))
        verdicts["paired"].append(verdict(paired, threshold=0.05))
        verdicts["unpaired"].append(verdict(unpaired, threshold=0.05))
    assert statistics.median(width_ratios) < 0.3  # about noise / drift
    # 8% slower against a 5% threshold: pairing decides it, the drift hides it without pairing.
    assert set(verdicts["paired"]) == {Verdict.REGRESSION}
    assert verdicts["unpaired"].count(Verdict.REGRESSION) < trials / 4


def test_without_drift_pairing_changes_little():
    ratios = []
    for seed in range(100):
        pairs = interleaved_pairs(seed, 20, 1.0, drift=0.0, noise=0.03)
        paired = paired_ratio_interval(pairs)
        unpaired = ratio_interval([base for base, _ in pairs], [head for _, head in pairs])
        ratios.append(widths(paired) / widths(unpaired))
    assert 0.8 < statistics.median(ratios) < 1.25


@pytest.mark.parametrize(
    "factor, expected", [(1.0, Verdict.UNCHANGED), (1.2, Verdict.REGRESSION), (0.8, Verdict.FASTER)]
)
def test_paired_interval_on_interleaved_seed_processes(seed_benchmarks, factor, expected):
    results = []
    for bench in seed_benchmarks:
        means = process_means(bench)
        pairs = list(zip(means[0::2], scaled(means[1::2], factor), strict=True))
        estimate = paired_ratio_interval(pairs)
        assert estimate.n_base == estimate.n_head == 10
        results.append(verdict(estimate, threshold=0.05))
    if expected is Verdict.UNCHANGED:
        assert Verdict.REGRESSION not in results
        assert results.count(Verdict.UNCHANGED) / len(results) > 0.9
    else:
        assert set(results) == {expected}


def test_t_quantiles_match_the_published_table():
    # Two-sided 95% and 99% critical values of Student's t from any statistics table.
    table = {1: (12.706, 63.657), 2: (4.303, 9.925), 3: (3.182, 5.841), 9: (2.262, 3.250),
             19: (2.093, 2.861), 38: (2.024, 2.712), 120: (1.980, 2.617)}
    for dof, (t95, t99) in table.items():
        assert t_quantile(0.95, dof) == pytest.approx(t95, abs=5e-4)
        assert t_quantile(0.99, dof) == pytest.approx(t99, abs=5e-4)


def estimate(low: float, high: float) -> RatioEstimate:
    return RatioEstimate(ratio=(low + high) / 2, low=low, high=high, confidence=0.95, n_base=20, n_head=20)


@pytest.mark.parametrize(
    "low, high, expected",
    [
        (1.06, 1.10, Verdict.REGRESSION),  # surely more than 5% slower
        (1.04, 1.06, Verdict.INCONCLUSIVE),  # may or may not exceed 5%
        (0.90, 1.20, Verdict.INCONCLUSIVE),
        (1.05, 1.07, Verdict.INCONCLUSIVE),  # lower bound exactly at the threshold
        (1.01, 1.04, Verdict.SLOWER_WITHIN_THRESHOLD),
        (0.98, 1.03, Verdict.UNCHANGED),
        (0.90, 0.97, Verdict.FASTER),
        (0.0, math.inf, Verdict.INCONCLUSIVE),  # no interval
    ],
)
def test_verdict_rule(low, high, expected):
    assert verdict(estimate(low, high), threshold=0.05) is expected


def test_geometric_mean_matches_pyperf():
    from pyperf._utils import geometric_mean as pyperf_geometric_mean

    ratios = [0.742, 1.44, 0.97, 1.0, 0.45]
    assert geometric_mean(ratios) == pytest.approx(pyperf_geometric_mean(ratios), rel=1e-15)
    assert geometric_mean([2.0, 0.5]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        geometric_mean([])


@pytest.mark.parametrize(
    "text, expected",
    [("5%", 0.05), ("0.05", 0.05), ("5", 0.05), ("12.5%", 0.125), (" 15 % ", 0.15), ("0", 0.0), ("1", 0.01)],
)
def test_parse_threshold(text, expected):
    assert parse_threshold(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "five", "-5%", "5%%", "nan", "inf", "5 percent"])
def test_parse_threshold_rejects_with_a_message_naming_the_input(text):
    with pytest.raises(ValueError, match="invalid threshold") as excinfo:
        parse_threshold(text)
    assert repr(text) in str(excinfo.value)
    assert "'5%'" in str(excinfo.value)


def test_parse_threshold_overrides():
    lines = ["pidigits: 15%", "", "# noisy on this machine", "  deepcopy_memo :0.1 ", "nbody: 7"]
    assert parse_threshold_overrides(lines) == pytest.approx(
        {"pidigits": 0.15, "deepcopy_memo": 0.1, "nbody": 0.07}
    )
    assert parse_threshold_overrides([]) == {}


@pytest.mark.parametrize(
    "line, message",
    [
        ("pidigits 15%", "expected 'NAME: THRESHOLD'"),
        ("pidigits:", "expected 'NAME: THRESHOLD'"),
        (": 5%", "expected 'NAME: THRESHOLD'"),
        ("pidigits: lots", "invalid threshold override for 'pidigits'"),
    ],
)
def test_parse_threshold_overrides_rejects_bad_lines(line, message):
    with pytest.raises(ValueError, match=message):
        parse_threshold_overrides([line])


def test_parse_threshold_overrides_rejects_a_name_given_twice():
    with pytest.raises(ValueError, match="'nbody' is given twice"):
        parse_threshold_overrides(["nbody: 5%", "nbody: 10%"])


def test_trimmed_interval_worked_example():
    """Yuen's interval by hand: logs 1..9 and 100 (x 0.001), 20% trimmed: g = 2 cut at each end,
    trimmed mean 5.5; winsorised 3,3,3,4,5,6,7,8,8,8 (variance 42.5 / 9); standard error
    sqrt(9 * 42.5 / 9 / (6 * 5)) = sqrt(42.5 / 30); 5 degrees of freedom (t = 2.5706 at 95%)."""
    logs = [0.001 * k for k in (1, 2, 3, 4, 5, 6, 7, 8, 9, 100)]
    low, high, standard_error, dof = stats.trimmed_log_interval(logs, 0.95, 0.2)
    assert dof == 5
    assert standard_error == pytest.approx(0.001 * math.sqrt(42.5 / 30))
    assert t_quantile(0.95, 5) == pytest.approx(2.5706, abs=1e-4)
    half_width = 2.5706 * 0.001 * math.sqrt(42.5 / 30)
    assert (low, high) == pytest.approx((math.exp(0.0055 - half_width), math.exp(0.0055 + half_width)), rel=1e-6)


def test_paired_interval_trims_only_from_ten_rounds(seed_benchmarks):
    means = process_means(seed_benchmarks[0])
    pairs = list(zip(means[0::2], means[1::2], strict=True)) + list(zip(means[1::2], means[0::2], strict=True))
    for rounds in (2, 5, 9):
        assert paired_ratio_interval(pairs[:rounds], trim=0.2) == paired_ratio_interval(pairs[:rounds], trim=0.0)
    logs = [math.log(head / base) for base, head in pairs]
    # 10 rounds: 2 cut at each end, 6 kept, 5 degrees of freedom; 15 rounds: 3 cut, 8.
    assert stats.trimmed_log_interval(logs[:10], 0.95, 0.2)[3] == 5
    assert stats.trimmed_log_interval(logs[:15], 0.95, 0.2)[3] == 8
    assert stats.trimmed_log_interval(logs[:10], 0.95, stats.PAIRED_TRIM)[3] == 7  # the gate's 10%: 1 cut
    trimmed, plain = paired_ratio_interval(pairs[:10]), paired_ratio_interval(pairs[:10], trim=0.0)
    assert (trimmed.low, trimmed.high) == stats.trimmed_log_interval(logs[:10], 0.95, stats.PAIRED_TRIM)[:2]
    assert (trimmed.low, trimmed.high) != (plain.low, plain.high)
    # What the headline combines stays the untrimmed standard error of the ratio of means.
    assert (trimmed.log_se, trimmed.dof) == (plain.log_se, plain.dof)
    # The printed ratio stays pyperf's ratio of means.
    assert paired_ratio_interval(pairs[:10]).ratio == pytest.approx(
        statistics.fmean(head for _, head in pairs[:10]) / statistics.fmean(base for base, _ in pairs[:10]))
    with pytest.raises(ValueError, match="trim"):
        paired_ratio_interval(pairs[:10], trim=0.5)


def test_a_verdict_holds_for_the_printed_ratio_too():
    """A change that slows 1 round in 5 by 1.3x (a hash seed, a layout): 6% on the mean, past the
    5% threshold. The trimmed interval cuts those rounds and sits below the limit; the ratio of
    means does not, so the result cannot pass."""
    pairs = [(0.02, 0.02 * (1.3 if i % 5 == 0 else 1.0) * (1 + 0.001 * (i % 3))) for i in range(20)]
    estimate = paired_ratio_interval(pairs, 0.99, trim=0.2)
    assert estimate.high < 1.05 < estimate.ratio
    assert verdict(estimate, 0.05) is Verdict.INCONCLUSIVE
    # And the other way: an interval that says "slower within the threshold" around a ratio below 1.
    assert verdict(RatioEstimate(0.99, 1.01, 1.03, 0.95, 20, 20), 0.05) is Verdict.UNCHANGED
    assert verdict(RatioEstimate(1.01, 0.97, 0.99, 0.95, 20, 20), 0.05) is Verdict.UNCHANGED
    assert verdict(RatioEstimate(1.04, 1.06, 1.08, 0.95, 20, 20), 0.05) is Verdict.INCONCLUSIVE


def test_one_slow_process_does_not_decide_a_trimmed_verdict(seed_benchmarks):
    """What the noise section measured on this VM (a whole process 1.3-1.8x slower, another job on
    the host) added to real A/A pairs: one slowed head process in 20 rounds. The t-interval
    widens past the threshold (inconclusive: the gate runs to its budget); the trimmed one does not."""
    confidence = looks.look_confidence(0.95, looks.check_rounds(5, 40))
    t_verdicts, trimmed_verdicts = [], []
    for bench in seed_benchmarks:
        means = process_means(bench)
        base, head = means[0::2] + means[1::2], means[1::2] + means[0::2]  # 20 A/A rounds
        head[7] *= 1.6
        pairs = list(zip(base, head, strict=True))
        t_verdicts.append(verdict(paired_ratio_interval(pairs, confidence, trim=0.0), 0.05))
        trimmed_verdicts.append(verdict(paired_ratio_interval(pairs, confidence), 0.05))
    assert Verdict.REGRESSION not in t_verdicts + trimmed_verdicts
    assert trimmed_verdicts.count(Verdict.INCONCLUSIVE) * 10 < t_verdicts.count(Verdict.INCONCLUSIVE)
