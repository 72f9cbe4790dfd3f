"""pystats: what the interpreter did differently on base and head, in CPython's own terms.

:func:`pystats_diff` builds each commit with the ``pystats`` preset (``--enable-pystats``, cached like
every build), runs the benchmark's pyperf worker once per side with pyperf's ``--hook pystats``
(statistics on around the timed loops only: not startup, not warmups), and compares the two with
the commit's own ``Tools/scripts/summarize_stats.py``: each side's raw files become that script's
JSON (kept in ``out_dir`` as ``<benchmark>.<base|head>.pystats.json``: ``python summarize_stats.py
A.json B.json`` prints the full comparison), and the script's comparison tables (kept as
``<benchmark>.pystats-comparison.json``) become
:class:`~.model.PystatsChange` rows, counts divided by the loops each side ran, largest change first
(:mod:`.pystats_tables`). It never raises: what cannot be done is the diff's ``unavailable`` line.

CPython writes its statistics into the fixed folder ``/tmp/py_stats/``: the two sides run one at
a time under a machine-wide lock (``STATS_LOCK``), whatever the parallelism of the session, and each
side takes only the files that appeared during its own run (files already there are left alone).
summarize_stats.py compares two runs from CPython 3.12; for older commits the diff is one line
saying so (decided from the sources' version, before building anything).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_cpybench import locks
from pytest_cpybench.cpython import builds, git, targets, venvs
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.errors import BenchmarkError, BuildError, CpybenchError
from pytest_cpybench.explain.model import PystatsDiff
from pytest_cpybench.explain.pystats_tables import base_instructions, changes_from_tables
from pytest_cpybench.measure import processes
from pytest_cpybench.measure.processes import RunOptions, WorkerTask
from pytest_cpybench.suite.definitions import BenchmarkDef

Log = Callable[[str], None]

PRESET = "pystats"
STATS_DIR = Path("/tmp/py_stats")  # where CPython 3.11-3.14 write their statistics (Python/specialize.c)
# Not the folder itself: a lock file there would be read as a statistics file by summarize_stats.py.
STATS_LOCK = Path(tempfile.gettempdir()) / "pytest-cpybench-py_stats.lock"
STATS_WAIT = 30 * 60  # another session's pystats run: a build is not done under the lock, a run is short
SCRIPT = "Tools/scripts/summarize_stats.py"
# What summarize_stats.py reads from its own source tree (SOURCE_DIR = the script's parents[2]) when it
# loads a folder of raw files: the failure-kind and call-kind names. Missing ones are skipped.
SCRIPT_SOURCES = ("Include/cpython/pystats.h", "Python/specialize.c")
FIRST_COMPARABLE = (3, 12)
VALUES = 3  # timed values per side: steady state, as pyperf's values (warmups are not counted)
WARMUPS = 1
SUMMARIZE_TIMEOUT = 300.0


def cannot_compare(version: str) -> str:
    """"" when summarize_stats.py of CPython ``version`` ("3.13.5") compares two runs, else the one line
    that says it cannot."""
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return f"cannot compare pystats on CPython {version}: not a version summarize_stats.py is known for"
    if (major, minor) < FIRST_COMPARABLE:
        return (f"cannot compare pystats on CPython {major}.{minor}: summarize_stats.py compares two runs "
                f"from {FIRST_COMPARABLE[0]}.{FIRST_COMPARABLE[1]}")
    return ""


#######################################
# running


@dataclass(frozen=True)
class _Side:
    label: str  # "base" or "head": file names
    commit: Commit
    build: builds.Build
    venv_python: Path


def pystats_diff(base: Commit, head: Commit, benchmark: BenchmarkDef, out_dir: Path, *, cache_dir: Path,
                 results: Sequence[str] = (), configure_flags: tuple[str, ...] = (), jobs: int = 0,
                 timeout: float = 900.0, log: Log = print) -> PystatsDiff:
    """The pystats comparison of ``benchmark`` (its ``results``' worker tasks; all of them when none is
    named) between the commits ``base`` and ``head``.

    Builds both with the ``pystats`` preset (plus ``configure_flags``) into ``cache_dir`` unless cached,
    makes their venvs, runs the benchmark once per side and compares. ``timeout`` bounds the runs
    (not the builds). Never raises for a missing tool, a failed build, a crash or an old CPython: the
    result's ``unavailable`` says what happened, in one line.
    """
    diff = PystatsDiff(benchmark=benchmark.name, base=base.ref, head=head.ref)
    try:
        for commit in (base, head):
            reason = cannot_compare(targets.source_version(commit))
            if reason:
                diff.unavailable = reason
                return diff
        if os.name == "nt":
            diff.unavailable = "pystats are collected on POSIX systems only (CPython writes them to a fixed folder)"
            return diff
        sides = [_prepare(label, commit, benchmark, cache_dir, configure_flags, jobs, log)
                 for label, commit in (("base", base), ("head", head))]
        started = time.monotonic()
        _compare(diff, sides, benchmark, Path(out_dir), results, timeout, log)
        diff.seconds = round(time.monotonic() - started, 2)
    except BuildError as err:
        diff.unavailable = f"no pystats: the --enable-pystats build failed: {err} (log: {err.log_path})"
    except CpybenchError as err:  # benchmarks, venvs, locks, git, summarize_stats.py
        diff.unavailable = f"no pystats: {_one_line(str(err))}"
    except OSError as err:
        diff.unavailable = f"no pystats: {err}"
    return diff


def _prepare(label: str, commit: Commit, benchmark: BenchmarkDef, cache_dir: Path,
             configure_flags: tuple[str, ...], jobs: int, log: Log) -> _Side:
    request = builds.BuildRequest(commit=commit, preset=PRESET, configure_flags=configure_flags, jobs=jobs)
    build = builds.ensure_build(request, cache_dir, log)
    env = build.run_env() or None
    venv_python = venvs.ensure_venv(build.python, cache_dir, key=build.key, env=env, log=log)
    venvs.install_requirements(venv_python, benchmark, env=env, log=log)
    return _Side(label, commit, build, venv_python)


def _compare(diff: PystatsDiff, sides: list[_Side], benchmark: BenchmarkDef, out_dir: Path, results: Sequence[str],
             timeout: float, log: Log) -> None:
    options = RunOptions(mode="default", timeout=timeout, deadline=time.monotonic() + timeout)
    # One calibration for both sides: the same loops make the raw files comparable as they are.
    tasks = processes.calibrate(sides[0].venv_python, benchmark, options, sides[0].build.run_env())
    tasks = [task for task in tasks if task.name in results] or tasks
    diff.results = [task.name for task in tasks]
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"cpybench-pystats-{benchmark.name}-") as work:
        jsons = []
        for side in sides:
            raw_dir = Path(work) / side.label
            diff.loops[side.label] = _collect(side, benchmark, tasks, options, raw_dir, log)
            kept = out_dir / f"{benchmark.name}.{side.label}.pystats.json"
            _summarize(side, raw_dir, kept, Path(work) / f"{side.label}-src")
            diff.files[side.label] = str(kept)
            jsons.append(kept)
        tables = _comparison_tables(sides[1], jsons[0], jsons[1], Path(work) / f"{sides[1].label}-src")
    # The tables the ranking read, beside the two files: what was ranked can be ranked again.
    comparison = out_dir / f"{benchmark.name}.pystats-comparison.json"
    comparison.write_text(json.dumps({"loops": diff.loops, "tables": tables}, indent=1) + "\n")
    diff.files["comparison"] = str(comparison)
    diff.changes = changes_from_tables(tables, diff.loops["base"], diff.loops["head"])
    diff.instructions = base_instructions(tables) / max(diff.loops["base"], 1)
    log(f"{benchmark.name}: pystats compared ({len(diff.changes)} counts changed)")


def _collect(side: _Side, benchmark: BenchmarkDef, tasks: list[WorkerTask], options: RunOptions,
             raw_dir: Path, log: Log) -> int:
    """Run every task of the benchmark once with statistics on; move the raw files CPython wrote into
    ``raw_dir``. Returns the loops they count (values x loops x inner loops, over the tasks)."""
    raw_dir.mkdir(parents=True)
    env = processes.worker_environ(options, side.build.run_env())
    loops = 0
    with _stats_folder(log) as new_files:
        for task in tasks:
            output = raw_dir.parent / f"{side.label}-{task.index}.json"
            command = [*processes.worker_command(side.venv_python, benchmark), f"--worker-task={task.index}",
                       f"--loops={task.loops}", f"--values={VALUES}", f"--warmups={WARMUPS}", "--hook", "pystats",
                       f"--output={output}"]
            log(f"{benchmark.name}: pystats run of {side.commit.ref} ({side.label}), {task.name}")
            returncode, tail = processes.run_bounded(command, options, str(raw_dir.parent), benchmark.name, env)
            try:
                processes.check_exit(returncode, tail, benchmark.name, options)
            except BenchmarkError as err:
                raise BenchmarkError(f"{err} in its pystats run on {side.commit.ref}: "
                                     f"{_one_line(err.stderr_tail)}") from None
            loops += VALUES * task.loops * task.inner_loops
        written = new_files()
        if not written:
            raise CpybenchError(f"the pystats run of {side.commit.ref} wrote no statistics into {STATS_DIR}")
        for path in written:
            shutil.move(str(path), raw_dir / path.name)
    return loops


@contextlib.contextmanager
def _stats_folder(log: Log) -> Iterator[Callable[[], list[Path]]]:
    """Hold the machine-wide pystats lock; yield a function listing the files CPython added to
    ``STATS_DIR`` since the lock was taken (files already there belong to someone else: left alone)."""
    with locks.exclusive(STATS_LOCK, purpose="collecting pystats", timeout=STATS_WAIT, log=log,
                         waiting_for=f"another session collecting pystats in {STATS_DIR}"):
        STATS_DIR.mkdir(parents=True, exist_ok=True)
        before = {path.name for path in STATS_DIR.iterdir()}
        yield lambda: sorted(path for path in STATS_DIR.iterdir() if path.name not in before and path.is_file())


def _script_tree(commit: Commit, folder: Path) -> Path:
    """The commit's summarize_stats.py in a tree of the sources it reads (its SOURCE_DIR)."""
    if not folder.is_dir():
        for relpath in (SCRIPT, *SCRIPT_SOURCES):
            try:
                text = git.read_source_file(commit, relpath)
            except CpybenchError:
                if relpath == SCRIPT:
                    raise CpybenchError(f"{commit.ref} ({commit.short}) has no {SCRIPT}") from None
                continue
            target = folder / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    return folder / SCRIPT


