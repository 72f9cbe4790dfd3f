"""Command line: ``python -m pytest_cpybench build|cache|compare|report|bisect|backfill|history|explain``.

``build`` warms the build cache (CI) and prints the interpreter's path; ``cache list`` and
``cache prune`` look after the cache; ``compare`` prints the summary of stored pyperf JSON
files without building anything; ``report`` writes their results pages; ``bisect`` finds the
commit that changed a benchmark; ``backfill`` measures a range's commits into the store and
``history`` finds where a branch's stored results changed (and, with ``--confirm``, which commit
did it); ``explain`` says why a benchmark is slower on one commit than on another. One module per
command; the options they share with the plugin are made from its option rows (:mod:`.arguments`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pytest_cpybench.cli import backfill, bisect, build, compare, explain, history
from pytest_cpybench.cli.arguments import EXIT_USAGE, UsageError, respelled
from pytest_cpybench.errors import EXIT_INFRASTRUCTURE, BuildError, CpybenchError, ToolchainError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pytest_cpybench",
                                     description="Build CPython at a git ref and compare benchmark results.")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (build, compare, bisect, backfill, history, explain):
        command.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except BuildError as exc:
        print(f"error: {exc.details()}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    except (UsageError, ToolchainError) as exc:
        print(f"error: {respelled(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except CpybenchError as exc:
        print(f"error: {respelled(exc)}", file=sys.stderr)
        return EXIT_INFRASTRUCTURE
    except KeyboardInterrupt:
        print("interrupted: no partial build or result was kept", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader left; say nothing more, exit as a shell would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
