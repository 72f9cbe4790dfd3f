"""Results pages in faster-cpython's layout: a table page per baseline, a README per run, an index.

A run's files go into the folder the results store uses for it (``bm-<date>-<version>-<sha7>``,
:meth:`RunIdentity.folder_name`; for a file that is not ours, the same fields read from
its bench_runner name)::

    <out>/README.md                                  index of every run under <out>, newest first
    <out>/bm-20221025-3.12.0a1-4ae1a0e/
        README.md                                    the run: machine, raw results, per baseline
        bm-…-3.12.0a1-4ae1a0e.json                   the head's raw results (if not there yet)
        bm-…-3.12.0a1-4ae1a0e-vs-3.11.0.md           the table page of one baseline
        bm-…-3.12.0a1-4ae1a0e-vs-3.11.0.png/.svg     its plot (time); -mem.png/.svg: peak memory
        .bm-…-3.12.0a1-4ae1a0e.cpybench-report.json  what the READMEs are rebuilt from
        bm-…-3.12.0a1-4ae1a0e-configurations.md      several build configurations of the commit
        bm-…-3.12.0a1-4ae1a0e-configurations.png/.svg  (in the release run's folder): each one's
        .cpybench-configurations.json                 geometric means and flag effect, its plot

A table page is what bench_runner publishes: ``# Results vs. X``, a header list, then the output
of ``pyperf compare_to -G --table --table-format=md BASE HEAD`` (:mod:`.tables`). Then,
below the published layout and never inside it, our sections: the verdicts (regressions and
inconclusive results with their intervals and thresholds), the links to the plots, and peak memory.

"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union
from urllib.parse import quote

import pyperf

from pytest_cpybench.errors import StoreError
from pytest_cpybench.explain.model import Explanation
from pytest_cpybench.output import explanations, tables
from pytest_cpybench.output.formatting import (
    format_confidence,
    format_headline,
    format_memory_interval,
    format_memory_ratio,
    format_ratio,
    format_ratio_interval,
    format_tags,
    format_threshold,
)
from pytest_cpybench.results import metadata as md
from pytest_cpybench.results import naming
from pytest_cpybench.results.files import load_suite, write_text_atomically
from pytest_cpybench.results.identity import RunIdentity, identity_from_suite
from pytest_cpybench.verdict import compare, configurations
from pytest_cpybench.verdict.compare import ResultComparison, SuiteComparison
from pytest_cpybench.verdict.stats import Verdict

DEFAULT_MEMORY_THRESHOLD = 0.10  # peak-memory growth classified as a regression on the pages
README = "README.md"
SIDECAR_SUFFIX = ".cpybench-report.json"  # after "." + the head's stem: hidden, and not "bm-*.json"
# 2: names as bench_runner shows them (sha7 and ref from the file name, its OS names) and the
# headline as its text; a report of version 1 is not read (its names were not bench_runner's).
_SIDECAR_VERSION = 2
_UNSAFE_LABEL = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class Side:
    """One results file of a comparison.

    ``name`` is the file's name or path as the page shows it ("Ignored benchmarks (3) of NAME");
    its stem (without ``.json`` / ``.json.gz``) names the table's column and the page files.
    ``label`` names a baseline in the page ("Results vs. 3.11.0", ``…-vs-3.11.0.md``); empty:
    the version in its file name, else from its metadata (:func:`naming.label_from_suite`).
    """

    suite: pyperf.BenchmarkSuite
    name: str
    label: str = ""

    @property
    def stem(self) -> str:
        return naming.results_stem(self.name)

    @property
    def display_label(self) -> str:
        return self.label or naming.label_from_suite(self.suite)


BaselineInput = Union[Side, tuple[pyperf.BenchmarkSuite, str, str]]  # noqa: UP007 (a runtime alias on 3.10)


@dataclass
class RunPages:
    """What :func:`write_run` wrote."""

    folder: Path  # the run's folder
    paths: list[Path] = field(default_factory=list)  # every file written, in order
    pages: dict[str, Path] = field(default_factory=dict)  # baseline label -> its table page
    readme: Path | None = None  # the run's README.md
    index: Path | None = None  # the index of the output folder (None when not rebuilt)
    notes: list[str] = field(default_factory=list)  # one line each, e.g. why plots were skipped

    def links(self, relative_to: Path | None = None, base_url: str = "") -> dict[str, str]:
        """Links for :func:`pytest_cpybench.output.ci.summary_markdown`: baseline label -> its page,
        ``""`` -> the run's README.

        Paths are made relative to ``relative_to`` (default: the output folder, the folder's
        parent) and prefixed with ``base_url`` (e.g. the URL where the report is published).
        """
        root = relative_to or self.folder.parent
        targets = dict(self.pages)
        if self.readme is not None:
            targets[""] = self.readme
        return {label: base_url + _relative(path, root) for label, path in targets.items()}


# --- what a run is: names and metadata ------------------------------------------------------


MERGE_BASE = "commit_merge_base"  # bench_runner's metadata: the commit of main a branch starts from


@dataclass(frozen=True)
class RunInfo:
    """The facts of one results file the pages show. What a bench_runner name says (fork, ref,
    version, sha, machine) comes from the name, as bench_runner shows it; else from the identity
    we stamp; else from pyperf's metadata. The rest comes from the metadata."""

    stem: str
    folder: str  # the store's folder for the run
    fork: str
    ref: str  # as bench_runner shows it: at most 20 characters (its file names keep ref[:20])
    version: str
    commit: str  # 7-character sha
    commit_date: str  # ISO 8601 as recorded, or YYYY-MM-DD from the file name
    machine: str  # "<machine>-<arch>", e.g. linux-x86_64
    nickname: str  # the machine's name
    arch: str
    system: str  # bench_runner's OS: "linux", "darwin", "windows" (naming.system_name)
    cpu: str
    platform: str
    action_url: str  # bench_runner's GitHub Action run, if recorded
    commit_url: str
    merge_base: str = ""  # bench_runner's commit_merge_base, if recorded

    @property
    def date(self) -> str:
        return self.commit_date[:10]


