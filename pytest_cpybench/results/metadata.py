"""Names of the metadata we stamp on every benchmark of a results file.

Where faster-cpython's bench_runner already has a key (``commit_id``, ``commit_fork``,
``commit_branch``, ``commit_date``, ``benchmark_hash``) we use it, so our files and theirs
compare with each other; our own keys carry the ``cpybench_`` prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyperf


COMMIT_ID = "commit_id"  # 7-character sha, as bench_runner
COMMIT_FORK = "commit_fork"  # "python" for upstream, else the fork's owner
COMMIT_BRANCH = "commit_branch"  # the ref the user asked for
COMMIT_DATE = "commit_date"  # ISO 8601 committer date
BENCHMARK_HASH = "benchmark_hash"  # hash of the benchmark definitions that ran
PERFORMANCE_VERSION = "performance_version"  # pyperformance version (set by pyperformance too)

FULL_SHA = "cpybench_commit"
REPO = "cpybench_repo"
BUILD_PRESET = "cpybench_build"
CONFIGURE_FLAGS = "cpybench_configure"  # extra ./configure flags ("" is stored as "none")
BUILD_KEY = "cpybench_build_key"  # hash of everything that makes two builds the same
MACHINE = "cpybench_machine"
PYTHON_VERSION = "cpybench_python_version"  # e.g. "3.13.5"
WORKTREE_HASH = "cpybench_worktree"  # for WORKTREE builds: hash of the uncommitted changes
BENCHMARK_NAME = "cpybench_benchmark"  # per result: the pyperformance benchmark that produced it
DEFINITION_HASH = "cpybench_definition"  # per result: hash of that benchmark's definition files
VENV_LAYOUT = "cpybench_venv"  # per result: the layout of the venv it ran in (what it had installed)
# Per process (pyperf run): how many other sides of its round ran at the same time, on cores of
# their own (--cpython-parallel); absent: it ran alone (xdist workers measuring other benchmarks
# at the same time are not counted). Contention can shift times, so results measured alongside
# and alone are compared only with a margin (compare.load_of, compare.contention_widened).
ALONGSIDE = "cpybench_alongside"
# Per result: its benchmark stopped being measured before this result was decided, because another
# of its results had failed (--cpython-decide=item). Reported as it stood; never a baseline.
PARTIAL = "cpybench_partial"
MODE = "cpybench_mode"  # pyperf mode of the run: default, fast, rigorous or debug (never a baseline)
# What the values are: "time" (pyperf's seconds; also when the key is absent) or "instructions"
# (instructions per loop counted by cachegrind, unit "integer"). Never compared with each other.
METRIC = "cpybench_metric"
METRIC_TIME = "time"
METRIC_INSTRUCTIONS = "instructions"
METRICS = (METRIC_TIME, METRIC_INSTRUCTIONS)
# Per result of instruction counts: how many times each side was counted (its runs, one value each).
# A result counted once has no spread: its interval comes from how far counts of one interpreter repeat
# (stats.count_interval); absent (results counted before the key existed): three.
REPETITIONS = "cpybench_repetitions"

# Keys whose difference between two results means "not the same benchmark suite" (the `*`).
# Per result, DEFINITION_HASH is more precise than BENCHMARK_HASH (which covers the whole
# selection of a session) and replaces it when both sides have it.
SUITE_IDENTITY_KEYS = (PERFORMANCE_VERSION, BENCHMARK_HASH)


def add_to_results(suite: pyperf.BenchmarkSuite, values: Mapping[str, object], *,
                   keep_existing: bool = False) -> pyperf.BenchmarkSuite:
    """Put ``values`` on every result of ``suite`` (in place; the suite is returned).

    Empty values are left out (pyperf refuses them). ``keep_existing``: a value a result already
    has for a key wins (session facts must not overwrite what a result says of itself).
    """
    clean = {key: value for key, value in values.items() if value not in ("", None)}
    for result in suite.get_benchmarks():
        current = result.get_metadata()
        result.update_metadata({key: value for key, value in clean.items()
                                if not keep_existing or current.get(key, value) == value})
    return suite


def metric_of(metadata: Mapping[str, object]) -> str:
    """The metric of a result (or suite) from its metadata: results written before the key existed are time."""
    return str(metadata.get(METRIC) or METRIC_TIME)


def suite_value(suite: pyperf.BenchmarkSuite, key: str) -> object | None:
    """A metadata value shared by the suite, else its first result's (None: neither has it)."""
    value = suite.get_metadata().get(key)
    if value is None and suite.get_benchmarks():
        value = suite.get_benchmarks()[0].get_metadata().get(key)
    return value


def mark_results(suite: pyperf.BenchmarkSuite, names: set[str], values: Mapping[str, object]) -> None:
    """Put ``values`` on the results of ``suite`` named in ``names`` (in place)."""
    for result in suite.get_benchmarks():
        if result.get_name() in names:
            result.update_metadata(dict(values))
