"""What the commands share: arguments made from the plugin's option rows, their settings, exits."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable

from pytest_cpybench.errors import CpybenchError
from pytest_cpybench.options import BY_NAME, Option, Settings, settings_from
from pytest_cpybench.session.plan import select_benchmarks
from pytest_cpybench.suite.definitions import BenchmarkDef

EXIT_REGRESSION = 1  # as pytest's "tests failed": some result is slower than its threshold
EXIT_USAGE = 2  # as argparse: a bad option value
EXIT_NOT_FOUND = 1  # bisect: no commit found (no change between the ends, or the steps ran out)


class UsageError(CpybenchError):
    """A bad option value: exit 2, like argparse's own errors."""


def spelling(option: Option) -> str:
    """How the commands name an option: ``--threshold`` for ``--cpython-threshold``."""
    return f"--{option.cli or option.name}"


def respelled(err: CpybenchError) -> str:
    """The error's message with the options it names (``err.options``) as the commands spell them."""
    message = str(err)
    for name in err.options:
        message = re.sub(rf"--{re.escape(name)}\b", spelling(BY_NAME[name]), message)
    return message


def add_option(parser: argparse.ArgumentParser, name: str, *flags: str, default: str | None = None,
               **kwargs: object) -> None:
    """An argument for the plugin's option ``name`` (its help, its default, its choices), parsed
    later by :func:`settings_of` as the plugin parses it."""
    row = BY_NAME[name]
    shown = default if default is not None else row.shown_default()
    help_text = f"{row.help} (default: {shown})".replace("%", "%%")
    if row.ini_type == "linelist":
        kwargs.setdefault("action", "append")
    if kwargs.get("action") in (None, "append"):
        kwargs.setdefault("metavar", (row.cli or row.name).upper())
    parser.add_argument(*flags, spelling(row), dest=row.name, default=default, help=help_text,
                        **kwargs)  # type: ignore[arg-type]


def settings_of(args: argparse.Namespace, names: Iterable[str]) -> Settings:
    """The plugin's settings from the arguments :func:`add_option` made; a bad value is a usage
    error naming the argument as typed."""
    raw: dict[str, object] = {}
    for name in names:
        value = getattr(args, name, None)
        if name == "cpython-thresholds" and value:  # repeatable, or comma separated
            value = [line for item in value for line in re.split(r"[,\n]", item)]
        raw[name] = value
    try:
        settings = settings_from(raw, spell=spelling)
    except CpybenchError as exc:
        raise UsageError(str(exc)) from None
    if len(settings.presets) > 1:  # several configurations are a pytest session's; a command builds one
        raise UsageError(f"{spelling(BY_NAME['cpython-build'])}={','.join(settings.presets)}: this command "
                         "takes one build preset; run it once per preset")
    return settings


def progress(message: str) -> None:
    print(f"[cpybench] {message}", file=sys.stderr, flush=True)


def selected_benchmarks(settings: Settings, hint: str = "") -> list[BenchmarkDef]:
    """The benchmarks ``-b`` selects; a selection the suite cannot make, or an empty one, is a usage
    error (``hint``: what to do, after the message)."""
    try:
        benchmarks = select_benchmarks(settings)
    except CpybenchError as exc:
        raise UsageError(str(exc)) from None
    if not benchmarks:
        raise UsageError(f"-b {settings.benchmarks or ''} selects no benchmark{hint}")
    return benchmarks
