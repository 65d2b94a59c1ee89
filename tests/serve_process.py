"""A real `spl serve` in a subprocess on a free loopback port, and a real HTTP client (httpx) to talk to it.

`with SplServer(data_dir, run_spl, token="t") as server:` starts it through the test's `Spl` runner
(its isolated environment) and waits until /readyz answers 200 (the model is loaded); ``server.http``
sends the token. ``kill()`` is SIGKILL, ``terminate()``
SIGTERM; ``start()`` again reuses the same data dir and port. No mocks: the tests need the real
process boundaries (a killed server, a drained one, a second one on the same data dir).
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from conftest import Spl
from redis_server import free_port

READY_WITHIN = 120.0  # seconds: import, bind, load and run the model once, on a busy 2-core machine


class SplServer:
    def __init__(self, data_dir: Path, spl: Spl, *args: str, token: str | None = "secret-token", ready: bool = True) -> None:
        self.data_dir = data_dir
        self.spl = spl
        self.args = list(args)
        self.token = token
        self.wait_ready = ready
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"{data_dir.name}-server.log"
        self.http = httpx.Client(base_url=self.url, headers=self.auth(token), timeout=120)

    @staticmethod
    def auth(token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    def start(self) -> SplServer:
        token = ["--token", self.token] if self.token else []
        with self.log.open("ab") as log:
            self.process = self.spl.start(
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                self.data_dir,
                *token,
                *self.args,
                stdout=log,
                stderr=log,
                text=False,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_WITHIN
        path = "/readyz" if self.wait_ready else "/healthz"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"spl serve exited with {self.process.returncode}:\n{self.output}")
            try:
                if self.http.get(path, timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"spl serve was not ready within {READY_WITHIN} s:\n{self.output}")

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit code once the drain is over."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def upload(self, path: Path, wait: float = 0, filename: str | None = None, **fields: Any) -> httpx.Response:
        """POST /v1/jobs with ``path`` in the field `file` and ``fields`` as form fields."""
        with path.open("rb") as audio:
            files = {"file": (filename or path.name, audio, "application/octet-stream")}
            return self.http.post(
                "/v1/jobs", params={"wait": wait} if wait else None, files=files, data={name: str(value) for name, value in fields.items()}
            )

    def finished(self, job_id: str, within: float = 300) -> dict[str, Any]:
        """Poll until the job has ended; its JSON."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            job = self.http.get(f"/v1/jobs/{job_id}", params={"wait": 5}).json()
            if job["status"] in ("done", "failed", "cancelled"):
                return job
        raise AssertionError(f"job {job_id} did not end within {within} s: {job}")

    def metrics(self) -> dict[str, float]:
        """The samples of /metrics, by ``name{labels}``."""
        samples = {}
        for line in self.http.get("/metrics").text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        return samples

    def stop(self) -> None:
        """SIGTERM first, as a service manager stops it (and so coverage keeps the server's data); SIGKILL if it lingers."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGKILL)
                self.process.wait(timeout=30)

    def __enter__(self) -> SplServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.http.close()
