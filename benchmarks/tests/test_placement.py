"""benchmarks/placement.py's pure parts, on its 2026-12-07 run (benchmarks/results/placement-2026-12-07.json:
neutral vs v3.13.5, the same machine code, 6 sessions of 20 rounds per benchmark with the page cache
kept and with the code reloaded every round)."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from benchmarks import placement

DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" / "results" /
                       "placement-2026-12-07.json").read_text())
DATA = DOCUMENT["sections"]["placement"]["data"]


def test_the_binomial_allowance_is_what_95_percent_intervals_miss_95_percent_of_the_time() -> None:
    assert placement.most_misses(18, 0.05) == 3  # P(<= 2 misses) is 0.94, P(<= 3) 0.99
    assert placement.most_misses(100, 0.05) == 9
    assert placement.most_misses(5, 0.0) == 0


def test_a_row_holds_the_sessions_spread_against_what_their_rounds_predict() -> None:
    section = placement.summarize(DATA)
    (table,) = section.tables
    row = next(row for row in table.rows if row[:2] == ["nbody", "never"])
    sessions = DATA["results"]["nbody"]["never"]
    ratios = [placement._session_row(pairs)[0] for pairs in sessions]
    between = statistics.stdev(math.log(ratio) for ratio in ratios)
    within = statistics.fmean(statistics.stdev(math.log(head / base) for base, head in pairs) for pairs in sessions)
    assert row[4] == f"{between:.2%}"
    assert float(row[6]) == pytest.approx(between / (within / math.sqrt(len(sessions[0]))), abs=0.006)


def test_kept_pages_spread_sessions_beyond_their_intervals_and_reloading_does_not() -> None:
    """The measured claim: with the page cache kept, nbody's sessions spread twice what their rounds
    predict and their intervals missed the truth 4 times in 18; reloaded every round, neither."""
    section = placement.summarize(DATA)
    (table,) = section.tables
    excess = {(row[0], row[1]): float(row[6]) for row in table.rows}
    assert excess[("nbody", "never")] > 1.5 > max(value for (_, reload), value in excess.items() if reload == "round")
    round_goals = [goal for goal in section.goals if goal.name.startswith("reload=round")]
    assert round_goals and all(goal.met for goal in round_goals)
    assert all(goal.met is None for goal in section.goals if goal.name.startswith("reload=never"))
