"""The environment triage on real venvs: two venvs of the host interpreter whose benchmark requirement
is installed at two versions (real pip, a local wheel, no index)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import write_manifest

from pytest_cpybench.explain import profiler, triage
from pytest_cpybench.explain.model import ENVIRONMENT
from pytest_cpybench.measure.interleaved import Side
from pytest_cpybench.suite import _pyperformance

pytestmark = pytest.mark.usefixtures("subprocesses")


def _wheel(folder: Path, name: str, version: str) -> Path:
    """A pure-Python wheel of one module, as a build backend writes it."""
    info = f"{name}-{version}.dist-info"
    files = {f"{name}.py": f"VERSION = {version!r}\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: by hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{path},sha256={_digest(text)},{len(text.encode())}\n" for path, text in files.items())
    record += f"{info}/RECORD,,\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name_in, text in {**files, f"{info}/RECORD": record}.items():
            wheel.writestr(name_in, text)
    return path


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def _venv(root: Path, wheel: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "--quiet",
                    "--disable-pip-version-check", str(wheel)], check=True)
    return python


def test_two_venvs_that_differ_in_one_dependency_are_an_environment_failure(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "suite", {"usesdep": "runner.bench_func('usesdep', sum, range(10))"},
                              requirements={"usesdep": "cpybench-dep==1.0\n"})
    bench = next(b for b in _pyperformance.load_benchmarks([manifest]) if b.name == "usesdep")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    base = _venv(tmp_path / "base", _wheel(wheels, "cpybench_dep", "1.0"))
    head = _venv(tmp_path / "head", _wheel(wheels, "cpybench_dep", "1.1"))
    pair = profiler.Pair(bench, Side("v1", base, {}), Side("head", head, {}), "3.11.7", ["usesdep"], "time")
    notes: list[str] = []
    found = profiler.environment_differences(pair, notes)
    assert found == ["cpybench-dep: 1.0 on the base, 1.1 on the head"] and notes == []
    kind, reason = triage.classify(environment=found, bimodal=None, instructions=(100.0, 100.0), metric="time")
    assert kind == ENVIRONMENT
    assert reason == "the benchmark environments differ: cpybench-dep: 1.0 on the base, 1.1 on the head"
    # The same venv on both sides: nothing differs.
    same = profiler.Pair(bench, Side("v1", base, {}), Side("head", base, {}), "3.11.7", ["usesdep"], "time")
    assert profiler.environment_differences(same, notes) == []