@dataclass(frozen=True)
class _Names:
    """What a results file's name says, or what stands in for it."""

    nickname: str
    arch: str
    fork: str
    ref: str
    version: str
    commit: str


def run_info(suite: pyperf.BenchmarkSuite, name: str) -> RunInfo:
    """What the pages show of a results file (``name``: its name or path; a path also gives the
    build flags of a bench_runner folder)."""
    stem = naming.results_stem(name)
    identity = identity_from_suite(suite)

    def meta(key: str) -> str:
        value = md.suite_value(suite, key)
        return "" if value is None else str(value)

    parsed = naming.parse_name(stem)
    names = _names(parsed, identity, meta)
    commit_date = meta(md.COMMIT_DATE) or (identity.commit_date if identity is not None else "")
    if not commit_date and parsed is not None:
        commit_date = parsed.iso_date
    platform_text = meta("platform")
    return RunInfo(
        stem=stem,
        folder=_folder_name(identity, name, commit_date, names.version, names.commit),
        fork=names.fork,
        ref=names.ref[: naming.REF_FIELD_LENGTH],
        version=names.version,
        commit=names.commit[:7],
        commit_date=commit_date,
        machine=f"{names.nickname}-{names.arch}",
        nickname=names.nickname,
        arch=names.arch,
        system=naming.system_name(platform_text),
        cpu=meta("cpu_model_name"),
        platform=platform_text,
        action_url=meta("github_action_url"),
        commit_url=_commit_url(meta(md.REPO), names.fork, meta(md.FULL_SHA) or names.commit[:7]),
        merge_base=meta(MERGE_BASE),
    )


def _names(parsed: naming.ParsedName | None, identity: RunIdentity | None, meta: Callable[[str], str]) -> _Names:
    # bench_runner shows its name's fields (a 7-character sha even where commit_id has more).
    if parsed is not None:
        return _Names(parsed.nickname, parsed.arch, parsed.fork, parsed.ref, parsed.version, parsed.sha7)
    if identity is not None:
        return _Names(identity.machine, identity.arch, identity.fork, identity.ref, identity.version, identity.sha7)
    version = meta(md.PYTHON_VERSION) or meta("python_version").split(" ")[0]
    return _Names(meta("hostname") or "unknown", _platform_arch(meta("platform")), meta(md.COMMIT_FORK),
                  meta(md.COMMIT_BRANCH), version, meta(md.COMMIT_ID))


def run_folder_name(suite: pyperf.BenchmarkSuite, name: str) -> str:
    """The folder the results store uses for this run (from its name when the file is not ours)."""
    return run_info(suite, name).folder


def _folder_name(identity: RunIdentity | None, name: str, commit_date: str, version: str, commit: str) -> str:
    if identity is not None:
        return identity.folder_name()
    folder = naming.run_folder(name)
    if folder is not None:
        return folder
    date = re.sub(r"\D", "", commit_date[:10])
    if len(date) == 8 and version and commit:
        return naming.folder_name(date, version, commit[:7])
    return naming.safe_name_field(naming.results_stem(name), 200)


def _platform_arch(platform_text: str) -> str:
    for arch in ("x86_64", "aarch64", "arm64", "amd64", "i686"):
        if arch in platform_text:
            return arch
    return "unknown"


def _commit_url(repo: str, fork: str, sha: str) -> str:
    """A GitHub link to the commit, as bench_runner writes it; none for a local repository."""
    if not sha:
        return ""
    if repo:
        match = re.match(r"^(?:https?://|git@)github\.com[/:]([^/]+/[^/]+?)(?:\.git)?/?$", repo)
        return f"https://github.com/{match[1]}/commit/{sha}" if match else ""
    return f"https://github.com/{fork or 'python'}/cpython/commit/{sha}"


# --- the published layout: pyperf compare_to -G --table --table-format=md -------------------


