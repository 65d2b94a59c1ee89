"""What runs on a Dask worker: one input through the ordinary pipeline, models kept per process.

A worker process keeps its model store, stem cache and loaded models between tasks (keyed
by the settings the client sent), so it loads each model once however many inputs it gets,
and tasks that run at once on one worker share the model's batcher as a local ``--jobs``
run does. TensorFlow is imported only when an input misses the cache. Progress events go
back to the client as Dask events on the run's topic; the result is the task's return value.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SplError
from ..limits import InputLimits
from ..models.catalog import get_spec
from ..separate.loader import ModelPool
from ..separate.run import SeparationRun
from ..separate.vocabulary import FileResult, SeparateOptions
from .wire import encode_result

WARNING_TOPIC = "spl-warnings"
PROGRESS_INTERVAL = 0.5  # seconds between forwarded progress events of one input

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_states: dict[tuple[tuple[str, str], ...], _WorkerState] = {}
_pools: dict[tuple[Path, str], ModelPool] = {}  # (models folder, backend) -> its loaded models
_worker: Any = None  # this process's Dask worker, for warnings raised outside a task


@dataclass
class _WorkerState:
    store: Any  # ModelManager
    cache: Any  # CacheManager, or None when caching is off
    models: ModelPool
    limits: InputLimits


def separate_input(source: str, destination: str, options: dict[str, Any], settings: dict[str, Any], topic: str) -> dict[str, Any]:
    """The Dask task: separate ``source`` into ``destination``; returns the wire form of its result.

    ``settings`` are dotted config keys the client decided for the workers; anything it left
    out comes from the worker's own config file and environment.
    """
    global _worker
    from distributed import get_worker

    _worker = get_worker()
    listener = _Forwarder(_worker, topic)
    model_loaded = False
    try:
        separate_options = SeparateOptions(**options)
        state = _state(settings)
        run = SeparationRun(
            separate_options, Path(destination), state.store, listener, cache=state.cache, jobs=1, models=state.models, limits=state.limits
        )
        [result] = run.run([Path(source)])
        model_loaded = run.model_loaded
    except SplError as error:  # bad worker config, or a model that cannot be installed here
        error.context.setdefault("path", source)
        result = FileResult(Path(source), get_spec(options["model"]).full_name, status="failed", error=error)
    return {"result": encode_result(result), "model_loaded": model_loaded}


def _state(settings: dict[str, Any]) -> _WorkerState:
    """This process's store and cache for ``settings``, created on first use; loaded models are
    shared by every run that uses the same models folder, whatever its cache settings."""
    key = tuple(sorted((name, repr(value)) for name, value in settings.items()))
    with _lock:
        if key not in _states:
            from ..cache.manager import CacheManager
            from ..config import load_config
            from ..models.store import ModelManager

            resolved = load_config().with_overrides(**settings)
            store = ModelManager.from_settings(resolved)
            pool_key = (store.models_dir.resolve(), resolved.performance.backend)
            if pool_key not in _pools:
                _pools[pool_key] = ModelPool.from_settings(resolved)
            _states[key] = _WorkerState(store, CacheManager.for_run(resolved, _warn), _pools[pool_key], InputLimits.from_settings(resolved))
        return _states[key]


def _warn(message: str) -> None:
    """Cache warnings (e.g. Redis unreachable): logged on the worker and sent to every client."""
    _log.warning(message)
    if _worker is not None:
        _worker.log_event(WARNING_TOPIC, {"worker": _worker.address, "message": message})


class _Forwarder:
    """A pipeline listener that sends start, stage and (throttled) progress events to the client."""

    def __init__(self, worker: Any, topic: str) -> None:
        self._worker = worker
        self._topic = topic
        self._last_progress = 0.0

    def _send(self, event: str, path: Path, value: Any) -> None:
        self._worker.log_event(self._topic, {"event": event, "path": str(path), "value": value})

    def status(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        _warn(message)

    def file_started(self, path: Path, duration: float) -> None:
        self._send("started", path, duration)

    def file_stage(self, path: Path, stage: str) -> None:
        self._send("stage", path, stage)

    def file_progress(self, path: Path, seconds: float) -> None:
        now = time.monotonic()
        if now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self._send("progress", path, seconds)

    def file_finished(self, result: FileResult) -> None:
        pass  # the result itself is the task's return value
