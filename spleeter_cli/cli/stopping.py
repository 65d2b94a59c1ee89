"""Ctrl-C, SIGTERM and SIGHUP: one way to stop a run, whatever it is doing, within seconds.

The first signal raises ``Stopped`` in the main thread, which unwinds the run: no new
input starts, inputs in progress remove their temporaries, and the report and history say
what was done. Some threads cannot be interrupted (TensorFlow's import on the model loader,
a model call in progress), so the process never waits for them: ``exit_now`` removes the
temporaries still being written and ends the process with the signal's exit code. It runs
when the unwinding is done, at a second signal, or ``GRACE`` seconds after the first
signal if the unwinding is stuck.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any, NoReturn

from ..errors import ExitCode
from ..separate.staging import remove_unfinished

GRACE = 3.0  # seconds the unwinding after a first signal may take before the process ends regardless (a stop takes at most 5 s)
REASONS = {
    signal.SIGINT: (ExitCode.INTERRUPTED, "interrupted"),
    signal.SIGTERM: (ExitCode.TERMINATED, "terminated"),  # kill, docker stop, Kubernetes, a CI job's timeout
    signal.SIGHUP: (ExitCode.HANGUP, "hung up"),  # a closed terminal, a dropped ssh session
}


class Stopped(KeyboardInterrupt):
    """A stop signal, raised in the main thread so the run unwinds as on Ctrl-C; ``reason`` is None to stop quietly."""

    def __init__(self, exit_code: ExitCode, reason: str | None) -> None:
        super().__init__(reason)
        self.exit_code = exit_code
        self.reason = reason


_first: Stopped | None = None  # the first signal received; it decides the exit code
_signalled = threading.Event()  # set with ``_first``: the watchdog starts counting
_exiting = False  # ``exit_now`` has begun; later signals change nothing
_exit_lock = threading.Lock()
_stderr = 2  # a copy of the real stderr: fd 2 is a pipe to a forwarding thread while TensorFlow is imported (quiet_tf)


def install() -> None:
    """Handle the stop signals in this process; only the main thread can, and once is enough."""
    global _stderr
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGHUP) is _on_signal:
        return
    with contextlib.suppress(OSError):  # `spl ... 2>&-`: nothing to say it on
        _stderr = os.dup(2)
    for number in REASONS:
        signal.signal(number, _on_signal)
    threading.Thread(target=_watchdog, name="spl-stop-watchdog", daemon=True).start()


def exit_if_stopping(error: BaseException) -> None:
    """End the process now if ``error``, having reached the top, means stopping; return otherwise.

    After a signal, whatever ends the unwinding (an error writing to a terminal that hung
    up, click turning the interrupt into its "Aborted!" exit) still ends with that signal's code.
    """
    if _first is not None:
        exit_now(_first)
    if isinstance(error, KeyboardInterrupt):  # Python's own Ctrl-C, where ``install`` could not take over (not the main thread)
        exit_now(Stopped(ExitCode.INTERRUPTED, "interrupted"))
    if isinstance(error, BrokenPipeError):  # `spl ... | head`: stop quietly, like any Unix tool whose reader left
        exit_now(Stopped(ExitCode.BROKEN_PIPE, None))


def exit_now(stop: Stopped) -> NoReturn:
    """Remove the temporaries still being written, say so, and end the process without waiting for any thread."""
    global _exiting
    _exiting = True  # first: a signal from now on returns at once rather than re-enter this in the main thread
    _exit_lock.acquire()  # never released: a second caller waits for the first to end the process
    remove_unfinished()
    if stop.reason:  # os.write: the signal may have come in the middle of a print, and print's buffer is not reentrant
        with contextlib.suppress(OSError):
            os.write(_stderr, f"spl: {stop.reason}; unfinished outputs were removed\n".encode())
    with contextlib.suppress(Exception):  # a closed stdout, or a print interrupted mid-way
        sys.stdout.flush()
    with contextlib.suppress(Exception):
        if sys.stdout.isatty():  # Rich's progress hides the cursor until it stops, which it may not have
            os.write(sys.stdout.fileno(), b"\x1b[?25h")
    os._exit(int(stop.exit_code))


def _on_signal(number: int, frame: Any) -> None:
    global _first
    if _exiting:
        return
    if _first is not None:  # a second signal: the user wants out now
        exit_now(_first)
    _first = Stopped(*REASONS[signal.Signals(number)])
    _signalled.set()
    raise _first


def _watchdog() -> None:
    """End the process ``GRACE`` seconds after the first signal, should the unwinding be stuck."""
    _signalled.wait()
    time.sleep(GRACE)
    if _first is not None:
        exit_now(_first)
