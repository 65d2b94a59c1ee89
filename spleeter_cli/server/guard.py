"""Every request passes here first: the bearer token is checked, and the request is counted and timed.

One ASGI middleware rather than a dependency per route, so nothing can be left unguarded: the
OpenAPI page, ``/metrics`` and unknown paths need the token too; only ``/healthz`` does not
(a liveness probe carries no secrets). Requests are counted by route template
(``/v1/jobs/{job_id}``), never by raw path, so job ids neither leak into metrics nor explode them.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import time
from typing import Any

from ..errors import ExitCode, ValidationError
from .metrics import HttpMetrics

OPEN_PATHS = frozenset({"/healthz"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None, insecure: bool, host_label: str) -> None:
    """Without a token the service must not be reachable from other machines, unless the operator says so."""
    if token is None and not insecure and not is_loopback(host):
        raise ValidationError(
            f"{host_label} {host}: refusing to serve beyond this machine without a token",
            hint="set one with --token, SPLEETER_SERVER_TOKEN or --token-file, or pass --insecure",
        )


class Guard:
    """ASGI middleware: 401 without the right ``Authorization: Bearer`` (when a token is set), and metrics for all."""

    def __init__(self, app: Any, token: str | None, metrics: HttpMetrics) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app dies before answering

        async def answered(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self.token is not None and scope["path"] not in OPEN_PATHS and not self._authorized(scope):
                await _unauthorized(answered)
            else:
                await self.app(scope, receive, answered)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)

    def _authorized(self, scope: dict[str, Any]) -> bool:
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, credentials = header.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), self.token or b"")


async def _unauthorized(send: Any) -> None:
    body = json.dumps(
        {"detail": "missing or wrong bearer token (send Authorization: Bearer TOKEN)", "exit_code": int(ExitCode.USAGE)}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="spl"'),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
