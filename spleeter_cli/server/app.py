"""The HTTP face: FastAPI routes over the job store and the runner. Imported only by `spl serve`.

    POST   /v1/jobs                           upload (multipart: `file` and option fields) -> 202 {id, url}
    GET    /v1/jobs/{id}                      status, progress, result, stems, error
    GET    /v1/jobs/{id}/stems/{instrument}   one stem (Content-Length, ETag, ranges)
    GET    /v1/jobs/{id}/stems.zip            every stem
    DELETE /v1/jobs/{id}                      cancel, and remove its files
    GET    /v1/models   /healthz   /readyz   /metrics   /docs

Errors answer with the HTTP status of their exit code (``statuses.py``) and the CLI's message.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..audio import formats
from ..errors import ExitCode, SplError
from ..models.catalog import CATALOG
from ..separate.vocabulary import with_audio_settings
from . import downloads, uploads
from .form import FIELDS, parse_fields
from .guard import Guard
from .jobs import FINISHED, JobStore, new_id
from .metrics import service_registry
from .runner import JobRunner, QueueFull
from .statuses import error_body, http_status, named, status_for
from .views import API, describe, job_url

MAX_WAIT = 600.0  # seconds a request may be held by ?wait=
_LOOK = 1.0  # seconds between looks at a waited-for job besides its end's notice (and the server's stop)


@dataclass
class Service:
    """What the routes work on, and the stop in progress."""

    jobs: JobStore
    runner: JobRunner
    max_upload_bytes: int
    grace: float  # seconds running jobs get once a stop begins
    token: str | None
    stop_deadline: float | None = None  # monotonic; set by the first SIGTERM

    def begin_stop(self) -> None:
        """Stop accepting work; running jobs have until the deadline. Called from a signal handler: flags only."""
        if self.stop_deadline is None:
            self.stop_deadline = time.monotonic() + self.grace
        self.runner.stop_accepting()


def create_app(service: Service) -> Any:
    """The ASGI app: routes, wrapped in the guard (token and metrics)."""
    jobs, runner = service.jobs, service.runner
    registry, http_metrics = service_registry(runner)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runner.start()
        yield
        service.begin_stop()
        await asyncio.to_thread(runner.drain, service.stop_deadline or time.monotonic())

    app = FastAPI(
        title="spl",
        version=__version__,
        lifespan=lifespan,
        description="Split songs into stems with the official Spleeter models: upload, poll, download.",
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {"loc": ("?",), "msg": "invalid"}
        where = ".".join(str(part) for part in first["loc"][1:]) or str(first["loc"][0])
        return _problem(422, f"`{where}` {str(first['msg']).lower()}")

    @app.post(
        f"{API}/jobs",
        status_code=202,
        openapi_extra=_upload_schema(),
        summary="Upload a song to separate",
        responses={
            202: {"description": "queued (or, with ?wait, still running)"},
            200: {"description": "done within ?wait"},
            413: {"description": "larger than --max-upload"},
            422: {"description": "not audio spl can separate, or a bad option"},
            429: {"description": "the queue is full: retry after Retry-After seconds"},
        },
    )
    async def create_job(
        request: Request,
        wait: float = Query(0.0, ge=0, le=MAX_WAIT, description="hold the answer until the job ends, at most this many seconds"),
    ) -> Response:
        if not runner.accepting:
            return _problem(503, "the server is shutting down", retry_after=1)
        if runner.is_full():
            return _queue_full(runner.retry_after())
        try:
            upload = await uploads.receive(
                request.headers.get("content-type"),
                _declared_length(request),
                request.stream(),
                jobs.new_upload(),
                service.max_upload_bytes,
            )
        except uploads.BadUpload as problem:
            return _problem(problem.status, str(problem))
        try:
            options = parse_fields(upload.fields, runner.default_model, runner.precision, runner.pool.backend)
            if runner.settings is not None:  # audio.default_sample_rate, normalize_loudness, enable_preprocessing: as for spl separate
                options = with_audio_settings(options, runner.settings)
            await run_in_threadpool(_check_audio, upload, runner)
            job = jobs.add(new_id(), upload.path, upload.filename, upload.suffix, dataclasses.asdict(options))
        except SplError as error:
            return _error(error)
        finally:
            upload.path.unlink(missing_ok=True)  # moved into the job's folder when it was added
        try:
            runner.submit(job.id)
        except QueueFull as full:
            jobs.remove(job.id)
            return _queue_full(full.retry_after)
        return await _answer(job.id, wait, created=True)

    @app.get(f"{API}/jobs/{{job_id}}", summary="A job's status, progress, result and stems")
    async def get_job(
        job_id: str,
        wait: float = Query(0.0, ge=0, le=MAX_WAIT, description="hold the answer until the job ends, at most this many seconds"),
    ) -> Response:
        return await _answer(job_id, wait, created=False)

    @app.get(f"{API}/jobs/{{job_id}}/stems/{{instrument}}", summary="Download one stem", response_class=Response)
    def get_stem(request: Request, job_id: str, instrument: str) -> Response:
        job, problem = _finished_job(job_id)
        if problem is not None:
            return problem
        stem = job.result["stems"].get(instrument)
        if stem is None:
            return _problem(404, f"no stem `{instrument}` in this job", hint="its stems: " + ", ".join(job.result["stems"]))
        return downloads.stem_response(request, jobs.stems_dir(job_id) / stem["file"], job.options["codec"], instrument, stem["sha256"])

    @app.get(f"{API}/jobs/{{job_id}}/stems.zip", summary="Download every stem in one zip", response_class=Response)
    def get_zip(request: Request, job_id: str) -> Response:
        job, problem = _finished_job(job_id)
        if problem is not None:
            return problem
        name = f"{job.filename.rsplit('.', 1)[0] or 'stems'}-stems.zip"
        return downloads.zip_response(request, jobs.stems_dir(job_id), job.result["stems"], name)

    @app.delete(f"{API}/jobs/{{job_id}}", status_code=204, summary="Cancel a job and remove its files", response_class=Response)
    def delete_job(job_id: str) -> Response:
        job = jobs.get(job_id)
        if job is None:
            return _no_job()
        if job.status in FINISHED or not runner.cancel(job_id):
            jobs.remove(job_id)
        return Response(status_code=204)

    @app.get(f"{API}/models", summary="Models known and installed, and the backend")
    def models() -> dict[str, Any]:
        loaded = set(runner.pool.loaded)
        return {
            "backend": runner.pool.backend,
            "default": runner.default_model,
            "models": [
                {
                    "name": spec.full_name,
                    "instruments": list(spec.instruments),
                    "installed": runner.store.is_installed(spec.name),
                    "loaded": spec.name in loaded,
                }
                for spec in CATALOG.values()
            ],
        }

    @app.get("/healthz", summary="The process is alive (needs no token)")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="A model is loaded and the queue accepts work; the load, for balancers")
    def readyz() -> Response:
        load = runner.load()  # what SpleeterCluster(load_balancer="least_loaded") compares, and its shared_cache check
        if runner.ready and runner.accepting and not runner.is_full():
            return JSONResponse({"status": "ready", **load})
        reason = runner.not_ready_reason if not (runner.ready and runner.accepting) else "the queue is full"
        return JSONResponse({"status": "not ready", "reason": reason, **load}, status_code=503)

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    def _finished_job(job_id: str) -> tuple[Any, Response | None]:
        job = jobs.get(job_id)
        if job is None:
            return None, _no_job()
        if job.status != "done" or job.result is None:
            return None, _problem(409, f"the job is {job.status}: its stems are ready once it is done", status=job.status)
        return job, None

    async def _answer(job_id: str, wait: float, created: bool) -> Response:
        """The job's JSON; with ``wait``, once it has ended or the wait is over (or the server stops)."""
        deadline = time.monotonic() + wait
        loop = asyncio.get_running_loop()
        ended = asyncio.Event()
        unwatch = runner.watch(job_id, lambda: loop.call_soon_threadsafe(ended.set))
        try:
            status = jobs.status(job_id)
            while status is not None and status not in FINISHED and time.monotonic() < deadline and runner.accepting:
                with contextlib.suppress(TimeoutError):  # a look now and then: the job may have ended before the watch began
                    await asyncio.wait_for(ended.wait(), min(_LOOK, max(0.0, deadline - time.monotonic())))
                status = jobs.status(job_id)
        finally:
            unwatch()
        job = jobs.get(job_id)
        if job is None:
            return _no_job()
        code = 200
        if job.status == "failed" and job.error is not None and created:
            code = status_for(job.error["exit_code"])
        elif job.status not in FINISHED and created:
            code = 202
        return JSONResponse(describe(job, runner), status_code=code, headers={"location": job_url(job.id)} if created else None)

    return Guard(app, service.token, http_metrics)


