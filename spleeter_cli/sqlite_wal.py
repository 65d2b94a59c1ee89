"""Opening a SQLite file that several processes share, in WAL mode.

Switching a file to WAL needs a moment of exclusive access, and SQLite answers
``database is locked`` at once, without calling its busy handler, when another
connection is doing the same. Four `spl` processes started together on a fresh
cache directory hit this about one time in ten, so the switch is retried here
until the same deadline the busy handler uses for everything else.
"""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path


def connect_wal(path: Path, timeout: float, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """An autocommit connection to ``path`` in WAL mode; raises sqlite3.Error once ``timeout`` is spent."""
    connection = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=check_same_thread)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                connection.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise
                time.sleep(random.uniform(0.005, 0.05))
        connection.execute("PRAGMA synchronous = NORMAL")
    except BaseException:
        connection.close()
        raise
    return connection
