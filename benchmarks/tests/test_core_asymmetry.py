"""benchmarks/core_asymmetry.py's statistics, on its 2026-12-08 run (benchmarks/results/core_asymmetry-2026-12-08.json:
15 benchmarks, 18 results, 18 rounds each with the sides at once)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import core_asymmetry
from pytest_cpybench.measure import interleaved

DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" / "results" /
                       "core_asymmetry-2026-12-08.json").read_text())
LOGS: dict[str, list[float]] = DOCUMENT["sections"]["core_asymmetry"]["data"]["log_ratios"]


def test_the_head_is_on_the_first_core_in_even_rounds() -> None:
    """core_effect reads the sampler's placement: the first side (the head) on the first CPU in round 0."""
    head, base = object(), object()
    placed = [dict(batch) for rounds in (0, 1)
              for batch in interleaved._batches([head, base], ["0", "1"], rounds, None)]
    assert [placed[0][head], placed[1][head]] == ["0", "1"]


@pytest.mark.parametrize("name", sorted(LOGS)[:6])
def test_an_alternating_offset_moves_the_core_effect_and_not_the_adjusted_interval(name: str) -> None:
    """The slower core 2% slower still, added to a real series: the core effect grows by exactly that,
    the gate's interval widens, the one with the core effect out does not move."""
    series = LOGS[name]
    offset = 0.02 if core_asymmetry.core_effect(series) >= 0 else -0.02
    slower = [value + (offset if index % 2 == 0 else -offset) for index, value in enumerate(series)]
    assert core_asymmetry.core_effect(slower) == pytest.approx(core_asymmetry.core_effect(series) + offset)
    assert core_asymmetry.without_core_effect(slower) == pytest.approx(core_asymmetry.without_core_effect(series))
    assert core_asymmetry.half_width(slower, 0.99) > core_asymmetry.half_width(series, 0.99)
    assert core_asymmetry.lag1_autocorrelation(slower) < core_asymmetry.lag1_autocorrelation(series)


def test_the_section_reproduces_its_committed_tables() -> None:
    section = core_asymmetry.summarize(LOGS)
    committed = DOCUMENT["sections"]["core_asymmetry"]
    assert [[[str(cell) for cell in row] for row in table.rows] for table in section.tables] == [
        [[str(cell) for cell in row] for row in table["rows"]] for table in committed["tables"]]
    assert [goal.measured for goal in section.goals] == [goal["measured"] for goal in committed["goals"]]
