"""Where stems go, and how they get there without ever being half-written.

Paths come from a ``--filename-format`` template; a template that would leave
the output directory or make two stems collide is refused before any work.
Files are written under a hidden temporary name in the destination folder and
renamed into place only when complete, so a crash, Ctrl-C or failure never
leaves a stem that a later run could mistake for a finished one.
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

from ..errors import OutputError, ValidationError

DEFAULT_FILENAME_FORMAT = "{filename}/{instrument}.{codec}"
FORMAT_FIELDS = ("filename", "foldername", "instrument", "codec")
PART_MARKER = ".part-"


def check_filename_format(template: str) -> None:
    """Refuse templates with unknown fields or that do not separate instruments."""
    try:
        fields = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
    except ValueError as error:
        raise ValidationError(f"invalid --filename-format '{template}': {error}", hint="use fields like {filename}/{instrument}.{codec}") from None
    unknown = sorted(fields - set(FORMAT_FIELDS))
    if unknown:
        allowed = ", ".join("{" + f + "}" for f in FORMAT_FIELDS)
        raise ValidationError(f"unknown field {{{unknown[0]}}} in --filename-format '{template}'", hint=f"allowed fields: {allowed}")
    if "instrument" not in fields:
        raise ValidationError(f"--filename-format '{template}' has no {{instrument}}", hint="every stem needs its own name, e.g. {filename}/{instrument}.{codec}")


def plan_outputs(source: Path, destination: Path, template: str, instruments: Iterable[str], codec: str) -> dict[str, Path]:
    """Final path of each stem of ``source``; all inside ``destination``."""
    root = destination.resolve()
    fields = {"filename": source.stem, "foldername": source.resolve().parent.name, "codec": codec}
    planned: dict[str, Path] = {}
    for instrument in instruments:
        relative = template.format(instrument=instrument, **fields)
        path = (root / relative).resolve()
        if path == root or not path.is_relative_to(root):
            raise ValidationError(
                f"--filename-format '{template}' would write {relative!r} outside the output directory {destination}",
                hint="remove '..' and absolute paths from the format",
            )
        planned[instrument] = path
    if len(set(planned.values())) < len(planned):
        raise ValidationError(f"--filename-format '{template}' gives several stems the same file name", hint="include {instrument}")
    return planned


def refuse_existing(outputs: dict[str, Path], source: Path) -> None:
    """Existing stems are kept unless the user asked for --overwrite."""
    existing = [p for p in outputs.values() if p.exists()]
    if existing:
        raise OutputError(f"output {existing[0]} already exists", hint="pass --overwrite to replace it, or choose another -o", path=str(source))


def temporary_path(final: Path) -> Path:
    """Hidden sibling name for a stem being written (same folder, so rename is atomic)."""
    return final.with_name(f".{final.name}{PART_MARKER}{os.getpid()}")


def prepare_directories(paths: Iterable[Path], source: Path) -> None:
    for directory in {p.parent for p in paths}:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            probe = directory / f".spl-write-test{PART_MARKER}{os.getpid()}"
            probe.touch()
            probe.unlink()
        except OSError as error:
            raise OutputError(
                f"cannot write to output directory {directory}: {error.strerror or error}",
                hint="choose a writable folder with -o",
                path=str(source),
            ) from None


@contextmanager
def staged(finals: dict[str, Path], source: Path) -> Iterator[dict[str, Path]]:
    """Temporary paths for ``finals``: renamed into place if the block completes, deleted if not."""
    temporaries = {name: temporary_path(path) for name, path in finals.items()}
    try:
        prepare_directories(finals.values(), source)
        yield temporaries
        for name, temporary in temporaries.items():
            os.replace(temporary, finals[name])
    except OSError as error:
        discard(temporaries.values())
        raise OutputError(f"cannot write stems: {error.strerror or error}", hint="check free space and permissions of the output directory", path=str(source)) from None
    except BaseException:
        discard(temporaries.values())
        raise


def discard(paths: Iterable[Path]) -> None:
    """Remove temporaries; some may never have been created (or their folder could not be)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            path.unlink()


def remove_stale_parts(finals: Iterable[Path]) -> None:
    """Delete temporaries left by a killed run (their writer process is gone), so a rerun starts clean."""
    for final in finals:
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
