"""`spl separate`: the options, and nothing but handing them to a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ValidationError
from ..limits import InputLimits
from ..separate import planning
from ..separate.vocabulary import DEFAULT_SILENCE_DBFS
from . import options as o
from .runs import choose_listener, execute
from .ui import handles_errors


@handles_errors
def separate(
    files: Annotated[list[Path], typer.Argument(help="Audio files to separate.", show_default=False, metavar="FILE...", readable=False)],
    output: o.Output = None,
    stems: o.Stems = None,
    model: o.Model = None,
    hq: o.HighQuality = False,
    codec: o.Codec = None,
    bitrate: o.Bitrate = None,
    bit_depth: o.BitDepth = None,
    filename_format: o.FilenameFormat = None,
    offset: o.Offset = 0.0,
    duration: o.Duration = None,
    mwf: o.Wiener = False,
    no_tags: o.NoTags = False,
    silence_threshold: o.SilenceThreshold = DEFAULT_SILENCE_DBFS,
    skip_silent: o.SkipSilent = False,
    normalize: o.Normalize = None,
    normalize_stems: o.NormalizeStems = None,
    highpass: o.Highpass = None,
    denoise: o.Denoise = False,
    denoise_strength: o.DenoiseStrength = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.")] = False,
    force: o.MistakenForce = False,
    no_cache: o.NoCache = False,
    json_output: o.Json = False,
    quiet: o.Quiet = False,
    verbose: o.Verbose = False,
    backend: o.Backend = None,
    precision: o.Precision = None,
    server: o.Server = None,
    token: o.Token = None,
    metrics_port: o.MetricsPort = None,
    config_file: o.ConfigFile = None,
) -> None:
    """Split songs into stems (vocals, drums, bass, piano, other or accompaniment)."""
    from ..cache.manager import CacheManager
    from ..separate.run import SeparationRun

    if force:
        raise ValidationError("spl separate has no --force", hint="--overwrite replaces existing stems; spl batch takes --force")
    settings = o.load_settings(config_file, output=output, codec=codec, bitrate=bitrate, bit_depth=bit_depth, filename_format=filename_format,
                               model=model, metrics_port=metrics_port, backend=backend, precision=precision, cache=False if no_cache else None,
                               token=token)
    options = o.separate_options(settings, stems, model, hq, offset, duration, mwf, "overwrite" if overwrite else "refuse",
                                 no_tags=no_tags, silence_threshold=silence_threshold, skip_silent=skip_silent, normalize=normalize,
                                 normalize_stems=normalize_stems, highpass=highpass, denoise=denoise, denoise_strength=denoise_strength)
    listener = choose_listener(json_output, quiet, verbose)
    if server is not None:
        run = o.remote_run(server, options, settings, listener, jobs=1)
    else:
        run = SeparationRun(options, settings.audio.output_dir, o.model_store(settings), listener, cache=CacheManager.for_run(settings, listener.warning),
                            limits=InputLimits.from_settings(settings), enable_gpu=settings.performance.enable_gpu, backend=settings.performance.backend)
    unique = list({planning.real(file): file for file in reversed(files)}.values())[::-1]  # a file named twice is separated once
    execute(run, unique, listener, settings)