def comparison_page(
    base: Side,
    head: Side,
    comparison: SuiteComparison,
    memory: Sequence[ResultComparison] = (),
    *,
    plot_links: Mapping[str, Sequence[str]] | None = None,
    plot_note: str | None = None,
    table: str | None = None,
    explained: Sequence[Explanation] = (),
) -> str:
    """The ``…-vs-<label>.md`` page: the published layout, then our verdicts, why results are slower
    (``explained``: :func:`.explanations.markdown_section`) and peak memory.

    ``plot_links``: ``"time"`` / ``"memory"`` -> file names (PNG first) to link; ``plot_note``: why
    there are none. ``table``: :func:`tables.pyperf_tables` of the two sides, if already made.
    """
    info = run_info(head.suite, head.name)
    if table is None:
        table = tables.pyperf_tables(base, head)
    header = [
        "",
        f"# Results vs. {base.display_label}",
        "",
        f"- fork: {info.fork}",
        f"- ref: {info.ref}",
        f"- machine: {naming.machine_name(info.system, info.arch)}",
        f"- commit hash: {info.commit}",
        f"- commit date: {info.date}",
        f"- overall geometric mean: {headline(comparison, table)}",
        "",
    ]
    text = "\n".join(header) + "\n" + table
    text += "\n" + verdict_section(comparison, plot_links=plot_links, plot_note=plot_note)
    if explained:
        text += "\n" + explanations.markdown_section(explained)
    if memory:
        text += "\n" + memory_section(comparison, memory)
    return text


def headline(comparison: SuiteComparison, table: str) -> str:
    """A comparison's headline as bench_runner writes it in a table page's header and a run's
    README: the overall geometric mean of the table, "not sig" when the table has none, and a
    markdown-escaped ``*`` when the two sides ran different benchmark definitions."""
    if comparison.geometric_mean is None:
        return "no benchmarks in common"
    overall = tables.overall_geometric_mean(table)
    if overall is None:
        return "not sig"
    return overall + (" \\*" if comparison.different_suites else "")


VERDICTS_TITLE = "## pytest-cpybench verdicts"


def verdict_section(
    cmp: SuiteComparison,
    *,
    plot_links: Mapping[str, Sequence[str]] | None = None,
    plot_note: str | None = None,
) -> str:
    """Our verdicts, in markdown: headline and tags with intervals, regressions, inconclusive."""
    confidence = f"{cmp.confidence * 100:g}%"
    lines = [
        f"{VERDICTS_TITLE} vs. {cmp.base_label}",
        "",
        f"pytest-cpybench's verdicts, threshold {format_threshold(cmp.threshold)} (per-result overrides "
        f"are in the table): a result fails when its whole {confidence} interval is slower than the "
        "threshold, and is inconclusive when the interval straddles it. Intervals are over worker-process "
        "means; the tables above hide what pyperf's t-test over all values calls not significant, a "
        "different test. The interval of a geometric mean covers the noise between worker processes, "
        "not a shift of the whole machine between two sessions measured apart." + _checked_note(cmp),
        "",
    ]
    if cmp.headline is not None:
        star = " *" if cmp.different_suites else ""
        lines.append(f"- geometric mean: {format_headline(cmp.headline)}{star}")
    tags = cmp.by_tag()
    if tags:
        lines.append("- by tag: " + ", ".join(f"{tag} {format_headline(estimate)}" for tag, estimate in tags.items()))
    regressions = sorted(cmp.regressions, key=lambda rc: rc.ratio, reverse=True)
    lines.append(f"- regressions ({len(regressions)}): " + (", ".join(
        f"{rc.name} {format_ratio(rc.ratio)} {format_ratio_interval(rc.estimate)}" for rc in regressions) or "none"))
    inconclusive = [rc for rc in cmp.results if rc.verdict is Verdict.INCONCLUSIVE]
    if inconclusive:
        lines.append(f"- inconclusive ({len(inconclusive)}): {', '.join(rc.name for rc in inconclusive)}")
    if cmp.different_suites:
        lines.append("- \\* the two sides ran different versions of the benchmark suite")
    for warning in cmp.warnings:
        lines.append(f"- warning: {warning}")
    if plot_links:
        names = {"time": "time", "memory": "peak memory"}
        lines.append("- plots: " + ", ".join(
            f"[{names.get(metric, metric)}]({files[0]})" + "".join(f" ([{Path(f).suffix[1:]}]({f}))" for f in files[1:])
            for metric, files in plot_links.items() if files))
    elif plot_note:
        lines.append(f"- {plot_note}")
    shown = sorted((rc for rc in cmp.results if rc.verdict is not Verdict.UNCHANGED),
                   key=lambda rc: rc.ratio, reverse=True)
    if shown:
        lines += ["", *_simple_table(
            ["Benchmark", cmp.base_label, cmp.head_label, "change", f"{confidence} interval", "verdict"],
            [[rc.name, rc.base_text, rc.head_text, format_ratio(rc.ratio), format_ratio_interval(rc.estimate),
              _verdict_text(rc)] for rc in shown])]
    unchanged = [rc.name for rc in cmp.results if rc.verdict is Verdict.UNCHANGED]
    if unchanged:
        lines += ["", f"Not significant ({len(unchanged)}): {', '.join(unchanged)}"]
    return "\n".join(lines) + "\n"


