"""plots.py: the comparison plots (PNG and SVG), from the published seed results and small made-up
suites; and, in a subprocess where ``import matplotlib`` fails, the one-line reason instead."""

from __future__ import annotations

import dataclasses
import json
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import pyperf
import pytest
from seed import BASE_3_11, HEAD_FILE

from pytest_cpybench.output import plots
from pytest_cpybench.verdict import compare
from pytest_cpybench.verdict.stats import Verdict

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"
MATPLOTLIB_MISSING = "plots skipped: matplotlib is not installed (pip install 'pytest-cpybench[plot]')"
NO_MEMORY_DATA = "no memory data (mem_max_rss) in these results"


@pytest.fixture(scope="module")
def matplotlib() -> object:
    return pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def seed() -> tuple[pyperf.BenchmarkSuite, pyperf.BenchmarkSuite, compare.SuiteComparison]:
    base, head = pyperf.BenchmarkSuite.load(str(BASE_3_11)), pyperf.BenchmarkSuite.load(str(HEAD_FILE))
    return base, head, compare.compare_suites(base, head)


def subset(suite: pyperf.BenchmarkSuite, names: Iterable[str]) -> pyperf.BenchmarkSuite:
    return pyperf.BenchmarkSuite([suite.get_benchmark(name) for name in names])


def made_up_suite(name_values: dict[str, list[float]], *, memory: int | None = None) -> pyperf.BenchmarkSuite:
    """Three runs of each result with the given values; ``memory`` as every run's mem_max_rss."""
    benchmarks = []
    for name, values in name_values.items():
        run_metadata: dict[str, object] = {"name": name}
        if memory is not None:
            run_metadata["mem_max_rss"] = memory
        runs = [pyperf.Run(values, metadata=run_metadata, collect_metadata=False) for _ in range(3)]
        benchmarks.append(pyperf.Benchmark(runs))
    return pyperf.BenchmarkSuite(benchmarks)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def svg_texts(path: Path) -> list[str]:
    """Every text element of the SVG (it parses as XML, or this fails)."""
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    return ["".join(element.itertext()).strip() for element in root.iter(f"{SVG}text")]


def svg_ids(path: Path) -> set[str]:
    return {element.get("id", "") for element in ET.parse(path).getroot().iter()}


def test_seed_time_plot(matplotlib: object, seed: tuple, tmp_path: Path) -> None:
    base, head, comparison = seed
    stem = tmp_path / "plots" / "bm-4ae1a0e-3.12.0a1-vs-3.11.0"  # dots in the stem stay
    written, reason = plots.plot_comparison(base, head, comparison, title="3.12.0a1 vs. 3.11.0", out_stem=stem)
    assert reason is None
    png, svg = tmp_path / "plots" / f"{stem.name}.png", tmp_path / "plots" / f"{stem.name}.svg"
    assert written == [png, svg]
    assert sorted(path.name for path in (tmp_path / "plots").iterdir()) == sorted([png.name, svg.name])

    width, height = png_size(png)
    assert height > 2 * width  # 93 rows and the overall row: a tall figure

    texts = svg_texts(svg)
    assert "3.12.0a1 vs. 3.11.0" in texts
    assert "⟵ slower" in texts and "faster ⟶" in texts
    assert "ratio-1.0" in svg_ids(svg)  # the line at 1.0
    assert "ALL (geometric mean)" in texts
    assert len(comparison.results) == 93
    for result in comparison.results:
        assert result.name in texts
    # The overall row says the headline (1.03x faster), as the published page does.
    assert f"{1 / comparison.geometric_mean:.2f}x faster  geometric mean" in texts
    # The two inconclusive results of the seed are marked, and counted in the legend.
    inconclusive = [rc for rc in comparison.results if rc.verdict is Verdict.INCONCLUSIVE]
    assert {rc.name for rc in inconclusive} == {"async_tree_memoization", "sqlite_synth"}
    for rc in inconclusive:
        assert f"{rc.ratio:.2f}x slower  inconclusive" in texts
    assert "inconclusive: measure again (2)" in texts
    assert "threshold: 5% slower" in texts
    assert not any("REGRESSION" in text for text in texts)


def test_regressions_are_marked(matplotlib: object, seed: tuple, tmp_path: Path) -> None:
    base, head, _ = seed
    comparison = compare.compare_suites(base, head, threshold=0.01)
    regressions = [rc for rc in comparison.results if rc.verdict is Verdict.REGRESSION]
    assert regressions  # at 1%, some of the seed's slowdowns are significant beyond the threshold
    # Those rows and three others (the whole seed's plot, a second or so to draw: test_seed_time_plot).
    names = [rc.name for rc in regressions] + [rc.name for rc in comparison.results if rc not in regressions][:3]
    written, reason = plots.plot_comparison(subset(base, names), subset(head, names), comparison, title="1%",
                                            out_stem=tmp_path / "strict")
    assert reason is None
    texts = svg_texts(written[1])
    assert f"regression (> 1% slower) ({len(regressions)})" in texts
    for rc in regressions:
        assert f"{rc.ratio:.2f}x slower  REGRESSION" in texts


def test_without_a_comparison_no_verdicts(matplotlib: object, seed: tuple, tmp_path: Path) -> None:
    base, head, comparison = seed
    names = [rc.name for rc in comparison.results[:5]]
    written, reason = plots.plot_comparison(
        subset(base, names), subset(head, names), None, title="five", out_stem=tmp_path / "five"
    )
    assert reason is None
    texts = svg_texts(written[1])
    assert set(names) <= set(texts)
    assert not any(word in text for text in texts for word in ("inconclusive", "REGRESSION", "threshold"))


