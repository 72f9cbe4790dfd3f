"""Why a result is slower, for people: the lines under a failing item's verdict, its JUnit properties,
and the "why" section of the results pages and the pull-request comment (from
:mod:`pytest_cpybench.explain.model`'s data: profiles, then pystats)."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_cpybench.explain.model import MESSAGE_LINES, Contributor, Explanation, Profile, PystatsDiff, count_text

WHY_TITLE = "## Why it is slower"
PAGE_LINES = 10  # contributors per profile in the pages
COMMENT_LINES = 3  # contributors per profile in a pull-request comment (kept short)


def _amount(value: float, unit: str) -> str:
    return f"{value:,.0f}" if unit == "instructions" else f"{value:.4g}"


def _change(value: float, unit: str) -> str:
    return ("+" if value >= 0 else "-") + _amount(abs(value), unit)


def profile_title(profile: Profile) -> str:
    """``instructions per loop 35,507 -> 50,089 (1.41x)``, ``ms of samples per loop ...``."""
    what = "instructions per loop" if profile.unit == "instructions" else "ms of samples per loop"
    ratio = f" ({profile.head_total / profile.base_total:.2f}x)" if profile.base_total else ""
    return (f"{profile.metric} profile: {what} {_amount(profile.base_total, profile.unit)} -> "
            f"{_amount(profile.head_total, profile.unit)}{ratio}")


def contributor_line(c: Contributor, unit: str) -> str:
    """``Objects/dictobject.c:dictiter_iternextkey: 0 -> 5,957 (+5,957, 48% of the change)``."""
    noise = f" ±{_amount(c.noise, unit)}" if c.noise else ""
    return (f"{c.name}: {_amount(c.base, unit)} -> {_amount(c.head, unit)} "
            f"({_change(c.change, unit)}{noise}, {c.share:.0%} of the change)")


def pystats_title(diff: PystatsDiff) -> str:
    """``pystats: counts per loop, v3.13.5 -> despecialize (2 runs of 1,200 loops)``."""
    if diff.unavailable or not diff.loops:
        return "pystats"
    loops = sorted(set(diff.loops.values()))
    each = " and ".join(f"{n:,}" for n in loops)
    return f"pystats: counts per loop, {diff.base} -> {diff.head} (one run per side, {each} loops)"


def pystats_files(diff: PystatsDiff) -> str:
    """The base's and the head's summarize_stats.py JSON files, in the order the script compares them."""
    return " ".join(diff.files[side] for side in ("base", "head") if side in diff.files)


def pystats_files_line(diff: PystatsDiff) -> str:
    """Where the two summarize_stats.py JSON files are, and how to compare them."""
    return (f"pystats files: `{pystats_files(diff)}` (compare them with the head commit's "
            "`python Tools/scripts/summarize_stats.py BASE.json HEAD.json`)")


def kind_line(e: Explanation) -> str:
    return f"why ({e.kind}): {e.reason}"


def item_lines(explanations: Sequence[Explanation], result: str, baseline: str, top: int = MESSAGE_LINES) -> list[str]:
    """The lines under a failing result's verdict: its kind, then each profile's top contributors
    (or that it ranks nothing), then what could not be done."""
    lines = []
    for e in explanations:
        if e.result != result or e.baseline != baseline:
            continue
        lines.append("  " + kind_line(e))
        for profile in e.profiles:
            lines.append(f"    {profile_title(profile)}")
            if not profile.contributors:
                lines.append("      nothing changed beyond its noise")
            lines += [f"      {contributor_line(c, profile.unit)}" for c in profile.contributors[:top]]
        if e.pystats is not None and e.pystats.unavailable:
            lines.append(f"    {e.pystats.unavailable}")
        elif e.pystats is not None:
            lines.append(f"    {pystats_title(e.pystats)}")
            lines += [f"      {line}" for line in e.pystats.lines(top)]
        lines += [f"    {note}" for note in e.notes]
    return lines


def properties(explanations: Sequence[Explanation], top: int = MESSAGE_LINES) -> list[tuple[str, str]]:
    """``cpybench.<result>.why.kind`` / ``.reason`` / ``.N`` (N from 1: each profile's top contributors,
    ``time: ...`` or ``instructions: ...``) / ``.pystats.N`` (N from 1: the largest pystats changes, or
    the one line saying why there are none) / ``.pystats.files``; a result explained against several
    baselines names the later ones ``cpybench.<result>.vs.<baseline>.why.*``."""
    props: list[tuple[str, str]] = []
    seen: set[str] = set()
    for e in explanations:
        prefix = f"cpybench.{e.result}.why" if e.result not in seen else f"cpybench.{e.result}.vs.{e.baseline}.why"
        seen.add(e.result)
        props += [(f"{prefix}.kind", e.kind), (f"{prefix}.reason", e.reason)]
        number = 0
        for profile in e.profiles:
            for c in profile.contributors[:top]:
                number += 1
                props.append((f"{prefix}.{number}", f"{profile.metric}: {contributor_line(c, profile.unit)}"))
        if e.pystats is not None:
            props += [(f"{prefix}.pystats.{n}", line) for n, line in enumerate(e.pystats.lines(top), start=1)]
            if e.pystats.files:
                props.append((f"{prefix}.pystats.files", pystats_files(e.pystats)))
        if e.folder:
            props.append((f"{prefix}.files", e.folder))
    return props


def markdown_section(explanations: Sequence[Explanation], top: int = PAGE_LINES) -> str:
    """The "why" section: per explained result, its kind and reason, each profile as a table of its top
    contributors with how it was measured, and where the raw files are."""
    if not explanations:
        return ""
    lines = [WHY_TITLE, ""]
    for e in explanations:
        lines += [f"### {e.result} vs. {e.baseline}: {e.kind}", "", e.reason, ""]
        for profile in e.profiles:
            lines += [f"**{profile_title(profile)}** ({profile.how})", ""]
            if profile.contributors:
                unit = "instructions" if profile.unit == "instructions" else "ms"
                lines += [f"| function | base ({unit}/loop) | head | change | share of the change |",
                          "|---|---:|---:|---:|---:|"]
                lines += [f"| `{c.name}` | {_amount(c.base, profile.unit)} | {_amount(c.head, profile.unit)} | "
                          f"{_change(c.change, profile.unit)}{f' ±{_amount(c.noise, profile.unit)}' if c.noise else ''}"
                          f" | {c.share:.0%} |" for c in profile.contributors[:top]]
            else:
                lines.append("Nothing changed beyond its noise.")
            lines.append("")
        if e.pystats is not None:
            lines += pystats_table(e.pystats, top)
        if e.folder and e.profiles:
            lines.append(f"- raw files: `{e.folder}` (`cachegrind/`: open a file with `cg_annotate`; `perf/`: copy "
                         "its `perf-*.map` files to /tmp, then `perf report -i FILE`)")
        lines += [f"- {note}" for note in e.notes]
        lines.append(f"- explaining cost {e.seconds:g} s")
        lines.append("")
    return "\n".join(lines)


def comment_section(explanations: Sequence[Explanation], top: int = COMMENT_LINES) -> str:
    """The "why" of a pull-request comment: per explained result, its kind and reason in one line and
    each profile's top ``top`` contributors (the pages have the tables)."""
    if not explanations:
        return ""
    lines = ["**Why it is slower**", ""]
    for e in explanations:
        lines.append(f"- **{e.result}** vs. {e.baseline}: {e.kind}: {e.reason}")
        for profile in e.profiles:
            shown = "; ".join(f"`{c.name}` {_change(c.change, profile.unit)} ({c.share:.0%})"
                              for c in profile.contributors[:top]) or "nothing beyond its noise"
            lines.append(f"  - {profile.metric}: {shown}")
        if e.pystats is not None:
            lines.append(f"  - pystats: {'; '.join(e.pystats.lines(top))}")
    return "\n".join(lines) + "\n"


def pystats_table(diff: PystatsDiff, top: int = PAGE_LINES) -> list[str]:
    """A page's pystats part: the largest changes as a table, or the line saying why there are none."""
    if diff.unavailable or not diff.changes:
        return [f"**pystats**: {diff.lines(top)[0]}", ""]
    lines = [f"**{pystats_title(diff)}** (largest change first: the log of head/base per loop, each raised by "
             "0.01% of the base's instructions per loop)", "",
             "| count | base (per loop) | head | change |", "|---|---:|---:|---:|"]
    for change in diff.changes[:top]:
        lines.append(f"| {change.label} | {count_text(change.base)} | {count_text(change.head)} | "
                     f"{'+' if change.change >= 0 else '-'}{count_text(abs(change.change))} |")
    if diff.files:
        lines.append("")
        lines.append(f"- {pystats_files_line(diff)}")
    return [*lines, ""]