MEMORY_TITLE = "## Peak memory"


def memory_section(cmp: SuiteComparison, memory: Sequence[ResultComparison]) -> str:
    """Peak memory per result and per tag: head / base of the worker processes' mean peak RSS."""
    confidence = f"{cmp.confidence * 100:g}%"
    threshold = format_threshold(memory[0].threshold) if memory else ""
    headline = compare.memory_comparison(cmp, list(memory)).headline
    lines = [
        f"{MEMORY_TITLE} vs. {cmp.base_label}",
        "",
        "Peak RSS of each worker process (pyperf's `mem_max_rss`; `command_max_rss` for command "
        f"benchmarks), as head / base of the processes' means: 1.05x is 5% more memory. A growth beyond "
        f"{threshold} whose whole {confidence} interval is above it is a regression.",
        "",
    ]
    if headline is not None:
        lines.append(f"- geometric mean: {format_memory_ratio(headline.ratio)} {format_memory_interval(headline)}")
    tags = compare.tag_estimates(memory, cmp.confidence)
    if tags:
        lines.append("- by tag: " + ", ".join(f"{tag} {format_memory_ratio(e.ratio)}" for tag, e in tags.items()))
    regressions = [rc for rc in memory if rc.verdict is Verdict.REGRESSION]
    lines.append(f"- growth beyond {threshold} ({len(regressions)}): "
                 + (", ".join(f"{rc.name} {format_memory_ratio(rc.ratio)}" for rc in regressions) or "none"))
    inconclusive = [rc.name for rc in memory if rc.verdict is Verdict.INCONCLUSIVE]
    if inconclusive:
        lines.append(f"- inconclusive ({len(inconclusive)}): {', '.join(inconclusive)}")
    rows = [[rc.name, rc.base_text, rc.head_text, format_memory_ratio(rc.ratio), format_memory_interval(rc.estimate),
             _memory_verdict(rc)] for rc in sorted(memory, key=lambda rc: (-rc.ratio, rc.name))]
    lines += ["", *_simple_table(
        ["Benchmark", cmp.base_label, cmp.head_label, "head / base", f"{confidence} interval", "verdict"], rows)]
    return "\n".join(lines) + "\n"


def _memory_verdict(rc: ResultComparison) -> str:
    return {
        Verdict.REGRESSION: f"regression (> {format_threshold(rc.threshold)})",
        Verdict.INCONCLUSIVE: "inconclusive",
        Verdict.SLOWER_WITHIN_THRESHOLD: f"more, within {format_threshold(rc.threshold)}",
        Verdict.FASTER: "less",
        Verdict.UNCHANGED: "not significant",
    }[rc.verdict]


def _verdict_text(rc: ResultComparison) -> str:
    if rc.verdict is Verdict.SLOWER_WITHIN_THRESHOLD:
        return f"slower, within {format_threshold(rc.threshold)}"
    if rc.verdict is Verdict.REGRESSION:
        return f"**regression** (> {format_threshold(rc.threshold)})"
    if rc.verdict is Verdict.INCONCLUSIVE:
        return f"inconclusive (threshold {format_threshold(rc.threshold)})"
    return rc.verdict.value


def _checked_note(cmp: SuiteComparison) -> str:
    """Interleaved results were checked several times as they were measured: each check's interval is
    wider than ``cmp.confidence`` so that all of them together keep it; say so when it shows."""
    checked = sorted({rc.estimate.confidence for rc in cmp.results} - {cmp.confidence})
    if not checked:
        return ""
    levels = " or ".join(format_confidence(c) for c in checked)
    return (f" Results measured interleaved were checked as their rounds came in; their intervals are at "
            f"{levels} (a check's, or the last look's where the cost cap cut the rounds short), so that all "
            f"the looks together keep {format_confidence(cmp.confidence)}.")


def _simple_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    escaped = [[cell.replace("|", "\\|") for cell in row] for row in [headers, *rows]]
    return [f"| {' | '.join(escaped[0])} |", "|" + "|".join("---" for _ in headers) + "|",
            *(f"| {' | '.join(row)} |" for row in escaped[1:])]


# --- a run: pages, plots, README ----------------------------------------------------------------


