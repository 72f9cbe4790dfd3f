"""Text for people: headline blocks like faster-cpython's results pages, tables, one-line verdicts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from tabulate import tabulate

from pytest_cpybench.verdict.compare import CONTENTION_MARGIN, ResultComparison, SuiteComparison
from pytest_cpybench.verdict.stats import MAX_INSTRUCTION_SPREAD, RatioEstimate, Verdict

LEGEND = (
    "* the two sides ran different versions of the benchmark suite "
    "(performance_version or benchmark_hash differ): part of the change may come from the benchmarks"
)


def format_ratio(ratio: float) -> str:
    """head/base time ratio as pyperf compare_to writes it: "1.03x faster", "1.02x slower"."""
    if ratio == 1.0:
        return "no change"
    if ratio < 1.0:
        return f"{1.0 / ratio:.2f}x faster"
    return f"{ratio:.2f}x slower"


def format_threshold(threshold: float) -> str:
    return f"{threshold * 100:g}%"


def format_ratio_interval(estimate: RatioEstimate) -> str:
    """The interval of a time ratio in the words of :func:`format_ratio`, low to high.

    ``[1.02x, 1.04x]`` when both ends are on the side the ratio is on ("1.03x faster [1.02x,
    1.04x]": between 1.02x and 1.04x faster); each end in words otherwise: ``[1.01x faster,
    1.02x slower]`` when it straddles 1.0, and a trimmed interval on the other side of its ratio
    (:func:`stats.paired_ratio_interval`). ``n/a`` when there is no interval. Two decimals, or
    up to four when two would write both ends alike (a geometric mean over ~90 results is that
    precise: ``[1.297x, 1.299x]``).
    """
    if not estimate.has_interval:
        return "n/a"
    low, high = estimate.low, estimate.high
    # Bare factors only on the ratio's own side: a trimmed interval can lie on the other one.
    on_ratios_side = (high < 1.0 and estimate.ratio < 1.0) or (low > 1.0 and estimate.ratio >= 1.0)
    for digits in (2, 3, 4):
        if on_ratios_side or low == high == 1.0:
            factors = sorted((1 / low, 1 / high) if high < 1.0 else (low, high))
            texts = [f"{factor:.{digits}f}x" for factor in factors]
        else:
            texts = [_ratio_words(low, digits), _ratio_words(high, digits)]
        if texts[0] != texts[1] or low == high:
            break
    return f"[{texts[0]}, {texts[1]}]"


def _ratio_words(ratio: float, digits: int) -> str:
    if ratio < 1.0:
        return f"{1.0 / ratio:.{digits}f}x faster"
    return f"{ratio:.{digits}f}x slower"


def format_headline(estimate: RatioEstimate) -> str:
    """ "1.03x faster [1.02x, 1.04x]": a geometric mean with its interval (or without, if it has none)."""
    if not estimate.has_interval:
        return format_ratio(estimate.ratio)
    return f"{format_ratio(estimate.ratio)} {format_ratio_interval(estimate)}"


def format_tags(estimates: Mapping[str, RatioEstimate]) -> str:
    """ "apps 1.03x faster, math 1.02x faster, ...": per-tag geometric means, in the order given."""
    return ", ".join(f"{tag} {format_ratio(estimate.ratio)}" for tag, estimate in estimates.items())


def format_interval(estimate: RatioEstimate) -> str:
    """ "1.10x-1.16x", or "n/a" when too few processes gave no interval."""
    if not estimate.has_interval:
        return "n/a"
    return f"{estimate.low:.2f}x-{estimate.high:.2f}x"


def format_summary_block(cmp: SuiteComparison) -> str:
    """The per-baseline headline, e.g. "vs. 3.11.0" / "- 1.03x faster [1.02x, 1.04x] *" / the
    geometric mean of each tag / missing / new.

    The headline's interval is the confidence interval of the geometric mean
    (:func:`stats.geometric_mean_estimate`); faster-cpython's pages print the number alone.
    """
    star = " *" if cmp.different_suites else ""
    if cmp.geometric_mean is None:
        headline = "no benchmarks in common"
    elif cmp.headline is not None:
        headline = format_headline(cmp.headline)
    else:
        headline = format_ratio(cmp.geometric_mean)
    lines = [f"vs. {cmp.base_label}", f"- {headline}{star}", *suite_lines(cmp)]
    for warning in cmp.warnings:
        lines.append(f"- warning: {warning}")
    return "\n".join(lines)


def suite_lines(cmp: SuiteComparison, listed: Callable[[Sequence[str]], str] = ", ".join) -> list[str]:
    """The lines under a headline on faster-cpython's pages: by tag, missing and new benchmarks
    (``listed`` writes a list of names)."""
    lines = []
    tags = cmp.by_tag()
    if tags:
        lines.append(f"- by tag: {format_tags(tags)}")
    if cmp.missing:
        lines.append(f"- missing benchmarks: {listed(sorted(cmp.missing))}")
    if cmp.new:
        lines.append(f"- new benchmarks: {listed(sorted(cmp.new))}")
    return lines


def format_changes_table(cmp: SuiteComparison) -> str:
    """The significant changes, slowest first, then the inconclusive and unchanged counts."""
    changes = sorted(
        (rc for rc in cmp.results if rc.verdict.is_significant_change),
        key=lambda rc: rc.ratio,
        reverse=True,
    )
    lines = []
    if changes:
        headers = ["result", cmp.base_label, cmp.head_label, "change", _interval_header(cmp), "verdict"]
        rows = [
            [
                rc.name,
                rc.base_text,
                rc.head_text,
                format_ratio(rc.ratio),
                _bracketed_interval(rc.estimate),
                _verdict_text(rc),
            ]
            for rc in changes
        ]
        lines.append(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    else:
        lines.append("no significant changes")
    inconclusive = [rc.name for rc in cmp.results if rc.verdict is Verdict.INCONCLUSIVE and not rc.partial]
    if inconclusive:
        lines.append(f"inconclusive ({len(inconclusive)}): {', '.join(inconclusive)}")
    partial = [rc.name for rc in cmp.results if rc.verdict is Verdict.INCONCLUSIVE and rc.partial]
    if partial:
        lines.append(f"undecided, their benchmark stopped once another of its results failed ({len(partial)}): "
                     f"{', '.join(partial)}")
    unchanged = [rc.name for rc in cmp.results if rc.verdict is Verdict.UNCHANGED]
    if unchanged:
        lines.append(f"not significant ({len(unchanged)}): {', '.join(unchanged)}")
    return "\n".join(lines)


def format_failure_message(rc: ResultComparison, baseline_label: str) -> str:
    """One line for a failed item, e.g.
    ``deepcopy_memo: 1.13x slower than v3.13.5 (27.2 us ± 0.4 -> 30.7 us ± 1.7, threshold 5%,
    95% interval 1.10x-1.16x)``."""
    return (
        f"{rc.name}: {format_ratio(rc.ratio)} than {baseline_label} "
        f"({rc.base_text} -> {rc.head_text}, threshold {format_threshold(rc.threshold)}, "
        f"{_confidence(rc.estimate)} interval {format_interval(rc.estimate)})"
    )


def format_result_line(rc: ResultComparison) -> str:
    """One line for any verdict, e.g. ``nbody: 1.01x slower (not significant, 95% interval 0.99x-1.03x)``."""
    interval = f"{_confidence(rc.estimate)} interval {format_interval(rc.estimate)}"
    threshold = format_threshold(rc.threshold)
    if rc.verdict is Verdict.INCONCLUSIVE and rc.partial:
        detail = (f"undecided: measuring stopped once another result of its benchmark failed "
                  f"(--cpython-decide=all measures on); as it stood, its {interval} includes the {threshold} threshold")
    elif rc.verdict is Verdict.INCONCLUSIVE and rc.spread is not None and rc.spread > MAX_INSTRUCTION_SPREAD:
        detail = (
            f"inconclusive: its instruction count is not deterministic, repetitions spread {rc.spread:.2%} "
            f"(more than {MAX_INSTRUCTION_SPREAD:.1%}), {interval}"
        )
    elif rc.verdict is Verdict.INCONCLUSIVE and rc.mixed_load and rc.estimate.has_interval:
        detail = (f"inconclusive: measured alongside other workers on one side and alone on the other; its "
                  f"{interval}, widened by the {CONTENTION_MARGIN:.0%} contention may add to the side measured "
                  f"alongside, includes the {threshold} threshold")
    elif rc.verdict is Verdict.INCONCLUSIVE and not rc.estimate.has_interval:
        detail = (
            f"inconclusive: {rc.estimate.n_base} baseline and {rc.estimate.n_head} head processes, "
            "at least 2 on each side are needed for an interval"
        )
    elif rc.verdict is Verdict.INCONCLUSIVE and not rc.estimate.low <= 1 + rc.threshold <= rc.estimate.high:
        ratio_past = rc.ratio >= 1 + rc.threshold  # else the interval is past it, the ratio not
        detail = (f"inconclusive: the ratio {'is' if ratio_past else 'is not'} beyond the {threshold} "
                  f"threshold, its {interval} {'is not' if ratio_past else 'is'}")
    else:
        detail = {
            Verdict.REGRESSION: f"regression beyond the {threshold} threshold, {interval}",
            Verdict.INCONCLUSIVE: f"inconclusive: the {interval} includes the {threshold} threshold",
            Verdict.SLOWER_WITHIN_THRESHOLD: f"significant, within the {threshold} threshold, {interval}",
            Verdict.FASTER: f"significant, {interval}",
            Verdict.UNCHANGED: f"not significant, {interval}",
        }[rc.verdict]
    if rc.mixed_load and rc.verdict is not Verdict.INCONCLUSIVE:
        detail += (f"; measured alongside other workers on one side only: held to the interval widened by "
                   f"{CONTENTION_MARGIN:.0%}")
    if rc.estimate.has_interval and not rc.estimate.low <= rc.ratio <= rc.estimate.high:
        detail += "; the interval, of the rounds without the most extreme, leaves this ratio of means out"
    return f"{rc.name}: {format_ratio(rc.ratio)} ({detail})"


def format_comparisons(comparisons: Sequence[SuiteComparison], notes: Sequence[str] = ()) -> str:
    """The comparison part of every summary (the pytest session's and ``compare``'s).

    One headline block per baseline (the geometric mean with its interval, the geometric mean of
    each tag, missing and new results), in the order given (``notes[i]``, when given and not
    empty, says under block i where that baseline came from), the legend of ``*`` when any
    block has one, then per baseline the table of significant changes and the inconclusive
    and not significant results.
    """
    if notes and len(notes) != len(comparisons):
        raise ValueError(f"{len(notes)} notes for {len(comparisons)} comparisons")
    sections = []
    for index, cmp in enumerate(comparisons):
        block = format_summary_block(cmp)
        if notes and notes[index]:
            block += f"\n  ({notes[index]})"
        sections.append(block)
    if any(cmp.different_suites for cmp in comparisons):
        sections.append(LEGEND)
    for cmp in comparisons:
        heading = f"Changes vs. {cmp.base_label} (threshold {format_threshold(cmp.threshold)}):"
        sections.append(f"{heading}\n{format_changes_table(cmp)}")
    return "\n\n".join(sections)


def _verdict_text(rc: ResultComparison) -> str:
    if rc.verdict is Verdict.SLOWER_WITHIN_THRESHOLD:
        return f"slower, within {format_threshold(rc.threshold)}"
    return rc.verdict.value


def _bracketed_interval(estimate: RatioEstimate) -> str:
    if not estimate.has_interval:
        return "n/a"
    return f"[{estimate.low:.2f}, {estimate.high:.2f}]"


def _confidence(estimate: RatioEstimate) -> str:
    return format_confidence(estimate.confidence)


def format_confidence(confidence: float) -> str:
    """0.95 -> "95%", 0.98920 -> "98.9%" (each of 7 checks at 95% overall), 0.99929 -> "99.93%"."""
    for digits in range(3, 8):
        text = f"{confidence * 100:.{digits}g}"
        if float(text) < 100 or confidence >= 1:
            return f"{text}%"
    return f"{confidence * 100}%"


def _interval_header(cmp: SuiteComparison) -> str:
    levels = sorted({rc.estimate.confidence for rc in cmp.results} | {cmp.confidence})
    if len(levels) == 1:
        return f"{format_confidence(cmp.confidence)} interval"
    # Interleaved results were checked as they came in: their intervals are wider
    # (measure.interleaved.check_confidence).
    return "interval (" + " / ".join(format_confidence(level) for level in levels) + ")"


# -- bisection ---------------------------------------------------------------------------


def format_memory_ratio(ratio: float) -> str:
    return f"{ratio:.2f}x"



def format_memory_interval(estimate: RatioEstimate) -> str:
    if not estimate.has_interval:
        return "n/a"
    for digits in (2, 3, 4):
        low, high = f"{estimate.low:.{digits}f}x", f"{estimate.high:.{digits}f}x"
        if low != high or estimate.low == estimate.high:
            break
    return f"[{low}, {high}]"


def format_duration(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 7 min``: a time a person reads in progress lines."""
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
