"""The bisection's statistics and search, without builds.

The statistics run on the seed's real results: 3.10.4 (good), 3.11.0 (probe), 3.12.0a1 (bad),
20 worker processes each, paired by process index. The search runs on a model history (a level
per commit: 0 like good, 1 like bad) whose probe measures with seeded noise and decides with
the real ``locate``/``classify``.
"""

from __future__ import annotations

import math
import random

import pyperf
import pytest
import seed

from pytest_cpybench.bisect import report
from pytest_cpybench.bisect.search import (
    SPLIT,
    Bisection,
    Confirmation,
    Culprit,
    Decision,
    Position,
    Search,
    Step,
    classify,
    combine,
    default_max_steps,
    ends_decision,
    ends_settled,
    locate,
    middle_out,
    min_change_of,
    round_logs,
    search,
    step_settled,
)
from pytest_cpybench.cpython.git import LogEntry
from pytest_cpybench.verdict.stats import RatioEstimate


def _one(path: object, name: str) -> pyperf.BenchmarkSuite:
    return pyperf.BenchmarkSuite([pyperf.BenchmarkSuite.load(str(path)).get_benchmark(name)])


def _position(name: str) -> Position:
    good, bad, probe = (_one(p, name) for p in (seed.BASE_3_10, seed.HEAD_FILE, seed.BASE_3_11))
    return locate(round_logs(good, bad, probe))


def test_the_share_is_the_ratio_of_mean_log_ratios_and_lies_in_its_interval() -> None:
    good, bad, probe = (_one(p, "json_dumps") for p in (seed.BASE_3_10, seed.HEAD_FILE, seed.BASE_3_11))
    pairs = round_logs(good, bad, probe)
    assert len(pairs) == 20  # one pair per worker process
    position = locate(pairs)
    expected = sum(x for x, _ in pairs) / sum(y for _, y in pairs)
    assert position.share == pytest.approx(expected)
    assert position.low < position.share < position.high
    # 3.12.0a1 is 1.46x faster than 3.10.4 on json_dumps; 3.11.0 got about a quarter of that.
    assert position.change.ratio == pytest.approx(0.683, abs=0.002)
    assert 0.2 < position.low < position.high < 0.26


@pytest.mark.parametrize(("name", "decision"), [
    ("coverage", Decision.BAD),  # 3.12.0a1's 1.44x slowdown was already in 3.11.0
    ("nbody", Decision.BAD),  # 3.11.0 made nbody as fast as 3.12.0a1
    ("json_dumps", Decision.BETWEEN),  # 3.11.0 a quarter of the way, 3.12 the rest
    ("unpack_sequence", Decision.BETWEEN),
])
def test_seed_versions_are_placed_where_their_means_put_them(name: str, decision: Decision) -> None:
    assert classify(_position(name)) is decision


def test_a_probe_equal_to_an_end_sits_exactly_on_it() -> None:
    good, bad = _one(seed.BASE_3_10, "float"), _one(seed.HEAD_FILE, "float")
    at_good, at_bad = locate(round_logs(good, bad, good)), locate(round_logs(good, bad, bad))
    assert (at_good.low, at_good.share, at_good.high) == (0.0, 0.0, 0.0)
    assert at_bad.low == pytest.approx(1.0) and at_bad.high == pytest.approx(1.0)
    assert (classify(at_good), classify(at_bad)) == (Decision.GOOD, Decision.BAD)


def test_ends_that_measure_alike_give_no_change_and_no_interval() -> None:
    # Two halves of 3.10.4's own 20 processes: the same interpreter on both ends.
    bench = pyperf.BenchmarkSuite.load(str(seed.BASE_3_10)).get_benchmark("float")
    runs = [run for run in bench.get_runs() if run.values]
    good, bad = (pyperf.BenchmarkSuite([pyperf.Benchmark(part)]) for part in (runs[:10], runs[10:]))
    position = locate(round_logs(good, bad, good))
    assert position.change.low < 1 < position.change.high
    assert classify(position) is Decision.NO_CHANGE
    assert report.format_share(position).startswith("share")


def _estimate(low: float, high: float) -> RatioEstimate:
    return RatioEstimate(math.sqrt(low * high), low, high, 0.95, 5, 5)