def write_run(
    out_dir: Path,
    head: pyperf.BenchmarkSuite,
    head_name: str,
    baselines: Sequence[BaselineInput],
    comparisons: Sequence[SuiteComparison] | None = None,
    *,
    memory: Sequence[Sequence[ResultComparison]] | None = None,
    memory_threshold: float = DEFAULT_MEMORY_THRESHOLD,
    plots: bool = True,
    copy_raw: bool = True,
    index: bool = True,
    explained: Sequence[Explanation] = (),
) -> RunPages:
    """Write the pages of one run (one head against its baselines) into ``out_dir/<run folder>/``.

    ``head_name``: the head's results file (name, path or stem): it names the pages
    (``<stem>-vs-<label>.md``) and the table column. ``baselines``: :class:`Side` or ``(suite,
    name, label)`` tuples. ``comparisons``: one per baseline, in the same order, as the gate made
    them (thresholds, pairing); None: :func:`compare.compare_suites` with its defaults.
    ``memory``: per baseline, :func:`compare.compare_memory` results; None: computed with
    ``memory_threshold``. ``copy_raw``: write the head's JSON into the folder when no file of
    that name is there, so the README's raw results link works. ``index``: rebuild
    ``out_dir/README.md``, the index of every run under ``out_dir``. ``explained``: why results
    are slower (--cpython-explain), each shown on the page of its baseline.

    A second call for another head or machine of the same commit adds to the folder; the run's
    README is rebuilt from everything written there. Plots (``plots.plot_comparison``, time and
    memory) are optional: when they cannot be drawn, ``notes`` says why in one line, once.
    """
    out_dir = Path(out_dir)
    sides = [item if isinstance(item, Side) else Side(*item) for item in baselines]
    if comparisons is not None and len(comparisons) != len(sides):
        raise ValueError(f"{len(comparisons)} comparisons for {len(sides)} baselines")
    if memory is not None and len(memory) != len(sides):
        raise ValueError(f"{len(memory)} memory comparisons for {len(sides)} baselines")
    head_side = Side(head, head_name)
    info = run_info(head, head_name)
    folder = out_dir / info.folder
    folder.mkdir(parents=True, exist_ok=True)
    written = RunPages(folder=folder)
    raw = folder / f"{info.stem}.json"
    if copy_raw and not raw.exists() and not (folder / f"{info.stem}.json.gz").exists() and _dump_new(head, raw):
        written.paths.append(raw)
    entries = []
    used_labels: set[str] = set()
    for position, base in enumerate(sides):
        cmp = comparisons[position] if comparisons is not None else compare.compare_suites(
            base.suite, head, base_label=base.display_label)
        mem = list(memory[position]) if memory is not None else compare.compare_memory(
            base.suite, head, threshold=memory_threshold, confidence=cmp.confidence)
        label = _unique(_safe_label(base.display_label), used_labels)
        page_stem = f"{info.stem}-vs-{label}"
        plot_links: dict[str, list[str]] = {}
        if plots:
            for metric, suffix, metric_cmp in (("time", "", cmp),
                                               ("memory", "-mem", compare.memory_comparison(cmp, mem))):
                files, reason = _plot(base.suite, head, metric_cmp, metric=metric,
                                      title=_plot_title(cmp, base.display_label, metric),
                                      out_stem=folder / f"{page_stem}{suffix}")
                if files:
                    plot_links[metric] = [path.name for path in files]
                    written.paths.extend(files)
                elif reason and reason not in written.notes:
                    written.notes.append(reason)
        page = folder / f"{page_stem}.md"
        plot_note = None if plot_links else (written.notes[0] if written.notes else None)
        table = tables.pyperf_tables(base, head_side)
        text = comparison_page(base, head_side, cmp, mem, plot_links=plot_links, plot_note=plot_note, table=table,
                               explained=[e for e in explained if e.baseline == cmp.base_label])
        write_text_atomically(page, text)
        written.paths.append(page)
        written.pages[base.display_label] = page
        entries.append(_baseline_entry(base, cmp, mem, page.name, plot_links, headline(cmp, table)))
    sidecar = folder / f".{info.stem}{SIDECAR_SUFFIX}"
    record = {"version": _SIDECAR_VERSION, "run": dataclasses.asdict(info),
              "raw": raw.name if raw.exists() else None, "baselines": entries}
    write_text_atomically(sidecar, json.dumps(record, indent=1, sort_keys=True) + "\n")
    written.readme = write_run_readme(folder)
    written.paths.append(written.readme)
    if index:
        written.index = write_index(out_dir)
        written.paths.append(written.index)
    return written


def _plot(base: pyperf.BenchmarkSuite, head: pyperf.BenchmarkSuite, comparison: SuiteComparison, *,
          metric: str, title: str, out_stem: Path) -> tuple[list[Path], str | None]:
    try:
        from pytest_cpybench.output import plots
    except ImportError as err:  # the module or one of its imports is not there
        return [], f"plots skipped: {err}"
    return plots.plot_comparison(base, head, comparison, title=title, out_stem=out_stem, metric=metric)


def _plot_title(cmp: SuiteComparison, base_label: str, metric: str) -> str:
    what = "peak memory of " if metric == "memory" else ""
    return f"{what}{cmp.head_label} vs. {base_label}"


