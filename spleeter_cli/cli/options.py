"""Flags shared by `spl separate` and `spl batch`, defined once, with what they mean, so they never drift apart."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.models

from ..audio.formats import DEFAULT_BIT_DEPTH, DEFAULT_CODEC, DEFAULT_FILENAME_FORMAT, SUPPORTED_CODECS
from ..models.catalog import DEFAULT_MODEL
from ..separate.vocabulary import DEFAULT_DENOISE_STRENGTH, DEFAULT_SILENCE_DBFS

if TYPE_CHECKING:
    from ..config import Settings
    from ..models.store import ModelManager
    from ..separate.vocabulary import SeparateOptions


def raw_path(value: str) -> Path | str:
    """A folder flag's value; '' stays text so the settings check refuses it (``Path('')`` would quietly be '.')."""
    return Path(value) if value else value


ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Config file (default: $SPLEETER_CONFIG, else the user config file).", show_default=False, readable=False
    ),
]
Output = Annotated[
    Path | None,
    typer.Option("-o", "--output", parser=raw_path, help="Output directory [default: separated, or audio.output_dir].", show_default=False),
]
Stems = Annotated[
    int | None,
    typer.Option(
        "-s",
        "--stems",
        help=f"2 (vocals/accompaniment), 4 (+drums, bass, other) or 5 (+piano) [default: models.default, {DEFAULT_MODEL}].",
        show_default=False,
    ),
]
Model = Annotated[
    str | None, typer.Option("-m", "--model", help="Model name, e.g. spleeter:4stems-16kHz; overrides --stems/--hq.", show_default=False)
]
HighQuality = Annotated[bool, typer.Option("--hq", help="Use the -16kHz model (sees up to 16 kHz instead of 11 kHz).")]
Codec = Annotated[
    str | None,
    typer.Option("-c", "--codec", help=f"Output codec: {', '.join(SUPPORTED_CODECS)} [default: {DEFAULT_CODEC}].", show_default=False),
]
Bitrate = Annotated[str | None, typer.Option("--bitrate", help="Bitrate of lossy codecs, e.g. 192k.", show_default=False)]
BitDepth = Annotated[
    int | None,
    typer.Option(
        "--bit-depth", help=f"WAV/FLAC sample size: 16, 24, or 32 (float, WAV only) [default: {DEFAULT_BIT_DEPTH}].", show_default=False
    ),
]
FilenameFormat = Annotated[
    str | None,
    typer.Option(
        "-f",
        "--filename-format",
        help="Output path template inside the output directory; fields {filename}, {foldername}, {instrument}, {codec} [default: "
        + DEFAULT_FILENAME_FORMAT
        + "].",
        show_default=False,
    ),
]
Offset = Annotated[float, typer.Option("--offset", help="Start this many seconds into each input.")]
Duration = Annotated[float | None, typer.Option("--duration", help="Separate at most this many seconds.", show_default=False)]
Wiener = Annotated[bool, typer.Option("--mwf", help="Refine stems with multichannel Wiener filtering (slower).")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the stem cache.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object per input on stdout.")]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="Print errors only.")]
Verbose = Annotated[bool, typer.Option("-v", "--verbose", help="Also print per-stage timings.")]
NoTags = Annotated[bool, typer.Option("--no-tags", help="Do not copy the input's tags (title, artist, album, ...) to the stems.")]
SilenceThreshold = Annotated[
    float, typer.Option("--silence-threshold", metavar="DBFS", max=0, help="Report a stem as silent when its peak stays below this level.")
]
SkipSilent = Annotated[bool, typer.Option("--skip-silent", help="Do not write silent stems (see --silence-threshold).")]
Normalize = Annotated[
    float | None,
    typer.Option(
        "--normalize",
        metavar="LUFS",
        show_default=False,
        help="Bring the input to this integrated loudness (EBU R128) before separating, e.g. -14.",
    ),
]
NormalizeStems = Annotated[
    float | None,
    typer.Option(
        "--normalize-stems", metavar="LUFS", show_default=False, help="Bring each written stem to this integrated loudness, e.g. -14."
    ),
]
Highpass = Annotated[
    float | None,
    typer.Option(
        "--highpass", metavar="HZ", show_default=False, help="Remove rumble below this frequency from the input (4th-order Butterworth)."
    ),
]
Denoise = Annotated[bool, typer.Option("--denoise", help="Reduce background noise in the input (spectral gating) before separating.")]
DenoiseStrength = Annotated[
    float | None,
    typer.Option(
        "--denoise-strength",
        metavar="0..1",
        show_default=False,
        help=f"How much noise --denoise removes (implies --denoise) [default: {DEFAULT_DENOISE_STRENGTH}].",
    ),
]
Backend = Annotated[
    str | None,
    typer.Option(
        "--backend",
        metavar="auto|openvino|tensorflow",
        show_default=False,
        help="Inference runtime: auto picks TensorFlow on a CUDA GPU, OpenVINO otherwise [default: auto].",
    ),
]
Precision = Annotated[
    str | None,
    typer.Option(
        "--precision",
        metavar="fp32|bf16",
        show_default=False,
        help="fp32: Spleeter's exact output; bf16: faster on CPUs with native bf16 (OpenVINO), slightly different [default: fp32].",
    ),
]
# The other command's flag, given by mistake: a one-line error naming the right one, not Click's closest spelling.
MistakenOverwrite = Annotated[bool, typer.Option("--overwrite", hidden=True)]
MistakenForce = Annotated[bool, typer.Option("--force", hidden=True)]
Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        metavar="URL",
        show_default=False,
        help="Separate on a `spl serve` at URL (e.g. http://host:8080): upload, then download the stems here.",
    ),
]
Token = Annotated[
    str | None, typer.Option("--token", show_default=False, help="Bearer token for --server (default: $SPLEETER_SERVER_TOKEN).")
]
MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port", min=1, max=65535, show_default=False, help="Serve Prometheus metrics on 127.0.0.1:PORT while the run lasts."
    ),
]
RedisUrl = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        help="Shared Redis cache, e.g. redis://host:6379/0 (default: cache.redis_url of the config or $SPLEETER_REDIS_URL).",
        show_default=False,
    ),
]
CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        parser=raw_path,
        help="Disk cache folder (default: cache.dir of the config or $SPLEETER_CACHE_DIR, else the user cache dir).",
        show_default=False,
    ),
]