@pytest.mark.parametrize(("low", "high", "decision"), [
    (-0.1, 0.49, Decision.GOOD),
    (0.51, 1.2, Decision.BAD),
    (SPLIT + 0.01, 1 - SPLIT - 0.01, Decision.BETWEEN),  # inside both margins: part before, part after
    (SPLIT - 0.01, 0.49, Decision.GOOD),  # a small part before it is not told from noise
    (0.3, 0.9, Decision.AMBIGUOUS),
    (-math.inf, math.inf, Decision.AMBIGUOUS),
])
def test_classify_reads_the_share_interval(low: float, high: float, decision: Decision) -> None:
    position = Position((low + high) / 2, low, high, _estimate(1.08, 1.12), 5)
    assert classify(position) is decision


def test_classify_says_no_change_when_the_ends_do_not_differ() -> None:
    assert classify(Position(0.0, -0.1, 0.1, _estimate(0.99, 1.02), 5)) is Decision.NO_CHANGE


@pytest.mark.parametrize(("decisions", "combined"), [
    ([Decision.GOOD, Decision.NO_CHANGE], Decision.GOOD),
    ([Decision.GOOD, Decision.BAD], Decision.BETWEEN),  # two benchmarks changed at different commits
    ([Decision.BAD, Decision.AMBIGUOUS], Decision.AMBIGUOUS),
    ([Decision.NO_CHANGE, Decision.NO_CHANGE], Decision.NO_CHANGE),
    ([Decision.BAD, Decision.BAD], Decision.BAD),
])
def test_combine_decisions_of_several_benchmarks(decisions: list[Decision], combined: Decision) -> None:
    assert combine(decisions) is combined


def test_middle_out_starts_in_the_middle_and_moves_away() -> None:
    assert list(middle_out(0, 17)) == [8, 9, 7, 10, 6, 11, 5, 12, 4, 13, 3, 14, 2, 15, 1, 16]
    assert list(middle_out(3, 4)) == []


class ModelHistory:
    """Commits with a time level each (log scale); a probe measures them with seeded noise."""

    def __init__(self, levels: list[float], broken: set[int] = frozenset(), noise: float = 0.02,  # type: ignore[assignment]
                 rounds: int = 8, seed: int = 0) -> None:
        self.levels, self.broken, self.noise, self.rounds = levels, broken, noise, rounds
        self.random = random.Random(seed)
        self.probed: list[int | None] = []
        self.min_change: float | None = None

    def probe(self, good: int, bad: int, probe: int | None) -> Step:
        self.probed.append(probe)
        if probe is not None and probe in self.broken:
            return Step(good, bad, probe, Decision.SKIPPED, note="does not build")
        pairs = []
        for _ in range(self.rounds):
            base = self.levels[good] + self.random.gauss(0, self.noise)
            mid = self.levels[probe if probe is not None else good] + self.random.gauss(0, self.noise)
            end = self.levels[bad] + self.random.gauss(0, self.noise)
            pairs.append((mid - base, end - base))
        position = locate(pairs)
        # As the bisector: the first step over the whole range sets the smallest change worth following.
        if self.min_change is None and (good, bad) == (0, len(self.levels) - 1):
            self.min_change = min_change_of(position.change)
        min_change = self.min_change or 0.0
        if probe is None:
            return Step(good, bad, probe, ends_decision(position.change, min_change), {"model": position})
        return Step(good, bad, probe, classify(position, min_change), {"model": position})


def _levels(*steps: tuple[int, float], commits: int = 17) -> list[float]:
    """Level of commits 0..commits: each (index, size) adds size from that commit on."""
    return [sum(size for at, size in steps if i >= at) for i in range(commits + 1)]


SEEDS = range(50)  # each search is repeated with 50 noise draws: the search, not one lucky draw


def test_a_single_change_is_found_past_a_commit_that_does_not_build() -> None:
    # The test repository's bisect branch: 17 commits, 8 does not build, 12 is 10% slower.
    for seed_number in SEEDS:
        history = ModelHistory(_levels((12, math.log(1.10))), broken={8}, seed=seed_number)
        found = search(17, history.probe, default_max_steps(17))
        assert found.culprits == [Culprit(11, (12,))], seed_number
        assert found.skipped == {8}
        built = [i for i in history.probed if i is not None]  # the ends-only first step builds nothing new
        assert len(built) <= math.ceil(math.log2(17)) + 1  # one extra for the skip
        assert not found.unresolved


