"""benchmarks/contention.py's summary, on its 2026-12-07 run (benchmarks/results/contention-2026-12-07.json:
20 checks of the two cores as a session makes them, a first probe above the limit confirmed by a second)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import contention
from pytest_cpybench.measure.contention import ASYMMETRY_LIMIT

DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "benchmarks" / "results" /
                       "contention-2026-12-07.json").read_text())
DATA = DOCUMENT["sections"]["contention"]["data"]


def _probes() -> list[contention.Probe]:
    return [contention.Probe(p["at"], p["seconds"], p["asymmetry"], tuple(p["slowdowns"]), p["confirmed"])
            for p in DATA["probes"]]


def test_a_first_probe_above_the_limit_decides_only_with_its_confirmation() -> None:
    probes = _probes()
    firing = [p for p in probes if p.asymmetry > ASYMMETRY_LIMIT]
    assert firing and all(p.confirmed is not None for p in firing)  # each was confirmed, as a session does
    assert all(p.confirmed is None for p in probes if p.asymmetry <= ASYMMETRY_LIMIT)
    (table,) = contention.summarize(DATA["cores"], probes).tables
    sides = [row[-1] for row in table.rows]
    assert sides == ["in turn" if (p.confirmed or p.asymmetry) > ASYMMETRY_LIMIT else "at once" for p in probes]
    # That night no confirmation held: the bursts that made a first probe fire were gone a second later.
    assert sides.count("in turn") == 0 < len(firing)


def test_a_confirmed_difference_takes_turns_and_the_summary_counts_it() -> None:
    probes = _probes()
    probes[0] = contention.Probe("00:00:00", 2.0, 1.3, (1.3, 1.0), confirmed=1.25)
    section = contention.summarize(DATA["cores"], probes)
    assert section.tables[0].rows[0][-1] == "in turn"
    fired = sum(p.asymmetry > ASYMMETRY_LIMIT for p in probes)
    assert section.goals[1].measured.startswith(f"{fired} of {len(probes)}; 1 of {len(probes)}; ")


def test_no_two_cores_no_probes_and_a_note_saying_why() -> None:
    section = contention.summarize([], [])
    assert not section.tables and section.notes == [
        "fewer than 2 physical cores: the sides always take turns, nothing to probe"]
