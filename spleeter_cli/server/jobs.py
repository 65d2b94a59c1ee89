"""The service's jobs, durable: their state in SQLite, their files in one folder each, under the data dir.

    DATA_DIR/jobs.db             one row per job (status, options, result or error)
    DATA_DIR/jobs/ID/input.EXT   the upload, renamed into place once complete
    DATA_DIR/jobs/ID/stems/      what the run writes (atomically, as every spl run does)
    DATA_DIR/uploads/*.part      uploads still arriving

A job's row is inserted only once its input is whole on disk, and marked ``done`` only once
its stems are in place, so a process killed at any instant leaves either a job that can run
again or one that is finished; the next start re-queues the first kind (``requeue_unfinished``)
and sweeps away files no row owns. One server at a time owns a data dir (``server.lock``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock

from ..errors import ValidationError, user_path
from ..sqlite_wal import connect_wal

STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")
_ID_BYTES = 16  # 128 random bits: ids cannot be guessed or enumerated
JOB_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # what secrets.token_urlsafe(16) gives; anything else is no job
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    filename TEXT NOT NULL,
    suffix TEXT NOT NULL,
    options TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    result TEXT,
    error TEXT
)"""


@dataclass(frozen=True)
class Job:
    """One row: what was asked, and what became of it."""

    id: str
    status: str
    filename: str  # the client's name for the upload, for answers and messages only: never a path
    suffix: str  # the input's extension when it is a known audio one ("" otherwise): decoders and taggers sniff by it
    options: dict[str, Any]  # SeparateOptions fields
    created: float
    started: float | None = None
    finished: float | None = None
    result: dict[str, Any] | None = None  # done: the FileResult as distributed.wire encodes it, and the stems
    error: dict[str, Any] | None = None  # failed: statuses.error_body of its error


def new_id() -> str:
    return secrets.token_urlsafe(_ID_BYTES)


class JobStore:
    """Jobs of one data dir; safe to use from the web loop and the worker threads at once."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        with user_path(ValidationError, data_dir, "cannot use the data dir", "choose a writable --data-dir"):
            for folder in (data_dir / "jobs", data_dir / "uploads"):
                folder.mkdir(parents=True, exist_ok=True)
        self._owner = filelock.FileLock(str(data_dir / "server.lock"))
        try:
            self._owner.acquire(timeout=0)
        except filelock.Timeout:
            raise ValidationError(
                f"data dir {data_dir} is in use by another `spl serve`", hint="stop that server, or give this one its own --data-dir"
            ) from None
        self._lock = threading.Lock()
        try:
            self._db = connect_wal(data_dir / "jobs.db", timeout=30, check_same_thread=False)
            self._db.execute(_SCHEMA)
        except sqlite3.Error as error:
            raise ValidationError(f"cannot open the jobs database in {data_dir}: {error}", hint="check the --data-dir folder") from None

    # Files

    def folder(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / job_id

    def input_path(self, job: Job) -> Path:
        return self.folder(job.id) / f"input{job.suffix}"

    def stems_dir(self, job_id: str) -> Path:
        return self.folder(job_id) / "stems"

    def new_upload(self) -> Path:
        """Where an arriving upload is written: a random name, nothing of the client's but a known audio extension."""
        return self.data_dir / "uploads" / f"{secrets.token_hex(8)}.part"

    def remove_files(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def sweep(self) -> None:
        """Remove uploads that never completed and job folders no row owns: what a killed server left."""
        for part in (self.data_dir / "uploads").iterdir():
            part.unlink(missing_ok=True)
        with self._lock:
            known = {row[0] for row in self._db.execute("SELECT id FROM jobs")}
        for folder in (self.data_dir / "jobs").iterdir():
            if folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)

    # Rows

    def add(self, job_id: str, upload: Path, filename: str, suffix: str, options: dict[str, Any]) -> Job:
        """A queued job whose input is ``upload`` (moved into the job's folder first)."""
        job = Job(job_id, "queued", filename, suffix, options, time.time())
        self.folder(job_id).mkdir()
        os.replace(upload, self.input_path(job))
        self._write(
            "INSERT INTO jobs (id, status, filename, suffix, options, created) VALUES (?, ?, ?, ?, ?, ?)",
            (job.id, job.status, filename, suffix, json.dumps(options), job.created),
        )
        return job

    def get(self, job_id: str) -> Job | None:
        if not JOB_ID.fullmatch(job_id):
            return None
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def status(self, job_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else str(row[0])

    def queued(self) -> list[str]:
        """Ids of the queued jobs, oldest first: the order they run in."""
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY created, rowid")]

    def requeue_unfinished(self) -> int:
        """Jobs a stopped or killed server was running go back to the queue; their inputs are on disk."""
        return self._write("UPDATE jobs SET status = 'queued', started = NULL WHERE status = 'running'")

    def set_running(self, job_id: str) -> None:
        self._write("UPDATE jobs SET status = 'running', started = ? WHERE id = ?", (time.time(), job_id))

    def set_queued(self, job_id: str) -> None:
        self._write("UPDATE jobs SET status = 'queued', started = NULL WHERE id = ? AND status = 'running'", (job_id,))

    def set_done(self, job_id: str, result: dict[str, Any]) -> None:
        self._finish(job_id, "done", result=json.dumps(result))

    def set_failed(self, job_id: str, error: dict[str, Any]) -> None:
        self._finish(job_id, "failed", error=json.dumps(error))

    def set_cancelled(self, job_id: str) -> None:
        self._finish(job_id, "cancelled")

    def remove(self, job_id: str) -> None:
        """The job and its files, gone: its id answers 404 from now on."""
        self._write("DELETE FROM jobs WHERE id = ?", (job_id,))
        self.remove_files(job_id)

    def expired(self, before: float) -> list[str]:
        """Finished jobs that ended before ``before`` (the retention period)."""
        with self._lock:
            return [row[0] for row in self._db.execute(f"SELECT id FROM jobs WHERE status IN {FINISHED} AND finished < ?", (before,))]

    def counts(self) -> dict[str, int]:
        with self._lock:
            found = dict(self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
        return {status: int(found.get(status, 0)) for status in STATUSES}

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._owner.release()

    def _finish(self, job_id: str, status: str, result: str | None = None, error: str | None = None) -> None:
        self._write(
            "UPDATE jobs SET status = ?, finished = ?, result = ?, error = ? WHERE id = ?", (status, time.time(), result, error, job_id)
        )

    def _write(self, sql: str, parameters: tuple[Any, ...] = ()) -> int:
        with self._lock:
            return self._db.execute(sql, parameters).rowcount


def _job(row: tuple[Any, ...]) -> Job:
    job_id, status, filename, suffix, options, created, started, finished, result, error = row
    return Job(
        job_id,
        status,
        filename,
        suffix,
        json.loads(options),
        created,
        started,
        finished,
        json.loads(result) if result else None,
        json.loads(error) if error else None,
    )
