"""`spl separate --server URL`, `spl batch --server URL` and ``SpleeterCluster(nodes=...)``: separations on `spl serve`s.

``execute()`` treats it like a local ``SeparationRun``: inputs are planned here the same way
(``plan_inputs``: stem paths, clashes, existing files), resumed the same way (provenance), and each
input's stems are written the same way (``staging.staged``: temporaries renamed into place with
their records), so the files, messages and exit codes are those of a local run. Only the middle
moves: each input is uploaded, its job polled (progress reaches the listener as it would locally),
its stems downloaded and checked against their sha256, and the job deleted from the server.

The servers are ``Nodes`` (``nodes.py``): one for `--server`, several for a cluster, where an input
whose node fails (unreachable, a 5xx, the job lost) is sent again to another node; its stems are
written here once, from the attempt that finished. An input's own failure (not audio, beyond a
limit: a 4xx, or a job failed for a reason that is the input's) is not retried.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from ..audio import formats
from ..distributed.wire import decode_error, decode_result
from ..errors import AudioProcessingError, SplError, Unfinished, escaped_error
from ..separate import provenance, staging
from ..separate.planning import PlannedInput, plan_inputs
from ..separate.run import STOP_GRACE
from ..separate.vocabulary import FileResult, Listener, SeparateOptions, check_options
from .nodes import Attempt, Node, NodeFailed, Nodes
from .remote import Remote, Unreachable
from .statuses import status_for

POLL = 0.25  # seconds between looks at a job: often enough for a live progress bar
_BUSY_RETRIES = 240  # a full queue (429) is waited out this many times before the input fails


def form_fields(options: SeparateOptions, backend: str) -> dict[str, str]:
    """The job's form: every option that changes the stems, by the names ``server/form.py`` reads."""
    fields: dict[str, Any] = {
        "model": options.model,
        "codec": options.codec,
        "bitrate": options.bitrate,
        "bit_depth": options.bit_depth,
        "offset": options.offset,
        "duration": options.duration,
        "mwf": options.mwf,
        "no_tags": not options.tags,
        "silence_threshold": options.silence_threshold,
        "skip_silent": options.skip_silent,
        "normalize": options.normalize,
        "normalize_stems": options.normalize_stems,
        "highpass": options.highpass,
        "denoise_strength": options.denoise or None,
        "precision": options.precision,
        "backend": backend,
    }
    return {name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in fields.items() if value is not None}


