"""`spl separate`: the options, and nothing but handing them to the pipeline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ExitCode, ValidationError
from .ui import JsonListener, PlainListener, RichListener, handles_errors

DEFAULT_FORMAT = "{filename}/{instrument}.{codec}"


@handles_errors
def separate(
    files: Annotated[list[Path], typer.Argument(help="Audio files to separate.", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output directory.")] = Path("separated"),
    stems: Annotated[int, typer.Option("-s", "--stems", help="2 (vocals/accompaniment), 4 (+drums, bass, other) or 5 (+piano).")] = 2,
    model: Annotated[Optional[str], typer.Option("-m", "--model", help="Model name, e.g. spleeter:4stems-16kHz; overrides --stems/--hq.", show_default=False)] = None,
    hq: Annotated[bool, typer.Option("--hq", help="Use the -16kHz model (sees up to 16 kHz instead of 11 kHz).")] = False,
    codec: Annotated[str, typer.Option("-c", "--codec", help="Output codec: wav, flac, mp3, ogg, m4a.")] = "wav",
    bitrate: Annotated[Optional[str], typer.Option("--bitrate", help="Bitrate of lossy codecs, e.g. 192k.", show_default=False)] = None,
    bit_depth: Annotated[int, typer.Option("--bit-depth", help="WAV/FLAC sample size: 16, 24, or 32 (float, WAV only).")] = 16,
    filename_format: Annotated[str, typer.Option("-f", "--filename-format", help="Output path template inside the output directory; fields {filename}, {foldername}, {instrument}, {codec}.")] = DEFAULT_FORMAT,
    offset: Annotated[float, typer.Option("--offset", help="Start this many seconds into the input.")] = 0.0,
    duration: Annotated[Optional[float], typer.Option("--duration", help="Separate at most this many seconds.", show_default=False)] = None,
    mwf: Annotated[bool, typer.Option("--mwf", help="Refine stems with multichannel Wiener filtering (slower).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object per input on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print errors only.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Also print per-stage timings.")] = False,
) -> None:
    """Split songs into stems (vocals, drums, bass, piano, other or accompaniment)."""
    from ..models.catalog import model_for
    from ..models.store import ModelManager
    from ..separate.pipeline import SeparateOptions, SeparationRun

    if quiet and verbose:
        raise ValidationError("--quiet and --verbose cannot be combined")
    name = model or model_for(stems, hq).full_name
    options = SeparateOptions(
        model=name, codec=codec.lower(), bitrate=bitrate, bit_depth=bit_depth, filename_format=filename_format,
        offset=offset, duration=duration, mwf=mwf, existing="overwrite" if overwrite else "refuse",
    )
    if json_output:
        listener: PlainListener = JsonListener()
    elif sys.stdout.isatty() and not quiet:
        listener = RichListener(verbose=verbose)
    else:
        listener = PlainListener(verbose=verbose, quiet=quiet)
    run = SeparationRun(options, output, ModelManager(), listener)
    if isinstance(listener, RichListener):
        with listener:
            results = run.run(files)
    else:
        results = run.run(files)
    failures = [r.error for r in results if r.error is not None]
    if failures:
        codes = {int(e.exit_code) for e in failures}
        raise typer.Exit(codes.pop() if len(codes) == 1 else int(ExitCode.FAILED))
