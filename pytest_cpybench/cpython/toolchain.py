"""Whether this machine can build a preset of a CPython version: refused before anything is built.

Some presets need a toolchain the distribution may not have, or a CPython newer than the commit:

- ``nogil`` (``--disable-gil``): 3.13 or newer;
- ``jit`` (``--enable-experimental-jit``): 3.13 or newer, and the one LLVM major version the commit's
  ``Tools/jit/_llvm.py`` asks for (``_LLVM_VERSION``: 18 for 3.13, 19 for 3.14): its ``clang`` and
  ``llvm-readobj``, found as that script finds them (``clang`` when ``--version`` says so, else
  ``clang-18``; Homebrew's ``llvm@18`` is not looked for here);
- ``tailcall`` (``--with-tail-call-interp``): 3.14 or newer, compiled by clang 19 or newer as ``CC``
  (configure checks for ``preserve_none``, which gcc and older clangs lack).

:func:`refusal` is a plain function (no commit, no git): the one line that says why, or None.
:func:`check` reads the commit's sources and raises :class:`~pytest_cpybench.errors.ToolchainError`.
What the refusals say was checked on Debian 12 (clang-16 and clang-19 in its archive, no LLVM 18)
with CPython 3.13.5; a 3.14 source with clang-19 (what builds ``tailcall`` and ``jit`` there) was
not available on that machine.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable

from pytest_cpybench.cpython import git
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.errors import CpybenchError, ToolchainError

Which = Callable[[str], "str | None"]
# 3.13: 18, 3.14: 19; later versions read it from the commit (Tools/jit/_llvm.py).
LLVM_BY_VERSION = {(3, 13): 18, (3, 14): 19}
NEWEST_KNOWN_LLVM = 21  # what CPython's main asks for after 3.14 (Tools/jit/README.md)
MIN_VERSION = {"nogil": (3, 13), "jit": (3, 13), "tailcall": (3, 14)}
TAILCALL_MIN_CLANG = 19
JIT_TOOLS = ("clang", "llvm-readobj")  # what Tools/jit runs for every stencil (llvm-objdump is optional)
_LLVM_SOURCE = "Tools/jit/_llvm.py"
_LLVM_VERSION_RE = re.compile(r"""^_LLVM_VERSION\s*(?::\s*\w+\s*)?=\s*["']?(\d+)""", re.MULTILINE)
_CLANG_VERSION_RE = re.compile(r"clang version (\d+)\.")


def _major_minor(version: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def tool_version_text(path: str) -> str:
    """``path --version``'s output ("" when it does not run)."""
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout


def find_llvm_tool(tool: str, llvm: int, which: Which = shutil.which,
                   version_text: Callable[[str], str] = tool_version_text) -> str | None:
    """``tool`` of LLVM ``llvm`` as ``Tools/jit/_llvm.py`` finds it: the unversioned name when its
    ``--version`` says ``version <llvm>.x.y``, else ``<tool>-<llvm>``."""
    pattern = re.compile(rf"version\s+{llvm}\.\d+\.\d+")
    for name in (tool, f"{tool}-{llvm}"):
        path = which(name)
        if path and pattern.search(version_text(path)):
            return path
    return None


def c_compiler() -> list[str]:
    """The C compiler configure will use, as argv (``$CC`` without a ``ccache`` in front; else ``cc``)."""
    words = shlex.split(os.environ.get("CC", "")) or ["cc"]
    return words[1:] if len(words) > 1 and os.path.basename(words[0]) == "ccache" else words


def clang_major(compiler: list[str], which: Which = shutil.which,
                version_text: Callable[[str], str] = tool_version_text) -> int | None:
    """The major version of ``compiler`` when it is clang, else None."""
    path = which(compiler[0]) if compiler else None
    match = _CLANG_VERSION_RE.search(version_text(path)) if path else None
    return int(match.group(1)) if match else None


def wanted_llvm(version: str, llvm_source: str | None = None) -> int:
    """The LLVM major version a JIT build of ``version`` needs: from its ``Tools/jit/_llvm.py``
    when given, else what that file says in each released version."""
    if llvm_source:
        match = _LLVM_VERSION_RE.search(llvm_source)
        if match:
            return int(match.group(1))
    return LLVM_BY_VERSION.get(_major_minor(version), NEWEST_KNOWN_LLVM)


def refusal(preset: str, version: str, which: Which = shutil.which, *, llvm: int | None = None,
            version_text: Callable[[str], str] = tool_version_text) -> str | None:
    """Why ``preset`` of CPython ``version`` cannot be built here (one line naming the version and
    the Debian packages to install), or None when it can; ``llvm``: the LLVM major version the
    commit's ``Tools/jit`` wants (default: the released version's)."""
    minimum = MIN_VERSION.get(preset)
    if minimum is not None and _major_minor(version) < minimum:
        flag = {"nogil": "--disable-gil", "jit": "--enable-experimental-jit",
                "tailcall": "--with-tail-call-interp"}[preset]
        return (f"the {preset} build ({flag}) needs CPython {minimum[0]}.{minimum[1]} or newer; "
                f"this commit is {version}: choose another preset or a newer ref")
    if preset == "jit":
        llvm = llvm or wanted_llvm(version)
        missing = [tool for tool in JIT_TOOLS if find_llvm_tool(tool, llvm, which, version_text) is None]
        if missing:
            return (f"the jit build of CPython {version} needs LLVM {llvm} exactly ({', '.join(missing)} "
                    f"{llvm} not found on PATH): install the Debian packages clang-{llvm} llvm-{llvm}")
    if preset == "tailcall":
        compiler = c_compiler()
        major = clang_major(compiler, which, version_text)
        if major is None or major < TAILCALL_MIN_CLANG:
            found = f"CC is clang {major}" if major else f"CC is {shlex.join(compiler)}, not clang"
            return (f"the tailcall build of CPython {version} needs clang {TAILCALL_MIN_CLANG} or newer as the "
                    f"C compiler ({found}): install the Debian package clang-{TAILCALL_MIN_CLANG} and set "
                    f"CC=clang-{TAILCALL_MIN_CLANG}")
    return None


def llvm_of(commit: Commit) -> int | None:
    """The LLVM major version the commit's ``Tools/jit`` asks for (None: it has no JIT)."""
    try:
        source = git.read_source_file(commit, _LLVM_SOURCE)
    except CpybenchError:  # no such file: before 3.13, refused for its version first
        return None
    match = _LLVM_VERSION_RE.search(source)
    return int(match.group(1)) if match else None


def has_requirements(preset: str) -> bool:
    """Whether ``preset`` needs a minimum version or a toolchain (``release`` builds with anything)."""
    return preset in MIN_VERSION


def check(preset: str, commit: Commit, version: str, which: Which = shutil.which) -> None:
    """Refuse (:class:`ToolchainError`) a build of ``commit`` this machine cannot make."""
    llvm = llvm_of(commit) if preset == "jit" else None
    reason = refusal(preset, version, which, llvm=llvm)
    if reason:
        raise ToolchainError(f"{reason} (ref {commit.ref}, {commit.short})")
