"""Options shared by `spl separate` and `spl batch`, defined once so they never drift apart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

DEFAULT_FORMAT = "{filename}/{instrument}.{codec}"

Output = Annotated[Path, typer.Option("-o", "--output", help="Output directory.")]
Stems = Annotated[int, typer.Option("-s", "--stems", help="2 (vocals/accompaniment), 4 (+drums, bass, other) or 5 (+piano).")]
Model = Annotated[Optional[str], typer.Option("-m", "--model", help="Model name, e.g. spleeter:4stems-16kHz; overrides --stems/--hq.", show_default=False)]
HighQuality = Annotated[bool, typer.Option("--hq", help="Use the -16kHz model (sees up to 16 kHz instead of 11 kHz).")]
Codec = Annotated[str, typer.Option("-c", "--codec", help="Output codec: wav, flac, mp3, ogg, m4a.")]
Bitrate = Annotated[Optional[str], typer.Option("--bitrate", help="Bitrate of lossy codecs, e.g. 192k.", show_default=False)]
BitDepth = Annotated[int, typer.Option("--bit-depth", help="WAV/FLAC sample size: 16, 24, or 32 (float, WAV only).")]
FilenameFormat = Annotated[str, typer.Option("-f", "--filename-format", help="Output path template inside the output directory; fields {filename}, {foldername}, {instrument}, {codec}.")]
Offset = Annotated[float, typer.Option("--offset", help="Start this many seconds into each input.")]
Duration = Annotated[Optional[float], typer.Option("--duration", help="Separate at most this many seconds.", show_default=False)]
Wiener = Annotated[bool, typer.Option("--mwf", help="Refine stems with multichannel Wiener filtering (slower).")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the stem cache.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object per input on stdout.")]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="Print errors only.")]
Verbose = Annotated[bool, typer.Option("-v", "--verbose", help="Also print per-stage timings.")]
MetricsPort = Annotated[Optional[int], typer.Option("--metrics-port", envvar="SPLEETER_METRICS_PORT", min=1, max=65535, show_default=False,
                                                    help="Serve Prometheus metrics on 127.0.0.1:PORT while the run lasts.")]


def separate_options(stems: int, model: str | None, hq: bool, codec: str, bitrate: str | None, bit_depth: int,
                     filename_format: str, offset: float, duration: float | None, mwf: bool, existing: str):  # type: ignore[no-untyped-def]
    """Turn the shared flags into the core's SeparateOptions (imports the core lazily)."""
    from ..models.catalog import model_for
    from ..separate.pipeline import SeparateOptions

    return SeparateOptions(
        model=model or model_for(stems, hq).full_name, codec=codec.lower(), bitrate=bitrate, bit_depth=bit_depth,
        filename_format=filename_format, offset=offset, duration=duration, mwf=mwf, existing=existing,
    )
