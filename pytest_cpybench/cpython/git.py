"""Git plumbing: where CPython comes from and which commit a ref names.

Every call passes the user's ref as one argument after ``--end-of-options`` (or as a
revision expression built only from a validated sha), never through a shell, so a ref
like ``"; rm -rf ~"`` or ``../../etc`` is just a name git does not know.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from pytest_cpybench import locks
from pytest_cpybench.errors import CpybenchError, RefError

UPSTREAM_URL = "https://github.com/python/cpython"
WORKTREE = "WORKTREE"
_SHA_RE = re.compile(r"^[0-9a-f]{4,40}$")
_FORK_REF_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*):(.+)$")

REPO_OPTION = ("cpython-repo",)  # what errors about the repository name (CpybenchError.options)


@dataclass(frozen=True)
class Commit:
    """A ref resolved to the exact sources to build."""

    repo: str  # path or URL the user named
    ref: str  # what the user asked for
    sha: str  # full commit sha (for WORKTREE: the base commit)
    date: str  # committer date, ISO 8601
    fork: str  # "python" for upstream, else the fork owner
    worktree_hash: str = ""  # hash of uncommitted changes, WORKTREE only
    git_dir: str = ""  # local repository holding the commit (the mirror for URLs)

    @property
    def short(self) -> str:
        return self.sha[:7]

    @property
    def is_worktree(self) -> bool:
        return bool(self.worktree_hash)


def git(repo: Path | str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              check=check, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise CpybenchError("git is not installed (or not on PATH): install it, e.g. "
                            "`sudo apt-get install git`") from None
    except subprocess.CalledProcessError as err:
        last = (err.stderr or "").strip().splitlines()[-1:] or [f"exit {err.returncode}"]
        raise CpybenchError(f"git {args[0]} failed in {repo}: {last[0]}") from None


def is_cpython_checkout(path: Path) -> bool:
    return (path / "Include" / "Python.h").is_file() and (path / ".git").exists()


def default_repo(cwd: Path) -> str:
    """The current directory when it is a CPython clone, else upstream."""
    return str(cwd) if is_cpython_checkout(cwd) else UPSTREAM_URL


def is_url(repo: str) -> bool:
    return "://" in repo or repo.startswith("git@")


def mirror_dir(cache_dir: Path, url: str) -> Path:
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return cache_dir / "repos" / digest


def _fork_url(url: str, owner: str) -> str:
    """``https://host/python/cpython`` -> ``https://host/<owner>/cpython``."""
    parsed = urlparse(url)
    parts = parsed.path.rstrip("/").split("/")
    if len([part for part in parts if part]) < 2:
        raise RefError(f"cannot derive a fork URL from {url!r}; pass --cpython-repo=<fork URL> instead",
                       options=REPO_OPTION)
    parts[-2] = owner
    return parsed._replace(path="/".join(parts)).geturl()


# What git adds after the actual reason whenever it cannot talk to a remote.
_FETCH_BOILERPLATE = ("fatal: Could not read from remote repository.",
                      "Please make sure you have the correct access rights", "and the repository exists.")


def _fetch(git_dir: Path, url: str, *refspecs: str, tags: bool = True) -> str:
    """Fetch into ``git_dir``; why it failed (git's last error line), or "" when it worked."""
    options = ["--quiet", "--force", *(["--tags"] if tags else [])]
    done = git(git_dir, "fetch", *options, "--end-of-options", url, *refspecs, check=False)
    if done.returncode == 0:
        return ""
    lines = [line.strip() for line in done.stderr.splitlines()]
    lines = [line for line in lines if line and line not in _FETCH_BOILERPLATE]
    errors = [line for line in lines if line.startswith(("fatal: ", "error: "))]
    if not lines:
        return f"git fetch exited with code {done.returncode}"
    return re.sub(r"^(fatal|error): ", "", (errors or lines)[-1])


def _log(message: str) -> None:
    print(f"[cpybench] {message}", file=sys.stderr, flush=True)


