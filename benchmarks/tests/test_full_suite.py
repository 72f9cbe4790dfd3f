"""benchmarks/full_suite.py's pure parts: pyperformance's per-benchmark seconds from its progress
lines, and the section's targets (wall time, time per benchmark) read from parts measured apart
(the committed results of the whole-suite pyperformance run of 2026-11-30 as the reference)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import full_suite

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
PYPERFORMANCE_RUN = RESULTS / "full_suite-2026-11-30-pyperformance.json"


@pytest.fixture(scope="module")
def reference() -> dict[str, object]:
    data = json.loads(PYPERFORMANCE_RUN.read_text())["sections"][full_suite.NAME]["data"]
    return dict(data["pyperformance"])


def _item(name: str, seconds: float, rounds: int, verdict: str, result: str | None = None) -> dict[str, object]:
    return {"benchmark": name, "seconds": seconds, "rounds": rounds,
            "verdicts": [{"result": result or name, "verdict": verdict, "ratio": 1.0, "low": 0.97, "high": 1.03}]}


def _goal(section: full_suite.SectionResult, starts: str) -> full_suite.Goal:
    (goal,) = [g for g in section.goals if g.name.startswith(starts)]
    return goal


def test_seconds_per_benchmark_run_from_one_progress_line_to_the_next() -> None:
    lines = [(0.5, "Python benchmark suite 1.11.0"), (1.0, "[ 1/3] 2to3..."), (30.0, "some output"),
             (31.0, "[ 2/3] nbody..."), (45.5, "[ 3/3] deepcopy..."), (60.0, "done")]
    assert full_suite.benchmark_seconds(lines, 70.0) == {"2to3": 30.0, "nbody": 14.5, "deepcopy": 24.5}


def test_the_reference_run_covers_the_default_group(reference: dict[str, object]) -> None:
    seconds = reference["benchmark_seconds"]
    assert isinstance(seconds, dict) and len(seconds) == 88 and not reference["errors"]
    # The per-benchmark seconds add up to the run, less its start and its end.
    assert sum(seconds.values()) == pytest.approx(reference["measuring_seconds"], abs=1)
    assert sum(seconds.values()) < reference["seconds"]  # type: ignore[operator]


def test_a_whole_gate_run_is_compared_wall_to_wall(reference: dict[str, object]) -> None:
    names = list(reference["benchmark_seconds"])  # type: ignore[call-overload]
    items = [_item(name, 10.0, 5, "UNCHANGED") for name in names]
    gate = {"head": "neutral", "seconds": 900.0, "prepare_seconds": 20.0, "items": items, "complete": True,
            "benchmarks": "default"}
    section = full_suite.summarize({"pyperformance": {**reference, "benchmarks": "default"}, "aa": gate})
    wall = _goal(section, "A/A wall time")
    ratio = (20.0 + 10.0 * len(names)) / reference["seconds"]  # type: ignore[operator]
    assert f"= {ratio:.2f} " in wall.measured and wall.met is (ratio <= full_suite.TARGET_WALL_RATIO)
    assert _goal(section, "A/A: 0 false failures").met is True


def test_an_interrupted_gate_run_is_compared_with_the_same_benchmarks(reference: dict[str, object]) -> None:
    seconds: dict[str, float] = reference["benchmark_seconds"]  # type: ignore[assignment]
    items = [_item("2to3", 70.0, 20, "INCONCLUSIVE"), _item("argparse", 6.0, 5, "UNCHANGED", "many_optionals")]
    gate = {"head": "neutral", "seconds": 80.0, "prepare_seconds": 4.0, "items": items, "complete": False,
            "benchmarks": "default"}
    section = full_suite.summarize({"pyperformance": {**reference, "benchmarks": "default"}, "aa": gate})
    wall = _goal(section, "A/A wall time")
    expected = (4.0 + 70.0 + 6.0) / (seconds["2to3"] + seconds["argparse"])
    assert f"= {expected:.2f} " in wall.measured and "not the whole suite" in wall.why
    assert wall.met is None  # the target is about the whole suite
    assert "aa: interrupted after 2 benchmarks" in section.notes
    assert _goal(section, "A/A: <= 5% inconclusive").met is False  # 1 of 2
    worst = _goal(section, "no benchmark >")
    assert worst.met is (70.0 / seconds["2to3"] <= full_suite.TARGET_BENCH_RATIO)
    assert worst.measured.startswith(f"worst 2to3 {70.0 / seconds['2to3']:.2f}")


def test_a_slowdown_part_without_deepcopy_has_no_verdict_and_one_with_it_has(reference: dict[str, object]) -> None:
    without = {"head": "slowdown", "seconds": 10.0, "prepare_seconds": 1.0, "benchmarks": "nbody",
               "items": [_item("nbody", 9.0, 5, "UNCHANGED")]}
    section = full_suite.summarize({"slowdown": without})
    assert _goal(section, "slowdown:").met is None
    assert "slowdown: a subset of the suite: nbody" in section.notes
    deepcopy = {"benchmark": "deepcopy", "seconds": 20.0, "rounds": 5,
                "verdicts": [{"result": r, "verdict": "REGRESSION", "ratio": 2.0, "low": 1.9, "high": 2.1}
                             for r in ("deepcopy", "deepcopy_memo", "deepcopy_reduce")]}
    caught = {**without, "benchmarks": "deepcopy,nbody", "items": [deepcopy, _item("nbody", 9.0, 5, "UNCHANGED")]}
    assert _goal(full_suite.summarize({"slowdown": caught}), "slowdown:").met is True
    also_nbody = {**caught, "items": [deepcopy, _item("nbody", 9.0, 5, "REGRESSION")]}
    assert _goal(full_suite.summarize({"slowdown": also_nbody}), "slowdown:").met is False


def test_a_gate_part_with_no_benchmark_pyperformance_ran_has_no_wall_time(reference: dict[str, object]) -> None:
    gate = {"head": "neutral", "seconds": 5.0, "prepare_seconds": 1.0, "complete": False, "benchmarks": "default",
            "items": [{"benchmark": "dask", "error": "dask crashed (exit 1)"}]}
    section = full_suite.summarize({"pyperformance": {**reference, "benchmarks": "default"}, "aa": gate})
    assert not [g for g in section.goals if g.name.startswith("A/A wall time")]


def _document(data: dict[str, object], commands: list[str]) -> dict[str, object]:
    return {"commands": commands, "machine": {}, "sections": {full_suite.NAME: {"data": data}}}


def test_merged_parts_keep_their_commands_and_each_part_comes_once(reference: dict[str, object],
                                                                  tmp_path: Path) -> None:
    pyperformance = tmp_path / "a.json"
    pyperformance.write_text(json.dumps(_document({"pyperformance": reference, "benchmarks": "default"},
                                                  ["python -m benchmarks.full_suite --parts pyperformance"])))
    gate = {"head": "neutral", "seconds": 30.0, "prepare_seconds": 2.0, "complete": True,
            "items": [_item("nbody", 20.0, 5, "UNCHANGED")]}
    aa = tmp_path / "b.json"
    aa.write_text(json.dumps(_document({"aa": gate, "benchmarks": "nbody"}, ["python -m benchmarks.full_suite aa"])))
    out = tmp_path / "merged.json"
    assert full_suite.main(["--merge", str(pyperformance), str(aa), "--json", str(out)]) == 0
    merged = json.loads(out.read_text())
    assert merged["commands"] == ["python -m benchmarks.full_suite --parts pyperformance",
                                  "python -m benchmarks.full_suite aa"]
    assert merged["sections"][full_suite.NAME]["data"]["aa"]["benchmarks"] == "nbody"
    with pytest.raises(SystemExit):
        full_suite.main(["--merge", str(aa), str(aa), "--json", str(out)])
