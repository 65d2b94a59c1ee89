"""`spl serve`: the options, and nothing but handing them to the HTTP service (``spleeter_cli.server``).

FastAPI and uvicorn are imported inside the command, so `spl --help` and every other command
never load them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..limits import InputLimits
from . import options as o
from .batch import default_jobs
from .ui import PlainListener, handles_errors


@handles_errors
def serve(
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Address to listen on; anything but loopback needs a token or --insecure [default: 127.0.0.1].",
            show_default=False,
        ),
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on [default: 8080].", show_default=False)] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "-j", "--jobs", help="Jobs separated at once, sharing one model (default: one per core, at least 2).", show_default=False
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            parser=o.raw_path,
            help="Jobs database, uploads and stems [default: ~/.local/share/spl/server].",
            show_default=False,
        ),
    ] = None,
    max_upload: Annotated[
        str | None,
        typer.Option(
            "--max-upload",
            metavar="SIZE",
            help="Largest upload accepted, MB or e.g. 2GB; larger ones get 413 [default: 512].",
            show_default=False,
        ),
    ] = None,
    retention: Annotated[
        str | None,
        typer.Option(
            "--retention",
            metavar="AGE",
            help="Delete finished jobs and their files this long after they end, seconds or e.g. 24h [default: 24h].",
            show_default=False,
        ),
    ] = None,
    queue: Annotated[
        int | None,
        typer.Option("--queue", help="Jobs waiting at most; beyond it uploads get 429 with Retry-After [default: 64].", show_default=False),
    ] = None,
    grace: Annotated[
        float | None,
        typer.Option(
            "--grace",
            metavar="SECONDS",
            help="On SIGTERM, how long running jobs may take to finish; the rest stay queued for the next start [default: 25].",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", help="Bearer token every endpoint but /healthz requires (default: $SPLEETER_SERVER_TOKEN).", show_default=False
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option("--token-file", parser=o.raw_path, help="Read the token from this file (a mounted Secret).", show_default=False),
    ] = None,
    insecure: Annotated[bool, typer.Option("--insecure", help="Listen beyond loopback without a token.")] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "-m",
            "--model",
            help="Model of the jobs that name none, loaded at start [default: models.default, spleeter:2stems].",
            show_default=False,
        ),
    ] = None,
    backend: o.Backend = None,
    precision: o.Precision = None,
    no_cache: o.NoCache = False,
    cache_dir: o.CacheDir = None,
    redis_url: o.RedisUrl = None,
    config_file: o.ConfigFile = None,
) -> None:
    """Serve separation over HTTP: upload songs, poll jobs, download stems (API docs at /docs)."""
    from ..cache.manager import CacheManager
    from ..config import server_token
    from ..errors import spell_settings

    settings = o.load_settings(
        config_file,
        host=host,
        port=port,
        jobs=jobs,
        data_dir=data_dir,
        max_upload=max_upload,
        retention=retention,
        queue=queue,
        grace=grace,
        token=token,
        token_file=token_file,
        insecure=True if insecure else None,
        model=model,
        backend=backend,
        precision=precision,
        cache_dir=cache_dir,
        redis_url=redis_url,
        cache=False if no_cache else None,
    )
    from ..server.serve import ServiceConfig  # FastAPI and uvicorn: only here
    from ..server.serve import serve as run_service

    config = ServiceConfig.from_settings(settings, settings.performance.jobs or default_jobs(), server_token(settings))
    cache = CacheManager.for_run(settings, PlainListener().warning)
    spell_settings({})  # from here on, messages name options as the HTTP form does (`offset`), not as flags
    run_service(config, o.model_store(settings), cache, InputLimits.from_settings(settings), settings.label("server.port"), settings)