def _summarize(side: _Side, raw_dir: Path, json_path: Path, tree: Path) -> None:
    """summarize_stats.py --json-output, run by the side's own interpreter (it reads that interpreter's
    ``opcode`` module)."""
    script = _script_tree(side.commit, tree)
    _run_script([str(side.build.python), str(script), "--json-output", str(json_path), str(raw_dir)],
                side, f"summarize_stats.py of {side.commit.ref}")
    if not json_path.is_file():
        raise CpybenchError(f"summarize_stats.py of {side.commit.ref} wrote no {json_path}")


def _comparison_tables(head: _Side, base_json: Path, head_json: Path, tree: Path) -> list[dict[str, Any]]:
    script = _script_tree(head.commit, tree)
    output = _run_script([str(head.build.python), "-c", _TABLES_SCRIPT, str(script), str(base_json),
                          str(head_json)], head, f"summarize_stats.py of {head.commit.ref} comparing")
    try:
        data = json.loads(output)
        if "unsupported" in data:
            raise CpybenchError(f"summarize_stats.py of {head.commit.ref} has no comparison tables this version "
                                f"reads (it lacks {', '.join(data['unsupported'])}); compare the raw files with it")
        return [dict(table, path=list(table["path"]), columns=list(table["columns"]), rows=list(table["rows"]))
                for table in data["tables"]]
    except (ValueError, KeyError, TypeError) as err:
        raise CpybenchError(f"could not read the comparison of summarize_stats.py of {head.commit.ref}: "
                            f"{err!r}") from None