def test_a_change_in_two_steps_is_reported_as_two_commits() -> None:
    for seed_number in SEEDS:
        history = ModelHistory(_levels((5, math.log(1.05)), (13, math.log(1.05))), noise=0.01, rounds=10,
                               seed=seed_number)
        found = search(17, history.probe, default_max_steps(17))
        assert [c.commits for c in found.culprits] == [(5,), (13,)], seed_number


def test_a_small_offset_between_builds_is_not_a_culprit() -> None:
    # Two builds of equal sources can differ by a percent or two (code layout): commit 13 is 1.5% off.
    for seed_number in SEEDS:
        history = ModelHistory(_levels((12, math.log(1.10)), (13, math.log(1.015))), noise=0.03, rounds=8,
                               seed=seed_number)
        found = search(17, history.probe, default_max_steps(17))
        assert [c.commits for c in found.culprits] == [(12,)], seed_number


@pytest.mark.parametrize(("low", "high", "min_change", "decision"), [
    (1.01, 1.02, 0.0, Decision.CHANGED),  # significant
    (1.01, 1.02, math.log(1.025), Decision.NO_CHANGE),  # ...but confidently below a fifth of the change
    (1.01, 1.04, math.log(1.025), Decision.NO_CHANGE),  # not confidently above it: no commit named
    (1.03, 1.05, math.log(1.025), Decision.CHANGED),
    (0.95, 0.97, math.log(1.025), Decision.CHANGED),  # faster counts as well
    (0.99, 1.05, 0.0, Decision.NO_CHANGE),
])
def test_ends_are_changed_only_by_more_than_the_smallest_change_worth_following(
        low: float, high: float, min_change: float, decision: Decision) -> None:
    assert ends_decision(_estimate(low, high), min_change) is decision


def test_a_step_whose_ends_differ_by_less_than_that_holds_no_change() -> None:
    like_bad = Position(0.9, 0.8, 1.0, _estimate(1.005, 1.015), 8)
    assert classify(like_bad) is Decision.BAD
    assert classify(like_bad, min_change=min_change_of(_estimate(1.09, 1.11))) is Decision.NO_CHANGE


def test_untestable_commits_next_to_the_change_leave_a_list_of_candidates() -> None:
    history = ModelHistory(_levels((12, math.log(1.10))), broken={11, 12})
    found = search(17, history.probe, default_max_steps(17))
    assert found.culprits == [Culprit(10, (11, 12, 13))]


def test_no_change_between_the_ends_finds_nothing() -> None:
    one_probe = 0
    for seed_number in SEEDS:
        history = ModelHistory(_levels(), seed=seed_number)
        found = search(17, history.probe, default_max_steps(17))
        assert found.culprits == [], seed_number  # a false difference of the ends is caught on both halves
        assert found.quiet[0][0] == 0 and found.quiet[-1][1] == 17
        one_probe += len(history.probed) == 1
    assert one_probe >= 0.9 * len(SEEDS)  # the ends differ falsely in ~5% of draws (95% intervals)


def test_adjacent_ends_are_checked_for_a_change() -> None:
    found_changed = found_unchanged = 0
    for seed_number in SEEDS:
        changed = search(1, ModelHistory(_levels((1, math.log(1.2)), commits=1), seed=seed_number).probe, 5)
        found_changed += changed.culprits == [Culprit(0, (1,))]
        unchanged = search(1, ModelHistory(_levels(commits=1), seed=seed_number).probe, 5)
        found_unchanged += bool(unchanged.culprits)
    assert found_changed == len(SEEDS)
    assert found_unchanged <= 0.1 * len(SEEDS)  # 95% intervals: about 5% false changes


def test_the_step_budget_leaves_the_rest_unresolved() -> None:
    history = ModelHistory(_levels((12, math.log(1.10))))
    found = search(17, history.probe, max_steps=2)
    assert len(found.steps) == 2 and found.unresolved and not found.culprits


