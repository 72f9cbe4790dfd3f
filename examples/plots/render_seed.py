"""Render the example plots from the published seed results: 3.12.0a1 (4ae1a0e) vs. 3.11.0.

    python examples/plots/render_seed.py      # needs the plot extra: pip install -e '.[plot]'

writes 3.12.0a1-vs-3.11.0.png (time) and 3.12.0a1-vs-3.11.0-mem.png (peak memory) beside this
file; plot_comparison also writes the SVGs, which are not kept here (about 370 KB each).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyperf

from pytest_cpybench.output import plots
from pytest_cpybench.verdict import compare

HERE = Path(__file__).resolve().parent
SEED = HERE.parent.parent / "tests" / "data" / "seed"
BASE = SEED / "bm-20221024-linux-x86_64-python-deaf509e8fc6e0363bd6-3.11.0-deaf509.json"
HEAD = SEED / "bm-20221025-linux-x86_64-python-4ae1a0ecaffe4320fe97-3.12.0a1-4ae1a0e.json"


def main() -> int:
    base, head = pyperf.BenchmarkSuite.load(str(BASE)), pyperf.BenchmarkSuite.load(str(HEAD))
    comparison = compare.compare_suites(base, head)
    for metric, what, suffix in (("time", "Timings", ""), ("memory", "Memory usage", "-mem")):
        stem = HERE / f"3.12.0a1-vs-3.11.0{suffix}"
        written, reason = plots.plot_comparison(
            base,
            head,
            comparison,
            title=f"{what} of python-4ae1a0e (3.12.0a1) vs. 3.11.0",
            out_stem=stem,
            metric=metric,
        )
        if reason:
            print(reason, file=sys.stderr)
            return 1
        for path in written:
            if path.suffix == ".svg":
                path.unlink()
            else:
                print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
