"""The background stages that overlap decoding, the model and encoding."""

from __future__ import annotations

import threading
import time

import pytest

from spleeter_cli.separate.stages import staged


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
