"""One owner of the model for every file in flight, batching their segments together.

Several files are separated at once (``--jobs``); each asks for masks of its own
chunk. Requests queue here and the owner thread runs whatever is waiting as one
batch, up to ``max_segments``: on a GPU that is what keeps it fed, on a CPU it
keeps the model busy while the other files decode and encode. Callers block
until their slice of the batch is ready, so the separator does not know it is
sharing the model; a request the owner will never serve (it was closed, or
died) fails instead of waiting for good.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import BY_KEY
from ..models.catalog import ModelSpec
from .stages import Cancelled

MAX_SEGMENTS = BY_KEY["performance.batch_size"].default  # per model call; more buys little on a CPU and costs activation memory
_POLL = 0.1  # seconds between checks, while a request waits, that the owner is still serving


@dataclass
class _Request:
    kind: str  # "masks" | "estimates"
    segments: np.ndarray
    result: Future[np.ndarray] = field(default_factory=Future)


class ModelBatcher:
    """Stands in for the model (``masks``/``estimates``) and serialises its use into batches."""

    def __init__(self, spec: ModelSpec, model: Any, max_segments: int = MAX_SEGMENTS) -> None:
        self.spec = spec
        self._model = model  # anything with masks()/estimates(), e.g. a model still loading
        self._max = max_segments
        self._requests: queue.Queue[_Request | None] = queue.Queue()
        self._owner = threading.Thread(target=self._serve, name="spl-batcher", daemon=True)
        self._owner.start()
        self.calls = 0
        self.segments = 0

    def masks(self, segments: np.ndarray) -> np.ndarray:
        return self._submit("masks", segments)

    def estimates(self, segments: np.ndarray) -> np.ndarray:
        return self._submit("estimates", segments)

    def close(self, wait: bool = True) -> None:
        """Stop the owner once the requests queued so far are served; requests after that fail.

        ``wait=False`` (a stopped run) returns at once: the batch in progress may be waiting
        for the model to load, which cannot be interrupted.
        """
        self._requests.put(None)
        if wait:
            self._owner.join()

    def _submit(self, kind: str, segments: np.ndarray) -> np.ndarray:
        request = _Request(kind, segments)
        self._requests.put(request)
        while True:
            try:
                return request.result.result(timeout=_POLL)
            except TimeoutError:
                if not self._owner.is_alive() and not request.result.done():
                    raise Cancelled() from None

    def _serve(self) -> None:
        carried: list[_Request | None] = []  # a request (or the stop signal) that did not fit the last batch
        while True:
            first = carried.pop() if carried else self._requests.get()
            if first is None:
                return
            batch, size = [first], len(first.segments)
            while size < self._max:
                try:
                    more = self._requests.get_nowait()
                except queue.Empty:
                    break
                if more is None or more.kind != first.kind or size + len(more.segments) > self._max:
                    carried.append(more)
                    break
                batch.append(more)
                size += len(more.segments)
            self._run(batch)

    def _run(self, batch: list[_Request]) -> None:
        try:
            segments = batch[0].segments if len(batch) == 1 else np.concatenate([r.segments for r in batch])
            output = getattr(self._model, batch[0].kind)(segments)
        except BaseException as error:  # noqa: BLE001 -- every waiting file gets the failure
            for request in batch:
                request.result.set_exception(error)
            return
        self.calls += 1
        self.segments += len(segments)
        start = 0
        for request in batch:
            end = start + len(request.segments)
            request.result.set_result(output[:, start:end])  # model output is (instruments, segments, ...)
            start = end
