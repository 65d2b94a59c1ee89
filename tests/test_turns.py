"""The CPU turns between the U-Nets and the transforms (separate/turns.py), with real threads."""

from __future__ import annotations

import threading
import time

from spleeter_cli.separate.turns import CoreTurns

HOLD = 0.2  # seconds a turn is held: long against thread start-up, short for the suite


def run_in_thread(target) -> threading.Thread:  # type: ignore[no-untyped-def]
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_transforms_share_their_turn() -> None:
    turns = CoreTurns()
    inside = threading.Barrier(2, timeout=5)

    def transform() -> None:
        with turns.transform():
            inside.wait()  # both are inside at once, or the barrier times out

    threads = [run_in_thread(transform) for _ in range(2)]
    for thread in threads:
        thread.join(5)
    assert not inside.broken


def test_the_model_runs_alone_and_goes_first() -> None:
    turns = CoreTurns()
    events: list[str] = []
    transform_started = threading.Event()

    def long_transform() -> None:
        with turns.transform():
            transform_started.set()
            time.sleep(HOLD)
            events.append("first transform ends")

    def model() -> None:
        with turns.model():
            events.append("model starts")
            time.sleep(HOLD)
            events.append("model ends")

    def late_transform() -> None:
        with turns.transform():
            events.append("late transform starts")

    first = run_in_thread(long_transform)
    transform_started.wait(5)
    waiting_model = run_in_thread(model)
    time.sleep(HOLD / 4)  # the model is now waiting for the first transform
    late = run_in_thread(late_transform)
    for thread in (first, waiting_model, late):
        thread.join(5)
    # The model waited for the running transform, and the transform that came while it waited went after it.
    assert events == ["first transform ends", "model starts", "model ends", "late transform starts"]
