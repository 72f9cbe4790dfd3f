"""Build CPython at a commit into a cache, once per build key.

A cache entry is a folder ``<cache>/builds/<key>/`` holding ``install/`` (the prefix),
``build.json`` (key, commit, version, timings), ``build.log`` and ``.last-used`` (its mtime is
the last time a session asked for the entry). Entries appear atomically: everything is built
under ``builds/.tmp-<key>-<pid>/`` and renamed into place last, so an interrupted or failed
build never leaves something that looks complete. A file lock per key (``<key>.lock``) makes two
sessions (or xdist workers) asking for the same build share one build; a process that uses an
entry holds a shared lock on ``<key>.use`` until it exits, so ``prune`` leaves that entry alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pytest_cpybench import locks
from pytest_cpybench.cpython import git, venvs
from pytest_cpybench.cpython.git import Commit
from pytest_cpybench.errors import BuildError, CpybenchError

# Why `release` is the default: PGO+LTO (what faster-cpython publishes) runs the test suite
# as a training step and takes 4-5x longer; a pre-merge check compares like with like, and a
# plain optimized build is enough to see a regression in the interpreter or the stdlib.
PRESETS: dict[str, tuple[str, ...]] = {
    "release": (),
    "pgo-lto": ("--enable-optimizations", "--with-lto"),
    "jit": ("--enable-experimental-jit",),
    "nogil": ("--disable-gil",),
    "tailcall": ("--with-tail-call-interp",),
    "debug": ("--with-pydebug",),
    # Counts specializations, executions and allocations (sys._stats_on): for explaining a change, not
    # for timing (the counting slows the interpreter).
    "pystats": ("--enable-pystats",),
}
DEFAULT_PRESET = "release"
# pip is not needed in the base interpreter (benchmark venvs bootstrap their own), and
# skipping ensurepip saves a minute per build.
COMMON_CONFIGURE = ("--without-ensurepip",)
BUILD_FORMAT = 1  # bump when the layout of an entry changes
LAST_USED = ".last-used"  # inside an entry; only its mtime matters

Progress = Callable[[str], None]
HEARTBEAT_SECONDS = 30.0


@dataclass(frozen=True)
class BuildConfig:
    """How CPython is built, whatever the commit: a preset, extra ./configure flags, make's jobs."""

    preset: str = DEFAULT_PRESET
    configure_flags: tuple[str, ...] = ()
    jobs: int = 0  # 0 = all cores

    def request(self, commit: Commit) -> BuildRequest:
        return BuildRequest(commit=commit, preset=self.preset, configure_flags=self.configure_flags, jobs=self.jobs)


@dataclass(frozen=True)
class BuildRequest:
    commit: Commit
    preset: str = DEFAULT_PRESET
    configure_flags: tuple[str, ...] = ()
    jobs: int = 0  # 0 = all cores

    def configure_args(self) -> list[str]:
        return [*COMMON_CONFIGURE, *PRESETS[self.preset], *self.configure_flags]


@dataclass
class Build:
    """A finished cache entry."""

    key: str
    path: Path
    python: Path
    version: str
    commit: dict[str, str]
    preset: str
    configure_flags: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    objects: int = 0  # object files make compiled: the next build's progress is counted against it
    ccache: bool = False
    cache_hit: bool = False
    last_used: float = 0.0  # time.time() of the last ensure_build that returned it

    @property
    def log(self) -> Path:
        return self.path / "build.log"

    def run_env(self) -> dict[str, str]:
        """Environment a shared-library build needs to start (also inside pyperf workers)."""
        if any(flag.startswith("--enable-shared") for flag in self.configure_flags):
            lib = str(self.path / "install" / "lib")
            previous = os.environ.get("LD_LIBRARY_PATH")
            return {"LD_LIBRARY_PATH": f"{lib}:{previous}" if previous else lib}
        return {}


def parse_configure_flags(text: str) -> tuple[str, ...]:
    """Split the user's ``--cpython-configure`` string like a shell would, without a shell
    (ValueError: unbalanced quotes)."""
    return tuple(shlex.split(text or ""))


