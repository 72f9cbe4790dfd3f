"""Builds: what getting an interpreter costs.

* cache hit: ``builds.ensure_build`` for a build the cache already has (every session after
  the first pays this), alone and with the git resolve the engine does first;
* cold build (full variant): an empty build cache; ccache may still be warm from earlier
  builds, so whether ccache was used (from the build log) and its hit counts are reported;
* neighbour rebuild (full variant): ``neutral`` (one comment changed) right after the cold
  build, in the same fresh cache: a new build cache entry, but ccache has the objects.

ccache's counters are global: a build running elsewhere at the same time blurs them.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from pathlib import Path

from pytest_cpybench.cpython import builds, git

from .common import Context, SectionResult, Stopwatch, Table, fmt_seconds
from .plan import BASE_REF, NEIGHBOUR_REF

NAME = "builds"
TITLE = "Builds: cache hit, cold build, neighbouring commit"
HIT_REPEATS = 5
_CCACHE_COUNTERS = ("direct_cache_hit", "preprocessed_cache_hit", "cache_miss")


def ccache_counters() -> dict[str, int]:
    if not shutil.which("ccache"):
        return {}
    done = subprocess.run(["ccache", "--print-stats"], capture_output=True, text=True)
    counters = {}
    for line in done.stdout.splitlines():
        name, _, value = line.partition("\t")
        if name in _CCACHE_COUNTERS and value.strip().isdigit():
            counters[name] = int(value)
    return counters


def ccache_line(build: builds.Build) -> str:
    """What the build log says about ccache (the builder writes one line about it)."""
    try:
        for line in build.log.read_text(errors="replace").splitlines()[:10]:
            if line.startswith("ccache:"):
                return line.removeprefix("ccache:").strip()
    except OSError:
        pass
    return "unknown (no build log)"


def cache_hit(ctx: Context) -> tuple[list[list[object]], dict[str, object]]:
    ctx.build(BASE_REF)  # make sure the entry exists before timing hits
    commit = git.resolve(str(ctx.repo), BASE_REF, ctx.cache_dir)
    request = builds.BuildRequest(commit=commit)
    hits, resolved_hits = [], []
    for _ in range(HIT_REPEATS):
        with Stopwatch() as watch:
            build = builds.ensure_build(request, ctx.cache_dir, ctx.engine_log)
        if not build.cache_hit:
            raise RuntimeError(f"{BASE_REF} was rebuilt although the cache had it")
        hits.append(watch.seconds)
        with Stopwatch() as watch:
            ctx.build(BASE_REF)
        resolved_hits.append(watch.seconds)
    rows: list[list[object]] = [
        ["cache hit: ensure_build", BASE_REF, f"{statistics.median(hits) * 1000:.0f} ms", "-", "-", "-"],
        ["cache hit: git resolve + ensure_build", BASE_REF, f"{statistics.median(resolved_hits) * 1000:.0f} ms",
         "-", "-", "-"],
    ]
    return rows, {"ensure_build_seconds": hits, "resolve_and_ensure_build_seconds": resolved_hits}


def timed_build(ctx: Context, ref: str, cache_dir: Path, label: str) -> tuple[list[object], dict[str, object]]:
    before = ccache_counters()
    started = time.monotonic()
    ctx.log(f"builds: {label} build of {ref} in {cache_dir}")
    build = ctx.build(ref, cache_dir)
    seconds = time.monotonic() - started
    after = ccache_counters()
    delta = {name: after.get(name, 0) - before.get(name, 0) for name in after}
    hits = delta.get("direct_cache_hit", 0) + delta.get("preprocessed_cache_hit", 0)
    compiled = hits + delta.get("cache_miss", 0)
    phases = ", ".join(f"{phase} {value:.0f} s" for phase, value in build.timings.items() if phase != "total")
    row = [label, ref, f"{fmt_seconds(seconds)} s", phases, ccache_line(build),
           f"{hits}/{compiled} hits" if compiled else "-"]
    return row, {"seconds": seconds, "timings": build.timings, "cache_hit": build.cache_hit,
                 "ccache": ccache_line(build), "ccache_delta": delta}


def run(ctx: Context) -> SectionResult:
    section = SectionResult(NAME, TITLE)
    rows, section.data["cache_hit"] = cache_hit(ctx)
    if ctx.plan.cold_builds:
        fresh = ctx.fresh_dir("builds-cache")
        try:
            row, section.data["cold"] = timed_build(ctx, BASE_REF, fresh, "cold (empty build cache)")
            rows.append(row)
            row, section.data["neighbour"] = timed_build(ctx, NEIGHBOUR_REF, fresh,
                                                         f"neighbour (after {BASE_REF})")
            rows.append(row)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
    else:
        section.notes.append("cold and neighbour builds run in the full variant only")
    section.tables.append(Table(f"time to an interpreter (median of {HIT_REPEATS} for cache hits)",
                                ["case", "ref", "time", "phases", "ccache", "ccache (this build)"], rows))
    section.notes.append("ccache counters are global: a build running elsewhere at the same time blurs them")
    return section
