"""The folders are layers (pyproject.toml's [tool.importlinter] contracts): import-linter checks
them, and a module that reaches up a layer breaks the check."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("subprocesses")  # every test here starts processes

ROOT = Path(__file__).resolve().parents[2]


def _lint_imports(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; "
               "sys.exit(c(['--no-cache']))"]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"})


def test_the_package_keeps_its_layers() -> None:
    done = _lint_imports(ROOT, ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_verdicts_importing_output_break_the_layers(tmp_path: Path) -> None:
    """The check can fail: a copy of the package whose statistics import the terminal text."""
    shutil.copytree(ROOT / "pytest_cpybench", tmp_path / "pytest_cpybench",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    stats = tmp_path / "pytest_cpybench" / "verdict" / "stats.py"
    stats.write_text(stats.read_text() + "\nfrom pytest_cpybench.output import formatting  # noqa: E402, F401\n")
    done = _lint_imports(tmp_path, tmp_path)
    assert done.returncode != 0, done.stdout
    assert "Front ends over bisect over output over the session over the core BROKEN" in done.stdout
    assert "pytest_cpybench.verdict.stats -> pytest_cpybench.output.formatting" in done.stdout
