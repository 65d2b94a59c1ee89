"""A batch on a Dask cluster that `execute()` treats exactly like a local ``SeparationRun``.

One task per input, in input order; each finished input reaches the listener as it completes
and the results come back in input order, so the summary, report, history and exit code are
those of a local batch. A worker that dies mid-task has its inputs rescheduled by Dask on the
others (its temporaries are cleaned up by the next attempt); an exception escaping the
pipeline on a worker is retried ``retries`` times, then reported as that input's failure.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import SplError, Unfinished
from ..separate.planning import PlannedInput, plan_inputs
from ..separate.vocabulary import FileResult, Listener, SeparateOptions, check_options
from .address import parse_scheduler
from .connection import ClusterConnection
from .wire import decode_result

RETRIES = 2


def worker_settings(settings: Any, machine_local: bool) -> dict[str, Any]:
    """The settings sent with every task, as dotted config keys.

    Workers of ``local:N`` are this machine: they get this command's models dir and cache.
    Remote workers keep their own models dir and disk cache (their environment, e.g. the
    image's) and their own limits (an operator's refusal is not the client's to lift); only what
    must be shared travels: cache on/off and the Redis URL, and a backend the user chose (with
    ``auto`` each worker picks its own the same way: TensorFlow on a CUDA GPU, else OpenVINO).
    """
    keys = ["cache.enabled", "cache.redis_url", "cache.redis_ttl_seconds"]
    if machine_local or settings["performance.backend"] != "auto":
        keys.append("performance.backend")
    if machine_local:
        keys += [
            "models.dir",
            "models.auto_download",
            "cache.dir",
            "cache.memory_mb",
            "cache.disk_mb",
            "performance.enable_gpu",
            "limits.max_file_mb",
            "limits.max_duration_seconds",
            "limits.allowed_roots",
        ]
    return {key: settings[key] for key in keys if settings[key] is not None}


class DistributedRun:
    """Separates inputs on a cluster, reporting through ``listener`` like ``SeparationRun``."""

    def __init__(
        self,
        options: SeparateOptions,
        output_dir: Path,
        connection: ClusterConnection,
        listener: Listener,
        settings: dict[str, Any],
        fail_fast: bool = False,
        retries: int = RETRIES,
        owns_connection: bool = False,
    ) -> None:
        self.options = options
        self.output_dir = output_dir
        self.connection = connection
        self.listener = listener
        self.settings = settings
        self.spec = check_options(options)
        self.jobs = connection.threads()
        self.fail_fast = fail_fast
        self.retries = retries
        self.owns_connection = owns_connection
        self.model_loaded = False  # whether any worker needed the model for this run
        self._given: dict[str, Path] = {}  # absolute path sent to the workers -> the input as given
        self._finished: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def for_cli(cls, scheduler: str, options: SeparateOptions, settings: Any, listener: Listener, fail_fast: bool) -> DistributedRun:
        """`spl batch --scheduler`: parse, connect (or start the local cluster), fail fast if unreachable."""
        spec = parse_scheduler(scheduler)
        check_options(options)  # a bad option fails before any connection is made
        if spec.is_local:
            listener.status(f"starting a local Dask cluster of {spec.local_workers} worker{'s' if spec.local_workers != 1 else ''}")
        connection = ClusterConnection(spec, quiet=True)
        return cls(
            options,
            settings.audio.output_dir,
            connection,
            listener,
            worker_settings(settings, spec.is_local),
            fail_fast=fail_fast,
            owns_connection=True,
        )

    def run(self, inputs: Sequence[Path], destinations: Sequence[Path] | None = None) -> list[FileResult]:
        """One task per input; results in input order, each passed to the listener as it completes."""
        try:
            return self._run(inputs, destinations)
        finally:
            if self.owns_connection:
                self.connection.close()

    def _run(self, inputs: Sequence[Path], destinations: Sequence[Path] | None) -> list[FileResult]:
        from distributed import as_completed

        from .worker import WARNING_TOPIC, separate_input

        client = self.connection.client
        if not self.jobs:
            self.listener.status(f"waiting for workers to join the scheduler at {self.connection.spec}")
        topic = f"spl-run-{uuid.uuid4().hex}"
        client.subscribe_topic(topic, self._on_event)
        client.subscribe_topic(WARNING_TOPIC, self._on_warning)
        options = dataclasses.asdict(self.options)
        futures = {}
        results: list[FileResult | None] = [None] * len(inputs)
        # Planned as a local run plans: no input may overwrite another's stems (the workers check the rest).
        plans = plan_inputs(
            inputs, destinations or [self.output_dir] * len(inputs), self.options.filename_format, self.spec.instruments, self.options.codec
        )
        for index, (source, plan) in enumerate(zip(inputs, plans, strict=True)):
            if not isinstance(plan, PlannedInput):
                refused = results[index] = self._failed(source, plan)
                self.listener.file_finished(refused)
                continue
            destination = plan.destination
            self._given[str(source.absolute())] = source
            future = client.submit(
                separate_input,
                str(source.absolute()),
                str(destination.absolute()),
                options,
                self.settings,
                topic,
                key=f"spl-separate-{topic[8:]}-{index}",
                retries=self.retries,
                pure=False,
            )
            futures[future] = index
        try:
            for future in as_completed(futures, loop=client.loop):
                index = futures[future]
                result = self._collect(future, inputs[index])
                results[index] = result
                with self._lock:
                    self._finished.add(str(inputs[index].absolute()))
                self.listener.file_finished(result)
                if result.status == "failed" and self.fail_fast:
                    client.cancel([f for f in futures if not f.done()])
        except BaseException:  # Ctrl-C: nothing new starts; running inputs finish or leave only temporaries
            client.cancel(list(futures))
            raise
        finally:
            client.unsubscribe_topic(topic)
            client.unsubscribe_topic(WARNING_TOPIC)
        return [r for r in results if r is not None]

    def _collect(self, future: Any, source: Path) -> FileResult:
        """The input's result as the local pipeline would have reported it (same paths, same errors)."""
        if future.cancelled():
            if self.connection.client.status != "running":
                return self._failed(
                    source,
                    SplError(
                        f"not finished: the connection to the Dask scheduler at {self.connection.spec} was lost",
                        hint="rerun to resume once the scheduler is back",
                    ),
                )
            return self._failed(source, Unfinished("not started: the run was stopped"))
        try:
            payload = future.result()
        except Exception as error:  # noqa: BLE001 - any failure of the task is this input's failure
            return self._failed(source, _task_error(error))
        result = decode_result(payload["result"])
        self.model_loaded |= payload["model_loaded"]
        result.input = source
        if result.error is not None and "path" in result.error.context:
            result.error.context["path"] = str(source)
        return result

    def _failed(self, source: Path, error: SplError) -> FileResult:
        error.context.setdefault("path", str(source))
        return FileResult(source, self.spec.full_name, status="failed", error=error)

    def _on_event(self, event: tuple[float, dict[str, Any]]) -> None:
        """Start, stage and progress events from the workers; late ones for finished inputs are dropped."""
        message = event[1]
        with self._lock:
            if message["path"] in self._finished:
                return
        path = self._given.get(message["path"], Path(message["path"]))
        if message["event"] == "started":
            self.listener.file_started(path, message["value"])
        elif message["event"] == "stage":
            self.listener.file_stage(path, message["value"])
        elif message["event"] == "progress":
            self.listener.file_progress(path, message["value"])

    def _on_warning(self, event: tuple[float, dict[str, Any]]) -> None:
        warn = getattr(self.listener, "warning", None)
        if warn is not None:
            warn(f"worker {event[1]['worker']}: {event[1]['message']}")


def _task_error(error: BaseException) -> SplError:
    """A task that never returned a result: its worker kept dying, or spl raised on the worker."""
    if type(error).__name__ == "KilledWorker":
        return SplError("the workers separating it died repeatedly", hint="check the workers' memory limits and logs")
    return SplError(f"failed on a worker: {type(error).__name__}: {error}", hint="see the worker's log, and please report it")
