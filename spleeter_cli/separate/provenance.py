"""Which stems spl wrote, so a rerun knows what it may skip and what it may replace.

Each stem gets a hidden record beside it (``.vocals.wav.spl.json`` for ``vocals.wav``): the
input it came from (real path, size, mtime and sha256 of its bytes), the model and the options
that decide the stem's bytes, and the stem's own size, mtime and sha256 once it is in place. A batch
reads the records to tell apart its finished stems of this input and these options (skip),
its stems of this input made otherwise or left by an interrupted run (redo), and files it did
not write, changed since, or wrote for another input (never replaced without ``--force``).

A record is written twice, each time atomically: "pending" before its stem is renamed into
place, "written" after. So whatever instant a run is killed at, the file under a stem's name is
either described by its record or covered by a pending record of the same input, which a rerun
may replace; it is never a file the rerun would mistake for the user's or for a finished stem.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import AudioProcessingError, OutputError

RECORD_SUFFIX = ".spl.json"
REPLACE_HINT = "pass `overwrite` to replace it, or choose another `output`"


def record_path(stem: Path) -> Path:
    """The hidden record beside ``stem``."""
    return stem.with_name(f".{stem.name}{RECORD_SUFFIX}")


@dataclass(frozen=True)
class Origin:
    """What a run makes a stem from: one input, one model, the options that change the stem's bytes."""

    source: Path  # the input as given, for messages
    path: str  # its real path
    size: int
    mtime_ns: int
    model: str
    options: Mapping[str, Any] = field(hash=False)

    @classmethod
    def of(cls, source: Path, model: str, options: Mapping[str, Any]) -> Origin:
        """Cheap: a stat; the input's bytes are hashed only when a record needs them (``sha256``)."""
        real = Path(os.path.realpath(source))  # not resolve(): a link loop fails at stat(), as an OSError on the input
        status = real.stat()
        return cls(source, str(real), status.st_size, status.st_mtime_ns, model, json.loads(json.dumps(dict(options))))

    @cached_property
    def sha256(self) -> str:
        """The input's content digest (memoized per file state, shared with the cache key)."""
        from ..cache.keys import input_digest

        try:
            return input_digest(self.path)
        except OSError as error:
            raise AudioProcessingError(
                f"cannot read: {error.strerror or error}", hint="check the file's permissions", path=str(self.source)
            ) from None

    def record(self, stem: Path | None) -> bytes:
        """The record of a stem of this origin: pending (``stem`` None) or written (the stem in place)."""
        document = {
            "spl": __version__,
            "input": {"path": self.path, "size": self.size, "mtime_ns": self.mtime_ns, "sha256": self.sha256},
            "model": self.model,
            "options": dict(self.options),
            "stem": None if stem is None else _state(stem),
        }
        return json.dumps(document, indent=1).encode()

    def is_input_of(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` was written for this input: the same file, or a file with the same bytes (a moved library)."""
        return record["input"]["path"] == self.path or record["input"]["sha256"] == self.sha256

    def made(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record``'s stem is what this origin would write now: same bytes in, same model and options."""
        written = record["input"]
        unchanged = (written["size"], written["mtime_ns"]) == (self.size, self.mtime_ns) and written["path"] == self.path
        same_input = unchanged or written["sha256"] == self.sha256
        return same_input and record["model"] == self.model and record["options"] == self.options


def is_done(stems: Iterable[Path], origin: Origin) -> bool:
    """True when every stem exists and is this origin's, unchanged since: the input needs no work.

    False when some stem is missing or may be replaced (an earlier run's stem of this input with
    other options, or one an interrupted run was replacing). Raises OutputError, naming the stem,
    for a file spl may not replace without --force: one it has no record of, one changed since
    spl wrote it, or a stem of another input.
    """
    done = True
    for stem in stems:
        if not stem.exists():
            done = False
            continue
        record = _read(stem)
        if record is None:
            raise OutputError(f"{stem} exists and spl has no record of writing it", hint=REPLACE_HINT, path=str(origin.source))
        if not origin.is_input_of(record):
            raise OutputError(
                f"{stem} is a stem of another input, {record['input']['path']}",
                hint="put {foldername} in `filename_format` or use `keep_tree` to keep both, or pass `overwrite` to replace it",
                path=str(origin.source),
            )
        if record["stem"] is None:  # an interrupted run of this input was replacing it
            done = False
        elif not _unchanged(stem, record["stem"]):
            raise OutputError(f"{stem} was changed after spl wrote it", hint=REPLACE_HINT, path=str(origin.source))
        else:
            done = done and origin.made(record)
    return done


def _state(stem: Path) -> dict[str, Any]:
    """The stem as it was written: its size and mtime tell a later edit cheaply, its digest survives a copy."""
    from ..cache.keys import input_digest

    status = stem.stat()
    return {"size": status.st_size, "mtime_ns": status.st_mtime_ns, "sha256": input_digest(stem)}


def _unchanged(stem: Path, written: Mapping[str, Any]) -> bool:
    """Same size and mtime as written, or, when the mtime moved (a copy of the folder), the same bytes."""
    from ..cache.keys import input_digest

    status = stem.stat()
    if status.st_size != written.get("size"):
        return False
    return status.st_mtime_ns == written.get("mtime_ns") or input_digest(stem) == written.get("sha256")


def _read(stem: Path) -> dict[str, Any] | None:
    """The stem's record, or None when there is none or it is not one of spl's (records are written atomically)."""
    try:
        record = json.loads(record_path(stem).read_bytes())
        _ = (record["input"]["path"], record["input"]["sha256"], record["model"], record["options"], record["stem"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if isinstance(record, dict) else None


def remove(stem: Path) -> None:
    """Delete a stem, then its record (a record without its stem is ignored, so this order is safe)."""
    stem.unlink(missing_ok=True)
    record_path(stem).unlink(missing_ok=True)
