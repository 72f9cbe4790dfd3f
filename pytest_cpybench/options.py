"""The plugin's options, one row each, and the settings object they become.

A row says everything about an option: its name on pytest's command line (``--cpython-ref``) and
as an ini key (``cpython_ref``; the command line wins), its help, its default, the parser that
checks its value and the :class:`Settings` field it sets, and its name in the ``python -m
pytest_cpybench`` commands that share it (``--threshold``). Adding an option is adding a row and a
field; pytest's options, the commands' and the docs' options page are made from the rows. Errors
name the option as the user spelled it (:func:`settings_from`'s ``spell``).

``Settings`` is plain data, so the core modules never see pytest.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, cast

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
PARALLEL_MODES = ("auto", "yes", "no")
DECIDE_MODES = ("item", "all")
RELOAD_MODES = ("round", "never")
# --cpython-explain: auto (a profile of every failing result), profile (of every significant one), pystats
# (pystats of every failing result), all (profiles and pystats of every significant one), no.
EXPLAIN_MODES = ("no", "auto", "profile", "pystats", "all")
YES_NO = ("yes", "no")
# --cpython-threshold when it is not given, by --cpython-metric.
DEFAULT_THRESHOLDS = {md.METRIC_TIME: "5%", md.METRIC_INSTRUCTIONS: "1%"}
# A threshold outside this range is a typo ("500%") or meaningless ("0%").
THRESHOLD_RANGE = (0.001, 1.0)
# --cpython-budget=auto (the default): a benchmark stops before it has cost, per side measured, this
# many times what `pyperformance run` would spend on it measuring one side (for a head and a
# baseline, 2x), however many rounds remain. Below 1: pyperformance's time is estimated from the
# gate's own rounds, within 1-13% of the real one (docs/measurements/2026-11-30.md, midday).
AUTO_PYPERFORMANCE_MULTIPLE = 0.9
# With a budget in seconds, the most rounds: the checks of the verdict need a known last round.
SECONDS_BUDGET_ROUNDS = 200

Raw = Any  # a value as given: a string, a list of lines (ini linelist, repeated option), or None
Parser = Callable[[Raw, str], Any]  # (value, the option as the user spelled it) -> the field's value


@dataclass
class Settings:
    """Everything a session needs to know, with defaults resolved."""

    ref: str | None = None
    repo: str | None = None
    preset: str = builds.DEFAULT_PRESET  # the first of ``presets``: what one engine builds
    presets: tuple[str, ...] = (builds.DEFAULT_PRESET,)  # --cpython-build=release,nogil: a gate per configuration
    configure_flags: tuple[str, ...] = ()
    python: Path | None = None
    cache_dir: Path = field(default_factory=lambda: default_cache_dir())
    jobs: int = 0
    benchmarks: str | None = None
    manifests: tuple[Path, ...] = ()
    mode: str = "default"
    timeout: float = 900.0
    affinity: str | None = None
    parallel: str = "auto"  # --cpython-parallel: the sides at once when there is a core per side
    reload: str = "round"  # --cpython-reload: the interpreters' code read from disk again every round
    inherit_env: tuple[str, ...] = ()
    json_path: Path | None = None
    machine: str = field(default_factory=default_machine)
    results_dir: Path = field(default_factory=lambda: default_results_dir())
    save: SaveMode = "new"
    baselines: tuple[str, ...] = ()
    baseline_file: Path | None = None
    metric: str = md.METRIC_TIME  # the first of ``metrics``: what one engine measures
    metrics: tuple[str, ...] = (md.METRIC_TIME,)  # --cpython-metric=time,instructions: both gates
    threshold: float = 0.05  # of ``metric``
    thresholds: dict[str, float] = field(default_factory=dict)  # per result or benchmark, of ``metric``
    # Every metric's threshold and per-benchmark overrides (one metric: ``threshold`` and ``thresholds``).
    metric_thresholds: dict[str, float] = field(default_factory=dict)
    metric_overrides: dict[str, dict[str, float]] = field(default_factory=dict)
    confidence: float = 0.95
    confirm: str = "auto"
    budget: Budget = field(default_factory=lambda: auto_budget())
    memory_threshold: float | None = None  # None: memory is reported, never a failure
    report_dir: Path | None = None
    pr_comment: Path | None = None
    bisect: bool = False  # --cpython-bisect=yes
    decide: str = "item"  # --cpython-decide: stop an item once it fails whatever its other results do
    explain: str = "auto"  # --cpython-explain: which results get a triage and profiles, after their verdict

    @property
    def enabled(self) -> bool:
        return bool(self.ref or self.python)

    @property
    def build_config(self) -> BuildConfig:
        return BuildConfig(self.preset, self.configure_flags, self.jobs)

    def for_preset(self, preset: str) -> Settings:
        """These settings for one build configuration's gate."""
        return replace(self, preset=preset, presets=(preset,))

    def for_metric(self, metric: str) -> Settings:
        """These settings for one metric's gate: its threshold and its per-benchmark overrides."""
        return replace(self, metric=metric, metrics=(metric,),
                       threshold=self.metric_thresholds.get(metric, self.threshold),
                       thresholds=self.metric_overrides.get(metric, self.thresholds))


