"""The commands' choices and refusals, in-process (no build, no measurement): which commits a
backfill measures, and one-line errors for bad options."""

from __future__ import annotations

from pathlib import Path

import pytest
from history_data import make_line

from pytest_cpybench.cli import main
from pytest_cpybench.history.backfill import choose


def test_every_n_counts_from_the_start_so_nights_choose_the_same_commits() -> None:
    line = make_line(18)
    assert sorted(c.index for c in choose(line, 5)) == [0, 5, 10, 15, 17]
    longer = make_line(21)  # three more commits the next night
    assert {c.index for c in choose(longer, 5)} - {c.index for c in choose(line, 5)} == {20}
    assert sorted(c.index for c in choose(line)) == list(range(18))
    assert [c.index for c in choose(line, wanted=[line[3].sha, line[9].sha])] == [9, 3]


def test_the_tip_first_then_spread_so_that_drift_is_not_a_step() -> None:
    line = make_line(9)
    assert [c.index for c in choose(line)] == [8, 0, 4, 2, 6, 1, 3, 5, 7]
    assert [c.index for c in choose(line, 5)] == [8, 0, 5]


@pytest.mark.parametrize(("argv", "message"), [
    (["backfill", "--range=a..b", "--every=0"], "--every=0: give at least 1"),
    (["backfill", "--range=a..b", "--metric=time,instructions"], "backfill measures one metric"),
    (["backfill", "--range=a..b", "--mode=debug"], "--mode=debug measures one value"),
])
def test_bad_options_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                                  tmp_path: Path) -> None:
    assert main([*argv, f"--results-dir={tmp_path}", f"--cache-dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_range_is_two_refs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["backfill", "--range=v3.13.5", f"--repo={tmp_path}", f"--cache-dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "--range='v3.13.5': give two refs as A..B" in err and len(err.strip().splitlines()) == 1


def test_errors_name_the_options_as_the_command_spells_them(capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    missing = tmp_path / "no-clone"
    assert main(["backfill", "--range=a..b", "-b", "nbody", f"--repo={missing}", f"--cache-dir={tmp_path}",
                 f"--results-dir={tmp_path}"]) == 8
    err = capsys.readouterr().err
    assert f"{missing} is not a git repository: pass --repo=<CPython clone or URL>" in err
    assert "--cpython-repo" not in err and len(err.strip().splitlines()) == 1
