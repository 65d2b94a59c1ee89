"""What ``--scheduler`` names: a local cluster of N worker processes, or a running scheduler.

Parsed before anything is imported or connected, so a typo fails at once with exit code 2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..config import without_credentials
from ..errors import ValidationError

PROTOCOLS = ("tcp", "tls")
WORKERS_PER_CORE = 4  # each worker holds a model and its TensorFlow threads; more per core only thrash the machine
SCHEDULER_HINT = "use local:N for N worker processes on this machine, or the scheduler's address, e.g. tcp://host:8786"


@dataclass(frozen=True)
class SchedulerSpec:
    """Either ``local_workers`` (start a LocalCluster) or ``address`` (connect to it)."""

    local_workers: int | None = None
    address: str | None = None

    @property
    def is_local(self) -> bool:
        return self.local_workers is not None

    def __str__(self) -> str:
        return f"local:{self.local_workers}" if self.is_local else str(self.address)


def parse_scheduler(value: str) -> SchedulerSpec:
    """``local:N``, ``tcp://host:port`` (or another Dask protocol), or ``host:port`` meaning tcp."""
    text = value.strip()
    if text.startswith("local:"):
        count = text.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise ValidationError(f"--scheduler {value!r}: the number of local workers must be a whole number >= 1", hint=SCHEDULER_HINT)
        check_local_workers(value, int(count))
        return SchedulerSpec(local_workers=int(count))
    address = text if "://" in text else f"tcp://{text}"
    protocol, rest = address.split("://", 1)
    if protocol not in PROTOCOLS:
        raise ValidationError(
            f"--scheduler {value!r}: {protocol}:// is not supported", hint=f"use {' or '.join(p + '://' for p in PROTOCOLS)}"
        )
    if "@" in rest:
        raise ValidationError(
            f"--scheduler {without_credentials(value)!r}: a Dask scheduler's address has no user or password", hint=SCHEDULER_HINT
        )
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:  # an unbalanced [IPv6 bracket, a port beyond 65535
        host, port = None, None
    if not host or not port:
        raise ValidationError(f"--scheduler {value!r} is neither local:N nor an address with a port (1-65535)", hint=SCHEDULER_HINT)
    return SchedulerSpec(address=address)


def max_local_workers() -> int:
    """The most ``local:N`` may start: beyond it, processes fight over cores and memory for no speed."""
    return WORKERS_PER_CORE * (os.cpu_count() or 1)


def check_local_workers(value: str, count: int) -> None:
    """Refuse at once what would otherwise start thousands of processes and sit silent for minutes."""
    bound = max_local_workers()
    if count > bound:
        raise ValidationError(
            f"--scheduler {value!r}: at most {bound} local workers on this machine ({WORKERS_PER_CORE} per core), not {count}",
            hint=f"use local:N with N <= {bound}, or the address of a Dask cluster for more workers, e.g. tcp://host:8786",
        )
