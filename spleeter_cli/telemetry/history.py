"""The run history: one SQLite file, ``history.db``, next to the stem cache.

Every `spl separate` / `spl batch` appends one ``runs`` row and one ``inputs`` row per
input, so `spl stats` can answer questions no single report can (success rate over a
week, throughput trends, which errors recur). The file lives in the cache directory
because that is already the per-user, per-machine place `spl` writes state to, and
the same ``cache.dir`` setting (``--cache-dir``, ``SPLEETER_CACHE_DIR``) then selects
both, whether or not a run uses the cache.

WAL mode and a busy timeout let several `spl` processes append at once and readers
never block writers. Recording is best-effort: callers catch ``HistoryError`` and
warn, because losing a statistic must never fail a separation.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import default_cache_dir
from ..errors import os_cause, printable, shown
from ..sqlite_wal import connect_wal

FILENAME = "history.db"
_BUSY_TIMEOUT_S = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,       -- Unix time, UTC
    command TEXT NOT NULL,          -- separate | batch
    model TEXT NOT NULL,
    jobs INTEGER NOT NULL,
    wall_time REAL NOT NULL,
    inputs INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    skipped INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    cached INTEGER NOT NULL,
    audio_seconds REAL NOT NULL,
    exit_code INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_started_at ON runs (started_at);
CREATE TABLE IF NOT EXISTS inputs (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    status TEXT NOT NULL,           -- ok | skipped | failed
    audio_duration REAL NOT NULL,
    wall_time REAL NOT NULL,
    decode_s REAL,                  -- NULL when the stage did not run (cache hit, skip, failure)
    separate_s REAL,
    encode_s REAL,
    cache_tier TEXT,                -- memory | disk | redis, NULL when computed
    error_kind TEXT,                -- exception class name, e.g. AudioProcessingError
    error TEXT,
    backend TEXT                    -- openvino | tensorflow, NULL when no model ran (cache hit, skip, failure)
);
CREATE INDEX IF NOT EXISTS inputs_run_id ON inputs (run_id);
"""
_ADDED_COLUMNS = {"inputs": {"backend": "TEXT"}}  # columns newer than some history files: added on open


class HistoryError(Exception):
    """The history file cannot be opened, read or written."""


@dataclass(frozen=True)
class Selection:
    """Which runs a question is about: started at or after ``since`` (Unix time), then the ``last`` N."""

    since: float | None = None
    last: int | None = None


def history_path(cache_dir: Path | None) -> Path:
    """``history.db`` in the ``cache.dir`` setting's folder (None: the cache's default folder)."""
    return Path(cache_dir or default_cache_dir()) / FILENAME


@contextmanager
def _connect(path: Path, create: bool) -> Iterator[sqlite3.Connection]:
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        with closing(connect_wal(path, timeout=_BUSY_TIMEOUT_S)) as connection:
            connection.executescript(_SCHEMA)
            _add_missing_columns(connection)
            connection.row_factory = sqlite3.Row
            yield connection
    except sqlite3.Error as error:
        raise HistoryError(f"run history {shown(path)}: {error}") from None
    except OSError as error:
        raise HistoryError(f"run history {shown(path)}: {os_cause(error)[0]}") from None


def _add_missing_columns(connection: sqlite3.Connection) -> None:
    """Bring a history file written by an older spl up to the current schema (another process may race us to it)."""
    for table, columns in _ADDED_COLUMNS.items():
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns.items():
            if name in present:
                continue
            try:
                connection.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            except sqlite3.OperationalError as error:
                if "duplicate column" not in str(error):
                    raise


def record_run(
    path: Path, results: Sequence[Any], summary: dict[str, Any], *, command: str, model: str, jobs: int, started_at: float, exit_code: int
) -> int:
    """Append one run and its inputs in one transaction; returns the run's id.

    ``results`` are the pipeline's FileResults and ``summary`` the dict `execute()` prints,
    so the history holds exactly what the user was shown.
    """
    rows = [_input_row(result) for result in results]
    with _connect(path, create=True) as connection:
        connection.execute("BEGIN IMMEDIATE")
        try:
            cursor = connection.execute(
                "INSERT INTO runs (started_at, command, model, jobs, wall_time, inputs, ok, skipped, failed, cached, audio_seconds, exit_code)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    started_at,
                    command,
                    model,
                    jobs,
                    summary["wall_time"],
                    summary["inputs"],
                    summary["ok"],
                    summary["skipped"],
                    summary["failed"],
                    summary["cached"],
                    summary["audio_seconds"],
                    exit_code,
                ),
            )
            run_id = int(cursor.lastrowid or 0)
            connection.executemany(
                "INSERT INTO inputs (run_id, path, status, audio_duration, wall_time, decode_s, separate_s, encode_s, cache_tier, error_kind, error,"
                " backend) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, *row) for row in rows],
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
    return run_id


def _input_row(result: Any) -> tuple[Any, ...]:
    timings = result.timings or {}
    error = result.error
    return (
        shown(result.input),
        result.status,
        float(result.audio_duration),
        float(result.wall_time),
        timings.get("decode"),
        timings.get("separate"),
        timings.get("encode"),
        result.cache,
        type(error).__name__ if error is not None else None,
        printable(str(error)) if error is not None else None,
        getattr(result, "backend", None),
    )


def load(path: Path, selection: Selection = Selection()) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The selected runs (oldest first) and all their inputs; empty when nothing was recorded yet.

    Never creates the file: asking for statistics must not leave state behind.
    """
    try:
        os.stat(path)
    except FileNotFoundError:
        return [], []
    except OSError as error:
        raise HistoryError(f"run history {shown(path)}: {os_cause(error)[0]}") from None
    where, parameters = ("WHERE started_at >= ?", [selection.since]) if selection.since is not None else ("", [])
    limit = f"LIMIT {int(selection.last)}" if selection.last is not None else ""
    chosen = f"SELECT id FROM runs {where} ORDER BY started_at DESC, id DESC {limit}"
    with _connect(path, create=False) as connection:
        connection.execute("BEGIN")  # one snapshot for both queries, even while another spl appends a run
        runs = [dict(row) for row in connection.execute(f"SELECT * FROM runs WHERE id IN ({chosen}) ORDER BY started_at, id", parameters)]
        inputs = [
            dict(row) for row in connection.execute(f"SELECT * FROM inputs WHERE run_id IN ({chosen}) ORDER BY run_id, rowid", parameters)
        ]
        connection.execute("COMMIT")
    return runs, inputs
