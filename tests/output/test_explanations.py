"""Why a result is slower, as people read it: the item's lines under its verdict, JUnit properties,
the pages' and PR comment's section; and over the xdist wire. The profile is made from real
cachegrind files (tests/data/explain) and the verdict from the seed's results."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import pyperf
from seed import BASE_3_10, HEAD_FILE

from pytest_cpybench.explain import instructions
from pytest_cpybench.explain.model import CODE, Explanation, Profile
from pytest_cpybench.options import settings_from
from pytest_cpybench.output import ci, explanations, junit, pages, terminal
from pytest_cpybench.results.files import load_suite
from pytest_cpybench.session import wire
from pytest_cpybench.session.gate import Gate
from pytest_cpybench.session.model import ItemOutcome, MetricOutcome

DATA = Path(__file__).parent.parent / "data" / "explain"


def _profile() -> Profile:
    def counts(side: str, loops: int) -> dict[str, int]:
        return instructions.parse(lzma.decompress((DATA / f"cachegrind.{side}.L{loops}.out.xz").read_bytes()).decode())
    base, head = (instructions.per_loop(counts(side, 100), counts(side, 200), 100) for side in ("base", "head"))
    return instructions.profile(base, head, how="cachegrind, one count per side", files=["x/cachegrind.1"])


def _outcome() -> tuple[Gate, ItemOutcome]:
    gate = Gate(settings_from({}), log=lambda _message: None)
    names = ["coverage", "nbody"]  # coverage is a regression in the seed
    base = pyperf.BenchmarkSuite([load_suite(str(BASE_3_10)).get_benchmark(n) for n in names])
    head = pyperf.BenchmarkSuite([load_suite(str(HEAD_FILE)).get_benchmark(n) for n in names])
    comparison = gate.engine._compare("3.10.4", base, head)
    why = Explanation("coverage", "3.10.4", CODE, "the interpreter does more work", ["a note"], [_profile()],
                      seconds=12.5, folder="/results/explain/x")
    return gate, ItemOutcome("mixed", [MetricOutcome("mixed", head, comparisons=[comparison], explanations=[why])])


def test_the_failing_items_message_names_the_top_five_under_its_verdict() -> None:
    _gate, outcome = _outcome()
    lines = terminal.failure_lines(outcome)
    verdict = next(i for i, line in enumerate(lines) if line.startswith("coverage"))
    assert lines[verdict + 1] == "  why (code): the interpreter does more work"
    assert lines[verdict + 2].startswith("    instructions profile: instructions per loop 35,507 -> 50,089 (1.41x)")
    assert lines[verdict + 3] == ("      Objects/dictobject.c:dictiter_iternextkey: 0 -> 7,007 (+7,007, 48% of the "
                                  "change)")
    assert len([line for line in lines if line.startswith("      ")]) == 5
    assert lines[verdict + 8] == "    a note"


def test_junit_properties_number_the_contributors() -> None:
    _gate, outcome = _outcome()
    props = dict(junit.properties(outcome))
    assert props["cpybench.coverage.why.kind"] == "code"
    assert props["cpybench.coverage.why.1"].startswith("instructions: Objects/dictobject.c:dictiter_iternextkey")
    assert "cpybench.coverage.why.5" in props and "cpybench.coverage.why.6" not in props
    assert props["cpybench.coverage.why.files"] == "/results/explain/x"


def test_the_pages_and_the_comment_have_a_why_section() -> None:
    _gate, outcome = _outcome()
    section = explanations.markdown_section(outcome.explanations)
    assert section.startswith(explanations.WHY_TITLE)
    assert "### coverage vs. 3.10.4: code" in section
    assert "| `Objects/abstract.c:PySequence_Tuple` | 0 | 2,142 | +2,142 | 15% |" in section
    assert "raw files: `/results/explain/x`" in section
    comment = ci.summary_markdown("head", [outcome.comparisons[0].result], explained=outcome.explanations)
    assert "- **coverage** vs. 3.10.4: code: the interpreter does more work" in comment
    assert ("  - instructions: `Objects/dictobject.c:dictiter_iternextkey` +7,007 (48%); "
            "`Objects/abstract.c:PySequence_Tuple` +2,142 (15%); `Objects/tupleobject.c:tupledealloc` +1,505 (10%)"
            in comment)


def test_explanations_cross_the_wire() -> None:
    gate, outcome = _outcome()
    sent = wire.dump_item(outcome)
    json.loads(sent)
    back = gate.outcome_from_wire(sent)
    assert back.explanations == outcome.explanations
    assert terminal.failure_lines(back) == terminal.failure_lines(outcome)


def test_the_baselines_results_page_has_the_why_section(tmp_path: Path) -> None:
    _gate, outcome = _outcome()
    comparison = outcome.comparisons[0]
    assert comparison.base is not None and comparison.result is not None
    written = pages.write_run(tmp_path, comparison.head, "head", [(comparison.base, "base", "3.10.4")],
                              [comparison.result], plots=False, explained=outcome.explanations)
    page = written.pages["3.10.4"].read_text()
    assert page.index("## pytest-cpybench verdicts") < page.index(explanations.WHY_TITLE)
    assert "### coverage vs. 3.10.4: code" in page