def _mirror_lock(mirror: Path, url: str, doing: str,
                 timeout: float = locks.MIRROR_WAIT) -> AbstractContextManager[None]:
    """The mirror's lock: one process at a time creates or fetches into a mirror."""
    return locks.exclusive(mirror.with_name(mirror.name + ".lock"), purpose=f"{doing} {url}",
                           waiting_for=f"another process {doing} {url}", timeout=timeout, log=_log)


def _fetch_into_mirror(mirror: Path, url: str, *refspecs: str, tags: bool = True) -> str:
    with _mirror_lock(mirror, url, "fetching into the mirror of"):
        return _fetch(mirror, url, *refspecs, tags=tags)


def _ensure_mirror(cache_dir: Path, url: str) -> Path:
    mirror = mirror_dir(cache_dir, url)
    if (mirror / "HEAD").exists():
        return mirror
    mirror.parent.mkdir(parents=True, exist_ok=True)
    # The first clone of CPython takes minutes: wait for it longer than for a fetch.
    with _mirror_lock(mirror, url, "creating the mirror of", timeout=3 * locks.MIRROR_WAIT):
        if (mirror / "HEAD").exists():  # made by the process we waited for
            return mirror
        tmp = mirror.with_name(mirror.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["git", "init", "--quiet", "--bare", str(tmp)], check=True, capture_output=True)
        failure = _fetch(tmp, url, "+refs/heads/*:refs/heads/*")
        if failure:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RefError(f"cannot fetch from {url} ({failure}): check the URL and your network, "
                           "or pass --cpython-repo=<local clone>", options=REPO_OPTION)
        shutil.rmtree(mirror, ignore_errors=True)  # a folder without HEAD is not a mirror
        os.rename(tmp, mirror)
    return mirror


def _rev_parse(git_dir: Path, ref: str) -> str | None:
    """Full sha of ``ref`` or None; raises RefError for an ambiguous short sha."""
    done = git(git_dir, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}",
               check=False)
    if done.returncode == 0:
        return done.stdout.strip()
    if "ambiguous" in done.stderr:
        raise RefError(f"short sha {ref!r} is ambiguous in {git_dir}: give more characters")
    # rev-parse --quiet hides the ambiguity note; ask once more without it for short shas.
    if _SHA_RE.match(ref):
        loud = git(git_dir, "rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}", check=False)
        if "ambiguous" in loud.stderr:
            raise RefError(f"short sha {ref!r} is ambiguous in {git_dir}: give more characters")
    return None


def commit_date(git_dir: Path | str, sha: str) -> str:
    return git(git_dir, "show", "-s", "--format=%cI", sha).stdout.strip()


def _check_ref_text(ref: str) -> None:
    if not ref or ref.startswith("-") or "\n" in ref or "\0" in ref:
        raise RefError(f"{ref!r} is not a git ref: give a sha, tag, branch, owner:branch or WORKTREE")


def resolve(repo: str, ref: str, cache_dir: Path) -> Commit:
    """Resolve ``ref`` in ``repo`` (a local path or a URL) to one commit, fetching if needed."""
    _check_ref_text(ref)
    if ref == WORKTREE:
        if is_url(repo):
            raise RefError("WORKTREE needs a local clone: pass --cpython-repo=<path of your clone>",
                           options=REPO_OPTION)
        return _resolve_worktree(Path(repo))
    fork = "python"
    sha: str | None
    fetch_failure = ""  # why a fetch into the mirror failed, when one did
    if is_url(repo):
        git_dir = _ensure_mirror(cache_dir, repo)
        fork_match = _FORK_REF_RE.match(ref)
        if fork_match:
            fork, branch = fork_match.group(1), fork_match.group(2)
            sha = _fetch_fork_branch(git_dir, repo, fork, branch)
        else:
            sha = _rev_parse(git_dir, ref)
            if sha is None:  # new upstream commits, branches or tags since the mirror was made
                fetch_failure = _fetch_into_mirror(git_dir, repo, "+refs/heads/*:refs/heads/*")
                sha = _rev_parse(git_dir, ref)
            if sha is None and re.fullmatch(r"[0-9a-f]{40}", ref):  # a commit no branch reaches (yet)
                fetch_failure = fetch_failure or _fetch_into_mirror(git_dir, repo, ref, tags=False)
                sha = _rev_parse(git_dir, ref)
    else:
        git_dir = _local_git_dir(repo)
        sha = _rev_parse(git_dir, ref)
        if sha is None and git(git_dir, "remote", check=False).stdout.split():
            remote = git(git_dir, "remote").stdout.split()[0]
            if not _fetch(git_dir, remote, ref, tags=False):
                sha = _rev_parse(git_dir, "FETCH_HEAD")
    if sha is None and fetch_failure:
        raise RefError(f"unknown ref {ref!r} in {repo} (fetch failed: {fetch_failure}): "
                       "check the name, the URL and your network")
    if sha is None:
        raise RefError(f"unknown ref {ref!r} in {repo}: check the name, or fetch it into that repository")
    return Commit(repo=repo, ref=ref, sha=sha, date=commit_date(git_dir, sha), fork=fork,
                  git_dir=str(git_dir))


