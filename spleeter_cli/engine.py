"""The Python API: an asyncio facade over the same pipeline the CLI runs.

    engine = SpleeterEngine(SpleeterConfig(batch_size=8, worker_threads=4))
    await engine.initialize()
    result = await engine.separate("song.mp3", "spleeter:4stems", "stems/")
    result.output_files  # {"vocals": Path(...), ...}

Separation runs on worker threads (``asyncio.to_thread``), so the event loop stays
responsive; concurrent calls share one loaded copy of each model through the
engine's ``ModelPool`` and batch their segments together. Every call is recorded in
the run history `spl stats` and ``get_stats_summary()`` read, as a CLI run is.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import Settings, load_config
from .errors import ExitCode
from .limits import InputLimits
from .models.catalog import CATALOG
from .models.store import ModelManager
from .separate.loader import ModelPool
from .separate.run import SeparationRun
from .separate.tally import Tally
from .separate.vocabulary import FileResult, SeparateOptions, SilentListener, with_audio_settings
from .telemetry import history

# The engine's name for each setting it takes, and the config key behind it. Two spellings of some:
# today's (enable_cache, ...) and the original design's (cache_enabled, ...), one key each.
NAMES = {
    "models_dir": "models.dir",
    "cache_dir": "cache.dir",
    "redis_url": "cache.redis_url",
    "enable_cache": "cache.enabled",
    "cache_enabled": "cache.enabled",
    "cache_size_mb": "cache.disk_mb",  # the cache's size is its disk tier's; the memory tier is cache.memory_mb
    "auto_download": "models.auto_download",
    "jobs": "performance.jobs",
    "batch_size": "performance.batch_size",
    "worker_threads": "performance.worker_threads",
    "memory_limit_mb": "performance.memory_limit_mb",
    "gpu_memory_growth": "performance.gpu_memory_growth",
    "default_model": "models.default",
    "enable_gpu": "performance.enable_gpu",
    "backend": "performance.backend",
    "precision": "performance.precision",
    "default_sample_rate": "audio.default_sample_rate",
    "supported_formats": "audio.supported_formats",
    "enable_preprocessing": "audio.enable_preprocessing",
    "normalize_loudness": "audio.normalize_loudness",
    "enable_monitoring": "monitoring.enabled",
    "metrics_export_interval": "monitoring.export_interval",
}
ENGINE_JOBS = 2  # files in flight per batch_separate call while performance.jobs is null: calls also run side by side


class SpleeterConfig:
    """The engine's settings: those of `spl` (defaults < config file < environment), then the names given.

    A face over ``config.Settings`` that keeps no value of its own, so the API and `spl` cannot
    disagree: ``SpleeterConfig(cache_dir="c")`` is ``cache.dir`` set as a flag would set it (checked
    the same way), a name left out or None keeps the configured value, and ``settings`` is the whole.
    """

    settings: Settings

    def __init__(self, *, config_file: Path | None = None, **names: Any) -> None:
        unknown = sorted(set(names) - NAMES.keys())
        if unknown:
            raise TypeError(f"SpleeterConfig() got an unexpected keyword argument {unknown[0]!r} (known: {', '.join(NAMES)})")
        object.__setattr__(
            self, "settings", load_config(config_file).with_overrides(**{NAMES[name]: value for name, value in names.items()})
        )
        for note in self.settings.notes:  # a name that means nothing here is accepted, and says so
            warnings.warn(note, UserWarning, stacklevel=2)

    @classmethod
    def from_env(cls, config_file: Path | None = None) -> SpleeterConfig:
        """The CLI's effective settings alone; the same as ``SpleeterConfig(config_file=...)``."""
        return cls(config_file=config_file)

    def __getattr__(self, name: str) -> Any:
        if name in NAMES:
            return self.settings[NAMES[name]]
        raise AttributeError(f"'SpleeterConfig' object has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"SpleeterConfig is read-only: build another, e.g. SpleeterConfig({name}=...)")

    def __repr__(self) -> str:
        return "SpleeterConfig(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in NAMES) + ")"


