"""The plugin's options, in one table, and the settings object they become.

Each option exists on the command line (``--cpython-ref``) and as an ini key with the same
name in pytest's spelling (``cpython_ref``); the command line wins. ``Settings`` is plain
data, so the core modules never see pytest.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

import platformdirs

from pytest_cpybench.cpython import builds
from pytest_cpybench.cpython.builds import BuildConfig
from pytest_cpybench.errors import CpybenchError
from pytest_cpybench.measure import cpus
from pytest_cpybench.measure.interleaved import DEFAULT_ROUNDS, Budget
from pytest_cpybench.measure.processes import MODES
from pytest_cpybench.results import metadata as md
from pytest_cpybench.results.identity import default_machine
from pytest_cpybench.results.store import SAVE_MODES, SaveMode
from pytest_cpybench.verdict import stats

CONFIRM_MODES = ("auto", "always", "never")
# --cpython-threshold when it is not given, by --cpython-metric.
DEFAULT_THRESHOLDS = {md.METRIC_TIME: "5%", md.METRIC_INSTRUCTIONS: "1%"}
# A threshold outside this range is a typo ("500%") or meaningless ("0%").
THRESHOLD_RANGE = (0.001, 1.0)
# --cpython-budget=auto: a benchmark stops before it has cost, per side measured, this many times
# what `pyperformance run` would spend on it measuring one side (two sides: issue 11's cap of 2x),
# however many rounds remain.
AUTO_PYPERFORMANCE_MULTIPLE = 1.0


@dataclass(frozen=True)
class Option:
    name: str  # command line, without the leading dashes
    help: str
    default: str | None = None
    ini_type: Literal["string", "linelist"] = "string"  # "linelist": one value per line

    @property
    def ini(self) -> str:
        return self.name.replace("-", "_")


OPTIONS: tuple[Option, ...] = (
    Option("cpython-ref", "Git ref of CPython to build and benchmark: sha, tag, branch, owner:branch "
           "(fork, with a URL repo) or WORKTREE (your clone's working tree, uncommitted changes included)."),
    Option("cpython-repo", "CPython repository (path or URL). Default: the current directory when it is a "
           "CPython clone, else the upstream repository."),
    Option("cpython-build", "Build preset: " + ", ".join(builds.PRESETS) + f" (default {builds.DEFAULT_PRESET}).",
           builds.DEFAULT_PRESET),
    Option("cpython-configure", "Extra ./configure flags, as one string (quoted like in a shell).", ""),
    Option("cpython-python", "Use this existing interpreter instead of building one."),
    Option("cpython-cache-dir", "Where builds, repository mirrors and benchmark venvs are cached "
           "(default: the user cache directory)."),
    Option("cpython-jobs", "Parallel make jobs (default: all cores).", "0"),
    Option("cpython-benchmarks", "Benchmarks to collect, in pyperformance's -b syntax: names, groups, "
           "-name to exclude (default: all)."),
    Option("cpython-manifest", "Extra benchmark manifest (pyperformance format); repeatable.", None, "linelist"),
    Option("cpython-mode", "pyperf mode: default, fast, rigorous or debug (one value).", "default"),
    Option("cpython-timeout", "Seconds one benchmark may take, all its processes on every side together; "
           "adaptive sampling stops in time, a benchmark still running then is stopped and errors.", "900"),
    Option("cpython-affinity", "CPU list for pyperf workers, e.g. 1 or 0-1 (pyperf --affinity)."),
    Option("cpython-parallel", "Interleaved sides: yes runs the head's and the baseline's worker of a round at "
           "the same time, each on its own physical core (when there is one per side), in about half the time; "
           "its results are marked, and compared with results measured alone only with a margin. no "
           "(default) runs them one after another.", "no"),
    Option("cpython-inherit-env", "Extra environment variables pyperf workers inherit (comma separated).", ""),
    Option("cpython-json", "Also write this session's pyperf JSON to this path."),
    Option("cpython-machine", "Machine name recorded in results (default: $CPYBENCH_MACHINE, else the host name)."),
    Option("cpython-results-dir", "Results store: every session's pyperf JSON, by commit (default: "
           "$CPYBENCH_RESULTS_DIR, else the user data directory)."),
    Option("cpython-save", "Store this run's results: new (add a file), replace (the previous file of the "
           "same commit, machine and build) or no.", "new"),
    Option("cpython-baseline", "Baseline refs to compare with, comma separated; merge-base = merge base with "
           "main. Looked up in the results store, else built and measured in this session."),
    Option("cpython-baseline-file", "Compare with this pyperf JSON file (any machine)."),
    Option("cpython-metric", "What is measured: time (pyperf's wall time) or instructions (instructions per loop "
           "counted under valgrind's cachegrind: deterministic, about 30x slower to measure).", "time"),
    Option("cpython-threshold", "Slowdown that fails an item, e.g. 5% (default: 5% for time, 1% for instructions).",
           None),
    Option("cpython-thresholds", "Per-benchmark thresholds, one 'name: 15%' per line (ini only).", None,
           "linelist"),
    Option("cpython-confidence", "Confidence level of the ratio intervals, e.g. 95%.", "95%"),
    Option("cpython-confirm", "Re-measure baseline and head interleaved before a result can fail against a "
           "stored baseline: auto (when needed), always or never.", "auto"),
    Option("cpython-budget", "Most worker processes per side (e.g. 40) or seconds (e.g. 300s) one benchmark "
           "may use while sampling adaptively (in seconds: at most 200 rounds); auto: up to 40, but never more "
           "per side than the time `pyperformance run` would take to measure one in the mode (twice it for a "
           "head and a baseline).",
           str(DEFAULT_ROUNDS)),
    Option("cpython-memory-threshold", "Peak-memory growth (pyperf's mem_max_rss) that fails an item, e.g. 10% "
           "(default: off; memory is reported either way)."),
    Option("cpython-report", "Write results pages here: per baseline a markdown table in faster-cpython's "
           "layout and plots, a README for the run and an index of the folder."),
    Option("cpython-pr-comment", "Write a short markdown summary fit for a pull-request comment to this file "
           "(also appended to $GITHUB_STEP_SUMMARY when that is set)."),
    Option("cpython-bisect", "After the session, for the benchmarks that failed against a baseline commit, find "
           "the commit(s) between that baseline and the head that made them slower: yes or no.", "no"),
)
BISECT_CHOICES = ("yes", "no")
PARALLEL_CHOICES = ("yes", "no")
# With a budget in seconds, the most rounds: the checks of the verdict need a known last round.
SECONDS_BUDGET_ROUNDS = 200


@dataclass
class Settings:
    """Everything a session needs to know, with defaults resolved."""

    ref: str | None = None
    repo: str | None = None
    preset: str = builds.DEFAULT_PRESET
    configure_flags: tuple[str, ...] = ()
    python: Path | None = None
    cache_dir: Path = field(default_factory=lambda: default_cache_dir())
    jobs: int = 0
    benchmarks: str | None = None
    manifests: tuple[Path, ...] = ()
    mode: str = "default"
    timeout: float = 900.0
    affinity: str | None = None
    parallel: str = "no"  # --cpython-parallel
    inherit_env: tuple[str, ...] = ()
    json_path: Path | None = None
    machine: str = field(default_factory=default_machine)
    results_dir: Path = field(default_factory=lambda: default_results_dir())
    save: SaveMode = "new"
    baselines: tuple[str, ...] = ()
    baseline_file: Path | None = None
    metric: str = md.METRIC_TIME
    threshold: float = 0.05
    thresholds: dict[str, float] = field(default_factory=dict)
    confidence: float = 0.95
    confirm: str = "auto"
    budget: Budget = field(default_factory=Budget)
    memory_threshold: float | None = None  # None: memory is reported, never a failure
    report_dir: Path | None = None
    pr_comment: Path | None = None
    bisect: bool = False  # --cpython-bisect=yes

    @property
    def enabled(self) -> bool:
        return bool(self.ref or self.python)

    @property
    def build_config(self) -> BuildConfig:
        return BuildConfig(self.preset, self.configure_flags, self.jobs)


def default_cache_dir() -> Path:
    env = os.environ.get("CPYBENCH_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("pytest-cpybench"))


def default_results_dir() -> Path:
    """Outside any project: results written into a CPython clone would show in `git status`
    and die with the routine `git clean -fdx`."""
    env = os.environ.get("CPYBENCH_RESULTS_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir("pytest-cpybench")) / "results"


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise CpybenchError(f"--{option}={value!r} is not valid: choose one of {', '.join(allowed)}")
    return value


def _number(option: str, value: str, kind: type = float) -> float:
    try:
        number = kind(value)
    except ValueError:
        raise CpybenchError(f"--{option}={value!r} is not a number") from None
    if number < 0 or not math.isfinite(number):
        raise CpybenchError(f"--{option}={value!r} must be a finite number, not negative")
    return number


def _positive(option: str, value: str) -> float:
    number = _number(option, value)
    if number <= 0:
        raise CpybenchError(f"--{option}={value!r} must be more than 0 seconds")
    return number


def _machine(value: str | None) -> str:
    return default_machine() if value is None else check_machine(value)


def check_machine(value: str, what: str = "--cpython-machine") -> str:
    """A machine name as results are stored under it: one line, not empty."""
    name = value.strip()
    if not name or any(c in name for c in "\n\r\0"):
        raise CpybenchError(f"{what}={value!r} is not a machine name: give one word, e.g. ci-runner-1")
    return name


def _fraction(option: str, value: str) -> float:
    try:
        return stats.parse_threshold(value)
    except ValueError as exc:
        raise CpybenchError(f"--{option}={value!r}: {exc}") from None


def _threshold(option: str, value: str) -> float:
    threshold = _fraction(option, value)
    low, high = THRESHOLD_RANGE
    if not low <= threshold <= high:
        raise CpybenchError(f"--{option}={value!r} is out of range: give a slowdown between "
                            f"{low:.1%} and {high:.0%}, e.g. 5%")
    return threshold


def _ref(option: str, value: str | None) -> str | None:
    """A ref's syntax, checked before any git call; refs git does not know fail later (exit 8)."""
    if value is None:
        return None
    hint = "give a sha, tag, branch, owner:branch or WORKTREE"
    if not value.strip():
        raise CpybenchError(f"--{option} is empty: {hint}")
    if value.startswith("-") or any(c.isspace() or c == "\0" for c in value):
        raise CpybenchError(f"--{option}={value!r} is not a git ref (no spaces, no leading '-'): {hint}")
    if ".." in value:
        raise CpybenchError(f"--{option}={value!r} is a range: {hint} (one commit)")
    return value