def _baseline_entry(base: Side, cmp: SuiteComparison, memory: Sequence[ResultComparison], page: str,
                    plot_links: Mapping[str, Sequence[str]], headline_text: str) -> dict[str, Any]:
    mem_headline = compare.memory_comparison(cmp, list(memory)).headline
    return {
        "label": base.display_label,
        "base": naming.results_stem(base.name),
        "headline": headline_text,
        "interval": format_ratio_interval(cmp.headline) if cmp.headline is not None else None,
        "confidence": cmp.confidence,
        "missing": list(cmp.missing),
        "new": list(cmp.new),
        "tags": format_tags(cmp.by_tag()),
        "threshold": format_threshold(cmp.threshold),
        "regressions": [rc.name for rc in sorted(cmp.regressions, key=lambda rc: rc.ratio, reverse=True)],
        "inconclusive": list(cmp.inconclusive),
        "memory": (f"{format_memory_ratio(mem_headline.ratio)} {format_memory_interval(mem_headline)}"
                   if mem_headline is not None else None),
        "memory_regressions": [rc.name for rc in memory if rc.verdict is Verdict.REGRESSION],
        "table": page,
        "plots": {metric: list(files) for metric, files in plot_links.items()},
    }


@dataclass
class _List:
    """One list of a run's README: bench_runner's lines, its links to the run's files (in file-name
    order, after the lines, as bench_runner lists the folder last), then ours. A line given twice
    (two reports of one machine, one run's facts in every report) is written once, as bench_runner
    does."""

    lines: list[str] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)  # (file name, line)
    ours: list[str] = field(default_factory=list)

    def link(self, kind: str, file_name: str) -> None:
        # bench_runner's md_link quotes a relative link ("+" of "3.13.0a2+" is "%2B").
        self.files.append((file_name, f"[{kind}]({quote(file_name)})"))

    def render(self) -> list[str]:
        lines = [*self.lines, *(line for _, line in sorted(self.files)), *self.ours]
        return [*(f"- {line}" for line in dict.fromkeys(lines)), ""]


def write_run_readme(folder: Path) -> Path:
    """Rebuild a run folder's README.md from every report written there, in bench_runner's layout
    (``generate_directory_indices``): the run; a section per machine (linux, then windows, then
    darwin); in it a list per baseline."""
    records = _records(folder)
    run_list = _List()
    sections: dict[str, dict[str, _List]] = {}
    for record in records:
        run = record["run"]
        run_list.lines += _run_lines(run)
        blocks = sections.setdefault(naming.runner_name(run["system"], run["arch"], run["nickname"]), {})
        machine = blocks.setdefault("", _List())
        machine.lines += _machine_lines(run)
        if record.get("raw"):
            machine.link("raw results", record["raw"])
        for entry in record["baselines"]:
            _add_baseline(blocks.setdefault(entry["label"], _List()), entry)
    if records:
        # After every report's lines, as bench_runner adds it: each machine's ref, as its file name has it.
        run_list.lines.append("ref: " + ", ".join(sorted({record["run"]["ref"] for record in records})))
    lines = ["# Results", "", *(run_list.render() if records else [])]
    for runner in sorted(sections, key=naming.runner_order):
        lines += [f"## {runner}", ""]
        for label, block in sections[runner].items():
            lines += ([f"### vs. {label}", ""] if label else []) + block.render()
    lines += _configurations_lines(folder)
    path = folder / README
    write_text_atomically(path, "\n".join(lines) + "\n")
    return path


# --- several build configurations of one commit ------------------------------------------------

CONFIGURATIONS_RECORD = ".cpybench-configurations.json"
CONFIGURATIONS_TITLE = "## Configurations"


@dataclass(frozen=True)
class ConfigurationRun:
    """One build configuration's head in a session of several (``--cpython-build=release,nogil``)."""

    preset: str
    head: pyperf.BenchmarkSuite
    head_name: str  # its results file (name, path or stem)
    comparisons: Sequence[SuiteComparison] = ()  # against each baseline, as the gate made them


def write_configurations(out_dir: Path, runs: Sequence[ConfigurationRun], *, threshold: float = 0.05,
                         confidence: float = 0.95, plots: bool = True) -> RunPages:
    """The configurations section of one commit: per configuration the geometric mean against each
    baseline, and its flag effect (against the release build of the same commit, as bench_runner's
    flag-effect plot); a page ``<release stem>-configurations.md`` with that plot, in the release
    run's folder (the first configuration's without release), whose README gets the section."""
    reference = next((run for run in runs if run.preset == configurations.DEFAULT_PRESET), runs[0])
    info = run_info(reference.head, reference.head_name)
    folder = Path(out_dir) / info.folder
    folder.mkdir(parents=True, exist_ok=True)
    written = RunPages(folder=folder)
    effects = {run.preset: configurations.flag_effect(reference.head, run.head, run.preset, threshold=threshold,
                                                      confidence=confidence)
               for run in runs if run is not reference}
    baselines = list(dict.fromkeys(cmp.base_label for run in runs for cmp in run.comparisons))
    rows = []
    for run in runs:
        by_label = {cmp.base_label: cmp for cmp in run.comparisons}
        effect = effects.get(run.preset)
        run_folder = run_info(run.head, run.head_name).folder
        rows.append({
            "preset": run.preset, "run": f"../{run_folder}/{README}" if run_folder != info.folder else README,
            "vs": [_geometric_text(by_label.get(label)) for label in baselines],
            "regressions": sorted({rc.name for cmp in run.comparisons for rc in cmp.regressions}),
            "effect": "(the reference)" if run is reference else _effect_text(effect, reference.preset)})
    plot: list[str] = []
    if plots and effects:
        files, reason = _flag_effect_plot(effects, f"{info.version} ({info.commit}): configurations against "
                                          f"{reference.preset}", folder / f"{info.stem}-configurations")
        plot = [path.name for path in files]
        written.paths.extend(files)
        if reason:
            written.notes.append(reason)
    page = folder / f"{info.stem}-configurations.md"
    record = {"reference": reference.preset, "baselines": baselines, "rows": rows, "plot": plot, "page": page.name}
    title = f"# Configurations of {info.version} ({info.commit})"
    write_text_atomically(page, "\n".join([title, "", *_configurations_table(record, page_links=False)]) + "\n")
    write_text_atomically(folder / CONFIGURATIONS_RECORD, json.dumps(record, indent=1, sort_keys=True) + "\n")
    written.paths.append(page)
    written.pages["configurations"] = page
    written.readme = write_run_readme(folder)
    written.paths.append(written.readme)
    return written