def test_the_summary_names_the_commit_and_the_change_across_it() -> None:
    history = [LogEntry(f"{i:040x}", f"commit {i}", "2025-06-13T12:00:00+00:00") for i in range(18)]
    found = Search(steps=[Step(0, 17, 8, Decision.SKIPPED, note="does not build")],
                   culprits=[Culprit(11, (12,))], skipped={8})
    bisection = Bisection(history=history, benchmarks=["deepcopy"], search=found,
                          change={"deepcopy": RatioEstimate(1.10, 1.09, 1.11, 0.95, 5, 5)})
    text = report.format_bisection(bisection)
    assert f"first bad commit: {history[12].short} commit 12" in text
    line = report.format_bisect_step(1, found.steps[0], history)
    assert "skipped" in line and "does not build" in line and "(8/17)" in line


def test_ends_that_measure_alike_after_a_change_was_seen_are_searched_on_both_sides() -> None:
    # Scripted decisions: 8 is like bad; then the range 0..8 measures without a change (noise hid it).
    script = {(0, 17, None): Decision.CHANGED, (0, 17, 8): Decision.BAD, (0, 8, 4): Decision.NO_CHANGE,
              (4, 8, None): Decision.CHANGED, (4, 8, 6): Decision.GOOD, (6, 8, 7): Decision.BAD}

    def probe(good: int, bad: int, middle: int | None) -> Step:
        return Step(good, bad, middle, script.get((good, bad, middle), Decision.NO_CHANGE))

    found = search(17, probe, default_max_steps(17))
    assert found.steps[2].decision is Decision.AMBIGUOUS  # reported as what the search made of it
    assert "differed before" in found.steps[2].note
    assert 2 not in [s.probe for s in found.steps]  # 0..4 measured alike at its ends: nothing built in it
    assert found.culprits == [Culprit(6, (7,))]
    assert found.quiet == [(0, 4)]


def _history(n: int) -> list[LogEntry]:
    return [LogEntry(f"{i:040x}", f"commit {i}", "2025-06-13T12:00:00+00:00") for i in range(n + 1)]


def test_a_commit_whose_change_is_not_confirmed_is_not_called_the_first_bad_one() -> None:
    history = _history(17)
    found = Search(steps=[Step(0, 17, 8, Decision.BAD)], culprits=[Culprit(11, (12,))])
    confirmation = Confirmation(11, 12, {"deepcopy": RatioEstimate(1.0, 0.99, 1.01, 0.95, 5, 5)}, 5, 30.0,
                                confirmed=False, note="deepcopy: no confident change of that size across it")
    bisection = Bisection(history=history, benchmarks=["deepcopy"], search=found, change={},
                          confirmations=[confirmation])
    text = report.format_bisection(bisection)
    assert "first bad commit" not in text and "candidate commit, NOT confirmed" in text
    assert not bisection.found


def test_no_change_is_said_only_when_the_whole_range_measured_without_one() -> None:
    history = _history(17)
    change = {"deepcopy": RatioEstimate(1.10, 1.09, 1.11, 0.95, 5, 5)}
    lost = Bisection(history=history, benchmarks=["deepcopy"], change=change,
                     search=Search(steps=[Step(0, 17, 8, Decision.AMBIGUOUS), Step(0, 8, 4, Decision.NO_CHANGE)],
                                   quiet=[(0, 8), (8, 17)]))
    assert not lost.no_change and "but not localized" in report.format_bisection(lost)
    nothing = Bisection(history=history, benchmarks=["deepcopy"], change={},
                        search=Search(steps=[Step(0, 17, 8, Decision.NO_CHANGE)], quiet=[(0, 17)]))
    assert nothing.no_change and "nothing to bisect" in report.format_bisection(nothing)


def test_a_step_stops_early_only_on_a_clear_answer() -> None:
    wide = _estimate(0.85, 1.37)  # not significant, but far from settled
    small = _estimate(0.995, 1.01)  # confidently within a fifth of a 10% change
    min_change = min_change_of(_estimate(1.09, 1.11))
    assert not ends_settled(wide, min_change) and ends_settled(small, min_change)
    assert not step_settled(Position(0.2, -3.0, 4.0, wide, 5), min_change, ends_only=False)
    assert step_settled(Position(0.0, -3.0, 4.0, small, 5), min_change, ends_only=False)
    assert step_settled(Position(0.1, 0.0, 0.3, _estimate(1.08, 1.12), 5), min_change, ends_only=False)
