"""Synthetic results for the history tests: pyperf results with chosen process means, stored through
the results store as sessions store them, and a first-parent line of made-up commits."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import pyperf

from pytest_cpybench.history.series import LineCommit, StoredRun
from pytest_cpybench.results import metadata as md
from pytest_cpybench.results.identity import RunIdentity
from pytest_cpybench.results.store import ResultsStore

MakeResult = Callable[..., pyperf.Benchmark]


def sha_of(number: int) -> str:
    return hashlib.sha1(f"commit {number}".encode()).hexdigest()


def make_line(commits: int) -> list[LineCommit]:
    return [LineCommit(i, sha_of(i), f"Commit number {i}", f"2025-06-{1 + i // 24:02d}T{i % 24:02d}:00:00+00:00")
            for i in range(commits)]


def result(name: str, means: Sequence[float], *, benchmark: str | None = None, mode: str = "fast",
           alongside: int = 0, values: int = 2, metric: str = md.METRIC_TIME) -> pyperf.Benchmark:
    """A pyperf result whose processes have these means (each process ``values`` values around it)."""
    runs = []
    for mean in means:
        spread = [mean * (1 + 0.001 * (k - (values - 1) / 2)) for k in range(values)]
        metadata: dict[str, object] = {"name": name, md.MODE: mode, md.BENCHMARK_NAME: benchmark or name,
                                       md.METRIC: metric}
        if metric == md.METRIC_INSTRUCTIONS:
            metadata["unit"] = "integer"
        if alongside:
            metadata[md.ALONGSIDE] = alongside
        runs.append(pyperf.Run(spread, metadata=metadata, collect_metadata=False))
    return pyperf.Benchmark(runs)


def noisy_means(rng: random.Random, level: float, processes: int = 10, cv: float = 0.01) -> list[float]:
    return [level * math.exp(rng.gauss(0, cv)) for _ in range(processes)]


def run_of(commit: LineCommit, results: Sequence[pyperf.Benchmark], machine: str = "alpha",
           metric: str = md.METRIC_TIME) -> StoredRun:
    return StoredRun(commit.sha, machine, metric, "release", "", tuple(results))


def save(store: ResultsStore, commit: LineCommit, results: Sequence[pyperf.Benchmark], machine: str = "alpha",
         metric: str = md.METRIC_TIME) -> Path:
    identity = RunIdentity(commit_sha=commit.sha, commit_date=commit.date, version="3.13.5", ref="main",
                           machine=machine, arch="x86_64", metric=metric)
    path = store.save(identity, pyperf.BenchmarkSuite(list(results)))
    assert path is not None
    return path
