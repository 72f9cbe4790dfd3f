"""Text of a bisection: each step as it is decided, and what was found."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_cpybench.bisect.search import Bisection, Culprit, Decision, Position, Step
from pytest_cpybench.cpython.git import LogEntry
from pytest_cpybench.output.formatting import format_duration, format_headline


def format_share(position: Position) -> str:
    """ "share 0.97 [0.88, 1.06]": where a commit sits between good (0) and bad (1)."""
    if position.share != position.share:  # NaN: the ends measured alike
        return "share n/a"
    if position.low == -float("inf"):
        return f"share {position.share:.2f} [n/a]"
    return f"share {position.share:.2f} [{position.low:.2f}, {position.high:.2f}]"



def format_bisect_step(number: int, step: Step, history: Sequence[LogEntry]) -> str:
    """One line per step: the commit, its decision, where it sits, what bad/good was in the step."""
    last = len(history) - 1
    if step.probe is None:
        what = f"ends {history[step.good].short}..{history[step.bad].short}"
    else:
        entry = history[step.probe]
        subject = entry.subject if len(entry.subject) <= 40 else entry.subject[:39] + "…"
        what = f"{entry.short} ({step.probe}/{last}) {subject}"
    parts = [f"step {number:>2}  {what}  {step.decision.value}"]
    if step.decision is Decision.SKIPPED:
        parts.append(step.note)
    for name, position in step.positions.items():
        label = f"{name}: " if len(step.positions) > 1 else ""
        if step.probe is None or position.probe_change is None:
            parts.append(f"{label}bad/good {format_headline(position.change)}, {position.rounds} rounds")
        else:
            parts.append(f"{label}vs good {format_headline(position.probe_change)} (bad "
                         f"{format_headline(position.change)}), {format_share(position)}, {position.rounds} rounds")
    parts.append(f"{step.seconds:.0f} s")
    return "  ".join(parts)



def _commit_line(entry: LogEntry) -> str:
    return f"{entry.short} {entry.subject}"



def _culprit_lines(culprit: Culprit, bisection: Bisection) -> list[str]:
    history = bisection.history
    if len(culprit.commits) > 1:
        untested = [history[i].short for i in culprit.commits if i in bisection.search.skipped]
        lines = [f"first bad commit is one of {len(culprit.commits)} (after {history[culprit.parent].short}; "
                 f"untestable: {', '.join(untested) or 'none'}):"]
        return lines + [f"  {_commit_line(history[i])}" for i in culprit.commits]
    entry = history[culprit.commits[0]]
    confirmation = next((c for c in bisection.confirmations if c.commit == culprit.commits[0]), None)
    confirmed = confirmation is None or confirmation.confirmed
    title = "first bad commit" if confirmed else "candidate commit, NOT confirmed"
    lines = [f"{title}: {_commit_line(entry)}", f"  author date {entry.author_date}"]
    if confirmation is None:
        return lines
    how = (f"counted, {confirmation.rounds} repetitions" if bisection.metric == "instructions"
           else f"interleaved, {confirmation.rounds} rounds")
    for name, change in confirmation.changes.items():
        whole = bisection.change.get(name)
        # The whole change as the first step measured it: to compare with, not to divide by (both are noisy).
        context = f"; good->bad {format_headline(whole)}" if whole is not None else ""
        lines.append(f"  {name}: {format_headline(change)} across it (measured again against its parent "
                     f"{history[confirmation.parent].short}, {how}){context}")
    if not confirmation.confirmed:
        lines.append(f"  {confirmation.note}")
    return lines



def format_bisection(bisection: Bisection) -> str:
    """The end of a bisection: the commits found (or why none), with the change across each."""
    history, found = bisection.history, bisection.search
    good, bad = history[0], history[-1]
    lines = []
    changes = "; ".join(f"{name} {format_headline(change)}" for name, change in bisection.change.items())
    if bisection.no_change:
        lines.append(f"no change between good {good.short} and bad {bad.short}"
                     + (f" ({changes})" if changes else "") + ": nothing to bisect")
    elif not found.culprits and not found.unresolved:
        lines.append(f"a change between good {good.short} and bad {bad.short} was measured ({changes or 'n/a'}) "
                     "but not localized: every range searched measured without it; try more rounds (--budget)")
    if len(found.culprits) > 1:
        lines.append(f"the change entered in {len(found.culprits)} places:")
    for culprit in found.culprits:
        lines.extend(_culprit_lines(culprit, bisection))
    for low, high in found.unresolved:
        lines.append(f"not searched for lack of steps: {history[low].short}..{history[high].short} "
                     "(raise --max-steps)")
    if found.culprits:
        for low, high in found.quiet:
            lines.append(f"no change found between {history[low].short} and {history[high].short}")
    for step in found.ambiguous:
        assert step.probe is not None
        lines.append(f"ambiguous: {history[step.probe].short} (searched on both sides)")
    states = list(bisection.builds.values())
    built = f"{len(states)} builds ({states.count('built')} new, {states.count('cached')} cached, " \
            f"{states.count('failed')} failed)"
    steps = len(found.steps)
    lines.append(f"{built}, {steps} step{'s' if steps != 1 else ''}, {format_duration(bisection.seconds)}")
    if bisection.record is not None:
        lines.append(f"record: {bisection.record}")
    return "\n".join(lines)


