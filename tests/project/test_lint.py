"""The linter and the type checker, as tests: CI runs README's one test command, and these run in it.

Their configuration is in pyproject.toml ([tool.ruff], [tool.mypy]).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("subprocesses")  # every test here starts processes

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff() -> None:
    done = _run("ruff", "check", "pytest_cpybench", "tests", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy() -> None:
    done = _run("mypy")  # the packages and options of [tool.mypy]
    assert done.returncode == 0, done.stdout + done.stderr
