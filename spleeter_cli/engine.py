"""The Python API: an asyncio facade over the same pipeline the CLI runs.

    engine = SpleeterEngine(SpleeterConfig())
    await engine.initialize()
    result = await engine.separate("song.mp3", "spleeter:4stems", "stems/")
    result.output_files  # {"vocals": Path(...), ...}

Separation runs on worker threads (``asyncio.to_thread``), so the event loop stays
responsive; concurrent calls share one loaded copy of each model through the
engine's ``ModelPool`` and batch their segments together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .models.catalog import CATALOG
from .models.store import ModelManager, default_models_dir
from .separate.loader import ModelPool
from .separate.run import SeparationRun
from .separate.tally import Tally
from .separate.vocabulary import FileResult, SeparateOptions, SilentListener


@dataclass
class SpleeterConfig:
    """Engine settings; ``from_env`` reads the same config file and SPLEETER_* variables as the CLI."""

    models_dir: Path = field(default_factory=default_models_dir)
    cache_dir: Path | None = None  # None: $SPLEETER_CACHE_DIR or the user cache dir
    redis_url: str | None = None
    enable_cache: bool = True
    auto_download: bool = True
    jobs: int = 2  # files in flight per batch_separate call
    default_model: str = "spleeter:2stems"
    enable_gpu: bool = True
    backend: str = "auto"  # "auto" (TensorFlow on a CUDA GPU, else OpenVINO), "openvino" or "tensorflow"
    precision: str = "fp32"  # default of every call; "bf16" needs OpenVINO on a CPU with native bf16

    @classmethod
    def from_env(cls, config_file: Path | None = None) -> SpleeterConfig:
        """The CLI's effective settings (defaults < config file < environment), so the API and `spl` agree."""
        from .config import load_config

        settings = load_config(config_file)
        return cls(
            models_dir=settings.models.dir or default_models_dir(),
            cache_dir=settings.cache.dir,
            redis_url=settings.cache.redis_url,
            enable_cache=settings.cache.enabled,
            auto_download=settings.models.auto_download,
            jobs=settings.performance.jobs or 2,
            default_model=settings.models.default,
            enable_gpu=settings.performance.enable_gpu,
            backend=settings.performance.backend,
            precision=settings.performance.precision,
        )


class _Counting(SilentListener):
    """API callers get results, not terminal output; each finished input is counted in the engine's tally."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def file_finished(self, result: FileResult) -> None:
        self.tally.add(result)


class SpleeterEngine:
    """Separate files from asyncio code; the same engine the `spl` command uses."""

    def __init__(self, config: SpleeterConfig | None = None) -> None:
        self.config = config or SpleeterConfig.from_env()
        self.model_manager = ModelManager(self.config.models_dir, auto_download=self.config.auto_download)
        self.cache_manager: Any = None
        self._models = ModelPool(self.config.enable_gpu, self.config.backend)
        self._tally = Tally()  # every input of the engine's life
        self._warnings: list[str] = []

    async def initialize(self) -> None:
        """Open the cache and make sure the default model is installed (may download it)."""
        if self.config.enable_cache:
            from .cache.manager import CacheManager

            self.cache_manager = await asyncio.to_thread(
                CacheManager.from_env, directory=self.config.cache_dir, redis_url=self.config.redis_url, on_warning=self._warnings.append
            )
        await asyncio.to_thread(self.model_manager.ensure, self.config.default_model)

    async def separate(self, audio_path: str | Path, model_name: str | None = None, output_dir: str | Path = "separated", **options: Any) -> FileResult:
        """Separate one file; raises the input's error (e.g. ``AudioProcessingError``) if it fails."""
        [result] = await self.batch_separate([audio_path], model_name, output_dir, **options)
        if result.error is not None:
            raise result.error
        return result

    async def batch_separate(self, files: Sequence[str | Path], model_name: str | None = None, output_dir: str | Path = "separated", **options: Any) -> list[FileResult]:
        """Separate many files; failures are reported in each result rather than raised.

        ``options`` are those of ``SeparateOptions`` (codec, bitrate, bit_depth,
        filename_format, offset, duration, mwf, existing="overwrite"|"skip"|"refuse").
        """
        settings = SeparateOptions(model=model_name or self.config.default_model, **{"existing": "overwrite", "precision": self.config.precision, **options})
        run = SeparationRun(settings, Path(output_dir), self.model_manager, _Counting(self._tally), cache=self.cache_manager,
                            jobs=self.config.jobs, models=self._models)
        return await asyncio.to_thread(run.run, [Path(f) for f in files])

    def get_available_models(self) -> list[dict[str, Any]]:
        return [
            {"name": spec.full_name, "instruments": list(spec.instruments), "installed": self.model_manager.is_installed(spec.name),
             "loaded": spec.name in self._models.loaded, "backend": self._models.backend}
            for spec in CATALOG.values()
        ]

    def get_processing_stats(self) -> dict[str, Any]:
        counts = self._tally.counts()
        stats: dict[str, Any] = {"files_ok": counts["ok"], "files_failed": counts["failed"], "files_cached": counts["cached"],
                                 "audio_seconds": counts["audio_seconds"], "wall_seconds": counts["file_seconds"]}
        stats["x_realtime"] = round(stats["audio_seconds"] / stats["wall_seconds"], 2) if stats["wall_seconds"] else None
        stats["cache"] = self.cache_manager.get_cache_stats() if self.cache_manager is not None else None
        stats["warnings"] = list(self._warnings)
        return stats

    async def close(self) -> None:
        await asyncio.to_thread(self._models.close)

    async def __aenter__(self) -> SpleeterEngine:
        await self.initialize()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

