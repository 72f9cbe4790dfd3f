"""What ``history`` says: the pages' Markdown, the lines it prints, and its JSON (pure: strings and
plain data, written by :mod:`.pages`)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_cpybench.history.changes import (
    CONFIRMED,
    FAILED,
    NOT_CHECKED,
    Change,
    Confirmation,
    GroupHistory,
    History,
)
from pytest_cpybench.history.detect import ChangePoint, noise_scale
from pytest_cpybench.history.series import GEOMETRIC_MEAN, Gap, LineCommit, Series
from pytest_cpybench.output.formatting import format_headline
from pytest_cpybench.verdict.stats import RatioEstimate

INDEX = "README.md"
DATA = "history.json"
SUBJECT_LENGTH = 60
NAMED_GAP = 3  # a run of unmeasured commits this short is named commit by commit


def subject(commit: LineCommit, length: int = SUBJECT_LENGTH) -> str:
    text = commit.subject or ""
    return text if len(text) <= length else text[: length - 1] + "…"


def commit_text(commit: LineCommit) -> str:
    """ "abc1234 'Fix the thing'" """
    return f"{commit.short} '{subject(commit)}'" if commit.subject else commit.short


def confirmation_text(confirmation: Confirmation | None) -> str:
    """ "confirmed, first bad commit abc1234 'subject'", "not confirmed", ... in one line."""
    if confirmation is None:
        return NOT_CHECKED
    if confirmation.state == FAILED:
        return f"{FAILED}: {confirmation.note}"
    if confirmation.state != CONFIRMED:
        return confirmation.state + (f" ({confirmation.note})" if confirmation.note else "")
    word = "first bad commit" if confirmation.direction == "slowdown" else "first good commit"
    note = f" ({confirmation.bisect_note})" if confirmation.bisect_note else ""
    if len(confirmation.first_bad) == 1:
        return f"{CONFIRMED}, {word} {commit_text(confirmation.first_bad[0])}{note}"
    if confirmation.first_bad:
        shown = ", ".join(c.short for c in confirmation.first_bad)
        return f"{CONFIRMED}, {word} one of {shown}{note}"
    return f"{CONFIRMED}, not bisected{note}"


def step_text(point: ChangePoint) -> str:
    return format_headline(point.step)


def member_text(point: ChangePoint) -> str:
    return f"{point.name} {step_text(point)}"


def range_text(change: Change) -> str:
    """ "061d402..f325de1 (2 commits)" """
    commits = change.commits
    return f"{change.before.short}..{change.after.short} ({commits} commit{'s' if commits != 1 else ''})"


def change_line(change: Change) -> str:
    """One line per change: where, how much, what moved, what the confirmation found."""
    group = change.group
    lead = change.members[0]
    others = change.members[1:]
    together = f"; with {', '.join(member_text(m) for m in others)}" if others else ""
    return (f"{group.machine} ({group.label}): change between {commit_text(change.before)} and "
            f"{commit_text(change.after)}: {member_text(lead)}{together}; {confirmation_text(change.confirmation)}")


def gap_text(gap: Gap) -> str:
    if gap.count <= NAMED_GAP:
        return ", ".join(c.short for c in gap.commits)
    return f"{gap.count} commits from {gap.first.short} to {gap.last.short}"


def summary_lines(history: History, pages: str = "") -> list[str]:
    """What ``history`` prints: the series per machine, each change, the gaps."""
    lines = []
    for machine in history.machines:
        groups = history.of_machine(machine)
        results = sum(1 for g in groups for s in g.series if not s.is_geometric_mean)
        commits = len({index for g in groups for index in g.commits})
        changes = sum(len(g.changes) for g in groups)
        lines.append(f"{machine}: {results} result series in {len(groups)} group(s) over {commits} commits; "
                     f"{changes} change point{'s' if changes != 1 else ''}")
        for group in groups:
            lines.extend(f"  {change_line(change)}" for change in group.changes)
            if group.unmeasured:
                lines.append(f"  {group.group.label}: not measured: {'; '.join(gap_text(g) for g in group.unmeasured)}")
            if group.too_short:
                lines.append(f"  {group.group.label}: too few commits to look for changes: "
                             f"{', '.join(group.too_short)}")
        failed = history.failed_builds.get(machine, [])
        if failed:
            lines.append(f"  does not build: {', '.join(c.short for c in failed)}")
    lines.extend(history.notes)
    if pages:
        lines.append(f"pages: {pages}")
    return lines


# -- pages --------------------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *("| " + " | ".join(cell(c) for c in row) + " |" for row in rows)]


def machine_page(history: History, machine: str, plots: Mapping[tuple[str, str], str]) -> str:
    """A machine's page: per group, its change points, the plots, what was not measured.
    ``plots``: (group slug, series name) -> the plot's path relative to the page."""
    groups = history.of_machine(machine)
    span = f"{history.line[0].short}..{history.line[-1].short}" if history.line else "-"
    lines = [f"# History of {history.branch} on {machine}", "",
             f"Repository {history.repo}, branch {history.branch}: {len(history.line)} first-parent commits "
             f"({span}) from the oldest one stored. Change points are found by ruptures' PELT on each "
             "result's estimate per commit; a change is where results of one group moved between the same two "
             "measured commits.", ""]
    failed = history.failed_builds.get(machine, [])
    if failed:
        lines += [f"Does not build (skipped by backfill): {', '.join(commit_text(c) for c in failed)}", ""]
    for group in groups:
        lines += _group_section(group, plots)
    return "\n".join(lines).rstrip() + "\n"


