"""Where stems go, and how they get there without ever being half-written.

Paths come from a ``--filename-format`` template; a template that would leave
the output directory or make two stems collide is refused before any work.
Files are written under a hidden temporary name in the destination folder and
renamed into place only when complete, so a crash, Ctrl-C or failure never
leaves a stem that a later run could mistake for a finished one. Each stem's
provenance record (``provenance.py``) is written around that rename. Temporaries
being written are registered (``unfinished``), so that a process ending on a
signal removes them (``remove_unfinished``) without waiting for the threads
writing them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import string
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..audio.formats import DEFAULT_FILENAME_FORMAT
from ..errors import OutputError, SplError, ValidationError
from . import provenance

FORMAT_FIELDS = ("filename", "foldername", "instrument", "codec")
PART_MARKER = ".part-"
MAX_NAME_BYTES = 255  # NAME_MAX of common file systems
TEMPORARY_NAME_BYTES = 24  # what spl's hidden files add to a stem's name, at most: its record's temporary, ".." + ".spl.json" + ".part-" + a 7-digit PID

# Temporaries this process is writing, as strings. Only atomic set operations touch it
# (update, difference_update, list()): the signal path may run between any two bytecodes
# of a thread, even one holding a lock, so it must never wait for one.
_UNFINISHED: set[str] = set()


def real(path: Path) -> Path:
    """``path`` with its symlinks followed, like ``Path.resolve()``, which raises RuntimeError on a link loop;
    the loop then fails where the file is opened, with its cause."""
    return Path(os.path.realpath(path))


def check_filename_format(template: str, label: str = "--filename-format") -> None:
    """Refuse templates with unknown or formatted fields, that do not separate instruments, or that leave the output dir.

    ``label`` names where the template was set (the flag, a variable, or the config file's key).
    """
    try:
        parsed = [(field, spec, conversion) for _, field, spec, conversion in string.Formatter().parse(template) if field is not None]
    except ValueError as error:
        raise ValidationError(f"invalid {label} '{template}': {error}", hint=f"use fields like {DEFAULT_FILENAME_FORMAT}") from None
    fields = {field for field, _, _ in parsed}
    for field, spec, conversion in parsed:
        if spec or conversion:
            raise ValidationError(f"{label} '{template}' formats {{{field}}} with '{'!' + conversion if conversion else ''}{':' + spec if spec else ''}'",
                                  hint=f"write fields plainly, e.g. {DEFAULT_FILENAME_FORMAT}")
    unknown = sorted(fields - set(FORMAT_FIELDS))
    if unknown:
        allowed = ", ".join("{" + f + "}" for f in FORMAT_FIELDS)
        raise ValidationError(f"unknown field {{{unknown[0]}}} in {label} '{template}'", hint=f"allowed fields: {allowed}")
    if "instrument" not in fields:
        raise ValidationError(f"{label} '{template}' has no {{instrument}}", hint=f"every stem needs its own name, e.g. {DEFAULT_FILENAME_FORMAT}")
    if PART_MARKER in template:
        raise ValidationError(f"{label} '{template}' contains '{PART_MARKER}', which marks spl's unfinished files", hint="a later run would delete such stems; rename them")
    example = Path(template.format(**dict.fromkeys(FORMAT_FIELDS, "x")))
    if example.is_absolute() or ".." in example.parts:
        raise ValidationError(f"{label} '{template}' would write outside the output directory", hint="remove '..' and absolute paths from the format")


def plan_outputs(source: Path, destination: Path, template: str, instruments: Iterable[str], codec: str) -> dict[str, Path]:
    """Final path of each stem of ``source``; all inside ``destination``."""
    root = real(destination)
    fields = {"filename": source.stem, "foldername": real(source).parent.name, "codec": codec}
    planned: dict[str, Path] = {}
    for instrument in instruments:
        relative = template.format(instrument=instrument, **fields)
        path = real(root / relative)
        if path == root or not path.is_relative_to(root):  # check_filename_format refused templates that leave: the input's name does
            raise OutputError(f"its name would put a stem at {relative!r}, outside the output directory {destination}",
                              hint="rename the file, or use a --filename-format without {filename} and {foldername}", path=str(source))
        if len(os.fsencode(path.name)) > MAX_NAME_BYTES - TEMPORARY_NAME_BYTES or any(len(os.fsencode(part)) > MAX_NAME_BYTES for part in path.relative_to(root).parts):
            raise OutputError(f"stem name {relative!r} is too long for the file system", hint="shorten it with --filename-format", path=str(source))
        planned[instrument] = path
    if len(set(planned.values())) < len(planned):
        raise ValidationError(f"--filename-format '{template}' gives several stems the same file name", hint="include {instrument}")
    return planned


def claim(planned: dict[str, Path], source: Path, claimed: dict[Path, Path]) -> None:
    """Record ``source``'s stems in ``claimed`` (stem -> input), refusing any another input of the run writes.

    Two inputs named alike in different folders would otherwise overwrite each other's
    stems, and a rerun would call the second "already done". A stem that is the input
    itself is refused too, even with --overwrite.
    """
    resolved = real(source)
    for path in planned.values():
        if path == resolved:
            raise OutputError(f"stem {path} would replace the input itself", hint="choose another -o or --filename-format", path=str(source))
        if path in claimed:
            other = claimed[path]
            hint = ("rename one of them: --filename-format has no field for the extension" if real(other.parent) == resolved.parent
                    else "put {foldername} in --filename-format, or use spl batch --keep-tree with a folder or glob")
            raise OutputError(f"{path} is also a stem of {other}, an earlier input of this run", hint=hint, path=str(source))
    claimed.update(dict.fromkeys(planned.values(), source))


def written_by_run(sources: list[Path], destinations: list[Path], template: str, instruments: Iterable[str], codec: str) -> set[int]:
    """Indexes of ``sources`` that are stems another source of the run writes (a batch whose -o is inside its input folder)."""
    stems: set[Path] = set()
    for source, destination in zip(sources, destinations):
        with contextlib.suppress(SplError):  # that input fails on its own, with its reason, when the run plans it
            stems.update(plan_outputs(source, destination, template, instruments, codec).values())
    return {index for index, source in enumerate(sources) if real(source) in stems}


def refuse_existing(outputs: dict[str, Path], source: Path) -> None:
    """Existing stems are kept unless the user asked for --overwrite."""
    existing = [p for p in outputs.values() if p.exists()]
    if existing:
        raise OutputError(f"output {existing[0]} already exists", hint="pass --overwrite to replace it, or choose another -o", path=str(source))


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
            raise OutputError(f"cannot write stems: {error.strerror or error}", hint="check free space and permissions of the output directory", path=str(source)) from None
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
