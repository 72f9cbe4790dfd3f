"""Longitudinal plots of a series, as bench_runner draws its longitudinal plot: the commits in
order along x, each commit's result as a ratio to the series' first commit along y. Ours adds each
commit's interval (its process means' spread), the levels between change points, and the change
points themselves: a band over the commits the change may have entered in, its step written above.

matplotlib is optional (the ``plot`` extra), imported only here, with its Agg renderer and no
pyplot; the files carry no date, so the same data writes the same bytes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

from pytest_cpybench.history.detect import ChangePoint
from pytest_cpybench.history.series import LineCommit, Series

MATPLOTLIB_MISSING = "plots skipped: matplotlib is not installed (pip install 'pytest-cpybench[plot]')"
_HASH_SALT = "pytest-cpybench"
_DPI = 100
_MOST_TICKS = 12
_BLUE, _RED, _GREEN, _GREY = "#1f77b4", "#d62728", "#2ca02c", "#7f7f7f"


def plot_series(series: Series, changes: Sequence[ChangePoint], line: Sequence[LineCommit], *, title: str,
                out_stem: Path) -> tuple[list[Path], str | None]:
    """Write out_stem.png and out_stem.svg; ([], why) when there is nothing to draw or no matplotlib."""
    if not series.points:
        return [], f"no plot of {series.name}: no commit measured"
    try:
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return [], MATPLOTLIB_MISSING
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = (out_stem.parent / f"{out_stem.name}{suffix}" for suffix in (".png", ".svg"))
    with matplotlib.rc_context():
        matplotlib.rcdefaults()  # the user's matplotlibrc must not change our files
        matplotlib.rcParams.update({"svg.hashsalt": _HASH_SALT, "svg.fonttype": "none",
                                    "font.sans-serif": ["DejaVu Sans"]})
        figure = Figure(figsize=(10, 4.2), layout="constrained", dpi=_DPI)
        FigureCanvasAgg(figure)
        _draw(figure.subplots(), series, changes, line, title)
        figure.savefig(png, dpi=_DPI, metadata={"Software": None}, pil_kwargs={"optimize": True})
        figure.savefig(svg, metadata={"Date": None, "Creator": None})
    return [png, svg], None


def _draw(ax: object, series: Series, changes: Sequence[ChangePoint], line: Sequence[LineCommit],
          title: str) -> None:
    from matplotlib.axes import Axes
    from matplotlib.ticker import FuncFormatter

    assert isinstance(ax, Axes)
    points = series.points
    base = points[0].estimate
    xs = [p.index for p in points]
    ys = [math.exp(p.estimate - base) for p in points]
    spread = [1.96 * p.noise for p in points]
    low = [y - math.exp(p.estimate - base - s) for y, p, s in zip(ys, points, spread, strict=True)]
    high = [math.exp(p.estimate - base + s) - y for y, p, s in zip(ys, points, spread, strict=True)]
    ax.errorbar(xs, ys, yerr=[low, high], fmt="o-", color=_BLUE, markersize=4, linewidth=1, elinewidth=0.8,
                capsize=2, zorder=3, label=f"{series.name} (95% interval of each commit)")
    ax.axhline(1.0, color="black", linewidth=0.8, zorder=1)
    # The levels between change points: the mean of each segment.
    edges = [0, *(next(i for i, p in enumerate(points) if p.index == c.after.index) for c in changes), len(points)]
    for start, end in itertools.pairwise(edges):
        segment = points[start:end]
        if segment:
            level = math.exp(sum(p.estimate for p in segment) / len(segment) - base)
            ax.hlines(level, segment[0].index, segment[-1].index, color=_GREY, linestyle="--", linewidth=1, zorder=2)
    for change in changes:
        color = _RED if change.is_slowdown else _GREEN
        ax.axvspan(change.before.index, change.after.index, color=color, alpha=0.15, zorder=0)
        ax.annotate(f"{change.step.ratio:.3f}x", xy=((change.before.index + change.after.index) / 2, 1.0),
                    xycoords=("data", "axes fraction"), xytext=(0, -4), textcoords="offset points",
                    ha="center", va="top", fontsize=8, color=color, fontweight="bold")
    stride = max(1, math.ceil(len(points) / _MOST_TICKS))
    ticks = [p.index for p in points[::stride]]
    ax.set_xticks(ticks)
    ax.set_xticklabels([line[i].short if i < len(line) else str(i) for i in ticks], rotation=45, ha="right",
                       fontsize=7, family="monospace")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:.2f}×"))
    ax.set_xlabel("commit (first-parent order; gaps are commits not measured)", fontsize=9)
    ax.set_ylabel(f"{'time' if series.group.metric == 'time' else 'instructions'} / first commit's", fontsize=9)
    ax.grid(True, color="#e6e6e6", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