def check_preset(preset: str) -> str:
    if preset not in PRESETS:
        raise CpybenchError(f"unknown build preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return preset


def compiler_identity() -> str:
    cc = os.environ.get("CC", "cc")
    try:
        done = subprocess.run([*shlex.split(cc), "--version"], capture_output=True, text=True, timeout=30)
        first_line = (done.stdout.splitlines() or ["?"])[0]
    except (OSError, subprocess.TimeoutExpired):
        first_line = "unknown"
    return f"{cc}: {first_line}"


def build_key(request: BuildRequest) -> str:
    """Everything that makes two builds interchangeable, hashed."""
    fields = {
        "format": BUILD_FORMAT,
        "commit": request.commit.sha,
        "worktree": request.commit.worktree_hash,
        "configure": request.configure_args(),
        "compiler": compiler_identity(),
        "platform": [platform.system(), platform.machine(), *platform.libc_ver()],
        "env": {name: os.environ.get(name, "") for name in ("CFLAGS", "LDFLAGS", "CPPFLAGS")},
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:20]


def builds_dir(cache_dir: Path) -> Path:
    return cache_dir / "builds"


def load_entry(path: Path) -> Build | None:
    """A complete entry at ``path``, or None."""
    try:
        data = json.loads((path / "build.json").read_text())
        return Build(path=path, python=path / "install" / "bin" / "python3", last_used=last_used(path), **data)
    except (OSError, ValueError, TypeError):
        return None


def last_used(path: Path) -> float:
    """When the entry at ``path`` was last asked for; entries from before ``.last-used``
    existed count as used when they were built."""
    for name in (LAST_USED, "build.json"):
        try:
            return (path / name).stat().st_mtime
        except OSError:
            continue
    return 0.0


def _use_lock(entry_path: Path) -> Path:
    return entry_path.with_name(entry_path.name + ".use")


def _mark_used(build: Build) -> Build:
    try:
        (build.path / LAST_USED).touch()
    except OSError:  # a read-only cache still works; it just prunes by build time
        pass
    build.last_used = last_used(build.path)
    return build


def release_all() -> None:
    """Stop protecting the entries this process used from ``prune`` (they are protected until
    the process exits otherwise). For tests."""
    locks.release_shared()


def ensure_build(request: BuildRequest, cache_dir: Path, progress: Progress = print, *,
                 wait: float = locks.BUILD_WAIT) -> Build:
    """Return the build for ``request``, building it unless the cache has it.

    The entry stays protected from ``prune`` until this process exits. When another process
    is building the same key, wait for it at most ``wait`` seconds (then ``LockTimeout``).
    """
    key = build_key(request)
    entry_path = builds_dir(cache_dir) / key
    entry_path.parent.mkdir(parents=True, exist_ok=True)
    locks.hold_shared(_use_lock(entry_path))  # before looking, so a prune cannot remove what we find
    hit = load_entry(entry_path)
    if hit is not None:
        hit.cache_hit = True
        return _mark_used(hit)
    with locks.exclusive(Path(f"{entry_path}.lock"), purpose=f"building {request.commit.short} ({key})",
                         waiting_for=f"another session building {request.commit.short} ({key})",
                         timeout=wait, log=progress):
        hit = load_entry(entry_path)  # built by the session we waited for
        if hit is not None:
            hit.cache_hit = True
            return _mark_used(hit)
        return _mark_used(_build(request, key, entry_path, progress))


@dataclass(frozen=True)
class Expected:
    """What the newest earlier build of the same preset took: each phase's seconds and make's
    object files (what a build in progress is counted against)."""

    timings: dict[str, float] = field(default_factory=dict)
    objects: int = 0

    @classmethod
    def from_cache(cls, cache_dir: Path, preset: str) -> Expected:
        earlier = [entry for entry in list_entries(cache_dir) if entry.preset == preset and entry.timings]
        if not earlier:
            return cls()
        newest = max(earlier, key=lambda entry: entry.path.stat().st_mtime if entry.path.exists() else 0.0)
        return cls(dict(newest.timings), newest.objects)


def _object_files(folder: Path) -> int:
    return sum(1 for _ in folder.rglob("*.o"))


class _Steps:
    """Runs the build steps with a log file, timings and a heartbeat that says how far along a
    phase is: make's object files of the last build's, else the seconds of the last build's phase."""

    def __init__(self, request: BuildRequest, log_path: Path, progress: Progress, expected: Expected) -> None:
        self.request = request
        self.log_path = log_path
        self.progress = progress
        self.expected = expected
        self.timings: dict[str, float] = {}
        self.objects = 0

    def _how_far(self, phase: str, seconds: float, cwd: Path) -> str:
        done = f"{seconds:.0f} s"
        if phase.startswith("make") and phase != PGO_TRAINING:
            compiled = _object_files(cwd)
            if self.expected.objects:
                share = min(compiled / self.expected.objects, 0.99)
                left = f"; about {seconds / share - seconds:.0f} s left" if share > 0.05 else ""
                return f"{compiled} of about {self.expected.objects} object files ({share:.0%}), {done}{left}"
            if compiled:
                return f"{compiled} object files compiled, {done}"
        before = self.expected.timings.get(phase)
        if before:
            return f"{done} (the last build's {phase} took {before:.0f} s)"
        return f"still running, {done}"

    def run(self, phase: str, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.progress(f"{phase}: {self.request.commit.short} (log: {self.log_path})")
        started = time.monotonic()
        with open(self.log_path, "a") as log:
            log.write(f"\n=== {phase}: {shlex.join(argv)}\n")
            log.flush()
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
            try:
                while True:
                    try:
                        returncode = proc.wait(timeout=HEARTBEAT_SECONDS)
                        break
                    except subprocess.TimeoutExpired:
                        self.progress(f"{phase}: {self._how_far(phase, time.monotonic() - started, cwd)}")
            except BaseException:
                proc.kill()
                proc.wait()
                raise
        self.timings[phase] = round(time.monotonic() - started, 2)
        if returncode != 0:
            raise BuildError(
                f"{phase} failed for {self.request.commit.ref} ({self.request.commit.short}) "
                f"with exit code {returncode}", self.log_path, _tail(self.log_path), returncode)
        self.progress(f"{phase}: done in {self.timings[phase]:.1f} s")

    def timed(self, phase: str, action: Callable[[], None]) -> None:
        self.progress(f"{phase}: {self.request.commit.short}")
        started = time.monotonic()
        action()
        self.timings[phase] = round(time.monotonic() - started, 2)


# A PGO build (--enable-optimizations: make's `all` is `profile-opt`) is make's three passes, run as
# the targets `profile-opt` reaches in this order, so each pass gets its own time: the instrumented
# build, CPython's own training run (PROFILE_TASK, the slowest part), the build that uses the profile.
PGO_TRAINING = "make (training run)"
PGO_STEPS = (("make (instrumented)", "profile-gen-stamp"), (PGO_TRAINING, "profile-run-stamp"),
             ("make (profile-use)", None))


def make_steps(src: Path, jobs: str) -> list[tuple[str, list[str]]]:
    """The make runs of a build, named by phase: one `make`, or PGO's three passes when the
    configured Makefile builds `all` as `profile-opt` and has the stamp targets to split it."""
    make = ["make", f"-j{jobs}"]
    try:
        makefile = (src / "Makefile").read_text(errors="replace")
    except OSError:
        return [("make", make)]
    targets = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].split() for line in makefile.splitlines()
               if ":" in line and not line.startswith(("\t", "#", " ")) and "=" not in line.split(":", 1)[0]}
    if targets.get("all") == ["profile-opt"] and {"profile-gen-stamp", "profile-run-stamp"} <= targets.keys():
        return [(phase, [*make, target] if target else make) for phase, target in PGO_STEPS]
    return [("make", make)]


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _build_env(src: Path) -> tuple[dict[str, str], bool]:
    env = dict(os.environ)
    use_ccache = shutil.which("ccache") is not None and "ccache" not in env.get("CC", "")
    if use_ccache:
        env["CC"] = f"ccache {env.get('CC', 'gcc')}"
        # Every build has its own source folder: rewrite absolute paths so ccache can hit
        # across commits and sessions.
        env["CCACHE_BASEDIR"] = str(src)
        env["CCACHE_NOHASHDIR"] = "1"
    return env, use_ccache


