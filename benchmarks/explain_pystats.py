"""Explaining with pystats: what ``--cpython-explain=pystats`` costs for one benchmark.

* cold: an empty build cache (ccache may be warm: each build's log says), so both ``--enable-pystats``
  builds (v3.13.5 and ``despecialize``) and their venvs are made, then the two runs and the diff;
* shared cache: the same in the test suite's cache, whose builds exist (its venvs may be made);
* warm: once more, everything cached, as every later explanation pays it.

Each row: the whole :func:`~pytest_cpybench.explain.pystats.pystats_diff` call, the builds' own phases,
and the runs with the comparison (the diff's ``seconds``). The warm run's files (each side's
summarize_stats.py JSON and the comparison tables) are kept in ``<work dir>/explain_pystats/``: the
explain tests' data (tests/data/explain/README.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pytest_cpybench.cpython import builds, git
from pytest_cpybench.explain import pystats
from pytest_cpybench.suite._pyperformance import load_benchmarks

from .common import Context, SectionResult, Stopwatch, Table, fmt_seconds
from .plan import BASE_REF

NAME = "explain_pystats"
TITLE = "Explaining with pystats: two --enable-pystats builds, two runs, the diff"
HEAD_REF = "despecialize"  # LOAD_ATTR never specializes
BENCHMARK = "richards"  # attribute loads on instances in its inner loop


def _diff_row(ctx: Context, label: str, cache_dir: Path, out_dir: Path) -> tuple[list[object], dict[str, object]]:
    base = git.resolve(str(ctx.repo), BASE_REF, cache_dir)
    head = git.resolve(str(ctx.repo), HEAD_REF, cache_dir)
    bench = next(b for b in load_benchmarks() if b.name == BENCHMARK)
    with Stopwatch() as watch:
        diff = pystats.pystats_diff(base, head, bench, out_dir, cache_dir=cache_dir, log=ctx.engine_log)
    if diff.unavailable:
        raise RuntimeError(f"pystats of {BENCHMARK}: {diff.unavailable}")
    timings = {}
    for commit in (base, head):
        build = builds.ensure_build(builds.BuildRequest(commit=commit, preset=pystats.PRESET), cache_dir)
        timings[commit.ref] = build.timings
    build_seconds = " + ".join(f"{t.get('total', 0):.0f}" for t in timings.values())
    row = [label, f"{fmt_seconds(watch.seconds)} s", f"{build_seconds} s" if label.startswith("cold") else "cached",
           f"{fmt_seconds(diff.seconds)} s", diff.lines(1)[0]]
    return row, {"seconds": watch.seconds, "runs_and_diff_seconds": diff.seconds, "build_timings": timings,
                 "loops": diff.loops, "top": diff.lines(5), "files": diff.files}


def run(ctx: Context) -> SectionResult:
    section = SectionResult(NAME, TITLE)
    rows = []
    fresh = ctx.fresh_dir("pystats-cache")
    try:
        row, section.data["cold"] = _diff_row(ctx, "cold (empty build cache)", fresh, ctx.fresh_dir("pystats-cold"))
        rows.append(row)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    kept = ctx.work_dir / NAME
    shutil.rmtree(kept, ignore_errors=True)
    row, section.data["shared"] = _diff_row(ctx, "shared cache (builds cached)", ctx.cache_dir,
                                            ctx.fresh_dir("pystats"))
    rows.append(row)
    row, section.data["warm"] = _diff_row(ctx, "warm (builds and venvs cached)", ctx.cache_dir, kept)
    rows.append(row)
    section.tables.append(Table(f"pystats_diff of {BENCHMARK}, {BASE_REF} vs {HEAD_REF}",
                                ["case", "whole", "builds (as logged)", "runs and diff", "largest change"], rows))
    section.notes.append(f"the warm run's files: {kept}")
    return section
