"""Hooks a project's ``conftest.py`` (or another plugin) can implement to adapt a session.

As pytest-benchmark lets users change its machine info and output, these let a CI set-up name
its machines and publish results its own way, without options or a fork.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_cpybench.options import Settings
    from pytest_cpybench.session.model import SessionResult


@pytest.hookspec
def pytest_cpybench_machine_info(config: pytest.Config, machine_info: dict[str, str]) -> None:
    """Change the facts recorded about the machine, in place, before the session looks up its
    baselines: ``machine_info["machine"]`` is the machine's name in the results store (default:
    ``--cpython-machine``, else ``$CPYBENCH_MACHINE``, else the host name), ``machine_info["arch"]``
    its architecture in the results files' names. Called once per process."""


@pytest.hookspec
def pytest_cpybench_publish(config: pytest.Config, result: SessionResult, settings: Settings) -> None:
    """The session's results are stored, compared and published (pages, CI summaries): do more
    with them, e.g. upload ``result.head_path``. Called on the controller, once per machine."""
