"""Every finished input of a run, counted once: the figures the summary, the report, the engine,
the metrics and the live view all read, so they can never disagree."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .vocabulary import FileResult


class Tally:
    """Finished inputs, added from any thread as they finish (``add``), read at any time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: list[FileResult] = []

    @classmethod
    def of(cls, results: Iterable[FileResult]) -> Tally:
        tally = cls()
        for result in results:
            tally.add(result)
        return tally

    def add(self, result: FileResult) -> None:
        with self._lock:
            self._results.append(result)

    @property
    def results(self) -> list[FileResult]:
        """Every result so far, in the order they finished."""
        with self._lock:
            return list(self._results)

    def counts(self) -> dict[str, Any]:
        """Inputs by outcome, cache hits by tier, audio separated, errors by kind and the backends that ran.

        Audio counts separated inputs only (computed or from the cache), as every figure of spl does.
        """
        results = self.results
        separated = [r for r in results if r.status == "ok"]
        statuses = Counter(r.status for r in results)
        return {
            "inputs": len(results),
            "ok": statuses["ok"],
            "skipped": statuses["skipped"],
            "failed": statuses["failed"],
            "cached": sum(r.cache is not None for r in separated),
            "cache_tiers": dict(Counter(r.cache for r in separated if r.cache)),
            "audio_seconds": sum(r.audio_duration for r in separated),
            "file_seconds": sum(r.wall_time for r in results),  # time spent on inputs, which overlap one another
            "errors": dict(Counter(type(r.error).__name__ for r in results if r.error is not None)),
            "backends": sorted({r.backend for r in separated if r.backend}),
        }

    def summary(self, wall: float) -> dict[str, Any]:
        """The run's summary line and report section, for a run that took ``wall`` seconds."""
        counts = self.counts()
        audio = counts["audio_seconds"]
        return {
            "inputs": counts["inputs"],
            "ok": counts["ok"],
            "skipped": counts["skipped"],
            "failed": counts["failed"],
            "cached": counts["cached"],
            "audio_seconds": round(audio, 3),
            "wall_time": round(wall, 3),
            "x_realtime": round(audio / wall, 2) if wall > 0 else None,
            "backends": counts["backends"],
        }
