"""The interval of the headline (stats.geometric_mean_estimate) on simulated suites with a known answer."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from pytest_cpybench.verdict.stats import (
    RatioEstimate,
    geometric_mean,
    geometric_mean_estimate,
    paired_ratio_interval,
    ratio_interval,
)


def simulated_suite(rng: random.Random, true_ratios: list[float], processes: int, noise: float,
                    paired: bool = False) -> list[RatioEstimate]:
    """Per result: ``processes`` process means on each side with relative noise ``noise``."""
    estimates = []
    for ratio in true_ratios:
        base_time = rng.uniform(1e-4, 1.0)
        base = [base_time * math.exp(rng.gauss(0, noise)) for _ in range(processes)]
        head = [base_time * ratio * math.exp(rng.gauss(0, noise)) for _ in range(processes)]
        if paired:
            estimates.append(paired_ratio_interval(list(zip(base, head, strict=True))))
        else:
            estimates.append(ratio_interval(base, head))
    return estimates


@pytest.mark.parametrize("paired", [False, True])
def test_the_interval_covers_the_true_geometric_mean_at_its_confidence(paired):
    rng = random.Random(20221025)
    trials, covered = 300, 0
    widths = []
    for _ in range(trials):
        true_ratios = [math.exp(rng.gauss(0, 0.2)) for _ in range(12)]  # benchmarks differ a lot
        estimates = simulated_suite(rng, true_ratios, processes=6, noise=0.03, paired=paired)
        headline = geometric_mean_estimate(estimates)
        covered += headline.low <= geometric_mean(true_ratios) <= headline.high
        widths.append(math.log(headline.high / headline.low))
    assert 0.91 <= covered / trials <= 0.99, covered
    # Its width is the measurement noise's (about 2 * 1.96 * 0.03 * sqrt(2 / 6) / sqrt(12)), not the
    # spread between benchmarks (0.2), which a t-interval over the log ratios would measure.
    assert statistics.median(widths) < 0.05


def test_the_point_is_the_geometric_mean_of_the_ratios():
    estimates = [RatioEstimate(r, r * 0.99, r * 1.01, 0.95, 10, 10, 0.005, 18) for r in (0.5, 2.0, 1.1)]
    headline = geometric_mean_estimate(estimates)
    assert headline.ratio == geometric_mean([0.5, 2.0, 1.1])
    assert headline.low < headline.ratio < headline.high
    assert (headline.n_base, headline.n_head) == (30, 30)


def test_one_result_without_an_interval_leaves_the_headline_without_one():
    estimates = [RatioEstimate(1.0, 0.99, 1.01, 0.95, 10, 10, 0.005, 18),
                 RatioEstimate(1.2, 0.0, math.inf, 0.95, 1, 10)]
    headline = geometric_mean_estimate(estimates)
    assert not headline.has_interval
    assert headline.ratio == geometric_mean([1.0, 1.2])


def test_identical_sides_give_a_point_interval():
    same = ratio_interval([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    headline = geometric_mean_estimate([same, same])
    assert (headline.low, headline.ratio, headline.high) == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        geometric_mean_estimate([])
