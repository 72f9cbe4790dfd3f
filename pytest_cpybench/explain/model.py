"""An explanation as plain data: the kind of a failure, and each profile's top contributors. It
crosses the xdist wire as JSON (:func:`explanation_data`, :func:`explanation_from`)."""

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


def explanation_data(explanation: Explanation) -> dict[str, Any]:
    return asdict(explanation)


def explanation_from(data: dict[str, Any]) -> Explanation:
    profiles = [Profile(**{**p, "contributors": [Contributor(**c) for c in p["contributors"]]})
                for p in data["profiles"]]
    return Explanation(**{**data, "profiles": profiles})
