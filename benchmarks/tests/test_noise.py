"""benchmarks/noise.py's pure parts, on the A/A rounds kept whole on 2026-11-30
(benchmarks/results/noise-2026-11-30.json: neutral vs v3.13.5, 24 rounds, every process)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from benchmarks import noise
from pytest_cpybench.measure import interleaved
from pytest_cpybench.verdict import looks, stats

# The rounds kept on 2026-11-30, summarized again by the gate's rule of today (`python -m benchmarks.noise
# --from benchmarks/results/noise-2026-11-30.json --json benchmarks/results/noise-2026-12-07-replayed.json`).
DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" / "results" /
                       "noise-2026-12-07-replayed.json").read_text())
KEPT = DOCUMENT["sections"]["noise"]["data"]["processes"]


def test_the_signed_rank_interval_has_no_99_percent_below_8_rounds() -> None:
    logs = [0.01 * k for k in range(1, 9)]
    assert noise.wilcoxon_interval(logs[:7], 0.99) is None
    # With 8 rounds only all signs alike are that rare (2/256): the interval is the extremes.
    assert noise.wilcoxon_interval(logs, 0.99) == (min(logs), max(logs))


def test_the_signed_rank_interval_matches_the_tables_critical_values() -> None:
    """n = 8 at 95%: T <= 3 rejects (published tables), so the 4th smallest and largest Walsh averages."""
    logs = [-0.03, -0.01, 0.0, 0.004, 0.02, 0.05, 0.07, 0.11]
    walsh = sorted((a + b) / 2 for i, a in enumerate(logs) for b in logs[i:])
    assert noise.wilcoxon_interval(logs, 0.95) == (walsh[3], walsh[-4])


def test_an_outlier_widens_the_t_interval_not_the_gates_trimmed_one() -> None:
    nbody = KEPT["nbody"]["nbody"]
    shape = noise.shape_of("nbody", nbody["head"], nbody["base"])
    assert shape.rounds == 24 and shape.slowest > 1.5  # one base process ran 1.79x its median
    pairs = list(zip(map(statistics.fmean, nbody["base"]), map(statistics.fmean, nbody["head"]), strict=True))
    plain = stats.paired_ratio_interval(pairs, shape.confidence, trim=0.0)
    # The t-interval is wider than the signed-rank one; the gate's (trimmed from 10 rounds) narrower.
    assert (plain.high - plain.low) / 2 > shape.wilcoxon_half[24] > shape.gate_half[24] > 0  # type: ignore[operator]


def test_the_replay_keeps_pairs_whole_and_swaps_them() -> None:
    sides = KEPT["nbody"]["nbody"]
    t, trimmed, one_value, one_value_80 = noise.replay_variants()
    assert (trimmed.first_value, trimmed.budget, trimmed.trim) == (False, 40, stats.PAIRED_TRIM)  # the gate
    assert (one_value_80.first_value, one_value_80.budget) == (True, 80)
    tallies = {v.name: noise.replay(sides["head"], sides["base"], 1.0, v, 50, seed="x") for v in (t, trimmed)}
    assert all(tally.experiments == 50 for tally in tallies.values())
    assert tallies["t"] == noise.replay(sides["head"], sides["base"], 1.0, t, 50, seed="x")  # seeded
    # nbody's slow processes leave the t-interval inconclusive far more often than the trimmed one.
    assert tallies["trimmed"].inconclusive * 2 < tallies["t"].inconclusive
    # A 20% slowdown is caught (nearly always, nbody's noise being what it is): the head stays the slower side.
    variants = (t, trimmed, one_value, one_value_80)
    assert all(noise.replay(sides["head"], sides["base"], 1.2, v, 20, seed="x").regression >= 18 for v in variants)
    # Every kept round 10% slower on the head's side: unswapped, every measurement would fail; swapped
    # at random, only the rare run of same-side draws does (5 of 5 at the first look: 1 in 32).
    lopsided = [[1.0, 1.0, 1.0]] * 24, [[1.1, 1.1, 1.1]] * 24
    assert all(noise.replay(*lopsided, 1.0, v, 200).regression <= 10 for v in variants)
    # Only the slowed share of the rounds is slowed: all of them, or none.
    assert all(noise.replay(sides["head"], sides["base"], 1.5, v, 20, share=1.0).regression == 20 for v in variants)
    assert all(noise.replay(sides["head"], sides["base"], 1.5, v, 20, share=0.0).regression == 0 for v in variants)


def test_one_value_processes_are_each_process_first_value() -> None:
    """What a one-value process measures: its first value after the warmup, not the mean of three.
    Head and base differ only in some values, in every round (swapped at random: ±30% or ±20%)."""
    _t, _trimmed, one_value, _gate = noise.replay_variants()
    three = noise.Variant("three", stats.PAIRED_TRIM, False, 40)
    same = [[1.0, 1.0, 1.0]] * 24
    later_differ = [[1.0, 1.3, 1.3]] * 24  # only in the values a one-value process never measures
    assert noise.replay(later_differ, same, 1.0, one_value, 20).passed == 20  # identical rounds: unchanged
    assert noise.replay(later_differ, same, 1.0, three, 20).passed < 5  # a run of same-side draws can
    first_differs = [[1.3, 1.0, 1.0]] * 24
    assert noise.replay(first_differs, same, 1.0, one_value, 20).passed < 5


def test_the_shape_is_the_rounds_log_ratios() -> None:
    sides = KEPT["2to3"]["2to3"]
    shape = noise.shape_of("2to3", sides["head"], sides["base"])
    logs = [math.log(statistics.fmean(h) / statistics.fmean(b))
            for h, b in zip(sides["head"], sides["base"], strict=True)]
    assert shape.pair_sd == pytest.approx(statistics.stdev(logs))
    assert shape.order == pytest.approx(statistics.fmean(logs[0::2]) - statistics.fmean(logs[1::2]))
    # The gate's checks for a 24-round budget, and round 8, the first the signed-rank interval reaches.
    assert set(shape.gate_half) == {5, 7, 8, 10, 14, 20, 24} and shape.wilcoxon_half[7] is None
    assert shape.confidence == looks.look_confidence(0.95, (5, 7, 10, 14, 20, 24))
    pairs = list(zip(map(statistics.fmean, sides["base"][:10]), map(statistics.fmean, sides["head"][:10]),
                     strict=True))
    gate = stats.paired_ratio_interval(pairs, shape.confidence)
    assert shape.gate_half[10] == pytest.approx((gate.high - gate.low) / 2)


def test_the_section_reproduces_its_committed_tables() -> None:
    """Every row of nbody's, in each table: a result's rows depend on its rounds alone (the replay
    draws from a seed of its own). One of the five results: the replay's 200 gate measurements per
    variant and ratio cost about 2 s a result."""
    bench = "nbody"
    section = noise.summarize({bench: KEPT[bench]})
    labels = {f"{bench}:{result}" for result in KEPT[bench]}
    committed = DOCUMENT["sections"]["noise"]["tables"]
    assert [[[str(cell) for cell in row] for row in table.rows] for table in section.tables] == [
        [[str(cell) for cell in row] for row in table["rows"] if row[0] in labels] for table in committed]


def test_round_zero_runs_head_first() -> None:
    """shape_of's order effect assumes the sampler's order in turns: head, base; then base, head."""
    head, base = object(), object()
    assert [[side for side, _cpus in batch] for batch in interleaved._batches([head, base], None, 0, None)] == [
        [head], [base]]
    assert [[side for side, _cpus in batch] for batch in interleaved._batches([head, base], None, 1, None)] == [
        [base], [head]]
