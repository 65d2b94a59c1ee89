"""The Python API for a Dask cluster: the batch of `spl batch --scheduler`, from code.

    with SpleeterCluster("local:2", output_dir="stems/") as cluster:   # or "tcp://host:8786"
        results = cluster.separate_distributed(["a.wav", "b.flac"], "spleeter:2stems")
        results[0].output_files  # {"vocals": Path(...), ...}

One task per file, the same worker code and result objects as the CLI. Unlike
``SpleeterEngine`` this is synchronous: Dask's client runs its own event loop thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .distributed.address import parse_scheduler
from .distributed.connection import CONNECT_TIMEOUT, ClusterConnection
from .distributed.run import RETRIES, DistributedRun
from .models.catalog import DEFAULT_MODEL
from .separate.vocabulary import FileResult, SeparateOptions, SilentListener


class SpleeterCluster:
    """Connects to a scheduler (or starts ``local:N`` workers) on creation; ``close`` disconnects.

    ``models_dir``, ``cache_dir``, ``redis_url`` and ``enable_cache`` are sent to the workers;
    left as None, each worker uses its own configuration (``SPLEETER_*`` environment).
    Raises ``ValidationError`` at once if the scheduler cannot be reached.
    """

    def __init__(
        self,
        scheduler: str = "local:2",
        output_dir: str | Path = "separated",
        *,
        models_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        redis_url: str | None = None,
        enable_cache: bool | None = None,
        default_model: str = DEFAULT_MODEL,
        retries: int = RETRIES,
        timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.default_model = default_model
        self.retries = retries
        settings = {"models.dir": models_dir, "cache.dir": cache_dir, "cache.redis_url": redis_url, "cache.enabled": enable_cache}
        self.worker_settings = {
            key: str(value) if isinstance(value, Path) else value for key, value in settings.items() if value is not None
        }
        self.connection = ClusterConnection(parse_scheduler(scheduler), timeout)

    @property
    def scheduler_address(self) -> str:
        scheduler = self.connection.client.scheduler
        assert scheduler is not None  # connected in __init__
        return str(scheduler.address)

    def separate_distributed(
        self, audio_files: Sequence[str | Path], model_name: str | None = None, output_dir: str | Path | None = None, **options: Any
    ) -> list[FileResult]:
        """Separate ``audio_files`` on the cluster; one result per file, in order, failures included.

        ``options`` are those of ``SeparateOptions`` (codec, bitrate, bit_depth, filename_format,
        offset, duration, mwf, existing="overwrite"|"skip"|"refuse"); stems are overwritten by default.
        """
        settings = SeparateOptions(model=model_name or self.default_model, **{"existing": "overwrite", **options})
        run = DistributedRun(
            settings,
            Path(output_dir) if output_dir is not None else self.output_dir,
            self.connection,
            SilentListener(),
            self.worker_settings,
            retries=self.retries,
        )
        return run.run([Path(f) for f in audio_files])

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> SpleeterCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
