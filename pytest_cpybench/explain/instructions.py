"""Instructions per function from cachegrind's output files, per loop, and their difference between
two interpreters (pure: text in, data out).

A counted result is two worker processes, at L and 2L loops (:mod:`pytest_cpybench.measure.cachegrind`);
a function's instructions in the 2L process minus those in the L process, over L, are its
instructions per loop, startup cancelled as it is for the total. Functions are named
``file:function`` as ``cg_annotate`` names them; the files of two builds are made relative to each
build's source tree first, so that the same function matches on both sides.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from pytest_cpybench.explain.model import Contributor, Profile

# A function's change per loop is ranked only beyond this fraction of the base's total per loop:
# counts of one interpreter repeat within stats.MAX_COUNT_DEVIATION (1e-4) of the total, and a few
# functions that hash addresses (dicts keyed by id) move by that much between two builds.
NOISE_FRACTION = 1e-4
Counts = Mapping[str, float]


def parse(text: str, strip: Sequence[str] = ()) -> dict[str, int]:
    """Instructions per ``file:function`` in one cachegrind output file (``events: Ir``), the code a
    function inlined from headers counted with it (:func:`functions`); file names are made relative
    to their build's source tree (a file name starting with one of ``strip`` loses that prefix)."""
    return functions(parse_lines(text, strip))


def parse_lines(text: str, strip: Sequence[str] = ()) -> dict[tuple[str, str], int]:
    """Instructions per (file, function) as cachegrind records them: a function's lines inlined from
    a header are under that header's name."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    file_name, key = "???", None
    for line in text.splitlines():
        if not line:
            continue
        first = line[0]
        if first.isdigit():
            if key is not None:
                parts = line.split()
                if len(parts) > 1:
                    counts[key] += int(parts[1])
        elif line.startswith("fl="):
            file_name = _relative(line[3:], strip)
        elif line.startswith("fn="):
            key = (file_name, line[3:])
    return dict(counts)


def functions(counts: Mapping[tuple[str, str], int]) -> dict[str, int]:
    """Counts per ``file:function``: the pieces of a function inlined from headers (``.h`` files) are
    added to the function, named by its source file (the non-header file holding most of it; a
    function found only in headers is named by the header holding most of it). Two functions of one
    name in two source files (static ones) stay apart."""
    by_function: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (file_name, function), value in counts.items():
        by_function[function][file_name] += value
    found: dict[str, int] = {}
    for function, files in by_function.items():
        sources = {f: v for f, v in files.items() if not f.endswith(".h")}
        headers = sum(v for f, v in files.items() if f.endswith(".h"))
        if not sources:
            found[f"{max(files, key=lambda f: (files[f], f))}:{function}"] = sum(files.values())
            continue
        main = max(sources, key=lambda f: (sources[f], f))
        for file_name, value in sources.items():
            found[f"{file_name}:{function}"] = value + (headers if file_name == main else 0)
    return found


# A build's source tree (the cache builds in a temporary folder, then keeps only the install):
# ``.../builds/.tmp-<key>-<pid>/src/./Python/ceval.c`` is ``Python/ceval.c`` on every side.
_BUILD_TREE = re.compile(r"^/.*?/\.tmp-[^/]+/src/(?:\./)?")


def _relative(path: str, strip: Sequence[str]) -> str:
    for prefix in strip:
        if prefix and path.startswith(prefix):
            return path[len(prefix):].lstrip("/")
    return _BUILD_TREE.sub("", path).removeprefix("./")


def added(counts: Iterable[Counts]) -> dict[str, float]:
    """The counts of several files added up (a process and its child processes)."""
    total: dict[str, float] = defaultdict(float)
    for one in counts:
        for name, value in one.items():
            total[name] += value
    return dict(total)


def per_loop(at_l: Counts, at_2l: Counts, loops: int) -> dict[str, float]:
    """Each function's instructions per loop: (count at 2L - count at L) / L, zero-change ones left out."""
    found = {}
    for name in set(at_l) | set(at_2l):
        value = (at_2l.get(name, 0) - at_l.get(name, 0)) / loops
        if value:
            found[name] = value
    return found


def difference(base: Counts, head: Counts, *, top: int | None = None,
               noise_fraction: float = NOISE_FRACTION) -> tuple[float, float, list[Contributor]]:
    """Base and head totals per loop, and the functions whose instructions per loop changed beyond
    noise, largest change first in the direction of the whole change (growth when the head does more),
    each with its share of the whole change."""
    base_total, head_total = sum(base.values()), sum(head.values())
    change = head_total - base_total
    floor = max(abs(base_total) * noise_fraction, 1.0)
    rows = []
    for name in set(base) | set(head):
        b, h = base.get(name, 0.0), head.get(name, 0.0)
        if abs(h - b) <= floor:
            continue
        rows.append(Contributor(name, round(b, 2), round(h, 2), round((h - b) / change, 4) if change else 0.0))
    sign = -1 if change < 0 else 1
    rows.sort(key=lambda c: (-sign * c.change, c.name))
    return base_total, head_total, rows[:top] if top is not None else rows


def profile(base: Counts, head: Counts, *, how: str, files: Sequence[str] = (), top: int = 20) -> Profile:
    base_total, head_total, rows = difference(base, head, top=top)
    return Profile(metric="instructions", unit="instructions", base_total=round(base_total, 1),
                   head_total=round(head_total, 1), contributors=rows, how=how, files=list(files))
