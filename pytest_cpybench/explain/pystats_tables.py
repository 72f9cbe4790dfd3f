"""summarize_stats.py's comparison tables as ranked changes per loop (pure: the tables come from
:mod:`.pystats`, which runs the script)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from pytest_cpybench.explain.model import PystatsChange

SECTION_NAMES = {
    "Execution counts": "execution",
    "Specialization stats": "specialization",
    "Specialization effectiveness": "specialization effectiveness",
    "Call stats": "calls",
    "Object stats": "objects",
    "GC stats": "gc",
    "Optimization (Tier 2) stats": "tier 2",
    "Rare events": "rare events",
}
# Sections of the comparison that are not about the program: the number of raw files.
SKIPPED_SECTIONS = ("Meta stats",)
# Sub-tables that repeat, as a top 10, rows already in the per-family specialization tables.
SKIPPED_SUBSECTIONS = ("Deferred by instruction", "Misses by instruction")


def score(base: float, head: float, instructions: float) -> float:
    """How large a change is, to rank changes of every kind together: the log of the ratio of the
    two per-loop counts, each first raised by one hundredth of a percent of the instructions the
    base executes per loop (``instructions``; 1 when unknown).

    A ratio, because counts of different kinds differ by orders of magnitude (increfs run several
    per instruction, specialization failures a few per thousand) and what explains a slowdown is a
    count that moved a lot for its kind; the floor keeps a count that goes from nothing to a handful
    (a one-off specialization, a GC collection) from ranking with one that went from nothing to
    thousands.
    """
    floor = max(instructions, 1.0) * 1e-4
    return abs(math.log((head + floor) / (base + floor)))


def changes_from_tables(tables: list[dict[str, Any]], base_loops: int, head_loops: int) -> list[PystatsChange]:
    """summarize_stats.py's comparison tables (as :mod:`.pystats` prints them) as changes per loop,
    largest first (:func:`rank`); counts equal on both sides are left out."""
    rows = [row for table in tables for row in _rows_of_table(table)]
    instructions = base_instructions(tables) / max(base_loops, 1)
    seen: set[tuple[str, str, str]] = set()
    changes = []
    for section, family, what, base_count, head_count in rows:
        if (section, family, what) in seen or base_count == head_count:
            continue
        seen.add((section, family, what))
        base, head = base_count / max(base_loops, 1), head_count / max(head_loops, 1)
        changes.append(PystatsChange(section, family, what, base, head, score(base, head, instructions)))
    return rank(changes)


def rank(changes: list[PystatsChange]) -> list[PystatsChange]:
    """Largest change first (:func:`score`), a specialization family's counts ahead of the executions
    they drive: each family ranks with the largest change among its specialization counts and the
    execution counts of its instructions (``LOAD_ATTR``, ``LOAD_ATTR_INSTANCE_VALUE``, ...), its
    specialization counts first.

    When an instruction stops specializing, its generic form's executions grow from nothing and its
    specialized forms' vanish: the largest changes by far, yet consequences; the specialization
    counts (hits gone, failures up) are what says why."""
    families = {change.family for change in changes if change.section == "specialization"}
    lifted: dict[str, float] = {}
    for change in changes:
        family = family_of(change, families)
        if family:
            lifted[family] = max(lifted.get(family, 0.0), change.score)

    def key(change: PystatsChange) -> tuple[float, str, bool, float, float, str]:
        family = family_of(change, families)
        return (-(lifted[family] if family else change.score), family, change.section != "specialization",
                -change.score, -abs(change.change), change.label)

    return sorted(changes, key=key)


def family_of(change: PystatsChange, families: set[str]) -> str:
    """The specialization family a change belongs to ("" for none): its own for a specialization count,
    the longest family naming the instruction (itself, or its prefix before ``_``) for an execution
    count."""
    if change.section == "specialization":
        return change.family
    if change.section != "execution":
        return ""
    named = [family for family in families if change.family == family or change.family.startswith(family + "_")]
    return max(named, key=len, default="")


def base_instructions(tables: list[dict[str, Any]]) -> float:
    """Tier-1 instructions the base executed: the sum of its execution counts."""
    return float(sum(count for section, _, what, count, _ in
                     (row for table in tables for row in _rows_of_table(table))
                     if section == "execution" and what == "execution count"))


def _rows_of_table(table: dict[str, Any]) -> Iterator[tuple[str, str, str, int, int]]:
    """(section, family, what, base count, head count) for every count a table compares."""
    path = [str(title) for title in table["path"]]
    if not path or path[0] in SKIPPED_SECTIONS or any(title in SKIPPED_SUBSECTIONS for title in path):
        return
    columns = [str(column).rstrip(":") for column in table["columns"]]
    pairs = [(index, columns.index("Head " + column[len("Base "):])) for index, column in enumerate(columns)
             if column.startswith("Base ") and "Head " + column[len("Base "):] in columns]
    section = SECTION_NAMES.get(path[0], path[0].lower())
    for row in table["rows"]:
        for base_index, head_index in pairs:
            base, head = _int_cell(row[base_index]), _int_cell(row[head_index])
            if base is None or head is None:
                continue  # a ratio or a percentage: derived from the counts
            family, what = _name(section, path, str(columns[0]), str(row[0]), columns[base_index][len("Base "):])
            yield section, family, what, base, head


def _int_cell(cell: Any) -> int | None:
    if cell == "":  # the row exists on the other side only
        return 0
    if isinstance(cell, int) and not isinstance(cell, bool):
        return cell
    return None


def _name(section: str, path: list[str], first_column: str, key: str, column: str) -> tuple[str, str]:
    """(family, what) of a row, in summarize_stats.py's words."""
    family = " / ".join(path[1:])
    if section == "execution":
        return key, "execution count"
    if section == "specialization" and first_column == "Failure kind":
        return family, f"failure ({key})"
    if section == "gc":
        return f"generation {key}", column.lower()
    what = key.lower() if column.lower() == "count" else f"{key.lower()} {column.lower()}"
    return family, what
