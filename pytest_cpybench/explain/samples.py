"""Samples per symbol from ``perf script`` output, per loop, and their difference between two
interpreters over repeated pairs of processes (pure: text in, data out).

A sample's first frame is where the time was spent (its *self* symbol); a Python function shows
only as a frame of CPython's perf trampoline (``py::deepcopy:/path/copy.py``, with ``-X perf``),
its own work being the eval loop's, so it is counted *inclusively*: every sample with it on the
stack. C symbols are ranked by their self samples, Python functions by their inclusive ones.

Samples are noisy: each pair of processes (base, head) gives one difference per symbol; a symbol is
ranked only when the interval of its mean difference over the pairs excludes zero at a confidence
corrected for the number of symbols tested (Bonferroni), and its change is at least MIN_SHARE of the
base's total: an A/A pair ranks nothing.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pytest_cpybench.explain.model import Contributor, Profile
from pytest_cpybench.verdict.stats import t_quantile

PYTHON_PREFIX = "py::"
# A Python function's file in an installed interpreter or a venv (each side's own path):
# ``py::deepcopy:/.../install/lib/python3.13/copy.py`` is ``py::deepcopy:Lib/copy.py`` on every side.
_STDLIB = re.compile(r"(?<=:)/\S*?/lib/python3\.\d+t?/")
# Symbols with fewer samples than this per process on both sides are not tested (too few to rank).
MIN_SAMPLES = 10
# A change smaller than this fraction of the base's samples per loop is not ranked, whatever its noise.
MIN_SHARE = 0.02  # a time profile between two builds of the same code moves a symbol by ~1% (layout)
CONFIDENCE = 0.95


@dataclass
class Samples:
    """One process's samples: self samples per symbol, inclusive samples per Python function, total."""

    own: Counter[str]
    inclusive: Counter[str]
    total: int


def parse_script(text: str) -> Samples:
    """``perf script -F pid,ip,sym --no-inline`` output of a recording with call chains (``--call-graph
    dwarf``): one block per sample, its process id then its frames (``address symbol``), blocks
    separated by blank lines."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for block in text.split("\n\n"):
        frames = [frame for frame in map(_symbol, block.splitlines()) if frame is not None]
        if not frames:
            continue
        total += 1
        own[frames[0]] += 1
        inclusive.update({frame for frame in frames if frame.startswith(PYTHON_PREFIX)})
    return Samples(own, inclusive, total)


def _symbol(line: str) -> str | None:
    """The symbol of one frame line, ``7f12ab _PyEval_EvalFrameDefault+0x1a (/lib...)``; None for a
    line that is not a frame."""
    parts = line.split(None, 1)
    if len(parts) < 2:
        return None
    try:
        int(parts[0], 16)
    except ValueError:
        return None
    symbol = parts[1].rsplit(" (", 1)[0].strip()
    if "+0x" in symbol:
        symbol = symbol.rsplit("+0x", 1)[0]
    if symbol.startswith(PYTHON_PREFIX):
        symbol = _STDLIB.sub("Lib/", symbol)
    return symbol or "[unknown]"


def per_loop(samples: Samples, loops: int, period_ms: float) -> dict[str, float]:
    """Milliseconds of samples per loop: C symbols' self samples, Python functions' inclusive ones,
    and ``total`` (every sample)."""
    scale = period_ms / loops
    found = {name: count * scale for name, count in samples.own.items() if not name.startswith(PYTHON_PREFIX)}
    found.update({name: count * scale for name, count in samples.inclusive.items()})
    found["total"] = samples.total * scale
    return found


def difference(base: Sequence[Mapping[str, float]], head: Sequence[Mapping[str, float]], *,
               min_samples_ms: float = 0.0, confidence: float = CONFIDENCE,
               top: int | None = None) -> tuple[float, float, list[Contributor], int]:
    """Per symbol over paired processes (per loop, ``per_loop``'s): the mean of each side, and the
    symbols whose mean difference is beyond its interval (Bonferroni over the symbols tested) and at
    least MIN_SHARE of the base's total; largest change first. Returns base and head totals, the
    ranked contributors and how many symbols were tested. ``min_samples_ms``: a symbol below this
    on both sides is not tested."""
    pairs = min(len(base), len(head))
    base, head = base[:pairs], head[:pairs]
    base_total = statistics.fmean(b.get("total", 0.0) for b in base)
    head_total = statistics.fmean(h.get("total", 0.0) for h in head)
    names = sorted({n for side in (*base, *head) for n in side} - {"total"})
    tested = [n for n in names
              if max(statistics.fmean(b.get(n, 0.0) for b in base), statistics.fmean(h.get(n, 0.0) for h in head))
              >= min_samples_ms]
    if pairs < 2 or not tested:
        return base_total, head_total, [], len(tested)
    quantile = t_quantile(1 - (1 - confidence) / len(tested), pairs - 1)
    change = head_total - base_total
    rows = []
    for name in tested:
        diffs = [h.get(name, 0.0) - b.get(name, 0.0) for b, h in zip(base, head, strict=True)]
        mean = statistics.fmean(diffs)
        noise = quantile * statistics.stdev(diffs) / math.sqrt(pairs)
        if abs(mean) <= noise or abs(mean) < MIN_SHARE * base_total:
            continue
        rows.append(Contributor(name, round(statistics.fmean(b.get(name, 0.0) for b in base), 4),
                                round(statistics.fmean(h.get(name, 0.0) for h in head), 4),
                                round(mean / change, 4) if change else 0.0, round(noise, 4)))
    sign = -1 if change < 0 else 1
    rows.sort(key=lambda c: (-sign * c.change, c.name))
    return base_total, head_total, rows[:top] if top is not None else rows, len(tested)


def profile(base: Sequence[Mapping[str, float]], head: Sequence[Mapping[str, float]], *, how: str,
            min_samples_ms: float, files: Sequence[str] = (), top: int = 20) -> Profile:
    base_total, head_total, rows, tested = difference(base, head, min_samples_ms=min_samples_ms, top=top)
    return Profile(metric="time", unit="ms", base_total=round(base_total, 4), head_total=round(head_total, 4),
                   contributors=rows, how=f"{how}; {tested} symbols tested", files=list(files))
