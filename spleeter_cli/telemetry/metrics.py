"""Live run metrics for Prometheus, and alert thresholds, fed by the run's listener events.

The pipeline already reports every finished input to a listener; ``Monitor`` wraps the
CLI's listener, adds each finished input to the run's ``Tally``, forwards every event
unchanged and checks the thresholds. The exported figures are read from that tally at each
scrape, so they are, by construction, the ones the report and the summary are built from.

The exporter is the official ``prometheus_client`` on 127.0.0.1 only (a separation
host should not expose an unauthenticated port), with its own registry so only spl's
metrics are served. Resource gauges (RSS, GPU memory) are read on each scrape by a
collector, so they are current even between events.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationError
from ..separate.tally import Tally

STAGES = ("decode", "separate", "encode")
STATUSES = ("ok", "skipped", "failed")
ERROR_RATE_MIN_INPUTS = 5  # below this a single failure would read as a 20-100% error rate
_STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


@dataclass(frozen=True)
class AlertThresholds:
    """When to warn during a run (``monitoring.alerts`` in the settings); each is off while None.

    ``labels`` name where each threshold came from (the env variable or the config key), so a
    warning tells the reader what to change.
    """

    memory_mb: float | None = None  # resident memory of this process
    error_rate: float | None = None  # failed / finished inputs, 0..1
    gpu_memory_mb: float | None = None  # busiest GPU, only with NVML
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Any) -> AlertThresholds:
        keys = {
            "memory_mb": "monitoring.alerts.memory_usage",
            "error_rate": "monitoring.alerts.error_rate",
            "gpu_memory_mb": "monitoring.alerts.gpu_usage",
        }
        labels = {name: _label(settings.source(key), key) for name, key in keys.items()}
        return cls(**{name: settings[key] for name, key in keys.items()}, labels=labels)

    def describe(self, name: str) -> str:
        """``SPLEETER_ALERT_MEMORY_MB=1`` or ``monitoring.alerts.memory_usage=1``."""
        return f"{self.labels.get(name, name)}={getattr(self, name):g}"


def _label(source: str, key: str) -> str:
    """The env variable when the value came from the environment, else the config key."""
    return source.removeprefix("env ") if source.startswith("env ") else key


def nvml_devices() -> list[dict[str, Any]] | None:
    """Name and memory of each NVIDIA GPU; None when ``pynvml`` is not installed or finds no driver.

    Optional on purpose: NVML is the only vendor-neutral-enough way to read GPU memory
    without importing TensorFlow, and most machines running spl have no NVIDIA GPU.
    """
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 -- ImportError, or NVMLError when there is no driver
        return None
    try:
        devices = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            devices.append(
                {
                    "index": index,
                    "name": name.decode() if isinstance(name, bytes) else str(name),
                    "memory_used_bytes": int(memory.used),
                    "memory_total_bytes": int(memory.total),
                }
            )
        return devices
    except pynvml.NVMLError:
        return None
    finally:
        pynvml.nvmlShutdown()


def rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def resource_usage(wall_seconds: float) -> dict[str, Any]:
    """What the run cost this process, for the summary when ``monitoring.enabled`` is on.

    The kernel keeps the peak RSS and CPU times, so nothing has to be sampled during the run.
    """
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    devices = nvml_devices()
    return {
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports kilobytes
        "cpu_seconds": round(cpu, 2),
        "cpu_percent": round(100 * cpu / wall_seconds, 1) if wall_seconds > 0 else None,
        "gpu_memory_mb": None if not devices else round(max(d["memory_used_bytes"] for d in devices) / 2**20, 1),
    }


class _TallyCollector:
    """Counters and stage histograms computed from the tally when scraped: the same figures as the summary and report."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        counts = self.tally.counts()
        files = CounterMetricFamily("spl_files_processed", "Inputs finished, by outcome.", labels=["status"])
        for status in STATUSES:  # zeros from the start, so rate() sees the first increment
            files.add_metric([status], counts[status])
        failures = CounterMetricFamily("spl_failures", "Failed inputs, by error class.", labels=["kind"])
        for kind, count in counts["errors"].items():
            failures.add_metric([kind], count)
        hits = CounterMetricFamily("spl_cache_hits", "Inputs served from the stem cache, by tier.", labels=["tier"])
        for tier, count in counts["cache_tiers"].items():
            hits.add_metric([tier], count)
        audio = CounterMetricFamily(
            "spl_audio_seconds", "Seconds of audio separated (computed or served from the cache).", value=counts["audio_seconds"]
        )
        stages = HistogramMetricFamily("spl_stage_seconds", "Busy time per input in each pipeline stage.", labels=["stage"])
        results = self.tally.results
        for stage in STAGES:
            times = [r.timings[stage] for r in results if stage in r.timings]
            buckets = [(floatToGoString(bound), sum(t <= bound for t in times)) for bound in _STAGE_BUCKETS]
            stages.add_metric([stage], buckets=[*buckets, ("+Inf", len(times))], sum_value=sum(times))
        yield from (files, failures, hits, audio, stages)


