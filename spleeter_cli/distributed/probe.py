"""Is a Dask scheduler answering at ``--scheduler``'s address? Asked before a Client is made.

Dask's Client bounds only the TCP connect by its timeout, not the handshake after it: a server
that accepts and stays silent (an HTTP server, say) hangs it forever, and one that answers
something else makes it read a frame count out of the junk (a MemoryError for 3 EiB) and leave
a half-made client that prints a traceback at exit. So the address is checked in two bounded
steps: a TCP connection (unreachable: a wrong address, or a scheduler not started yet), then
Dask's handshake and an ``identity`` request that must come from a scheduler (not a worker).
"""

from __future__ import annotations

import asyncio
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import ValidationError

RETRY_PAUSE = 0.1  # seconds between connection attempts while the scheduler may still be starting


def check_scheduler(address: str, timeout: float) -> None:
    """Raise ``ValidationError`` unless a Dask scheduler answers at ``address``; each step gets ``timeout``."""
    from distributed.comm import get_address_host_port

    wait_until_reachable(address, *get_address_host_port(address), timeout)
    try:
        kind = in_own_thread(identify(address, timeout)).get("type")
    except Exception as error:  # noqa: BLE001 - whatever a non-Dask peer makes Dask raise, it is not a scheduler
        raise not_a_scheduler(address, why_not_dask(error, timeout)) from None
    if kind != "Scheduler":
        raise not_a_scheduler(address, f"it is a Dask {str(kind).lower()}, not the scheduler")


def wait_until_reachable(address: str, host: str, port: int, timeout: float) -> None:
    """Retry until ``timeout``, as Dask does: the scheduler may be starting as this command runs."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=max(0.1, deadline - time.monotonic())):
                return
        except OSError as error:
            if time.monotonic() + RETRY_PAUSE >= deadline:
                raise ValidationError(
                    f"cannot reach the Dask scheduler at {address}: no connection within {timeout:g} s ({error.strerror or error})",
                    hint="check the address and port, and that `dask scheduler` is running there",
                ) from None
            time.sleep(RETRY_PAUSE)


async def identify(address: str, timeout: float) -> dict[str, Any]:
    """Dask's handshake, then the peer's ``identity`` reply, all within ``timeout``."""
    from distributed.comm import connect
    from distributed.security import Security

    async def ask() -> dict[str, Any]:
        comm = await connect(address, timeout=timeout, **Security().get_connection_args("client"))
        try:
            await comm.write({"op": "identity", "reply": True})
            reply = await comm.read()
        finally:
            comm.abort()
        if not isinstance(reply, dict):
            raise TypeError(f"identity reply is a {type(reply).__name__}")
        return reply

    return await asyncio.wait_for(ask(), timeout)


def in_own_thread(coroutine: Any) -> Any:
    """``asyncio.run`` on a thread of its own: the caller's thread may already run a loop (Jupyter)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def why_not_dask(error: BaseException, timeout: float) -> str:
    """The failure in the user's terms; Dask's own message (a 3 EiB MemoryError) would mislead."""
    if isinstance(error, TimeoutError):  # before OSError: TimeoutError is one
        return f"it accepted the connection but did not complete Dask's handshake within {timeout:g} s"
    if isinstance(error, OSError):
        return "it closed the connection during Dask's handshake"
    return "its reply is not Dask's protocol"


def not_a_scheduler(address: str, why: str) -> ValidationError:
    return ValidationError(
        f"{address} does not answer like a Dask scheduler: {why}",
        hint="check that this host and port are those of a running `dask scheduler`, by default port 8786",
    )
