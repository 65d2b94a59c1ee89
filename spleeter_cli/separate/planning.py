"""Which stems each input of a run writes, decided before any work: templates, paths, claims.

Paths come from a ``filename_format`` template; a template that would leave the output
directory or make two stems collide is refused up front, and so is an input whose stems
another input of the run writes, or whose stem would replace the input itself. Local runs and
Dask runs plan the same way (``plan_inputs``), so both refuse the same inputs for the same reasons.
"""

from __future__ import annotations

import contextlib
import os
import string
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..audio.formats import DEFAULT_FILENAME_FORMAT
from ..errors import OutputError, SplError, ValidationError, escaped_error
from .staging import PART_MARKER, TEMPORARY_NAME_BYTES

FORMAT_FIELDS = ("filename", "foldername", "instrument", "codec")
MAX_NAME_BYTES = 255  # NAME_MAX of common file systems


@dataclass(frozen=True)
class PlannedInput:
    """One input admitted to a run, and where each of its stems goes."""

    source: Path
    destination: Path  # the output folder the template is applied in
    stems: dict[str, Path]  # instrument -> final path


def plan_inputs(
    inputs: Sequence[Path],
    destinations: Sequence[Path],
    template: str,
    instruments: Sequence[str],
    codec: str,
    admit: Callable[[Path], None] | None = None,
    refuse_existing: bool = False,
) -> list[PlannedInput | SplError]:
    """Each input's plan, or the error that keeps it out of the run, in input order.

    ``admit`` checks an input before its paths are planned (local runs: it is a readable file
    within the limits); ``refuse_existing`` (spl separate without --overwrite) refuses stems that
    exist already. One odd path fails its input only, never the run.
    """
    claimed: dict[Path, Path] = {}  # stem -> the input that writes it
    plans: list[PlannedInput | SplError] = []
    for source, destination in zip(inputs, destinations, strict=True):
        try:
            if admit is not None:
                admit(source)
            stems = plan_outputs(source, destination, template, instruments, codec)
            if refuse_existing:
                _refuse_existing(stems, source)
            claim(stems, source, claimed)
            plans.append(PlannedInput(source, destination, stems))
        except SplError as error:
            plans.append(error)
        except OSError as error:
            plans.append(escaped_error(source, error))
    return plans


def real(path: Path) -> Path:
    """``path`` with its symlinks followed, like ``Path.resolve()``, which raises RuntimeError on a link loop;
    the loop then fails where the file is opened, with its cause."""
    return Path(os.path.realpath(path))


def check_filename_format(template: str, label: str = "`filename_format`") -> None:
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
            raise ValidationError(
                f"{label} '{template}' formats {{{field}}} with '{'!' + conversion if conversion else ''}{':' + spec if spec else ''}'",
                hint=f"write fields plainly, e.g. {DEFAULT_FILENAME_FORMAT}",
            )
    unknown = sorted(fields - set(FORMAT_FIELDS))
    if unknown:
        allowed = ", ".join("{" + f + "}" for f in FORMAT_FIELDS)
        raise ValidationError(f"unknown field {{{unknown[0]}}} in {label} '{template}'", hint=f"allowed fields: {allowed}")
    if "instrument" not in fields:
        raise ValidationError(
            f"{label} '{template}' has no {{instrument}}", hint=f"every stem needs its own name, e.g. {DEFAULT_FILENAME_FORMAT}"
        )
    if PART_MARKER in template:
        raise ValidationError(
            f"{label} '{template}' contains '{PART_MARKER}', which marks spl's unfinished files",
            hint="a later run would delete such stems; rename them",
        )
    example = Path(template.format(**dict.fromkeys(FORMAT_FIELDS, "x")))
    if example.is_absolute() or ".." in example.parts:
        raise ValidationError(
            f"{label} '{template}' would write outside the output directory", hint="remove '..' and absolute paths from the format"
        )


def plan_outputs(source: Path, destination: Path, template: str, instruments: Iterable[str], codec: str) -> dict[str, Path]:
    """Final path of each stem of ``source``; all inside ``destination``."""
    root = real(destination)
    fields = {"filename": source.stem, "foldername": real(source).parent.name, "codec": codec}
    planned: dict[str, Path] = {}
    for instrument in instruments:
        relative = template.format(instrument=instrument, **fields)
        path = real(root / relative)
        if path == root or not path.is_relative_to(root):  # check_filename_format refused templates that leave: the input's name does
            raise OutputError(
                f"its name would put a stem at {relative!r}, outside the output directory {destination}",
                hint="rename the file, or use a `filename_format` without {filename} and {foldername}",
                path=str(source),
            )
        if len(os.fsencode(path.name)) > MAX_NAME_BYTES - TEMPORARY_NAME_BYTES or any(
            len(os.fsencode(part)) > MAX_NAME_BYTES for part in path.relative_to(root).parts
        ):
            raise OutputError(
                f"stem name {relative!r} is too long for the file system", hint="shorten it with `filename_format`", path=str(source)
            )
        planned[instrument] = path
    if len(set(planned.values())) < len(planned):
        raise ValidationError(
            f"'{template}' gives several stems the same file name", hint="include {instrument}", setting="filename_format"
        )
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
            raise OutputError(
                f"stem {path} would replace the input itself", hint="choose another `output` or `filename_format`", path=str(source)
            )
        if path in claimed:
            other = claimed[path]
            hint = (
                "rename one of them: `filename_format` has no field for the extension"
                if real(other.parent) == resolved.parent
                else "put {foldername} in `filename_format`, or use `keep_tree` with a folder or glob"
            )
            raise OutputError(f"{path} is also a stem of {other}, an earlier input of this run", hint=hint, path=str(source))
    claimed.update(dict.fromkeys(planned.values(), source))


def written_by_run(sources: list[Path], destinations: list[Path], template: str, instruments: Iterable[str], codec: str) -> set[int]:
    """Indexes of ``sources`` that are stems another source of the run writes (a batch whose -o is inside its input folder)."""
    stems: set[Path] = set()
    for source, destination in zip(sources, destinations, strict=True):
        with contextlib.suppress(SplError):  # that input fails on its own, with its reason, when the run plans it
            stems.update(plan_outputs(source, destination, template, instruments, codec).values())
    return {index for index, source in enumerate(sources) if real(source) in stems}


def _refuse_existing(outputs: dict[str, Path], source: Path) -> None:
    """Existing stems are kept unless the user allowed replacing them."""
    existing = [p for p in outputs.values() if p.exists()]
    if existing:
        raise OutputError(
            f"output {existing[0]} already exists", hint="pass `overwrite` to replace it, or choose another `output`", path=str(source)
        )
