"""Errors that end a session with one clear line instead of a traceback.

Every error here is an *infrastructure* problem (a ref that does not exist, a build that
fails, a store file that cannot be read): the comparison could not be made, which is
different from a comparison that found a slowdown. Both the pytest plugin and the command
line turn them into ``EXIT_INFRASTRUCTURE``.
"""

from __future__ import annotations

from pathlib import Path

# pytest uses 0-5; 1 stays "tests failed" (a regression). This one means "could not compare".
EXIT_INFRASTRUCTURE = 8


class CpybenchError(Exception):
    """A problem the user can act on; ``str(err)`` is the one-line message.

    ``options``: the options the message names, as the plugin spells them (``--cpython-repo``); a
    front end that spells them otherwise (the commands' ``--repo``) says them its own way."""

    def __init__(self, message: str = "", *, options: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.options = options


class RefError(CpybenchError):
    """A git ref that cannot be resolved to exactly one commit."""


class ToolchainError(CpybenchError):
    """A build this machine cannot make (a preset the commit's version lacks, a compiler or LLVM not
    installed): refused before anything is built, as a usage error (pytest's exit 4, the commands' 2)."""


class BuildError(CpybenchError):
    """configure, make or make install failed."""

    def __init__(self, message: str, log_path: Path | None = None, log_tail: str = "",
                 returncode: int | None = None) -> None:
        super().__init__(message)
        self.log_path = log_path
        self.log_tail = log_tail
        self.returncode = returncode  # of the failed step; negative: killed by a signal

    def is_the_commits_fault(self) -> bool:
        """Whether building the commit again would fail again: not when the step was killed (out of
        memory, interrupted) or the disk was full."""
        killed = self.returncode is not None and self.returncode < 0
        return not killed and "No space left on device" not in self.log_tail

    def details(self) -> str:
        """The message, the last lines of the log and where the full log is."""
        parts = [str(self)]
        if self.log_tail:
            parts.append("last lines of the build log:\n" + self.log_tail)
        if self.log_path:
            parts.append(f"full build log: {self.log_path}")
        return "\n".join(parts)


class StoreError(CpybenchError):
    """A results file that is missing, corrupt or cannot be written."""


class BenchmarkError(CpybenchError):
    """A benchmark crashed, hung or could not be installed."""

    stderr_tail: str = ""  # the benchmark's last lines of stderr (of stdout, labelled, when stderr had none)
    output_tail: str = ""  # pip's last lines, when installing its requirements failed
    log_path: Path | None = None
    side: str = ""  # in interleaved measurement: the label of the interpreter it failed on
    timed_out: bool = False  # killed at --cpython-timeout (not a crash)
