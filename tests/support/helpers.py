"""Helpers for tests: build through the real cache, run commands as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from pytest_cpybench.cpython import builds, git
from pytest_cpybench.measure.contention import Contention

CONTENTION = Path(__file__).parents[1] / "data" / "contention" / "2026-12-07.json"


def build(repo: Path, ref: str, cache_dir: Path, **request: object) -> builds.Build:
    commit = git.resolve(str(repo), ref, cache_dir)
    return builds.ensure_build(builds.BuildRequest(commit=commit, **request), cache_dir,
                                progress=lambda message: print(f"[build] {message}", flush=True))


def sha(repo: Path, ref: str) -> str:
    """The full sha of ``ref`` in ``repo``: tests take shas from the repository, never hard-code them
    (they differ with CPYBENCH_TEST_CPYTHON_REPO, and whenever tests/support/cpython_repo.py changes)."""
    done = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--end-of-options",
                           f"{ref}^{{commit}}"], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def run(argv: list[str], cwd: Path, timeout: float = 3600, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """Run a command as a user would; its output is echoed so CI logs show it."""
    # A session run by a test looks the same on a CI machine as on a desk: pytest prints whole
    # failure messages in its short summary when it sees CI or BUILD_NUMBER, and a step summary
    # file belongs to the CI job, not to the sessions its tests start.
    inherited = {name: value for name, value in os.environ.items()
                 if name not in ("PYTEST_ADDOPTS", "CI", "BUILD_NUMBER", "GITHUB_STEP_SUMMARY")}
    full_env = {**inherited, **(env or {})}
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env,
                          stdin=subprocess.DEVNULL)
    print(f"$ {' '.join(argv)}\n--- exit {done.returncode}\n{done.stdout}\n--- stderr\n{done.stderr}")
    return done


def cli(*args: str, cwd: Path, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "pytest_cpybench", *args], cwd=cwd, timeout=timeout)


def pytest_run(*args: str, cwd: Path, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    """A pytest session of the plugin. Failing items are not explained (profiles of both sides cost
    a minute and more) unless the test asks with --cpython-explain: only tests/explain is about that."""
    if not any(arg.startswith("--cpython-explain") for arg in args):
        args = (*args, "--cpython-explain=no")
    return run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd, timeout=timeout)


# A benchmark body for write_manifest: one copy.deepcopy of a small structure per loop. Its processes are
# short, and the test repository's slowdown branches slow it more than deepcopy (slowdown-small: ~1.2x).
TINYCOPY = """\
import copy
data = {"a": [1, 2, (3, 4)], "b": {"c": "d", "e": [5.0, 6.0]}, "f": list(range(10))}

def bench(loops):
    t0 = pyperf.perf_counter()
    for _ in range(loops):
        copy.deepcopy(data)
    return pyperf.perf_counter() - t0

runner.bench_time_func("tinycopy", bench)"""

# Benchmark bodies for write_manifest: one that works, one that crashes, one that hangs.
CRASH_AND_HANG = {
    "good": "runner.bench_func('good', sum, range(100))",
    "crash": "raise RuntimeError('this benchmark is broken')",
    "hang": "import time\nrunner.bench_func('hang', time.sleep, 3600)",
}


def write_manifest(root: Path, scripts: dict[str, str], requires_python: str = ">=3.8",
                   requirements: dict[str, str] | None = None) -> Path:
    """An extra manifest in pyperformance's format: one benchmark per entry of ``scripts`` (the body of
    its run_benchmark.py after ``runner = pyperf.Runner()``), with a requirements.txt where
    ``requirements`` has one for it."""
    for name, body in scripts.items():
        folder = root / f"bm_{name}"
        folder.mkdir(parents=True)
        (folder / "pyproject.toml").write_text(textwrap.dedent(f"""\
            [project]
            name = "pyperformance_bm_{name}"
            requires-python = "{requires_python}"
            dependencies = ["pyperf"]
            urls = {{repository = "https://example.invalid"}}
            version = "1.0"

            [tool.pyperformance]
            name = "{name}"
            tags = "custom"
            """))
        if requirements and name in requirements:
            (folder / "requirements.txt").write_text(requirements[name])
        (folder / "run_benchmark.py").write_text(
            "import pyperf\nrunner = pyperf.Runner()\n" + body + "\n")
    manifest = root / "MANIFEST"
    manifest.write_text("[benchmarks]\n\nname\tmetafile\n" + "".join(f"{n}\t<local>\n" for n in scripts))
    return manifest


def recorded_contention(hour: str) -> Contention:
    """A test loop's times on this project's two vCPUs at a recorded hour (tests/data/contention),
    in seconds; an hour without loops alone takes the quiet hour's."""
    recorded = json.loads(CONTENTION.read_text())

    def seconds(times: dict[str, list[float]]) -> tuple[tuple[float, ...], ...]:
        return tuple(tuple(ms / 1000 for ms in times[cpu]) for cpu in ("0", "1"))
    alone = recorded[hour].get("alone", recorded["quiet"]["alone"])
    return Contention(("0", "1"), seconds(alone), seconds(recorded[hour]["together"]))
