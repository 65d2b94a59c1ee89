"""The Python API for a cluster, in its two forms: `spl serve` nodes (asyncio), or a Dask scheduler (synchronous).

    cluster = SpleeterCluster(nodes=["worker1:8080", "worker2:8080"], load_balancer="round_robin")
    results = await cluster.separate_distributed(audio_files=["a.wav", "b.flac"], model_name="spleeter:4stems-16kHz")

    with SpleeterCluster("local:2", output_dir="stems/") as cluster:   # or "tcp://host:8786"
        results = cluster.separate_distributed(["a.wav", "b.flac"], "spleeter:2stems")

``SpleeterCluster(nodes=...)`` is a ``NodeCluster``: each file is uploaded to one of the nodes,
separated there, and its stems downloaded here, by the client of `spl separate --server`
(``server/client.py``), with failover (``server/nodes.py``). ``SpleeterCluster(scheduler)`` is a
``DaskCluster``: one Dask task per file, the worker code of `spl batch --scheduler`; it stays
synchronous because Dask's client runs its own event loop thread. Both return one ``FileResult``
per file, in input order, failures included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self, overload

from .config import load_config, server_token
from .distributed.connection import CONNECT_TIMEOUT, ClusterConnection
from .distributed.run import RETRIES, DistributedRun
from .errors import ValidationError
from .models.catalog import DEFAULT_MODEL
from .separate.vocabulary import FileResult, SeparateOptions, SilentListener, check_options
from .server.nodes import Attempt, Nodes

DEFAULT_SCHEDULER = "local:2"
NODE_JOBS = 2  # files in flight per node by default: one separating, one uploading or queued behind it


class SpleeterCluster:
    """``SpleeterCluster(nodes=[...])`` makes a ``NodeCluster``, ``SpleeterCluster(scheduler)`` a ``DaskCluster``.

    With neither, the scheduler is ``local:2`` (Dask, as before nodes existed); with both, a ValidationError.
    """

    @overload
    def __new__(cls, scheduler: None = None, output_dir: str | Path = ..., *, nodes: Sequence[str], **settings: Any) -> NodeCluster: ...

    @overload
    def __new__(cls, scheduler: str | None = None, output_dir: str | Path = ..., **settings: Any) -> DaskCluster: ...

    def __new__(cls, scheduler: str | None = None, output_dir: str | Path = "separated", **settings: Any) -> Any:
        if cls is not SpleeterCluster:
            return object.__new__(cls)
        if settings.get("nodes") is None:
            return object.__new__(DaskCluster)
        if scheduler is not None:
            raise ValidationError(
                "SpleeterCluster: give nodes= (`spl serve` instances) or a Dask scheduler, not both",
                hint="nodes=['host:8080', ...] for spl serve; scheduler='tcp://host:8786' for Dask",
            )
        return object.__new__(NodeCluster)

    def close(self) -> None:
        """Nothing to release by default."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class NodeCluster(SpleeterCluster):
    """Files separated on `spl serve` nodes, balanced ``round_robin`` or ``least_loaded``, failed over between nodes.

    Creating one contacts nothing; each ``separate_distributed`` call first probes every node
    (``/readyz``), so a node down at the start is left out and an unreachable cluster, a refused
    ``token`` or a node without ``shared_cache`` is a ``ValidationError`` before any upload.
    """

    def __init__(
        self,
        scheduler: None = None,
        output_dir: str | Path = "separated",
        *,
        nodes: Sequence[str],
        load_balancer: str = "round_robin",
        shared_cache: str | None = None,
        token: str | None = None,
        default_model: str = DEFAULT_MODEL,
        jobs_per_node: int = NODE_JOBS,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.nodes = [node.url for node in Nodes.at(nodes, None, load_balancer).nodes]  # checked now, as URLs
        self.load_balancer = load_balancer
        self.shared_cache = shared_cache  # checked against each node's Redis (its /readyz) at every call: nodes configure their own
        self.token = token if token is not None else server_token(load_config())  # the `spl serve --token` the nodes share
        self.default_model = default_model
        if jobs_per_node < 1:
            raise ValidationError(f"jobs_per_node={jobs_per_node}: at least 1 file per node", hint="e.g. jobs_per_node=2")
        self.jobs_per_node = jobs_per_node
        self.attempts: list[Attempt] = []  # of the last call: every try of every file, and the node it went to

    async def separate_distributed(
        self,
        audio_files: Sequence[str | Path],
        model_name: str | None = None,
        output_dir: str | Path | None = None,
        **options: Any,
    ) -> list[FileResult]:
        """Separate ``audio_files`` on the nodes; one ``FileResult`` per file, in order, failures included.

        ``options`` are those of ``SeparateOptions`` (codec, bitrate, bit_depth, filename_format,
        offset, duration, mwf, existing="overwrite"|"skip"|"refuse", ...). Stems are written under
        ``output_dir`` on this machine; the nodes need not share a file system with it.
        """
        from .server.client import RemoteRun  # the client's run: planning and staging, loaded on first use

        settings = SeparateOptions(model=model_name or self.default_model, **{"existing": "overwrite", **options})
        check_options(settings)  # a bad model or option is refused before any node is contacted
        nodes = Nodes.at(self.nodes, self.token, self.load_balancer)
        await asyncio.to_thread(nodes.check, self.shared_cache)
        run = RemoteRun(
            nodes,
            settings,
            Path(output_dir) if output_dir is not None else self.output_dir,
            SilentListener(),
            jobs=self.jobs_per_node * len(nodes.live),
        )
        self.attempts = run.attempts
        try:
            return await asyncio.to_thread(run.run, [Path(f) for f in audio_files])
        except asyncio.CancelledError:  # the caller gave up: start nothing new, and the jobs in progress are deleted
            run.cancelled.set()
            raise


class DaskCluster(SpleeterCluster):
    """Connects to a scheduler (or starts ``local:N`` workers) on creation; ``close`` disconnects.

    ``models_dir``, ``cache_dir``, ``redis_url`` and ``enable_cache`` are sent to the workers;
    left as None, each worker uses its own configuration (``SPLEETER_*`` environment).
    Raises ``ValidationError`` at once if the scheduler cannot be reached.
    """

    def __init__(
        self,
        scheduler: str | None = None,
        output_dir: str | Path = "separated",
        *,
        models_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        redis_url: str | None = None,
        enable_cache: bool | None = None,
        default_model: str = DEFAULT_MODEL,
        retries: int = RETRIES,
        timeout: float = CONNECT_TIMEOUT,
        nodes: None = None,
    ) -> None:
        from .distributed.address import parse_scheduler

        self.output_dir = Path(output_dir)
        self.default_model = default_model
        self.retries = retries
        settings = {"models.dir": models_dir, "cache.dir": cache_dir, "cache.redis_url": redis_url, "cache.enabled": enable_cache}
        self.worker_settings = {
            key: str(value) if isinstance(value, Path) else value for key, value in settings.items() if value is not None
        }
        self.connection = ClusterConnection(parse_scheduler(scheduler or DEFAULT_SCHEDULER), timeout)

    @property
    def scheduler_address(self) -> str:
        scheduler = self.connection.client.scheduler
        if scheduler is None:
            raise ValidationError("the cluster is closed: it has no scheduler address", hint="create another SpleeterCluster")
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
