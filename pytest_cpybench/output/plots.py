"""Plots of a comparison, drawn as faster-cpython's bench_runner draws its results pages' plots.

One horizontal violin per result both suites have. Like bench_runner, a violin is the
distribution of the ratios of *every pair* of values (each base value against each head value,
after dropping values more than two standard deviations from their side's mean), thinned to 100
evenly spaced order statistics, with dotted lines at its 10th and 90th percentiles. The x axis is
bench_runner's: for time the speedup ``base / head``, so "⟵ slower" is left of the line at 1.0 and
"faster ⟶" right of it, and the numbers read as the tables' ("1.05x faster"); for memory the
growth ``head / base`` (peak RSS per worker process), "⟵ less" and "more ⟶". Rows are sorted by
their ratio (bench_runner's order: for time the slowest at the bottom, for memory the largest
growth at the top) under an overall row: all rows' samples pooled, marked at the geometric mean
of the results' ratios (the headline number).

Our addition: each row's point ratio (the ratio of pyperf means, the number in the tables) is
marked and written at the right, and the verdicts of a :class:`~compare.SuiteComparison` color the
rows: regressions red, inconclusive results orange, results with no significant change grey.

matplotlib is optional (the ``plot`` extra) and imported only here, with its Agg renderer and no
pyplot, so nothing global (the backend, the user's rcParams) is touched.
"""

from __future__ import annotations

import inspect
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pytest_cpybench.results import naming
from pytest_cpybench.verdict import compare
from pytest_cpybench.verdict.stats import Verdict, geometric_mean

if TYPE_CHECKING:
    import pyperf
    from matplotlib.axes import Axes

MATPLOTLIB_MISSING = "plots skipped: matplotlib is not installed (pip install 'pytest-cpybench[plot]')"
NO_MEMORY_DATA = "no memory data (mem_max_rss) in these results"
NO_SHARED_RESULTS = "no plot: the two suites have no result in common"

METRICS = ("time", "memory")
SAMPLES_PER_ROW = 100  # bench_runner's thinning of each violin's pairwise ratios
OUTLIER_STDEVS = 2.0  # bench_runner drops values further than this from their side's mean

# Per-run peak memory in bytes. pyperf records mem_max_rss for a worker; for a "command"
# benchmark (python_startup, 2to3) the command's own peak is command_max_rss, which bench_runner
# prefers, and so do we.
_MEMORY_KEYS = ("command_max_rss", "mem_max_rss")

_BLUE, _PALE, _GREY, _ORANGE, _RED = "#1f77b4", "#9ecae1", "#a0a0a0", "#ff8c00", "#d62728"
_ROW_INCHES = 0.28  # per row: 8-point labels stay readable with ~100 rows
_FIGURE_WIDTH = 10.0
_DPI = 100
_LEAST_SPAN = {"time": 0.25, "memory": 0.10}  # the x axis shows at least 1 ± this
_KDE_POINTS = 60  # points along each violin's outline (matplotlib's default 100 doubles the SVG)
_HASH_SALT = "pytest-cpybench"  # fixed ids in the SVG, so reruns write the same bytes


@dataclass(frozen=True)
class _Row:
    name: str
    ratio: float  # the point ratio on the plot's axis (speedup for time, growth for memory)
    samples: list[float]  # pairwise ratios, thinned to SAMPLES_PER_ROW order statistics
    verdict: Verdict | None


@dataclass(frozen=True)
class _Style:
    color: str
    marker: str
    label: str
    note: str = ""  # after the ratio at the right of the row