def test_height_grows_with_rows_and_output_is_deterministic(matplotlib: object, seed: tuple, tmp_path: Path) -> None:
    base, head, comparison = seed
    sizes = {}
    for count in (3, 12):
        names = [rc.name for rc in comparison.results[:count]]
        outputs = []
        for attempt in ("first", "second"):
            written, reason = plots.plot_comparison(
                subset(base, names), subset(head, names), comparison, title="t", out_stem=tmp_path / attempt / "p"
            )
            assert reason is None
            outputs.append([path.read_bytes() for path in written])
        assert outputs[0] == outputs[1], "a rerun on the same data must write the same bytes"
        sizes[count] = png_size(tmp_path / "first" / "p.png")
    assert sizes[3][0] == sizes[12][0]
    assert sizes[12][1] > sizes[3][1] + 9 * 20  # at least 20 pixels per added row


def test_user_matplotlib_settings_are_left_alone(matplotlib: object, tmp_path: Path) -> None:
    import matplotlib as mpl

    base, head = made_up_suite({"a": [1.0, 1.1]}), made_up_suite({"a": [0.9, 1.0]})
    with mpl.rc_context({"svg.fonttype": "path", "font.size": 20.0}):
        written, reason = plots.plot_comparison(base, head, None, title="t", out_stem=tmp_path / "p")
        assert reason is None
        assert mpl.rcParams["svg.fonttype"] == "path" and mpl.rcParams["font.size"] == 20.0
    assert "a" in svg_texts(written[1])  # text stayed text despite the user's svg.fonttype


def test_seed_memory_plot(matplotlib: object, seed: tuple, tmp_path: Path) -> None:
    base, head, comparison = seed
    written, reason = plots.plot_comparison(
        base, head, comparison, title="memory", out_stem=tmp_path / "mem", metric="memory"
    )
    assert reason is None
    assert written == [tmp_path / "mem.png", tmp_path / "mem.svg"]
    png_size(written[0])
    texts = svg_texts(written[1])
    assert "⟵ less" in texts and "more ⟶" in texts
    assert "ratio-1.0" in svg_ids(written[1])
    for result in comparison.results:  # every seed result has mem_max_rss (or command_max_rss)
        assert result.name in texts
    # A timing comparison holds no memory verdicts: nothing is marked.
    assert not any(word in text for text in texts for word in ("inconclusive", "REGRESSION", "threshold"))


def test_memory_verdicts_come_from_a_memory_comparison(matplotlib: object, seed: tuple, tmp_path: Path) -> None:
    base, head, comparison = seed
    names = ["json_dumps", "generators", "go"]
    memory = dataclasses.replace(
        comparison,
        results=[
            dataclasses.replace(rc, unit="byte", verdict=Verdict.REGRESSION if rc.name == "go" else Verdict.UNCHANGED)
            for rc in comparison.results
            if rc.name in names
        ],
        threshold=0.02,
    )
    written, reason = plots.plot_comparison(
        subset(base, names), subset(head, names), memory, title="m", out_stem=tmp_path / "m", metric="memory"
    )
    assert reason is None
    texts = svg_texts(written[1])
    assert "regression (> 2% more memory) (1)" in texts
    assert any(text.endswith("more  REGRESSION") for text in texts)
    assert "not significant (2)" in texts


def test_memory_rows_without_data_are_left_out(matplotlib: object, tmp_path: Path) -> None:
    base = pyperf.BenchmarkSuite(
        made_up_suite({"kept": [1.0, 1.1]}, memory=1000).get_benchmarks()
        + made_up_suite({"dropped": [1.0]}).get_benchmarks()
    )
    head = made_up_suite({"kept": [1.0, 1.2], "dropped": [1.0]}, memory=1000)  # constant: no violin, a marker
    written, reason = plots.plot_comparison(base, head, None, title="t", out_stem=tmp_path / "m", metric="memory")
    assert reason is None
    texts = svg_texts(written[1])
    assert "kept" in texts and "dropped" not in texts
    assert "1.00x more  geometric mean" in texts


def test_no_memory_data(tmp_path: Path) -> None:
    base, head = made_up_suite({"a": [1.0, 1.1]}), made_up_suite({"a": [0.9, 1.0]})
    assert plots.plot_comparison(base, head, None, title="t", out_stem=tmp_path / "m", metric="memory") == (
        [],
        NO_MEMORY_DATA,
    )
    assert list(tmp_path.iterdir()) == []


def test_no_shared_results_and_bad_metric(tmp_path: Path) -> None:
    base, head = made_up_suite({"a": [1.0, 1.1]}), made_up_suite({"b": [0.9, 1.0]})
    written, reason = plots.plot_comparison(base, head, None, title="t", out_stem=tmp_path / "p")
    assert written == [] and reason and "\n" not in reason
    with pytest.raises(ValueError, match="metric"):
        plots.plot_comparison(base, base, None, title="t", out_stem=tmp_path / "p", metric="cpu")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("subprocesses")
def test_without_matplotlib_one_line_reason_and_no_files(tmp_path: Path) -> None:
    """For real: a fresh interpreter where ``import matplotlib`` fails, as when it is not installed."""
    script = f"""
import json, sys
from pathlib import Path
sys.modules["matplotlib"] = None  # "import matplotlib" now raises ImportError
import pyperf
from pytest_cpybench.output import plots
from pytest_cpybench.verdict import compare
base = pyperf.BenchmarkSuite.load({str(BASE_3_11)!r})
head = pyperf.BenchmarkSuite.load({str(HEAD_FILE)!r})
written, reason = plots.plot_comparison(
    base, head, compare.compare_suites(base, head), title="t", out_stem=Path({str(tmp_path / "out" / "p")!r})
)
print(json.dumps([[str(path) for path in written], reason]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [[], MATPLOTLIB_MISSING]
    assert list(tmp_path.iterdir()) == []