# How the core's option names (errors.spelled) read on the command line.
FLAG_NAMES = {
    "output": "-o",
    "model": "--model",
    "codec": "--codec",
    "bitrate": "--bitrate",
    "bit_depth": "--bit-depth",
    "filename_format": "--filename-format",
    "offset": "--offset",
    "duration": "--duration",
    "mwf": "--mwf",
    "silence_threshold": "--silence-threshold",
    "normalize": "--normalize",
    "normalize_stems": "--normalize-stems",
    "highpass": "--highpass",
    "denoise": "--denoise-strength",
    "backend": "--backend",
    "precision": "--precision",
    "keep_tree": "spl batch --keep-tree",
    "overwrite": "--overwrite",
}


def spell_flags(command: str) -> None:
    """Name options as flags in the core's errors; replacing stems is --force in `spl batch`, --overwrite elsewhere."""
    from ..errors import spell_settings

    spell_settings({**FLAG_NAMES, **({"overwrite": "--force", "keep_tree": "--keep-tree"} if command == "batch" else {})})


def load_settings(config_file: Path | None, **flags: object) -> Settings:
    """Defaults < config file < environment < these flags (None = flag not given)."""
    from ..config import load_config

    return load_config(config_file).with_overrides(**flags)


def model_store(settings: Settings) -> ModelManager:
    """The model store the settings describe; imported here, on the commands' path only."""
    from ..models.store import ModelManager

    return ModelManager.from_settings(settings)


def _run_flags(
    output: Output = None,
    stems: Stems = None,
    model: Model = None,
    hq: HighQuality = False,
    codec: Codec = None,
    bitrate: Bitrate = None,
    bit_depth: BitDepth = None,
    filename_format: FilenameFormat = None,
    offset: Offset = 0.0,
    duration: Duration = None,
    mwf: Wiener = False,
    no_tags: NoTags = False,
    silence_threshold: SilenceThreshold = DEFAULT_SILENCE_DBFS,
    skip_silent: SkipSilent = False,
    normalize: Normalize = None,
    normalize_stems: NormalizeStems = None,
    highpass: Highpass = None,
    denoise: Denoise = False,
    denoise_strength: DenoiseStrength = None,
    no_cache: NoCache = False,
    json_output: Json = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
    backend: Backend = None,
    precision: Precision = None,
    server: Server = None,
    token: Token = None,
    metrics_port: MetricsPort = None,
    config_file: ConfigFile = None,
) -> None:
    """The flags `spl separate` and `spl batch` share: their names, types and help, once (see ``with_run_flags``)."""


