"""Turns on the CPU cores: the U-Nets run alone, the signal processing between their calls.

On a CPU backend the U-Nets and the STFT stages run on the same cores. Side by side, the
STFT threads preempt the runtime's threads, which then wait for each other at every layer:
within a 10 x 30 s batch on 2 cores a 2stems segment took 0.23 s of U-Net time instead of
the 0.136 s it takes alone. Taking turns (the model exclusively, the transforms of several
files together between its calls) brought the batch from 7.4-7.7 s to 7.0 s in process.
The model's turn comes first: transforms that want to start wait while it waits, so it is
never starved by a stream of short transforms. A GPU backend needs no turns.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext


class CoreTurns:
    """A readers-writer lock with the writer (the model) preferred."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._transforms = 0  # running now
        self._model_running = False
        self._model_waiting = 0

    @contextmanager
    def model(self) -> Iterator[None]:
        """The U-Nets' turn: waits for the transforms running now, keeps new ones out."""
        with self._changed:
            self._model_waiting += 1
            try:
                self._changed.wait_for(lambda: not self._model_running and not self._transforms)
            finally:
                self._model_waiting -= 1
            self._model_running = True
        try:
            yield
        finally:
            with self._changed:
                self._model_running = False
                self._changed.notify_all()

    @contextmanager
    def transform(self) -> Iterator[None]:
        """A transform's turn (an STFT, masks applied, an inverse STFT); several share it."""
        with self._changed:
            self._changed.wait_for(lambda: not self._model_running and not self._model_waiting)
            self._transforms += 1
        try:
            yield
        finally:
            with self._changed:
                self._transforms -= 1
                self._changed.notify_all()


class NoTurns:
    """Everything runs side by side (TensorFlow, a GPU, tests of the separator alone)."""

    def model(self) -> AbstractContextManager[None]:
        return nullcontext()

    def transform(self) -> AbstractContextManager[None]:
        return nullcontext()
