"""A short markdown summary of a session for CI: a pull-request comment, GitHub's step summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pytest_cpybench.explain.model import Explanation
from pytest_cpybench.output import explanations
from pytest_cpybench.output.formatting import (
    format_memory_ratio,
    format_ratio,
    format_ratio_interval,
    format_threshold,
    suite_lines,
)
from pytest_cpybench.verdict.compare import ResultComparison, SuiteComparison
from pytest_cpybench.verdict.stats import Verdict

MAX_LISTED = 10  # names listed per baseline in the CI summary before "and N more"


def summary_markdown(
    head_name: str,
    comparisons: Sequence[SuiteComparison],
    report_links: Mapping[str, str] | None = None,
    *,
    memory: Sequence[Sequence[ResultComparison]] | None = None,
    explained: Sequence[Explanation] = (),
) -> str:
    """A short markdown summary for a CI step summary or a pull-request comment.

    Per baseline: the headline with its interval, the per-tag line, missing and new results, the
    regressions (slowest first) and the number of inconclusive results; with ``memory`` (aligned
    with ``comparisons``), peak-memory growth beyond its threshold. ``report_links`` maps a
    baseline's label to its table page and ``""`` to the run's page (:meth:`RunPages.links`);
    ``explained``: why results are slower (--cpython-explain), a "why" section after the baselines.
    """
    links = dict(report_links or {})
    lines = [f"### pytest-cpybench: {head_name}", ""]
    if not comparisons:
        lines.append("No baseline to compare with.")
    for position, cmp in enumerate(comparisons):
        star = " \\*" if cmp.different_suites else ""
        if cmp.headline is not None:
            headline = f"**{format_ratio(cmp.headline.ratio)}** {format_ratio_interval(cmp.headline)}"
        else:
            headline = "no benchmarks in common"
        page = f" ([table]({links[cmp.base_label]}))" if cmp.base_label in links else ""
        lines.append(f"**vs. {cmp.base_label}**: {headline}{star}{page}")
        lines += suite_lines(cmp, _listed)
        regressions = sorted(cmp.regressions, key=lambda rc: rc.ratio, reverse=True)
        if regressions:
            lines.append(f"- :x: {len(regressions)} regression{'s' if len(regressions) > 1 else ''} beyond the "
                         f"{format_threshold(cmp.threshold)} threshold: " + _listed(
                             [f"{rc.name} {format_ratio(rc.ratio)} {format_ratio_interval(rc.estimate)}"
                              for rc in regressions]))
        else:
            lines.append(f"- no regression beyond the {format_threshold(cmp.threshold)} threshold")
        if cmp.inconclusive:
            lines.append(f"- {len(cmp.inconclusive)} inconclusive (warnings, not failures): "
                         f"{_listed(cmp.inconclusive)}")
        if memory is not None and position < len(memory):
            grown = [rc for rc in memory[position] if rc.verdict is Verdict.REGRESSION]
            if grown:
                lines.append(f"- :x: peak memory grew beyond {format_threshold(grown[0].threshold)}: "
                             + _listed([f"{rc.name} {format_memory_ratio(rc.ratio)}" for rc in grown]))
        for warning in cmp.warnings:
            lines.append(f"- warning: {warning}")
        lines.append("")
    if any(cmp.different_suites for cmp in comparisons):
        lines += ["\\* the two sides ran different versions of the benchmark suite", ""]
    if explained:
        lines += [explanations.comment_section(explained)]
    if "" in links:
        lines += [f"[Full report]({links['']})", ""]
    return "\n".join(lines)



def _listed(names: Sequence[str]) -> str:
    if len(names) <= MAX_LISTED:
        return ", ".join(names)
    return f"{', '.join(names[:MAX_LISTED])} and {len(names) - MAX_LISTED} more"