def _run_script(argv: list[str], side: _Side, what: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=SUMMARIZE_TIMEOUT,
                              env=venvs.target_environ(side.build.run_env()), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise CpybenchError(f"{what} could not run: {err}") from None
    if done.returncode != 0:
        raise CpybenchError(f"{what} failed (exit {done.returncode}): {_one_line(done.stderr)}")
    return done.stdout


def _one_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


# Run by the head's interpreter: walks summarize_stats.py's own LAYOUT as its markdown output does, in
# comparison mode, and prints every table as JSON (counts as ints, ratios as null, documented labels as
# their text), so the rows, their joins and their order are the script's own.
_TABLES_SCRIPT = r"""
import importlib.util, json, sys
from pathlib import Path
script, base_path, head_path = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("summarize_stats", script)
mod = importlib.util.module_from_spec(spec)
sys.modules["summarize_stats"] = mod
spec.loader.exec_module(mod)
missing = [name for name in ("LAYOUT", "Stats", "Section", "Table", "load_raw_data") if not hasattr(mod, name)]
if missing:
    print(json.dumps({"unsupported": missing}))
    sys.exit(0)
base = mod.Stats(mod.load_raw_data(Path(base_path)))
head = mod.Stats(mod.load_raw_data(Path(head_path)))
Doc = getattr(mod, "Doc", None)
Ratio = getattr(mod, "Ratio", None)

def cell(value):
    if Doc is not None and isinstance(value, Doc):
        return value.text
    if Ratio is not None and isinstance(value, Ratio):
        return None
    if isinstance(value, int):
        return int(value)
    if value is None or isinstance(value, (str, float)):
        return value
    return str(value)

tables = []

def walk(part, path):
    if isinstance(part, mod.Section):
        if not part.comparative:
            return
        inner = path + [part.title] if part.title else path
        for child in part.part_iter(base, head):
            walk(child, inner)
    elif isinstance(part, mod.Table):
        columns, rows = part.get_table(base, head)
        tables.append({"path": path, "columns": [str(c) for c in columns],
                       "rows": [[cell(c) for c in row] for row in rows]})
    elif isinstance(part, list):
        for child in part:
            walk(child, path)

walk(mod.LAYOUT, [])
print(json.dumps({"tables": tables}))
"""
