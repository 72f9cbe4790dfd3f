"""JSON for the xdist wire: a session's plan (controller to workers and hosts), an item's outcome
(worker to controller). Only JSON-like primitives survive execnet; suites travel as pyperf JSON.

Comparisons travel as their data, not their verdicts: the controller compares again with its own
settings (:meth:`pytest_cpybench.session.engine.Engine.outcome_from_wire`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from pytest_cpybench.cpython.builds import DEFAULT_PRESET
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.cpython.targets import Target
from pytest_cpybench.explain.model import explanation_data, explanation_from
from pytest_cpybench.results.suites import dump_suite, load_suite_text
from pytest_cpybench.session.model import Baseline, BaselineKind, ItemOutcome, MetricOutcome
from pytest_cpybench.session.plan import Plan


def target_data(target: Target) -> dict[str, object]:
    data = asdict(target)
    data["configure_flags"] = list(target.configure_flags)
    return data


def target_from(data: dict[str, Any]) -> Target:
    return Target(**{**data, "configure_flags": tuple(data.get("configure_flags") or ())})


def baseline_data(baseline: Baseline) -> dict[str, object]:
    return {"label": baseline.label, "kind": baseline.kind.value, "note": baseline.note,
            "commit": asdict(baseline.commit) if baseline.commit else None,
            "suite": dump_suite(baseline.suite) if baseline.suite is not None else None,
            "target": target_data(baseline.target) if baseline.target else None, "paths": list(baseline.paths)}


def baseline_from(data: dict[str, Any]) -> Baseline:
    return Baseline(label=data["label"], kind=BaselineKind(data["kind"]), note=data["note"],
                    commit=Commit(**data["commit"]) if data["commit"] else None,
                    suite=load_suite_text(data["suite"]) if data["suite"] else None,
                    target=target_from(data["target"]) if data["target"] else None,
                    paths=tuple(data["paths"]))


def dump_plan(plan: Plan, **extra: object) -> str:
    """The plan as JSON, with ``extra`` keys beside it (a host's machine name, say)."""
    return json.dumps({
        **extra,
        "head_commit": asdict(plan.head_commit) if plan.head_commit else None,
        "head_version": plan.head_version,
        "head": target_data(plan.head) if plan.head else None,
        "baselines": [baseline_data(b) for b in plan.baselines]})


def load_plan(text: str) -> tuple[Plan, dict[str, Any]]:
    """The plan, and the extra keys sent with it."""
    data = json.loads(text)
    plan = Plan(head_commit=Commit(**data.pop("head_commit")) if data.get("head_commit") else None,
                head_version=data.pop("head_version", None),
                head=target_from(data.pop("head")) if data.get("head") else None,
                baselines=[baseline_from(b) for b in data.pop("baselines", [])])
    if plan.head is not None and plan.head_version is None:
        plan.head_version = plan.head.version
    return plan, data


def outcome_data(outcome: MetricOutcome) -> dict[str, Any]:
    return {
        "benchmark": outcome.benchmark, "head_suite": dump_suite(outcome.head_suite),
        "measured_baselines": {label: dump_suite(s) for label, s in outcome.measured_baselines.items()},
        "comparisons": [{"baseline": c.baseline, "base": dump_suite(c.base) if c.base else None,
                         "head": dump_suite(c.head), "confirmed": c.confirmed, "rounds": c.rounds}
                        for c in outcome.comparisons],
        "seconds": outcome.seconds, "metric": outcome.metric, "preset": outcome.preset,
        "notes": outcome.notes, "explanations": [explanation_data(e) for e in outcome.explanations]}


def outcome_from(data: dict[str, Any]) -> tuple[MetricOutcome, list[dict[str, Any]]]:
    """The outcome without its comparisons, and the comparisons' data (suites loaded) to compare again."""
    outcome = MetricOutcome(
        benchmark=data["benchmark"], head_suite=load_suite_text(data["head_suite"]),
        measured_baselines={k: load_suite_text(v) for k, v in data["measured_baselines"].items()},
        seconds=data["seconds"], metric=data["metric"], preset=data.get("preset", DEFAULT_PRESET),
        notes=list(data.get("notes", [])),
        explanations=[explanation_from(e) for e in data.get("explanations", [])])
    comparisons = [{**c, "head": load_suite_text(c["head"]), "base": load_suite_text(c["base"]) if c["base"] else None}
                   for c in data["comparisons"]]
    return outcome, comparisons


def dump_item(item: ItemOutcome) -> str:
    """An item's outcome, every metric's part, for a report attribute."""
    return json.dumps({"benchmark": item.benchmark, "parts": [outcome_data(part) for part in item.parts]})


def load_item(text: str) -> tuple[str, list[dict[str, Any]]]:
    """The benchmark and its parts' data (:func:`outcome_from` reads each)."""
    data = json.loads(text)
    return data["benchmark"], data["parts"]
