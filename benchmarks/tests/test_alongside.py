"""benchmarks/alongside.py's pure parts, on its 2026-11-30 run (benchmarks/results/alongside-2026-11-30.json:
neutral vs v3.13.5, 8 rounds in turn and 8 with the sides at the same time, per benchmark)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from benchmarks import alongside

DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" / "results" /
                       "alongside-2026-11-30.json").read_text())
DATA = DOCUMENT["sections"]["alongside"]["data"]


def test_the_contention_shift_is_the_sides_geometric_mean_of_alongside_over_alone() -> None:
    nbody = DATA["results"]["nbody"]
    by_hand = [statistics.fmean(nbody["together"][side]) / statistics.fmean(nbody["turns"][side])
               for side in ("head", "v3.13.5")]
    assert alongside.contention_shift(nbody) == pytest.approx(math.sqrt(by_hand[0] * by_hand[1]))
    # A worker twice as slow alongside on both sides reads 2.0, whatever the sides' own speeds.
    doubled = {"turns": {"head": [1.0, 1.0], "v3.13.5": [3.0, 3.0]},
               "together": {"head": [2.0, 2.0], "v3.13.5": [6.0, 6.0]}}
    assert alongside.contention_shift(doubled) == pytest.approx(2.0)


def test_the_pair_noise_is_the_spread_of_the_rounds_log_ratios() -> None:
    nbody = DATA["results"]["nbody"]
    for mode in alongside.MODES:
        logs = [math.log(h / b) for h, b in zip(nbody[mode]["head"], nbody[mode]["v3.13.5"], strict=True)]
        assert alongside.pair_noise(nbody, mode) == pytest.approx(statistics.stdev(logs))
    # Pairs that move together (a machine slowing both sides alike) have no pair noise at all.
    together = {"together": {"head": [1.0, 2.0, 4.0], "v3.13.5": [1.1, 2.2, 4.4]}}
    assert alongside.pair_noise(together, "together") == pytest.approx(0.0, abs=1e-12)


def test_the_summary_has_a_row_per_result_and_the_round_cost_per_benchmark() -> None:
    section = alongside.summarize(DATA)
    per_result, per_benchmark = section.tables
    assert [row[0] for row in per_result.rows] == sorted(DATA["results"])
    nbody = next(row for row in per_result.rows if row[0] == "nbody")
    assert nbody[1] == f"{alongside.contention_shift(DATA['results']['nbody']):.3f}"
    seconds = DATA["round_seconds"]["deepcopy"]
    assert next(row for row in per_benchmark.rows if row[0] == "deepcopy")[3] == (
        f"{seconds['together'] / seconds['turns']:.2f}")
    costs = sorted(per["together"] / per["turns"] for per in DATA["round_seconds"].values())
    cost_goal = section.goals[2]
    assert cost_goal.measured == f"{statistics.median(costs):.2f} ({costs[0]:.2f}-{costs[-1]:.2f})"
    assert [goal.met for goal in section.goals] == [None, None, None]  # report only