def _geometric_text(cmp: SuiteComparison | None) -> str:
    if cmp is None or cmp.headline is None:
        return "-"
    return format_headline(cmp.headline)


def _effect_text(effect: SuiteComparison | None, reference: str) -> str:
    if effect is None or effect.headline is None:
        return f"no result in common with {reference}"
    return f"{format_headline(effect.headline)} than {reference} ({len(effect.results)} results)"


def _flag_effect_plot(effects: dict[str, SuiteComparison], title: str, out_stem: Path) -> tuple[list[Path], str | None]:
    try:
        from pytest_cpybench.output import plots
    except ImportError as err:
        return [], f"plots skipped: {err}"
    return plots.plot_flag_effect(effects, title=title, out_stem=out_stem)


def _configurations_table(record: Mapping[str, Any], page_links: bool = True) -> list[str]:
    headers = ["configuration", *(f"geometric mean vs. {label}" for label in record["baselines"]),
               f"flag effect (vs. {record['reference']} of this commit)", "regressions"]
    rows = [[f"[{row['preset']}]({quote(row['run'])})", *row["vs"], row["effect"],
             ", ".join(row["regressions"]) or "none"] for row in record["rows"]]
    lines = _simple_table(headers, rows)
    if record.get("plot"):
        lines += ["", f"![flag effect]({quote(record['plot'][0])})"]
    if page_links:
        lines += ["", f"- [configurations page]({quote(record['page'])})"]
    return [*lines, ""]


