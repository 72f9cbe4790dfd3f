"""The interpreters' code dropped from the page cache before each round: which files, and that
they leave it (read back with mincore(2), as fincore(1) does)."""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
import sysconfig
from pathlib import Path

import pytest
from helpers import write_manifest

from pytest_cpybench.measure import interleaved, pagecache
from pytest_cpybench.measure.interleaved import Budget, Side
from pytest_cpybench.measure.processes import RunOptions
from pytest_cpybench.suite._pyperformance import load_benchmarks

PAGE = mmap.PAGESIZE


def resident_pages(path: Path) -> int:
    """How many of ``path``'s pages the page cache holds (mapping a file reads none of it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    size = path.stat().st_size
    pages = (size + PAGE - 1) // PAGE
    vector = (ctypes.c_ubyte * pages)()
    descriptor = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, descriptor, 0)
        if address in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap")
        try:
            if libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
        finally:
            libc.munmap(address, size)
    finally:
        os.close(descriptor)
    return sum(byte & 1 for byte in vector)


def test_the_files_are_the_executable_its_extension_modules_and_the_venvs() -> None:
    files = pagecache.interpreter_files(Path(sys.executable))
    executable = Path(sys.executable).resolve()
    assert files[0] == executable or executable in files
    dynload = Path(sysconfig.get_path("platstdlib", vars={"platbase": sys.base_exec_prefix})) / "lib-dynload"
    assert any(path.parent == dynload for path in files), files
    venv = Path(sys.prefix)
    if sys.prefix != sys.base_prefix:  # the test venv: its packages' compiled modules too, nothing outside it
        outside = [path for path in files if path != executable and path.parent != dynload
                   and not path.is_relative_to(venv) and "libpython" not in path.name]
        assert outside == []
    assert all(path == executable or ".so" in path.name for path in files)
    assert len(files) == len(set(files))
    # Both sides of an A/A on one interpreter: each file dropped once.
    assert pagecache.code_files([Path(sys.executable), Path(sys.executable)]) == files


def test_a_dropped_file_leaves_the_page_cache(tmp_path: Path) -> None:
    path = tmp_path / "code.bin"
    with path.open("wb") as file:
        file.write(os.urandom(64 * PAGE))
        file.flush()
        os.fsync(file.fileno())  # dirty pages stay until written back; a build's files are long clean
    path.read_bytes()
    if resident_pages(path) == 0:
        pytest.skip("this filesystem does not keep file pages in the page cache")
    assert pagecache.drop([path, tmp_path / "missing.so"]) == 1  # a missing file is left alone
    assert resident_pages(path) == 0 or _keeps_pages(tmp_path)


def _keeps_pages(folder: Path) -> bool:
    """tmpfs holds its files in the page cache: nothing can drop them."""
    mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    best = max((mount for mount in mounts if folder.resolve().is_relative_to(mount[1])), key=lambda m: len(m[1]))
    return best[2] == "tmpfs"


TINY = """\
runner.bench_func("tiny", lambda: None)
"""  # write_manifest's script makes the runner


def _venv_with_a_module(tmp_path: Path) -> tuple[Path, Path]:
    """A venv of the test interpreter (its packages on the path through a .pth file) holding one
    compiled-module file, clean and read into the page cache: its python and that file."""
    venv = tmp_path / "venv"
    site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    site.mkdir(parents=True)
    (venv / "bin").mkdir()
    (venv / "pyvenv.cfg").write_text(f"home = {Path(sys.executable).resolve().parent}\ninclude-system-site-packages"
                                     f" = false\nversion = {sys.version.split()[0]}\n", encoding="utf-8")
    (site / "test_packages.pth").write_text("\n".join(sys.path[1:]) + "\n", encoding="utf-8")
    python = venv / "bin" / "python"
    python.symlink_to(Path(sys.executable).resolve())
    module = site / "marker.cpython-313-x86_64-linux-gnu.so"
    with module.open("wb") as file:
        file.write(os.urandom(64 * PAGE))
        file.flush()
        os.fsync(file.fileno())
    return python, module


@pytest.mark.parametrize("reload", [True, False])
def test_the_rounds_drop_the_sides_code_unless_told_not_to(reload: bool, tmp_path: Path, subprocesses: None) -> None:
    python, module = _venv_with_a_module(tmp_path)
    (tiny,) = [b for b in load_benchmarks([write_manifest(tmp_path / "benchmarks", {"tiny": TINY})])
               if b.name == "tiny"]
    module.read_bytes()
    if resident_pages(module) == 0:
        pytest.skip("this filesystem does not keep file pages in the page cache")
    suites, rounds = interleaved.measure(tiny, [Side("head", python, {}), Side("base", python, {})],
                                         RunOptions(mode="fast", timeout=120, reload=reload), Budget(1),
                                         lambda _suites: False)
    assert rounds == 1 and set(suites) == {"head", "base"}
    assert (resident_pages(module) == 0) is reload