def plot_comparison(
    base: pyperf.BenchmarkSuite,
    head: pyperf.BenchmarkSuite,
    comparison: compare.SuiteComparison | None,
    *,
    title: str,
    out_stem: Path,
    metric: str = "time",
) -> tuple[list[Path], str | None]:
    """Write out_stem.png and out_stem.svg; return (paths written, None), or ([], one-line reason
    plots were skipped) — e.g. matplotlib is not installed: never raise for that.

    ``comparison`` colors the rows by verdict (None: no verdicts shown). With ``metric="memory"``
    only its results whose unit is ``"byte"`` (a comparison of peak memory) are used: timing
    verdicts are not memory verdicts. ``out_stem`` may contain dots (``…-3.12.0a1-vs-3.11.0``):
    the suffixes are appended, not substituted; missing parent folders are created.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    rows = _rows(base, head, comparison, metric)
    if not rows:
        return [], NO_MEMORY_DATA if metric == "memory" else NO_SHARED_RESULTS
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return [], MATPLOTLIB_MISSING

    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = (out_stem.parent / f"{out_stem.name}{suffix}" for suffix in (".png", ".svg"))
    with matplotlib.rc_context():
        matplotlib.rcdefaults()  # the user's matplotlibrc or style must not change our files
        # Text stays text in the SVG (searchable, small), in the font matplotlib ships.
        matplotlib.rcParams.update(
            {"svg.hashsalt": _HASH_SALT, "svg.fonttype": "none", "font.sans-serif": ["DejaVu Sans"]}
        )
        figure = Figure(figsize=(_FIGURE_WIDTH, 2.2 + _ROW_INCHES * (len(rows) + 2)), layout="constrained", dpi=_DPI)
        FigureCanvasAgg(figure)
        _draw(figure.subplots(), rows, comparison, metric, title, _axis_label(base, head, metric))
        # No "Date" (SVG) or "Software" (PNG) metadata: the same data gives the same bytes.
        figure.savefig(png, dpi=_DPI, metadata={"Software": None}, pil_kwargs={"optimize": True})
        figure.savefig(svg, metadata={"Date": None, "Creator": None})
    svg.write_text(_compact_svg(svg.read_text(encoding="utf-8")), encoding="utf-8")
    return [png, svg], None


_PATH_DATA = re.compile(r'(?<=\sd=")[^"]*')
_LONG_NUMBER = re.compile(r"-?\d+\.\d{3,}")


def _compact_svg(text: str) -> str:
    """Path coordinates to 0.01 pt and one line each (bench_runner runs scour for the same):
    the violins' outlines are most of the file, and this halves it."""

    def shorten(number: re.Match[str]) -> str:
        short = f"{float(number[0]):.2f}".rstrip("0").rstrip(".")
        return "0" if short == "-0" else short

    def compact(path: re.Match[str]) -> str:
        return " ".join(_LONG_NUMBER.sub(shorten, path[0]).split())

    return _PATH_DATA.sub(compact, text)


def _rows(
    base: pyperf.BenchmarkSuite,
    head: pyperf.BenchmarkSuite,
    comparison: compare.SuiteComparison | None,
    metric: str,
) -> list[_Row]:
    verdicts: dict[str, Verdict] = {}
    if comparison is not None:
        verdicts = {rc.name: rc.verdict for rc in comparison.results if (rc.unit == "byte") == (metric == "memory")}
    head_names = set(head.get_benchmark_names())
    rows = []
    for name in sorted(set(base.get_benchmark_names()) & head_names):
        base_bench, head_bench = base.get_benchmark(name), head.get_benchmark(name)
        if metric == "memory":
            base_values, head_values = _memory_values(base_bench), _memory_values(head_bench)
            if not base_values or not head_values:
                continue
            # Growth: head / base, so "more" is to the right (bench_runner's memory plot).
            ratio = statistics.fmean(head_values) / statistics.fmean(base_values)
            numerators, denominators = head_values, base_values
        else:
            base_bench, head_bench = compare.like_for_like(base_bench, head_bench)
            base_values, head_values = list(base_bench.get_values()), list(head_bench.get_values())
            if not base_values or not head_values:
                continue
            # Speedup: base / head, so "faster" is to the right (bench_runner's timing plot).
            ratio = base_bench.mean() / head_bench.mean()
            numerators, denominators = base_values, head_values
        samples = _pairwise_ratios(_without_outliers(numerators), _without_outliers(denominators))
        rows.append(_Row(name, ratio, _thin(samples, SAMPLES_PER_ROW), verdicts.get(name)))
    rows.sort(key=lambda row: (row.ratio, row.name))
    return rows