class RemoteRun:
    """Separates inputs on `spl serve` nodes, reporting through ``listener`` like ``SeparationRun``."""

    def __init__(
        self,
        nodes: Nodes,
        options: SeparateOptions,
        output_dir: Path,
        listener: Listener,
        jobs: int = 1,
        fail_fast: bool = False,
        backend: str = "auto",
    ) -> None:
        self.nodes = nodes
        self.options = options
        self.output_dir = output_dir
        self.listener = listener
        self.spec = check_options(options)
        self.jobs = max(1, jobs)
        self.fail_fast = fail_fast
        self.cache = None  # the server's: the history of this run goes to the default place
        self.model_loaded = False  # whether the server ran the model for any input of this run
        self.cancelled = threading.Event()
        self._fields = form_fields(options, backend)
        self._created: list[Path] = []
        self.attempts: list[Attempt] = []  # every try of every input, in the order they ended: which node did what

    @classmethod
    def for_cli(
        cls, url: str, token: str | None, options: SeparateOptions, settings: Any, listener: Listener, jobs: int, fail_fast: bool = False
    ) -> RemoteRun:
        """Check the server answers and takes the token before any input is touched."""
        remote = Remote(url, token)
        check_options(options)
        answer = remote.get("/v1/models")
        if answer.status != 200:
            raise SplError(f"the spl server at {url} answered {answer.status}: {(answer.body or {}).get('detail', '')}")
        return cls(Nodes([remote]), options, settings.audio.output_dir, listener, jobs, fail_fast, settings.performance.backend)

    def run(self, inputs: Sequence[Path], destinations: Sequence[Path] | None = None) -> list[FileResult]:
        plans = plan_inputs(
            inputs,
            destinations or [self.output_dir] * len(inputs),
            self.options.filename_format,
            self.spec.instruments,
            self.options.codec,
            formats.check_file,
            refuse_existing=self.options.existing == "refuse",
        )
        pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="spl-remote")
        futures: dict[int, Future[FileResult]] = {}
        try:
            results: list[FileResult | None] = [None] * len(inputs)
            for index, (source, plan) in enumerate(zip(inputs, plans, strict=True)):
                if isinstance(plan, PlannedInput):
                    futures[index] = pool.submit(self._process, plan)
                else:
                    results[index] = self._failed(source, plan)
            while not all(future.done() for future in futures.values()):
                wait(list(futures.values()), timeout=0.1)  # short naps: signal handlers run in this thread
            for index, future in futures.items():
                results[index] = future.result()
            return [result for result in results if result is not None]
        except BaseException:  # Ctrl-C, a signal: start nothing new; jobs in progress are deleted from the server
            self.cancelled.set()
            pool.shutdown(wait=False, cancel_futures=True)
            wait([future for future in futures.values() if not future.cancelled()], timeout=STOP_GRACE)
            raise
        finally:
            pool.shutdown(wait=not self.cancelled.is_set())
            staging.remove_if_empty(self._created)

    def _process(self, plan: PlannedInput) -> FileResult:
        started = time.perf_counter()
        try:
            result = self._outcome(plan, started)
        except SplError as error:
            return self._failed(plan.source, error)
        except OSError as error:
            return self._failed(plan.source, escaped_error(plan.source, error))
        self.listener.file_finished(result)
        return result

    def _outcome(self, plan: PlannedInput, started: float) -> FileResult:
        if self.cancelled.is_set():
            raise Unfinished("not started: the run was stopped")
        origin = provenance.Origin.of(plan.source, self.spec.full_name, self.options.cache_fields())
        staging.remove_stale_parts(plan.stems.values())
        if self.options.existing == "skip" and provenance.is_done(plan.stems.values(), origin):
            return FileResult(plan.source, self.spec.full_name, status="skipped", outputs=plan.stems)
        while True:
            if self.cancelled.is_set():  # also between a node's failure and the next attempt
                raise Unfinished("stopped before it finished: the run was stopped")
            node = self.nodes.pick()
            try:
                job, outputs = self._on(node, plan, origin)
                self.attempts.append(Attempt(plan.source, node.url, "done"))
                break
            except NodeFailed as failure:  # the node's fault: another node, if one is left, takes the input
                self.attempts.append(Attempt(plan.source, node.url, "node failed", failure.error.message))
                if not self.nodes.failed(node, failure.error):
                    raise _located(failure.error, plan.source) from None
                self.listener.warning(f"{plan.source}: {failure.error.message}; retrying on another node")
            except SplError as error:  # the input's own failure: the same on every node, so not retried
                self.attempts.append(Attempt(plan.source, node.url, "failed", error.message))
                raise
        result = decode_result(job["result"])
        result.input, result.outputs, result.wall_time = plan.source, outputs, time.perf_counter() - started
        self.model_loaded |= result.backend is not None
        return result

    def _on(self, node: Node, plan: PlannedInput, origin: provenance.Origin) -> tuple[dict[str, Any], dict[str, Path]]:
        """One attempt on one node: upload, wait, download into place, delete the job. Raises NodeFailed for the node's faults."""
        try:
            try:
                job = self._job(node, plan.source)
            finally:
                self.nodes.placed(node)
            try:
                job = self._finished(node.remote, job, plan.source)
                if job["status"] == "failed":
                    error = _located(decode_error(job["error"]["error"]), plan.source)
                    raise NodeFailed(error) if status_for(job["error"]["exit_code"]) >= 500 else error
                return job, self._download(node.remote, job, plan.stems, origin)
            finally:
                with contextlib.suppress(SplError):  # the server keeps nothing it no longer needs, whatever happened
                    node.remote.delete(job["url"])
        except Unreachable as error:  # refused, reset, timed out, died mid-job
            raise NodeFailed(error) from None

    def _job(self, node: Node, source: Path) -> dict[str, Any]:
        """Upload ``source``; a full queue is waited out (Retry-After), an error is the input's failure, a 5xx the node's."""
        for _ in range(_BUSY_RETRIES):
            answer = node.remote.upload("/v1/jobs", source, source.name, self._fields)
            if answer.status == 202 or answer.status == 200:
                return dict(answer.body)
            body = answer.body or {}
            if answer.status == 503 and "error" not in body and self.nodes.can_fail_over(node):  # shutting down: go elsewhere
                raise NodeFailed(SplError(f"the spl server at {node.url} is shutting down"))
            if answer.status not in (429, 503) or "error" in body:
                error = _located(_refusal(answer.status, body), source)
                raise NodeFailed(error) if answer.status >= 500 else error
            self._pause(float(answer.headers.get("retry-after", "1")))
        raise SplError("the spl server's queue stayed full", hint="rerun later, or start more servers")

    def _finished(self, remote: Remote, job: dict[str, Any], source: Path) -> dict[str, Any]:
        """Poll the job until it ends, passing its stage and progress to the listener."""
        announced = False
        while job["status"] in ("queued", "running"):
            self._pause(POLL)
            answer = remote.get(job["url"])
            if answer.status != 200:
                gone = _refusal(answer.status, answer.body or {}).message
                raise NodeFailed(SplError(f"the job on the spl server is gone ({gone})", hint="rerun to resume"))
            job = answer.body
            if job["status"] == "running":
                if not announced and job.get("duration") is not None:
                    self.listener.file_started(source, job["duration"])
                    announced = True
                self.listener.file_stage(source, job["stage"])
                self.listener.file_progress(source, job["seconds"])
        if job["status"] == "cancelled":
            raise Unfinished("cancelled on the spl server")
        return job

    def _download(self, remote: Remote, job: dict[str, Any], planned: dict[str, Path], origin: provenance.Origin) -> dict[str, Path]:
        """The job's stems into their planned paths, as a local run writes them: temporaries, checked, renamed, recorded."""
        stems = {stem["instrument"]: stem for stem in job["stems"]}
        finals = {name: planned[name] for name in stems}
        with staging.staged(finals, origin, self._created) as temporaries:
            for name, temporary in temporaries.items():
                if self.cancelled.is_set():
                    raise Unfinished("stopped before it finished: the run was stopped")
                try:
                    digest = remote.download(stems[name]["url"], temporary)
                except OSError:
                    raise  # our disk: the input's failure, as in a local run
                except SplError as error:  # the server: gone, or the stem is
                    raise NodeFailed(error) from None
                if digest != stems[name]["sha256"]:
                    raise NodeFailed(
                        SplError(f"stem {name} arrived damaged from the spl server (its sha256 differs)", hint="rerun to fetch it again")
                    )
        return finals

    def _pause(self, seconds: float) -> None:
        if self.cancelled.wait(seconds):
            raise Unfinished("stopped before it finished: the run was stopped")

    def _failed(self, source: Path, error: SplError) -> FileResult:
        if self.fail_fast:
            self.cancelled.set()
        error.context.setdefault("path", str(source))
        result = FileResult(source, self.spec.full_name, status="failed", error=error)
        self.listener.file_finished(result)
        return result


def _located(error: SplError, source: Path) -> SplError:
    """The server's error about the uploaded copy, about the file the user named."""
    if "path" in error.context:
        error.context["path"] = str(source)
    return error


def _refusal(status: int, body: dict[str, Any]) -> SplError:
    """An upload the server refused: its own error when it sent one, else its message with the matching kind."""
    if "error" in body:
        return decode_error(body["error"])
    detail = str(body.get("detail", f"HTTP {status}"))
    if status == 413:
        return AudioProcessingError(detail, hint="split the file, or raise the server's --max-upload")
    return SplError(f"the spl server refused it: {detail}")
