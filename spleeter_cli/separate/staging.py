"""How stems get to their paths without ever being half-written.

Files are written under a hidden temporary name in the destination folder and renamed into
place only when complete, so a crash, Ctrl-C or failure never leaves a stem that a later run
could mistake for a finished one. Each stem's provenance record (``provenance.py``) is written
around that rename. Temporaries being written are registered (``unfinished``), so that a
process ending on a signal removes them (``remove_unfinished``) without waiting for the
threads writing them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import OutputError
from . import provenance

PART_MARKER = ".part-"
TEMPORARY_NAME_BYTES = (
    24  # what spl's hidden files add to a stem's name, at most: its record's temporary, ".." + ".spl.json" + ".part-" + a 7-digit PID
)

# Temporaries this process is writing, as strings. Only atomic set operations touch it
# (update, difference_update, list()): the signal path may run between any two bytecodes
# of a thread, even one holding a lock, so it must never wait for one.
_UNFINISHED: set[str] = set()


def temporary_path(final: Path) -> Path:
    """Hidden sibling name for a stem being written (same folder, so rename is atomic)."""
    return final.with_name(f".{final.name}{PART_MARKER}{os.getpid()}")


def prepare_directories(paths: Iterable[Path], source: Path) -> list[Path]:
    """Create (and test) the stems' folders; returns the folders this call created."""
    created: list[Path] = []
    for directory in {p.parent for p in paths}:
        try:
            missing = [directory, *directory.parents]
            missing = missing[: next(i for i, folder in enumerate(missing) if folder.exists())]
            directory.mkdir(parents=True, exist_ok=True)
            created.extend(missing)
            try_create_file(directory)
        except OSError as error:
            raise OutputError(
                f"cannot write to output directory {directory}: {error.strerror or error}",
                hint="choose a writable folder with -o",
                path=str(source),
            ) from None
    return created


def try_create_file(folder: Path) -> None:
    """Create and delete a hidden file in ``folder``; raises OSError if that fails.

    The only sure test: root ignores mode bits, and /proc or a full disk refuse files anyway.
    """
    probe = folder / f".spl-write-test{PART_MARKER}{os.getpid()}"
    with unfinished([probe]):
        probe.touch()


def remove_if_empty(folders: Iterable[Path]) -> None:
    """Remove the folders a run created that hold nothing: failed inputs leave nothing behind."""
    for folder in sorted(set(folders), key=lambda folder: len(folder.parts), reverse=True):
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextmanager
def staged(finals: dict[str, Path], origin: provenance.Origin, created: list[Path]) -> Iterator[dict[str, Path]]:
    """Temporary paths for ``finals``: renamed into place if the block completes, deleted if not.

    Each stem's record says "pending" for ``origin`` before the first rename and "written"
    after its own (see provenance.py). The folders it creates are added to ``created``: the
    caller removes those left empty once no other input can be about to write into them
    (``remove_if_empty``).
    """
    source = origin.source
    temporaries = {name: temporary_path(path) for name, path in finals.items()}
    with unfinished(temporaries.values()):
        try:
            created.extend(prepare_directories(finals.values(), source))
            yield temporaries
            for final in finals.values():
                _write_atomically(provenance.record_path(final), origin.record(None))
            for name, temporary in temporaries.items():
                os.replace(temporary, finals[name])
                _write_atomically(provenance.record_path(finals[name]), origin.record(finals[name]))
        except OSError as error:
            raise OutputError(
                f"cannot write stems: {error.strerror or error}",
                hint="check free space and permissions of the output directory",
                path=str(source),
            ) from None
        except OutputError as error:  # from a stem's writer, naming its hidden temporary: name the input and the stem instead
            stem = {str(temporary): finals[name] for name, temporary in temporaries.items()}.get(str(error.context.get("path")))
            if stem is None:
                raise
            raise OutputError(f"{error.message} for {stem}", hint=error.hint, path=str(source)) from None


def _write_atomically(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, whole: written under a temporary name, then renamed."""
    temporary = temporary_path(path)
    with unfinished([temporary]):
        temporary.write_bytes(data)
        os.replace(temporary, path)


def discard(paths: Iterable[Path]) -> None:
    """Remove temporaries; some may never have been created (or their folder could not be, for any reason:
    a link loop, a name too long), and the error that brought us here is the one to report."""
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


@contextmanager
def unfinished(paths: Iterable[Path]) -> Iterator[None]:
    """Files being written: registered while the block runs (see ``remove_unfinished``), deleted when it ends.

    Those renamed into place by then are gone already.
    """
    paths = list(paths)
    names = [str(path) for path in paths]
    _UNFINISHED.update(names)
    try:
        yield
    finally:
        discard(paths)
        _UNFINISHED.difference_update(names)


def remove_unfinished() -> None:
    """Delete every registered temporary: the process is about to end without waiting for the threads writing them."""
    for name in list(_UNFINISHED):
        with contextlib.suppress(OSError):
            os.unlink(name)


def remove_stale_parts(finals: Iterable[Path]) -> None:
    """Delete temporaries of stems and records left by a killed run (their writer process is gone), so a rerun starts clean."""
    for final in (path for stem in finals for path in (stem, provenance.record_path(stem))):
        if not final.parent.is_dir():
            continue
        for part in final.parent.glob(f".{glob.escape(final.name)}{PART_MARKER}*"):
            pid = re.match(r"\d+", part.name.rsplit(PART_MARKER, 1)[1])  # "123", or "123.float" for an intermediate
            if pid is None or not _alive(int(pid.group())):
                with contextlib.suppress(FileNotFoundError):
                    part.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers from an earlier attempt in this process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
