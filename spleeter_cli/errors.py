"""Errors a user can cause, each carrying the exit code the CLI returns for it.

Every error names what went wrong (``message``), optionally the input it concerns
(``context["path"]``) and how to fix it (``hint``). The CLI prints them as one line
and never as a traceback.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path
from typing import Any


class ExitCode(IntEnum):
    """Process exit codes; documented in the README, stable for scripts."""

    OK = 0
    FAILED = 1  # some inputs of a run failed (the others completed)
    USAGE = 2  # invalid option, model name or filename format
    INPUT = 3  # input missing, unreadable or not decodable audio
    MODEL = 4  # model cannot be obtained or is corrupt
    OUTPUT = 5  # output cannot be written, or exists without --overwrite
    HANGUP = 129  # SIGHUP: 128 + 1, a closed terminal or a dropped ssh session; the same clean-up as Ctrl-C
    INTERRUPTED = 130  # Ctrl-C
    BROKEN_PIPE = 141  # stdout's reader went away (`spl ... | head`): 128 + SIGPIPE, as a shell reports it
    TERMINATED = 143  # SIGTERM: 128 + 15, after the same clean-up as Ctrl-C


class SplError(Exception):
    """Base of every error meant for the user rather than for a developer."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context: dict[str, Any] = context

    def __str__(self) -> str:
        path = self.context.get("path")
        text = f"{path}: {self.message}" if path else self.message
        return f"{text} ({self.hint})" if self.hint else text


class ValidationError(SplError):
    """A value given by the user (option, model name, format string) is invalid."""

    exit_code = ExitCode.USAGE


class AudioProcessingError(SplError):
    """An input cannot be read or decoded, or processing it failed."""

    exit_code = ExitCode.INPUT


class ModelError(SplError):
    """A model is unknown to the store, cannot be installed, or is damaged."""

    exit_code = ExitCode.MODEL


class OutputError(SplError):
    """Stems cannot be written where the user asked."""

    exit_code = ExitCode.OUTPUT


class CacheError(SplError):
    """The cache cannot be used; callers usually warn and continue without it."""


class Unfinished(SplError):
    """An input a stopped run (--fail-fast, Ctrl-C, a signal) did not finish; a rerun resumes it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, hint="rerun to resume")


class Interrupted(Unfinished):
    """An input left unfinished by Ctrl-C, SIGTERM or SIGHUP, as the --report of the interrupted run lists it."""

    def __init__(self, code: ExitCode, path: Path) -> None:
        super().__init__("not finished: the run was interrupted")
        self.context["path"] = str(path)
        self.exit_code = code