def _group_section(history: GroupHistory, plots: Mapping[tuple[str, str], str]) -> list[str]:
    group = history.group
    results = [s for s in history.series if not s.is_geometric_mean]
    lines = [f"## {group.label}", "",
             f"{len(results)} result{'s' if len(results) != 1 else ''} over {len(history.commits)} measured commits.",
             ""]
    geometric = next((s for s in history.series if s.is_geometric_mean), None)
    if geometric is not None and (group.slug, GEOMETRIC_MEAN) in plots:
        lines += [f"![{GEOMETRIC_MEAN}]({plots[(group.slug, GEOMETRIC_MEAN)]})", ""]
    lines += ["### Change points", ""]
    if history.changes:
        rows = [[str(number), f"{commit_text(c.before)} .. {commit_text(c.after)}", str(c.commits),
                 member_text(c.members[0]), ", ".join(member_text(m) for m in c.members[1:]) or "-",
                 confirmation_text(c.confirmation)] for number, c in enumerate(history.changes, 1)]
        lines += _table(["#", "last before .. first after", "commits", "step", "moved together", "confirmation"],
                        rows)
    else:
        lines.append("none")
    lines.append("")
    if history.unmeasured or history.incomplete or history.too_short:
        lines += ["### Not measured", ""]
        lines += [f"- {gap_text(gap)}: not measured" for gap in history.unmeasured]
        lines += [f"- {name}: missing at {', '.join(c.short for c in commits)}"
                  for name, commits in sorted(history.incomplete.items())]
        if history.too_short:
            lines.append(f"- too few commits to look for changes: {', '.join(history.too_short)}")
        lines.append("")
    lines += ["### Series", ""]
    rows = [[_plot_link(s, group.slug, plots), str(len(s.points)), f"{_noise(s):.2%}",
             s.points[0].sha[:7] if s.points else "-", s.points[-1].sha[:7] if s.points else "-",
             _last_ratio(s)] for s in history.series]
    lines += _table(["series", "commits", "noise per commit", "first", "last", "last / first"], rows)
    return [*lines, ""]


def _plot_link(series: Series, slug: str, plots: Mapping[tuple[str, str], str]) -> str:
    path = plots.get((slug, series.name))
    return f"[{series.name}]({path})" if path else series.name


def _noise(series: Series) -> float:
    return math.expm1(noise_scale(series.points, series.group.metric)) if series.points else 0.0


def _last_ratio(series: Series) -> str:
    if len(series.points) < 2:
        return "-"
    return f"{math.exp(series.points[-1].estimate - series.points[0].estimate):.3f}"


