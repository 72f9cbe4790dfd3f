"""Builds this machine cannot make are refused before anything is built: the refusal's rules on the
``--version`` lines real toolchains print (unit), and on the test repository's 3.13.5 and 3.11.2
(the plugin's exit 4, the commands' exit 2, nothing in the cache)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import cli, pytest_run

from pytest_cpybench.cpython import builds, git, toolchain

USAGE = int(pytest.ExitCode.USAGE_ERROR)

# What Debian's packages print for `--version` (first lines; clang-19 from bookworm, LLVM 18 from
# apt.llvm.org: the JIT's Tools/jit/_llvm.py matches "version 18.x.y").
CLANG_19 = ("Debian clang version 19.1.7 (++20250114103320+cd708029e0b2-1~exp1~20250114103432.75)\n"
            "Target: x86_64-pc-linux-gnu\n")
CLANG_16 = "Debian clang version 16.0.6 (15~deb12u1)\nTarget: x86_64-pc-linux-gnu\n"
CLANG_18 = "Ubuntu clang version 18.1.3 (1ubuntu1)\nTarget: x86_64-pc-linux-gnu\n"
READOBJ_18 = "Ubuntu LLVM version 18.1.3\n  Optimized build.\n"
GCC_12 = "gcc (Debian 12.2.0-14) 12.2.0\nCopyright (C) 2022 Free Software Foundation, Inc.\n"


def _machine(tools: dict[str, str]) -> tuple[toolchain.Which, object]:
    """``which`` and ``--version`` of a machine that has exactly ``tools`` (name: version text)."""
    def which(name: str) -> str | None:
        return f"/usr/bin/{name}" if name in tools else None

    def version_text(path: str) -> str:
        return tools.get(Path(path).name, "")

    return which, version_text


@pytest.mark.parametrize("preset", ["release", "pgo-lto", "debug"])
def test_presets_without_a_toolchain_are_never_refused(preset: str) -> None:
    which, text = _machine({})
    assert toolchain.refusal(preset, "3.11.2", which, version_text=text) is None  # type: ignore[arg-type]


def test_version_floors() -> None:
    which, text = _machine({"clang-18": CLANG_18, "llvm-readobj-18": READOBJ_18})
    assert "needs CPython 3.13 or newer; this commit is 3.12.9" in str(
        toolchain.refusal("nogil", "3.12.9", which, version_text=text))  # type: ignore[arg-type]
    assert toolchain.refusal("nogil", "3.13.5", which, version_text=text) is None  # type: ignore[arg-type]
    assert "3.14 or newer; this commit is 3.13.5" in str(
        toolchain.refusal("tailcall", "3.13.5", which, version_text=text))  # type: ignore[arg-type]
    assert "3.13 or newer; this commit is 3.12.0a1" in str(
        toolchain.refusal("jit", "3.12.0a1", which, version_text=text))  # type: ignore[arg-type]


def test_jit_needs_the_llvm_its_version_asks_for() -> None:
    # Debian 12: clang-16 and clang-19, no LLVM 18.
    which, text = _machine({"clang": CLANG_16, "clang-19": CLANG_19,
                            "llvm-readobj-19": "Debian LLVM version 19.1.7\n"})
    reason = toolchain.refusal("jit", "3.13.5", which, version_text=text)  # type: ignore[arg-type]
    assert reason == ("the jit build of CPython 3.13.5 needs LLVM 18 exactly (clang, llvm-readobj 18 not found "
                      "on PATH): install the Debian packages clang-18 llvm-18")
    assert toolchain.refusal("jit", "3.14.0", which, version_text=text) is None  # type: ignore[arg-type]
    # An unversioned clang counts when it is the right version, as Tools/jit/_llvm.py finds it.
    which, text = _machine({"clang": CLANG_18, "llvm-readobj-18": READOBJ_18})
    assert toolchain.refusal("jit", "3.13.5", which, version_text=text) is None  # type: ignore[arg-type]
    # A later version names its LLVM in its sources.
    reason = toolchain.refusal("jit", "3.15.0a1", which, llvm=21, version_text=text)  # type: ignore[arg-type]
    assert reason is not None and "clang-21 llvm-21" in reason


def test_llvm_version_read_as_the_jit_scripts_write_it() -> None:
    assert toolchain.wanted_llvm("3.13.5", "import re\n\n_LLVM_VERSION = 18\n_LLVM_VERSION_PATTERN = ...") == 18
    assert toolchain.wanted_llvm("3.15.0a1", '_LLVM_VERSION = "21"\n') == 21
    assert toolchain.wanted_llvm("3.14.2") == 19


def test_tailcall_needs_clang_19_as_cc(monkeypatch: pytest.MonkeyPatch) -> None:
    which, text = _machine({"cc": GCC_12, "clang-16": CLANG_16, "clang-19": CLANG_19})
    monkeypatch.delenv("CC", raising=False)
    reason = toolchain.refusal("tailcall", "3.14.0", which, version_text=text)  # type: ignore[arg-type]
    assert reason == ("the tailcall build of CPython 3.14.0 needs clang 19 or newer as the C compiler (CC is cc, "
                      "not clang): install the Debian package clang-19 and set CC=clang-19")
    monkeypatch.setenv("CC", "clang-16")
    reason = toolchain.refusal("tailcall", "3.14.0", which, version_text=text)  # type: ignore[arg-type]
    assert "(CC is clang 16)" in str(reason)
    monkeypatch.setenv("CC", "ccache clang-19")
    assert toolchain.refusal("tailcall", "3.14.0", which, version_text=text) is None  # type: ignore[arg-type]


def test_every_preset_with_a_floor_is_a_preset() -> None:
    assert set(toolchain.MIN_VERSION) <= set(builds.PRESETS)
    assert builds.PRESETS["tailcall"] == ("--with-tail-call-interp",)


# -- on the test repository: the plugin and the commands, nothing built ------------------------------

def _no_llvm_18() -> bool:
    return toolchain.find_llvm_tool("clang", 18) is None or toolchain.find_llvm_tool("llvm-readobj", 18) is None


def test_the_jit_of_3135_reads_llvm_18_from_its_sources(repo: Path, tmp_path: Path) -> None:
    commit = git.resolve(str(repo), "v3.13.5", tmp_path)
    assert toolchain.llvm_of(commit) == 18
    assert toolchain.llvm_of(git.resolve(str(repo), "v3.11.2", tmp_path)) is None


def _nothing_built(cache: Path) -> None:
    builds_dir = cache / "builds"
    assert not builds_dir.exists() or not [p for p in builds_dir.iterdir() if not p.name.endswith((".lock", ".owner"))]


@pytest.mark.parametrize(("ref", "preset", "message"), [
    pytest.param("v3.13.5", "jit", "needs LLVM 18 exactly", id="jit-3.13-without-llvm-18"),
    pytest.param("v3.13.5", "tailcall", "the tailcall build (--with-tail-call-interp) needs CPython 3.14 or newer; "
                 "this commit is 3.13.5", id="tailcall-3.13"),
    pytest.param("v3.11.2", "nogil", "the nogil build (--disable-gil) needs CPython 3.13 or newer; this commit "
                 "is 3.11.2", id="nogil-3.11"),
])
def test_the_plugin_refuses_before_building(ref: str, preset: str, message: str, repo: Path, tmp_path: Path) -> None:
    if preset == "jit" and not _no_llvm_18():
        pytest.skip("this machine has LLVM 18: the jit build is not refused here")
    cache = tmp_path / "cache"
    done = pytest_run(f"--cpython-repo={repo}", f"--cpython-ref={ref}", f"--cpython-build={preset}",
                      f"--cpython-cache-dir={cache}", f"--cpython-results-dir={tmp_path / 'results'}",
                      cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == USAGE, out
    lines = [line for line in out.splitlines() if message in line]
    assert len(lines) == 1 and len(lines[0]) < 300, out
    assert "Traceback" not in out and "configure:" not in out, out
    _nothing_built(cache)
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.json"))


def test_a_refused_baseline_stops_the_session_before_the_head_is_built(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    done = pytest_run(f"--cpython-repo={repo}", "--cpython-ref=v3.13.5", "--cpython-baseline=v3.11.2",
                      "--cpython-build=nogil", f"--cpython-cache-dir={cache}", cwd=tmp_path)
    assert done.returncode == USAGE, done.stdout + done.stderr
    assert "this commit is 3.11.2" in done.stdout + done.stderr
    _nothing_built(cache)


def test_the_build_command_refuses_with_exit_2(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    done = cli("build", "--repo", str(repo), "--ref", "v3.13.5", "--build", "tailcall", "--cache-dir", str(cache),
               cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: the tailcall build (--with-tail-call-interp) needs CPython 3.14 or newer; this commit is 3.13.5: "
        f"choose another preset or a newer ref (ref v3.13.5, {git.resolve(str(repo), 'v3.13.5', cache).short})"]
    _nothing_built(cache)
    assert shutil.which("python3")  # the refusal needs no compiler at all