class _Counting(SilentListener):
    """API callers get results, not terminal output; each finished input is counted in the engine's tally."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def file_finished(self, result: FileResult) -> None:
        self.tally.add(result)


class SpleeterEngine:
    """Separate files from asyncio code; the same engine the `spl` command uses."""

    def __init__(self, config: SpleeterConfig | None = None) -> None:
        self.config = config or SpleeterConfig()
        self.model_manager = ModelManager.from_settings(self.config.settings)
        self.cache_manager: Any = None
        self._models = ModelPool.from_settings(self.config.settings)
        self._limits = InputLimits.from_settings(self.config.settings)
        self._tally = Tally()  # every input of the engine's life
        self._warnings: list[str] = list(self.config.settings.notes)
        self._born = time.perf_counter()  # the engine's wall time, for the CPU share of enable_monitoring

    async def initialize(self) -> None:
        """Open the cache and make sure the default model is installed (may download it)."""
        if self.config.enable_cache:
            from .cache.manager import CacheManager

            self.cache_manager = await asyncio.to_thread(CacheManager.from_settings, self.config.settings, self._warnings.append)
        await asyncio.to_thread(self.model_manager.ensure, self.config.default_model)

    async def separate(
        self, audio_path: str | Path, model_name: str | None = None, output_dir: str | Path = "separated", **options: Any
    ) -> FileResult:
        """Separate one file; raises the input's error (e.g. ``AudioProcessingError``) if it fails."""
        [result] = await self.batch_separate([audio_path], model_name, output_dir, **options)
        if result.error is not None:
            raise result.error
        return result

    async def batch_separate(
        self, files: Sequence[str | Path], model_name: str | None = None, output_dir: str | Path = "separated", **options: Any
    ) -> list[FileResult]:
        """Separate many files; failures are reported in each result rather than raised.

        ``options`` are those of ``SeparateOptions`` (codec, bitrate, bit_depth,
        filename_format, offset, duration, mwf, existing="overwrite"|"skip"|"refuse").
        The call is recorded in the run history unless ``monitoring.history`` is off.
        """
        chosen = SeparateOptions(
            model=model_name or self.config.default_model, **{"existing": "overwrite", "precision": self.config.precision, **options}
        )
        run = SeparationRun(
            with_audio_settings(chosen, self.config.settings),
            Path(output_dir),
            self.model_manager,
            _Counting(self._tally),
            cache=self.cache_manager,
            jobs=self.config.jobs or ENGINE_JOBS,
            models=self._models,
            limits=self._limits,
        )
        started, clock = time.time(), time.perf_counter()
        results = await asyncio.to_thread(run.run, [Path(f) for f in files])
        if self.config.settings.monitoring.history:
            await asyncio.to_thread(self._record, run, results, started, time.perf_counter() - clock)
        return results

    def _record(self, run: SeparationRun, results: list[FileResult], started: float, wall: float) -> None:
        """Into the history the CLI records into (``cache.dir``), as command ``api``; a failure is a warning, as for `spl`."""
        failed = any(result.error is not None for result in results)
        try:
            history.record_run(
                history.history_path(self.config.settings.cache.dir),
                results,
                Tally.of(results).summary(wall),
                command="api",
                model=run.spec.full_name,
                jobs=run.jobs,
                started_at=started,
                exit_code=int(ExitCode.FAILED if failed else ExitCode.OK),
            )
        except history.HistoryError as error:
            self._warnings.append(f"cannot record this run: {error} (monitoring.history=false turns recording off)")

    def get_available_models(self) -> list[dict[str, Any]]:
        return [
            {
                "name": spec.full_name,
                "instruments": list(spec.instruments),
                "installed": self.model_manager.is_installed(spec.name),
                "loaded": spec.name in self._models.loaded,
                "backend": self._models.backend,
            }
            for spec in CATALOG.values()
        ]

    def get_stats_summary(self, since: str | float | None = None, last: int | None = None) -> dict[str, Any]:
        """``monitoring.get_stats_summary`` over this engine's history (its ``cache.dir``): every run recorded there."""
        from .monitoring import get_stats_summary

        return get_stats_summary(since, last, cache_dir=self.config.settings.cache.dir)

    def get_processing_stats(self) -> dict[str, Any]:
        """This engine's inputs so far: counts, audio, speed, the cache's figures, warnings (and resources with enable_monitoring)."""
        counts = self._tally.counts()
        stats: dict[str, Any] = {
            "files_ok": counts["ok"],
            "files_failed": counts["failed"],
            "files_cached": counts["cached"],
            "audio_seconds": counts["audio_seconds"],
            "wall_seconds": counts["file_seconds"],
        }
        stats["x_realtime"] = round(stats["audio_seconds"] / stats["wall_seconds"], 2) if stats["wall_seconds"] else None
        stats["cache"] = self.cache_manager.get_cache_stats() if self.cache_manager is not None else None
        stats["warnings"] = list(self._warnings)
        if self.config.settings.monitoring.enabled:  # enable_monitoring: what the engine's process has cost, as `spl` reports it
            from .telemetry.metrics import resource_usage

            stats["resources"] = resource_usage(time.perf_counter() - self._born)
        return stats

    async def close(self) -> None:
        await asyncio.to_thread(self._models.close)

    async def __aenter__(self) -> SpleeterEngine:
        await self.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
