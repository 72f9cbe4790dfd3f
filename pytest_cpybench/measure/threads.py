"""Thread scaling of a free-threaded build: the suite's thread-using benchmarks at 1 and N threads.

pyperformance 1.14 has one benchmark that runs Python code in threads: ``concurrent_imap``, whose
``bench_thread_pool(c, n, chunk)`` maps a trivial function over ``n`` items through a
``ThreadPool(c)`` (and ``bench_mp_pool`` the same through processes). Its runscript fixes ``c`` at 2
and has no option for it, so the benchmark as pyperformance runs it cannot say how a build scales.
Here its own function is imported from its runscript and called with ``c`` = 1 and ``c`` = N (the
CPUs the session may use), alternately in one process, the same work (``n`` items) each time:
the scaling ratio is the median time with 1 thread over the median time with N (above 1: N threads
are faster). The work per item is trivial, so the ratio measures how the pool's hand-offs scale,
which is where a GIL or its absence shows first; it is reported, never a verdict.
"""

from __future__ import annotations

import json
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

# benchmark -> the function of its runscript that takes the thread count first, and its other arguments
THREAD_BENCHMARKS: dict[str, tuple[str, tuple[int, ...]]] = {
    "concurrent_imap": ("bench_thread_pool", (1000, 10)),
}
REPEATS = 15  # per thread count; the calls take milliseconds

# Run by the benchmark's venv interpreter: import the runscript (its __main__ block does not run),
# time the function at each thread count in turn, print the times as JSON.
_DRIVER = """\
import importlib.util, json, sys, time
path, name, counts, repeats = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
args = json.loads(sys.argv[5])
spec = importlib.util.spec_from_file_location("_cpybench_threads", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
function = getattr(module, name)
function(counts[-1], *args)  # warm up: threads, the pool's imports
times = {str(c): [] for c in counts}
for _ in range(repeats):
    for count in counts:
        started = time.perf_counter()
        function(count, *args)
        times[str(count)].append(time.perf_counter() - started)
gil = getattr(sys, "_is_gil_enabled", lambda: True)()
print(json.dumps({"times": times, "gil": gil}))
"""


@dataclass(frozen=True)
class Scaling:
    """One interpreter's times of one thread-using function at 1 and N threads."""

    benchmark: str
    function: str
    threads: int  # N
    one: list[float]  # seconds per call with 1 thread
    many: list[float]  # with N threads
    gil: bool  # whether the GIL was enabled while it ran

    @property
    def ratio(self) -> float:
        """Median time with 1 thread / median time with N threads: above 1, N threads are faster."""
        return statistics.median(self.one) / statistics.median(self.many)

    def text(self, label: str) -> str:
        gil = "GIL enabled" if self.gil else "GIL disabled"
        return (f"{label}: {self.benchmark}'s {self.function} at 1 and {self.threads} threads ({gil}): "
                f"{statistics.median(self.one) * 1e3:.2f} ms and {statistics.median(self.many) * 1e3:.2f} ms, "
                f"scaling {self.ratio:.2f}x ({len(self.one)} calls each, medians)")


def thread_benchmark(name: str) -> tuple[str, tuple[int, ...]] | None:
    return THREAD_BENCHMARKS.get(name)


def measure_scaling(venv_python: Path, runscript: str, benchmark: str, threads: int,
                    env: dict[str, str] | None = None, repeats: int = REPEATS, timeout: float = 300.0) -> Scaling:
    """Time ``benchmark``'s thread-using function at 1 and ``threads`` threads under ``venv_python``
    (RuntimeError with the interpreter's last line when it fails)."""
    function, args = THREAD_BENCHMARKS[benchmark]
    argv = [str(venv_python), "-c", _DRIVER, runscript, function, json.dumps([1, threads]), str(repeats),
            json.dumps(list(args))]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{benchmark}'s {function} failed at 1 and {threads} threads: {last}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Scaling(benchmark, function, threads, data["times"]["1"], data["times"][str(threads)], bool(data["gil"]))
