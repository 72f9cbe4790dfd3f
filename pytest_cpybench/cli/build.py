"""``build``: build CPython at a ref (cached) and print the interpreter; ``cache``: list or prune
the build cache."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pytest_cpybench.cli.arguments import add_option, progress, settings_of
from pytest_cpybench.cpython import builds, targets
from pytest_cpybench.options import default_cache_dir
from pytest_cpybench.session.plan import repo_of

BUILD_OPTIONS = ("cpython-repo", "cpython-build", "cpython-configure", "cpython-cache-dir", "cpython-jobs")


def add_build_options(parser: argparse.ArgumentParser) -> None:
    """Where CPython comes from and how it is built (``build`` and ``bisect``)."""
    for name in BUILD_OPTIONS:
        add_option(parser, name)


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    build = commands.add_parser("build", help="build CPython at a ref (cached) and print the interpreter path")
    build.add_argument("--ref", required=True, help="sha, tag, branch, owner:branch or WORKTREE")
    add_build_options(build)
    build.set_defaults(handler=build_command)

    cache = commands.add_parser("cache", help="list or prune cached builds")
    cache.add_argument("action", choices=("list", "prune"))
    cache.add_argument("--cache-dir", type=Path, default=None)
    cache.add_argument("--keep", type=int, default=None, help="prune: keep the N most recently used builds")
    cache.add_argument("--older-than", type=float, default=None, metavar="DAYS",
                       help="prune: remove builds not used for DAYS days")
    cache.add_argument("--json", action="store_true", help="list: print JSON")
    cache.set_defaults(handler=cache_command)


def build_command(args: argparse.Namespace) -> int:
    settings = settings_of(args, BUILD_OPTIONS)
    commit = targets.resolve(repo_of(settings), args.ref, settings.cache_dir)
    targets.check_buildable(settings.preset, commit)
    build = builds.ensure_build(settings.build_config.request(commit), settings.cache_dir, progress)
    if build.cache_hit:
        progress(f"cache hit: {build.path}")
    print(build.python)
    return 0


def cache_command(args: argparse.Namespace) -> int:
    cache_dir = args.cache_dir or default_cache_dir()
    if args.action == "prune":
        pruned = builds.prune(cache_dir, keep=args.keep, older_than_days=args.older_than)
        for path in pruned.removed:
            print(f"removed {path}")
        for path in pruned.skipped:
            print(f"skipped {path}: in use by another process")
        return 0
    entries = builds.list_entries(cache_dir)
    if args.json:
        print(json.dumps([builds.entry_summary(e) for e in entries], indent=2))
        return 0
    if not entries:
        print(f"no builds in {cache_dir}")
    for entry in entries:
        commit = entry.commit
        dirty = " +worktree" if commit.get("worktree_hash") else ""
        flags = " ".join(entry.configure_flags)
        print(f"{entry.key}  {commit['sha'][:7]}{dirty}  {commit['ref']:<20} Python {entry.version:<10} "
              f"{entry.preset}{' ' + flags if flags else ''}  built in {entry.timings.get('total', 0):.0f} s  "
              f"last used {builds.format_time(entry.last_used)}")
    return 0
