"""An explanation as plain data: the kind of a failure, each profile's top contributors, and what
CPython's own statistics (pystats) say changed. It crosses the xdist wire as JSON
(:func:`explanation_data`, :func:`explanation_from`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The kinds of a failure, in the order triage tries them.
ENVIRONMENT = "environment"
BIMODAL = "bimodal"
CODE = "code"
LAYOUT = "layout"
KINDS = (ENVIRONMENT, BIMODAL, CODE, LAYOUT)
UNEXPLAINED = "unexplained"  # nothing could be run: a baseline file, a crash
# How many contributors the item's message names under its verdict.
MESSAGE_LINES = 5


@dataclass
class Contributor:
    """One function (instructions) or symbol (samples) and what it costs per loop on each side."""

    name: str  # file:function, or perf's symbol (py::function:file for Python code)
    base: float  # per loop: instructions, or milliseconds of samples
    head: float
    share: float  # of the whole change per loop (head total - base total); 0 when that is 0
    noise: float = 0.0  # half-width of the change's interval (samples); 0: counts do not vary

    @property
    def change(self) -> float:
        return self.head - self.base


@dataclass
class Profile:
    """A differential profile of one result: its ranked contributors (changes beyond noise only)."""

    metric: str  # "instructions" or "time"
    unit: str  # "instructions" or "ms" (of samples) per loop
    base_total: float  # per loop
    head_total: float
    contributors: list[Contributor] = field(default_factory=list)
    how: str = ""  # one line: the tool, loops per side, repetitions (and why), noise
    files: list[str] = field(default_factory=list)  # the raw files kept, to open with perf report / cg_annotate


@dataclass(frozen=True)
class PystatsChange:
    """One count that summarize_stats.py compares, per benchmark loop on each side.

    ``section``: "specialization", "execution", "objects", "calls", "gc", "specialization
    effectiveness", "rare events", "tier 2". ``family``: the instruction ("LOAD_ATTR",
    "LOAD_ATTR_INSTANCE_VALUE"), a GC generation, or "". ``what``: summarize_stats.py's row in lower
    case: "failure", "success", "deferred", "hit", "miss", "failure (other)", "execution count",
    "allocations", ...
    """

    section: str
    family: str
    what: str
    base: float
    head: float
    score: float = 0.0  # how large the change is, to rank changes of every kind together

    @property
    def change(self) -> float:
        return self.head - self.base

    @property
    def label(self) -> str:
        if self.section == "specialization":
            return f"{self.family} specialization {self.what}"
        if self.section == "execution":
            return f"{self.family} executions"
        return ": ".join(part for part in (self.section, self.family, self.what) if part)

    def line(self) -> str:
        """``LOAD_ATTR specialization deferred: 0.5 -> 1,950 per loop (+1,950)``."""
        sign = "+" if self.change >= 0 else "-"
        return (f"{self.label}: {count_text(self.base)} -> {count_text(self.head)} per loop "
                f"({sign}{count_text(abs(self.change))})")


@dataclass
class PystatsDiff:
    """What pystats says changed between base and head on one benchmark: ``changes`` largest first,
    or ``unavailable`` (one line) when there is no comparison."""

    benchmark: str
    base: str = ""  # the refs compared
    head: str = ""
    changes: list[PystatsChange] = field(default_factory=list)
    results: list[str] = field(default_factory=list)  # the benchmark's results that ran (its worker tasks)
    loops: dict[str, int] = field(default_factory=dict)  # side -> loops the counts are divided by
    files: dict[str, str] = field(default_factory=dict)  # side -> summarize_stats.py JSON kept for the user
    instructions: float = 0.0  # tier-1 instructions per loop on base: the scale of the scores
    unavailable: str = ""
    seconds: float = 0.0  # the pystats runs and comparison, without the builds

    def lines(self, top: int = MESSAGE_LINES) -> list[str]:
        if self.unavailable:
            return [self.unavailable]
        if not self.changes:
            return [f"pystats: no count changed between {self.base} and {self.head}"]
        return [change.line() for change in self.changes[:top]]


def count_text(value: float) -> str:
    """A count per loop: whole above 100 or when whole, else three significant digits below 1."""
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.3g}" if value < 1 else f"{value:,.1f}"


def pystats_data(diff: PystatsDiff) -> dict[str, Any]:
    return asdict(diff)


def pystats_from(data: dict[str, Any]) -> PystatsDiff:
    return PystatsDiff(**{**data, "changes": [PystatsChange(**change) for change in data.get("changes", [])]})


@dataclass
class Explanation:
    """Why one result is slower than one baseline: its kind with a reason, then its profiles."""

    result: str
    baseline: str
    kind: str  # one of KINDS
    reason: str
    notes: list[str] = field(default_factory=list)  # what could not be done, one line each
    profiles: list[Profile] = field(default_factory=list)
    seconds: float = 0.0  # what explaining it cost
    folder: str = ""  # where its raw files are (beside the results store)
    pystats: PystatsDiff | None = None  # --cpython-explain=pystats or all: the benchmark's pystats comparison


def explanation_data(explanation: Explanation) -> dict[str, Any]:
    return asdict(explanation)


def explanation_from(data: dict[str, Any]) -> Explanation:
    profiles = [Profile(**{**p, "contributors": [Contributor(**c) for c in p["contributors"]]})
                for p in data["profiles"]]
    pystats = pystats_from(data["pystats"]) if data.get("pystats") else None
    return Explanation(**{**data, "profiles": profiles, "pystats": pystats})