def _memory_values(bench: pyperf.Benchmark) -> list[float]:
    """Peak RSS (bytes) of each worker process that measured values; runs without it are skipped."""
    values = []
    for run in bench.get_runs():
        if not run.values:
            continue  # calibration runs, as in stats.process_means
        run_metadata = run.get_metadata()
        for key in _MEMORY_KEYS:
            value = run_metadata.get(key)
            if isinstance(value, (int, float)) and value > 0:
                values.append(float(value))
                break
    return values


def _without_outliers(values: Sequence[float]) -> list[float]:
    """bench_runner's outlier rule: drop values more than two standard deviations from the mean."""
    if len(values) <= 3:
        return list(values)
    mean, spread = statistics.fmean(values), statistics.pstdev(values)
    return [value for value in values if abs(value - mean) <= OUTLIER_STDEVS * spread]


def _pairwise_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    return sorted(numerator / denominator for numerator in numerators for denominator in denominators)


def _thin(ordered: Sequence[float], count: int) -> list[float]:
    """``count`` evenly spaced order statistics, first and last included (bench_runner's)."""
    if len(ordered) <= count:
        return list(ordered)
    return [ordered[round(index * (len(ordered) - 1) / (count - 1))] for index in range(count)]


def _axis_label(base: pyperf.BenchmarkSuite, head: pyperf.BenchmarkSuite, metric: str) -> str:
    base_label, head_label = naming.label_from_suite(base), naming.label_from_suite(head)
    if metric == "memory":
        return (
            f"peak memory of {head_label} / peak memory of {base_label} "
            "(violins: the ratios of every pair of worker processes)"
        )
    return f"time of {base_label} / time of {head_label} (violins: the ratios of every pair of values)"


def _ratio_text(ratio: float, metric: str) -> str:
    """The ratio as the tables write it: "1.05x faster" is base/head = 1.05."""
    more, less = ("more", "less") if metric == "memory" else ("faster", "slower")
    if ratio >= 1:
        return f"{ratio:.2f}x {more}"
    return f"{1 / ratio:.2f}x {less}"


def _styles(metric: str, threshold: float | None) -> dict[Verdict | None, _Style]:
    worse = "more memory" if metric == "memory" else "slower"
    limit = f" (> {threshold:.0%} {worse})" if threshold is not None else ""
    plain = _Style(_BLUE, "|", "significant change")
    return {
        # Without a comparison every row is plain; with one, a row it does not cover says so.
        None: _Style(_BLUE, "|", "pairwise ratios") if threshold is None else _Style(_PALE, "|", "no verdict"),
        Verdict.FASTER: plain,
        Verdict.SLOWER_WITHIN_THRESHOLD: plain,
        Verdict.UNCHANGED: _Style(_GREY, "|", "not significant"),
        Verdict.INCONCLUSIVE: _Style(_ORANGE, "D", "inconclusive: measure again", "  inconclusive"),
        Verdict.REGRESSION: _Style(_RED, "X", f"regression{limit}", "  REGRESSION"),
    }