def _configurations_lines(folder: Path) -> list[str]:
    try:
        record = json.loads((folder / CONFIGURATIONS_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [CONFIGURATIONS_TITLE, "", *_configurations_table(record)]


def _run_lines(run: Mapping[str, Any]) -> list[str]:
    commit = f"[{run['commit']}]({run['commit_url']})" if run["commit_url"] else run["commit"]
    lines = [f"fork: {run['fork']}", f"version: {run['version']}", f"commit hash: {commit}",
             f"commit date: {run['commit_date']}"]
    if run["merge_base"]:
        # bench_runner links a merge base to upstream CPython, whatever the fork.
        lines.append(f"commit merge base: [{run['merge_base']}](https://github.com/python/cpython/commit/"
                     f"{run['merge_base']})")
    return lines


def _machine_lines(run: Mapping[str, Any]) -> list[str]:
    action = [f"[GitHub Action run]({run['action_url']})"] if run["action_url"] else []
    return [*action, f"cpu model: {run['cpu'] or 'missing'}", f"platform: {run['platform'] or 'missing'}"]


def _add_baseline(block: _List, entry: Mapping[str, Any]) -> None:
    block.lines.append(entry["headline"])
    if entry["missing"]:
        # bench_runner marks missing benchmarks red against the merge base ("base") only.
        alarm = "🔴 " if entry["label"] == "base" else ""
        block.lines.append(f"missing benchmarks: {alarm}{', '.join(entry['missing'])}")
    if entry["new"]:
        block.lines.append(f"new benchmarks: {', '.join(entry['new'])}")
    block.link("table", entry["table"])
    plots = entry.get("plots") or {}
    if plots.get("time"):
        block.link("plot", plots["time"][0])
    block.ours += _our_baseline_lines(entry)


def _our_baseline_lines(entry: Mapping[str, Any]) -> list[str]:
    lines = []
    if entry.get("interval"):
        lines.append(f"{entry['confidence'] * 100:g}% interval of the geometric mean: {entry['interval']}")
    if entry.get("tags"):
        lines.append(f"by tag: {entry['tags']}")
    regressions = entry["regressions"]
    verdicts = f"{len(regressions)} regression{'s' if len(regressions) != 1 else ''}"
    if regressions:
        verdicts += f" ({', '.join(regressions)})"
    lines.append(f"verdicts (threshold {entry['threshold']}): {verdicts}, {len(entry['inconclusive'])} inconclusive")
    if entry.get("memory"):
        grown = entry["memory_regressions"]
        memory = f"peak memory: {entry['memory']}"
        if grown:
            memory += f", grew beyond the threshold: {', '.join(grown)}"
        plots = entry.get("plots") or {}
        if plots.get("memory"):
            memory += f" ([plot]({plots['memory'][0]}))"
        lines.append(memory)
    return lines


def _records(folder: Path) -> list[dict[str, Any]]:
    records = []
    for path in sorted(folder.glob(f".*{SIDECAR_SUFFIX}")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a report being written, or damaged: the next write_run rebuilds it
        if isinstance(record, dict) and record.get("version") == 1:
            record = _upgraded(folder, record)
        if isinstance(record, dict) and record.get("version") == _SIDECAR_VERSION:
            records.append(record)
    return records


def _upgraded(folder: Path, record: dict[str, Any]) -> dict[str, Any] | None:
    """A record written before the pages used bench_runner's names as bench_runner does (version 1):
    its run's facts read again from the raw results beside it, so that an older run keeps its
    section in the README; None when they are gone (the next report of that run writes it anew)."""
    raw = folder / str(record.get("raw") or "")
    if not record.get("raw") or not raw.is_file():
        return None
    try:
        info = run_info(load_suite(raw), raw.name)
    except StoreError:
        return None
    return {**record, "version": _SIDECAR_VERSION, "run": dataclasses.asdict(info)}


# --- the index of every run -------------------------------------------------------------------


def write_index(results_root: Path) -> Path:
    """Rebuild ``results_root/README.md``: every run under it, newest first (by commit date).

    A run is a results file ``bm-*/bm-*.json`` (what the store writes, and where report pages
    go); its row links the run's README and each baseline's table page when pages were written.
    Only file names and the pages' records are read, never the results themselves.
    """
    results_root = Path(results_root)
    rows = []
    for folder in sorted(p for p in results_root.glob("bm-*") if p.is_dir()):
        records = {record["run"]["stem"]: record for record in _records(folder)}
        stems = {naming.results_stem(path.name) for path in folder.iterdir()
                 if path.name.startswith("bm-") and path.name.endswith((".json", ".json.gz"))}
        for stem in sorted(stems | set(records)):
            rows.append(_index_row(folder, stem, records.get(stem)))
    rows.sort(key=lambda row: (row[0], row[1]), reverse=True)
    lines = ["# Benchmark results", "",
             "Every run in this folder, newest first by commit date. A run's page has its machine and "
             "comparisons; each comparison links its table page (faster-cpython's layout, then "
             "pytest-cpybench's verdicts).", ""]
    if rows:
        lines += _simple_table(["date", "fork", "ref", "version", "commit", "machine", "vs."], [row[2] for row in rows])
    else:
        lines.append("No runs yet.")
    path = results_root / README
    results_root.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, "\n".join(lines) + "\n")
    return path


def _index_row(folder: Path, stem: str, record: Mapping[str, Any] | None) -> tuple[str, str, list[str]]:
    parsed = naming.parse_name(stem)
    readme = folder / README
    if record is not None:
        run = record["run"]
        date, fork, ref, version, commit, machine = (run["commit_date"][:10], run["fork"], run["ref"],
                                                     run["version"], run["commit"], run["machine"])
        full_date = run["commit_date"]
        comparisons = ", ".join(
            f"{entry['headline']} vs. "
            f"[{entry['label']}]({folder.name}/{entry['table']})" for entry in record["baselines"]) or "–"
    elif parsed is not None:
        date = parsed.iso_date
        fork, ref, version, commit = parsed.fork, parsed.ref, parsed.version, parsed.sha7
        machine, full_date, comparisons = f"{parsed.nickname}-{parsed.arch}", date, "–"
    else:
        date = fork = ref = version = machine = full_date = ""
        commit, comparisons = stem, "–"
    target = f"{folder.name}/{README}" if readme.exists() else f"{folder.name}/{stem}.json"
    return (re.sub(r"\D", "", date), full_date + stem,
            [date, fork, ref, version, f"[{commit}]({target})", machine, comparisons])


# --- helpers ------------------------------------------------------------------------------------


def _safe_label(label: str) -> str:
    return _UNSAFE_LABEL.sub("_", label).strip("_.") or "baseline"


def _unique(label: str, used: set[str]) -> str:
    candidate, number = label, 1
    while candidate in used:
        number += 1
        candidate = f"{label}-{number}"
    used.add(candidate)
    return candidate


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _dump_new(suite: pyperf.BenchmarkSuite, path: Path) -> bool:
    """Write ``suite`` as ``path`` unless that name exists (then False): never half a file, never
    over another (the folder may be a results store's)."""
    tmp = path.with_name(f".tmp-{path.name}.{os.getpid()}")
    try:
        suite.dump(str(tmp), replace=True)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system
            if path.exists():
                return False
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


__all__ = [
    "DEFAULT_MEMORY_THRESHOLD",
    "RunInfo",
    "RunPages",
    "Side",
    "comparison_page",
    "memory_section",
    "run_folder_name",
    "run_info",
    "verdict_section",
    "write_index",
    "write_run",
    "write_run_readme",
]
