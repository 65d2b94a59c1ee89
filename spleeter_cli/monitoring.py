"""Statistics over the run history, and a health check of what runs depend on.

``get_stats_summary()`` is the Python API behind `spl stats`; the CLI's ``--json``
prints exactly its dict. It reads ``history.db`` (see ``telemetry.history``) and
never imports NumPy or TensorFlow, so it answers in well under a second.

Definitions, chosen so the figures stay meaningful when a batch is rerun:

- success rate = ok / (ok + failed): skipped inputs (stems already there) are neither;
- cache hit rate = inputs served from the cache / inputs separated (status ok);
- throughput = audio seconds separated / wall seconds of the selected runs;
- stage percentiles are per input, over inputs whose stage ran (cache hits skip all three).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from .config import default_models_dir, load_config
from .errors import CacheError, ValidationError
from .telemetry import history
from .units import seconds_in

LOW_DISK_BYTES = 1 << 30  # degraded: a few long 5-stem WAV runs would fill it
CRITICAL_DISK_BYTES = 100 << 20  # unhealthy: not even one song's stems fit reliably
_SQLITE_MAX_INT = 2**63 - 1  # a larger --last means every run, and SQLite cannot bind it
_PERCENTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


def parse_since(value: str | float | datetime) -> float:
    """'7d', '12h', '30m', '2w' (ago) or an ISO date/time ('2026-11-01', local time unless it has
    an offset) or a Unix time or datetime -> Unix time."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    age = seconds_in(value, unit_required=True)  # a bare 2026 is a year, not seconds
    if age is not None:
        return max(0.0, time.time() - age)  # older than 1970: every run
    try:
        return datetime.fromisoformat(value.strip()).timestamp()
    except ValueError:
        raise ValidationError(
            f"invalid --since {value!r}", hint="use an age such as 7d, 12h or 30m, or a date such as 2026-11-01"
        ) from None


def get_stats_summary(
    since: str | float | datetime | None = None, last: int | None = None, cache_dir: Path | None = None, config_file: Path | None = None
) -> dict[str, Any]:
    """Figures over the runs started since ``since`` and/or the ``last`` N of them (default: all).

    Keys: ``selection``, ``processing_stats`` (counts, ``success_rate``, ``cache_hit_rate``,
    throughput, ``stage_seconds`` percentiles, ``errors_by_kind``), ``cache`` (the live
    counters of the cache dir, or None) and ``system_health`` (``status`` is "healthy",
    "degraded" or "unhealthy", with the ``problems`` that made it so).
    """
    if last is not None and last < 1:
        raise ValidationError(f"--last must be at least 1, not {last}")
    settings = load_config(config_file).with_overrides(cache_dir=cache_dir)  # the folders and Redis the runs themselves used
    selection = history.Selection(
        since=None if since is None else parse_since(since), last=None if last is None else min(last, _SQLITE_MAX_INT)
    )
    path = history.history_path(settings.cache.dir)
    try:
        runs, inputs = history.load(path, selection)
    except history.HistoryError as error:
        raise CacheError(str(error), hint="SPL_HISTORY=off stops recording; delete the file to start afresh") from None
    return {
        "selection": {
            "history": str(path),
            "recording": settings.monitoring.history,
            "since": None if selection.since is None else _iso(selection.since),
            "last": last,
            "first_run": _iso(runs[0]["started_at"]) if runs else None,
            "last_run": _iso(runs[-1]["started_at"]) if runs else None,
        },
        "processing_stats": processing_stats(runs, inputs),
        "cache": _live_cache_stats(path.parent),
        "system_health": system_health(path.parent, settings.models.dir, settings.cache.redis_url),
    }