def _build(request: BuildRequest, key: str, entry_path: Path, progress: Progress) -> Build:
    work = entry_path.with_name(f".tmp-{key}-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    staged = work / "entry"
    src = work / "src"
    staged.mkdir(parents=True)
    log_path = staged / "build.log"
    steps = _Steps(request, log_path, progress, Expected.from_cache(entry_path.parent.parent, request.preset))
    env, use_ccache = _build_env(src)
    with open(log_path, "w") as log:
        log.write(f"pytest-cpybench build {key}\ncommit {request.commit.sha} ({request.commit.ref})\n")
        ccache = f"used ({shutil.which('ccache')})" if use_ccache else "not found on PATH"
        log.write(f"ccache: {ccache}\n")
    jobs = str(request.jobs or os.cpu_count() or 1)
    started = time.monotonic()
    try:
        steps.timed("export", lambda: git.export(request.commit, src))
        prefix = entry_path / "install"
        steps.run("configure", ["./configure", f"--prefix={prefix}", *request.configure_args()], src, env)
        for phase, argv in make_steps(src, jobs):
            steps.run(phase, argv, src, env)
        steps.objects = _object_files(src)
        destdir = work / "destdir"
        steps.run("install", ["make", "install", f"DESTDIR={destdir}"], src, env)
        # DESTDIR puts the prefix below destdir; move it into the staged entry.
        os.rename(destdir / prefix.relative_to(prefix.anchor), staged / "install")
        python = staged / "install" / "bin" / "python3"
        version = _interpreter_version(python, log_path, request)
        steps.timings["total"] = round(time.monotonic() - started, 2)
        record = {
            "key": key,
            "version": version,
            "commit": {"repo": request.commit.repo, "ref": request.commit.ref, "sha": request.commit.sha,
                       "date": request.commit.date, "fork": request.commit.fork,
                       "worktree_hash": request.commit.worktree_hash},
            "preset": request.preset,
            "configure_flags": list(request.configure_flags),
            "timings": steps.timings,
            "objects": steps.objects,
            "ccache": use_ccache,
        }
        (staged / "build.json").write_text(json.dumps(record, indent=2))
        (staged / LAST_USED).touch()  # present from the start: marking a use changes only its mtime
        os.rename(staged, entry_path)
    except BuildError as exc:
        exc.log_path = _keep_failed_log(log_path, entry_path, key)
        raise
    except BaseException:
        _keep_failed_log(log_path, entry_path, key)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress(f"built {request.commit.short} (Python {version}) in {steps.timings['total']:.0f} s")
    built = load_entry(entry_path)
    assert built is not None
    return built


def _keep_failed_log(log_path: Path, entry_path: Path, key: str) -> Path | None:
    """Failed builds leave no entry, but their log stays (outside the entry) for the user."""
    if not log_path.exists():
        return None
    failed_dir = entry_path.parent / "failed"
    failed_dir.mkdir(exist_ok=True)
    kept = failed_dir / f"{key}-{time.strftime('%Y%m%d-%H%M%S')}.log"
    shutil.copyfile(log_path, kept)
    return kept


def _interpreter_version(python: Path, log_path: Path, request: BuildRequest) -> str:
    try:
        return venvs.interpreter_version(python)
    except CpybenchError as err:
        with open(log_path, "a") as log:
            log.write(f"{err}\n")
        raise BuildError(f"the built interpreter for {request.commit.short} does not start",
                         log_path, _tail(log_path)) from None


def list_entries(cache_dir: Path) -> list[Build]:
    root = builds_dir(cache_dir)
    if not root.is_dir():
        return []
    entries = (load_entry(path) for path in sorted(root.iterdir()) if not path.name.startswith("."))
    return [entry for entry in entries if entry is not None]


@dataclass
class Pruned:
    removed: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # in use by another process


def prune(cache_dir: Path, keep: int | None = None, older_than_days: float | None = None) -> Pruned:
    """Remove stale temporary folders, and entries beyond the ``keep`` most recently used or
    not used for ``older_than_days``; entries a live process uses are skipped."""
    root = builds_dir(cache_dir)
    result = Pruned()
    if not root.is_dir():
        return result
    for tmp in root.glob(".tmp-*"):
        with locks.try_exclusive(root / f"{tmp.name.split('-')[1]}.lock", purpose="pruning the cache") as free:
            if free:  # else a build is running
                shutil.rmtree(tmp, ignore_errors=True)
                result.removed.append(tmp)
    entries = sorted(list_entries(cache_dir), key=lambda b: b.last_used, reverse=True)
    now = time.time()
    for index, entry in enumerate(entries):
        too_many = keep is not None and index >= keep
        too_old = older_than_days is not None and now - entry.last_used > older_than_days * 86400
        if not (too_many or too_old):
            continue
        use_lock = _use_lock(entry.path)
        with locks.unused(use_lock) as free:
            if not free:
                result.skipped.append(entry.path)
                continue
            # Rename first so a concurrent reader never sees half an entry; a process waiting
            # to use it finds the lock file gone, takes a new one and builds again.
            doomed = entry.path.with_name(f".tmp-{entry.key}-prune-{os.getpid()}")
            os.rename(entry.path, doomed)
            use_lock.unlink()
        shutil.rmtree(doomed, ignore_errors=True)
        result.removed.append(entry.path)
    return result


def entry_summary(build: Build) -> dict[str, object]:
    data = asdict(build)
    data["path"] = str(build.path)
    data["python"] = str(build.python)
    data["last_used"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(build.last_used))
    return data


def format_time(timestamp: float) -> str:
    """A local time for people: ``2025-06-11 14:02``."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))
