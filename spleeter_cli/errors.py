"""Errors a user can cause, each carrying the exit code the CLI returns for it.

Every error names what went wrong (``message``), optionally the input it concerns
(``context["path"]``), the option at fault (``context["setting"]``) and how to fix it
(``hint``). The CLI prints them as one line and never as a traceback.

The core names options as the Python API does (``offset``, ``filename_format``), between
backticks in its messages; each face spells them its own way (the CLI: ``--offset``), by
``spell_settings`` once at start-up, so an engine or HTTP user never reads about a flag.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeVar


class ExitCode(IntEnum):
    """Process exit codes, stable for scripts, each with its meaning for users.

    The meanings (Markdown) are the one source of README's "Exit codes" table and the EXIT
    STATUS section of spl(1); `python tools/generate_docs.py` writes both from here.
    """

    meaning: str

    def __new__(cls, code: int, meaning: str) -> ExitCode:
        member = int.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        return member

    OK = 0, "every input succeeded"
    FAILED = (
        1,
        (
            "`spl batch`: one or more inputs failed (the others completed); `spl separate`: inputs failed for different "
            "reasons; `spl cache clear`/`prune`: a tier it was asked to change cannot be reached (an unreachable Redis); "
            "a file or folder `spl` keeps its own state in (models, history) cannot be used, named in the message; "
            "or an internal error"
        ),
    )
    USAGE = (
        2,
        (
            "usage error: invalid option, setting or config file (an empty `-o`, a `--cache-dir` that is a file, numbers "
            "beyond any machine such as `--jobs` over 1024, YAML nested too deeply), a batch left with no input, unknown "
            "model or backend, `--precision bf16` where it cannot run, bad `--filename-format` (e.g. one that leaves the "
            "output dir), a `--scheduler` that cannot be reached or is not a Dask scheduler, `local:N` beyond 4 workers "
            "per core"
        ),
    )
    INPUT = (
        3,
        (
            "input error: missing, unreadable (permission denied, a symlink loop, a name over 255 bytes), a directory, "
            "empty, not audio, truncated (shorter than its header declares) or corrupt (including NaN or infinite samples "
            "in a float file), `--offset` past the end, or beyond a configured limit (size, duration, allowed folders)"
        ),
    )
    MODEL = 4, "model error: cannot be downloaded or imported, or is damaged"
    OUTPUT = (
        5,
        (
            "output error: output dir or `--report` not writable (permission denied, a symlink loop, a name over 255 "
            "bytes, no space left) or not a regular file, a file at a stem path that may not be replaced (by `spl separate` "
            "without `--overwrite`; by `spl batch` without `--force`, one spl has no record of or that changed since), a stem "
            "would replace its own input or another input's stem, or a stem name is too long or would leave the output "
            "dir (an input named `...wav`)"
        ),
    )
    # Signals: 128 + the signal's number, as a shell reports a process it killed.
    HANGUP = 129, "hung up (SIGHUP: the terminal was closed, an ssh session dropped); the same clean-up as Ctrl-C"
    INTERRUPTED = 130, ("interrupted (Ctrl-C); unfinished outputs are removed, and `--report` and the history still record the run")
    BROKEN_PIPE = 141, ("standard output was closed early (`spl ... | head`): spl stops quietly, unfinished outputs are removed")
    TERMINATED = 143, "terminated (SIGTERM: `kill`, `docker stop`, Kubernetes); the same clean-up as Ctrl-C"


class SplError(Exception):
    """Base of every error meant for the user rather than for a developer."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.context: dict[str, Any] = context

    def __str__(self) -> str:
        path, setting = self.context.get("path"), self.context.get("setting")
        text = f"`{setting}` {self.message}" if setting else self.message
        text = f"{shown(str(path))}: {text}" if path else text
        return printable(spelled(f"{text} ({self.hint})" if self.hint else text))


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


# Option names the core's messages use that read better spelled out for Python API and HTTP users.
API_NAMES = {"overwrite": "existing='overwrite'", "output": "output_dir", "keep_tree": "separate output folders (spl batch --keep-tree)"}
_SPELLING: dict[str, str] = dict(API_NAMES)  # option -> how this process's face names it
_OPTION = re.compile(r"`([a-z_]+)`")


def spell_settings(names: dict[str, str]) -> None:
    """How this process's face names the options the core's messages mention (the CLI: its flags)."""
    _SPELLING.clear()
    _SPELLING.update({**API_NAMES, **names})


def spelled(text: str) -> str:
    """``text`` with each backticked option name as this process's face spells it."""
    return _OPTION.sub(lambda match: _SPELLING.get(match.group(1), match.group(1)), text)


