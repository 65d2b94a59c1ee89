"""The client's side of the wire: HTTP calls to a `spl serve`, with the standard library only.

`spl separate --server` must not pull in a web framework or an HTTP package of its own; uploads
stream from disk in a hand-built multipart body (its length known in advance), downloads stream
to disk while their sha256 is computed. Every way the server cannot be used (unreachable, the
token refused, something else answering) is a usage error naming the URL, like `--scheduler`'s.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import SplError, ValidationError

TIMEOUT = 60.0  # seconds without a byte from the server before a call fails
_BLOCK = 2**20


@dataclass
class Answer:
    status: int
    body: Any  # the JSON, or None
    headers: dict[str, str]


class Unreachable(ValidationError):
    """The server could not be reached or stopped answering mid-call: the server's failure, not the input's.

    A usage error for `--server` (one server: the URL is wrong or the server is down); a cluster
    of nodes retries the input on another node instead (``nodes.py``).
    """


class Remote:
    """One `spl serve` at ``url``, sending ``token`` with every request; ``timeout``: seconds without a byte."""

    def __init__(self, url: str, token: str | None, label: str = "--server", timeout: float = TIMEOUT) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError(
                f"{label} {url}: not an http:// or https:// URL",
                hint=f"e.g. {'--server ' if label == '--server' else ''}http://127.0.0.1:8080",
            )
        try:
            self._port = parts.port
        except ValueError:
            raise ValidationError(f"{label} {url}: the port is not a number from 1 to 65535") from None
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._base = parts.path.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._label = label
        self._token = token
        self.timeout = timeout

    def with_timeout(self, timeout: float) -> Remote:
        """The same server, with a shorter patience: for cheap probes that must not hold up the caller."""
        return Remote(self.url, self._token, self._label, timeout)

    def get(self, path: str) -> Answer:
        return self._call("GET", path)

    def delete(self, path: str) -> Answer:
        return self._call("DELETE", path)

    def upload(self, path: str, source: Path, filename: str, fields: dict[str, str]) -> Answer:
        """POST ``source`` as the multipart field `file`, with ``fields``; the body streams from disk."""
        boundary = secrets.token_hex(16)
        head = b"".join(_part(boundary, f'name="{name}"', value.encode()) for name, value in fields.items())
        head += _part_head(boundary, f'name="file"; filename="{_quoted(filename)}"')
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = os.stat(source).st_size
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(len(head) + size + len(tail))}

        def send(connection: http.client.HTTPConnection) -> None:
            connection.send(head)
            with open(source, "rb") as audio:
                while block := audio.read(_BLOCK):
                    connection.send(block)
            connection.send(tail)

        return self._call("POST", path, headers, send)

    def download(self, path: str, target: Path) -> str:
        """Stream the body of ``GET path`` into ``target``; its sha256. A file-system error on ``target`` stays an OSError."""
        connection = self._connect()
        try:
            with open(target, "wb") as file:
                try:
                    response = self._request(connection, "GET", path)
                except (OSError, http.client.HTTPException) as error:
                    raise self._unreachable(error) from None
                if response.status != 200:
                    answer = self._answer(response)
                    raise SplError(f"{self.url}{path} answered {answer.status}: {_detail(answer)}", hint="rerun to try again")
                digest = hashlib.sha256()
                while True:
                    try:
                        block = response.read(_BLOCK)
                    except (OSError, http.client.HTTPException) as error:
                        raise self._unreachable(error) from None
                    if not block:
                        return digest.hexdigest()
                    digest.update(block)
                    file.write(block)
        finally:
            connection.close()

    def _call(self, method: str, path: str, headers: dict[str, str] | None = None, send: Any = None) -> Answer:
        connection = self._connect()
        try:
            try:
                response = self._request(connection, method, path, headers, send)
            except (BrokenPipeError, ConnectionResetError):  # the server answered early (413) and closed: read its answer
                response = connection.getresponse()
            return self._answer(response)
        except (OSError, http.client.HTTPException) as error:
            raise self._unreachable(error) from None
        finally:
            connection.close()

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout, context=ssl.create_default_context())
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def _request(
        self, connection: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str] | None = None, send: Any = None
    ) -> http.client.HTTPResponse:
        connection.putrequest(method, self._base + path)
        for name, value in {**self._headers, **(headers or {})}.items():
            connection.putheader(name, value)
        connection.endheaders()
        if send is not None:
            send(connection)
        return connection.getresponse()

    def _answer(self, response: http.client.HTTPResponse) -> Answer:
        data = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        if response.status == 401:
            raise ValidationError(f"the spl server at {self.url} refused the token", hint="pass --token or set SPLEETER_SERVER_TOKEN")
        try:
            body = json.loads(data) if data else None
        except ValueError:
            body = None
        if data and body is None or (body is not None and not isinstance(body, dict)):
            raise ValidationError(
                f"{self._label} {self.url} does not answer like an spl server (HTTP {response.status})",
                hint="check the URL: it is where `spl serve` listens",
            )
        return Answer(response.status, body, headers)

    def _unreachable(self, error: BaseException) -> Unreachable:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        return Unreachable(
            f"cannot reach the spl server at {self.url}: {reason}",
            hint=f"check {'--server' if self._label == '--server' else 'nodes='}, and that `spl serve` runs there",
        )


def _detail(answer: Answer) -> str:
    return str(answer.body.get("detail")) if isinstance(answer.body, dict) else f"HTTP {answer.status}"


def _part_head(boundary: str, disposition: str) -> bytes:
    return f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n\r\n".encode()


def _part(boundary: str, disposition: str, value: bytes) -> bytes:
    return _part_head(boundary, disposition) + value + b"\r\n"


def _quoted(name: str) -> str:
    """A file name inside the header's quotes: no quote, backslash or line break can end it early."""
    return "".join("_" if ch in '"\\\r\n' else ch for ch in name.encode("utf-8", "replace").decode("utf-8"))
