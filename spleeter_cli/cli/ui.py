"""How runs are shown: Rich progress on a terminal, plain lines in logs, JSON for scripts.

The core reports through ``Listener`` events and never prints; these classes
are the only place that decides what a person or a script sees.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from ..config import debugging
from ..errors import ExitCode, SplError, path_error
from . import stopping

F = TypeVar("F", bound=Callable[..., Any])


def print_error(error: SplError) -> None:
    """Print a user error as its one line on stderr; whether the command then ends is the caller's choice."""
    print(f"spl: error: {error}", file=sys.stderr, flush=True)


def handles_errors(command: F) -> F:
    """Turn user errors and stop signals (Ctrl-C, SIGTERM, SIGHUP) into one line and a documented exit code, never a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stopping.install()
        try:
            return command(*args, **kwargs)
        except BaseException as error:
            stopping.exit_if_stopping(error)  # the report and history are written: end now, whatever threads still run
            if isinstance(error, OSError) and error.filename is not None:  # a path no boundary claimed: still its cause and fix
                error = path_error(SplError, os.fsdecode(error.filename), error)
            if isinstance(error, SplError):
                print_error(error)
                raise typer.Exit(int(error.exit_code)) from None
            if isinstance(error, typer.Exit) or not isinstance(error, Exception) or debugging():
                raise
            # a bug in spl, not the user's doing: one line, traceback on request
            print(
                f"spl: internal error: {type(error).__name__}: {error} (rerun with SPL_DEBUG=1 for details, and please report it)",
                file=sys.stderr,
            )
            raise typer.Exit(int(ExitCode.FAILED)) from None

    return wrapper  # type: ignore[return-value]


def outcome(result: Any) -> str:
    """How a finished input was produced, in a few words, and which stems came out silent."""
    if result.status == "skipped":
        return "already done, skipped"
    if result.cache:
        text = f"from the {result.cache} cache in {result.wall_time:.2f} s"
    elif not result.wall_time:
        return ""
    else:
        text = (
            f"{result.audio_duration:.1f} s of audio in {result.wall_time:.1f} s, {result.audio_duration / result.wall_time:.1f}x realtime"
        )
    silent = getattr(result, "silent", [])
    if silent:
        kept = [name for name in silent if name in result.outputs]
        text += f"; silent: {', '.join(silent)}" + ("" if kept else " (not written)")
    return text


def summary_line(summary: dict[str, Any]) -> str:
    parts = [f"{summary['ok']} separated" + (f" ({summary['cached']} from cache)" if summary["cached"] else "")]
    if summary["skipped"]:
        parts.append(f"{summary['skipped']} already done")
    if summary["failed"]:
        parts.append(f"{summary['failed']} failed")
    speed = f", {summary['x_realtime']}x realtime" if summary["x_realtime"] else ""
    resources = summary.get("resources")
    used = f"; peak RSS {resources['peak_rss_mb']:.0f} MB, CPU {resources['cpu_seconds']:.1f} s" if resources else ""
    return f"{summary['inputs']} inputs: " + ", ".join(parts) + f" in {summary['wall_time']:.1f} s{speed}{used}"


_OUTPUT_LOCK = threading.Lock()


def _say(line: str, stream: Any = None) -> None:
    """One whole line per write: files finish on several threads, and print() writes the newline separately."""
    stream = stream or sys.stdout
    with _OUTPUT_LOCK:
        stream.write(line + "\n")
        stream.flush()


class PlainListener:
    """One line per finished input; for logs and CI where there is no terminal."""

    def __init__(self, verbose: bool = False, quiet: bool = False) -> None:
        self.verbose = verbose
        self.quiet = quiet
        self._lock = threading.Lock()  # events arrive from several worker threads

    def begin(self, total: int, tally: Any) -> None:
        """Called once with the number of inputs and the run's ``Tally`` (what views count from), before the first event."""

    def __enter__(self) -> PlainListener:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def status(self, message: str) -> None:
        if not self.quiet:
            _say(f"spl: {message}", sys.stderr)

    def warning(self, message: str) -> None:
        _say(f"spl: warning: {message}", sys.stderr)

    def summary(self, summary: dict[str, Any]) -> None:
        if self.quiet or summary["inputs"] < 2:
            return
        _say(f"spl: {summary_line(summary)}", sys.stderr)

    def file_started(self, path: Path, duration: float) -> None:
        if self.verbose:
            _say(f"spl: separating {path} ({duration:.1f} s)", sys.stderr)

    def file_stage(self, path: Path, stage: str) -> None:
        pass

    def file_progress(self, path: Path, seconds: float) -> None:
        pass

    def file_finished(self, result: Any) -> None:
        with self._lock:
            if result.error is not None:
                print_error(result.error)
                return
            if self.quiet:
                return
            _say(f"{result.input} -> {_common_folder(result.outputs.values())} ({outcome(result)})")
            if self.verbose and result.timings:
                stages = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items())
                _say(f"spl:   {stages}", sys.stderr)


class JsonListener(PlainListener):
    """One JSON object per input on stdout; nothing else goes to stdout."""

    def __init__(self) -> None:
        super().__init__(quiet=True)

    def file_finished(self, result: Any) -> None:
        _say(json.dumps(result.to_json()))


class RichListener(PlainListener):
    """Live progress bars on a terminal."""

    def __init__(self, verbose: bool = False) -> None:
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        super().__init__(verbose=verbose)
        self.console = Console(highlight=False)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.tasks: dict[Path, Any] = {}

    def __enter__(self) -> RichListener:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def status(self, message: str) -> None:
        self.console.print(f"[dim]{message}[/]")

    def warning(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {message}")

    def summary(self, summary: dict[str, Any]) -> None:
        if summary["inputs"] > 1:
            self.console.print(summary_line(summary))

    def file_started(self, path: Path, duration: float) -> None:
        self.tasks[path] = self.progress.add_task(path.name, total=max(duration, 1e-3))

    def file_progress(self, path: Path, seconds: float) -> None:
        if path in self.tasks:
            self.progress.update(self.tasks[path], completed=seconds)

    def file_finished(self, result: Any) -> None:
        task = self.tasks.pop(result.input, None)
        if task is not None:
            self.progress.remove_task(task)
        if result.error is not None:
            print_error(result.error)
            return
        folder = _common_folder(result.outputs.values())
        self.console.print(f"[green]✓[/] {result.input} → [bold]{folder}[/] [dim]({outcome(result)})[/]")
        if self.verbose:
            self.console.print("  [dim]" + ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items()) + "[/]")


def _common_folder(paths: Any) -> str:
    parents = {str(Path(p).parent) for p in paths}
    if not parents:
        return "(no stems written)"
    return parents.pop() if len(parents) == 1 else ", ".join(sorted(parents))