def parse_budget(value: str) -> Budget:
    text = value.strip().lower()
    if text == "auto":
        return Budget(pyperformance_multiple=AUTO_PYPERFORMANCE_MULTIPLE)
    hint = "give a number of processes per side (at least 2, e.g. 40), of seconds (e.g. 300s) or auto"
    try:
        number = float(text[:-1]) if text.endswith("s") else int(text)
    except ValueError:
        raise CpybenchError(f"--cpython-budget={value!r} is not a budget: {hint}") from None
    if text.endswith("s"):
        if not number > 0 or not math.isfinite(number):
            raise CpybenchError(f"--cpython-budget={value!r} must be positive: {hint}")
        return Budget(processes=SECONDS_BUDGET_ROUNDS, seconds=number)
    if number < 2:
        raise CpybenchError(f"--cpython-budget={value!r} is too small to estimate the noise: {hint}")
    return Budget(processes=int(number))


def settings_from(raw: dict[str, object]) -> Settings:
    """Build settings from option name -> raw value (strings or lists, None when unset)."""

    def text(name: str) -> str | None:
        value = raw.get(name)
        if isinstance(value, list):
            value = ",".join(value)
        return None if value in (None, "") else str(value)

    defaults = {option.name: option.default for option in OPTIONS}

    def with_default(name: str) -> str:
        return text(name) or defaults[name] or ""

    def lines(name: str) -> list[str]:
        value = raw.get(name) or []
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]

    try:
        thresholds = stats.parse_threshold_overrides(lines("cpython-thresholds"))
    except ValueError as exc:
        raise CpybenchError(f"cpython_thresholds: {exc}") from None
    for name, value in thresholds.items():
        if not THRESHOLD_RANGE[0] <= value <= THRESHOLD_RANGE[1]:
            raise CpybenchError(f"cpython_thresholds: {name}: {value:.0%} is out of range: give a slowdown "
                                f"between {THRESHOLD_RANGE[0]:.1%} and {THRESHOLD_RANGE[1]:.0%}")
    confidence = _fraction("cpython-confidence", with_default("cpython-confidence"))
    if not 0.5 <= confidence < 1:
        raise CpybenchError("--cpython-confidence must be between 50% and 99.9%")
    python = text("cpython-python")
    raw_ref = raw.get("cpython-ref")
    metric = _choice("cpython-metric", with_default("cpython-metric"), md.METRICS)
    mode = _choice("cpython-mode", with_default("cpython-mode"), MODES)
    baselines = tuple(v.strip() for v in (text("cpython-baseline") or "").split(",") if v.strip())
    for baseline in baselines:
        _ref("cpython-baseline", baseline)
    if len(set(baselines)) < len(baselines):
        raise CpybenchError(f"--cpython-baseline={','.join(baselines)} names a baseline twice: name each once")
    return Settings(
        ref=_ref("cpython-ref", None if raw_ref is None else str(raw_ref)),
        repo=text("cpython-repo"),
        preset=_choice("cpython-build", with_default("cpython-build"), tuple(builds.PRESETS)),
        configure_flags=builds.parse_configure_flags(with_default("cpython-configure")),
        python=Path(python).expanduser() if python else None,
        cache_dir=Path(text("cpython-cache-dir") or default_cache_dir()).expanduser(),
        jobs=int(_number("cpython-jobs", with_default("cpython-jobs"), int)),
        benchmarks=text("cpython-benchmarks"),
        manifests=tuple(Path(p) for p in lines("cpython-manifest")),
        mode=mode,
        timeout=_positive("cpython-timeout", with_default("cpython-timeout")),
        affinity=cpus.format_cpu_list(cpus.parse_cpu_list(a)) if (a := text("cpython-affinity")) else None,
        parallel=_choice("cpython-parallel", with_default("cpython-parallel"), PARALLEL_CHOICES),
        inherit_env=tuple(v for v in with_default("cpython-inherit-env").split(",") if v),
        json_path=Path(p) if (p := text("cpython-json")) else None,
        machine=_machine(text("cpython-machine")),
        results_dir=Path(text("cpython-results-dir") or default_results_dir()).expanduser(),
        save=cast(SaveMode, _choice("cpython-save", with_default("cpython-save"), SAVE_MODES)),
        baselines=baselines,
        baseline_file=Path(p) if (p := text("cpython-baseline-file")) else None,
        metric=metric,
        threshold=_threshold("cpython-threshold", text("cpython-threshold") or DEFAULT_THRESHOLDS[metric]),
        thresholds=thresholds,
        confidence=confidence,
        confirm=_choice("cpython-confirm", with_default("cpython-confirm"), CONFIRM_MODES),
        budget=parse_budget(with_default("cpython-budget")),
        memory_threshold=_threshold("cpython-memory-threshold", m) if (m := text("cpython-memory-threshold")) else None,
        report_dir=Path(p).expanduser() if (p := text("cpython-report")) else None,
        pr_comment=Path(p).expanduser() if (p := text("cpython-pr-comment")) else None,
        bisect=_bisect(with_default("cpython-bisect"), mode),
    )


def _bisect(value: str, mode: str) -> bool:
    if _choice("cpython-bisect", value, BISECT_CHOICES) == "yes" and mode == "debug":
        raise CpybenchError("--cpython-bisect=yes needs --cpython-mode default, fast or rigorous: debug mode "
                            "measures one value per side, too few to bisect")
    return value == "yes"