def processing_stats(runs: list[dict[str, Any]], inputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The history figures of the selected runs (rows as ``history.load`` returns them)."""
    statuses = Counter(row["status"] for row in inputs)
    ok, failed = statuses["ok"], statuses["failed"]
    separated = [row for row in inputs if row["status"] == "ok"]
    tiers = Counter(row["cache_tier"] for row in separated if row["cache_tier"])
    audio = sum(run["audio_seconds"] for run in runs)
    wall = sum(run["wall_time"] for run in runs)
    return {
        "runs": len(runs),
        "inputs": len(inputs),
        "ok": ok,
        "skipped": statuses["skipped"],
        "failed": failed,
        "success_rate": _ratio(ok, ok + failed),
        "audio_seconds": round(audio, 3),
        "audio_hours": round(audio / 3600, 4),
        "wall_seconds": round(wall, 3),
        "x_realtime": round(audio / wall, 2) if wall > 0 else None,
        "cache_hits": sum(tiers.values()),
        "cache_hit_rate": _ratio(sum(tiers.values()), len(separated)),
        "cache_hit_rate_by_tier": {tier: _ratio(count, len(separated)) for tier, count in sorted(tiers.items())},
        "stage_seconds": {
            stage: _percentiles([row[f"{stage}_s"] for row in separated if row[f"{stage}_s"] is not None])
            for stage in ("decode", "separate", "encode")
        },
        "inputs_by_backend": dict(Counter(row["backend"] for row in separated if row.get("backend")).most_common()),
        "errors_by_kind": dict(Counter(row["error_kind"] for row in inputs if row["error_kind"]).most_common()),
        "exit_codes": {str(code): count for code, count in sorted(Counter(run["exit_code"] for run in runs).items())},
    }


def system_health(cache_dir: Path, models_dir: Path | None = None, redis_url: str | None = None) -> dict[str, Any]:
    """Free disk for the cache and models dirs, Redis reachability, GPU presence, and a verdict."""
    from .telemetry.metrics import nvml_devices

    problems: list[str] = []
    unhealthy = False
    if os.path.lexists(cache_dir) and not os.path.isdir(cache_dir):
        unhealthy = True
        problems.append(f"cache_dir {cache_dir} is not a folder")
    disks = {"cache_dir": _disk(cache_dir), "models_dir": _disk(models_dir or default_models_dir())}
    for name, disk in disks.items():
        free = disk["free_bytes"]
        if free is None:
            problems.append(f"{name} {disk['path']}: free space unknown")
        elif free < LOW_DISK_BYTES:
            unhealthy |= free < CRITICAL_DISK_BYTES
            problems.append(f"{name} {disk['path']}: only {free / 2**20:.0f} MB free")
    redis = _redis(redis_url)
    if redis is not None and not redis["reachable"]:
        problems.append(f"Redis cache {redis['url']} unreachable")
    devices = nvml_devices()
    status = "unhealthy" if unhealthy else "degraded" if problems else "healthy"
    return {"status": status, "problems": problems, **disks, "redis": redis, "gpu": devices if devices else "none"}


def _disk(path: Path) -> dict[str, Any]:
    """Free space of the filesystem that holds (or will hold) ``path``: its nearest existing ancestor."""
    probe = path
    while not os.path.exists(probe) and probe != probe.parent:  # False for any failure: a name too long climbs too
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return {"path": str(path), "free_bytes": None, "total_bytes": None}
    return {"path": str(path), "free_bytes": usage.free, "total_bytes": usage.total}


def _redis(url: str | None) -> dict[str, Any] | None:
    """Ping the configured Redis with the cache's own client settings (1 s connect timeout); password redacted."""
    if not url:
        return None
    from .cache.tiers import RedisTier, redact

    return {"url": redact(url), "reachable": RedisTier(url, None, on_warning=lambda _message: None).ping()}


def _live_cache_stats(cache_dir: Path) -> dict[str, Any] | None:
    """The cache's own hit/miss counters (every process, including runs before history existed)."""
    if not os.path.exists(cache_dir / "stats.db"):
        return None
    from .cache.manager import CacheManager

    try:
        return CacheManager(directory=cache_dir, on_warning=lambda _message: None).get_cache_stats()
    except CacheError:
        return None


def _percentiles(values: list[float]) -> dict[str, Any]:
    """p50/p90/p99 by linear interpolation between closest ranks (NumPy's default method)."""
    ordered = sorted(values)
    figures: dict[str, Any] = {"count": len(ordered)}
    for name, q in _PERCENTILES.items():
        if not ordered:
            figures[name] = None
            continue
        position = (len(ordered) - 1) * q
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        figures[name] = round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 4)
    return figures


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")
