"""Series of stored results over a branch's commits: per result and per group (machine, metric,
build, mode, load), never mixed; gaps said, not read as zeros (pure: no files, no processes)."""

from __future__ import annotations

import math
import random

from history_data import make_line, noisy_means, result, run_of

from pytest_cpybench.history.changes import analyse
from pytest_cpybench.history.series import ALONE, ALONGSIDE, GEOMETRIC_MEAN, gaps, series_of


def test_a_point_is_the_log_of_the_mean_and_its_process_spread() -> None:
    line = make_line(1)
    (series,) = series_of([run_of(line[0], [result("nbody", [1.0, 1.2, 1.1, 0.9])])], line)
    (point,) = series.points
    assert math.isclose(point.mean, 1.05, rel_tol=1e-3)
    logs = [math.log(v) for v in (1.0, 1.2, 1.1, 0.9)]
    mean = sum(logs) / 4
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / 3)
    assert math.isclose(point.noise, sd / 2, rel_tol=1e-2) and point.processes == 4


def test_two_machines_give_one_series_each_never_mixed() -> None:
    line = make_line(6)
    rng = random.Random(1)
    runs = [run_of(c, [result("nbody", noisy_means(rng, 1.0))], machine="alpha") for c in line[::2]]
    runs += [run_of(c, [result("nbody", noisy_means(rng, 2.0))], machine="beta") for c in line[1::2]]
    series = series_of(runs, line)
    assert [(s.group.machine, s.name) for s in series] == [("alpha", "nbody"), ("beta", "nbody")]
    alpha, beta = series
    assert [p.index for p in alpha.points] == [0, 2, 4] and [p.index for p in beta.points] == [1, 3, 5]
    assert all(math.isclose(p.mean, 1.0, rel_tol=0.05) for p in alpha.points)
    assert all(math.isclose(p.mean, 2.0, rel_tol=0.05) for p in beta.points)
    # Each machine's gaps are its own: the other machine's commits are not "measured".
    alpha_history, _ = analyse(series, line, find=lambda s: [])
    assert [g.count for g in alpha_history.unmeasured] == [1, 1]
    assert [c.sha for g in alpha_history.unmeasured for c in g.commits] == [line[1].sha, line[3].sha]


def test_results_measured_otherwise_are_other_series() -> None:
    line = make_line(2)
    runs = [run_of(line[0], [result("nbody", [1.0, 1.1]), result("float", [1.0, 1.1], mode="default", values=3)]),
            run_of(line[1], [result("nbody", [1.0, 1.1], alongside=1)])]
    groups = {(s.name, s.group.mode, s.group.load) for s in series_of(runs, line)}
    assert groups == {("nbody", "fast", ALONE), ("float", "default", ALONE), ("nbody", "fast", ALONGSIDE)}


def test_commits_off_the_line_are_left_out_and_gaps_are_named() -> None:
    line = make_line(8)
    other = make_line(30)[25]  # a commit of another branch
    measured = [0, 1, 4, 5, 7]
    runs = [run_of(line[i], [result("nbody", [1.0, 1.01])]) for i in measured] + [
        run_of(other, [result("nbody", [5.0, 5.01])])]
    (series,) = series_of(runs, line)
    assert [p.index for p in series.points] == measured  # gaps are skipped, not zeros
    assert [[c.index for c in g.commits] for g in gaps(measured, line)] == [[2, 3], [6]]


def test_a_result_missing_at_some_commits_is_said_and_left_out_of_the_geometric_mean() -> None:
    line = make_line(5)
    runs = []
    for commit in line:
        results = [result("nbody", [1.0, 1.01]), result("float", [2.0, 2.02])]
        if commit.index != 3:
            results.append(result("chaos", [3.0, 3.03]))
        runs.append(run_of(commit, results))
    series = series_of(runs, line)
    geometric = next(s for s in series if s.name == GEOMETRIC_MEAN)
    # Only the results measured at the most commits: one missing here and there would move the mean.
    assert geometric.members == ("float", "nbody")
    assert [p.index for p in geometric.points] == [0, 1, 2, 3, 4]
    assert all(abs(p.estimate) < 1e-9 for p in geometric.points)  # ratios to the first commit: all 1
    (history,) = analyse(series, line, find=lambda s: [])
    assert {name: [c.index for c in commits] for name, commits in history.incomplete.items()} == {"chaos": [3]}
    assert history.unmeasured == []


def test_the_geometric_mean_is_the_mean_of_the_results_log_ratios() -> None:
    line = make_line(2)
    runs = [run_of(line[0], [result("a", [1.0, 1.0]), result("b", [1.0, 1.0])]),
            run_of(line[1], [result("a", [1.21, 1.21]), result("b", [1.0, 1.0])])]
    geometric = next(s for s in series_of(runs, line) if s.is_geometric_mean)
    assert math.isclose(math.exp(geometric.points[1].estimate), 1.1, rel_tol=1e-6)