def _draw(
    ax: Axes,
    rows: list[_Row],
    comparison: compare.SuiteComparison | None,
    metric: str,
    title: str,
    axis_label: str,
) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    marked = any(row.verdict is not None for row in rows)
    threshold = comparison.threshold if comparison is not None and marked else None
    styles = _styles(metric, threshold)
    overall_ratio = geometric_mean(row.ratio for row in rows)
    overall_samples = sorted(sample for row in rows for sample in row.samples)
    positions = list(range(1, len(rows) + 2))  # row 1 at the bottom; the overall row on top
    all_samples = [row.samples for row in rows] + [overall_samples]
    colors = [styles[row.verdict].color for row in rows] + ["#404040"]

    # A violin needs spread; a constant row (identical memory in every process) is just its marker.
    drawn = [index for index, samples in enumerate(all_samples) if max(samples) > min(samples)]
    if drawn:
        orientation = _horizontal(ax)
        violins = ax.violinplot(
            [all_samples[index] for index in drawn],
            positions=[positions[index] for index in drawn],
            widths=0.9,
            showmeans=False,
            showextrema=False,
            showmedians=False,
            quantiles=[[0.1, 0.9]] * len(drawn),
            points=_KDE_POINTS,
            **orientation,
        )
        bodies = cast("list[Any]", violins["bodies"])  # typed as one Collection; it is a list of them
        for body, index in zip(bodies, drawn, strict=True):
            body.set_facecolor(colors[index])
            body.set_edgecolor(colors[index])
            body.set_alpha(0.55)
        violins["cquantiles"].set_linestyle(":")
        violins["cquantiles"].set_color("#303030")
        violins["cquantiles"].set_linewidth(0.8)

    # The point ratio of each row (the tables' number), and its text at the right.
    value_axis = ax.get_yaxis_transform()  # x in axes fraction, y in data
    entries = [(row.ratio, styles[row.verdict]) for row in rows]
    entries.append((overall_ratio, _Style("black", "|", "overall", "  geometric mean")))
    for position, (ratio, style) in zip(positions, entries, strict=True):
        ax.plot(
            [ratio],
            [position],
            marker=style.marker,
            color=style.color if style.marker != "|" else "black",
            markersize=7 if style.marker != "|" else 9,
            markeredgewidth=1.5 if style.marker == "|" else 0.8,
            markeredgecolor="black" if style.marker != "|" else None,
            linestyle="none",
            zorder=3,
        )
        emphasis = style.note.strip() in ("REGRESSION", "inconclusive", "geometric mean")
        ax.text(
            1.01,
            position,
            f"{_ratio_text(ratio, metric)}{style.note}",
            transform=value_axis,
            va="center",
            ha="left",
            fontsize=8,
            color=style.color if emphasis else "#202020",
            fontweight="bold" if emphasis else "normal",
        )

    line = ax.axvline(1.0, color="black", linewidth=1.2, zorder=2)
    line.set_gid("ratio-1.0")
    handles: list[Any] = []
    labels: list[str] = []
    if threshold is not None:
        limit = 1 + threshold if metric == "memory" else 1 / (1 + threshold)
        threshold_line = ax.axvline(limit, color=_RED, linewidth=1, linestyle="--", alpha=0.7, zorder=2)
        threshold_line.set_gid("threshold")
        worse = "more memory" if metric == "memory" else "slower"
        handles.append(threshold_line)
        labels.append(f"threshold: {threshold:.0%} {worse}")

    # Axes: bench_runner's "1.00×" ticks at the top and bottom, and at least 0.75× to 1.25× for
    # time; memory moves less, and its violins would be slivers on that scale: at least ±10%.
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:.2f}×"))
    ax.tick_params(axis="x", bottom=True, top=True, labelbottom=True, labeltop=True, labelsize=9)
    low, high = ax.get_xlim()
    least = _LEAST_SPAN[metric]
    ax.set_xlim(min(low, 1 - least), max(high, 1 + least))
    ax.set_ylim(0.3, len(rows) + 2.4)  # room above the overall row for the direction labels
    names = [row.name for row in rows] + ["ALL (geometric mean)"]
    ax.set_yticks(positions)
    ax.set_yticklabels(names, fontsize=8)
    for tick_label, row in zip(ax.get_yticklabels(), rows, strict=False):
        style = styles[row.verdict]
        if style.note:
            tick_label.set_color(style.color)
            tick_label.set_fontweight("bold")
    ax.get_yticklabels()[-1].set_fontweight("bold")
    ax.grid(True, color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel(axis_label, fontsize=9)
    ax.set_title(title, fontsize=11)

    # bench_runner's direction labels, either side of the line at 1.0, at the top.
    less, more = ("less", "more") if metric == "memory" else ("slower", "faster")
    for text, offset, align in ((f"⟵ {less}", -8, "right"), (f"{more} ⟶", 8, "left")):
        ax.annotate(
            text,
            xy=(1.0, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(offset, -5),
            textcoords="offset points",
            ha=align,
            va="top",
            fontsize=10,
            fontweight="bold",
        )

    seen: list[_Style] = []
    for row in rows:
        style = styles[row.verdict]
        if style not in seen:
            seen.append(style)
    order = [styles[Verdict.FASTER], styles[None], styles[Verdict.UNCHANGED]]
    order += [styles[Verdict.INCONCLUSIVE], styles[Verdict.REGRESSION]]
    for style in order:
        if style not in seen or threshold is None:  # without verdicts, all rows look alike
            continue
        patch = Patch(facecolor=style.color, edgecolor=style.color, alpha=0.55)
        if style.marker == "|":
            handles.append(patch)
        else:
            marker = Line2D(
                [],
                [],
                marker=style.marker,
                color=style.color,
                markeredgecolor="black",
                markeredgewidth=0.8,
                linestyle="none",
                markersize=7,
            )
            handles.append((patch, marker))
        labels.append(f"{style.label} ({sum(styles[row.verdict] is style for row in rows)})")
    handles.append(Line2D([], [], marker="|", color="black", linestyle="none", markersize=9, markeredgewidth=1.5))
    labels.append("ratio of means (the tables' number)")
    ax.legend(handles, labels, loc="lower right", fontsize=8, framealpha=0.95)


def plot_flag_effect(effects: dict[str, compare.SuiteComparison], *, title: str,
                     out_stem: Path) -> tuple[list[Path], str | None]:
    """bench_runner's flag-effect plot for one commit: a row per configuration, the violin of its
    results' ratios against the release build of the same commit (speedup ``release / configuration``:
    "faster ⟶" right of 1.0), marked at their geometric mean. Writes out_stem.png and .svg; returns
    them, or ([], one-line reason) as :func:`plot_comparison` does."""
    rows = [(preset, [1.0 / rc.ratio for rc in cmp.results]) for preset, cmp in effects.items() if cmp.results]
    if not rows:
        return [], NO_SHARED_RESULTS
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return [], MATPLOTLIB_MISSING
    out_stem = Path(out_stem)
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = (out_stem.parent / f"{out_stem.name}{suffix}" for suffix in (".png", ".svg"))
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(
            {"svg.hashsalt": _HASH_SALT, "svg.fonttype": "none", "font.sans-serif": ["DejaVu Sans"]}
        )
        figure = Figure(figsize=(_FIGURE_WIDTH, 2.0 + 0.6 * len(rows)), layout="constrained", dpi=_DPI)
        FigureCanvasAgg(figure)
        ax = figure.subplots()
        positions = list(range(len(rows)))
        samples = [values if len(values) > 1 else values * 2 for _, values in rows]  # a violin needs two
        parts = ax.violinplot(samples, positions=positions, showextrema=False, points=_KDE_POINTS,
                              **_horizontal(ax))
        for body in cast(Any, parts["bodies"]):
            body.set_facecolor(_PALE)
            body.set_alpha(0.8)
        low = min(min(values) for _, values in rows)
        high = max(max(values) for _, values in rows)
        for position, (_, values) in zip(positions, rows, strict=True):
            mean = geometric_mean(values)
            ax.scatter(values, [position] * len(values), s=6, color=_GREY, zorder=2)
            ax.plot([mean, mean], [position - 0.35, position + 0.35], color=_BLUE, linewidth=2.5, zorder=3)
            ax.annotate(f"{_ratio_text(mean, 'time')} ({len(values)} results)", (high, position),
                        xytext=(8, 0), textcoords="offset points", va="center", fontsize=8)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_yticks(positions, [preset for preset, _ in rows])
        span = max(abs(1.0 - low), abs(high - 1.0), _LEAST_SPAN["time"])
        ax.set_xlim(max(1.0 - span * 1.1, 0.01), 1.0 + span * 1.6)
        ax.set_xlabel("time of release / time of the configuration (⟵ slower, faster ⟶; bar: geometric mean)")
        ax.set_title(title)
        figure.savefig(png, dpi=_DPI, metadata={"Software": None}, pil_kwargs={"optimize": True})
        figure.savefig(svg, metadata={"Date": None, "Creator": None})
    svg.write_text(_compact_svg(svg.read_text(encoding="utf-8")), encoding="utf-8")
    return [png, svg], None


def _horizontal(ax: Axes) -> dict[str, Any]:
    """Horizontal violins in the matplotlib at hand (``vert`` is deprecated from 3.10)."""
    return {"orientation": "horizontal"} if "orientation" in inspect.signature(ax.violinplot).parameters \
        else {"vert": False}
