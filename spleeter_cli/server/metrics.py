"""``/metrics``: the figures `--metrics-port` exports for a run, here for the life of the service, and its own.

The tally of every job's result feeds the same collectors as a CLI run (``telemetry.metrics``:
files processed, failures, cache hits, audio seconds, stage times, RSS), so dashboards built for
`spl batch --metrics-port` work unchanged. Added: HTTP requests and latencies by route, jobs
queued and running, the queue's limit, whether the service is ready, and the models this process
has loaded (one per model for the life of the process, whatever the number of jobs).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from ..telemetry.metrics import RunMetrics
from .runner import JobRunner

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class HttpMetrics:
    """Request counts and latencies by method and route template."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "spl_http_requests", "HTTP requests answered, by method, route and status.", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "spl_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class _ServiceCollector:
    """The runner's state, read at each scrape."""

    def __init__(self, runner: JobRunner) -> None:
        self.runner = runner

    def collect(self) -> Iterator[Any]:
        jobs = GaugeMetricFamily("spl_jobs", "Jobs of this process by state.", labels=["status"])
        for status, count in self.runner.counts().items():
            jobs.add_metric([status], count)
        models = GaugeMetricFamily("spl_models_loaded", "Models this process has loaded, shared by all its jobs.", labels=["model"])
        for name in self.runner.pool.loaded:
            models.add_metric([f"spleeter:{name}"], 1)
        yield jobs
        yield models
        yield GaugeMetricFamily("spl_queue_limit", "Jobs that may wait at once (--queue).", value=self.runner.queue_limit)
        yield GaugeMetricFamily(
            "spl_ready",
            "1 when a model is loaded and the queue accepts work (/readyz).",
            value=int(self.runner.ready and self.runner.accepting),
        )


def service_registry(runner: JobRunner) -> tuple[CollectorRegistry, HttpMetrics]:
    """The registry /metrics serves: the run metrics over every job, the service's state, and HTTP."""
    registry = RunMetrics(runner.tally).registry
    registry.register(_ServiceCollector(runner))
    return registry, HttpMetrics(registry)
