"""The service's engine: queued jobs run on worker threads through one model pool, one cache, one tally.

Each job is a ``SeparationRun`` of one input, as `spl separate` runs it, sharing the process's
``ModelPool`` (as ``SpleeterEngine`` shares it between calls): the model loads once for the life
of the process, and segments of jobs running at once are batched into the same model calls.
The queue is bounded (``queue``); what waits in it is also in SQLite, so a restart resumes it.

Stopping (SIGTERM) is a drain: no job starts any more, running jobs get until the deadline to
finish, and the ones still running then are stopped and left queued for the next start.
"""

from __future__ import annotations

import math
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..cache.keys import input_digest
from ..cache.tiers import redact
from ..distributed.wire import encode_result
from ..errors import SplError, Unfinished
from ..limits import InputLimits
from ..models.catalog import SEGMENT_FRAMES, get_spec
from ..models.store import ModelManager
from ..separate.loader import ModelPool
from ..separate.run import STOP_GRACE, SeparationRun
from ..separate.tally import Tally
from ..separate.vocabulary import FileResult, SeparateOptions, SilentListener
from .jobs import JobStore
from .statuses import error_body, named

STEM_FORMAT = "{instrument}.{codec}"  # inside the job's own stems folder: names are the server's, never the client's
_WAKE = 0.5  # seconds a worker sleeps between looks at the queue when nothing wakes it
_FIRST_GUESS = 10.0  # seconds a job takes, until one has finished (for Retry-After)


class QueueFull(Exception):
    """The queue holds ``queue`` jobs already; the client should retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("queue full")
        self.retry_after = retry_after


class Progress(SilentListener):
    """What a running job is doing, as the run reports it (read by ``GET /v1/jobs/{id}``)."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.stage = "starting"  # then "measure" (--normalize), "separate", or "cached"
        self.seconds = 0.0
        self.duration: float | None = None
        self._log = log

    def status(self, message: str) -> None:
        self._log(message)

    def warning(self, message: str) -> None:
        self._log(f"warning: {message}")

    def file_started(self, path: Path, duration: float) -> None:
        self.duration = duration
        self.stage = "separate"

    def file_stage(self, path: Path, stage: str) -> None:
        self.stage = stage

    def file_progress(self, path: Path, seconds: float) -> None:
        self.seconds = seconds


@dataclass
class _Active:
    run: SeparationRun
    progress: Progress
    cancel: bool = False  # DELETE: the job ends cancelled, its files removed
    requeue: bool = False  # the drain's deadline passed: the job goes back to the queue


