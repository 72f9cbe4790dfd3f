"""The machine the numbers come from: they mean little without it."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pyperf
import pyperformance

import pytest_cpybench

REPO_ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def memory_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError):
        pass
    return "unknown"


def _first_line(argv: list[str]) -> str:
    if not shutil.which(argv[0]):
        return "not installed"
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (done.stdout.strip().splitlines() or ["unknown"])[0]


def governor() -> str:
    path = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    try:
        return path.read_text().strip()
    except OSError:
        return "n/a (no cpufreq)"


def project_revision() -> str:
    done = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        return "unknown"
    dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return done.stdout.strip() + (" + uncommitted changes" if dirty else "")


def details(target_version: str = "") -> dict[str, str]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores": f"{os.cpu_count()} ({affinity} usable)",
        "load average (1/5/15 min)": load_average(),
        "memory": memory_total(),
        "cpu governor": governor(),
        "kernel": platform.platform(),
        "host python": sys.version.split()[0] + f" ({sys.executable})",
        "target python": target_version or "unknown",
        "pyperf / pyperformance": f"{pyperf.__version__} / {pyperformance.__version__}",
        "pytest-cpybench": f"{getattr(pytest_cpybench, '__version__', '?')} at {project_revision()}",
        "ccache": _first_line(["ccache", "--version"]),
    }