class _ResourceCollector:
    """Reads RSS and GPU memory at scrape time; the GPU gauge is absent without NVML."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily("spl_rss_bytes", "Resident memory of the spl process.", value=rss_bytes())
        devices = nvml_devices()
        if devices:
            gpu = GaugeMetricFamily("spl_gpu_memory_bytes", "GPU memory in use (whole device, per NVML).", labels=["gpu"])
            for device in devices:
                gpu.add_metric([str(device["index"])], device["memory_used_bytes"])
            yield gpu


class RunMetrics:
    """The run's figures for Prometheus, read from its ``Tally`` at each scrape, and the HTTP server that serves them."""

    def __init__(self, tally: Tally) -> None:
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry()
        self.registry.register(_TallyCollector(tally))
        self.registry.register(_ResourceCollector())
        self._server: Any = None

    def serve(self, port: int, label: str = "--metrics-port") -> None:
        """Listen on 127.0.0.1:``port``; a taken port is the user's to fix, so a usage error naming where it was set."""
        from prometheus_client import start_http_server

        try:
            self._server, _ = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ValidationError(f"{label} {port}: 127.0.0.1:{port} is already in use", hint="choose a free port") from None
            raise ValidationError(f"{label} {port}: cannot listen on 127.0.0.1:{port}: {error.strerror or error}") from None

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class Monitor:
    """Wraps a listener: forwards every event, feeds ``RunMetrics`` and raises each alert once.

    Alerts go through the wrapped listener's ``warning()`` so they appear wherever the run's
    other warnings do (live view, plain logs), and are kept in ``alerts`` for the report.
    """

    def __init__(
        self,
        listener: Any,
        tally: Tally,
        metrics: RunMetrics | None,
        thresholds: AlertThresholds,
        linger: float = 0.0,
        check_interval: float | None = None,
    ) -> None:
        self._listener = listener
        self.tally = tally  # every result seen, also what an interrupted run still reports
        self.metrics = metrics
        self.thresholds = thresholds
        self.linger = linger
        self.alerts: list[str] = []
        self._raised: set[str] = set()
        self._lock = threading.Lock()  # events come from the pipeline's worker threads
        self._closed = threading.Event()
        if check_interval is not None and (thresholds.memory_mb is not None or thresholds.gpu_memory_mb is not None):
            # monitoring.health_check_interval: a long input is otherwise checked only at its start and end
            threading.Thread(target=self._check_every, args=(check_interval,), name="spl-health", daemon=True).start()

    def _check_every(self, interval: float) -> None:
        while not self._closed.wait(interval):
            self._check_resources()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._listener, name)

    def __enter__(self) -> Monitor:
        self._listener.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.__exit__(*exc)

    def file_started(self, path: Any, duration: float) -> None:
        self._listener.file_started(path, duration)
        self._check_resources()

    def begin(self, total: int) -> None:
        self._listener.begin(total, self.tally)

    def file_finished(self, result: Any) -> None:
        self.tally.add(result)
        self._listener.file_finished(result)
        counts = self.tally.counts()
        finished, failed = counts["inputs"], counts["failed"]
        limit = self.thresholds.error_rate
        if limit is not None and finished >= ERROR_RATE_MIN_INPUTS and failed / finished > limit:
            self._alert(
                "error_rate",
                f"error rate {failed / finished:.0%} ({failed} of {finished} inputs failed) is above {self.thresholds.describe('error_rate')}",
            )
        self._check_resources()

    def _check_resources(self) -> None:
        """Thresholds below 1 are shares of the total (the original design's 0.85), others megabytes."""
        limit = self.thresholds.memory_mb
        if limit is not None and "memory" not in self._raised:
            import psutil

            used = rss_bytes() / 2**20
            if used > (limit * psutil.virtual_memory().total / 2**20 if limit < 1 else limit):
                self._alert("memory", f"memory use {used:.0f} MB is above {self.thresholds.describe('memory_mb')}")
        limit = self.thresholds.gpu_memory_mb
        if limit is not None and "gpu" not in self._raised:
            devices = nvml_devices() or []
            busiest = max(devices, key=lambda d: d["memory_used_bytes"], default=None)
            used = busiest["memory_used_bytes"] / 2**20 if busiest else 0.0
            if busiest and used > (limit * busiest["memory_total_bytes"] / 2**20 if limit < 1 else limit):
                self._alert("gpu", f"GPU memory use {used:.0f} MB is above {self.thresholds.describe('gpu_memory_mb')}")

    def _alert(self, kind: str, message: str) -> None:
        with self._lock:
            if kind in self._raised:
                return
            self._raised.add(kind)
            self.alerts.append(message)
        self._listener.warning(message)

    def close(self) -> None:
        """Stop the checks and the exporter, after ``linger`` seconds so a scraper can read the final figures."""
        self._closed.set()
        if self.metrics is not None:
            if self.linger > 0:
                time.sleep(self.linger)
            self.metrics.close()


def start_monitoring(listener: Any, settings: Any) -> Monitor:
    """Take the thresholds from the settings and start the exporter (if a port is set) before any
    input is touched, so a taken port fails the command at once."""
    thresholds = AlertThresholds.from_settings(settings)
    port = settings.monitoring.metrics_port
    linger = settings.monitoring.metrics_linger_seconds
    tally = Tally()
    metrics = None
    if port is not None:
        metrics = RunMetrics(tally)
        metrics.serve(port, settings.label("monitoring.metrics_port"))
    return Monitor(listener, tally, metrics, thresholds, linger, settings.monitoring.health_check_interval)