def _fetch_fork_branch(git_dir: Path, upstream_url: str, owner: str, branch: str) -> str:
    """Fetch ``owner``'s fork's ``branch`` into the mirror, under refs/forks/, and return its sha."""
    checked = git(git_dir, "check-ref-format", "--branch", branch, check=False)
    if checked.returncode != 0:
        raise RefError(f"{branch!r} is not a branch name: use owner:branch")
    url = _fork_url(upstream_url, owner)
    local = f"refs/forks/{owner}/{branch}"
    failure = _fetch_into_mirror(git_dir, url, f"+refs/heads/{branch}:{local}", tags=False)
    if failure:
        raise RefError(f"cannot fetch branch {branch!r} of {owner}'s fork at {url} ({failure}): check the names")
    sha = _rev_parse(git_dir, local)
    assert sha is not None
    return sha


def _local_git_dir(repo: str) -> Path:
    path = Path(repo).expanduser()
    done = git(path, "rev-parse", "--git-dir", check=False) if path.is_dir() else None
    if done is None or done.returncode != 0:
        raise CpybenchError(f"{repo} is not a git repository: pass --cpython-repo=<CPython clone or URL>",
                            options=REPO_OPTION)
    return path


def _worktree_files(repo: Path) -> list[str]:
    """Tracked and untracked (not ignored) files that exist in the working tree."""
    listing = git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard").stdout
    names = sorted({name for name in listing.split("\0") if name})
    return [name for name in names if os.path.lexists(repo / name)]


def _worktree_hash(repo: Path) -> str:
    """Hash of what differs from HEAD: the binary diff plus untracked files' names and contents."""
    digest = hashlib.sha256()
    digest.update(git(repo, "diff", "HEAD", "--binary", "--no-ext-diff", "--no-color").stdout.encode())
    untracked = git(repo, "ls-files", "-z", "--others", "--exclude-standard").stdout
    for name in sorted(n for n in untracked.split("\0") if n):
        digest.update(name.encode() + b"\0")
        path = repo / name
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _resolve_worktree(repo: Path) -> Commit:
    git_dir = _local_git_dir(str(repo))
    sha = _rev_parse(git_dir, "HEAD")
    if sha is None:
        raise RefError(f"{repo} has no commit yet: WORKTREE needs a base commit")
    return Commit(repo=str(repo), ref=WORKTREE, sha=sha, date=commit_date(git_dir, sha), fork="python",
                  worktree_hash=_worktree_hash(repo), git_dir=str(git_dir))