@dataclass
class JobRunner:
    """Runs the jobs of ``jobs`` on ``workers`` threads; ``start`` it, ``submit`` to it, ``drain`` it."""

    jobs: JobStore
    store: ModelManager
    cache: Any  # a CacheManager, or None (--no-cache)
    limits: InputLimits
    workers: int
    queue_limit: int
    retention: float  # seconds finished jobs are kept
    default_model: str
    precision: str = "fp32"
    enable_gpu: bool = True
    backend: str = "auto"
    settings: Any = None  # the process's Settings: the model pool's threads and batch size, the audio settings of every job
    log: Callable[[str], None] = field(default=lambda message: print(f"spl: {message}", file=sys.stderr, flush=True))

    def __post_init__(self) -> None:
        # the one model pool of the process, as the performance settings describe it (spl separate's pool)
        self.pool = ModelPool.from_settings(self.settings) if self.settings is not None else ModelPool(self.enable_gpu, self.backend)
        self.tally = Tally()  # every job's result over the process's life: what /metrics counts
        self.limits = replace(self.limits, allowed_roots=None)  # uploads live in the data dir; the size and duration limits stay
        self.ready = False  # the default model is loaded and has answered once
        self.accepting = True  # False once draining: nothing new is queued or started
        self.not_ready_reason = "loading the model"
        self._queue: deque[str] = deque()
        self._active: dict[str, _Active] = {}
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._job_seconds = _FIRST_GUESS  # running average, for Retry-After
        self._watchers: dict[str, list[Callable[[], object]]] = {}  # job id -> called once it ends (?wait= answers)

    # Life

    def start(self) -> None:
        """Resume what the last process left (queued and running jobs), then start the workers and the warm-up."""
        requeued = self.jobs.requeue_unfinished()
        self.jobs.sweep()
        self._queue.extend(self.jobs.queued())
        if requeued or self._queue:
            self.log(f"resuming {len(self._queue)} queued job(s) ({requeued} interrupted while running)")
        threads = [threading.Thread(target=self._work, name=f"spl-job-{n}", daemon=True) for n in range(self.workers)]
        threads += [
            threading.Thread(target=self._warm_up, name="spl-warm-up", daemon=True),
            threading.Thread(target=self._expire, name="spl-retention", daemon=True),
        ]
        self._threads = threads
        for thread in threads:
            thread.start()

    def stop_accepting(self) -> None:
        """No new job is queued or started from now on. Safe in a signal handler: it only sets flags."""
        self.accepting = False
        self.not_ready_reason = "shutting down"

    def drain(self, deadline: float) -> None:
        """Let running jobs finish until ``deadline`` (monotonic); stop the others there and leave them queued."""
        self.stop_accepting()
        with self._wake:
            self._wake.notify_all()
        while self._active and time.monotonic() < deadline:
            time.sleep(0.1)
        late = list(self._active.items())
        for _job, active in late:
            active.requeue = True
            active.run.cancelled.set()
        stop_by = time.monotonic() + STOP_GRACE + 1
        while self._active and time.monotonic() < stop_by:
            time.sleep(0.05)
        for job_id, _ in late:  # also those whose thread is stuck in a model call: the next start runs them
            self.jobs.set_queued(job_id)
        if late:
            self.log(f"left {len(late)} running job(s) queued for the next start: the grace period ended")
        self._stopped.set()
        self.pool.close(wait=False)
        self.jobs.close()

    # Requests

    def submit(self, job_id: str) -> None:
        """Queue a job whose row is in the store; raises QueueFull."""
        with self._wake:
            if len(self._queue) >= self.queue_limit:
                raise QueueFull(self.retry_after())
            self._queue.append(job_id)
            self._wake.notify()

    def is_full(self) -> bool:
        return len(self._queue) >= self.queue_limit

    def retry_after(self) -> int:
        """Seconds until a place in the queue is likely free: until the next running job ends, on average."""
        return max(1, math.ceil(self._job_seconds / self.workers))

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False when it is neither (finished, or unknown)."""
        with self._wake:
            if job_id in self._queue:
                self._queue.remove(job_id)
                self.jobs.set_cancelled(job_id)
                self.jobs.remove_files(job_id)
                self._ended(job_id)
                return True
            active = self._active.get(job_id)
        if active is None:
            return False
        active.cancel = True
        active.run.cancelled.set()  # the run stops within a tenth of a second; the worker removes the files
        return True

    def watch(self, job_id: str, ended: Callable[[], object]) -> Callable[[], None]:
        """Call ``ended`` (from a worker thread) once the job has ended or gone back to the queue; returns the unwatch."""
        with self._wake:
            self._watchers.setdefault(job_id, []).append(ended)

        def unwatch() -> None:
            with self._wake:
                if ended in self._watchers.get(job_id, []):
                    self._watchers[job_id].remove(ended)
                    if not self._watchers[job_id]:
                        del self._watchers[job_id]

        return unwatch

    def progress(self, job_id: str) -> Progress | None:
        active = self._active.get(job_id)
        return active.progress if active else None

    def queue_position(self, job_id: str) -> int | None:
        """1 for the next job to start."""
        try:
            return list(self._queue).index(job_id) + 1
        except ValueError:
            return None

    def counts(self) -> dict[str, int]:
        return {"queued": len(self._queue), "running": len(self._active)}

    def load(self) -> dict[str, Any]:
        """Jobs queued and running against the workers, and the Redis the cache shares (password hidden): /readyz."""
        redis_url = getattr(self.cache, "redis_url", None)
        return {
            **self.counts(),
            "workers": self.workers,
            "queue_limit": self.queue_limit,
            "redis": redact(redis_url) if redis_url else None,
        }

    # Workers

    def _work(self) -> None:
        while True:
            with self._wake:
                while self.accepting and not self._queue:
                    self._wake.wait(_WAKE)
                if not self.accepting:
                    return
                job_id = self._queue.popleft()
            try:
                self._execute(job_id)
            except Exception as error:  # noqa: BLE001 - a bug must fail its job, not kill the worker
                self.log(f"internal error in job {job_id}: {type(error).__name__}: {error} (please report it)")
                self.jobs.set_failed(job_id, error_body(SplError(f"internal error: {type(error).__name__}: {error}")))
            finally:
                self._ended(job_id)

    def _execute(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None or job.status != "queued":  # cancelled meanwhile
            return
        options = SeparateOptions(**job.options)
        stems = self.jobs.stems_dir(job_id)
        shutil.rmtree(stems, ignore_errors=True)  # what an interrupted attempt left: this one starts clean
        progress = Progress(lambda message: self.log(f"job {job_id}: {message}"))
        source = self.jobs.input_path(job)
        try:
            run = SeparationRun(options, stems, self.store, progress, cache=self.cache, models=self.pool, limits=self.limits)
        except SplError as error:  # options checked at upload; a setting changed between two starts of the server
            self._failed(job_id, named(error, job.filename), FileResult(source, options.model, status="failed", error=error))
            return
        active = self._active[job_id] = _Active(run, progress)
        self.jobs.set_running(job_id)
        started = time.perf_counter()
        try:
            [result] = run.run([source])
        except SplError as error:  # the model cannot be installed: every job of this model fails the same way
            result = FileResult(source, options.model, status="failed", error=error)
        finally:
            del self._active[job_id]
        self._job_seconds = 0.8 * self._job_seconds + 0.2 * (time.perf_counter() - started)
        if active.cancel:
            self.jobs.set_cancelled(job_id)
            self.jobs.remove_files(job_id)
        elif active.requeue and isinstance(result.error, Unfinished):
            self.jobs.set_queued(job_id)
        elif result.error is not None:
            self._failed(job_id, named(result.error, job.filename), result)
        else:
            self.tally.add(result)
            self.jobs.set_done(job_id, self._done(result, job.filename))

    def _ended(self, job_id: str) -> None:
        with self._wake:
            watchers = self._watchers.pop(job_id, [])
        for ended in watchers:
            ended()

    def _failed(self, job_id: str, error: SplError, result: FileResult) -> None:
        self.tally.add(result)
        self.jobs.set_failed(job_id, error_body(error))

    def _done(self, result: FileResult, filename: str) -> dict[str, Any]:
        """The result as the wire encodes it, with the client's file name, and each stem's size and digest."""
        encoded = encode_result(result)
        encoded["input"] = filename
        encoded["outputs"] = {name: path.name for name, path in result.outputs.items()}
        stems = {
            name: {"file": path.name, "size": path.stat().st_size, "sha256": input_digest(path)} for name, path in result.outputs.items()
        }
        return {"file": encoded, "stems": stems}

    # Background

    def _warm_up(self) -> None:
        """Load the default model and run it once, so the first job does not wait and /readyz means it."""
        import numpy as np

        try:
            spec = get_spec(self.default_model)
            self.store.ensure(spec.name, on_status=self.log)
            model = self.pool.get(spec, self.store, self.precision, self.log)
            model.masks(np.zeros((1, SEGMENT_FRAMES, spec.bins, 2), np.float32))
        except SplError as error:
            self.not_ready_reason = f"the default model cannot be loaded: {error}"
            self.log(f"error: {self.not_ready_reason}")
            return
        except Exception as error:  # noqa: BLE001 - the runtime's own failure: say it, stay not ready
            self.not_ready_reason = f"the default model cannot be loaded: {type(error).__name__}: {error}"
            self.log(f"error: {self.not_ready_reason}")
            return
        self.ready = True
        self.log(f"{spec.full_name} loaded on {self.pool.backend}: ready")

    def _expire(self) -> None:
        """Delete finished jobs and their files once they are older than the retention period."""
        period = min(60.0, max(0.5, self.retention / 4))
        while not self._stopped.wait(period):
            for job_id in self.jobs.expired(time.time() - self.retention):
                self.jobs.remove(job_id)