def printable(text: str) -> str:
    """``text`` with the undecodable bytes of file names (``\\udcff`` from os.fsdecode) as ``\\xff``.

    A name that is not UTF-8 is a valid name on Linux; it must still reach a terminal,
    a JSON report or SQLite, none of which accepts the lone surrogates Python keeps it in.
    """
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def shown(path: str | os.PathLike[str]) -> str:
    """A path as messages print it (see ``printable``)."""
    return printable(os.fspath(path))


# What a failed system call on a user's path means, and its usual fix; the errno names the cause,
# so every command words the same failure the same way whatever call met it.
_CAUSES: dict[int, tuple[str, str]] = {
    errno.ENOENT: ("no such file or folder", "check the path and its spelling"),
    errno.ENOTDIR: ("a part of the path is not a folder", "check the path"),
    errno.EISDIR: ("is a directory, not a file", "give a file"),
    errno.EEXIST: ("exists, but is not a folder (a file, or a link to nowhere)", "choose another path, or remove what is there"),
    errno.EACCES: ("permission denied", "check its permissions and those of its folders"),
    errno.EPERM: ("operation not permitted", "check its permissions and those of its folders"),
    errno.ELOOP: ("symbolic link loop (or too many links)", "fix or remove the link"),
    errno.ENAMETOOLONG: ("name too long for the file system", "shorten it: at most 255 bytes per file or folder name"),
    errno.EILSEQ: ("the name is not valid on this file system", "rename it, e.g. to plain UTF-8"),
    errno.ENOSPC: ("no space left on the device", "free some space or choose another place"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or choose another place"),
    errno.EROFS: ("read-only file system", "choose a writable place"),
    errno.EFBIG: ("file too large for the file system", "choose another place"),
    errno.EIO: ("input/output error (a failing disk or network share?)", "check the device"),
    errno.EBUSY: ("device or resource busy", "retry once it is free"),
    errno.EMFILE: ("too many open files", "raise the open-file limit (ulimit -n) or use fewer --jobs"),
    errno.ENXIO: ("no such device", "check the path"),
    errno.ENODEV: ("no such device", "check the path"),
}


def os_cause(error: OSError) -> tuple[str, str]:
    """(cause, fix) of a file-system failure, in our words; unknown errnos keep the system's text."""
    if error.errno in _CAUSES:
        return _CAUSES[error.errno]
    return (error.strerror or str(error)).lower(), "check the path and its permissions"


E = TypeVar("E", bound=SplError)


def path_error(kind: type[E], path: str | os.PathLike[str], error: OSError, doing: str = "", fix: str | None = None) -> E:
    """The one wording of a file-system failure on a user's path, as the error class of its role.

    ``kind`` is the role: ``AudioProcessingError`` for an input (exit 3), ``OutputError`` for
    stems and reports (exit 5), ``ValidationError`` for a path given as an option (exit 2),
    ``CacheError`` for the cache, which callers turn into a warning. ``doing`` says what
    failed ("cannot write stems"); the message also names the path the system call met when
    it is not ``path`` itself (a stem of the input, a folder above it). ``fix`` replaces the
    usual fix for the cause where the role has a better one.
    """
    cause, usual_fix = os_cause(error)
    other = error.filename
    if other is not None and os.fsdecode(other) not in (os.fspath(path), os.path.abspath(path)):
        cause = f"{cause}: {shown(os.fsdecode(other))}"
    return kind(f"{doing}: {cause}" if doing else cause, hint=fix or usual_fix, path=os.fspath(path))


@contextmanager
def user_path(kind: type[SplError], path: str | os.PathLike[str], doing: str = "", fix: str | None = None) -> Iterator[None]:
    """Run a block of file-system work on ``path``; an OSError in it becomes ``path_error(kind, ...)``.

    Used at the boundaries where a role is known (an input's checks, an output's folder, a
    config file), so no call inside needs its own try/except.
    """
    try:
        yield
    except OSError as error:
        raise path_error(kind, path, error, doing, fix) from None


def escaped_error(source: str | os.PathLike[str], error: OSError) -> SplError:
    """The role of an OSError that escaped one input's work, told by the path it names.

    Everything an input's work touches is the input itself (exit 3) or the stems and folders
    it writes (exit 5); the cache and the history catch their own failures. The net under
    each input, so one odd file never stops a batch as an internal error.
    """
    name = error.filename
    on_input = name is not None and os.path.realpath(os.fsdecode(name)) == os.path.realpath(source)
    return path_error(AudioProcessingError if on_input else OutputError, source, error)
