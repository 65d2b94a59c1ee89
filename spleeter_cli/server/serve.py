"""Run the service on uvicorn: bind, serve, and on SIGTERM drain before exiting.

The socket is bound here, before uvicorn starts, so a taken port or a refused address is one
usage error line like every other (`spl: error: --port 8080: ...`), not a logged traceback.
uvicorn's own signal handling stops the listener and waits for requests in flight; the first
signal also tells the runner to start nothing new, and the app's shutdown then drains it until
the grace period ends (``runner.drain``). uvicorn raises the signal again once it is done, so
the process ends as every stopped `spl` does (SIGTERM: exit code 143).
"""

from __future__ import annotations

import errno
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from ..config import default_server_data_dir
from ..errors import ValidationError
from ..limits import InputLimits
from ..models.store import ModelManager
from .app import Service, create_app
from .guard import check_binding
from .jobs import JobStore
from .runner import JobRunner


@dataclass(frozen=True)
class ServiceConfig:
    """The settings of one `spl serve` process (the ``server:`` section, and the run settings it shares)."""

    host: str
    port: int
    workers: int
    data_dir: Path
    max_upload_bytes: int
    retention: float
    queue: int
    grace: float
    token: str | None
    default_model: str
    precision: str
    backend: str
    enable_gpu: bool

    @classmethod
    def from_settings(cls, settings: Any, workers: int, token: str | None) -> ServiceConfig:
        """From the effective settings; refuses to serve other machines without a token (see ``check_binding``)."""
        server = settings.server
        check_binding(server.host, token, server.insecure, settings.label("server.host"))
        return cls(
            host=server.host,
            port=server.port,
            workers=workers,
            data_dir=server.data_dir or default_server_data_dir(),
            max_upload_bytes=int(server.max_upload_mb * 2**20),
            retention=server.retention_seconds,
            queue=server.queue,
            grace=server.grace_seconds,
            token=token,
            default_model=settings.models.default,
            precision=settings.performance.precision,
            backend=settings.performance.backend,
            enable_gpu=settings.performance.enable_gpu,
        )


class _Server(uvicorn.Server):
    """uvicorn, telling the service at the first signal that it must stop taking work."""

    def __init__(self, config: uvicorn.Config, service: Service) -> None:
        super().__init__(config)
        self.service = service

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.service.begin_stop()
        super().handle_exit(sig, frame)


def serve(
    config: ServiceConfig, store: ModelManager, cache: Any, limits: InputLimits, port_label: str = "--port", settings: Any = None
) -> None:
    """Serve until stopped; raises ValidationError if the address cannot be used or the data dir is taken.

    ``settings`` (the process's Settings) shape the model pool and every job's audio as they do for spl separate.
    """
    listener = _bind(config.host, config.port, port_label)
    jobs = JobStore(config.data_dir)
    runner = JobRunner(
        jobs,
        store,
        cache,
        limits,
        workers=config.workers,
        queue_limit=config.queue,
        retention=config.retention,
        default_model=config.default_model,
        precision=config.precision,
        enable_gpu=config.enable_gpu,
        backend=config.backend,
        settings=settings,
    )
    service = Service(jobs, runner, config.max_upload_bytes, config.grace, config.token)
    uvicorn_config = uvicorn.Config(
        create_app(service),
        log_level="warning",
        timeout_graceful_shutdown=max(1, int(config.grace)),
        server_header=False,
        proxy_headers=False,
    )
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(
        f"spl: serving on http://{shown}:{port} ({config.workers} jobs at once, queue of {config.queue}, data in {config.data_dir}"
        f"{'' if config.token else ', no token'}; API docs at /docs)",
        file=sys.stderr,
        flush=True,
    )
    _Server(uvicorn_config, service).run(sockets=[listener])


def _bind(host: str, port: int, label: str) -> socket.socket:
    """A listening socket on ``host:port``, or the reason it cannot be one as a usage error."""
    try:
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host.strip("[]"), port))
        listener.listen(128)
    except socket.gaierror as error:
        raise ValidationError(
            f"--host {host}: cannot resolve it: {error.strerror}", hint="give an IP address or a known host name"
        ) from None
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ValidationError(f"{label} {port}: {host}:{port} is already in use", hint="choose a free port") from None
        raise ValidationError(
            f"{label} {port}: cannot listen on {host}:{port}: {error.strerror or error}", hint="choose another --host or --port"
        ) from None
    listener.set_inheritable(True)
    return listener