@dataclass(frozen=True)
class RunFlags:
    """The shared flags as typed, and what they mean: settings, the core's options, the view."""

    output: Path | None
    stems: int | None
    model: str | None
    hq: bool
    codec: str | None
    bitrate: str | None
    bit_depth: int | None
    filename_format: str | None
    offset: float
    duration: float | None
    mwf: bool
    no_tags: bool
    silence_threshold: float
    skip_silent: bool
    normalize: float | None
    normalize_stems: float | None
    highpass: float | None
    denoise: bool
    denoise_strength: float | None
    no_cache: bool
    json_output: bool
    quiet: bool
    verbose: bool
    backend: str | None
    precision: str | None
    server: str | None
    token: str | None
    metrics_port: int | None
    config_file: Path | None

    def settings(self, **command_flags: object) -> Settings:
        """Defaults < config file < environment < flags (None = flag not given), with the command's own flags."""
        return load_settings(
            self.config_file,
            output=self.output,
            codec=self.codec,
            bitrate=self.bitrate,
            bit_depth=self.bit_depth,
            filename_format=self.filename_format,
            model=self.model,
            metrics_port=self.metrics_port,
            backend=self.backend,
            precision=self.precision,
            cache=False if self.no_cache else None,
            token=self.token,
            **command_flags,
        )

    def options(self, settings: Settings, existing: str) -> SeparateOptions:
        """The core's SeparateOptions: the flags' meaning, decided once for both commands
        (``--denoise-strength`` implies ``--denoise``; 0 strength means off)."""
        from ..models.catalog import model_for
        from ..separate.planning import check_filename_format
        from ..separate.vocabulary import SeparateOptions, with_audio_settings

        audio = settings.audio
        check_filename_format(audio.filename_format, settings.label("audio.filename_format"))  # names where it was set
        stems, hq = self.stems, self.hq
        chosen = (
            settings.models.default
            if self.model is not None or (stems is None and not hq)
            else model_for(2 if stems is None else stems, hq).full_name
        )
        strength = self.denoise_strength if self.denoise_strength is not None else DEFAULT_DENOISE_STRENGTH if self.denoise else 0.0
        options = SeparateOptions(
            model=chosen,
            codec=audio.codec.lower(),
            bitrate=audio.bitrate,
            bit_depth=audio.bit_depth,
            filename_format=audio.filename_format,
            offset=self.offset,
            duration=self.duration,
            mwf=self.mwf,
            existing=existing,
            tags=not self.no_tags,
            silence_threshold=self.silence_threshold,
            skip_silent=self.skip_silent,
            normalize=self.normalize,
            normalize_stems=self.normalize_stems,
            highpass=self.highpass,
            denoise=strength,
            precision=settings.performance.precision,
        )
        return with_audio_settings(options, settings)


def with_run_flags(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the shared flags, after its arguments and before its own options, as one ``flags: RunFlags``.

    Typer reads a command's parameters from its signature, so the shared ones are spliced into
    the signature Typer sees; the wrapper gathers them back into a ``RunFlags``.
    """
    hints = {**typing.get_type_hints(command, include_extras=True), **typing.get_type_hints(_run_flags, include_extras=True)}
    shared = [p.replace(annotation=hints[p.name]) for p in inspect.signature(_run_flags).parameters.values()]
    own = [p.replace(annotation=hints[p.name]) for p in inspect.signature(command).parameters.values() if p.name != "flags"]
    arguments = [p for p in own if any(isinstance(extra, typer.models.ArgumentInfo) for extra in getattr(p.annotation, "__metadata__", ()))]
    options = [p for p in own if p not in arguments]

    @wraps(command)
    def wrapper(**values: Any) -> None:
        flags = RunFlags(**{p.name: values.pop(p.name) for p in shared})
        command(flags=flags, **values)

    parameters = [*arguments, *shared, *options]
    wrapper.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper
