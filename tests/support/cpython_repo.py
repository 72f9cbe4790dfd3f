"""Build a local CPython git repository from Debian's pristine upstream tarballs.

The test suite needs real CPython sources at known refs, and these machines have
no GitHub access. Debian's source packages carry the upstream release tarballs,
so this script downloads them (``apt-get source --download-only``) and turns them
into a small git history. It changes nothing on the machine: the ``deb-src`` entry
apt needs for that is added by ``bash .ci/run`` (from the machine's own apt sources).

    v3.11.2  --  v3.13.5 (= main)  --+-- slowdown        copy.deepcopy does extra work per call (~2x)
                                     +-- slowdown-small  copy.deepcopy does a little more (~1.10x)
                                     +-- speedup         copy.deepcopy returns atomic values at once
                                     +-- neutral         a comment in Lib/tabnanny.py (nothing benchmarked)
                                     +-- memory          the copy module keeps 64 MB alive (same speed)
                                     +-- slowdown-tiny   copy.deepcopy loads one more global (~1-2.5% more instructions)
                                     +-- slowdown-c      the C scanner of json (scan_once_unicode) spins a
                                     |                   little per value it reads (json_loads slows down)
                                     +-- despecialize    LOAD_ATTR never specializes (Python/specialize.c)
                                     +-- bisect          17 commits: 8 does not build (9 fixes it), 12 slows
                                     |                   copy.deepcopy ~1.10x, every other one is neutral
                                     +-- docs-only       6 commits, each changing one .rst or .txt file under
                                                         Doc/ (nothing a build or a benchmark sees)

Commit dates and identities are fixed, so the shas are the same on every machine.
Everything is cached under ``$CPYBENCH_TEST_CACHE`` (default ``~/.cache/pytest-cpybench-tests``).

Set ``CPYBENCH_TEST_CPYTHON_REPO`` to a real CPython clone (with tags ``v3.11.2`` and
``v3.13.5``) to use it instead of the tarballs: it is cloned into the cache and the
performance branches are added there, never in the clone itself.

Usage: python tests/support/cpython_repo.py   (prints the repository path)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Bump when the layout or the patches change, so caches are rebuilt.
REPO_FORMAT = "10"


@dataclass(frozen=True)
class Release:
    tag: str
    package: str  # Debian source package, as "name/suite"
    tarball_glob: str
    date: str  # fixed commit date (ISO 8601) so shas are reproducible


RELEASES = (
    Release("v3.11.2", "python3.11/bookworm", "python3.11_3.11.2.orig.tar.*", "2023-02-08T12:00:00+00:00"),
    Release("v3.13.5", "python3.13/trixie", "python3.13_3.13.5.orig.tar.*", "2025-06-11T12:00:00+00:00"),
)


def _deepcopy_overhead(statement: str) -> tuple[str, str, str]:
    """A deliberate extra cost at the start of every copy.deepcopy() call."""
    anchor = '    d = id(x)\n    if memo is None:\n        memo = {}\n'
    return ("Lib/copy.py", anchor,
            f"    # pytest-cpybench test fixture: a deliberate per-call cost.\n    {statement}\n" + anchor)


# About 2x on deepcopy: unmistakable, for the end-to-end verdict tests.
SLOWDOWN_PATCH = _deepcopy_overhead("tuple(_deepcopy_dispatch)")
# About 1.10x on deepcopy (twice the default 5% threshold), for the sensitivity benchmarks.
SLOWDOWN_SMALL_PATCH = _deepcopy_overhead("len(_deepcopy_dispatch); len(_deepcopy_dispatch); "
                                          "len(_deepcopy_dispatch)")
# One more global load per call: +1.3% (deepcopy), +1.0% (deepcopy_reduce), +2.5% (deepcopy_memo)
# instructions per loop under cachegrind; below what wall time can see, for the instruction-count gate.
SLOWDOWN_TINY_PATCH = _deepcopy_overhead("_deepcopy_dispatch")
# The fast path CPython 3.14 added: atomic values skip the memo entirely.
SPEEDUP_PATCH = (
    "Lib/copy.py",
    '    d = id(x)\n    if memo is None:\n        memo = {}\n',
    "    if type(x) in _deepcopy_atomic_types:\n"
    "        return x\n"
    '    d = id(x)\n    if memo is None:\n        memo = {}\n',
)
SPEEDUP_TYPES = (
    "Lib/copy.py",
    "d[types.CodeType] = _deepcopy_atomic\n",
    "d[types.CodeType] = _deepcopy_atomic\n"
    "_deepcopy_atomic_types = frozenset({types.NoneType, types.EllipsisType, types.NotImplementedType,\n"
    "                                    int, float, bool, complex, bytes, str, types.CodeType, type,\n"
    "                                    range, types.BuiltinFunctionType, types.FunctionType,\n"
    "                                    weakref.ref, property})\n",
)
# A slowdown in C: a cheap loop in the function json's C scanner calls for every value it reads,
# so a profile of json_loads names it first.
SLOWDOWN_C_PATCH = (
    "Modules/_json.c",
    '    if (idx < 0) {\n        PyErr_SetString(PyExc_ValueError, "idx cannot be negative");',
    "    /* pytest-cpybench test fixture: a deliberate per-call cost. */\n"
    "    for (volatile int spin = 0; spin < 64; spin++) {\n    }\n"
    '    if (idx < 0) {\n        PyErr_SetString(PyExc_ValueError, "idx cannot be negative");',
)
# One specialization defeated: every LOAD_ATTR fails to specialize (pystats: its failures up, the
# specialized forms' execution counts down), attribute-heavy benchmarks slow down.
DESPECIALIZE_PATCH = (
    "Python/specialize.c",
    "    if (!_PyType_IsReady(type)) {\n        // We *might* not really need this check, but we inherited it from\n"
    "        // PyObject_GenericGetAttr and friends",
    "    if (1 || !_PyType_IsReady(type)) {  /* pytest-cpybench test fixture: never specialize */\n"
    "        // We *might* not really need this check, but we inherited it from\n"
    "        // PyObject_GenericGetAttr and friends",
)
NEUTRAL_PATCH = (
    "Lib/tabnanny.py",
    '"""The Tab Nanny despises ambiguous indentation.',
    "# pytest-cpybench test fixture: a change that no benchmark exercises.\n"
    '"""The Tab Nanny despises ambiguous indentation.',
)

# About +64 MB of peak memory in every process that imports copy (deepcopy does), same speed.
MEMORY_PATCH = (
    "Lib/copy.py",
    "error = Error   # backward compatibility\n",
    "error = Error   # backward compatibility\n"
    "# pytest-cpybench test fixture: memory kept alive by the module.\n"
    "_ballast = b'x' * (64 * 1024 * 1024)\n",
)

PERF_BRANCHES = {
    "slowdown": ("Slow down copy.deepcopy (test fixture)", [SLOWDOWN_PATCH]),
    "slowdown-small": ("Slow down copy.deepcopy a little (test fixture)", [SLOWDOWN_SMALL_PATCH]),
    "speedup": ("Speed up copy.deepcopy for atomic values (test fixture)", [SPEEDUP_TYPES, SPEEDUP_PATCH]),
    "neutral": ("Touch a comment in tabnanny (test fixture)", [NEUTRAL_PATCH]),
    "memory": ("Keep 64 MB alive in the copy module (test fixture)", [MEMORY_PATCH]),
    "slowdown-tiny": ("Slow down copy.deepcopy by one global load (test fixture)", [SLOWDOWN_TINY_PATCH]),
    "slowdown-c": ("Slow down json's C scanner (test fixture)", [SLOWDOWN_C_PATCH]),
    "despecialize": ("Never specialize LOAD_ATTR (test fixture)", [DESPECIALIZE_PATCH]),
}
PERF_DATE = "2025-06-12T12:00:00+00:00"

# The `bisect` branch: a history to search. Neutral commits append a comment to Lib/tabnanny.py
# (nothing benchmarks it); BISECT_BROKEN breaks the C build, the next commit repairs it.
BISECT_COMMITS = 17
BISECT_BROKEN = 8
BISECT_SLOWDOWN = 12
BREAK_BUILD_PATCH = ("Parser/token.c", "/* Auto-generated by Tools/build/generate_token.py */\n",
                     "/* Auto-generated by Tools/build/generate_token.py */\n"
                     "#error \"pytest-cpybench test fixture: this commit does not build\"\n")


def _bisect_commit(number: int) -> tuple[str, list[tuple[str, str, str]]]:
    """The message and patches of commit ``number`` (1-based) of the bisect branch."""
    if number == BISECT_BROKEN:
        return "Break the build in Parser/token.c (bisect test fixture)", [BREAK_BUILD_PATCH]
    if number == BISECT_BROKEN + 1:
        old, new = BREAK_BUILD_PATCH[1], BREAK_BUILD_PATCH[2]
        return "Repair the build (bisect test fixture)", [(BREAK_BUILD_PATCH[0], new, old)]
    if number == BISECT_SLOWDOWN:
        return "Slow down copy.deepcopy (bisect test fixture)", [SLOWDOWN_SMALL_PATCH]
    anchor = '"""The Tab Nanny despises ambiguous indentation.'
    return (f"Neutral change {number} in tabnanny (bisect test fixture)",
            [("Lib/tabnanny.py", anchor, f"# pytest-cpybench bisect fixture: neutral commit {number}.\n{anchor}")])

# The `docs-only` branch: each commit adds a comment line to one documentation file, which no build
# and no benchmark reads: a history over it has no change point.
DOCS_ONLY_FILES = ("Doc/about.rst", "Doc/bugs.rst", "Doc/requirements.txt", "Doc/copyright.rst",
                   "Doc/glossary.rst", "Doc/contents.rst")
DOCS_ONLY_COMMITS = len(DOCS_ONLY_FILES)


def _docs_only_commit(repo: Path, number: int) -> str:
    """Change the documentation file of commit ``number`` (1-based) of the docs-only branch; its message."""
    relpath = DOCS_ONLY_FILES[number - 1]
    comment = "#" if relpath.endswith(".txt") else ".."
    with (repo / relpath).open("a", encoding="utf-8") as file:
        file.write(f"\n{comment} pytest-cpybench docs-only fixture: commit {number}.\n")
    return f"Document something in {relpath} (docs-only test fixture)"


# What `apt-get source` says when no deb-src entry has the package: none at all, or none for its suite.
NO_SOURCE_ENTRY = ("'deb-src' URIs", "Unable to find a source package", "was not found")


def cache_root() -> Path:
    env = os.environ.get("CPYBENCH_TEST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "pytest-cpybench-tests"


def _git(repo: Path, *args: str, date: str | None = None) -> str:
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_NAME="pytest-cpybench",
        GIT_AUTHOR_EMAIL="tests@pytest-cpybench.invalid",
        GIT_COMMITTER_NAME="pytest-cpybench",
        GIT_COMMITTER_EMAIL="tests@pytest-cpybench.invalid",
    )
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, check=True,
                          capture_output=True, text=True)
    return done.stdout.strip()


def tarball(release: Release, download_dir: Path) -> Path:
    found = sorted(download_dir.glob(release.tarball_glob))
    found = [p for p in found if not p.name.endswith(".asc")]
    if found:
        return found[0]
    if not shutil.which("apt-get"):
        sys.exit(f"cannot download {release.package}: apt-get not found; put the upstream tarball in "
                 f"{download_dir} or set CPYBENCH_TEST_CPYTHON_REPO to a CPython clone")
    download_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["apt-get", "source", "--download-only", release.package],
                          cwd=download_dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.strip()]
        if any(sign in done.stderr for sign in NO_SOURCE_ENTRY):
            sys.exit(f"cannot download {release.package}: apt has no deb-src entry for it; run "
                     f"`bash .ci/run` (it adds one from this machine's apt sources) or add a deb-src entry "
                     f"yourself, or set CPYBENCH_TEST_CPYTHON_REPO to a CPython clone")
        sys.exit(f"cannot download {release.package}: `apt-get source` failed: "
                 f"{errors[-1] if errors else f'exit {done.returncode}'}")
    return tarball(release, download_dir)


def _replace_tree(repo: Path, archive: Path) -> None:
    for entry in repo.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    with tempfile.TemporaryDirectory(dir=repo.parent) as unpack:
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "tar_filter"):  # filter= is missing before 3.11.4
                tar.extractall(unpack, filter="tar")
            else:
                tar.extractall(unpack)
        (top,) = Path(unpack).iterdir()  # Python-3.x.y/
        for entry in top.iterdir():
            entry.rename(repo / entry.name)


def _apply(repo: Path, patches: list[tuple[str, str, str]]) -> None:
    for relpath, old, new in patches:
        path = repo / relpath
        text = path.read_text()
        if text.count(old) != 1:
            raise RuntimeError(f"patch anchor not found exactly once in {relpath}: {old!r}")
        path.write_text(text.replace(old, new))


def _commit_all(repo: Path, message: str, date: str) -> None:
    _git(repo, "add", "-A", "--force")
    _git(repo, "commit", "-q", "--allow-empty", "-m", message, date=date)


def _add_perf_branches(repo: Path) -> None:
    for branch, (message, patches) in PERF_BRANCHES.items():
        _git(repo, "checkout", "-q", "-B", branch, "v3.13.5")
        _apply(repo, patches)
        _commit_all(repo, message, PERF_DATE)
    _git(repo, "checkout", "-q", "-B", "bisect", "v3.13.5")
    for number in range(1, BISECT_COMMITS + 1):
        message, patches = _bisect_commit(number)
        _apply(repo, patches)
        _commit_all(repo, message, f"2025-06-13T{number:02d}:00:00+00:00")
    _git(repo, "checkout", "-q", "-B", "docs-only", "v3.13.5")
    for number in range(1, DOCS_ONLY_COMMITS + 1):
        _commit_all(repo, _docs_only_commit(repo, number), f"2025-06-14T{number:02d}:00:00+00:00")
    _git(repo, "checkout", "-q", "main")


def _from_tarballs(work: Path) -> None:
    downloads = cache_root() / "tarballs"
    _git(work, "init", "-q", "-b", "main")
    _git(work, "config", "core.autocrlf", "false")
    for release in RELEASES:
        _replace_tree(work, tarball(release, downloads))
        _commit_all(work, f"Python {release.tag[1:]}", release.date)
        _git(work, "tag", release.tag)


def _from_clone(work: Path, clone: str) -> None:
    subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", "--", clone, str(work)], check=True)
    _git(work, "checkout", "-q", "-B", "main", "v3.13.5")


def ensure_repo() -> Path:
    """Return the path of the test repository, creating it once (atomically)."""
    clone = os.environ.get("CPYBENCH_TEST_CPYTHON_REPO")
    name = f"cpython-repo-{REPO_FORMAT}" + ("-clone" if clone else "")
    repo = cache_root() / name
    if (repo / ".git").is_dir():
        return repo
    repo.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=repo.parent))
    try:
        if clone:
            shutil.rmtree(work)
            _from_clone(work, clone)
        else:
            _from_tarballs(work)
        _add_perf_branches(work)
        os.rename(work, repo)
    except OSError:
        if (repo / ".git").is_dir():  # another process won the race
            shutil.rmtree(work, ignore_errors=True)
            return repo
        raise
    finally:
        if work.exists() and work != repo:
            shutil.rmtree(work, ignore_errors=True)
    return repo


if __name__ == "__main__":
    print(ensure_repo())
