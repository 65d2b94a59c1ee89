"""`spl separate`: the options, and nothing but handing them to the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ValidationError
from . import options as o
from .runs import choose_listener, execute, open_cache
from .ui import handles_errors


@handles_errors
def separate(
    files: Annotated[list[Path], typer.Argument(help="Audio files to separate.", show_default=False, metavar="FILE...")],
    output: o.Output = Path("separated"),
    stems: o.Stems = 2,
    model: o.Model = None,
    hq: o.HighQuality = False,
    codec: o.Codec = "wav",
    bitrate: o.Bitrate = None,
    bit_depth: o.BitDepth = 16,
    filename_format: o.FilenameFormat = o.DEFAULT_FORMAT,
    offset: o.Offset = 0.0,
    duration: o.Duration = None,
    mwf: o.Wiener = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    no_cache: o.NoCache = False,
    json_output: o.Json = False,
    quiet: o.Quiet = False,
    verbose: o.Verbose = False,
    metrics_port: o.MetricsPort = None,
) -> None:
    """Split songs into stems (vocals, drums, bass, piano, other or accompaniment)."""
    from ..models.store import ModelManager
    from ..separate.pipeline import SeparationRun

    if quiet and verbose:
        raise ValidationError("--quiet and --verbose cannot be combined")
    options = o.separate_options(stems, model, hq, codec, bitrate, bit_depth, filename_format, offset, duration, mwf, "overwrite" if overwrite else "refuse")
    listener = choose_listener(json_output, quiet, verbose)
    run = SeparationRun(options, output, ModelManager(), listener, cache=open_cache(no_cache, listener))
    execute(run, files, listener, metrics_port=metrics_port)
