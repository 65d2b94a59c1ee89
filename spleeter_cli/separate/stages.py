"""Run one step of a streaming computation on its own thread, a bounded distance ahead.

NumPy's FFTs, PyAV's decoder and TensorFlow's kernels all release the GIL, so
chaining steps through ``staged`` lets decoding and STFT, the U-Nets, and the
inverse STFT with encoding overlap on different cores. Queues hold at most
``depth`` finished items, which keeps memory bounded whatever the input length.
No wait here is unbounded: the consumer polls a cancel event, and nobody joins a
stage's thread, which may be inside a call that cannot be interrupted (a model
that is still loading).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")
_POLL = 0.1  # seconds between checks that the other side is still there


class Cancelled(Exception):
    """The run was stopped (Ctrl-C, a signal, --fail-fast) while this file was in progress."""


class _Failure(Generic[T]):
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def staged(
    source: Iterable[T], step: Callable[[T], U], depth: int = 1, name: str = "spl-stage", cancelled: threading.Event | None = None
) -> Iterator[U]:
    """``map(step, source)`` computed on a background thread, results in order.

    An exception in the thread is re-raised to the consumer; a consumer that stops
    early (error, Ctrl-C, generator closed) stops the thread at its next item. Once
    ``cancelled`` is set, a consumer waiting for an item raises ``Cancelled`` instead.
    """
    results: queue.Queue[object] = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def put(item: object) -> bool:
        while not stopped.is_set():
            try:
                results.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in source:
                if not put(step(item)):
                    return
            put(_DONE)
        except BaseException as error:  # noqa: BLE001 -- handed to the consumer, which re-raises it
            put(_Failure(error))
        finally:
            close = getattr(source, "close", None)
            if close is not None:  # an upstream stage: stop its thread too
                close()

    thread = threading.Thread(target=work, name=name, daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = results.get(timeout=_POLL)
            except queue.Empty:
                if cancelled is not None and cancelled.is_set():
                    raise Cancelled() from None
                continue
            if item is _DONE:
                thread.join()  # only closing the source is left: done before the caller goes on
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stopped.set()  # the thread ends at its next item; not joined, it may be stuck in ``step``
