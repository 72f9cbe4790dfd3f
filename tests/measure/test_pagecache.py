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

from pytest_cpybench.measure import pagecache

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