def index_page(history: History, pages: Mapping[str, str]) -> str:
    """The index: one row per machine, linking its page (``pages``: machine -> relative path)."""
    rows = []
    for machine in history.machines:
        groups = history.of_machine(machine)
        changes = [c for g in groups for c in g.changes]
        confirmed = [c for c in changes if c.confirmation is not None and c.confirmation.confirmed
                     and c.confirmation.direction == "slowdown"]
        rows.append([f"[{machine}]({pages[machine]})", str(len(groups)),
                     str(sum(1 for g in groups for s in g.series if not s.is_geometric_mean)),
                     str(len({i for g in groups for i in g.commits})), str(len(changes)), str(len(confirmed))])
    lines = [f"# History of {history.branch}", "", f"Repository {history.repo}; the data is in [{DATA}]({DATA}).", ""]
    lines += _table(["machine", "groups", "result series", "commits measured", "change points",
                     "confirmed regressions"], rows)
    return "\n".join([*lines, *("" if not history.notes else ["", *history.notes])]).rstrip() + "\n"


# -- JSON ---------------------------------------------------------------------------------------------


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def estimate_data(estimate: RatioEstimate) -> dict[str, float | None]:
    return {"ratio": estimate.ratio, "low": _number(estimate.low), "high": _number(estimate.high)}


def commit_data(commit: LineCommit) -> dict[str, Any]:
    return {"sha": commit.sha, "index": commit.index, "subject": commit.subject, "date": commit.date}


def history_data(history: History) -> dict[str, Any]:
    """Everything the pages show, for other tools."""
    return {
        "branch": history.branch,
        "repo": history.repo,
        "commits": len(history.line),
        "first": commit_data(history.line[0]) if history.line else None,
        "last": commit_data(history.line[-1]) if history.line else None,
        "notes": history.notes,
        "machines": {machine: {
            "does_not_build": [commit_data(c) for c in history.failed_builds.get(machine, [])],
            "groups": [_group_data(g, history.line) for g in history.of_machine(machine)],
        } for machine in history.machines},
    }


def _group_data(history: GroupHistory, line: Sequence[LineCommit]) -> dict[str, Any]:
    group = history.group
    return {
        "metric": group.metric, "preset": group.preset, "configure_flags": group.configure_flags,
        "mode": group.mode, "load": group.load,
        "series": [{"name": s.name, "benchmark": s.benchmark, "unit": s.unit, "members": list(s.members),
                    "points": [{"sha": p.sha, "index": p.index, "mean": p.mean, "log_mean": p.estimate,
                                "noise": p.noise, "processes": p.processes} for p in s.points]}
                   for s in history.series],
        "changes": [_change_data(c) for c in history.changes],
        "not_measured": [{"first": commit_data(g.first), "last": commit_data(g.last), "commits": g.count}
                         for g in history.unmeasured],
        "incomplete": {name: [c.sha for c in commits] for name, commits in sorted(history.incomplete.items())},
        "too_few_commits": history.too_short,
    }


def _change_data(change: Change) -> dict[str, Any]:
    confirmation = change.confirmation
    return {
        "last_before": commit_data(change.before),
        "first_after": commit_data(change.after),
        "commits": change.commits,
        "moved": [{"series": m.name, "benchmark": m.benchmark, "step": estimate_data(m.step),
                   "last_before": m.before.sha, "first_after": m.after.sha, "noise": m.scale,
                   "points_before": m.step.n_base, "points_after": m.step.n_head} for m in change.members],
        "confirmation": None if confirmation is None else {
            "state": confirmation.state, "direction": confirmation.direction, "text": confirmation_text(confirmation),
            "results": {name: estimate_data(e) for name, e in confirmation.results.items()},
            "verdicts": confirmation.verdicts, "regressed": confirmation.regressed, "rounds": confirmation.rounds,
            "first_bad": [commit_data(c) for c in confirmation.first_bad], "bisect_note": confirmation.bisect_note,
            "bisect_record": confirmation.record,
            "note": confirmation.note, "seconds": confirmation.seconds},
    }
