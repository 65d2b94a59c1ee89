"""`spl info`: describe audio files (format, tags, loudness, peak) without separating them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ExitCode, SplError
from . import options as o
from .ui import handles_errors, print_error


@handles_errors
def info(
    files: Annotated[list[Path], typer.Argument(help="Audio files to describe.", show_default=False, metavar="FILE...", readable=False)],
    json_output: o.Json = False,
) -> None:
    """Show each file's format, duration, tags, integrated loudness (LUFS) and peak."""
    from ..audio.analysis import describe

    codes: set[int] = set()
    for path in files:
        try:
            description = describe(path)
        except SplError as error:  # one bad file is reported alone; the others are still described
            print_error(error)
            codes.add(int(error.exit_code))
            continue
        print(json.dumps(description) if json_output else _block(description), flush=True)
    if codes:  # the rule of `spl separate`: a shared cause exits with its code, mixed causes with 1
        raise typer.Exit(codes.pop() if len(codes) == 1 else int(ExitCode.FAILED))


def _block(d: dict[str, Any]) -> str:
    """A compact block of aligned `label  value` lines, a blank line after it."""
    loudness = "n/a (under 0.4 s, or rate below 8 kHz)" if d["loudness_lufs"] is None else f"{d['loudness_lufs']:.1f} LUFS"
    if d["loudness_lufs"] is not None and d["loudness_seconds"] < d["decoded_duration"]:
        loudness += f" (first {d['loudness_seconds']:.0f} s)"
    rows = [
        ("format", f"{d['container']} / {d['codec']}"),
        ("duration", f"{d['duration']:.3f} s"),
        ("audio", f"{d['sample_rate']} Hz, {d['channels']} ch, " + (f"{d['bit_depth']}-bit" if d["bit_depth"] else "lossy")),
        ("bitrate", f"{d['bitrate'] / 1000:.0f} kb/s" if d["bitrate"] else "unknown"),
        ("loudness", loudness),
        ("peak", "-inf dBFS (silent)" if d["peak_dbfs"] is None else f"{d['peak_dbfs']:.2f} dBFS"),
    ]
    rows += [(key, value) for key, value in (d["tags"] or {}).items()]
    width = max(len(label) for label, _ in rows)
    return "\n".join([d["path"], *(f"  {label:<{width}}  {value}" for label, value in rows)]) + "\n"
