"""The session's header says how the sides of a round are measured, and why, in one line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import pytest_run

from pytest_cpybench.measure import cpus
from pytest_cpybench.options import settings_from
from pytest_cpybench.plugin import gateways
from pytest_cpybench.session.measurement import sides_line


def _header(*args: str, cwd: Path) -> str:
    done = pytest_run(f"--cpython-python={sys.executable}", f"--cpython-cache-dir={cwd}", "--collect-only",
                      "--cpython-benchmarks=nbody", *args, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.usefixtures("subprocesses")
def test_the_header_says_at_once_with_free_cores_and_in_turn_with_workers_taking_them(tmp_path: Path) -> None:
    alone = _header(cwd=tmp_path)
    # The default budget is auto: the header says its two limits.
    assert "budget=auto (at most 40 rounds and 0.9x pyperformance's time per side)" in alone
    assert "budget=40 " in _header("--cpython-budget=40", cwd=tmp_path)
    # --collect-only measures nothing: the header says auto's rule without checking the cores.
    assert f"cpybench: {sides_line(settings_from({}), check=False)}\n" in alone
    if len(cpus.cores_of(cpus.usable_cpus(None))) == 2:  # this project's 2-core machines
        assert "cpybench: sides at once, a physical core each (" in alone
        assert "), unless a test loop finds that they slow each other down (checked before the first" in alone
    workers = _header("-n", "2", cwd=tmp_path)
    per_worker = gateways.local_worker_cpus(["popen", "popen"], None)
    assert f"cpybench: {sides_line(settings_from({}), per_worker, check=False)}" in workers
    if len(cpus.cores_of(cpus.usable_cpus(None))) == 2:
        assert "cpybench: sides in turn: -n 2 leaves each worker one core" in workers
    turns = _header("--cpython-parallel=no", cwd=tmp_path)
    assert "cpybench: sides in turn (--cpython-parallel=no)" in turns
