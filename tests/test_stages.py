"""The background stages that overlap decoding, the model and encoding."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from spleeter_cli.models.catalog import get_spec
from spleeter_cli.separate.batcher import ModelBatcher
from spleeter_cli.separate.stages import Cancelled, staged


def test_results_in_order_from_another_thread() -> None:
    threads: set[str] = set()

    def step(x: int) -> int:
        threads.add(threading.current_thread().name)
        return x * x

    assert list(staged(range(50), step, depth=2, name="test-stage")) == [x * x for x in range(50)]
    assert threads == {"test-stage"}


def test_errors_reach_the_consumer() -> None:
    def step(x: int) -> int:
        if x == 3:
            raise ValueError("bad item 3")
        return x

    results = []
    with pytest.raises(ValueError, match="bad item 3"):
        for item in staged(range(10), step):
            results.append(item)
    assert results == [0, 1, 2]


def test_a_consumer_that_stops_early_stops_every_stage() -> None:
    produced = []

    def source():  # type: ignore[no-untyped-def]
        for i in range(1000):
            produced.append(i)
            yield i

    before = threading.active_count()
    chained = staged(staged(source(), lambda x: x, depth=1), lambda x: x + 1, depth=1)
    assert next(chained) == 1
    chained.close()
    time.sleep(0.3)
    assert threading.active_count() == before  # both stage threads ended
    assert len(produced) < 10  # bounded queues: the source was not drained


def test_a_cancelled_consumer_does_not_wait_for_a_stuck_step() -> None:
    """A step that cannot be interrupted (a model still loading) must not hold the file that waits for it."""
    release, cancelled = threading.Event(), threading.Event()
    stream = staged(range(3), lambda x: release.wait(), cancelled=cancelled)
    threading.Timer(0.2, cancelled.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        next(stream)
    assert time.monotonic() - started < 2
    stream.close()  # returns at once too: the stuck thread is told to stop, not joined
    release.set()


class _StuckModel:
    """Stands in for a model whose first call blocks until released (TensorFlow's import, say)."""

    spec = get_spec("2stems")

    def __init__(self) -> None:
        self.release = threading.Event()

    def masks(self, segments: np.ndarray) -> np.ndarray:
        self.release.wait()
        return np.ones((2, *segments.shape), np.float32)


def test_a_request_a_closed_batcher_will_not_serve_fails_rather_than_waits() -> None:
    model = _StuckModel()
    batcher = ModelBatcher(model.spec, model)
    outcomes: dict[str, object] = {}

    def ask(name: str) -> None:
        try:
            outcomes[name] = batcher.masks(np.zeros((1, 4, 4, 2), np.float32)).shape
        except Cancelled:
            outcomes[name] = "cancelled"

    first = threading.Thread(target=ask, args=("first",))
    first.start()
    time.sleep(0.2)  # the owner is inside the stuck model call with the first request
    started = time.monotonic()
    batcher.close(wait=False)
    assert time.monotonic() - started < 1  # a stopped run does not wait for the model
    late = threading.Thread(target=ask, args=("late",))
    late.start()
    model.release.set()
    first.join(5)
    late.join(5)
    assert outcomes == {"first": (2, 1, 4, 4, 2), "late": "cancelled"}
