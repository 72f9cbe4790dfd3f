"""Publishing a session's result: the results pages (--cpython-report) and the CI summaries
(--cpython-pr-comment, $GITHUB_STEP_SUMMARY)."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_cpybench.options import Settings
from pytest_cpybench.output import ci, pages
from pytest_cpybench.session.model import SessionResult
from pytest_cpybench.verdict import compare


def publish(result: SessionResult, settings: Settings, head_version: str | None, heading: str = "",
            append: bool = False) -> None:
    """Write what the options ask for; what was written goes into ``result.notes``, failures into
    ``result.errors``. With several machines each publishes under a ``heading``, the later ones
    ``append``-ing to the pull-request comment."""
    s = settings
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if result.head_suite is None or not (s.report_dir or s.pr_comment or step_summary):
        return
    head_name = _head_name(result, settings, head_version, heading)
    comparisons = [b.comparison for b in result.baselines]
    memory_threshold = s.memory_threshold or pages.DEFAULT_MEMORY_THRESHOLD
    memory = [compare.compare_memory(b.base, b.head, threshold=memory_threshold, confidence=s.confidence)
              for b in result.baselines]
    links: dict[str, str] = {}
    try:
        if s.report_dir:
            written = pages.write_run(
                s.report_dir, result.head_suite, head_name,
                [pages.Side(b.base, b.base_name, b.comparison.base_label) for b in result.baselines],
                comparisons, memory=memory, memory_threshold=memory_threshold,
                # The head's JSON is copied into the report only when it was not stored there already.
                copy_raw=not result.head_path or s.report_dir.resolve() != s.results_dir.resolve(),
                explained=result.explanations)
            result.notes.extend(written.notes)
            result.notes.append(f"report written to {written.folder} (index: {written.index or '-'})")
            links = written.links()
        text = ci.summary_markdown(head_name, comparisons, links, memory=memory, explained=result.explanations)
        if heading:
            text = f"## {heading}\n\n{text}"
        if s.pr_comment:
            s.pr_comment.parent.mkdir(parents=True, exist_ok=True)
            with open(s.pr_comment, "a" if append else "w", encoding="utf-8") as comment_file:
                comment_file.write(text if not append else "\n" + text)
            result.notes.append(f"pull-request comment written to {s.pr_comment}")
        if step_summary:
            with open(step_summary, "a", encoding="utf-8") as summary_file:
                summary_file.write(text + "\n")
            result.notes.append("summary appended to $GITHUB_STEP_SUMMARY")
    except OSError as err:
        result.errors.append(f"report not written: {err.strerror or err}: {err.filename or ''}")


def _head_name(result: SessionResult, settings: Settings, head_version: str | None, heading: str = "") -> str:
    unstored = f"head-{settings.machine}-" if heading else "head-"  # several machines: pages must not collide
    if result.head_path:
        return Path(result.head_path).stem
    return f"{unstored}{head_version or 'unknown'}" + (f"-{result.preset}" if len(settings.presets) > 1 else "")


def publish_configurations(results: list[SessionResult], settings: Settings, head_version: str | None,
                           heading: str = "") -> None:
    """With several build configurations and --cpython-report: the configurations section of the
    release run's pages (each configuration's geometric means, its flag effect, the plot); what was
    written goes into the first result's notes, a failure into its errors."""
    if not settings.report_dir or len(settings.presets) < 2:
        return
    runs = [pages.ConfigurationRun(result.preset, result.head_suite,
                                   _head_name(result, settings, head_version, heading),
                                   [b.comparison for b in result.baselines])
            for result in results if result.head_suite is not None and result.metric == settings.metric]
    if len(runs) < 2:
        return
    try:
        written = pages.write_configurations(settings.report_dir, runs, threshold=settings.threshold,
                                             confidence=settings.confidence)
    except OSError as err:
        results[0].errors.append(f"configurations page not written: {err.strerror or err}: {err.filename or ''}")
        return
    results[0].notes.extend(written.notes)
    results[0].notes.append(f"configurations written to {written.pages['configurations']}")