def export(commit: Commit, dest: Path) -> None:
    """Write the sources of ``commit`` into ``dest`` (a pristine tree; WORKTREE: the working tree)."""
    dest.mkdir(parents=True, exist_ok=True)
    if commit.is_worktree:
        _copy_worktree(Path(commit.repo), dest)
        return
    proc = subprocess.Popen(["git", "-C", commit.git_dir, "archive", "--format=tar", commit.sha],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
        extract_all(archive, dest)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.wait() != 0:
        raise CpybenchError(f"git archive of {commit.sha} failed: {stderr.strip()}")


def extract_all(archive: tarfile.TarFile, dest: Path) -> None:
    """Extract a trusted archive (git's own output) on any supported Python.

    ``filter=`` exists only from 3.10.12 / 3.11.4 / 3.12; Debian 12's 3.11.2 lacks it.
    """
    if hasattr(tarfile, "tar_filter"):
        archive.extractall(dest, filter="tar")
    else:
        archive.extractall(dest)


def read_source_file(commit: Commit, relpath: str) -> str:
    """One file of the sources ``export`` would write, without exporting them."""
    if commit.is_worktree:
        try:
            return (Path(commit.repo) / relpath).read_text(errors="replace")
        except OSError as err:
            raise CpybenchError(f"cannot read {relpath} in {commit.repo}: {err.strerror or err}") from None
    done = git(commit.git_dir or commit.repo, "show", f"{commit.sha}:{relpath}", check=False)
    if done.returncode != 0:
        raise CpybenchError(f"{commit.ref} ({commit.short}) has no {relpath}: is {commit.repo} a CPython "
                            "repository? Pass --cpython-repo=<CPython clone or URL>", options=REPO_OPTION)
    return done.stdout


def _copy_worktree(repo: Path, dest: Path) -> None:
    for name in _worktree_files(repo):
        source, target = repo / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        elif source.is_file():
            shutil.copy2(source, target)


def merge_base(commit: Commit, main_branch: str = "main") -> str:
    """Sha of the merge base of ``commit`` with the repository's main branch."""
    git_dir = commit.git_dir or commit.repo
    for candidate in (main_branch, f"origin/{main_branch}", f"refs/remotes/origin/{main_branch}"):
        if _rev_parse(Path(git_dir), candidate):
            done = git(git_dir, "merge-base", "--end-of-options", commit.sha, candidate, check=False)
            if done.returncode == 0:
                return done.stdout.strip()
    raise RefError(f"no merge base of {commit.short} with {main_branch!r} in {commit.repo}: "
                   "name the baseline ref explicitly")


@dataclass(frozen=True)
class LogEntry:
    """What a bisection shows of a commit."""

    sha: str
    subject: str
    author_date: str  # ISO 8601

    @property
    def short(self) -> str:
        return self.sha[:7]


def first_parent_history(good: Commit, bad: Commit) -> list[LogEntry]:
    """``good``, then every commit on ``bad``'s first-parent line after it, oldest first.

    Raises when ``good`` is not on that line: bisecting across a merge's second parent would
    mix two lines of history; give the merge base of the branch instead.
    """
    git_dir = bad.git_dir or bad.repo
    if good.sha == bad.sha:
        raise RefError(f"good and bad are the same commit ({good.short}): give an older good commit")
    ancestor = git(git_dir, "merge-base", "--is-ancestor", "--end-of-options", good.sha, bad.sha, check=False)
    if ancestor.returncode != 0:
        raise RefError(f"good ({good.ref}, {good.short}) is not an ancestor of bad ({bad.ref}, {bad.short}): "
                       "give a good commit older than the bad one, on its history")
    # One field per line, a NUL between commits: subjects can hold any text but newlines.
    out = git(git_dir, "log", "--first-parent", "--reverse", "-z", "--format=%H%n%P%n%aI%n%s",
              "--end-of-options", f"{good.sha}..{bad.sha}").stdout
    entries, parents = [], []
    for record in filter(None, out.split("\0")):
        sha, parent_line, date, subject = [*record.split("\n", 3), ""][:4]
        entries.append(LogEntry(sha, subject, date))
        parents.append(parent_line.split()[0] if parent_line.split() else "")
    if not entries or parents[0] != good.sha:
        raise RefError(f"good ({good.ref}, {good.short}) is not on the first-parent history of bad "
                       f"({bad.ref}, {bad.short}): give a commit of that line, e.g. the branch's merge base")
    return [describe(git_dir, good.sha), *entries]


def describe(git_dir: str | Path, sha: str) -> LogEntry:
    text = git(git_dir, "show", "-s", "--format=%H%n%aI%n%s", "--end-of-options", sha).stdout
    full, date, subject = [*text.rstrip("\n").split("\n", 2), "", ""][:3]
    return LogEntry(full, subject, date)