def default_cache_dir() -> Path:
    env = os.environ.get("CPYBENCH_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("pytest-cpybench"))


def default_results_dir() -> Path:
    """Outside any project: results written into a CPython clone would show in `git status`
    and die with the routine `git clean -fdx`."""
    env = os.environ.get("CPYBENCH_RESULTS_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir("pytest-cpybench")) / "results"


# -- parsers: (raw value, the option as spelled) -> the field's value ------------------------------


def _text(value: Raw) -> str | None:
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    return None if value in (None, "") else str(value)


def _lines(value: Raw) -> list[str]:
    if value in (None, ""):
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _string(value: Raw, name: str) -> str | None:
    return _text(value)


def _path(value: Raw, name: str) -> Path | None:
    text = _text(value)
    return Path(text).expanduser() if text else None


def _choice(*allowed: str) -> Parser:
    def parse(value: Raw, name: str) -> str:
        text = _text(value) or ""
        if text not in allowed:
            raise CpybenchError(f"{name}={text!r} is not valid: choose one of {', '.join(allowed)}")
        return text
    return parse


def _number(value: Raw, name: str, kind: type = float) -> float:
    text = _text(value) or ""
    try:
        number = kind(text)
    except ValueError:
        raise CpybenchError(f"{name}={text!r} is not a number") from None
    if number < 0 or not math.isfinite(number):
        raise CpybenchError(f"{name}={text!r} must be a finite number, not negative")
    return number


def _jobs(value: Raw, name: str) -> int:
    return int(_number(value, name, int))


def _seconds(value: Raw, name: str) -> float:
    number = _number(value, name)
    if number <= 0:
        raise CpybenchError(f"{name}={_text(value)!r} must be more than 0 seconds")
    return number


def check_machine(value: str, name: str = "--cpython-machine") -> str:
    """A machine name as results are stored under it: one line, not empty."""
    machine = value.strip()
    if not machine or any(c in machine for c in "\n\r\0"):
        raise CpybenchError(f"{name}={value!r} is not a machine name: give one word, e.g. ci-runner-1")
    return machine


def _machine(value: Raw, name: str) -> str:
    return default_machine() if value is None else check_machine(str(value), name)


def _fraction(value: Raw, name: str) -> float:
    try:
        return stats.parse_threshold(_text(value) or "")
    except ValueError as exc:
        raise CpybenchError(f"{name}={_text(value)!r}: {exc}") from None


def _threshold(value: Raw, name: str) -> float | None:
    """A slowdown, or None when not given (the metric's default, see :func:`_checked`)."""
    if _text(value) is None:
        return None
    threshold = _fraction(value, name)
    low, high = THRESHOLD_RANGE
    if not low <= threshold <= high:
        raise CpybenchError(f"{name}={_text(value)!r} is out of range: give a slowdown between "
                            f"{low:.1%} and {high:.0%}, e.g. 5%")
    return threshold


def _metric_thresholds(value: Raw, name: str) -> dict[str, float]:
    """``5%`` (every metric: key "") or ``time:5%,instructions:1%``; unset: {} (the defaults)."""
    thresholds: dict[str, float] = {}
    for part in (_text(value) or "").split(","):
        metric, _, amount = part.rpartition(":")
        metric = metric.strip()
        if metric and metric not in md.METRICS:
            raise CpybenchError(f"{name}={_text(value)!r}: {metric!r} is not a metric: give e.g. 5% or "
                                "time:5%,instructions:1%")
        if not amount.strip():
            continue
        if metric in thresholds:
            raise CpybenchError(f"{name}={_text(value)!r} gives {metric or 'the'} threshold twice: give it once")
        thresholds[metric] = cast(float, _threshold(amount.strip(), name))
    return thresholds


def _thresholds(value: Raw, name: str) -> dict[str, dict[str, float]]:
    """Lines ``NAME: 15%`` (every metric) or ``NAME: instructions:2%`` (one metric), by metric
    ("": every metric) and result or benchmark name."""
    by_metric: dict[str, dict[str, float]] = {}
    for line in _lines(value):
        result, sep, rest = line.partition(":")
        metric, _, amount = rest.rpartition(":")
        metric = metric.strip()
        if sep and metric in md.METRICS:
            line = f"{result}: {amount}"
        elif sep and metric:
            raise CpybenchError(f"{name}: {line.strip()!r}: {metric!r} is not a metric (time or instructions)")
        try:
            parsed = stats.parse_threshold_overrides([line])
        except ValueError as exc:
            raise CpybenchError(f"{name}: {exc}") from None
        low, high = THRESHOLD_RANGE
        for result_name, threshold in parsed.items():
            if not low <= threshold <= high:
                raise CpybenchError(f"{name}: {result_name}: {threshold:.0%} is out of range: give a slowdown "
                                    f"between {low:.1%} and {high:.0%}")
            overrides = by_metric.setdefault(metric, {})
            if result_name in overrides:
                raise CpybenchError(f"{name}: the threshold of {result_name!r} is given twice: keep one line")
            overrides[result_name] = threshold
    return by_metric


def _presets(value: Raw, name: str) -> tuple[str, ...]:
    presets = tuple(p.strip() for p in (_text(value) or builds.DEFAULT_PRESET).split(",") if p.strip())
    for preset in presets:
        if preset not in builds.PRESETS:
            raise CpybenchError(f"{name}={_text(value)!r}: {preset!r} is not a build preset: choose among "
                                f"{', '.join(builds.PRESETS)} (several: comma separated, e.g. release,nogil)")
    if not presets or len(set(presets)) < len(presets):
        raise CpybenchError(f"{name}={_text(value)!r}: name each build preset once, e.g. release,nogil")
    return presets


def _metrics(value: Raw, name: str) -> tuple[str, ...]:
    metrics = tuple(m.strip() for m in (_text(value) or md.METRIC_TIME).split(",") if m.strip())
    for metric in metrics:
        if metric not in md.METRICS:
            raise CpybenchError(f"{name}={_text(value)!r} is not valid: choose time, instructions or "
                                "time,instructions")
    if not metrics or len(set(metrics)) < len(metrics):
        raise CpybenchError(f"{name}={_text(value)!r}: name each metric once, e.g. time,instructions")
    return metrics


def _confidence(value: Raw, name: str) -> float:
    confidence = _fraction(value, name)
    if not 0.5 <= confidence < 1:
        raise CpybenchError(f"{name} must be between 50% and 99.9%")
    return confidence


def _ref(value: Raw, name: str) -> str | None:
    """A ref's syntax, checked before any git call; refs git does not know fail later (exit 8)."""
    if value is None:
        return None
    text = str(value)
    hint = "give a sha, tag, branch, owner:branch or WORKTREE"
    if not text.strip():
        raise CpybenchError(f"{name} is empty: {hint}")
    if text.startswith("-") or any(c.isspace() or c == "\0" for c in text):
        raise CpybenchError(f"{name}={text!r} is not a git ref (no spaces, no leading '-'): {hint}")
    if ".." in text:
        raise CpybenchError(f"{name}={text!r} is a range: {hint} (one commit)")
    return text


def _baselines(value: Raw, name: str) -> tuple[str, ...]:
    baselines = tuple(v.strip() for v in (_text(value) or "").split(",") if v.strip())
    for baseline in baselines:
        _ref(baseline, name)
    if len(set(baselines)) < len(baselines):
        raise CpybenchError(f"{name}={','.join(baselines)} names a baseline twice: name each once")
    return baselines


def _configure(value: Raw, name: str) -> tuple[str, ...]:
    try:
        return builds.parse_configure_flags(_text(value) or "")
    except ValueError as exc:
        raise CpybenchError(f"cannot parse {name}={_text(value)!r} ({exc}): check the quotes") from None


def _affinity(value: Raw, name: str) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return cpus.format_cpu_list(cpus.parse_cpu_list(text))
    except ValueError as exc:
        raise CpybenchError(f"{name}={text!r} {exc}") from None


def _names(value: Raw, name: str) -> tuple[str, ...]:
    return tuple(v for v in (_text(value) or "").split(",") if v)


def _manifests(value: Raw, name: str) -> tuple[Path, ...]:
    return tuple(Path(p) for p in _lines(value))


def _directory(default: Callable[[], Path]) -> Parser:
    def parse(value: Raw, name: str) -> Path:
        return Path(_text(value) or default()).expanduser()
    return parse


def auto_budget() -> Budget:
    """--cpython-budget=auto: up to the default rounds, capped at pyperformance's own time."""
    return Budget(pyperformance_multiple=AUTO_PYPERFORMANCE_MULTIPLE)


def parse_budget(value: Raw, name: str = "--cpython-budget") -> Budget:
    text = (_text(value) or "").strip().lower()
    if text == "auto":
        return auto_budget()
    hint = "give a number of processes per side (at least 2, e.g. 40), of seconds (e.g. 300s) or auto"
    try:
        number = float(text[:-1]) if text.endswith("s") else int(text)
    except ValueError:
        raise CpybenchError(f"{name}={_text(value)!r} is not a budget: {hint}") from None
    if text.endswith("s"):
        if not number > 0 or not math.isfinite(number):
            raise CpybenchError(f"{name}={_text(value)!r} must be positive: {hint}")
        return Budget(processes=SECONDS_BUDGET_ROUNDS, seconds=number)
    if number < 2:
        raise CpybenchError(f"{name}={_text(value)!r} is too small to estimate the noise: {hint}")
    return Budget(processes=int(number))


def _yes(value: Raw, name: str) -> bool:
    return _choice(*YES_NO)(value, name) == "yes"


# -- the rows ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    name: str  # on pytest's command line, without the leading dashes
    field: str  # the Settings field it sets
    parse: Parser
    help: str
    default: str | None = None  # the value when not given, as the user would type it
    ini_type: Literal["string", "linelist"] = "string"  # "linelist": one value per line
    cli: str | None = None  # its name in the `python -m pytest_cpybench` commands that take it
    default_text: str | None = None  # the default as the docs say it, when not a value to type
    choices: tuple[str, ...] = ()
    ini_only: bool = False  # no command-line form (a list of lines)

    @property
    def ini(self) -> str:
        return self.name.replace("-", "_")

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    def shown_default(self) -> str:
        return self.default_text or (self.default if self.default not in (None, "") else "–")


def _row(name: str, field_name: str, parse: Parser, help_text: str, default: str | None = None,
         **more: Any) -> Option:
    return Option(name, field_name, parse, help_text, default, **more)


OPTIONS: tuple[Option, ...] = (
    _row("cpython-ref", "ref", _ref,
         "Git ref of CPython to build and benchmark: sha, tag, branch, owner:branch (fork, with a URL repo) or "
         "WORKTREE (your clone's working tree, uncommitted changes included). Turns the plugin on."),
    _row("cpython-repo", "repo", _string,
         "CPython repository (path or URL). Refs missing locally are fetched (URLs are mirrored in the cache).",
         cli="repo", default_text=". when it is a CPython clone, else upstream"),
    _row("cpython-build", "presets", _presets,
         "Build preset, or several comma separated (release,nogil: each benchmark is an item per "
         "configuration, compared only with the same configuration): release (plain optimized ./configure), "
         "pgo-lto (--enable-optimizations --with-lto), jit (--enable-experimental-jit; 3.13+, the LLVM its "
         "Tools/jit names), nogil (--disable-gil; 3.13+), tailcall (--with-tail-call-interp; 3.14+, "
         "CC=clang-19 or newer), debug (--with-pydebug), pystats (--enable-pystats: counts for explaining a change, "
         "never for timing). A build this machine cannot make is refused before "
         "anything is built.",
         builds.DEFAULT_PRESET, cli="build", choices=tuple(builds.PRESETS)),
    _row("cpython-configure", "configure_flags", _configure,
         "Extra ./configure flags, as one string (quoted as in a shell; never run through a shell).", "",
         cli="configure"),
    _row("cpython-python", "python", _path, "Skip building: benchmark this interpreter."),
    _row("cpython-cache-dir", "cache_dir", _directory(default_cache_dir),
         "Where builds, repository mirrors and benchmark venvs are cached.", cli="cache-dir",
         default_text="$CPYBENCH_CACHE_DIR, else the user cache directory (~/.cache/pytest-cpybench)"),
    _row("cpython-jobs", "jobs", _jobs, "Parallel make jobs (0: all cores).", "0", cli="jobs"),
    _row("cpython-benchmarks", "benchmarks", _string,
         "Benchmarks to collect, in pyperformance's -b syntax: names, groups or tags, -name to exclude.",
         cli="benchmarks", default_text="all"),
    _row("cpython-manifest", "manifests", _manifests,
         "Extra benchmarks in pyperformance's manifest format; repeatable.", ini_type="linelist", cli="manifest"),
    _row("cpython-mode", "mode", _choice(*MODES),
         "pyperf's mode: default (20 processes x 3 values), fast (10 x 2), rigorous (40 x 3) or debug (1 value). "
         "Interleaved rounds take the mode's values per process.", "default", cli="mode", choices=MODES),
    _row("cpython-timeout", "timeout", _seconds,
         "Seconds one benchmark may take, all its processes on every side together, confirmation included; "
         "adaptive sampling stops in time, a benchmark still running then is stopped and errors.", "900",
         cli="timeout"),
    _row("cpython-affinity", "affinity", _affinity,
         "CPU list for pyperf's workers, e.g. 1, 0-3 or 0,2 (pyperf --affinity); with -n N, split among the "
         "workers."),
    _row("cpython-parallel", "parallel", _choice(*PARALLEL_MODES),
         "Measure the sides (head and baselines) of a round at the same time, each on a physical core of its "
         "own: auto when the session has a free core per side (not with -n taking them, nor an affinity of one "
         "core) and a test loop finds that the cores do not slow each other down (checked every 5 minutes), yes "
         "whenever a core per side exists, no: one after another. At once, a round costs the time of "
         "one side; results are marked and compared with results measured alike.", "auto",
         cli="parallel", choices=PARALLEL_MODES),
    _row("cpython-reload", "reload", _choice(*RELOAD_MODES),
         "Drop the interpreters' executables and extension modules from the page cache before every round, "
         "so that each round's processes run them from new physical pages (round), or keep them cached "
         "(never: every round shares one placement, which can shift a benchmark by several percent).",
         "round", cli="reload", choices=RELOAD_MODES),
    _row("cpython-inherit-env", "inherit_env", _names,
         "Extra environment variables pyperf's workers keep, comma separated (a shared-library build's "
         "LD_LIBRARY_PATH is passed on by itself).", ""),
    _row("cpython-json", "json_path", _path, "Also write this session's pyperf JSON to this path."),
    _row("cpython-machine", "machine", _machine,
         "Machine name recorded in the results; baselines are looked up for this machine.", cli="machine",
         default_text="$CPYBENCH_MACHINE, else the host name"),
    _row("cpython-results-dir", "results_dir", _directory(default_results_dir),
         "The results store: every session's pyperf JSON, by commit. Set it for CI and shared stores.",
         cli="results-dir",
         default_text="$CPYBENCH_RESULTS_DIR, else the user data directory (~/.local/share/pytest-cpybench/results)"),
    _row("cpython-save", "save", _choice(*SAVE_MODES),
         "Store this run's results: new (add a file), replace (the newest file of the same commit, ref, machine, "
         "build and metric) or no.", "new", choices=SAVE_MODES),
    _row("cpython-baseline", "baselines", _baselines,
         "Baseline refs, comma separated; merge-base: the merge base with main. Looked up in the results store "
         "by commit, machine and build; when absent, built and measured in this session."),
    _row("cpython-baseline-file", "baseline_file", _path,
         "Compare with this pyperf JSON file (any machine: the summary warns when the machine differs)."),
    _row("cpython-metric", "metrics", _metrics,
         "What is measured: time (pyperf's wall time), instructions (instructions per loop counted under "
         "valgrind's cachegrind: deterministic, so a 1% gate), or time,instructions (both gates in one session; "
         "an item fails when either fails).", md.METRIC_TIME, cli="metric",
         choices=(*md.METRICS, f"{md.METRIC_TIME},{md.METRIC_INSTRUCTIONS}")),
    _row("cpython-threshold", "metric_thresholds", _metric_thresholds,
         "Slowdown that fails an item when the whole interval is beyond it, e.g. 5% (0.1% to 100%); per metric: "
         "time:5%,instructions:1%.", cli="threshold", default_text="time:5%,instructions:1%"),
    _row("cpython-thresholds", "metric_overrides", _thresholds,
         "Per-benchmark thresholds, one 'name: 15%' per line (or 'name: instructions:2%' for one metric); the "
         "name is a benchmark (all its results) or one result (deepcopy_memo).", ini_type="linelist",
         cli="thresholds", ini_only=True),
    _row("cpython-confidence", "confidence", _confidence, "Confidence level of the ratio intervals.", "95%",
         cli="confidence"),
    _row("cpython-confirm", "confirm", _choice(*CONFIRM_MODES),
         "Re-measure baseline and head interleaved before a result can fail (or stay inconclusive) against a "
         "stored baseline: auto (when needed), always or never.", "auto", choices=CONFIRM_MODES),
    _row("cpython-budget", "budget", parse_budget,
         f"Most rounds per side (e.g. 40) or seconds (e.g. 300s; then at most 200 rounds) one benchmark may use "
         f"while sampling adaptively; auto: up to {DEFAULT_ROUNDS}, and a round only while the benchmark stays "
         f"within {AUTO_PYPERFORMANCE_MULTIPLE:g}x what `pyperformance run` would spend measuring one side in the "
         f"mode, per side.", "auto", cli="budget"),
    _row("cpython-memory-threshold", "memory_threshold", _threshold,
         "Peak-memory growth (pyperf's mem_max_rss) that fails an item, e.g. 10%; memory is reported either way.",
         cli="memory-threshold", default_text="off"),
    _row("cpython-report", "report_dir", _path,
         "Write the results pages here: per baseline a table page in faster-cpython's layout with the verdicts "
         "after it, plots, a README for the run and an index of the folder."),
    _row("cpython-pr-comment", "pr_comment", _path,
         "Write a short markdown summary for a pull-request comment to this file (it is also appended to "
         "$GITHUB_STEP_SUMMARY whenever that is set)."),
    _row("cpython-bisect", "bisect", _yes,
         "After the session, for the benchmarks that failed against a baseline commit, find the commit(s) "
         "between that baseline and the head that made them slower.", "no", choices=YES_NO),
    _row("cpython-decide", "decide", _choice(*DECIDE_MODES),
         "item: stop measuring a benchmark once it fails whatever its other results do (they are reported as "
         "they stand, and stored marked partial: never a baseline); all: measure until every result is "
         "decided or the budget is spent.", "item", choices=DECIDE_MODES),
    _row("cpython-explain", "explain", _choice(*EXPLAIN_MODES),
         "After a result's verdict, say why it is slower: its kind (code, bimodal, environment, layout) and a "
         "differential profile of baseline and head on its benchmark (instructions per function under cachegrind; "
         "under the time metric also perf samples per symbol), with a fixed number of loops per side, the raw "
         "files kept beside the results store. auto: profiles of every failing result; profile: profiles of every "
         "significant result, failing or not; pystats: instead of profiles, what CPython's own statistics say "
         "changed (both commits built again with --enable-pystats, one run each, compared by the commit's "
         "summarize_stats.py; 3.12+) for every failing result; all: profiles and pystats of every significant "
         "result; no: none.", "auto", cli="explain", choices=EXPLAIN_MODES),
)
BY_NAME: Mapping[str, Option] = {option.name: option for option in OPTIONS}


def plugin_spelling(option: Option) -> str:
    """How pytest's users name an option: ``--cpython-threshold``, ``cpython_thresholds`` (ini only)."""
    return option.ini if option.ini_only else option.flag


def settings_from(raw: Mapping[str, Raw], spell: Callable[[Option], str] = plugin_spelling) -> Settings:
    """Settings from option name -> raw value (strings or lists of lines, None when unset); an
    error names the option as ``spell`` writes it."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        value = raw.get(option.name)
        if value is None or value == []:
            value = option.default
        values[option.field] = option.parse(value, spell(option))
    unset = {item.name for item in fields(Settings)} - set(values) - set(DERIVED_FIELDS)
    assert not unset, f"Settings fields without an option row: {sorted(unset)}"
    return _checked(Settings(**values), spell)


# Settings fields made from others by _checked, not set by a row of their own.
DERIVED_FIELDS = ("metric", "threshold", "thresholds", "preset")


def _checked(settings: Settings, spell: Callable[[Option], str]) -> Settings:
    """What holds between options: every metric's threshold and overrides (given for every metric,
    for that one, or its default), no bisection of one value."""
    given = settings.metric_thresholds
    thresholds = {metric: given.get(metric, given.get("", cast(float, _threshold(
        DEFAULT_THRESHOLDS[metric], spell(BY_NAME["cpython-threshold"]))))) for metric in md.METRICS}
    shared = settings.metric_overrides.get("", {})
    overrides = {metric: {**shared, **settings.metric_overrides.get(metric, {})} for metric in md.METRICS}
    if settings.bisect and settings.mode == "debug":
        raise CpybenchError(f"{spell(BY_NAME['cpython-bisect'])}=yes needs {spell(BY_NAME['cpython-mode'])} "
                            "default, fast or rigorous: debug mode measures one value per side, too few to bisect")
    if settings.bisect and len(settings.metrics) > 1:
        raise CpybenchError(f"{spell(BY_NAME['cpython-bisect'])}=yes bisects one metric: give "
                            f"{spell(BY_NAME['cpython-metric'])}=time or instructions")
    if settings.bisect and len(settings.presets) > 1:
        raise CpybenchError(f"{spell(BY_NAME['cpython-bisect'])}=yes bisects one build configuration: give "
                            f"{spell(BY_NAME['cpython-build'])} one preset")
    metric = settings.metrics[0]
    return replace(settings, metric=metric, preset=settings.presets[0], threshold=thresholds[metric],
                   thresholds=overrides[metric], metric_thresholds=thresholds, metric_overrides=overrides)
