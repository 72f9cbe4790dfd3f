"""benchmarks/warmups.py: what a worker process without pyperf's warmup would measure, read from
the seed files (the reason the gate's workers keep their warmup)."""

from __future__ import annotations

import statistics

import pyperf
import pytest

from benchmarks import warmups

SEED_311 = next(warmups.SEED_DIR.glob("bm-*-3.11.0-*.json"))


def _effect(name: str) -> warmups.WarmupEffect:
    bench = pyperf.BenchmarkSuite.load(str(SEED_311)).get_benchmark(name)
    effect = warmups.effect_of(f"3.11.0:{name}", bench)
    assert effect is not None
    return effect


def test_pylints_first_call_is_twice_as_slow_as_the_rest() -> None:
    pylint = _effect("pylint")
    assert pylint.warmup_ratio > 1.5
    # A process of the warmup and the first two values would read about a third slower: far beyond
    # its noise and the gate's threshold.
    assert pylint.shift > 0.2 > 0.05 > 10 * pylint.noise


def test_nbody_measures_the_same_from_its_first_call() -> None:
    nbody = _effect("nbody")
    assert abs(nbody.warmup_ratio - 1) < 0.01 and abs(nbody.shift) < nbody.noise


def test_the_shift_is_the_process_mean_with_the_warmup_as_a_value() -> None:
    bench = pyperf.BenchmarkSuite.load(str(SEED_311)).get_benchmark("deepcopy")
    shifts = [statistics.fmean([run.warmups[-1][1], *run.values[:-1]]) / statistics.fmean(run.values) - 1
              for run in bench.get_runs() if run.values]
    assert warmups.effect_of("x", bench).shift == pytest.approx(statistics.median(shifts))  # type: ignore[union-attr]


def test_the_section_reports_that_the_warmup_stays() -> None:
    section = warmups.evaluate(lambda _message: None)
    assert section.data["results"] == 285
    (goal,) = section.goals
    assert goal.met is None and "the warmup stays" in goal.why
    # benchmarks/README.md quotes these: 64 of 285 beyond their own noise; 20 over 2%, 11 over 5%.
    shifted = section.tables[2].rows
    assert [row[1] for row in shifted] == ["54/285 (19%)", "20/285 (7%)", "11/285 (4%)", "64/285 (22%)"]
    assert section.tables[1].rows == [["0.11", "0.81", "1.03", "1.80", "3.41"]]


def test_one_value_reads_mypy2_slower_than_pyperfs_three() -> None:
    """One-value processes (a measurement option) read a result's first value after the warmup: for most results
    what the mean of three reads, for a few not (README.md quotes these)."""
    assert _effect("mypy2").first_shift > 0.3 > 0.05 > 10 * _effect("mypy2").noise
    assert abs(_effect("nbody").first_shift) < 0.01
    section = warmups.evaluate(lambda _message: None)
    assert [row[1] for row in section.tables[3].rows] == ["38/285 (13%)", "18/285 (6%)", "7/285 (2%)", "47/285 (16%)"]
