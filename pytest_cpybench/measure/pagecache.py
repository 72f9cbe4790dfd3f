"""A fresh physical placement of an interpreter's code for every round.

Every process of an interpreter runs the same physical pages of its executable and extension
modules: the ones the page cache holds them in. Where those pages fall in the processor's
physically indexed caches depends on which free pages the kernel handed out when the files were
read, and it changes a benchmark's time by several percent. Two builds of identical machine code
(the test repository's ``neutral`` branch and its release tag, the same ``.text`` byte for byte)
ran nbody 1.07x apart for as long as their pages stayed cached, and 0.96x to 1.06x apart after
each eviction (docs/measurements/2026-12-07-placement.md). Left alone, that offset is the same
for every round of a session, so no interval sees it and an A/A comparison fails.

Dropping the files from the page cache before each round (``posix_fadvise(DONTNEED)``: no
privileges needed) makes the next round's processes read them into new pages: the offset becomes
round-to-round noise, which the rounds' intervals measure like any other. Pages that a running
process maps stay (another xdist worker's benchmark on the same builds, another session), and
tmpfs keeps its pages: there the placement stays as it was.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def interpreter_files(venv_python: Path) -> list[Path]:
    """The files a process of ``venv_python`` maps for code: its real executable, a shared
    libpython beside its installation, its installation's extension modules (``lib-dynload``) and,
    in a venv, the extension modules of the venv's packages."""
    executable = venv_python.resolve()
    lib = executable.parent.parent / "lib"
    found = [executable, *_shared_objects(lib.glob("libpython*"))]
    for version_folder in lib.glob("python3*"):
        found += _shared_objects((version_folder / "lib-dynload").glob("*"))
    venv = venv_python.parent.parent
    if (venv / "pyvenv.cfg").is_file():
        found += _shared_objects((venv / "lib").rglob("*"))
    return sorted(set(found))


def code_files(pythons: Iterable[Path]) -> list[Path]:
    """:func:`interpreter_files` of every interpreter, for one :func:`drop` of them all."""
    return sorted({path for python in pythons for path in interpreter_files(python)})


def _shared_objects(paths: Iterable[Path]) -> list[Path]:
    return [path for path in paths if _is_shared_object(path)]


def _is_shared_object(path: Path) -> bool:
    name = path.name
    return (name.endswith(".so") or ".so." in name) and path.is_file() and not path.is_symlink()


def drop(paths: Iterable[Path]) -> int:
    """Ask the kernel to drop ``paths`` from the page cache; the number of files it was asked for
    (a file that cannot be opened is left as it is: it only keeps its placement)."""
    if not hasattr(os, "posix_fadvise"):  # not on macOS: placement stays as the page cache has it
        return 0
    asked = 0
    for path in paths:
        try:
            descriptor = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
            asked += 1
        except OSError:  # a filesystem that ignores the advice: the file keeps its placement
            pass
        finally:
            os.close(descriptor)
    return asked
