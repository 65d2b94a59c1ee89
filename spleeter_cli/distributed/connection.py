"""A Dask client: connected to a running scheduler, or to a LocalCluster started for this run.

An unreachable scheduler, or an address where something else answers, is a usage error (exit
code 2) after a short timeout rather than a hang or a traceback: the usual cause is a wrong
address or port, or a scheduler not started yet (probe.py checks before a Client is made).
"""

from __future__ import annotations

import logging
import os
from contextlib import suppress
from typing import Any

from ..errors import ValidationError
from .address import SchedulerSpec
from .probe import check_scheduler, not_a_scheduler

CONNECT_TIMEOUT = 5.0  # seconds


class ClusterConnection:
    """Owns the client (and the local cluster, if it started one) until ``close``."""

    def __init__(self, spec: SchedulerSpec, timeout: float = CONNECT_TIMEOUT, quiet: bool = False) -> None:
        from distributed import Client

        if quiet:  # the CLI reports what matters itself (a lost scheduler included); Dask's log lines would be noise
            for name in ("distributed", "distributed.client"):  # Dask sets the second's level on its own
                logging.getLogger(name).setLevel(logging.CRITICAL)
        self.spec = spec
        self.cluster: Any = None
        if spec.local_workers is not None:
            self.cluster = start_local_cluster(spec.local_workers)
            self.client = Client(self.cluster, timeout=timeout, set_as_default=False)
            return
        if str(spec.address).startswith("tls://"):
            check_tls_settings()
        check_scheduler(str(spec.address), timeout)
        self.client = open_client(str(spec.address), timeout)

    def threads(self) -> int:
        """Inputs the cluster runs at once: the sum of its workers' threads right now."""
        return sum(self.client.nthreads().values())

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def __enter__(self) -> ClusterConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_client(address: str, timeout: float) -> Any:
    """A Client of the scheduler that ``check_scheduler`` just found, closed again if connecting fails.

    Client.__init__ connects, and cleans up only after an OSError: after anything else (the
    scheduler replaced by another service since the check) the half-made client would be closed
    by its ``__del__`` at exit, which times out and prints a traceback. Made in two steps to hold it.
    """
    from distributed import Client

    client = Client.__new__(Client)
    try:
        Client.__init__(client, address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as error:  # gone since the check
        raise ValidationError(
            f"cannot reach the Dask scheduler at {address}: {error}",
            hint="check the address and port, and that `dask scheduler` is running there",
        ) from None
    except Exception as error:  # noqa: BLE001 - whatever a non-Dask peer makes Dask raise
        with suppress(Exception):  # closing is best effort: the error to report is the one above
            client.close(timeout=timeout)
        raise not_a_scheduler(address, f"{type(error).__name__} while connecting") from None
    return client


def check_tls_settings() -> None:
    """tls:// needs Dask's client certificate settings; without them Dask fails with a TypeError."""
    import dask.config

    if not (dask.config.get("distributed.comm.tls.ca-file", None) and dask.config.get("distributed.comm.tls.client.cert", None)):
        raise ValidationError(
            "a tls:// scheduler needs Dask's TLS settings, and none are configured",
            hint="set distributed.comm.tls.ca-file and .client.cert/.client.key in Dask's config, "
            "e.g. DASK_DISTRIBUTED__COMM__TLS__CA_FILE, DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT",
        )


def start_local_cluster(workers: int) -> Any:
    """``workers`` processes on loopback, one input at a time each, the cores split between them.

    TensorFlow would otherwise size its thread pool to every core in every worker process.
    """
    from distributed import LocalCluster

    threads = str(max(1, (os.cpu_count() or 1) // workers))
    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
        env={"TF_NUM_INTRAOP_THREADS": threads, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
