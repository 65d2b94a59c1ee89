"""What an error means over HTTP: the status for its exit code, and the body every face can read back.

The CLI exits with a code per kind of error (``errors.ExitCode``); the service answers with the
HTTP status of that kind, and its body carries the CLI's own text (``detail``), the exit code and
the error itself (``error``, as ``distributed.wire`` encodes it) so `spl separate --server` rebuilds
the very error a local run would have raised, with its exit code.
"""

from __future__ import annotations

from typing import Any

from ..distributed.wire import encode_error
from ..errors import ExitCode, SplError

# exit code -> HTTP status; the README's table is this one
HTTP_STATUS = {
    ExitCode.USAGE: 422,  # an option the request gave is invalid (a malformed request itself is 400)
    ExitCode.INPUT: 422,  # the upload is not audio spl can separate, or beyond a limit
    ExitCode.MODEL: 503,  # the model cannot be installed or loaded here: the service cannot do this work now
    ExitCode.OUTPUT: 500,  # the server cannot write the stems: its fault, not the client's
    ExitCode.FAILED: 500,
}


def http_status(error: SplError) -> int:
    return status_for(error.exit_code)


def status_for(exit_code: int) -> int:
    return HTTP_STATUS.get(exit_code, 500)  # type: ignore[call-overload]  # an int finds its ExitCode


def named(error: SplError, filename: str | None) -> SplError:
    """``error`` as the client's file name would show it: the server's own paths never appear in an answer."""
    if filename is not None and "path" in error.context:
        error.context["path"] = filename
    return error


def error_body(error: SplError) -> dict[str, Any]:
    """The JSON of a failure: the CLI's message, its exit code, and the error to rebuild."""
    return {"detail": str(error), "exit_code": int(error.exit_code), "error": encode_error(error)}
