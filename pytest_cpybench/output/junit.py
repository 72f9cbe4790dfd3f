"""Per-result facts for JUnit XML ``<property>`` entries: what CI dashboards chart."""

from __future__ import annotations

from pytest_cpybench.output import explanations
from pytest_cpybench.output.formatting import format_interval
from pytest_cpybench.output.terminal import how_measured
from pytest_cpybench.session.model import ItemOutcome


def properties(outcome: ItemOutcome) -> list[tuple[str, str]]:
    """``cpybench.<result>.vs.<baseline>.<fact>``: ratio, interval, verdict, means, unit, how measured
    (a session of both metrics names its counts ``cpybench.<result>.instructions.vs.<baseline>.<fact>``),
    then why results are slower (``cpybench.<result>.why.*``: :func:`.explanations.properties`)."""
    props: list[tuple[str, str]] = []
    for c in outcome.comparisons:
        how = how_measured(c)
        metric = f".{c.metric}" if outcome.several_metrics and c.metric != "time" else ""
        for rc in c.results:
            prefix = f"cpybench.{rc.name}{metric}.vs.{c.baseline}"
            props += [(f"{prefix}.ratio", f"{rc.ratio:.4f}"),
                      (f"{prefix}.interval", format_interval(rc.estimate)),
                      (f"{prefix}.verdict", rc.verdict.value),
                      (f"{prefix}.base_mean", repr(rc.base_mean)),
                      (f"{prefix}.head_mean", repr(rc.head_mean)),
                      (f"{prefix}.unit", rc.unit),
                      (f"{prefix}.how", how)]
    return props + explanations.properties(outcome.explanations)