def _check_audio(upload: uploads.Upload, runner: JobRunner) -> None:
    """The checks a local run makes before decoding (a file, not empty, within the size limit), and the probe."""
    from ..audio import codec

    try:
        formats.check_file(upload.path)
        runner.limits.check_file(upload.path)
        codec.probe(upload.path)
    except SplError as error:
        raise named(error, upload.filename) from None


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def _error(error: SplError) -> JSONResponse:
    return JSONResponse(error_body(error), status_code=http_status(error))


def _problem(code: int, message: str, hint: str | None = None, retry_after: int | None = None, **extra: Any) -> JSONResponse:
    """A failure of the request itself (not of a separation): HTTP status ``code``, its message, and exit code 2 as a usage error."""
    body = {"detail": f"{message} ({hint})" if hint else message, "exit_code": int(ExitCode.USAGE), **extra}
    return JSONResponse(body, status_code=code, headers={"retry-after": str(retry_after)} if retry_after else None)


def _queue_full(retry_after: int) -> JSONResponse:
    return _problem(429, "the queue is full", hint=f"retry in {retry_after} s", retry_after=retry_after)


def _no_job() -> JSONResponse:
    return _problem(404, "no such job (finished jobs are deleted after the retention period)")


def _upload_schema() -> dict[str, Any]:
    """The multipart body in the OpenAPI page: the body is parsed by ``uploads``, so FastAPI cannot infer it."""
    types = {"_text": "string", "_boolean": "boolean", "_integer": "integer", "_number": "number"}
    properties: dict[str, Any] = {uploads.FILE_FIELD: {"type": "string", "format": "binary", "description": "the audio file"}}
    for name, (parse, meaning) in FIELDS.items():
        properties[name] = {"type": types[parse.__name__], "description": meaning}
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": {"type": "object", "required": [uploads.FILE_FIELD], "properties": properties}}},
        }
    }
